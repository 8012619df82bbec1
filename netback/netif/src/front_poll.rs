//! Where a frontend queue's NAPI poll runs: in softirq context (the
//! kernel's default) or in the queue's own kernel thread (threaded NAPI).
//!
//! Under a flood of small packets a guest's receive softirq takes the CPU
//! from the application it delivers to (receive livelock): the socket
//! fills and drops what the guest was just given. A poll thread is
//! scheduled beside the application instead, so what is received gets
//! read, and the backend's ring backs up rather than the socket. For bulk
//! traffic and request/response the thread only adds a context switch per
//! run. So `napi_threaded=2` switches by load. A run is what NAPI polls
//! between being scheduled and completing (a poll that uses its whole
//! budget is followed by another); a heavy run takes at least a budget's
//! worth of packets, so the softirq held the CPU for all of them. Counted
//! over windows of [`WINDOW_PACKETS`] packets, a window is heavy when at
//! least a quarter of its packets came in heavy runs. A queue asks for the
//! thread after [`THREAD_AFTER_HEAVY_WINDOWS`] heavy windows in a row, and
//! gives it back at the first light window once none has been heavy for
//! [`SOFTIRQ_AFTER_MS`] (the shell's clock: jiffies). Request/response
//! takes a packet or two a run and a TCP stream's GSO packets (up to 17
//! slots each) at most 15 of the ring's 256 slots: their windows are
//! light. Measured (netfront-rs, one vCPU, under QEMU): a flood of 64-byte
//! datagrams from dom0 came in runs of up to ~1000 packets, 27% of the
//! runs heavy; one from another guest in runs that never ended.

/// Packets counted per window.
pub const WINDOW_PACKETS: u32 = 1024;

/// Heavy windows in a row before a queue asks for its poll thread.
pub const THREAD_AFTER_HEAVY_WINDOWS: u32 = 4;

/// Milliseconds without a heavy window before a queue gives its thread
/// back: long enough that a flood with pauses does not switch on every
/// pause.
pub const SOFTIRQ_AFTER_MS: u32 = 1000;

/// `napi_threaded` module parameter: where the polls run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollMode {
    /// Always in softirq context (0).
    Softirq,
    /// Always in the queue's thread (1).
    Threaded,
    /// By load, [`PollLoad`] (2).
    Auto,
}

impl PollMode {
    /// The parameter's value; `None` for a value it does not have.
    pub const fn from_param(value: u32) -> Option<Self> {
        match value {
            0 => Some(PollMode::Softirq),
            1 => Some(PollMode::Threaded),
            2 => Some(PollMode::Auto),
            _ => None,
        }
    }
}

/// One queue's load as its polls show it, for [`PollMode::Auto`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollLoad {
    /// Packets of the current run so far.
    run: u32,
    /// Packets of the current window, and those of them in heavy runs.
    window: u32,
    window_heavy: u32,
    /// Heavy windows in a row.
    heavy_in_a_row: u32,
    /// When the last heavy window ended.
    last_heavy: u64,
    /// Whether this queue asks for the thread.
    wants_thread: bool,
}

impl PollLoad {
    /// A queue with no polls yet: softirq.
    pub const fn new() -> Self {
        PollLoad { run: 0, window: 0, window_heavy: 0, heavy_in_a_row: 0, last_heavy: 0, wants_thread: false }
    }

    /// Whether this queue asks for its poll thread.
    pub const fn wants_thread(&self) -> bool {
        self.wants_thread
    }

    /// Counts a poll that did `done` of `budget` at `now`, `quiet` being
    /// [`SOFTIRQ_AFTER_MS`] in `now`'s unit. Returns the queue's new wish
    /// when it changes (true: the thread).
    pub fn on_poll(&mut self, done: u32, budget: u32, now: u64, quiet: u64) -> Option<bool> {
        let before = self.run;
        self.run = before.saturating_add(done);
        // The run's packets are heavy from the poll that takes it to a
        // budget's worth: the earlier ones with it.
        let heavy = if budget == 0 || self.run < budget {
            0
        } else if before < budget {
            self.run
        } else {
            done
        };
        if budget == 0 || done < budget {
            // NAPI completes: the run ends.
            self.run = 0;
        }
        self.window = self.window.saturating_add(done);
        self.window_heavy = self.window_heavy.saturating_add(heavy);
        if self.window < WINDOW_PACKETS {
            return None;
        }
        let heavy_window = self.window_heavy >= self.window / 4;
        self.window = 0;
        self.window_heavy = 0;
        if heavy_window {
            self.heavy_in_a_row = self.heavy_in_a_row.saturating_add(1);
            self.last_heavy = now;
        } else {
            self.heavy_in_a_row = 0;
        }
        let wish = if self.wants_thread {
            heavy_window || now.wrapping_sub(self.last_heavy) < quiet
        } else {
            self.heavy_in_a_row >= THREAD_AFTER_HEAVY_WINDOWS
        };
        if wish == self.wants_thread {
            return None;
        }
        self.wants_thread = wish;
        Some(wish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = SOFTIRQ_AFTER_MS as u64;
    const B: u32 = 64;

    /// A run of `n` packets (budget 64) at `now`: its full polls, then the
    /// last one under budget. The first wish a poll returns.
    fn run(l: &mut PollLoad, n: u32, now: u64) -> Option<bool> {
        let mut left = n;
        let mut wish = None;
        while left >= B {
            wish = wish.or(l.on_poll(B, B, now, Q));
            left -= B;
        }
        wish.or(l.on_poll(left, B, now, Q))
    }

    /// Runs of `n` packets at `now` until a window's worth went by; the
    /// first wish.
    fn window_of_runs(l: &mut PollLoad, n: u32, now: u64) -> Option<bool> {
        let mut wish = None;
        for _ in 0..WINDOW_PACKETS.div_ceil(n.max(1)) {
            wish = wish.or(run(l, n, now));
        }
        wish
    }

    #[test]
    fn the_parameter_maps_its_three_values() {
        assert_eq!(PollMode::from_param(0), Some(PollMode::Softirq));
        assert_eq!(PollMode::from_param(1), Some(PollMode::Threaded));
        assert_eq!(PollMode::from_param(2), Some(PollMode::Auto));
        assert_eq!(PollMode::from_param(3), None);
    }

    #[test]
    fn a_flood_of_long_runs_asks_for_the_thread_once() {
        let mut l = PollLoad::new();
        let mut wishes = Vec::new();
        for t in 0..100u64 {
            // A run of 800 (heavy) and three of 20 (light), as measured.
            for n in [800, 20, 20, 20] {
                if let Some(w) = run(&mut l, n, t) {
                    wishes.push(w);
                }
            }
        }
        assert_eq!(wishes, [true]);
        assert!(l.wants_thread());
    }

    #[test]
    fn a_run_that_never_ends_asks_for_the_thread() {
        let mut l = PollLoad::new();
        let mut wish = None;
        for t in 0..(THREAD_AFTER_HEAVY_WINDOWS * WINDOW_PACKETS / B) {
            wish = wish.or(l.on_poll(B, B, u64::from(t), Q));
        }
        assert_eq!(wish, Some(true));
    }

    #[test]
    fn request_response_and_stream_runs_stay_in_softirq() {
        let mut l = PollLoad::new();
        for t in 0..100_000u64 {
            // 1-2 packets a run (RR), up to 15 GSO packets (a TCP stream),
            // and the odd heavy run.
            let n = if t % 100 == 0 { 70 } else { (t % 16) as u32 };
            assert_eq!(run(&mut l, n, t), None);
        }
        assert_eq!(l.on_poll(0, 0, 100_001, Q), None);
        assert!(!l.wants_thread());
    }

    #[test]
    fn a_light_window_breaks_the_row() {
        let mut l = PollLoad::new();
        for t in 0..100u64 {
            for _ in 1..THREAD_AFTER_HEAVY_WINDOWS {
                assert_eq!(window_of_runs(&mut l, 256, t), None);
            }
            assert_eq!(window_of_runs(&mut l, 8, t), None);
        }
        assert!(!l.wants_thread());
    }

    #[test]
    fn the_thread_is_given_back_after_a_quiet_second() {
        let mut l = PollLoad::new();
        let mut wish = None;
        for _ in 0..THREAD_AFTER_HEAVY_WINDOWS {
            wish = wish.or(window_of_runs(&mut l, 256, 5_000));
        }
        assert_eq!(wish, Some(true));
        // Light windows within the hold keep it.
        assert_eq!(window_of_runs(&mut l, 2, 5_000 + Q - 1), None);
        // A heavy window restarts the hold.
        assert_eq!(window_of_runs(&mut l, 256, 5_500), None);
        assert_eq!(window_of_runs(&mut l, 2, 5_500 + Q - 1), None);
        assert_eq!(window_of_runs(&mut l, 2, 5_500 + Q), Some(false));
        assert!(!l.wants_thread());
        // Back in softirq, a new row is needed to ask again.
        for _ in 1..THREAD_AFTER_HEAVY_WINDOWS {
            assert_eq!(window_of_runs(&mut l, 256, 20_000), None);
        }
        assert_eq!(window_of_runs(&mut l, 256, 20_000), Some(true));
    }

    #[test]
    fn the_hold_is_measured_across_a_wrap_of_the_clock() {
        let mut l = PollLoad::new();
        for _ in 0..THREAD_AFTER_HEAVY_WINDOWS {
            window_of_runs(&mut l, 256, u64::MAX - 10);
        }
        assert!(l.wants_thread());
        assert_eq!(window_of_runs(&mut l, 1, 100), None);
        assert_eq!(window_of_runs(&mut l, 1, Q + 10), Some(false));
    }

    #[test]
    fn huge_counts_saturate() {
        let mut l = PollLoad::new();
        for t in 0..1000 {
            let _ = l.on_poll(u32::MAX, u32::MAX, t, Q);
        }
        assert!(l.wants_thread());
    }
}

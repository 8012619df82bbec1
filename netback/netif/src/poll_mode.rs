//! Where a device's NAPI polls run: in softirq context (the kernel's
//! default) or in each queue's own kernel thread (threaded NAPI). Both
//! sides use it: netfront-rs for the packets it receives from the backend,
//! netback-rs for those the guest sends (the vif's guest-TX poll).
//!
//! Under a flood of small packets the receive softirq takes the CPU from
//! the application it delivers to (receive livelock): the socket fills and
//! drops what the poll just gave it. A poll thread is scheduled beside the
//! application instead, so what is received gets read, and the ring backs
//! up rather than the socket. For bulk traffic and request/response the
//! thread only adds a context switch per run. So `napi_threaded=2`
//! switches by load. A run is what NAPI polls between being scheduled and
//! completing (a poll that uses its whole budget is followed by another); a
//! heavy run takes at least a budget's worth of packets, so the softirq
//! held the CPU for all of them. Counted over windows of [`WINDOW_PACKETS`]
//! packets, a window is heavy when at least a quarter of its packets came
//! in heavy runs and at least a quarter of its polls found a task waiting
//! for the CPU they held (the shell asks the scheduler: a receiver woken
//! onto that CPU, or a user task the softirq interrupted; a kworker or a
//! timer's task now and then is not a starved receiver). A flood dropped or forwarded
//! before any socket, or read on another CPU, starves nobody there, and a
//! thread would only cost (64-byte frames from a packet generator, dropped
//! on the vif's ingress: 0.90 of C with threads, 0.95 without). A queue is flooded at the end of each heavy window that
//! makes [`THREAD_AFTER_HEAVY_WINDOWS`] or more in a row. The device's
//! polls run in threads from a queue's flood until [`SOFTIRQ_AFTER_MS`]
//! have gone by without one ([`threads_wanted`]: the shell's clock,
//! jiffies), traffic or not. Request/response takes a packet or two a run
//! and a TCP stream's GSO packets (up to 17 slots each) at most 15 of the
//! ring's 256 slots: their windows are light. Measured (netfront-rs, one
//! vCPU, under QEMU): a flood of 64-byte datagrams from dom0 came in runs
//! of up to ~1000 packets, 27% of the runs heavy; one from another guest
//! in runs that never ended.

/// Packets counted per window.
pub const WINDOW_PACKETS: u32 = 1024;

/// Heavy windows in a row before a queue asks for its poll thread.
pub const THREAD_AFTER_HEAVY_WINDOWS: u32 = 4;

/// Milliseconds without a flooded queue before the polls go back to
/// softirq: long enough that a flood with pauses does not switch on every
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

    /// The parameter's value of this mode.
    pub const fn param(self) -> u32 {
        match self {
            PollMode::Softirq => 0,
            PollMode::Threaded => 1,
            PollMode::Auto => 2,
        }
    }
}

/// Whether the device's polls belong in threads at `now`: a queue was
/// flooded at `last_flood` (never: `None`) and `quiet` ([`SOFTIRQ_AFTER_MS`]
/// in `now`'s unit) has not gone by since.
pub fn threads_wanted(now: u64, last_flood: Option<u64>, quiet: u64) -> bool {
    last_flood.is_some_and(|t| now.wrapping_sub(t) < quiet)
}

/// One queue's load as its polls show it, for [`PollMode::Auto`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollLoad {
    /// Packets of the current run so far.
    run: u32,
    /// Packets of the current window, and those of them in heavy runs.
    window: u32,
    window_heavy: u32,
    /// Polls of the current window, and those that found a task waiting
    /// for their CPU.
    window_polls: u32,
    window_contended: u32,
    /// Heavy windows in a row.
    heavy_in_a_row: u32,
}

impl PollLoad {
    /// A queue with no polls yet.
    pub const fn new() -> Self {
        PollLoad { run: 0, window: 0, window_heavy: 0, window_polls: 0, window_contended: 0, heavy_in_a_row: 0 }
    }

    /// Counts a poll that did `done` of `budget`, `contended` when a task
    /// was waiting for the CPU the poll held (the shell asks the
    /// scheduler). True when it ends a heavy window that makes
    /// [`THREAD_AFTER_HEAVY_WINDOWS`] or more in a row: the queue is flooded
    /// now. A window is heavy only if a quarter of its polls or more were
    /// contended: a flood that no task on the poll's CPU waits behind (frames dropped or
    /// forwarded before any socket, the receiver on another CPU) starves
    /// nobody, and there a thread only costs.
    pub fn on_poll(&mut self, done: u32, budget: u32, contended: bool) -> bool {
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
        self.window_polls = self.window_polls.saturating_add(1);
        self.window_contended = self.window_contended.saturating_add(u32::from(contended));
        if self.window < WINDOW_PACKETS {
            return false;
        }
        let heavy_window =
            self.window_heavy >= self.window / 4 && self.window_contended >= self.window_polls.div_ceil(4);
        self.window = 0;
        self.window_heavy = 0;
        self.window_polls = 0;
        self.window_contended = 0;
        self.heavy_in_a_row = if heavy_window { self.heavy_in_a_row.saturating_add(1) } else { 0 };
        self.heavy_in_a_row >= THREAD_AFTER_HEAVY_WINDOWS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = SOFTIRQ_AFTER_MS as u64;
    const B: u32 = 64;

    /// A run of `n` packets (budget 64): its full polls, then the last one
    /// under budget, each finding a task waiting for the CPU (`contended`)
    /// or not. Whether a poll found the queue flooded.
    fn run_with(l: &mut PollLoad, n: u32, contended: bool) -> bool {
        let mut left = n;
        let mut flooded = false;
        while left >= B {
            flooded |= l.on_poll(B, B, contended);
            left -= B;
        }
        flooded | l.on_poll(left, B, contended)
    }

    /// A run of `n` packets with a receiver waiting for the poll's CPU.
    fn run(l: &mut PollLoad, n: u32) -> bool {
        run_with(l, n, true)
    }

    /// Runs of `n` packets until a window's worth went by.
    fn window_of_runs(l: &mut PollLoad, n: u32) -> bool {
        let mut flooded = false;
        for _ in 0..WINDOW_PACKETS.div_ceil(n.max(1)) {
            flooded |= run(l, n);
        }
        flooded
    }

    #[test]
    fn the_parameter_maps_its_three_values() {
        assert_eq!(PollMode::from_param(0), Some(PollMode::Softirq));
        assert_eq!(PollMode::from_param(1), Some(PollMode::Threaded));
        assert_eq!(PollMode::from_param(2), Some(PollMode::Auto));
        assert_eq!(PollMode::from_param(3), None);
        for m in [PollMode::Softirq, PollMode::Threaded, PollMode::Auto] {
            assert_eq!(PollMode::from_param(m.param()), Some(m));
        }
    }

    #[test]
    fn a_flood_of_long_runs_is_a_flood_from_its_fourth_window() {
        let mut l = PollLoad::new();
        let mut packets = 0u32;
        let mut first = None;
        for _ in 0..100 {
            // A run of 800 (heavy) and three of 20 (light), as measured.
            for n in [800, 20, 20, 20] {
                packets += n;
                if run(&mut l, n) && first.is_none() {
                    first = Some(packets);
                }
            }
        }
        let first = first.unwrap();
        assert!(first >= THREAD_AFTER_HEAVY_WINDOWS * WINDOW_PACKETS);
        assert!(first < (THREAD_AFTER_HEAVY_WINDOWS + 1) * WINDOW_PACKETS + 860);
    }

    #[test]
    fn a_run_that_never_ends_is_a_flood() {
        let mut l = PollLoad::new();
        let polls = THREAD_AFTER_HEAVY_WINDOWS * WINDOW_PACKETS / B;
        let flooded: Vec<bool> = (0..polls).map(|_| l.on_poll(B, B, true)).collect();
        assert_eq!(flooded.iter().filter(|&&f| f).count(), 1);
        assert_eq!(flooded.last(), Some(&true));
        // Every heavy window after that says it again.
        assert!(window_of_runs(&mut l, 10_000));
    }

    #[test]
    fn request_response_and_stream_runs_are_no_flood() {
        let mut l = PollLoad::new();
        for t in 0..100_000u32 {
            // 1-2 packets a run (RR), up to 15 GSO packets (a TCP stream),
            // and the odd heavy run.
            let n = if t % 100 == 0 { 70 } else { t % 16 };
            assert!(!run(&mut l, n));
        }
        assert!(!l.on_poll(0, 0, true));
    }

    #[test]
    fn a_light_window_breaks_the_row() {
        let mut l = PollLoad::new();
        for _ in 0..100 {
            for _ in 1..THREAD_AFTER_HEAVY_WINDOWS {
                assert!(!window_of_runs(&mut l, 256));
            }
            assert!(!window_of_runs(&mut l, 8));
        }
    }

    #[test]
    fn threads_are_wanted_for_a_quiet_period_after_a_flood() {
        assert!(!threads_wanted(5_000, None, Q));
        assert!(threads_wanted(5_000, Some(5_000), Q));
        assert!(threads_wanted(5_000 + Q - 1, Some(5_000), Q));
        assert!(!threads_wanted(5_000 + Q, Some(5_000), Q));
        // Measured across a wrap of the clock.
        assert!(threads_wanted(5, Some(u64::MAX - 5), Q));
        assert!(!threads_wanted(Q, Some(u64::MAX - 5), Q));
    }

    #[test]
    fn huge_counts_saturate() {
        let mut l = PollLoad::new();
        let flooded = (0..1000).filter(|_| l.on_poll(u32::MAX, u32::MAX, true)).count();
        assert!(flooded > 0);
    }

    #[test]
    fn a_flood_nobody_waits_behind_is_no_flood() {
        let mut l = PollLoad::new();
        // Frames dropped or forwarded before any socket: runs that never end,
        // no task ever waiting for the poll's CPU.
        for _ in 0..100 {
            assert!(!run_with(&mut l, 10_000, false));
        }
        // A receiver that starts waiting makes it one, from its fourth window.
        let windows: Vec<bool> =
            (0..THREAD_AFTER_HEAVY_WINDOWS).map(|_| run_with(&mut l, WINDOW_PACKETS, true)).collect();
        assert_eq!(windows.last(), Some(&true));
        assert!(!windows[..windows.len() - 1].iter().any(|&f| f));
    }

    #[test]
    fn a_quarter_of_contended_polls_makes_a_window_count() {
        let per_window = WINDOW_PACKETS / B;
        // Runs that never end; a task waits during every 4th poll: a flood.
        let mut l = PollLoad::new();
        let flooded =
            (0..THREAD_AFTER_HEAVY_WINDOWS * per_window).filter(|&poll| l.on_poll(B, B, poll % 4 == 3)).count();
        assert_eq!(flooded, 1);
        // A window with one contended poll (a kworker waking) breaks the row.
        for poll in 0..per_window {
            assert!(!l.on_poll(B, B, poll == 3));
        }
        // Every 5th: no flood however long it lasts.
        let mut l = PollLoad::new();
        assert!(!(0..100 * per_window).any(|poll| l.on_poll(B, B, poll % 5 == 4)));
    }
}

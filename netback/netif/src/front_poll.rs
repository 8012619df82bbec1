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
//! between being scheduled and completing (polls that use their whole
//! budget are followed by another); a heavy run takes at least a budget's
//! worth of packets. A queue asks for the thread after
//! [`THREAD_AFTER_HEAVY_RUNS`] heavy runs in a row, and gives it back once
//! no run has been heavy for [`SOFTIRQ_AFTER_MS`] (the shell's clock:
//! jiffies). Request/response takes a packet or two a run; a TCP stream's
//! GSO packets (up to 17 slots each) at most 15 of the ring's 256 slots.

/// Heavy runs in a row before a queue asks for its poll thread: a burst of
/// a few is normal traffic.
pub const THREAD_AFTER_HEAVY_RUNS: u32 = 8;

/// Milliseconds without a heavy run before a queue gives its thread back:
/// long enough that a flood with pauses does not switch on every pause.
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
    /// Packets of the run so far (its polls that used their budget).
    run: u32,
    /// Heavy runs in a row.
    heavy_in_a_row: u32,
    /// When the last heavy run ended.
    last_heavy: u64,
    /// Whether this queue asks for the thread.
    wants_thread: bool,
}

impl PollLoad {
    /// A queue with no polls yet: softirq.
    pub const fn new() -> Self {
        PollLoad { run: 0, heavy_in_a_row: 0, last_heavy: 0, wants_thread: false }
    }

    /// Whether this queue asks for its poll thread.
    pub const fn wants_thread(&self) -> bool {
        self.wants_thread
    }

    /// Counts a poll that did `done` of `budget` at `now`, `quiet` being
    /// [`SOFTIRQ_AFTER_MS`] in `now`'s unit. Returns the queue's new wish
    /// when it changes (true: the thread).
    pub fn on_poll(&mut self, done: u32, budget: u32, now: u64, quiet: u64) -> Option<bool> {
        self.run = self.run.saturating_add(done);
        if budget > 0 && done >= budget {
            // NAPI polls again: the run goes on.
            return None;
        }
        let heavy = budget > 0 && self.run >= budget;
        self.run = 0;
        if heavy {
            self.heavy_in_a_row = self.heavy_in_a_row.saturating_add(1);
            self.last_heavy = now;
        } else {
            self.heavy_in_a_row = 0;
        }
        let wish = if self.wants_thread {
            heavy || now.wrapping_sub(self.last_heavy) < quiet
        } else {
            self.heavy_in_a_row >= THREAD_AFTER_HEAVY_RUNS
        };
        if wish == self.wants_thread {
            return None;
        }
        self.wants_thread = wish;
        if !wish {
            self.heavy_in_a_row = 0;
        }
        Some(wish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = SOFTIRQ_AFTER_MS as u64;

    /// A run of `n` packets (budget 64) ending at `now`: its full polls,
    /// then the last one under budget. The wish the last poll returns.
    fn run(l: &mut PollLoad, n: u32, now: u64) -> Option<bool> {
        let mut left = n;
        while left >= 64 {
            assert_eq!(l.on_poll(64, 64, now, Q), None, "a full poll decides nothing");
            left -= 64;
        }
        l.on_poll(left, 64, now, Q)
    }

    #[test]
    fn the_parameter_maps_its_three_values() {
        assert_eq!(PollMode::from_param(0), Some(PollMode::Softirq));
        assert_eq!(PollMode::from_param(1), Some(PollMode::Threaded));
        assert_eq!(PollMode::from_param(2), Some(PollMode::Auto));
        assert_eq!(PollMode::from_param(3), None);
    }

    #[test]
    fn heavy_runs_in_a_row_ask_for_the_thread_once() {
        let mut l = PollLoad::new();
        for i in 1..THREAD_AFTER_HEAVY_RUNS {
            // A full poll and a short one: 72 packets a run.
            assert_eq!(run(&mut l, 72, u64::from(i)), None);
        }
        assert_eq!(run(&mut l, 64, 100), Some(true));
        assert!(l.wants_thread());
        assert_eq!(run(&mut l, 1000, 101), None);
    }

    #[test]
    fn a_light_run_breaks_the_row() {
        let mut l = PollLoad::new();
        for round in 0..100u64 {
            for i in 1..THREAD_AFTER_HEAVY_RUNS {
                assert_eq!(run(&mut l, 200, round * 10 + u64::from(i)), None);
            }
            assert_eq!(run(&mut l, 63, round * 10 + 9), None);
        }
        assert!(!l.wants_thread());
    }

    #[test]
    fn request_response_and_stream_runs_stay_in_softirq() {
        let mut l = PollLoad::new();
        for t in 0..10_000u64 {
            // 1-2 packets a run (RR), up to 15 GSO packets (a TCP stream).
            assert_eq!(run(&mut l, (t % 16) as u32, t), None);
        }
        assert_eq!(l.on_poll(0, 0, 10_001, Q), None);
        assert!(!l.wants_thread());
    }

    #[test]
    fn the_thread_is_given_back_after_a_quiet_second() {
        let mut l = PollLoad::new();
        for i in 0..THREAD_AFTER_HEAVY_RUNS {
            run(&mut l, 100, 5_000 + u64::from(i));
        }
        assert!(l.wants_thread());
        let last_heavy = 5_000 + u64::from(THREAD_AFTER_HEAVY_RUNS) - 1;
        // Light runs within the hold keep it.
        assert_eq!(run(&mut l, 3, last_heavy + Q - 1), None);
        // A heavy run restarts the hold.
        assert_eq!(run(&mut l, 64, last_heavy + 500), None);
        assert_eq!(run(&mut l, 3, last_heavy + 500 + Q - 1), None);
        assert_eq!(run(&mut l, 3, last_heavy + 500 + Q), Some(false));
        assert!(!l.wants_thread());
        // Back in softirq, a new row is needed to ask again.
        for i in 1..THREAD_AFTER_HEAVY_RUNS {
            assert_eq!(run(&mut l, 64, 20_000 + u64::from(i)), None);
        }
        assert_eq!(run(&mut l, 64, 20_100), Some(true));
    }

    #[test]
    fn the_hold_is_measured_across_a_wrap_of_the_clock() {
        let mut l = PollLoad::new();
        for i in 0..THREAD_AFTER_HEAVY_RUNS {
            run(&mut l, 64, u64::MAX - 10 + u64::from(i));
        }
        assert!(l.wants_thread());
        assert_eq!(run(&mut l, 1, 100), None);
        assert_eq!(run(&mut l, 1, Q + 10), Some(false));
    }

    #[test]
    fn a_run_longer_than_a_counter_saturates() {
        let mut l = PollLoad::new();
        for _ in 0..1000 {
            assert_eq!(l.on_poll(u32::MAX, u32::MAX, 1, Q), None);
        }
        for i in 0..THREAD_AFTER_HEAVY_RUNS {
            run(&mut l, 64, 2 + u64::from(i));
        }
        assert!(l.wants_thread());
    }
}

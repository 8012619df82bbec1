//! Where a frontend queue's NAPI poll runs: in softirq context (the
//! kernel's default) or in the queue's own kernel thread (threaded NAPI).
//!
//! Under a flood of small packets a guest's receive softirq takes the CPU
//! from the application it delivers to (receive livelock): the socket
//! fills and drops what the guest was just given. A poll thread is
//! scheduled beside the application instead, so what is received gets
//! read, and the backend's ring backs up rather than the socket. For bulk
//! traffic and request/response the thread only adds a context switch per
//! run. So `napi_threaded=2` switches by load: a queue asks for the thread
//! after [`THREAD_AFTER_FULL_POLLS`] polls in a row that used their whole
//! budget (the softirq could not keep up), and gives it back once no poll
//! has been full for [`SOFTIRQ_AFTER_MS`] (the shell's clock: jiffies).

/// Polls in a row that use their whole budget before a queue asks for its
/// poll thread: a burst of a few full polls is normal traffic.
pub const THREAD_AFTER_FULL_POLLS: u32 = 8;

/// Milliseconds without a full poll before a queue gives its thread back:
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
    /// Full polls in a row.
    full_in_a_row: u32,
    /// When the last full poll ended.
    last_full: u64,
    /// Whether this queue asks for the thread.
    wants_thread: bool,
}

impl PollLoad {
    /// A queue with no polls yet: softirq.
    pub const fn new() -> Self {
        PollLoad { full_in_a_row: 0, last_full: 0, wants_thread: false }
    }

    /// Whether this queue asks for its poll thread.
    pub const fn wants_thread(&self) -> bool {
        self.wants_thread
    }

    /// Counts a poll that did `done` of `budget` at `now`, `quiet` being
    /// [`SOFTIRQ_AFTER_MS`] in `now`'s unit. Returns the queue's new wish
    /// when it changes (true: the thread).
    pub fn on_poll(&mut self, done: u32, budget: u32, now: u64, quiet: u64) -> Option<bool> {
        let full = budget > 0 && done >= budget;
        if full {
            self.full_in_a_row = self.full_in_a_row.saturating_add(1);
            self.last_full = now;
        } else {
            self.full_in_a_row = 0;
        }
        let wish = if self.wants_thread {
            full || now.wrapping_sub(self.last_full) < quiet
        } else {
            self.full_in_a_row >= THREAD_AFTER_FULL_POLLS
        };
        if wish == self.wants_thread {
            return None;
        }
        self.wants_thread = wish;
        if !wish {
            self.full_in_a_row = 0;
        }
        Some(wish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: u64 = SOFTIRQ_AFTER_MS as u64;

    #[test]
    fn the_parameter_maps_its_three_values() {
        assert_eq!(PollMode::from_param(0), Some(PollMode::Softirq));
        assert_eq!(PollMode::from_param(1), Some(PollMode::Threaded));
        assert_eq!(PollMode::from_param(2), Some(PollMode::Auto));
        assert_eq!(PollMode::from_param(3), None);
    }

    #[test]
    fn a_run_of_full_polls_asks_for_the_thread_once() {
        let mut l = PollLoad::new();
        for i in 1..THREAD_AFTER_FULL_POLLS {
            assert_eq!(l.on_poll(64, 64, u64::from(i), Q), None);
        }
        assert_eq!(l.on_poll(64, 64, 100, Q), Some(true));
        assert!(l.wants_thread());
        assert_eq!(l.on_poll(64, 64, 101, Q), None);
    }

    #[test]
    fn a_poll_under_budget_breaks_the_run() {
        let mut l = PollLoad::new();
        for round in 0..100u64 {
            for i in 1..THREAD_AFTER_FULL_POLLS {
                assert_eq!(l.on_poll(64, 64, round * 10 + u64::from(i), Q), None);
            }
            assert_eq!(l.on_poll(63, 64, round * 10 + 9, Q), None);
        }
        assert!(!l.wants_thread());
    }

    #[test]
    fn request_response_and_bulk_polls_stay_in_softirq() {
        let mut l = PollLoad::new();
        for t in 0..10_000u64 {
            assert_eq!(l.on_poll((t % 20) as u32, 64, t, Q), None);
        }
        assert_eq!(l.on_poll(0, 0, 10_001, Q), None);
        assert!(!l.wants_thread());
    }

    #[test]
    fn the_thread_is_given_back_after_a_quiet_second() {
        let mut l = PollLoad::new();
        for i in 0..THREAD_AFTER_FULL_POLLS {
            l.on_poll(64, 64, 5_000 + u64::from(i), Q);
        }
        assert!(l.wants_thread());
        let last_full = 5_000 + u64::from(THREAD_AFTER_FULL_POLLS) - 1;
        // Polls under budget within the hold keep it.
        assert_eq!(l.on_poll(3, 64, last_full + Q - 1, Q), None);
        // A full poll restarts the hold.
        assert_eq!(l.on_poll(64, 64, last_full + 500, Q), None);
        assert_eq!(l.on_poll(3, 64, last_full + 500 + Q - 1, Q), None);
        assert_eq!(l.on_poll(3, 64, last_full + 500 + Q, Q), Some(false));
        assert!(!l.wants_thread());
        // Back in softirq, a new run is needed to ask again.
        for i in 1..THREAD_AFTER_FULL_POLLS {
            assert_eq!(l.on_poll(64, 64, 20_000 + u64::from(i), Q), None);
        }
        assert_eq!(l.on_poll(64, 64, 20_100, Q), Some(true));
    }

    #[test]
    fn the_hold_is_measured_across_a_wrap_of_the_clock() {
        let mut l = PollLoad::new();
        for i in 0..THREAD_AFTER_FULL_POLLS {
            l.on_poll(64, 64, u64::MAX - 10 + u64::from(i), Q);
        }
        assert!(l.wants_thread());
        assert_eq!(l.on_poll(1, 64, 100, Q), None);
        assert_eq!(l.on_poll(1, 64, Q + 10, Q), Some(false));
    }
}

//! The guest-TX credit scheduler (`tx_credit_exceeded`, `tx_add_credit`,
//! `xenvif_tx_credit_callback`) and the parser of the xenstore `rate` key.
//!
//! The clock is passed in as `u64` ticks (jiffies, or nanoseconds: the shell
//! picks the unit and converts the window with [`Rate::window_ticks_c`] or
//! [`Rate::window_ns`]). Wrapping comparisons follow the kernel's
//! `time_after_eq64`.

use super::tx::TxCreditGate;

/// Smallest burst: a 128 KiB packet must always be able to pass.
pub const MIN_BURST_BYTES: u64 = 131_072;

/// A rate limit: `bytes` per `usec` microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Credit added per window.
    pub bytes: u64,
    /// Window length in microseconds.
    pub usec: u64,
}

impl Rate {
    /// No limit (the C default when `rate` is absent or invalid).
    pub const UNLIMITED: Rate = Rate { bytes: u64::MAX, usec: 0 };

    /// The window in ticks as the C driver computes it:
    /// `msecs_to_jiffies(usec / 1000)` with `hz` ticks per second (the
    /// microseconds are truncated to milliseconds, then rounded up to ticks).
    pub fn window_ticks_c(&self, hz: u64) -> u64 {
        let ms = self.usec / 1000;
        ms.saturating_mul(hz).div_ceil(1000)
    }

    /// The window in nanoseconds, without the C driver's truncation.
    pub fn window_ns(&self) -> u64 {
        self.usec.saturating_mul(1000)
    }

    /// Whether this is [`Rate::UNLIMITED`] (validated limits have a window).
    pub const fn is_unlimited(&self) -> bool {
        self.usec == 0
    }

    /// The window in ticks of a `hz` clock, rounded up and at least one tick
    /// for a limit (a zero window would replenish on every check); 0 when
    /// unlimited. Same as [`Rate::window_ticks_c`] for whole milliseconds.
    pub fn window_ticks(&self, hz: u64) -> u64 {
        if self.is_unlimited() {
            return 0;
        }
        self.usec.saturating_mul(hz).div_ceil(1_000_000).max(1)
    }

    /// The rate as one `u64` (`bytes << 32 | usec`; 0 is unlimited), so the
    /// shell can publish it with a single atomic store. `None` when a field
    /// does not fit in 32 bits ([`rate_limit_from_key`] refuses those).
    pub fn to_bits(self) -> Option<u64> {
        if self.is_unlimited() {
            return Some(0);
        }
        let bytes = u32::try_from(self.bytes).ok()?;
        let usec = u32::try_from(self.usec).ok()?;
        Some(u64::from(bytes) << 32 | u64::from(usec))
    }

    /// The inverse of [`Rate::to_bits`].
    pub fn from_bits(bits: u64) -> Rate {
        let usec = bits & u64::from(u32::MAX);
        if usec == 0 {
            return Rate::UNLIMITED;
        }
        Rate { bytes: bits >> 32, usec }
    }

    /// The limit in bits per second (saturating; `u64::MAX` when unlimited),
    /// for logs and documentation.
    pub fn bits_per_sec(&self) -> u64 {
        if self.is_unlimited() {
            return u64::MAX;
        }
        // No 128-bit division: the kernel has no __udivti3. Exact for every
        // rate `rate_limit_from_key` accepts (bytes < 2^32).
        match self.bytes.checked_mul(8_000_000) {
            Some(bits) => bits / self.usec,
            None => u64::MAX,
        }
    }
}

/// Why a `rate` value was rejected (the C driver then runs unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateParseError {
    /// No digits before the comma.
    MissingBytes,
    /// No comma after the byte count.
    MissingComma,
    /// No digits after the comma.
    MissingUsec,
    /// Something follows the microseconds.
    TrailingGarbage,
    /// A number does not fit in 64 bits.
    Overflow,
    /// `0,usec`: no credit ever, the guest could never send (the C driver
    /// accepts it and stalls the VIF).
    ZeroBytes,
    /// `bytes,0`: no window (the C driver accepts it and then replenishes
    /// a few bytes per check, a near stall).
    ZeroWindow,
}

impl RateParseError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            RateParseError::MissingBytes => "rate: expected a byte count before ','",
            RateParseError::MissingComma => "rate: expected ',' after the byte count",
            RateParseError::MissingUsec => "rate: expected microseconds after ','",
            RateParseError::TrailingGarbage => "rate: unexpected characters after the microseconds",
            RateParseError::Overflow => "rate: number too large",
            RateParseError::ZeroBytes => "rate: the byte count must be at least 1",
            RateParseError::ZeroWindow => "rate: the window must be at least 1 microsecond",
        }
    }
}

fn digits(s: &[u8]) -> Result<(Option<u64>, &[u8]), RateParseError> {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (d, rest) = s.split_at(n);
    if d.is_empty() {
        return Ok((None, rest));
    }
    let mut v: u64 = 0;
    for &b in d {
        v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(b - b'0'))).ok_or(RateParseError::Overflow)?;
    }
    Ok((Some(v), rest))
}

/// Parses the xenstore `rate` value `"bytes,usec"` (`xen_net_read_rate`);
/// a trailing NUL is accepted.
pub fn parse_rate(value: &[u8]) -> Result<Rate, RateParseError> {
    let value = value.strip_suffix(b"\0").unwrap_or(value);
    let (bytes, rest) = digits(value)?;
    let bytes = bytes.ok_or(RateParseError::MissingBytes)?;
    let rest = rest.strip_prefix(b",").ok_or(RateParseError::MissingComma)?;
    let (usec, rest) = digits(rest)?;
    let usec = usec.ok_or(RateParseError::MissingUsec)?;
    if !rest.is_empty() {
        return Err(RateParseError::TrailingGarbage);
    }
    Ok(Rate { bytes, usec })
}

/// The limit a `rate` key sets, as this driver applies it: absent means
/// unlimited; a value must parse ([`parse_rate`]) and have a non-zero byte
/// count and window, each below 2^32 (4 GB per window, windows up to 71
/// minutes). On `Err` the caller keeps the limit in effect and logs
/// the reason (xen-netback instead falls back to unlimited).
pub fn rate_limit_from_key(value: Option<&[u8]>) -> Result<Rate, RateParseError> {
    let Some(value) = value else {
        return Ok(Rate::UNLIMITED);
    };
    let rate = parse_rate(value)?;
    if rate.bytes == 0 {
        return Err(RateParseError::ZeroBytes);
    }
    if rate.usec == 0 {
        return Err(RateParseError::ZeroWindow);
    }
    if rate.to_bits().is_none() {
        return Err(RateParseError::Overflow);
    }
    Ok(rate)
}

const fn time_after_eq(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) >= 0
}

/// Per-queue credit state (`credit_bytes`, `credit_usec` as a window in
/// ticks, `remaining_credit`, `credit_window_start`, the credit timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditLimiter {
    credit_bytes: u64,
    window: u64,
    remaining: u64,
    window_start: u64,
    timer: Option<u64>,
    rate_limited: bool,
}

impl CreditLimiter {
    /// A limiter adding `rate.bytes` every `window` ticks, starting full
    /// (`remaining_credit = credit_bytes`) with its window at `now`.
    pub fn new(rate: Rate, window: u64, now: u64) -> Self {
        CreditLimiter {
            credit_bytes: rate.bytes,
            window,
            remaining: rate.bytes,
            window_start: now,
            timer: None,
            rate_limited: false,
        }
    }

    /// A limiter that never limits.
    pub fn unlimited() -> Self {
        Self::new(Rate::UNLIMITED, 0, 0)
    }

    /// Applies a changed `rate` (the xenstore watch): new credit and window;
    /// the remaining credit is reset to the new credit, as on connect.
    pub fn set_rate(&mut self, rate: Rate, window: u64) {
        self.credit_bytes = rate.bytes;
        self.window = window;
        self.remaining = rate.bytes;
    }

    /// A live `rate` change (`xen_net_rate_changed`): new credit and
    /// window; a pending credit timer fires now (so a queue waiting under
    /// the old limit resumes at once), otherwise the remaining credit is
    /// capped at the new credit. Unlike C, the new window starts at `now`
    /// (C keeps the old window's start, which can lie up to one old window
    /// in the future and stall the queue that long). Returns whether the
    /// timer was pending.
    pub fn change_rate(&mut self, rate: Rate, window: u64, now: u64) -> bool {
        self.credit_bytes = rate.bytes;
        self.window = window;
        self.window_start = now;
        if self.timer.is_some() {
            self.timer_fired();
            return true;
        }
        self.remaining = self.remaining.min(self.credit_bytes);
        false
    }

    /// Whether a pending credit timer is due at `now` (the shell's kernel
    /// timer only reschedules the poll, which then calls
    /// [`CreditLimiter::timer_fired`]).
    pub fn timer_due(&self, now: u64) -> bool {
        self.timer.is_some_and(|at| time_after_eq(now, at))
    }

    /// Credit left in this window.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether the last decision was "wait".
    pub fn is_rate_limited(&self) -> bool {
        self.rate_limited
    }

    /// When the credit timer must fire, if armed.
    pub fn timer(&self) -> Option<u64> {
        self.timer
    }

    /// `tx_add_credit`: add one window's credit, capped at the burst
    /// `max(128 KiB, credit_bytes)`.
    pub fn add_credit(&mut self) {
        let max_burst = self.credit_bytes.max(MIN_BURST_BYTES);
        let max_credit = self.remaining.saturating_add(self.credit_bytes);
        self.remaining = max_credit.min(max_burst);
        self.rate_limited = false;
    }

    /// The credit timer fired (`xenvif_tx_credit_callback`): add credit; the
    /// shell then reschedules TX processing.
    pub fn timer_fired(&mut self) {
        self.timer = None;
        self.add_credit();
    }

    /// `tx_credit_exceeded`: whether a packet of `size` bytes must wait. When
    /// it must, the timer is armed (see [`CreditLimiter::timer`]).
    pub fn exceeded(&mut self, size: u64, now: u64) -> bool {
        let next_credit = self.window_start.wrapping_add(self.window);
        if self.timer.is_some() {
            self.rate_limited = true;
            return true;
        }
        if time_after_eq(now, next_credit) {
            self.window_start = now;
            self.add_credit();
        }
        if size > self.remaining {
            self.timer = Some(next_credit);
            self.window_start = next_credit;
            self.rate_limited = true;
            return true;
        }
        false
    }

    /// The per-packet check of `xenvif_tx_build_gops`: admits and charges
    /// `size`, or refuses (the packet waits for the timer).
    pub fn admit(&mut self, size: u64, now: u64) -> bool {
        if size > self.remaining && self.exceeded(size, now) {
            return false;
        }
        self.remaining = self.remaining.saturating_sub(size);
        true
    }

    /// A [`TxCreditGate`] for one poll at time `now`.
    pub fn gate(&mut self, now: u64) -> CreditGate<'_> {
        CreditGate { limiter: self, now }
    }
}

/// The credit scheduler of one guest TX queue as its poll runs it
/// (`xenvif_tx_credit_callback` plus the `rate_limited` flag): follows the
/// VIF's rate (published as [`Rate::to_bits`]), gates each poll's packets
/// and, after a refusal, names the tick at which the poll must run again.
///
/// The shell arms a kernel timer at that tick whose only job is to
/// reschedule the poll; while waiting the poll neither reschedules itself
/// nor ends the TX event's EOI. So a wait must always have an end: every
/// refusal yields a wake-up tick ([`CreditScheduler::wait`] never returns
/// without one), a poll at or after it adds the window's credit, and a
/// rate change (the shell reschedules every queue's poll) ends the wait
/// under the old limit at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditScheduler {
    limiter: CreditLimiter,
    /// `Rate::to_bits` of the limit `limiter` runs with.
    applied: u64,
    /// Ticks per second.
    hz: u64,
    /// Waiting for credit until this tick (the shell's timer).
    wake_at: Option<u64>,
}

impl CreditScheduler {
    /// A scheduler for the rate `bits` on a `hz` clock, starting with a
    /// full window at `now`.
    pub fn new(bits: u64, hz: u64, now: u64) -> Self {
        let rate = Rate::from_bits(bits);
        CreditScheduler {
            limiter: CreditLimiter::new(rate, rate.window_ticks(hz), now),
            applied: bits,
            hz,
            wake_at: None,
        }
    }

    /// Start of a poll at `now` with the VIF's rate `bits`: applies a
    /// changed limit (a wait under the old one ends: its timer fires now),
    /// adds the credit of a window whose timer is due, and ends the wait.
    pub fn refresh(&mut self, bits: u64, now: u64) {
        if bits != self.applied {
            let rate = Rate::from_bits(bits);
            self.limiter.change_rate(rate, rate.window_ticks(self.hz), now);
            self.applied = bits;
        }
        if self.limiter.timer_due(now) {
            self.limiter.timer_fired();
        }
        self.wake_at = None;
    }

    /// The per-packet gate of a poll at `now`.
    pub fn gate(&mut self, now: u64) -> CreditGate<'_> {
        self.limiter.gate(now)
    }

    /// The gate refused a packet at `now`: the queue waits, and the tick at
    /// which its poll must run again is returned (the shell arms its timer
    /// there). That is the credit timer a refusal arms; should it be gone
    /// (never after a refusal), the next tick, so no wait lacks an end.
    pub fn wait(&mut self, now: u64) -> u64 {
        let at = self.limiter.timer().unwrap_or_else(|| now.wrapping_add(1));
        self.wake_at = Some(at);
        at
    }

    /// The tick the queue waits for, if the last poll stopped for credit.
    pub fn waiting(&self) -> Option<u64> {
        self.wake_at
    }

    /// The limit in use.
    pub fn rate(&self) -> Rate {
        Rate::from_bits(self.applied)
    }

    /// The credit state.
    pub fn limiter(&self) -> &CreditLimiter {
        &self.limiter
    }
}

/// [`CreditLimiter`] at a fixed time, as a [`TxCreditGate`].
#[derive(Debug)]
pub struct CreditGate<'a> {
    limiter: &'a mut CreditLimiter,
    now: u64,
}

impl TxCreditGate for CreditGate<'_> {
    fn admit(&mut self, size: u32) -> bool {
        self.limiter.admit(u64::from(size), self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Lcg;
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_rate(b"10000000,50000"), Ok(Rate { bytes: 10_000_000, usec: 50_000 }));
        assert_eq!(parse_rate(b"1,0\0"), Ok(Rate { bytes: 1, usec: 0 }));
        assert_eq!(parse_rate(b""), Err(RateParseError::MissingBytes));
        assert_eq!(parse_rate(b",5"), Err(RateParseError::MissingBytes));
        assert_eq!(parse_rate(b"5"), Err(RateParseError::MissingComma));
        assert_eq!(parse_rate(b"5;6"), Err(RateParseError::MissingComma));
        assert_eq!(parse_rate(b"5,"), Err(RateParseError::MissingUsec));
        assert_eq!(parse_rate(b"5,6 "), Err(RateParseError::TrailingGarbage));
        assert_eq!(parse_rate(b"99999999999999999999,1"), Err(RateParseError::Overflow));
    }

    #[test]
    fn key_values() {
        assert_eq!(rate_limit_from_key(None), Ok(Rate::UNLIMITED));
        assert!(Rate::UNLIMITED.is_unlimited());
        assert_eq!(rate_limit_from_key(Some(b"2500000,50000")), Ok(Rate { bytes: 2_500_000, usec: 50_000 }));
        assert_eq!(rate_limit_from_key(Some(b"abc")), Err(RateParseError::MissingBytes));
        assert_eq!(rate_limit_from_key(Some(b"1,0")), Err(RateParseError::ZeroWindow));
        assert_eq!(rate_limit_from_key(Some(b"0,50000")), Err(RateParseError::ZeroBytes));
        assert_eq!(rate_limit_from_key(Some(b"")), Err(RateParseError::MissingBytes));
        assert_eq!(rate_limit_from_key(Some(b"4294967296,1")), Err(RateParseError::Overflow));
        assert_eq!(rate_limit_from_key(Some(b"1,4294967296")), Err(RateParseError::Overflow));
        for r in [Rate::UNLIMITED, Rate { bytes: 1, usec: 1 }, Rate { bytes: 4_294_967_295, usec: 4_294_967_295 }] {
            assert_eq!(r.to_bits().map(Rate::from_bits), Some(r));
        }
        assert_ne!(Rate { bytes: 1, usec: 1 }.to_bits(), Some(0));
        assert_eq!(Rate { bytes: 312_500, usec: 50_000 }.bits_per_sec(), 50_000_000);
        assert_eq!(Rate::UNLIMITED.bits_per_sec(), u64::MAX);
        assert_eq!(Rate { bytes: u64::MAX, usec: 1 }.bits_per_sec(), u64::MAX);
    }

    #[test]
    fn window_ticks_round_up() {
        assert_eq!(Rate { bytes: 1, usec: 50_000 }.window_ticks(250), 13);
        assert_eq!(Rate { bytes: 1, usec: 50_000 }.window_ticks(1000), 50);
        assert_eq!(Rate { bytes: 1, usec: 1 }.window_ticks(250), 1, "never a zero window");
        assert_eq!(Rate::UNLIMITED.window_ticks(250), 0);
        for usec in [1000u64, 4000, 50_000, 1_000_000] {
            let r = Rate { bytes: 1, usec };
            assert_eq!(r.window_ticks(250), r.window_ticks_c(250), "{usec}");
        }
    }

    #[test]
    fn change_rate_live() {
        // Waiting under a slow limit: the change fires the timer at once.
        let mut l = CreditLimiter::new(Rate { bytes: 1000, usec: 0 }, 100, 0);
        assert!(l.admit(1000, 0));
        assert!(!l.admit(1500, 1));
        assert!(l.timer().is_some());
        assert!(!l.timer_due(50));
        assert!(l.timer_due(100));
        assert!(l.change_rate(Rate::UNLIMITED, 0, 2));
        assert_eq!(l.timer(), None);
        assert!(l.admit(1500, 2), "unlimited after the change");
        for t in 3..1000 {
            assert!(l.admit(65_535, t));
        }
        // Unlimited -> limited: the remaining credit is capped at once.
        assert!(!l.change_rate(Rate { bytes: 10_000, usec: 0 }, 100, 1000));
        assert_eq!(l.remaining(), 10_000);
        // From then on about 10 kB per 100 ticks (plus the capped start).
        let mut sent = 0u64;
        for t in 1000..2000u64 {
            if l.timer_due(t) {
                l.timer_fired();
            }
            while l.admit(1000, t) {
                sent += 1000;
            }
        }
        assert!((100_000..=110_000).contains(&sent), "sent {sent}");
    }

    #[test]
    fn window_conversion() {
        let r = Rate { bytes: 1, usec: 50_500 };
        assert_eq!(r.window_ticks_c(250), 13, "50 ms at HZ=250 rounds up");
        assert_eq!(r.window_ticks_c(1000), 50);
        assert_eq!(Rate { bytes: 1, usec: 999 }.window_ticks_c(1000), 0);
        assert_eq!(r.window_ns(), 50_500_000);
    }

    #[test]
    fn limits_to_credit_per_window() {
        // 200 kB per 100 ticks.
        let mut l = CreditLimiter::new(Rate { bytes: 200_000, usec: 0 }, 100, 0);
        let mut sent = 0u64;
        let mut t = 0u64;
        while t < 1000 {
            if let Some(at) = l.timer() {
                if t >= at {
                    l.timer_fired();
                }
            }
            while l.admit(1500, t) {
                sent += 1500;
            }
            t += 1;
        }
        // ~10 windows of 200 kB, plus the initial full credit.
        assert!((1_900_000..=2_300_000).contains(&sent), "sent {sent}");
    }

    #[test]
    fn burst_is_capped() {
        let mut l = CreditLimiter::new(Rate { bytes: 1000, usec: 0 }, 10, 0);
        for _ in 0..1000 {
            l.add_credit();
        }
        assert_eq!(l.remaining(), MIN_BURST_BYTES);
        // A 64 KiB packet gets through eventually although credit_bytes is 1000.
        let mut l = CreditLimiter::new(Rate { bytes: 1000, usec: 0 }, 10, 0);
        let mut t = 0;
        while !l.admit(65_535, t) {
            if l.timer().is_some_and(|at| t >= at) {
                l.timer_fired();
            }
            t += 1;
        }
        assert!(t > 0);
    }

    /// The shell around a [`CreditScheduler`], as NAPI runs it: a poll
    /// runs on a guest event (only while not waiting: the EOI is held), on
    /// the credit timer, and on every rate change; each poll offers the
    /// guest's packets until the gate refuses.
    struct Queue {
        sched: CreditScheduler,
        timer: Option<u64>,
        sent: u64,
        last_sent_at: u64,
    }

    impl Queue {
        fn poll(&mut self, bits: u64, now: u64, size: u64, budget: u32) {
            self.sched.refresh(bits, now);
            for _ in 0..budget {
                if !self.sched.gate(now).admit(size as u32) {
                    self.timer = Some(self.sched.wait(now));
                    return;
                }
                self.sent += size;
                self.last_sent_at = now;
            }
        }
    }

    #[test]
    fn credit_wait_always_ends_under_rate_changes() {
        // The multiqueue scenario's loop, many times over: a rate set and
        // removed at random moments (also while a queue waits, and on the
        // tick its timer is due) while the guest always has packets.
        let hz = 250;
        let limited = Rate { bytes: 625_000, usec: 50_000 }.to_bits().unwrap();
        let slow = Rate { bytes: 70_000, usec: 1_000_000 }.to_bits().unwrap();
        for seed in 0..200u64 {
            let mut rng = Lcg(seed);
            let start = u64::MAX - 3000 + seed; // across the jiffies wrap
            let mut bits = 0;
            let sched = CreditScheduler::new(bits, hz, start);
            let mut q = Queue { sched, timer: None, sent: 0, last_sent_at: start };
            let mut now = start;
            for _ in 0..6000 {
                now = now.wrapping_add(1);
                let mut changed = false;
                if rng.next().is_multiple_of(40) {
                    bits = match rng.next() % 3 {
                        0 => 0,
                        1 => limited,
                        _ => slow,
                    };
                    changed = true;
                }
                let size = 1 + rng.next() % 65_535;
                let timer_due = q.timer.is_some_and(|at| time_after_eq(now, at));
                if timer_due {
                    q.timer = None;
                }
                let waiting = q.sched.waiting().is_some();
                if changed || timer_due || !waiting {
                    let sent = q.sent;
                    q.poll(bits, now, size, 1 + (rng.next() % 64) as u32);
                    // The wake-up adds a window's credit, enough for any
                    // packet under these limits: the wait ends on its tick.
                    // (A timer left from a wait a rate change already ended
                    // only causes an extra poll.)
                    assert!(
                        !(timer_due && waiting) || changed || q.sent > sent,
                        "seed {seed}: woken at {now} without credit"
                    );
                }
                if let Some(at) = q.sched.waiting() {
                    // Waiting always has a timer to end it, at most a
                    // window (here 1 s) away.
                    assert_eq!(q.timer, Some(at), "seed {seed}: a wait without a timer");
                    let ahead = at.wrapping_sub(now) as i64;
                    assert!(ahead <= hz as i64 + 1, "seed {seed}: wait until {at} at {now}");
                }
                // Progress: every limit here admits a 64 KiB packet per
                // window, so a packet passes at least every two 1 s windows.
                let idle = now.wrapping_sub(q.last_sent_at);
                assert!(idle <= 2 * hz + 2, "seed {seed}: stalled since {} (now {now})", q.last_sent_at);
            }
            assert!(q.sent > 0);
        }
    }

    #[test]
    fn credit_wait_ends_on_rate_removal() {
        let hz = 1000;
        let bits = Rate { bytes: 10_000, usec: 100_000 }.to_bits().unwrap();
        let mut s = CreditScheduler::new(bits, hz, 0);
        assert!(s.gate(0).admit(10_000));
        assert!(!s.gate(1).admit(1500));
        let at = s.wait(1);
        assert_eq!((at, s.waiting()), (100, Some(100)));
        // The rate is removed before the window ends: the next poll (the
        // shell reschedules on the change) runs unlimited at once.
        s.refresh(0, 5);
        assert_eq!(s.waiting(), None);
        assert!(s.rate().is_unlimited());
        assert!(s.gate(5).admit(65_535));
        // Set again: the full new window, then a wait with a timer.
        s.refresh(bits, 6);
        assert!(s.gate(6).admit(10_000));
        assert!(!s.gate(6).admit(1));
        assert_eq!(s.wait(6), 106);
        // An early poll (not due) keeps refusing and waits for the same tick.
        s.refresh(bits, 50);
        assert!(!s.gate(50).admit(1));
        assert_eq!(s.wait(50), 106);
        s.refresh(bits, 106);
        assert!(s.gate(106).admit(1500));
    }

    #[test]
    fn unlimited_never_limits_and_clock_wraps() {
        let mut l = CreditLimiter::unlimited();
        for i in 0..1000u64 {
            assert!(l.admit(65_535, (u64::MAX - 500).wrapping_add(i)));
        }
        let mut w = CreditLimiter::new(Rate { bytes: 100, usec: 0 }, 10, u64::MAX - 5);
        assert!(w.admit(100, u64::MAX - 5));
        assert!(!w.admit(100, u64::MAX - 4));
        assert_eq!(w.timer(), Some(4));
        assert!(!w.admit(1, 5), "timer pending");
        w.timer_fired();
        assert!(w.admit(100, 5));
    }
}

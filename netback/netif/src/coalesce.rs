//! Guest TX answer timing: when the answers (TX responses) a poll wrote are
//! published to the guest, as a NIC's TX interrupt coalescing decides when
//! the driver hears of completed sends (`ethtool -C vifD.H tx-usecs N
//! tx-frames N adaptive-tx on|off`).
//!
//! Why it matters: netfront frees a sent skb when it sees its answer. Answers
//! published microseconds after the request (in the same NAPI poll) let the
//! guest's TCP small queues release data at once, so it builds smaller TSO
//! frames and handles more ACKs: guest -> dom0 TCP then costs the guest about
//! 1.4x the CPU per GB of C xen-netback, which answers later (from its
//! dealloc thread). Publishing later brought it to 1.01x, but cost
//! request/response traffic a wakeup per transaction
//! (`benches/results/2026-11-26-tx-answer-timing/`).
//!
//! The policy ([`TxCoalescer::decide`], after every poll):
//! * `tx-usecs 0`: publish in the poll, as without coalescing.
//! * `tx-usecs N`: hold the answers until `N` us after the oldest
//!   unpublished one was written, or until `tx-frames` answers wait
//!   (`tx-frames 0`: no frame limit of its own), whichever comes first. A
//!   hold never exceeds half the ring ([`HOLD_MAX_ANSWERS`]): the guest
//!   always keeps room to post while its answers wait here.
//! * `adaptive-tx on`: the hold applies only to bulk traffic: while the
//!   guest keeps the ring busy, i.e. posts at least one request per
//!   [`BUSY_NS_PER_REQUEST`] on average, with packets of at least
//!   [`BULK_BYTES_PER_PACKET`] on average ([`TxRateEstimate`]). Sparse
//!   traffic (request/response) and streams of small packets (64-byte
//!   datagrams, a receiver's ACKs) are answered in the poll; `tx-usecs`
//!   stays the upper bound of a hold.
//! * The default is [`TxCoalesce::DEFAULT`], `tx-usecs 200 adaptive-tx on`.
//!
//! The shell publishes when told [`PublishDecision::Now`]; on
//! [`PublishDecision::Defer`] it arms a timer at the deadline whose only job
//! is to poll again, and the poll then finds the deadline due. Times are
//! nanoseconds of a monotonic clock.

/// The largest `tx-usecs`: 1 ms. netfront frees a sent skb (and the
/// guest's socket its memory) only on its answer, so longer holds would
/// stall a sender rather than batch its completions.
pub const MAX_USECS: u32 = 1000;

/// The largest `tx-frames`: the TX ring's size (one answer per slot).
pub const MAX_FRAMES: u32 = super::wire::XEN_NETIF_TX_RING_SIZE;

/// The most answers a hold keeps back, whatever `tx-frames` says: half the
/// ring. netfront stops its queue when fewer than a packet's worst case of
/// free slots remain; with half the ring published it never waits on us for
/// ring space, only on its own posting.
pub const HOLD_MAX_ANSWERS: u32 = MAX_FRAMES / 2;

/// `adaptive-tx`: the guest keeps the ring busy while it posts at least one
/// request per 200 us on average (5 per ms). A TCP stream from a guest at
/// 500-800 Mbit/s (the TCG testbed; far more on hardware) posts a
/// page-sized slot every ~40-65 us; the ACKs of a stream into the guest
/// alone are several per ms; request/response traffic posts one request per
/// transaction, ~1.5 ms apart in the testbed (600-700 transactions/s). The
/// threshold sits between them with a 3-8x margin either way.
pub const BUSY_NS_PER_REQUEST: u64 = 200_000;

/// `adaptive-tx`: the guest's traffic is bulk while its packets average at
/// least 1 KiB. A hold makes the guest send in bursts (it frees its sent
/// skbs, and its sockets their memory, only on the answers): a stream of
/// large packets gains (guest -> dom0 TCP 1.34-1.37x of answering in the
/// poll, its packets tens of KiB with GSO), but a stream of small datagrams
/// overflows its receiver's socket in those bursts (64-byte UDP: dom0's
/// socket dropped 0.07-0.08 per received datagram, guest -> guest 0.86x,
/// `benches/results/2026-12-03-hrtimers-answer-timing/`). Small packets are
/// 60-110 bytes (ACKs, request/response, 64-byte UDP); a full-size frame
/// without GSO (1514) still counts as bulk.
pub const BULK_BYTES_PER_PACKET: u64 = 1024;

/// Gaps between polls are counted up to this (10 ms) in the rate estimate,
/// so one long idle period makes the guest sparse at once but does not
/// take many busy polls to forget.
pub const IDLE_GAP_NS: u64 = 10_000_000;

/// The EWMA weight of a new sample: 1/4 (a change of traffic shows within a
/// few polls, one outlier moves the estimate by a quarter).
const EWMA_SHIFT: u32 = 2;

/// The per-VIF setting (`ethtool -c` shows it, `ethtool -C` sets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCoalesce {
    usecs: u32,
    frames: u32,
    adaptive: bool,
}

impl Default for TxCoalesce {
    fn default() -> Self {
        TxCoalesce::DEFAULT
    }
}

/// Why `ethtool -C` values are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoalesceError {
    /// `tx-usecs` above [`MAX_USECS`].
    UsecsTooLarge,
    /// `tx-frames` above [`MAX_FRAMES`].
    FramesTooLarge,
}

impl CoalesceError {
    /// A fixed description for logs.
    pub const fn description(&self) -> &'static str {
        match self {
            CoalesceError::UsecsTooLarge => "tx-usecs above 1000",
            CoalesceError::FramesTooLarge => "tx-frames above the ring size (256)",
        }
    }
}

impl TxCoalesce {
    /// Answers in the poll (`ethtool -C vifD.H tx-usecs 0 adaptive-tx off`).
    pub const OFF: TxCoalesce = TxCoalesce { usecs: 0, frames: 0, adaptive: false };

    /// A new VIF's setting: hold answers up to 200 us while the guest keeps
    /// its ring busy. Chosen by an A/B against answering in the poll and
    /// against C, two boots of 5 rounds
    /// (`benches/results/2026-12-01-tx-answer-timing-ab/`): guest -> dom0
    /// TCP and 64-byte UDP gain, request/response is answered in the poll
    /// as before.
    pub const DEFAULT: TxCoalesce = TxCoalesce { usecs: 200, frames: 0, adaptive: true };

    /// Validated values.
    pub const fn new(usecs: u32, frames: u32, adaptive: bool) -> Result<Self, CoalesceError> {
        if usecs > MAX_USECS {
            return Err(CoalesceError::UsecsTooLarge);
        }
        if frames > MAX_FRAMES {
            return Err(CoalesceError::FramesTooLarge);
        }
        Ok(TxCoalesce { usecs, frames, adaptive })
    }

    /// `tx-usecs`: the longest hold (0: answers in the poll).
    pub const fn usecs(&self) -> u32 {
        self.usecs
    }

    /// `tx-frames`: answers that end a hold (0: no limit of its own).
    pub const fn frames(&self) -> u32 {
        self.frames
    }

    /// `adaptive-tx`: hold only while the guest keeps the ring busy.
    pub const fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// Whether answers may be held at all.
    pub const fn holds(&self) -> bool {
        self.usecs != 0
    }

    /// One word for an atomic: usecs in bits 0..16, frames in 16..32,
    /// adaptive in bit 32.
    pub const fn to_bits(self) -> u64 {
        (self.usecs as u64) | ((self.frames as u64) << 16) | ((self.adaptive as u64) << 32)
    }

    /// The setting of [`TxCoalesce::to_bits`]; out-of-range fields (never
    /// stored) are clamped to the maxima.
    pub const fn from_bits(bits: u64) -> Self {
        let usecs = (bits & 0xffff) as u32;
        let frames = ((bits >> 16) & 0xffff) as u32;
        TxCoalesce {
            usecs: if usecs > MAX_USECS { MAX_USECS } else { usecs },
            frames: if frames > MAX_FRAMES { MAX_FRAMES } else { frames },
            adaptive: (bits >> 32) & 1 == 1,
        }
    }

    /// The hold's answer limit: `tx-frames` (if set) within
    /// [`HOLD_MAX_ANSWERS`].
    const fn answer_limit(&self) -> u32 {
        if self.frames != 0 && self.frames < HOLD_MAX_ANSWERS {
            self.frames
        } else {
            HOLD_MAX_ANSWERS
        }
    }
}

/// What one poll took from the guest's TX ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollTraffic {
    /// Ring slots consumed (requests and extras).
    pub requests: u32,
    /// Packets among them handed to the stack (not drops, failed copies or
    /// multicast requests).
    pub packets: u32,
    /// Their bytes.
    pub bytes: u64,
}

/// A smoothed estimate of the guest's TX traffic: the mean time per request
/// consumed (EWMA of each poll's gap since the previous poll that consumed
/// any, divided by the requests it consumed; gaps capped at
/// [`IDLE_GAP_NS`]) and the mean packet size (EWMA of each poll's bytes per
/// packet). Starts sparse and small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxRateEstimate {
    /// When the last poll that consumed requests ran.
    last: Option<u64>,
    /// Nanoseconds per request, smoothed.
    ns_per_request: u64,
    /// Bytes per packet, smoothed.
    bytes_per_packet: u64,
}

impl Default for TxRateEstimate {
    fn default() -> Self {
        Self::new()
    }
}

/// `old` moved a quarter of the way to `sample`, in unsigned steps.
const fn ewma(old: u64, sample: u64) -> u64 {
    if sample >= old {
        old + ((sample - old) >> EWMA_SHIFT)
    } else {
        old - ((old - sample) >> EWMA_SHIFT)
    }
}

impl TxRateEstimate {
    /// No traffic seen: sparse.
    pub const fn new() -> Self {
        TxRateEstimate { last: None, ns_per_request: IDLE_GAP_NS, bytes_per_packet: 0 }
    }

    /// A poll at `now` took `traffic` (polls that consumed nothing, e.g. a
    /// deadline's, leave the estimate as it is; polls without an accepted
    /// packet leave the size as it is).
    pub fn update(&mut self, now: u64, traffic: PollTraffic) {
        if traffic.requests == 0 {
            return;
        }
        let gap = match self.last {
            Some(last) => now.saturating_sub(last).min(IDLE_GAP_NS),
            None => IDLE_GAP_NS,
        };
        self.last = Some(now);
        self.ns_per_request = ewma(self.ns_per_request, gap / u64::from(traffic.requests));
        if traffic.packets != 0 {
            self.bytes_per_packet = ewma(self.bytes_per_packet, traffic.bytes / u64::from(traffic.packets));
        }
    }

    /// The smoothed time per request (ns).
    pub const fn ns_per_request(&self) -> u64 {
        self.ns_per_request
    }

    /// The smoothed packet size (bytes).
    pub const fn bytes_per_packet(&self) -> u64 {
        self.bytes_per_packet
    }

    /// Whether the guest keeps the ring busy ([`BUSY_NS_PER_REQUEST`]).
    pub const fn busy(&self) -> bool {
        self.ns_per_request <= BUSY_NS_PER_REQUEST
    }

    /// Whether the guest keeps the ring busy with large packets
    /// ([`BULK_BYTES_PER_PACKET`]): the traffic a hold is for.
    pub const fn bulk(&self) -> bool {
        self.busy() && self.bytes_per_packet >= BULK_BYTES_PER_PACKET
    }
}

/// What to do with the answers waiting unpublished after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishDecision {
    /// Publish every answer now (and notify the guest if it asked).
    Now,
    /// Keep them; poll again by `deadline` at the latest.
    Defer {
        /// When the oldest waiting answer is due (ns).
        deadline: u64,
        /// This poll started the hold (answers were all published before).
        new_hold: bool,
    },
}

/// One TX queue's answer timing state: the rate estimate and when the
/// oldest unpublished answer was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxCoalescer {
    rate: TxRateEstimate,
    /// When the oldest answer still unpublished was written (the poll that
    /// wrote it); `None` when every answer is published.
    oldest: Option<u64>,
}

impl TxCoalescer {
    /// Nothing held, sparse traffic.
    pub const fn new() -> Self {
        TxCoalescer { rate: TxRateEstimate::new(), oldest: None }
    }

    /// The rate estimate (debugfs).
    pub const fn rate(&self) -> &TxRateEstimate {
        &self.rate
    }

    /// When the oldest held answer was written, if any is held.
    pub const fn holding_since(&self) -> Option<u64> {
        self.oldest
    }

    /// Decides after a poll at `now` that took `traffic`, with
    /// `unpublished` answers written and not yet published. On
    /// [`PublishDecision::Now`] the caller publishes them all (the hold
    /// ends here); on `Defer` it makes sure it polls again by the deadline.
    pub fn decide(&mut self, cfg: TxCoalesce, now: u64, traffic: PollTraffic, unpublished: u32) -> PublishDecision {
        if cfg.adaptive {
            self.rate.update(now, traffic);
        }
        let hold = cfg.holds() && unpublished != 0 && (!cfg.adaptive || self.rate.bulk());
        let since = match self.oldest {
            Some(t) => t,
            None => now,
        };
        let deadline = since.saturating_add(u64::from(cfg.usecs) * 1000);
        if !hold || unpublished >= cfg.answer_limit() || now >= deadline {
            self.oldest = None;
            return PublishDecision::Now;
        }
        let new_hold = self.oldest.is_none();
        self.oldest = Some(since);
        PublishDecision::Defer { deadline, new_hold }
    }

    /// The answers were published outside [`Self::decide`] (teardown, a
    /// fatal error): nothing is held any more.
    pub fn published(&mut self) {
        self.oldest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Lcg;
    use super::*;

    const US: u64 = 1000;

    fn cfg(usecs: u32, frames: u32, adaptive: bool) -> TxCoalesce {
        TxCoalesce::new(usecs, frames, adaptive).unwrap()
    }

    /// A poll of a bulk sender: `requests` slots, 17 to a 64 KiB packet.
    fn big(requests: u32) -> PollTraffic {
        let packets = requests.div_ceil(17);
        PollTraffic { requests, packets, bytes: u64::from(packets) * 65_000 }
    }

    /// A poll of 64-byte datagrams (106-byte frames), one slot each.
    fn small(requests: u32) -> PollTraffic {
        PollTraffic { requests, packets: requests, bytes: u64::from(requests) * 106 }
    }

    #[test]
    fn validation_and_bits() {
        assert_eq!(TxCoalesce::default(), TxCoalesce::DEFAULT);
        assert_eq!(TxCoalesce::new(200, 0, true), Ok(TxCoalesce::DEFAULT));
        assert_eq!(TxCoalesce::new(1001, 0, false), Err(CoalesceError::UsecsTooLarge));
        assert_eq!(TxCoalesce::new(100_000, 0, false), Err(CoalesceError::UsecsTooLarge));
        assert_eq!(TxCoalesce::new(0, 257, false), Err(CoalesceError::FramesTooLarge));
        assert_eq!(TxCoalesce::new(0, 1000, true), Err(CoalesceError::FramesTooLarge));
        for (u, f, a) in [(0, 0, false), (1000, 256, true), (50, 32, true), (1, 1, false)] {
            let c = cfg(u, f, a);
            assert_eq!(TxCoalesce::from_bits(c.to_bits()), c);
            assert_eq!((c.usecs(), c.frames(), c.adaptive()), (u, f, a));
        }
        assert_eq!(TxCoalesce::from_bits(0), TxCoalesce::OFF);
        assert_eq!(TxCoalesce::from_bits(u64::MAX), cfg(MAX_USECS, MAX_FRAMES, true));
    }

    #[test]
    fn off_publishes_every_poll() {
        let mut c = TxCoalescer::new();
        for i in 0..100u64 {
            assert_eq!(c.decide(TxCoalesce::OFF, i * US, big(17), 17), PublishDecision::Now);
            assert_eq!(c.decide(cfg(0, 32, true), i * US, big(17), 17), PublishDecision::Now);
        }
        assert_eq!(c.holding_since(), None);
    }

    #[test]
    fn holds_until_the_deadline_of_the_oldest() {
        let mut c = TxCoalescer::new();
        let k = cfg(50, 0, false);
        assert_eq!(c.decide(k, 1000 * US, big(1), 1), PublishDecision::Defer { deadline: 1050 * US, new_hold: true });
        // More answers later: the deadline stays the oldest's.
        assert_eq!(c.decide(k, 1030 * US, big(2), 3), PublishDecision::Defer { deadline: 1050 * US, new_hold: false });
        // The timer's poll, nothing consumed, at the deadline.
        assert_eq!(c.decide(k, 1050 * US, big(0), 3), PublishDecision::Now);
        // A fresh hold starts from the next answer.
        assert_eq!(c.decide(k, 1060 * US, big(1), 1), PublishDecision::Defer { deadline: 1110 * US, new_hold: true });
        // Nothing unpublished: nothing to hold.
        let mut c = TxCoalescer::new();
        assert_eq!(c.decide(k, 0, big(0), 0), PublishDecision::Now);
    }

    #[test]
    fn frames_and_half_ring_end_a_hold() {
        let mut c = TxCoalescer::new();
        let k = cfg(1000, 32, false);
        assert!(matches!(c.decide(k, 0, big(31), 31), PublishDecision::Defer { .. }));
        assert_eq!(c.decide(k, 10 * US, big(1), 32), PublishDecision::Now);
        // tx-frames 0 or above half the ring: half the ring ends it.
        for frames in [0, 200, 256] {
            let k = cfg(1000, frames, false);
            let mut c = TxCoalescer::new();
            assert!(matches!(c.decide(k, 0, big(127), 127), PublishDecision::Defer { .. }));
            assert_eq!(c.decide(k, US, big(1), HOLD_MAX_ANSWERS), PublishDecision::Now);
        }
    }

    #[test]
    fn adaptive_answers_sparse_traffic_at_once() {
        let k = cfg(100, 0, true);
        let mut c = TxCoalescer::new();
        // Request/response: one request every 1.5 ms.
        for i in 0..200u64 {
            assert_eq!(c.decide(k, i * 1500 * US, big(1), 1), PublishDecision::Now, "transaction {i}");
        }
        assert!(!c.rate().busy());
        // A stream: 17 slots every 500 us becomes busy within a few dozen polls, then holds.
        let t0 = 300_000 * US;
        let mut held = 0;
        for i in 0..100u64 {
            if matches!(c.decide(k, t0 + i * 500 * US, big(17), 17), PublishDecision::Defer { .. }) {
                held += 1;
            }
            // Whatever was held is due by the next poll (100 us < 500 us).
            assert_eq!(c.decide(k, t0 + i * 500 * US + 100 * US, big(0), 17), PublishDecision::Now);
        }
        assert!(c.rate().busy());
        assert!(held >= 80, "held {held}");
        // One pause of 5 ms makes it sparse again at once.
        let t1 = t0 + 100 * 500 * US + 5000 * US;
        assert_eq!(c.decide(k, t1, big(1), 1), PublishDecision::Now);
        assert!(!c.rate().busy());
    }

    #[test]
    fn adaptive_answers_small_packets_at_once() {
        let k = cfg(200, 0, true);
        let mut c = TxCoalescer::new();
        // 64-byte datagrams as fast as the ring takes them: busy, never held.
        for i in 0..200u64 {
            assert_eq!(c.decide(k, i * 100 * US, small(17), 17), PublishDecision::Now, "poll {i}");
        }
        assert!(c.rate().busy() && !c.rate().bulk());
        assert!(c.rate().bytes_per_packet() < 200);
        // The same rate of 64 KiB packets is held within a few polls.
        let t0 = 200 * 100 * US;
        let first = (0..20u64).find(|i| c.decide(k, t0 + i * 100 * US, big(17), 17) != PublishDecision::Now);
        assert!(matches!(first, Some(i) if i <= 12), "first hold at {first:?}");
        assert!(c.rate().bulk());
        // Small again: answered in the poll within a few polls, and for good.
        let t1 = t0 + 20 * 100 * US;
        let last = (0..100u64).filter(|i| c.decide(k, t1 + i * 100 * US, small(17), 17) != PublishDecision::Now).last();
        assert!(last.is_none_or(|i| i <= 12), "last hold at {last:?}");
        // Polls with requests but no accepted packet (drops) leave the size as it is.
        let size = c.rate().bytes_per_packet();
        c.decide(k, t1 + 100 * 100 * US, PollTraffic { requests: 5, packets: 0, bytes: 0 }, 5);
        assert_eq!(c.rate().bytes_per_packet(), size);
        // Without adaptive-tx the size does not matter.
        let mut c = TxCoalescer::new();
        assert!(matches!(c.decide(cfg(200, 0, false), 0, small(1), 1), PublishDecision::Defer { .. }));
    }

    #[test]
    fn rate_estimate_converges() {
        let mut r = TxRateEstimate::new();
        assert!(!r.busy());
        for i in 1..=40u64 {
            r.update(i * 40 * US, big(1));
        }
        assert!(r.busy());
        assert!(r.ns_per_request() < 50 * US);
        // Polls that consumed nothing change nothing.
        let before = r;
        r.update(10_000 * US, big(0));
        assert_eq!(r, before);
        // Time going backwards (cannot happen) counts as no gap.
        r.update(0, big(4));
        assert!(r.busy());
    }

    /// A queue as the shell runs it: polls at random times (guest kicks),
    /// each consuming and answering a random number of requests; a timer
    /// armed at each deferral's deadline polls again; the settings change
    /// at random moments.
    #[test]
    fn no_answer_waits_past_its_bound() {
        for seed in 0..300u64 {
            let mut rng = Lcg(seed);
            let mut k = TxCoalesce::OFF;
            let mut c = TxCoalescer::new();
            let mut now = 1_000_000u64;
            let mut unpublished = 0u32;
            let mut oldest: Option<u64> = None; // when the oldest unpublished answer was written
            let mut timer: Option<u64> = None;
            let mut small_packets = false;
            for _ in 0..3000 {
                if rng.next().is_multiple_of(100) {
                    small_packets = !small_packets;
                }
                if rng.next().is_multiple_of(50) {
                    k = cfg(
                        (rng.next() % 4) as u32 * 100,
                        [0, 1, 32, 256][(rng.next() % 4) as usize],
                        rng.next().is_multiple_of(2),
                    );
                }
                // The next event: a guest kick after a random gap, or the timer.
                let gap = match rng.next() % 3 {
                    0 => rng.next() % (20 * US),
                    1 => rng.next() % (300 * US),
                    _ => rng.next() % (3000 * US),
                };
                let kick = now + gap;
                let (at, consumed) = match timer {
                    Some(t) if t <= kick => (t, 0),
                    _ => (kick, 1 + (rng.next() % 40) as u32),
                };
                // The guest never has more than the ring in flight.
                let consumed = consumed.min(MAX_FRAMES - unpublished);
                now = at.max(now);
                if timer.is_some_and(|t| t <= now) {
                    timer = None;
                }
                if consumed > 0 {
                    oldest.get_or_insert(now);
                }
                unpublished += consumed;
                let holding = c.holding_since().is_some();
                let traffic = if small_packets { small(consumed) } else { big(consumed) };
                match c.decide(k, now, traffic, unpublished) {
                    PublishDecision::Now => {
                        unpublished = 0;
                        oldest = None;
                    }
                    PublishDecision::Defer { deadline, new_hold } => {
                        assert!(k.holds(), "seed {seed}: held with tx-usecs 0");
                        assert!(unpublished > 0 && unpublished < HOLD_MAX_ANSWERS, "seed {seed}: held {unpublished}");
                        assert!(k.frames() == 0 || unpublished < k.frames(), "seed {seed}: past tx-frames");
                        let first = oldest.unwrap();
                        assert!(deadline > now, "seed {seed}: deferred past the deadline");
                        assert!(deadline <= first + u64::from(MAX_USECS) * US, "seed {seed}: hold beyond the bound");
                        assert_eq!(new_hold, !holding, "seed {seed}: new_hold wrong");
                        assert_eq!(c.holding_since(), Some(first), "seed {seed}: hold start");
                        // The shell's timer: the earlier of any armed one and the deadline.
                        timer = Some(timer.map_or(deadline, |t| t.min(deadline)));
                    }
                }
                // Whatever is held has a timer to end it.
                assert!(unpublished == 0 || timer.is_some(), "seed {seed}: held without a wake-up");
            }
        }
    }
}

//! Zero-copy guest TX policy: whether the data of a guest TX packet past its
//! linear head is grant-mapped (zero-copy) or grant-copied.
//!
//! Mapping a slot costs a map and an unmap hypercall op and a TLB flush per
//! unmap batch, whatever its size; copying costs per byte. So small packets
//! are cheaper to copy: `auto` maps a packet only when the bytes it would
//! map reach a threshold (`tx_zerocopy_threshold`). A slot naming a staged
//! grant (a page the backend keeps mapped) is not mapped but lent: no
//! hypercall either way. `staged` lends those and maps nothing, so stock
//! frontends' packets are copied, and lends only while the stack forwards
//! what it is lent ([`LendAdvisor`]). The mode and threshold are read when
//! a frontend connects, like xen-netback's parameters.

use super::tx::{TxPacket, TxSlot};

/// The `tx_zerocopy` setting (module parameter, or a VIF's sysfs override).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxZeroCopyMode {
    /// Always grant-copy.
    Off,
    /// Map every packet's data past its head.
    On,
    /// Map packets whose data past the head reaches the threshold.
    Auto,
    /// Lend a packet's data past the head when every slot of it names a
    /// staged grant and lending pays ([`LendAdvisor`]); copy all other
    /// packets (nothing is mapped).
    Staged,
}

impl TxZeroCopyMode {
    /// Every mode, in the order of the C parameter's value names (its index
    /// is the parameter's value).
    pub const ALL: [TxZeroCopyMode; 4] =
        [TxZeroCopyMode::Off, TxZeroCopyMode::On, TxZeroCopyMode::Auto, TxZeroCopyMode::Staged];

    /// The mode of the C parameter's index; `Off` for an unknown one.
    pub fn from_index(index: u32) -> Self {
        usize::try_from(index).ok().and_then(|i| Self::ALL.get(i).copied()).unwrap_or(TxZeroCopyMode::Off)
    }

    /// The C parameter's value of this mode (its index in [`Self::ALL`]).
    pub const fn index(self) -> u32 {
        match self {
            TxZeroCopyMode::Off => 0,
            TxZeroCopyMode::On => 1,
            TxZeroCopyMode::Auto => 2,
            TxZeroCopyMode::Staged => 3,
        }
    }

    /// The name a user writes and reads.
    pub const fn name(self) -> &'static str {
        match self {
            TxZeroCopyMode::Off => "off",
            TxZeroCopyMode::On => "on",
            TxZeroCopyMode::Auto => "auto",
            TxZeroCopyMode::Staged => "staged",
        }
    }

    /// Parses a sysfs write: a mode name, optionally newline-terminated.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value = value.strip_suffix(b"\n").unwrap_or(value);
        Self::ALL.iter().copied().find(|m| m.name().as_bytes() == value)
    }

    /// The policy of a connection made with this mode; `None` when off (the
    /// queue then needs no pending-slot pool).
    pub const fn policy(self, threshold: u32) -> Option<TxZeroCopyPolicy> {
        match self {
            TxZeroCopyMode::Off => None,
            TxZeroCopyMode::On => Some(TxZeroCopyPolicy { min_mapped_bytes: 1, staged_only: false }),
            TxZeroCopyMode::Auto => Some(TxZeroCopyPolicy {
                min_mapped_bytes: if threshold == 0 { 1 } else { threshold },
                staged_only: false,
            }),
            TxZeroCopyMode::Staged => Some(TxZeroCopyPolicy { min_mapped_bytes: 1, staged_only: true }),
        }
    }
}

/// A connection's zero-copy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxZeroCopyPolicy {
    /// Map a packet when at least this many bytes lie past its head (>= 1).
    min_mapped_bytes: u32,
    /// Only staged grants' pages go to the stack (lent); nothing is mapped.
    staged_only: bool,
}

impl TxZeroCopyPolicy {
    /// The bytes a packet needs past its head to be mapped.
    pub const fn min_mapped_bytes(&self) -> u32 {
        self.min_mapped_bytes
    }

    /// Whether the queue maps guest pages (and so needs pages to map them
    /// into), or only lends staged ones.
    pub const fn maps_grants(&self) -> bool {
        !self.staged_only
    }

    /// How `pkt` reaches dom0 under this policy, given the most frags an
    /// skb takes from mapped slots and which grants are staged now (asked
    /// only under the `staged` mode, once per packet).
    pub fn plan(
        &self,
        pkt: &TxPacket,
        max_frags: usize,
        all_staged: impl FnOnce(&mut dyn Iterator<Item = u32>) -> bool,
    ) -> TxZeroCopyPlan {
        let total = u32::from(pkt.total_size);
        let linear = u32::from(pkt.linear_len).min(total);
        if total - linear < self.min_mapped_bytes {
            return TxZeroCopyPlan::Copy;
        }
        let frags = mapped_frags(pkt);
        if frags > max_frags {
            TxZeroCopyPlan::TooManyFrags
        } else if self.staged_only && !all_staged(&mut slots_past_head(pkt).map(|s| s.gref)) {
            TxZeroCopyPlan::Copy
        } else {
            TxZeroCopyPlan::Map { frags }
        }
    }
}

/// Verdicts (completed lent packets) behind one [`LendAdvisor`] decision.
pub const LEND_WINDOW: u32 = 32;
/// While copying, one packet that could be lent in this many is lent, so
/// that verdicts keep coming.
pub const LEND_PROBE_EVERY: u32 = 32;

/// `tx_zerocopy=staged`: whether lending a queue's staged pages pays now.
///
/// A lent page costs nothing when the packet is forwarded (another guest's
/// RX copies straight from it), but a packet for a dom0 socket has its lent
/// frags copied by the stack (`skb_copy_ubufs`) on top of the completion
/// and the later answer, which costs more than the memcpy it saved. The
/// stack's verdict on each completed packet says which happened: while at
/// least half of the last [`LEND_WINDOW`] were forwarded the queue lends,
/// else it copies and lends one packet in [`LEND_PROBE_EVERY`] to notice
/// when the traffic changes. A new queue lends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LendAdvisor {
    lend: bool,
    forwarded: u32,
    copied: u32,
    since_probe: u32,
}

impl Default for LendAdvisor {
    fn default() -> Self {
        Self::new()
    }
}

impl LendAdvisor {
    /// A new queue's: lending.
    pub const fn new() -> Self {
        Self { lend: true, forwarded: 0, copied: 0, since_probe: 0 }
    }

    /// Whether the queue lends now (rather than probing).
    pub const fn lending(&self) -> bool {
        self.lend
    }

    /// Whether to lend the next packet that could be lent.
    pub fn should_lend(&mut self) -> bool {
        if self.lend {
            return true;
        }
        self.since_probe += 1;
        if self.since_probe >= LEND_PROBE_EVERY {
            self.since_probe = 0;
            return true;
        }
        false
    }

    /// The packet [`Self::should_lend`] allowed could not be lent after all
    /// (a slot not staged): if it was a probe, the next packet probes, so
    /// that one packet that can be lent in [`LEND_PROBE_EVERY`] is.
    pub fn not_lent(&mut self) {
        if !self.lend {
            self.since_probe = LEND_PROBE_EVERY - 1;
        }
    }

    /// The stack's verdicts on completed lent packets: `forwarded` left
    /// their pages alone, `copied` had them copied (`zerocopy_success`
    /// false).
    pub fn record(&mut self, forwarded: u64, copied: u64) {
        let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.forwarded = self.forwarded.saturating_add(clamp(forwarded));
        self.copied = self.copied.saturating_add(clamp(copied));
        if self.forwarded.saturating_add(self.copied) >= LEND_WINDOW {
            self.lend = self.forwarded >= self.copied;
            self.forwarded = 0;
            self.copied = 0;
            self.since_probe = 0;
        }
    }
}

/// What [`TxZeroCopyPolicy::plan`] decided for one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxZeroCopyPlan {
    /// Copy it all (small, or nothing past the head).
    Copy,
    /// Copy the head, map the rest: one frag (and pending slot) per slot
    /// with data past the head.
    Map {
        /// Slots with data past the head.
        frags: usize,
    },
    /// More slots past the head than an skb has frags: copied
    /// (`tx_frag_overflow`).
    TooManyFrags,
}

/// Slots of `pkt` holding data past its linear head: each becomes one
/// mapped frag.
pub fn mapped_frags(pkt: &TxPacket) -> usize {
    slots_past_head(pkt).count()
}

/// The slots of `pkt` with data past its linear head.
fn slots_past_head(pkt: &TxPacket) -> impl Iterator<Item = &TxSlot> {
    let linear = u32::from(pkt.linear_len);
    pkt.slots()
        .iter()
        .scan(0u32, move |pos, s| {
            *pos += u32::from(s.size);
            Some((*pos > linear && s.size > 0).then_some(s))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::super::ring::{BackRing, MemRing};
    use super::super::tx::{TxAssembler, TxConfig, TxPoll, TxVerdict, Unlimited};
    use super::super::wire::{TxRequest, TxResponse, NETTXF_MORE_DATA};
    use super::*;

    /// Assembles one packet of `sizes` (first = total size) into a TxPacket.
    fn packet(sizes: &[u16]) -> TxPacket {
        let mut ring = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
        let total: u16 = sizes.iter().sum();
        for (i, &s) in sizes.iter().enumerate() {
            let flags = if i + 1 < sizes.len() { NETTXF_MORE_DATA } else { 0 };
            let size = if i == 0 { total } else { s };
            ring.ring_mut().push_request(TxRequest { gref: i as u32, offset: 0, flags, id: i as u16, size });
        }
        let mut asm = TxAssembler::new(TxConfig::default());
        match asm.poll(&mut ring, &mut Unlimited) {
            TxPoll::Verdict(TxVerdict::Accept) => *asm.packet(),
            _ => panic!("packet not accepted"),
        }
    }

    #[test]
    fn names_round_trip() {
        for (i, m) in TxZeroCopyMode::ALL.iter().enumerate() {
            assert_eq!(TxZeroCopyMode::from_index(i as u32), *m);
            assert_eq!(m.index(), i as u32);
            assert_eq!(TxZeroCopyMode::parse(m.name().as_bytes()), Some(*m));
        }
        assert_eq!(TxZeroCopyMode::parse(b"auto\n"), Some(TxZeroCopyMode::Auto));
        assert_eq!(TxZeroCopyMode::parse(b"Auto"), None);
        assert_eq!(TxZeroCopyMode::parse(b""), None);
        assert_eq!(TxZeroCopyMode::from_index(7), TxZeroCopyMode::Off);
    }

    #[test]
    fn off_has_no_policy() {
        assert_eq!(TxZeroCopyMode::Off.policy(4096), None);
        assert_eq!(TxZeroCopyMode::On.policy(4096).unwrap().min_mapped_bytes(), 1);
        assert_eq!(TxZeroCopyMode::Auto.policy(0).unwrap().min_mapped_bytes(), 1);
    }

    #[test]
    fn small_packets_copied_large_mapped() {
        // 60 bytes: all linear, nothing to map even when on.
        let small = packet(&[60]);
        assert_eq!(TxZeroCopyMode::On.policy(0).unwrap().plan(&small, 17, |_| unreachable!()), TxZeroCopyPlan::Copy);
        // 1000 bytes in one slot: 872 past the head.
        let mid = packet(&[1000]);
        assert_eq!(mapped_frags(&mid), 1);
        assert_eq!(
            TxZeroCopyMode::On.policy(0).unwrap().plan(&mid, 17, |_| unreachable!()),
            TxZeroCopyPlan::Map { frags: 1 }
        );
        let auto = TxZeroCopyMode::Auto.policy(872).unwrap();
        assert_eq!(auto.plan(&mid, 17, |_| unreachable!()), TxZeroCopyPlan::Map { frags: 1 });
        let auto = TxZeroCopyMode::Auto.policy(873).unwrap();
        assert_eq!(auto.plan(&mid, 17, |_| unreachable!()), TxZeroCopyPlan::Copy);
    }

    #[test]
    fn every_mode_copies_a_packet_all_in_its_head() {
        // A datagram, an ACK, a request: nothing past the head, so no mode
        // maps it or asks about staged grants for it.
        for mode in TxZeroCopyMode::ALL {
            for threshold in [0, 1, 128, 4096] {
                let Some(policy) = mode.policy(threshold) else { continue };
                for size in [60, 64, 127, 128] {
                    let p = packet(&[size]);
                    assert_eq!(p.linear_len, p.total_size);
                    assert_eq!(policy.plan(&p, 17, |_| unreachable!()), TxZeroCopyPlan::Copy, "{mode:?} {size}");
                }
            }
        }
    }

    #[test]
    fn head_split_over_slots_counts_only_slots_past_it() {
        // 100 + 100 + 2000: the head (128) takes slot 0 and 28 bytes of
        // slot 1; slots 1 and 2 have data past it.
        let p = packet(&[100, 100, 2000]);
        assert_eq!(mapped_frags(&p), 2);
        // 128 + 1000: slot 0 is exactly the head.
        let p = packet(&[128, 1000]);
        assert_eq!(mapped_frags(&p), 1);
    }

    #[test]
    fn staged_lends_only_all_staged_packets() {
        let staged = TxZeroCopyMode::Staged.policy(4096).unwrap();
        assert!(!staged.maps_grants());
        assert!(TxZeroCopyMode::On.policy(0).unwrap().maps_grants());
        // 100 + 100 + 2000 (grefs 0, 1, 2): slots 1 and 2 hold data past
        // the head, and only they are asked about.
        let p = packet(&[100, 100, 2000]);
        let asked = |want: &'static [u32]| {
            move |grefs: &mut dyn Iterator<Item = u32>| {
                let seen: std::vec::Vec<u32> = grefs.collect();
                assert_eq!(seen, [1, 2]);
                seen.iter().all(|g| want.contains(g))
            }
        };
        assert_eq!(staged.plan(&p, 17, asked(&[1, 2])), TxZeroCopyPlan::Map { frags: 2 });
        assert_eq!(staged.plan(&p, 17, asked(&[2])), TxZeroCopyPlan::Copy);
        // Nothing past the head: copied without asking; too many frags is
        // told before asking too.
        assert_eq!(staged.plan(&packet(&[100]), 17, |_| unreachable!()), TxZeroCopyPlan::Copy);
        assert_eq!(staged.plan(&p, 1, |_| unreachable!()), TxZeroCopyPlan::TooManyFrags);
    }

    #[test]
    fn lend_advisor_follows_the_verdicts() {
        let mut a = LendAdvisor::new();
        assert!(a.lending() && a.should_lend());
        // Fewer verdicts than a window: no decision yet.
        a.record(0, u64::from(LEND_WINDOW) - 1);
        assert!(a.lending());
        // A window mostly copied: copy, lending one packet in LEND_PROBE_EVERY.
        a.record(0, 1);
        assert!(!a.lending());
        let lent = (0..10 * LEND_PROBE_EVERY).filter(|_| a.should_lend()).count();
        assert_eq!(lent, 10);
        // A probe that could not be lent: the next packet probes instead.
        while !a.should_lend() {}
        a.not_lent();
        assert!(a.should_lend());
        assert!(!a.should_lend());
        // The probes come back forwarded: lend again.
        a.record(u64::from(LEND_WINDOW) / 2, u64::from(LEND_WINDOW) / 2);
        assert!(a.lending() && a.should_lend());
        // Huge counts neither overflow nor stick.
        a.record(u64::MAX, 0);
        assert!(a.lending());
        a.record(0, u64::MAX);
        assert!(!a.lending());
    }

    #[test]
    fn too_many_frags_copied() {
        let p = packet(&[1000, 1000, 1000, 1000]);
        assert_eq!(TxZeroCopyMode::On.policy(0).unwrap().plan(&p, 3, |_| unreachable!()), TxZeroCopyPlan::TooManyFrags);
        assert_eq!(
            TxZeroCopyMode::On.policy(0).unwrap().plan(&p, 4, |_| unreachable!()),
            TxZeroCopyPlan::Map { frags: 4 }
        );
    }
}

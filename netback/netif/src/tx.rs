//! Guest TX (guest -> backend): assembling and validating packets from the
//! TX request ring.
//!
//! [`TxAssembler::poll`] reads requests through a [`BackRing`] (each slot
//! copied exactly once) and returns a typed verdict, reproducing every check of
//! the C driver's `xenvif_tx_build_gops`, `xenvif_get_extras`,
//! `xenvif_count_requests` and `xenvif_set_skb_gso`:
//!
//! | condition | C result | here |
//! |---|---|---|
//! | `req_prod - req_cons > ring size` | fatal | [`TxFatal::Ring`] |
//! | extra type 0 or `>= XEN_NETIF_EXTRA_TYPE_MAX` | fatal | [`TxFatal::InvalidExtraType`] |
//! | more continuation slots than `fatal_skb_slots` | fatal | [`TxFatal::TooManySlots`] |
//! | slot `offset + size > 4096` (any slot) | fatal | [`TxFatal::CrossesPage`] |
//! | GSO extra with size 0 / unknown GSO type | fatal | [`TxFatal::GsoSizeZero`] / [`TxFatal::GsoBadType`] |
//! | more than 18 continuation slots (up to `fatal_skb_slots`) | drop | [`DropReason::TooManySlots`] |
//! | a continuation slot larger than what remains of the first slot's size (frames >= 64 KiB) | drop | [`DropReason::SlotExceedsRemaining`] |
//! | first slot's own data shorter than an Ethernet header | drop | [`DropReason::PacketTooSmall`] |
//! | packet not fully posted yet | fatal ("Asked for N slots") | [`TxPoll::Incomplete`]: state is kept, resume on the next event |
//! | packet needs more slots than the ring has (endless extra chain) | fatal ("Missing extra info") | [`TxFatal::PacketExceedsRing`] |
//!
//! The one deliberate difference: a packet whose slots are not all published
//! yet is not fatal here. The assembler keeps the slots it already consumed and
//! resumes; a packet that can never complete is still fatal. Multicast control
//! (MCAST_ADD/DEL extras) yields [`TxVerdict::Multicast`] and, exactly as in C,
//! does not consume continuation slots of that request.
//!
//! XSA-448: zero-length continuation slots are never frags; [`TxPacket::frag_plan`]
//! marks them [`TxSlotUse::RespondNow`] so a packet of all-empty fragments
//! becomes a linear packet, never a bogus skb.
//!
//! XSA-423: the linear area is the first `min(total, 128)` bytes of the
//! packet, copied across as many slots as they span
//! ([`TxPacket::linear_plan`]), so protocol headers a frontend puts in a
//! second slot (a 14-byte first slot, IP/TCP after it) still end up in the
//! linear area, as in the fixed C driver (`xenvif_get_requests`).

use super::ring::{BackRing, RingError, SharedRing};
use super::wire::{
    ExtraInfo, ExtraInfoRaw, GsoType, TxRequest, TxResponse, ETH_HLEN, NETIF_RSP_ERROR, NETIF_RSP_NULL,
    NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
    XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT,
    XEN_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_NR_SLOTS_MIN, XEN_PAGE_SIZE,
};

/// Continuation slots above which a packet is dropped (the historical
/// MAX_SKB_FRAGS, `XEN_NETBK_LEGACY_SLOTS_MAX`).
pub const XEN_NETBK_LEGACY_SLOTS_MAX: u32 = XEN_NETIF_NR_SLOTS_MIN;
/// Default of the `fatal_skb_slots` module parameter.
pub const FATAL_SKB_SLOTS_DEFAULT: u32 = 20;
/// Largest `fatal_skb_slots` honoured (larger values are clamped): bounds the
/// id list a dropped packet carries without allocation.
pub const FATAL_SKB_SLOTS_MAX: u32 = 64;
/// Bytes at the start of a packet (across slots) grant-copied into the
/// skb's linear area (`XEN_NETBACK_TX_COPY_LEN`).
pub const XEN_NETBACK_TX_COPY_LEN: u16 = 128;
/// Largest number of slots (first + continuation) of an accepted packet.
pub const TX_MAX_PACKET_SLOTS: usize = 1 + XEN_NETBK_LEGACY_SLOTS_MAX as usize;
/// Largest number of request ids one verdict carries (first + continuation).
pub const TX_MAX_IDS: usize = 1 + FATAL_SKB_SLOTS_MAX as usize;

const NR_EXTRA_TYPES: usize = (XEN_NETIF_EXTRA_TYPE_MAX - 1) as usize;

/// Guest-TX policy parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxConfig {
    fatal_skb_slots: u32,
}

impl TxConfig {
    /// `fatal_skb_slots` clamped to `[XEN_NETBK_LEGACY_SLOTS_MAX, FATAL_SKB_SLOTS_MAX]`
    /// (the C driver raises values below 18 to 18 at module init).
    pub const fn new(fatal_skb_slots: u32) -> Self {
        let v = if fatal_skb_slots < XEN_NETBK_LEGACY_SLOTS_MAX {
            XEN_NETBK_LEGACY_SLOTS_MAX
        } else if fatal_skb_slots > FATAL_SKB_SLOTS_MAX {
            FATAL_SKB_SLOTS_MAX
        } else {
            fatal_skb_slots
        };
        TxConfig { fatal_skb_slots: v }
    }

    /// The effective `fatal_skb_slots`.
    pub const fn fatal_skb_slots(&self) -> u32 {
        self.fatal_skb_slots
    }
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig::new(FATAL_SKB_SLOTS_DEFAULT)
    }
}

/// One data slot of a packet: where its bytes are in the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxSlot {
    /// Grant reference of the guest page.
    pub gref: u32,
    /// Offset in the page (`offset + size <= 4096` is guaranteed).
    pub offset: u16,
    /// Bytes in this slot.
    pub size: u16,
    /// Request id, for the response.
    pub id: u16,
}

/// Validated GSO parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxGso {
    /// Segment size, non-zero.
    pub size: u16,
    /// TCPv4 or TCPv6.
    pub kind: GsoType,
}

/// Which headers a frontend-supplied hash covers (`PKT_HASH_TYPE_L3/L4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashLevel {
    /// Addresses only.
    L3,
    /// Addresses and ports.
    L4,
}

/// A hash supplied by the frontend in a HASH extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxHash {
    /// Hash value for `skb_set_hash`.
    pub value: u32,
    /// Hash level.
    pub level: HashLevel,
}

/// Multicast filter operation requested through an extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McastOp {
    /// MCAST_ADD.
    Add,
    /// MCAST_DEL.
    Del,
}

/// The responses owed for a set of consumed slots: first slot, one
/// `NETIF_RSP_NULL` per extra-info slot, then each continuation slot.
///
/// Holds up to `N` slot ids: any verdict's (the default) or, smaller and
/// cheaper to build and move, an accepted packet's
/// ([`TX_MAX_PACKET_SLOTS`], [`TxPacket::response_plan`]) or a single slot's.
/// Ids past `N` are not kept (none are ever added: every verdict's slots fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxResponsePlan<const N: usize = TX_MAX_IDS> {
    ids: [u16; N],
    nr_ids: u8,
    extra_count: u32,
}

impl<const N: usize> TxResponsePlan<N> {
    /// No responses.
    pub fn empty() -> Self {
        TxResponsePlan { ids: [0; N], nr_ids: 0, extra_count: 0 }
    }

    /// Adds the response of slot `id`, followed by `extra_count` NULLs when
    /// it is a packet's first slot (zero-copy answers the slots that were
    /// copied at once and the mapped ones on completion).
    pub fn add(&mut self, id: u16, extra_count: u32) {
        self.extra_count = self.extra_count.saturating_add(extra_count);
        self.push(id);
    }

    /// The responses of one pending slot released on its own (zero-copy
    /// completion, `xenvif_idx_release`): its `id`, plus `extra_count` NULLs
    /// if it is a packet's first slot.
    pub fn single(id: u16, extra_count: u32) -> Self {
        let mut plan = Self::empty();
        plan.extra_count = extra_count;
        plan.push(id);
        plan
    }

    fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.nr_ids)) {
            *slot = id;
            self.nr_ids = self.nr_ids.saturating_add(1);
        }
    }

    /// Request ids (first slot first).
    pub fn ids(&self) -> &[u16] {
        self.ids.get(..usize::from(self.nr_ids)).unwrap_or(&[])
    }

    /// Extra-info slots that get a `NETIF_RSP_NULL` after the first response.
    pub fn extra_count(&self) -> u32 {
        self.extra_count
    }

    /// Total ring slots answered (= ring slots consumed).
    pub fn slots(&self) -> u32 {
        u32::from(self.nr_ids).saturating_add(self.extra_count)
    }

    /// The responses in ring order, every data slot with `status`.
    pub fn responses(&self, status: i16) -> TxResponses<'_> {
        TxResponses { ids: self.ids(), extra_count: self.extra_count, status, pos: 0 }
    }
}

/// Iterator over the responses of a [`TxResponsePlan`], in the order the C
/// driver writes them (`_make_tx_response` / `xenvif_tx_err`).
#[derive(Clone, Debug)]
pub struct TxResponses<'a> {
    ids: &'a [u16],
    extra_count: u32,
    status: i16,
    pos: u32,
}

impl TxResponses<'_> {
    /// Writes the responses to `ring` (published by the caller).
    pub fn push_to<R>(self, ring: &mut BackRing<R>) -> Result<(), RingError>
    where
        R: SharedRing<Request = TxRequest, Response = TxResponse>,
    {
        for rsp in self {
            ring.push_response(rsp)?;
        }
        Ok(())
    }
}

impl Iterator for TxResponses<'_> {
    type Item = TxResponse;

    fn next(&mut self) -> Option<TxResponse> {
        let p = self.pos;
        let extras = self.extra_count;
        let rsp = if p == 0 {
            TxResponse { id: *self.ids.first()?, status: self.status }
        } else if p <= extras {
            // The C driver only writes `status` of an extra's response; the
            // id is not meaningful to any frontend, we write 0.
            TxResponse { id: 0, status: NETIF_RSP_NULL }
        } else {
            let i = usize::try_from(p - extras).ok()?;
            TxResponse { id: *self.ids.get(i)?, status: self.status }
        };
        self.pos = p.wrapping_add(1);
        Some(rsp)
    }
}

/// An accepted, validated packet, read in place through
/// [`TxAssembler::packet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPacket {
    slots: [TxSlot; TX_MAX_PACKET_SLOTS],
    nr_slots: u8,
    /// Size field of the first request: the whole packet's length.
    pub total_size: u16,
    /// Extra-info slots consumed with the first slot (each owes a NULL response).
    pub extra_count: u32,
    /// `NETTXF_csum_blank`: checksum to be completed (CHECKSUM_PARTIAL).
    pub csum_blank: bool,
    /// `NETTXF_data_validated`.
    pub data_validated: bool,
    /// GSO parameters, if a GSO extra was given.
    pub gso: Option<TxGso>,
    /// Frontend-supplied hash with a known type, if any.
    pub hash: Option<TxHash>,
    /// Bytes at the start of the packet to grant-copy into the linear area
    /// (`data_len`): `min(total_size, XEN_NETBACK_TX_COPY_LEN)`, spanning
    /// as many slots as needed ([`TxPacket::linear_plan`]); the whole first
    /// slot when it is longer and the packet has 17 or more continuation
    /// slots (as in C, to keep the frag count within MAX_SKB_FRAGS).
    pub linear_len: u16,
}

impl TxPacket {
    /// All data slots; `slots()[0]` is the first slot with its own size
    /// (total minus the continuation slots).
    pub fn slots(&self) -> &[TxSlot] {
        self.slots.get(..usize::from(self.nr_slots)).unwrap_or(&[])
    }

    /// The first slot.
    pub fn first(&self) -> TxSlot {
        self.slots[0]
    }

    /// Continuation slots.
    pub fn continuation(&self) -> &[TxSlot] {
        self.slots().get(1..).unwrap_or(&[])
    }

    /// Ring slots this packet consumed (data + extras).
    pub fn ring_slots(&self) -> u32 {
        u32::from(self.nr_slots).saturating_add(self.extra_count)
    }

    /// Responses for every slot of the packet with one status (e.g. when the
    /// whole packet fails before any slot was handed to the stack).
    pub fn response_plan(&self) -> TxResponsePlan<TX_MAX_PACKET_SLOTS> {
        let mut plan = TxResponsePlan::empty();
        plan.extra_count = self.extra_count;
        for s in self.slots() {
            plan.push(s.id);
        }
        plan
    }

    /// The pieces of the linear area in packet order: the first
    /// `linear_len` bytes of the slots (skipping empty ones), each piece a
    /// whole slot or the head of the slot where the linear area ends.
    /// Their sizes add up to `linear_len`.
    pub fn linear_plan(&self) -> LinearPlan<'_> {
        LinearPlan { packet: self, pos: 0, left: self.linear_len }
    }

    /// How each slot past the linear copy is used: the rest of the slot
    /// where the linear area ends (at the offset just past it) and every
    /// later slot become mapped frags, except zero-length slots, which are
    /// answered at once with `NETIF_RSP_OKAY` (the XSA-448 fix). Slots the
    /// linear area covers wholly do not appear (they are copied). Together
    /// with [`TxPacket::linear_plan`] this covers every byte exactly once,
    /// in order.
    pub fn frag_plan(&self) -> FragPlan<'_> {
        FragPlan { packet: self, pos: 0, linear_left: self.linear_len }
    }
}

/// Iterator returned by [`TxPacket::linear_plan`].
#[derive(Clone, Debug)]
pub struct LinearPlan<'a> {
    packet: &'a TxPacket,
    pos: usize,
    left: u16,
}

impl Iterator for LinearPlan<'_> {
    type Item = TxSlot;

    fn next(&mut self) -> Option<TxSlot> {
        while self.left > 0 {
            let slot = *self.packet.slots().get(self.pos)?;
            self.pos = self.pos.wrapping_add(1);
            let n = self.left.min(slot.size);
            if n == 0 {
                continue;
            }
            self.left -= n;
            return Some(TxSlot { size: n, ..slot });
        }
        None
    }
}

/// How one slot (or the remainder of the first slot) is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxSlotUse {
    /// Map this (part of a) slot as a frag. `first` is true for the
    /// first slot's remainder: its response carries the NULLs for extras.
    Map {
        /// The region to map.
        slot: TxSlot,
        /// Whether this is the first slot (its response also answers extras).
        first: bool,
    },
    /// An empty slot: send `NETIF_RSP_OKAY` now, it is not a frag.
    RespondNow(TxSlot),
}

/// Iterator returned by [`TxPacket::frag_plan`].
#[derive(Clone, Debug)]
pub struct FragPlan<'a> {
    packet: &'a TxPacket,
    pos: usize,
    linear_left: u16,
}

impl Iterator for FragPlan<'_> {
    type Item = TxSlotUse;

    fn next(&mut self) -> Option<TxSlotUse> {
        loop {
            let pos = self.pos;
            self.pos = pos.wrapping_add(1);
            let slot = *self.packet.slots().get(pos)?;
            // The first slot is never empty (at least ETH_HLEN bytes).
            if slot.size == 0 && pos != 0 {
                return Some(TxSlotUse::RespondNow(slot));
            }
            let linear = self.linear_left.min(slot.size);
            self.linear_left -= linear;
            if linear == slot.size {
                continue;
            }
            let rest =
                TxSlot { offset: slot.offset.wrapping_add(linear), size: slot.size.wrapping_sub(linear), ..slot };
            return Some(TxSlotUse::Map { slot: rest, first: pos == 0 });
        }
    }
}

/// Why a packet was dropped (responses with `NETIF_RSP_ERROR` are still owed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// More than `XEN_NETBK_LEGACY_SLOTS_MAX` continuation slots.
    TooManySlots,
    /// A continuation slot is larger than what remains of the first slot's
    /// size (buggy frontends sending frames >= 64 KiB).
    SlotExceedsRemaining {
        /// The slot's size.
        slot_size: u16,
        /// What remained of the first slot's size.
        remaining: u16,
    },
    /// The first slot's own data is shorter than an Ethernet header.
    PacketTooSmall {
        /// The first slot's own size.
        size: u16,
    },
}

impl DropReason {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            DropReason::TooManySlots => "too many slots (more than XEN_NETBK_LEGACY_SLOTS_MAX), dropping packet",
            DropReason::SlotExceedsRemaining { .. } => "invalid tx request: slot size > remaining size",
            DropReason::PacketTooSmall { .. } => "bad packet size: first slot shorter than an Ethernet header",
        }
    }
}

/// Why the VIF must be disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxFatal {
    /// Ring index violation.
    Ring(RingError),
    /// Extra-info type 0 or unknown.
    InvalidExtraType(u8),
    /// More continuation slots than `fatal_skb_slots`.
    TooManySlots {
        /// Continuation slots seen so far.
        slots: u32,
    },
    /// A slot crosses its page.
    CrossesPage {
        /// Slot offset.
        offset: u16,
        /// Slot size.
        size: u16,
    },
    /// GSO extra with size 0.
    GsoSizeZero,
    /// GSO extra with an unknown type.
    GsoBadType(u8),
    /// The packet needs more slots than the ring holds: it can never
    /// complete (an endless extra-info chain, "Missing extra info" in C).
    PacketExceedsRing,
}

impl TxFatal {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            TxFatal::Ring(e) => e.description(),
            TxFatal::InvalidExtraType(_) => "invalid extra type",
            TxFatal::TooManySlots { .. } => "malicious frontend using more than fatal_skb_slots slots",
            TxFatal::CrossesPage { .. } => "tx request crosses a page boundary",
            TxFatal::GsoSizeZero => "GSO size must not be zero",
            TxFatal::GsoBadType(_) => "bad GSO type",
            TxFatal::PacketExceedsRing => "packet needs more slots than the ring holds (missing extra info)",
        }
    }
}

/// A dropped packet: every consumed slot still gets an error response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxDrop {
    /// Why.
    pub reason: DropReason,
    /// The responses owed (send them with `NETIF_RSP_ERROR`).
    pub responses: TxResponsePlan,
}

impl TxDrop {
    /// Ring slots consumed by the dropped packet.
    pub fn slots_consumed(&self) -> u32 {
        self.responses.slots()
    }
}

/// A multicast filter request (no packet). Answer with
/// `responses.responses(status)`: `NETIF_RSP_OKAY`, or `NETIF_RSP_ERROR` if an
/// add failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMulticast {
    /// Add or delete.
    pub op: McastOp,
    /// The MAC address.
    pub addr: [u8; 6],
    /// The responses owed.
    pub responses: TxResponsePlan,
}

/// Outcome of assembling one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxVerdict {
    /// A valid packet to build and submit: [`TxAssembler::packet`] until
    /// the next poll. It stays in the assembler, built where its slots were
    /// fetched, so accepting a packet moves none of its ~260 bytes.
    Accept,
    /// A multicast control request.
    Multicast(TxMulticast),
    /// Drop, answering every consumed slot with `NETIF_RSP_ERROR`.
    Drop(TxDrop),
    /// Disable the VIF. The assembler stays in this state.
    Fatal(TxFatal),
}

/// Result of one [`TxAssembler::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxPoll {
    /// A packet (or control request, drop, fatal error).
    Verdict(TxVerdict),
    /// No requests pending and no partial packet.
    Empty,
    /// Part of a packet is consumed and held; wait for the frontend.
    Incomplete,
    /// The credit gate refused the next packet; it is held until the gate
    /// admits it. Poll again when the credit timer fires; until then do not
    /// reschedule on pending requests (C: `if (!queue->rate_limited)
    /// xenvif_napi_schedule_or_enable_events()`), or the poll would spin.
    RateLimited,
}

/// Decides whether a packet of `size` bytes may be sent now (the credit
/// scheduler; see `rate::CreditLimiter`). Called once per packet, before any
/// of its slots past the first are consumed; a refused packet is asked again
/// on the next poll.
pub trait TxCreditGate {
    /// Whether `size` bytes may go now; if so, the credit is charged.
    fn admit(&mut self, size: u32) -> bool;
}

/// A gate that admits everything (no `rate` configured).
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl TxCreditGate for Unlimited {
    fn admit(&mut self, _size: u32) -> bool {
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    AwaitCredit,
    Extras,
    /// The extras are read (passed within one poll): a multicast request,
    /// the packet's verdict, or on to the continuation slots.
    ExtrasDone,
    Slots,
    Failed(TxFatal),
}

/// The resumable guest-TX packet assembler of one queue.
#[derive(Clone, Debug)]
pub struct TxAssembler {
    config: TxConfig,
    stage: Stage,
    first: TxRequest,
    remaining: u16,
    extras: [Option<ExtraInfo>; NR_EXTRA_TYPES],
    extra_count: u32,
    nr_cont: u32,
    /// Every continuation slot's id, for a drop's responses.
    cont_ids: [u16; FATAL_SKB_SLOTS_MAX as usize],
    /// The packet being assembled: each continuation slot is written to its
    /// place as it is fetched (while the packet may still be accepted),
    /// the rest when it is complete; nothing is copied after.
    packet: TxPacket,
    drop: Option<DropReason>,
}

impl TxAssembler {
    /// A new assembler with no partial packet.
    pub fn new(config: TxConfig) -> Self {
        TxAssembler {
            config,
            stage: Stage::Idle,
            first: TxRequest::default(),
            remaining: 0,
            extras: [None; NR_EXTRA_TYPES],
            extra_count: 0,
            nr_cont: 0,
            cont_ids: [0; FATAL_SKB_SLOTS_MAX as usize],
            packet: TxPacket {
                slots: [TxSlot::default(); TX_MAX_PACKET_SLOTS],
                nr_slots: 0,
                total_size: 0,
                extra_count: 0,
                csum_blank: false,
                data_validated: false,
                gso: None,
                hash: None,
                linear_len: 0,
            },
            drop: None,
        }
    }

    /// The packet of the last [`TxVerdict::Accept`], valid until the next
    /// poll (which assembles the next packet in the same place; until that
    /// one is accepted this has no slots).
    pub fn packet(&self) -> &TxPacket {
        &self.packet
    }

    /// The configuration.
    pub fn config(&self) -> TxConfig {
        self.config
    }

    /// Whether part of a packet has been consumed and is held.
    pub fn has_partial(&self) -> bool {
        matches!(self.stage, Stage::AwaitCredit | Stage::Extras | Stage::ExtrasDone | Stage::Slots)
    }

    /// Whether a fatal error was reported.
    pub fn is_failed(&self) -> bool {
        matches!(self.stage, Stage::Failed(_))
    }

    fn consumed(&self) -> u32 {
        1u32.saturating_add(self.extra_count).saturating_add(self.nr_cont)
    }

    fn fail(&mut self, f: TxFatal) -> TxPoll {
        self.stage = Stage::Failed(f);
        TxPoll::Verdict(TxVerdict::Fatal(f))
    }

    fn plan(&self) -> TxResponsePlan {
        let mut plan = TxResponsePlan::empty();
        plan.extra_count = self.extra_count;
        plan.push(self.first.id);
        let n = usize::try_from(self.nr_cont).unwrap_or(usize::MAX);
        for id in self.cont_ids.iter().take(n) {
            plan.push(*id);
        }
        plan
    }

    /// Fetches the next request for the current packet, or says why not:
    /// `Err(Some(fatal))` (already recorded) or `Err(None)` for "wait".
    fn fetch<R>(&mut self, ring: &mut BackRing<R>) -> Result<TxRequest, Option<TxFatal>>
    where
        R: SharedRing<Request = TxRequest, Response = TxResponse>,
    {
        let fatal = match ring.next_request() {
            Ok(Some(r)) => return Ok(r),
            Err(e) => TxFatal::Ring(e),
            Ok(None) if self.consumed() >= ring.size() => TxFatal::PacketExceedsRing,
            Ok(None) => return Err(None),
        };
        self.stage = Stage::Failed(fatal);
        Err(Some(fatal))
    }

    fn stop(e: Option<TxFatal>) -> TxPoll {
        match e {
            Some(f) => TxPoll::Verdict(TxVerdict::Fatal(f)),
            None => TxPoll::Incomplete,
        }
    }

    /// Consumes requests until one packet's verdict is known, the ring runs
    /// dry, or the credit gate refuses. Call in a loop (NAPI budget) until it
    /// returns something other than [`TxPoll::Verdict`].
    pub fn poll<R, G>(&mut self, ring: &mut BackRing<R>, gate: &mut G) -> TxPoll
    where
        R: SharedRing<Request = TxRequest, Response = TxResponse>,
        G: TxCreditGate + ?Sized,
    {
        loop {
            match self.stage {
                Stage::Failed(f) => return TxPoll::Verdict(TxVerdict::Fatal(f)),
                Stage::Idle => {
                    let first = match ring.next_request() {
                        Err(e) => return self.fail(TxFatal::Ring(e)),
                        Ok(None) => return TxPoll::Empty,
                        Ok(Some(r)) => r,
                    };
                    self.first = first;
                    self.remaining = first.size;
                    // `extras` is cleared when the packet has some: read
                    // only while `extra_count` is not 0.
                    self.extra_count = 0;
                    self.nr_cont = 0;
                    self.packet.nr_slots = 0;
                    self.drop = None;
                    self.stage = Stage::AwaitCredit;
                }
                Stage::AwaitCredit => {
                    if !gate.admit(u32::from(self.first.size)) {
                        return TxPoll::RateLimited;
                    }
                    self.stage = if self.first.has(NETTXF_EXTRA_INFO) {
                        self.extras = [None; NR_EXTRA_TYPES];
                        Stage::Extras
                    } else {
                        Stage::ExtrasDone
                    };
                }
                Stage::Extras => {
                    let slot = match self.fetch(ring) {
                        Ok(s) => s,
                        Err(e) => return Self::stop(e),
                    };
                    self.extra_count = self.extra_count.saturating_add(1);
                    let raw = ExtraInfoRaw::from_tx_slot(&slot);
                    let Some(extra) = raw.parse() else {
                        return self.fail(TxFatal::InvalidExtraType(raw.kind));
                    };
                    let idx = usize::from(raw.kind).wrapping_sub(1);
                    if let Some(e) = self.extras.get_mut(idx) {
                        *e = Some(extra);
                    }
                    if !raw.more() {
                        self.stage = Stage::ExtrasDone;
                    }
                }
                // Each verdict is returned straight from the call that makes
                // it, so that it is written once, into the caller's frame.
                Stage::ExtrasDone => {
                    if let Some((op, addr)) = self.multicast() {
                        self.stage = Stage::Idle;
                        return TxPoll::Verdict(TxVerdict::Multicast(TxMulticast { op, addr, responses: self.plan() }));
                    }
                    if !self.first.has(NETTXF_MORE_DATA) {
                        return self.finish();
                    }
                    self.stage = Stage::Slots;
                }
                Stage::Slots => {
                    let k = self.nr_cont;
                    if k >= self.config.fatal_skb_slots {
                        return self.fail(TxFatal::TooManySlots { slots: k });
                    }
                    if self.drop.is_none() && k >= XEN_NETBK_LEGACY_SLOTS_MAX {
                        self.drop = Some(DropReason::TooManySlots);
                    }
                    let txp = match self.fetch(ring) {
                        Ok(s) => s,
                        Err(e) => return Self::stop(e),
                    };
                    let ki = usize::try_from(k).unwrap_or(usize::MAX);
                    if let Some(id) = self.cont_ids.get_mut(ki) {
                        *id = txp.id;
                    }
                    if self.drop.is_none() && txp.size > self.remaining {
                        self.drop =
                            Some(DropReason::SlotExceedsRemaining { slot_size: txp.size, remaining: self.remaining });
                    }
                    self.remaining = self.remaining.wrapping_sub(txp.size);
                    self.nr_cont = k.saturating_add(1);
                    if u32::from(txp.offset).saturating_add(u32::from(txp.size)) > XEN_PAGE_SIZE {
                        return self.fail(TxFatal::CrossesPage { offset: txp.offset, size: txp.size });
                    }
                    // Without a drop, k < XEN_NETBK_LEGACY_SLOTS_MAX: the slot
                    // has its place after the first.
                    if self.drop.is_none() {
                        if let Some(s) = self.packet.slots.get_mut(1..).and_then(|cont| cont.get_mut(ki)) {
                            *s = TxSlot { gref: txp.gref, offset: txp.offset, size: txp.size, id: txp.id };
                        }
                    }
                    if !txp.has(NETTXF_MORE_DATA) {
                        return self.finish();
                    }
                }
            }
        }
    }

    /// Disconnect: answers with `NETIF_RSP_ERROR` (`NETIF_RSP_NULL` for
    /// extras) every request the frontend posted that has no answer yet: a
    /// packet waiting for credit, the ones behind it, multicast requests
    /// (not applied), a partial packet's consumed slots. Returns the packets
    /// refused. Stops at a fatal error (nothing more is parsed) and after a
    /// ring's worth of verdicts, however fast the frontend posts.
    ///
    /// The C driver leaves them unanswered. A frontend then reclaims those
    /// buffers while disconnecting, and stock netfront's reclaim warns
    /// (`get_page` on a slab head page in `xennet_release_tx_bufs`). Answered
    /// before the notification of the last publish, its TX interrupt frees
    /// them the usual way first. The assembler is done after this.
    pub fn refuse_posted<R>(&mut self, ring: &mut BackRing<R>) -> Result<u32, RingError>
    where
        R: SharedRing<Request = TxRequest, Response = TxResponse>,
    {
        let mut refused = 0u32;
        for _ in 0..ring.size() {
            match self.poll(ring, &mut Unlimited) {
                TxPoll::Verdict(TxVerdict::Accept) => {
                    self.packet.response_plan().responses(NETIF_RSP_ERROR).push_to(ring)?
                }
                TxPoll::Verdict(TxVerdict::Drop(d)) => d.responses.responses(NETIF_RSP_ERROR).push_to(ring)?,
                TxPoll::Verdict(TxVerdict::Multicast(m)) => m.responses.responses(NETIF_RSP_ERROR).push_to(ring)?,
                TxPoll::Incomplete => {
                    self.stage = Stage::Idle;
                    self.plan().responses(NETIF_RSP_ERROR).push_to(ring)?;
                    return Ok(refused.saturating_add(1));
                }
                TxPoll::Verdict(TxVerdict::Fatal(_)) | TxPoll::Empty | TxPoll::RateLimited => return Ok(refused),
            }
            refused = refused.saturating_add(1);
        }
        Ok(refused)
    }

    /// The multicast control request of the extras, if any (MCAST_ADD
    /// wins): it short-circuits the packet, its continuation slots unread.
    fn multicast(&self) -> Option<(McastOp, [u8; 6])> {
        if self.extra_count == 0 {
            return None;
        }
        match self.extras {
            [_, Some(ExtraInfo::McastAdd { addr } | ExtraInfo::McastDel { addr }), ..] => Some((McastOp::Add, addr)),
            [_, _, Some(ExtraInfo::McastAdd { addr } | ExtraInfo::McastDel { addr }), ..] => Some((McastOp::Del, addr)),
            _ => None,
        }
    }

    fn finish(&mut self) -> TxPoll {
        // The response plan only travels with a drop (an accepted packet's
        // answers come from its slots): not built for every packet.
        if let Some(reason) = self.drop {
            self.stage = Stage::Idle;
            return TxPoll::Verdict(TxVerdict::Drop(TxDrop { reason, responses: self.plan() }));
        }
        let first_size = self.remaining;
        if first_size < ETH_HLEN {
            self.stage = Stage::Idle;
            return TxPoll::Verdict(TxVerdict::Drop(TxDrop {
                reason: DropReason::PacketTooSmall { size: first_size },
                responses: self.plan(),
            }));
        }
        let first = self.first;
        if u32::from(first.offset).saturating_add(u32::from(first_size)) > XEN_PAGE_SIZE {
            return self.fail(TxFatal::CrossesPage { offset: first.offset, size: first_size });
        }
        // XSA-423: the headers may be spread over several slots; copy the
        // packet's first bytes, not just the first slot's.
        let mut linear_len = first.size.min(XEN_NETBACK_TX_COPY_LEN);
        if self.nr_cont >= XEN_NETBK_LEGACY_SLOTS_MAX - 1 && linear_len < first_size {
            linear_len = first_size;
        }
        let (mut gso, mut hash) = (None, None);
        // The extras are this packet's only when it had some.
        let extras = if self.extra_count == 0 { &[][..] } else { &self.extras[..] };
        if let Some(Some(ExtraInfo::Gso { size, gso_type, .. })) = extras.first().copied() {
            if size == 0 {
                return self.fail(TxFatal::GsoSizeZero);
            }
            let Some(kind) = GsoType::from_wire(gso_type) else {
                return self.fail(TxFatal::GsoBadType(gso_type));
            };
            gso = Some(TxGso { size, kind });
        }
        if let Some(Some(ExtraInfo::Hash { hash_type, value, .. })) = extras.get(3).copied() {
            let level = match hash_type {
                XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT | XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT => Some(HashLevel::L3),
                XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT => Some(HashLevel::L4),
                _ => None,
            };
            hash = level.map(|level| TxHash { value, level });
        }
        // The continuation slots are in place already.
        let n = usize::try_from(self.nr_cont).unwrap_or(usize::MAX);
        let p = &mut self.packet;
        p.slots[0] = TxSlot { gref: first.gref, offset: first.offset, size: first_size, id: first.id };
        p.nr_slots = u8::try_from(n.saturating_add(1).min(TX_MAX_PACKET_SLOTS)).unwrap_or(u8::MAX);
        p.total_size = first.size;
        p.extra_count = self.extra_count;
        p.csum_blank = first.has(NETTXF_CSUM_BLANK);
        p.data_validated = first.has(NETTXF_DATA_VALIDATED);
        p.gso = gso;
        p.hash = hash;
        p.linear_len = linear_len;
        self.stage = Stage::Idle;
        TxPoll::Verdict(TxVerdict::Accept)
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring::MemRing;
    use super::super::wire::*;
    use super::*;

    type Ring = MemRing<TxRequest, TxResponse, 256>;

    fn ring() -> BackRing<Ring> {
        BackRing::new(Ring::new()).unwrap()
    }

    fn slot(id: u16, size: u16, flags: u16) -> TxRequest {
        TxRequest { gref: 1000 + u32::from(id), offset: 0, flags, id, size }
    }

    fn poll(a: &mut TxAssembler, r: &mut BackRing<Ring>) -> TxPoll {
        a.poll(r, &mut Unlimited)
    }

    fn accept(a: &mut TxAssembler, r: &mut BackRing<Ring>) -> TxPacket {
        match poll(a, r) {
            TxPoll::Verdict(TxVerdict::Accept) => *a.packet(),
            other => panic!("expected accept, got {other:?}"),
        }
    }

    #[test]
    fn single_slot_packet() {
        let mut r = ring();
        r.ring_mut().push_request(TxRequest { gref: 7, offset: 100, flags: NETTXF_CSUM_BLANK, id: 3, size: 60 });
        let mut a = TxAssembler::new(TxConfig::default());
        let p = accept(&mut a, &mut r);
        assert_eq!(p.slots(), &[TxSlot { gref: 7, offset: 100, size: 60, id: 3 }]);
        assert!(p.csum_blank && !p.data_validated);
        assert_eq!(p.linear_len, 60);
        assert_eq!(p.frag_plan().count(), 0);
        assert_eq!(poll(&mut a, &mut r), TxPoll::Empty);
        assert_eq!(r.ring().request_reads.get(), 1);
    }

    /// Accepts a 3000-byte packet: ids 1-4 (the third slot empty), GSO and
    /// hash extras, data validated.
    fn gso_hash_packet() -> (BackRing<Ring>, TxAssembler, TxPacket) {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 3000, NETTXF_MORE_DATA | NETTXF_EXTRA_INFO | NETTXF_DATA_VALIDATED));
        r.ring_mut().push_request(
            ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV6, features: 0 }.to_raw(true).to_tx_slot(),
        );
        r.ring_mut().push_request(ExtraInfo::Hash { hash_type: 3, algorithm: 1, value: 42 }.to_raw(false).to_tx_slot());
        r.ring_mut().push_request(slot(2, 1000, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(3, 0, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(4, 1000, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        let p = accept(&mut a, &mut r);
        (r, a, p)
    }

    #[test]
    fn multi_slot_with_gso_and_hash() {
        let (r, _, p) = gso_hash_packet();
        assert_eq!(p.total_size, 3000);
        assert_eq!(p.first().size, 1000);
        assert_eq!(p.extra_count, 2);
        assert_eq!(p.ring_slots(), 6);
        assert_eq!(p.gso, Some(TxGso { size: 1448, kind: GsoType::TcpV6 }));
        assert_eq!(p.hash, Some(TxHash { value: 42, level: HashLevel::L4 }));
        assert_eq!(p.linear_len, 128);
        let plan: std::vec::Vec<_> = p.frag_plan().collect();
        assert_eq!(plan.len(), 4);
        assert!(matches!(plan[0], TxSlotUse::Map { first: true, slot } if slot.offset == 128 && slot.size == 872));
        assert!(matches!(plan[2], TxSlotUse::RespondNow(s) if s.id == 3));
        let rsps: std::vec::Vec<_> = p.response_plan().responses(NETIF_RSP_OKAY).collect();
        assert_eq!(rsps.len(), 6);
        assert_eq!(rsps[1].status, NETIF_RSP_NULL);
        assert_eq!(rsps[2].status, NETIF_RSP_NULL);
        assert_eq!(rsps[5], TxResponse { id: 4, status: 0 });
        let one: std::vec::Vec<_> = TxResponsePlan::<1>::single(1, 2).responses(NETIF_RSP_OKAY).collect();
        assert_eq!(one, &rsps[..3]);
        assert_eq!(r.ring().request_reads.get(), 6);
    }

    /// XSA-423: a 14-byte first slot with the IP/TCP headers in the next
    /// slots; the linear area still holds the first 128 bytes of the packet.
    #[test]
    fn split_headers_linear_area_spans_slots() {
        let mut r = ring();
        r.ring_mut().push_request(TxRequest { gref: 1, offset: 10, flags: NETTXF_MORE_DATA, id: 1, size: 1514 });
        r.ring_mut().push_request(TxRequest { gref: 2, offset: 20, flags: NETTXF_MORE_DATA, id: 2, size: 40 });
        r.ring_mut().push_request(TxRequest { gref: 3, offset: 0, flags: NETTXF_MORE_DATA, id: 3, size: 0 });
        r.ring_mut().push_request(TxRequest { gref: 4, offset: 30, flags: 0, id: 4, size: 1460 });
        let mut a = TxAssembler::new(TxConfig::default());
        let p = accept(&mut a, &mut r);
        assert_eq!(p.first().size, 14);
        assert_eq!(p.linear_len, 128);
        let linear: std::vec::Vec<_> = p.linear_plan().collect();
        assert_eq!(
            linear,
            [
                TxSlot { gref: 1, offset: 10, size: 14, id: 1 },
                TxSlot { gref: 2, offset: 20, size: 40, id: 2 },
                TxSlot { gref: 4, offset: 30, size: 74, id: 4 },
            ]
        );
        let frags: std::vec::Vec<_> = p.frag_plan().collect();
        assert_eq!(
            frags,
            [
                TxSlotUse::RespondNow(TxSlot { gref: 3, offset: 0, size: 0, id: 3 }),
                TxSlotUse::Map { slot: TxSlot { gref: 4, offset: 104, size: 1386, id: 4 }, first: false },
            ]
        );
        // A short packet is linear as a whole, whatever its slots.
        r.ring_mut().push_request(TxRequest { gref: 5, offset: 0, flags: NETTXF_MORE_DATA, id: 5, size: 60 });
        r.ring_mut().push_request(TxRequest { gref: 6, offset: 0, flags: 0, id: 6, size: 46 });
        let p = accept(&mut a, &mut r);
        assert_eq!(p.linear_len, 60);
        assert_eq!(p.linear_plan().map(|s| s.size).collect::<std::vec::Vec<_>>(), [14, 46]);
        assert_eq!(p.frag_plan().count(), 0);
    }

    #[test]
    fn incomplete_packet_resumes_without_rereading() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 200, NETTXF_MORE_DATA));
        let mut a = TxAssembler::new(TxConfig::default());
        assert_eq!(poll(&mut a, &mut r), TxPoll::Incomplete);
        assert!(a.has_partial());
        r.ring_mut().push_request(slot(2, 100, 0));
        let p = accept(&mut a, &mut r);
        assert_eq!(p.slots().len(), 2);
        assert_eq!(r.ring().request_reads.get(), 2);
    }

    /// Each packet is built over the previous one: nothing of it shows
    /// through (slots, flags, GSO, hash), and while the next one is
    /// assembled the packet has no slots.
    #[test]
    fn packets_built_in_place_are_independent() {
        let (mut r, mut a, big) = gso_hash_packet();
        assert_eq!((big.slots().len(), big.extra_count), (4, 2));
        assert!(big.gso.is_some() && big.hash.is_some() && big.data_validated);
        // A dropped packet (its second slot exceeds the first's size) in
        // between writes its first continuation slot in place.
        r.ring_mut().push_request(slot(5, 100, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(6, 50, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(7, 200, 0));
        assert!(matches!(poll(&mut a, &mut r), TxPoll::Verdict(TxVerdict::Drop(_))));
        r.ring_mut().push_request(slot(8, 1500, NETTXF_MORE_DATA | NETTXF_CSUM_BLANK));
        assert_eq!(poll(&mut a, &mut r), TxPoll::Incomplete);
        assert!(a.packet().slots().is_empty());
        r.ring_mut().push_request(slot(9, 500, 0));
        let small = accept(&mut a, &mut r);
        assert_eq!(
            small.slots(),
            [TxSlot { gref: 1008, offset: 0, size: 1000, id: 8 }, TxSlot { gref: 1009, offset: 0, size: 500, id: 9 }]
        );
        assert_eq!((small.total_size, small.extra_count, small.linear_len), (1500, 0, 128));
        assert!(small.gso.is_none() && small.hash.is_none() && small.csum_blank && !small.data_validated);
        assert_eq!(small.response_plan().ids(), [8, 9]);
    }

    #[test]
    fn legacy_slot_limit_drops_and_fatal_limit_kills() {
        for (cont, expect_drop) in [(18u16, false), (19, true), (20, true), (21, false)] {
            let mut r = ring();
            r.ring_mut().push_request(slot(0, 100 * (cont + 1), NETTXF_MORE_DATA));
            for i in 1..=cont {
                r.ring_mut().push_request(slot(i, 100, if i < cont { NETTXF_MORE_DATA } else { 0 }));
            }
            let mut a = TxAssembler::new(TxConfig::default());
            match poll(&mut a, &mut r) {
                TxPoll::Verdict(TxVerdict::Accept) => {
                    let p = a.packet();
                    assert_eq!(cont, 18);
                    assert_eq!(p.slots().len(), 19);
                    assert_eq!(p.linear_len, 128, "linear area spans into the second slot");
                    let linear: std::vec::Vec<_> = p.linear_plan().map(|s| (s.id, s.size)).collect();
                    assert_eq!(linear, [(0, 100), (1, 28)]);
                }
                TxPoll::Verdict(TxVerdict::Drop(d)) => {
                    assert!(expect_drop, "cont {cont}");
                    assert_eq!(d.reason, DropReason::TooManySlots);
                    assert_eq!(d.slots_consumed(), u32::from(cont) + 1);
                    let ids: std::vec::Vec<u16> = d.responses.responses(NETIF_RSP_ERROR).map(|r| r.id).collect();
                    assert_eq!(ids, (0..=cont).collect::<std::vec::Vec<_>>());
                }
                TxPoll::Verdict(TxVerdict::Fatal(f)) => {
                    assert_eq!(cont, 21);
                    assert_eq!(f, TxFatal::TooManySlots { slots: 20 });
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn oversize_slot_is_dropped_not_fatal() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 100, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(2, 200, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        match poll(&mut a, &mut r) {
            TxPoll::Verdict(TxVerdict::Drop(d)) => {
                assert_eq!(d.reason, DropReason::SlotExceedsRemaining { slot_size: 200, remaining: 100 });
                assert_eq!(d.responses.ids(), &[1, 2]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tiny_first_slot_dropped() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 13, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        assert!(matches!(
            poll(&mut a, &mut r),
            TxPoll::Verdict(TxVerdict::Drop(TxDrop { reason: DropReason::PacketTooSmall { size: 13 }, .. }))
        ));
    }

    #[test]
    fn cross_page_is_fatal_and_sticky() {
        let mut r = ring();
        r.ring_mut().push_request(TxRequest { gref: 1, offset: 4000, flags: 0, id: 1, size: 97 });
        r.ring_mut().push_request(slot(2, 60, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        let f = TxPoll::Verdict(TxVerdict::Fatal(TxFatal::CrossesPage { offset: 4000, size: 97 }));
        assert_eq!(poll(&mut a, &mut r), f);
        assert_eq!(poll(&mut a, &mut r), f);
        assert!(a.is_failed());
    }

    #[test]
    fn bad_extras_are_fatal() {
        let cases: [(ExtraInfoRaw, TxFatal); 4] = [
            (ExtraInfoRaw { kind: 0, flags: 0, payload: [0; 6] }, TxFatal::InvalidExtraType(0)),
            (ExtraInfoRaw { kind: 6, flags: 0, payload: [0; 6] }, TxFatal::InvalidExtraType(6)),
            (ExtraInfo::Gso { size: 0, gso_type: 1, features: 0 }.to_raw(false), TxFatal::GsoSizeZero),
            (ExtraInfo::Gso { size: 100, gso_type: 9, features: 0 }.to_raw(false), TxFatal::GsoBadType(9)),
        ];
        for (raw, fatal) in cases {
            let mut r = ring();
            r.ring_mut().push_request(slot(1, 100, NETTXF_EXTRA_INFO));
            r.ring_mut().push_request(raw.to_tx_slot());
            let mut a = TxAssembler::new(TxConfig::default());
            assert_eq!(poll(&mut a, &mut r), TxPoll::Verdict(TxVerdict::Fatal(fatal)));
        }
    }

    #[test]
    fn endless_extra_chain_is_fatal() {
        let mut r: BackRing<MemRing<TxRequest, TxResponse, 8>> = BackRing::new(MemRing::new()).unwrap();
        r.ring_mut().push_request(slot(1, 100, NETTXF_EXTRA_INFO));
        for _ in 0..7 {
            r.ring_mut().push_request(ExtraInfo::Xdp { headroom: 0 }.to_raw(true).to_tx_slot());
        }
        let mut a = TxAssembler::new(TxConfig::default());
        assert_eq!(a.poll(&mut r, &mut Unlimited), TxPoll::Verdict(TxVerdict::Fatal(TxFatal::PacketExceedsRing)));
    }

    #[test]
    fn multicast_add_wins_and_skips_continuation() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 0, NETTXF_EXTRA_INFO | NETTXF_MORE_DATA));
        r.ring_mut().push_request(ExtraInfo::McastDel { addr: [2; 6] }.to_raw(true).to_tx_slot());
        r.ring_mut().push_request(ExtraInfo::McastAdd { addr: [1; 6] }.to_raw(false).to_tx_slot());
        let mut a = TxAssembler::new(TxConfig::default());
        match poll(&mut a, &mut r) {
            TxPoll::Verdict(TxVerdict::Multicast(m)) => {
                assert_eq!(m.op, McastOp::Add);
                assert_eq!(m.addr, [1; 6]);
                assert_eq!(m.responses.slots(), 3);
            }
            other => panic!("{other:?}"),
        }
        assert!(!a.has_partial());
    }

    #[test]
    fn rate_limited_first_slot_is_held() {
        struct Deny(bool);
        impl TxCreditGate for Deny {
            fn admit(&mut self, _: u32) -> bool {
                !self.0
            }
        }
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 60, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        assert_eq!(a.poll(&mut r, &mut Deny(true)), TxPoll::RateLimited);
        assert_eq!(a.poll(&mut r, &mut Deny(true)), TxPoll::RateLimited);
        assert_eq!(a.poll(&mut r, &mut Deny(false)), TxPoll::Verdict(TxVerdict::Accept));
        assert_eq!(a.packet().slots().len(), 1);
        assert_eq!(r.ring().request_reads.get(), 1);
    }

    #[test]
    fn xsa448_all_empty_frags_yield_linear_packet() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 60, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(2, 0, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(3, 0, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        let p = accept(&mut a, &mut r);
        assert!(p.frag_plan().all(|u| matches!(u, TxSlotUse::RespondNow(_))));
        assert_eq!(p.linear_len, 60);
    }

    /// Publishes and takes every response: (id, status) in ring order.
    fn answers(r: &mut BackRing<Ring>) -> std::vec::Vec<(u16, i16)> {
        r.push_responses_and_check_notify();
        core::iter::from_fn(|| r.ring_mut().take_response()).map(|rsp| (rsp.id, rsp.status)).collect()
    }

    #[test]
    fn refuse_posted_answers_everything_the_frontend_posted() {
        struct Deny;
        impl TxCreditGate for Deny {
            fn admit(&mut self, _: u32) -> bool {
                false
            }
        }
        let mut r = ring();
        // Waiting for credit: a packet with a GSO extra and a continuation.
        r.ring_mut().push_request(slot(1, 1600, NETTXF_MORE_DATA | NETTXF_EXTRA_INFO));
        r.ring_mut().push_request(
            ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 }.to_raw(false).to_tx_slot(),
        );
        r.ring_mut().push_request(slot(2, 100, 0));
        // Behind it: a multicast request, a packet too small, then a packet
        // whose last slot is not posted yet.
        r.ring_mut().push_request(slot(3, 0, NETTXF_EXTRA_INFO));
        r.ring_mut().push_request(ExtraInfo::McastAdd { addr: [1; 6] }.to_raw(false).to_tx_slot());
        r.ring_mut().push_request(slot(4, 10, 0));
        r.ring_mut().push_request(slot(5, 3000, NETTXF_MORE_DATA));
        r.ring_mut().push_request(slot(6, 1000, NETTXF_MORE_DATA));
        let mut a = TxAssembler::new(TxConfig::default());
        assert_eq!(a.poll(&mut r, &mut Deny), TxPoll::RateLimited);
        assert_eq!(a.refuse_posted(&mut r), Ok(4));
        let e = NETIF_RSP_ERROR;
        assert_eq!(
            answers(&mut r),
            [(1, e), (0, NETIF_RSP_NULL), (2, e), (3, e), (0, NETIF_RSP_NULL), (4, e), (5, e), (6, e)]
        );
        assert_eq!(r.unanswered(), 0);
        // Nothing is left, nothing answered twice.
        assert_eq!(a.refuse_posted(&mut r), Ok(0));
        assert!(answers(&mut r).is_empty());
    }

    #[test]
    fn refuse_posted_stops_at_a_broken_ring() {
        let mut r = ring();
        r.ring_mut().push_request(slot(1, 60, 0));
        // A slot crossing its page: fatal, and nothing after it is parsed.
        r.ring_mut().push_request(TxRequest { gref: 1, offset: 4000, flags: 0, id: 2, size: 200 });
        r.ring_mut().push_request(slot(3, 60, 0));
        let mut a = TxAssembler::new(TxConfig::default());
        assert_eq!(a.refuse_posted(&mut r), Ok(1));
        assert_eq!(answers(&mut r), [(1, NETIF_RSP_ERROR)]);
        assert!(a.is_failed());
    }

    #[test]
    fn refuse_posted_is_bounded_by_the_ring() {
        let mut r = ring();
        let mut a = TxAssembler::new(TxConfig::default());
        // A frontend that reposts as fast as it is answered: one call ends
        // after a ring's worth of verdicts.
        let mut id = 0u16;
        for _ in 0..3 {
            while r.ring().free_requests() > 0 {
                r.ring_mut().push_request(slot(id, 60, 0));
                id = id.wrapping_add(1);
            }
            let n = a.refuse_posted(&mut r).unwrap();
            assert!(n <= r.size(), "{n}");
            answers(&mut r);
        }
        assert_eq!(u32::from(id), 3 * r.size());
    }

    #[test]
    fn config_clamps() {
        assert_eq!(TxConfig::new(0).fatal_skb_slots(), 18);
        assert_eq!(TxConfig::new(1000).fatal_skb_slots(), FATAL_SKB_SLOTS_MAX);
    }
}

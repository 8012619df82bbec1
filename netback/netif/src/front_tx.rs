//! Guest TX, frontend side (netfront-rs): turning an outgoing packet into TX
//! requests every backend accepts, and keeping the books on request ids and
//! grants until the backend answers them.
//!
//! [`TxPlan::new`] splits a packet, given as the byte chunks of its linear
//! area and frags, into slots that each stay within one 4 KiB Xen page, and
//! says which flags and sizes the requests carry (what `xennet_start_xmit`
//! and `xennet_make_txreqs` build in Linux). It refuses what the backend
//! would drop or treat as fatal (see the table on [`TxPlanError`]), so a plan
//! always passes `tx::TxAssembler` (checked by the tests below).
//! [`TxCopyPlan`] gives the same requests for a packet copied into the
//! frontend's own pages, without building a slot array per packet.
//!
//! [`TxIdTable`] hands out request ids and records each one's grant; on a
//! response it checks the id and says what to release. The backend is not
//! trusted (XSA-403): an id out of range, an id not in flight, more NULL
//! responses than extra slots pushed, or a per-packet grant the backend still
//! maps make the table broken (Linux's `info->broken`), and it stays broken
//! until [`TxIdTable::reset`] at reconnect. A broken table hands out no ids
//! and accepts no responses; nothing a backend writes can panic.
//!
//! The shell's loop for one packet, under the queue's TX lock:
//!
//! ```
//! use netif::front_tx::*;
//! use netif::tx::TxGso;
//! use netif::wire::{GsoType, TxRequest, TxResponse, NETIF_RSP_NULL, NETIF_RSP_OKAY};
//!
//! let mut ids = TxIdTable::<256>::new();
//! // skb: 200 bytes of linear area at page offset 4000, one 3000-byte frag.
//! let chunks = [TxChunk { page_offset: 4000, len: 200 }, TxChunk { page_offset: 0, len: 3000 }];
//! let meta = TxPacketMeta { checksum: TxChecksum::Partial, gso: Some(TxGso { size: 1448, kind: GsoType::TcpV4 }) };
//! // Err(Linearize): skb_linearize and plan again; Err(HeadTooShort): bounce the skb.
//! let plan = TxPlan::<TX_PLAN_SLOTS_DEFAULT>::new(chunks, &meta).unwrap();
//! assert_eq!((plan.slots().len(), plan.ring_slots()), (3, 4)); // 96 + 104 bytes, 3000 bytes, GSO extra
//! assert!(ids.free_ids() >= plan.slots().len()); // and ring space for plan.ring_slots()
//! let mut ring: Vec<TxRequest> = Vec::new();
//! for req in plan.requests() {
//!     match req {
//!         PlannedRequest::Data(d) => {
//!             // grant the Xen page d.slot.xen_page of chunk d.slot.chunk read-only to the backend:
//!             let gref = 100 + d.slot.xen_page;
//!             let id = ids.claim(TxGrant::PerPacket(gref)).unwrap();
//!             ring.push(d.request(id, gref));
//!         }
//!         PlannedRequest::Extra(slot) => {
//!             ids.claim_extra();
//!             ring.push(slot);
//!         }
//!     }
//! }
//! ids.publish(); // then raise req_prod and notify
//! // Later, for each response the front ring yields:
//! for rsp in [TxResponse { id: 0, status: NETIF_RSP_NULL }, TxResponse { id: ring[0].id, status: NETIF_RSP_OKAY }] {
//!     match ids.complete(rsp, |gref| { let _ = gref; true /* gnttab_end_foreign_access_ref */ }) {
//!         Ok(TxCompletion::Slot { id, grant, status }) => { let _ = (id, grant, status); } // free the skb ref
//!         Ok(TxCompletion::Null) => {}
//!         Err(e) => { let _ = e.description(); break } // the device is broken
//!     }
//! }
//! ```

use super::front_staging::TakenPage;
use super::rx::RxCsum;
use super::tx::TxGso;
use super::wire::{
    ExtraInfo, TxRequest, TxResponse, ETH_HLEN, NETIF_RSP_DROPPED, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY,
    NETTXF_CSUM_BLANK, NETTXF_DATA_VALIDATED, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA, XEN_NETIF_MAX_TX_SIZE,
    XEN_NETIF_NR_SLOTS_MIN, XEN_NETIF_TX_RING_SIZE, XEN_PAGE_SIZE,
};

/// Data slots one packet may use by default: `XEN_NETIF_NR_SLOTS_MIN`, what
/// every backend must accept (Linux netfront linearizes above
/// `MAX_XEN_SKB_FRAGS + 1`, the same 18).
pub const TX_PLAN_SLOTS_DEFAULT: usize = XEN_NETIF_NR_SLOTS_MIN as usize;

/// Request ids of a TX ring (one per ring entry, as in Linux).
pub const TX_IDS_DEFAULT: usize = XEN_NETIF_TX_RING_SIZE as usize;

const PAGE: u64 = XEN_PAGE_SIZE as u64;

/// One piece of an outgoing packet in guest memory: the skb's linear area
/// or one frag, in packet order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxChunk {
    /// Offset of the chunk's first byte from the start of its page region
    /// (a frag's offset in a compound page may exceed 4096); every 4 KiB Xen
    /// page of the region can be granted on its own.
    pub page_offset: u32,
    /// Bytes in the chunk (a zero-length chunk takes no slot).
    pub len: u32,
}

/// Checksum state of the packet (`skb->ip_summed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxChecksum {
    /// Nothing known (`CHECKSUM_NONE`): no flag.
    #[default]
    None,
    /// The backend completes the checksum (`CHECKSUM_PARTIAL`):
    /// `NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED`.
    Partial,
    /// Checked already (`CHECKSUM_UNNECESSARY`): `NETTXF_DATA_VALIDATED`.
    Unnecessary,
}

impl TxChecksum {
    /// The first request's `NETTXF_*` checksum flags.
    pub const fn flags(self) -> u16 {
        match self {
            TxChecksum::None => 0,
            TxChecksum::Partial => NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED,
            TxChecksum::Unnecessary => NETTXF_DATA_VALIDATED,
        }
    }
}

impl From<RxCsum> for TxChecksum {
    /// The same skb checksum state (`ip_summed`), as the TX ring says it.
    fn from(c: RxCsum) -> Self {
        match c {
            RxCsum::None => TxChecksum::None,
            RxCsum::Partial => TxChecksum::Partial,
            RxCsum::Unnecessary => TxChecksum::Unnecessary,
        }
    }
}

/// What the requests say about the packet besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxPacketMeta {
    /// Checksum offload state.
    pub checksum: TxChecksum,
    /// Segmentation offload (`gso_size`, TCPv4 or TCPv6), sent as a GSO extra.
    pub gso: Option<TxGso>,
}

impl TxPacketMeta {
    /// Extra-info slots after the first request (0 or 1: GSO).
    pub fn extra_slots(&self) -> usize {
        usize::from(self.gso.is_some())
    }

    /// The GSO extra-info slot, if any (it goes right after the first request).
    pub fn gso_extra(&self) -> Option<TxRequest> {
        let g = self.gso?;
        Some(ExtraInfo::Gso { size: g.size, gso_type: g.kind.to_wire(), features: 0 }.to_raw(false).to_tx_slot())
    }

    /// The request fields of data slot `index` of `nr_slots` in a packet of
    /// `total_len` bytes: `MORE_DATA` on all but the last; the first carries
    /// the checksum flags, `EXTRA_INFO` when an extra follows, and the
    /// packet length as its size.
    fn planned_data(&self, slot: TxSlotPlan, index: usize, nr_slots: usize, total_len: u16) -> PlannedData {
        let mut flags = 0;
        if index + 1 < nr_slots {
            flags |= NETTXF_MORE_DATA;
        }
        let mut size = slot.len;
        if index == 0 {
            flags |= self.checksum.flags();
            if self.gso.is_some() {
                flags |= NETTXF_EXTRA_INFO;
            }
            size = total_len;
        }
        PlannedData { slot, flags, size }
    }

    /// The refusals that depend on the packet's length (`total` bytes) and
    /// this metadata alone; the length as the first request's size.
    fn check_len(&self, total: u64) -> Result<u16, TxPlanError> {
        if total == 0 {
            return Err(TxPlanError::Empty);
        }
        let Ok(total_len) = u16::try_from(total) else {
            return Err(TxPlanError::TooLarge { len: u32::try_from(total).unwrap_or(u32::MAX) });
        };
        if total_len < ETH_HLEN {
            return Err(TxPlanError::Runt { len: total_len });
        }
        if self.gso.is_some_and(|g| g.size == 0) {
            return Err(TxPlanError::GsoSizeZero);
        }
        Ok(total_len)
    }
}

/// One data slot: bytes of one chunk within one Xen page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxSlotPlan {
    /// Index of the chunk (in the order given to [`TxPlan::new`]).
    pub chunk: usize,
    /// Offset of the slot's first byte from the chunk's first byte.
    pub chunk_offset: u32,
    /// Index of the 4 KiB Xen page in the chunk's page region
    /// (`(page_offset + chunk_offset) / 4096`): the page to grant.
    pub xen_page: u32,
    /// Offset within that Xen page (the request's `offset`).
    pub offset: u16,
    /// Bytes in the slot; `offset + len <= 4096`.
    pub len: u16,
}

/// Why a packet cannot be sent as given.
///
/// | outcome | the backend would | the shell |
/// |---|---|---|
/// | [`Empty`](TxPlanError::Empty) | (nothing to send) | drops it |
/// | [`TooLarge`](TxPlanError::TooLarge) | misread the 16-bit size | drops it (Linux: "too big for wire format") |
/// | [`Runt`](TxPlanError::Runt) | drop it (first slot < `ETH_HLEN`) | drops it |
/// | [`GsoSizeZero`](TxPlanError::GsoSizeZero) | disable the VIF (fatal) | drops it (a shell bug: no GSO is `None`) |
/// | [`Linearize`](TxPlanError::Linearize) | drop it (> 19 data slots) or not accept it (> 18) | `skb_linearize`, plans again |
/// | [`HeadTooShort`](TxPlanError::HeadTooShort) | drop it (first slot < `ETH_HLEN`) | bounces the packet into a fresh buffer, plans again |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxPlanError {
    /// No bytes at all.
    Empty,
    /// Longer than `XEN_NETIF_MAX_TX_SIZE` (the first request's size is 16 bits).
    TooLarge {
        /// Packet length (saturated).
        len: u32,
    },
    /// Shorter than an Ethernet header: no layout makes the backend take it.
    Runt {
        /// Packet length.
        len: u16,
    },
    /// A GSO extra with segment size 0.
    GsoSizeZero,
    /// More data slots than the plan's limit: linearize (Linux's "skb rides
    /// the rocket") and plan again.
    Linearize {
        /// Data slots the packet needs as given.
        slots: usize,
    },
    /// The first slot holds fewer than `ETH_HLEN` bytes (the first chunk is
    /// shorter, or starts too close to the end of a page): bounce the packet
    /// into a fresh buffer (Linux's `bounce_skb`) and plan again.
    HeadTooShort {
        /// Bytes the first slot would hold.
        first_slot: u16,
    },
}

impl TxPlanError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            TxPlanError::Empty => "empty packet",
            TxPlanError::TooLarge { .. } => "packet too big for the wire format",
            TxPlanError::Runt { .. } => "packet shorter than an Ethernet header",
            TxPlanError::GsoSizeZero => "GSO size 0",
            TxPlanError::Linearize { .. } => "too many slots: linearize",
            TxPlanError::HeadTooShort { .. } => "first slot shorter than an Ethernet header: bounce",
        }
    }
}

/// The TX requests of one packet: up to `N` data slots (the limit:
/// more is [`TxPlanError::Linearize`]) and an optional GSO extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPlan<const N: usize = TX_PLAN_SLOTS_DEFAULT> {
    slots: [TxSlotPlan; N],
    nr_slots: usize,
    total_len: u16,
    meta: TxPacketMeta,
}

impl<const N: usize> TxPlan<N> {
    /// Plans the packet made of `chunks` in order. One pass over the chunks;
    /// the slot count of a chunk is computed, not walked, so a hostile or
    /// buggy length costs nothing before it is refused.
    pub fn new<I: IntoIterator<Item = TxChunk>>(chunks: I, meta: &TxPacketMeta) -> Result<Self, TxPlanError> {
        let mut slots = [TxSlotPlan::default(); N];
        let mut nr_slots = 0usize;
        let mut total = 0u64;
        for (chunk, c) in chunks.into_iter().enumerate() {
            if c.len == 0 {
                continue;
            }
            total = total.saturating_add(u64::from(c.len));
            let start = u64::from(c.page_offset);
            let in_page = start % PAGE;
            let needed = (in_page + u64::from(c.len)).div_ceil(PAGE);
            let before = nr_slots;
            nr_slots = nr_slots.saturating_add(usize::try_from(needed).unwrap_or(usize::MAX));
            // Only fill while the plan can still succeed: the loop below is
            // then bounded by N.
            if total > u64::from(XEN_NETIF_MAX_TX_SIZE) || nr_slots > N {
                continue;
            }
            let mut done = 0u32;
            for slot in slots.iter_mut().take(nr_slots).skip(before) {
                let at = start + u64::from(done);
                let offset = at % PAGE;
                let len = (PAGE - offset).min(u64::from(c.len - done));
                *slot = TxSlotPlan {
                    chunk,
                    chunk_offset: done,
                    xen_page: u32::try_from(at / PAGE).unwrap_or(u32::MAX),
                    // offset < 4096 and len <= 4096 - offset: both fit.
                    offset: u16::try_from(offset).unwrap_or(0),
                    len: u16::try_from(len).unwrap_or(0),
                };
                done = done.saturating_add(u32::try_from(len).unwrap_or(0));
            }
        }
        let total_len = meta.check_len(total)?;
        if nr_slots > N {
            return Err(TxPlanError::Linearize { slots: nr_slots });
        }
        let first_slot = slots.first().map_or(0, |s| s.len);
        if first_slot < ETH_HLEN {
            return Err(TxPlanError::HeadTooShort { first_slot });
        }
        Ok(TxPlan { slots, nr_slots, total_len, meta: *meta })
    }

    /// The data slots in packet order.
    pub fn slots(&self) -> &[TxSlotPlan] {
        self.slots.get(..self.nr_slots).unwrap_or(&[])
    }

    /// The packet's length: the first request's `size`.
    pub fn total_len(&self) -> u16 {
        self.total_len
    }

    /// The packet's checksum state and GSO parameters.
    pub fn meta(&self) -> TxPacketMeta {
        self.meta
    }

    /// Extra-info slots after the first request (0 or 1: GSO).
    pub fn extra_slots(&self) -> usize {
        self.meta.extra_slots()
    }

    /// Ring entries the packet takes: data slots plus extras.
    pub fn ring_slots(&self) -> usize {
        self.nr_slots.saturating_add(self.extra_slots())
    }

    /// The flags and `size` of data slot `index` (`None` past the end).
    pub fn data(&self, index: usize) -> Option<PlannedData> {
        let slot = *self.slots().get(index)?;
        Some(self.meta.planned_data(slot, index, self.nr_slots, self.total_len))
    }

    /// The GSO extra-info slot, if any (it goes right after the first request).
    pub fn gso_extra(&self) -> Option<TxRequest> {
        self.meta.gso_extra()
    }

    /// Every ring entry of the packet in ring order: the first data slot,
    /// the GSO extra, then the other data slots.
    pub fn requests(&self) -> PlannedRequests<'_, N> {
        PlannedRequests { plan: self, pos: 0 }
    }
}

/// A data slot with what its request carries; the shell adds the id and gref.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedData {
    /// Where the bytes are.
    pub slot: TxSlotPlan,
    /// `NETTXF_*` flags of the request.
    pub flags: u16,
    /// The request's `size`: the packet length on the first slot, else `slot.len`.
    pub size: u16,
}

impl PlannedData {
    /// The request, once the shell has an id and a grant of the slot's page.
    pub fn request(&self, id: u16, gref: u32) -> TxRequest {
        TxRequest { gref, offset: self.slot.offset, flags: self.flags, id, size: self.size }
    }
}

/// One ring entry of a planned packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedRequest {
    /// A data slot: needs an id and a grant.
    Data(PlannedData),
    /// An extra-info slot, complete as it is: no id, no grant (its response
    /// is `NETIF_RSP_NULL`; count it with [`TxIdTable::claim_extra`]).
    Extra(TxRequest),
}

/// Iterator returned by [`TxPlan::requests`].
#[derive(Clone, Debug)]
pub struct PlannedRequests<'a, const N: usize> {
    plan: &'a TxPlan<N>,
    pos: usize,
}

impl<const N: usize> Iterator for PlannedRequests<'_, N> {
    type Item = PlannedRequest;

    fn next(&mut self) -> Option<PlannedRequest> {
        let item = match RingEntry::at(self.pos, self.plan.extra_slots()) {
            RingEntry::Data(index) => PlannedRequest::Data(self.plan.data(index)?),
            RingEntry::Extra => PlannedRequest::Extra(self.plan.gso_extra()?),
        };
        self.pos = self.pos.saturating_add(1);
        Some(item)
    }
}

/// What a packet's ring entry is, by its position among the packet's
/// entries: the first data slot, its extras, then the other data slots.
enum RingEntry {
    /// Data slot `index`.
    Data(usize),
    /// An extra-info slot.
    Extra,
}

impl RingEntry {
    fn at(pos: usize, extras: usize) -> Self {
        if pos == 0 {
            RingEntry::Data(0)
        } else if pos <= extras {
            RingEntry::Extra
        } else {
            RingEntry::Data(pos - extras)
        }
    }
}

/// The requests of a packet the frontend copies into pages of its own, one
/// page per 4 KiB of packet: data slot `i` holds bytes `i * 4096 ..` at
/// offset 0 of its page. They are [`TxPlan::new`]'s for the packet as one
/// chunk at page offset 0 (checked for every length by the tests), but
/// nothing is held per slot: each slot is made as the requests are walked,
/// so planning a copied packet costs a few checks of its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxCopyPlan {
    total_len: u16,
    meta: TxPacketMeta,
}

// A packet of the largest size takes this many pages: never more than a plan
// may have, so a copied packet is never refused with `Linearize`.
const _: () = assert!(XEN_NETIF_MAX_TX_SIZE.div_ceil(XEN_PAGE_SIZE) as usize <= TX_PLAN_SLOTS_DEFAULT);

impl TxCopyPlan {
    /// Plans a packet of `len` bytes copied to the start of fresh pages. The
    /// refusals are [`TxPlan::new`]'s, less those no such layout meets:
    /// `Linearize` (see above) and `HeadTooShort` (the first slot holds
    /// `min(len, 4096)` bytes, at least `ETH_HLEN` once the packet is no runt).
    pub fn new(len: u32, meta: &TxPacketMeta) -> Result<Self, TxPlanError> {
        let total_len = meta.check_len(u64::from(len))?;
        Ok(TxCopyPlan { total_len, meta: *meta })
    }

    /// Data slots: the pages the packet is copied into.
    pub fn data_slots(&self) -> usize {
        usize::from(self.total_len).div_ceil(XEN_PAGE_SIZE as usize)
    }

    /// Ring entries the packet takes: data slots plus extras.
    pub fn ring_slots(&self) -> usize {
        self.data_slots().saturating_add(self.meta.extra_slots())
    }

    /// The packet's length: the first request's `size`.
    pub fn total_len(&self) -> u16 {
        self.total_len
    }

    /// Data slot `index` with its request's flags and size (`None` past the
    /// end): chunk 0, so `slot.chunk_offset` is where its bytes start in the
    /// packet, and `slot.xen_page` is `index`.
    pub fn data(&self, index: usize) -> Option<PlannedData> {
        let start = u32::try_from(index).ok()?.checked_mul(XEN_PAGE_SIZE)?;
        let left = u32::from(self.total_len).checked_sub(start).filter(|&n| n > 0)?;
        let slot = TxSlotPlan {
            chunk: 0,
            chunk_offset: start,
            xen_page: start / XEN_PAGE_SIZE,
            offset: 0,
            // At most 4096.
            len: u16::try_from(left.min(XEN_PAGE_SIZE)).unwrap_or(0),
        };
        Some(self.meta.planned_data(slot, index, self.data_slots(), self.total_len))
    }

    /// Every ring entry of the packet in ring order, as [`TxPlan::requests`].
    pub fn requests(&self) -> TxCopyRequests {
        TxCopyRequests { plan: *self, pos: 0 }
    }
}

/// Iterator returned by [`TxCopyPlan::requests`].
#[derive(Clone, Debug)]
pub struct TxCopyRequests {
    plan: TxCopyPlan,
    pos: usize,
}

impl Iterator for TxCopyRequests {
    type Item = PlannedRequest;

    fn next(&mut self) -> Option<PlannedRequest> {
        let item = match RingEntry::at(self.pos, self.plan.meta.extra_slots()) {
            RingEntry::Data(index) => PlannedRequest::Data(self.plan.data(index)?),
            RingEntry::Extra => PlannedRequest::Extra(self.plan.meta.gso_extra()?),
        };
        self.pos = self.pos.saturating_add(1);
        Some(item)
    }
}

// ---- Request ids and grants -------------------------------------------------

/// The grant a TX request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxGrant {
    /// Granted for this request: access is ended when it is answered.
    PerPacket(u32),
    /// A page of the staging pool (registered with ADD_GREF_MAPPING, or
    /// used unregistered): it stays granted and goes back to the pool, at
    /// the place it was taken from, when answered.
    Staged(TakenPage),
}

impl TxGrant {
    /// The grant reference.
    pub const fn gref(&self) -> u32 {
        match self {
            TxGrant::PerPacket(gref) => *gref,
            TxGrant::Staged(page) => page.gref,
        }
    }
}

/// The status of an answered data slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// `NETIF_RSP_OKAY`.
    Okay,
    /// `NETIF_RSP_ERROR`.
    Error,
    /// `NETIF_RSP_DROPPED`.
    Dropped,
    /// A value the protocol does not define. The slot is answered all the
    /// same (Linux does not look at the status), so its id is released.
    Other(i16),
}

impl TxStatus {
    /// Parses a data slot's response status (`NETIF_RSP_NULL` is handled before).
    pub const fn from_wire(status: i16) -> Self {
        match status {
            NETIF_RSP_OKAY => TxStatus::Okay,
            NETIF_RSP_ERROR => TxStatus::Error,
            NETIF_RSP_DROPPED => TxStatus::Dropped,
            other => TxStatus::Other(other),
        }
    }
}

/// What a valid TX response releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxCompletion {
    /// `NETIF_RSP_NULL`: the answer to an extra-info slot; nothing to release.
    Null,
    /// A data slot is answered; its id is free again. A per-packet grant has
    /// been ended already (give the gref back to the shell's gref pool); a
    /// staged page goes back to the staging pool.
    Slot {
        /// The request id.
        id: u16,
        /// The grant the request named.
        grant: TxGrant,
        /// What the backend said.
        status: TxStatus,
    },
}

/// A response the frontend cannot accept: the backend is broken or hostile.
/// The table is broken from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxResponseError {
    /// The id is not below the number of ids ("Response has incorrect id").
    BadId(u16),
    /// The id is not in flight: free, claimed but not published, or already
    /// answered ("Response for inactive request").
    NotInFlight(u16),
    /// More `NETIF_RSP_NULL` responses than extra-info slots published.
    UnexpectedNull,
    /// Ending access to a per-packet grant failed: the backend still maps it
    /// ("Grant still in use by backend domain"). The id is kept out of use
    /// and handed back by [`TxIdTable::reset`].
    GrantStillMapped {
        /// The request id.
        id: u16,
        /// Its grant reference.
        gref: u32,
    },
    /// The table was broken by an earlier error.
    Broken,
}

impl TxResponseError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            TxResponseError::BadId(_) => "TX response has an incorrect id",
            TxResponseError::NotInFlight(_) => "TX response for an inactive request",
            TxResponseError::UnexpectedNull => "TX NULL response without an extra-info request",
            TxResponseError::GrantStillMapped { .. } => "TX grant still in use by the backend",
            TxResponseError::Broken => "TX queue disabled after an earlier backend error",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdState {
    Free,
    /// Written to a request, not yet published.
    Claimed(TxGrant),
    InFlight(TxGrant),
    /// Answered, but the backend still maps the grant: never reused.
    Leaked(TxGrant),
}

const NO_ID: u16 = u16::MAX;

/// Request ids `0..N` of one TX queue and the grant each in-flight id holds
/// (Linux's `tx_link`, `tx_skbs` and `grant_tx_ref`; the shell keeps the skb
/// per id). `N` is at most 65535 (ids are 16 bits, 65535 marks the end of a
/// list); a larger `N` leaves the rest unused.
#[derive(Clone, Debug)]
pub struct TxIdTable<const N: usize = TX_IDS_DEFAULT> {
    state: [IdState; N],
    /// Free list and claimed list, linked through the ids (an id is on at
    /// most one list).
    link: [u16; N],
    free_head: u16,
    claimed_head: u16,
    nr_ids: u16,
    nr_free: u16,
    nr_in_flight: u16,
    claimed_extras: u32,
    nulls_owed: u32,
    broken: bool,
}

impl<const N: usize> Default for TxIdTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TxIdTable<N> {
    /// Every id free; not broken.
    pub fn new() -> Self {
        let nr_ids = u16::try_from(N.min(usize::from(NO_ID))).unwrap_or(0);
        let mut t = TxIdTable {
            state: [IdState::Free; N],
            link: [NO_ID; N],
            free_head: NO_ID,
            claimed_head: NO_ID,
            nr_ids,
            nr_free: 0,
            nr_in_flight: 0,
            claimed_extras: 0,
            nulls_owed: 0,
            broken: false,
        };
        // Push in reverse so that id 0 is handed out first.
        for id in (0..nr_ids).rev() {
            t.push_free(id);
        }
        t
    }

    /// The array index of `id`, if it is one of the table's ids (`NO_ID` is
    /// not, even when `N` is larger).
    fn index(&self, id: u16) -> Option<usize> {
        (id < self.nr_ids).then_some(usize::from(id))
    }

    fn push_free(&mut self, id: u16) {
        let Some(i) = self.index(id) else { return };
        if let (Some(s), Some(l)) = (self.state.get_mut(i), self.link.get_mut(i)) {
            *s = IdState::Free;
            *l = self.free_head;
            self.free_head = id;
            self.nr_free = self.nr_free.saturating_add(1);
        }
    }

    /// Ids in use or free (`min(N, 65535)`).
    pub fn capacity(&self) -> usize {
        usize::from(self.nr_ids)
    }

    /// Ids that [`Self::claim`] can hand out now.
    pub fn free_ids(&self) -> usize {
        usize::from(self.nr_free)
    }

    /// Ids published and not yet answered.
    pub fn in_flight(&self) -> usize {
        usize::from(self.nr_in_flight)
    }

    /// `NETIF_RSP_NULL` responses still expected for published extra slots.
    pub fn nulls_owed(&self) -> u32 {
        self.nulls_owed
    }

    /// Whether a backend error disabled the table.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Disables the table (the shell found the backend broken elsewhere, e.g.
    /// an impossible response index on the ring).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Takes a free id for a data request naming `grant`. `None` when no id
    /// is free or the table is broken. The id is not in flight until
    /// [`Self::publish`].
    pub fn claim(&mut self, grant: TxGrant) -> Option<u16> {
        if self.broken {
            return None;
        }
        let id = self.free_head;
        let i = self.index(id)?;
        let (Some(state), Some(link)) = (self.state.get_mut(i), self.link.get_mut(i)) else {
            return None;
        };
        self.free_head = *link;
        *link = self.claimed_head;
        *state = IdState::Claimed(grant);
        self.claimed_head = id;
        self.nr_free = self.nr_free.saturating_sub(1);
        Some(id)
    }

    /// Counts an extra-info request of the packet being built: once
    /// published, one `NETIF_RSP_NULL` response is owed for it.
    pub fn claim_extra(&mut self) {
        self.claimed_extras = self.claimed_extras.saturating_add(1);
    }

    /// Every claimed id is in flight, every claimed extra owes a NULL
    /// response. Call after writing the requests and before raising
    /// `req_prod` (Linux's `xennet_mark_tx_pending`), under the same lock as
    /// [`Self::complete`].
    pub fn publish(&mut self) {
        let mut id = self.claimed_head;
        while let Some(i) = self.index(id) {
            let (Some(state), Some(link)) = (self.state.get_mut(i), self.link.get_mut(i)) else { break };
            if let IdState::Claimed(grant) = *state {
                *state = IdState::InFlight(grant);
                self.nr_in_flight = self.nr_in_flight.saturating_add(1);
            }
            id = *link;
            *link = NO_ID;
        }
        self.claimed_head = NO_ID;
        self.nulls_owed = self.nulls_owed.saturating_add(self.claimed_extras);
        self.claimed_extras = 0;
    }

    /// Gives back every claimed, unpublished id (a packet abandoned half
    /// built): `release` gets each grant to undo. Only for requests not
    /// pushed to the shared ring; the shell rewinds its private `req_prod`.
    pub fn abandon(&mut self, mut release: impl FnMut(u16, TxGrant)) {
        let mut id = self.claimed_head;
        self.claimed_head = NO_ID;
        while let Some(i) = self.index(id) {
            let Some(link) = self.link.get(i).copied() else { break };
            if let Some(IdState::Claimed(grant)) = self.state.get(i).copied() {
                release(id, grant);
            }
            self.push_free(id);
            id = link;
        }
        self.claimed_extras = 0;
    }

    fn fail(&mut self, e: TxResponseError) -> Result<TxCompletion, TxResponseError> {
        self.broken = true;
        Err(e)
    }

    /// Checks one response from the backend and releases what it answers.
    /// `end_access(gref)` ends foreign access to a per-packet grant
    /// (`gnttab_end_foreign_access_ref`) and says whether it could; it is
    /// not called for staged pages, which stay granted.
    ///
    /// A `NETIF_RSP_NULL` response answers an extra-info slot: its id is
    /// not read (C netback leaves whatever was in the slot there), as in
    /// Linux; unlike Linux, one more NULL than extras published is an error.
    pub fn complete(
        &mut self,
        rsp: TxResponse,
        end_access: impl FnOnce(u32) -> bool,
    ) -> Result<TxCompletion, TxResponseError> {
        if self.broken {
            return Err(TxResponseError::Broken);
        }
        if rsp.status == NETIF_RSP_NULL {
            if self.nulls_owed == 0 {
                return self.fail(TxResponseError::UnexpectedNull);
            }
            self.nulls_owed -= 1;
            return Ok(TxCompletion::Null);
        }
        let id = rsp.id;
        if id >= self.nr_ids {
            return self.fail(TxResponseError::BadId(id));
        }
        let Some(IdState::InFlight(grant)) = self.state.get(usize::from(id)).copied() else {
            return self.fail(TxResponseError::NotInFlight(id));
        };
        self.nr_in_flight = self.nr_in_flight.saturating_sub(1);
        if let TxGrant::PerPacket(gref) = grant {
            if !end_access(gref) {
                if let Some(s) = self.state.get_mut(usize::from(id)) {
                    *s = IdState::Leaked(grant);
                }
                return self.fail(TxResponseError::GrantStillMapped { id, gref });
            }
        }
        self.push_free(id);
        Ok(TxCompletion::Slot { id, grant, status: TxStatus::from_wire(rsp.status) })
    }

    /// Disconnect (Linux's `xennet_release_tx_bufs`): `release(id, grant)`
    /// for every id that holds a grant — claimed, in flight, or leaked after
    /// a failed end of access — so the shell ends access with the deferred
    /// `gnttab_end_foreign_access` (the backend may still map it) or gives a
    /// staged page back. Then every id is free and the table is not broken.
    pub fn reset(&mut self, mut release: impl FnMut(u16, TxGrant)) {
        for (id, state) in (0..self.nr_ids).zip(self.state.iter()) {
            if let IdState::Claimed(g) | IdState::InFlight(g) | IdState::Leaked(g) = *state {
                release(id, g);
            }
        }
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring::{BackRing, MemRing};
    use super::super::test_rng::Lcg;
    use super::super::tx::{TxAssembler, TxConfig, TxPoll, TxVerdict, Unlimited, TX_MAX_PACKET_SLOTS};
    use super::super::wire::*;
    use super::*;
    use std::vec::Vec;

    type Plan = TxPlan<TX_PLAN_SLOTS_DEFAULT>;

    fn c(page_offset: u32, len: u32) -> TxChunk {
        TxChunk { page_offset, len }
    }

    fn plain() -> TxPacketMeta {
        TxPacketMeta::default()
    }

    /// A staging pool page (its place in the pool is not the table's business).
    fn staged(gref: u32) -> TxGrant {
        TxGrant::Staged(TakenPage { gref, index: 3 })
    }

    fn shape<const N: usize>(p: &TxPlan<N>) -> Vec<(usize, u32, u32, u16, u16)> {
        p.slots().iter().map(|s| (s.chunk, s.chunk_offset, s.xen_page, s.offset, s.len)).collect()
    }

    #[test]
    fn splits_at_page_boundaries() {
        // Linear area straddling a page, then a frag in a compound page at
        // offset 8000 (Xen page 1 of its region), then a page-aligned frag.
        let p = Plan::new([c(4000, 200), c(8000, 5000), c(0, 4096)], &plain()).unwrap();
        assert_eq!(
            shape(&p),
            [
                (0, 0, 0, 4000, 96),
                (0, 96, 1, 0, 104),
                (1, 0, 1, 3904, 192),
                (1, 192, 2, 0, 4096),
                (1, 4288, 3, 0, 712),
                (2, 0, 0, 0, 4096),
            ]
        );
        assert_eq!(p.total_len(), 9296);
        assert!(p.slots().iter().all(|s| u32::from(s.offset) + u32::from(s.len) <= 4096));
    }

    #[test]
    fn first_slot_size_and_flags() {
        let p = Plan::new([c(100, 1000), c(0, 500)], &plain()).unwrap();
        let reqs: Vec<_> = p.requests().collect();
        assert_eq!(
            reqs,
            [
                PlannedRequest::Data(PlannedData { slot: p.slots()[0], flags: NETTXF_MORE_DATA, size: 1500 }),
                PlannedRequest::Data(PlannedData { slot: p.slots()[1], flags: 0, size: 500 }),
            ]
        );
        assert_eq!(p.ring_slots(), 2);
        let one = Plan::new([c(0, 60)], &TxPacketMeta { checksum: TxChecksum::Partial, gso: None }).unwrap();
        assert_eq!(one.data(0).unwrap().flags, NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED);
        assert_eq!(one.data(0).unwrap().size, 60);
        assert_eq!(one.data(1), None);
        let v = Plan::new([c(0, 60)], &TxPacketMeta { checksum: TxChecksum::Unnecessary, gso: None }).unwrap();
        assert_eq!(v.data(0).unwrap().flags, NETTXF_DATA_VALIDATED);
        assert_eq!(v.data(0).unwrap().request(7, 99), TxRequest { gref: 99, offset: 0, flags: 2, id: 7, size: 60 });
    }

    #[test]
    fn gso_extra_follows_first_request() {
        let meta =
            TxPacketMeta { checksum: TxChecksum::Partial, gso: Some(TxGso { size: 1448, kind: GsoType::TcpV6 }) };
        let p = Plan::new([c(0, 100), c(0, 3000), c(0, 3000)], &meta).unwrap();
        let reqs: Vec<_> = p.requests().collect();
        assert_eq!(reqs.len(), 4);
        assert_eq!(p.ring_slots(), 4);
        let PlannedRequest::Data(first) = reqs[0] else { panic!("{reqs:?}") };
        assert_eq!(first.flags, NETTXF_CSUM_BLANK | NETTXF_DATA_VALIDATED | NETTXF_EXTRA_INFO | NETTXF_MORE_DATA);
        assert_eq!(first.size, 6100);
        let PlannedRequest::Extra(extra) = reqs[1] else { panic!("{reqs:?}") };
        let raw = ExtraInfoRaw::from_tx_slot(&extra);
        assert!(!raw.more());
        assert_eq!(raw.parse(), Some(ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV6, features: 0 }));
        assert!(matches!(reqs[2], PlannedRequest::Data(d) if d.flags == NETTXF_MORE_DATA && d.size == 3000));
        assert!(matches!(reqs[3], PlannedRequest::Data(d) if d.flags == 0 && d.size == 3000));
        // A one-slot GSO packet: the extra still follows, no MORE_DATA anywhere.
        let p = Plan::new([c(0, 1000)], &meta).unwrap();
        let reqs: Vec<_> = p.requests().collect();
        assert!(
            matches!(reqs[..], [PlannedRequest::Data(d), PlannedRequest::Extra(_)] if d.flags & NETTXF_MORE_DATA == 0)
        );
    }

    #[test]
    fn full_size_gso_packet() {
        // 64 KiB - 1 in 16 page-sized frags after a 255-byte head at 3900.
        let mut chunks = std::vec![c(3900, 255)];
        let mut left = 0xFFFFu32 - 255;
        while left > 0 {
            let n = left.min(4096);
            chunks.push(c(0, n));
            left -= n;
        }
        let meta =
            TxPacketMeta { checksum: TxChecksum::Partial, gso: Some(TxGso { size: 1448, kind: GsoType::TcpV4 }) };
        let p = Plan::new(chunks.iter().copied(), &meta).unwrap();
        assert_eq!(p.total_len(), 0xFFFF);
        assert_eq!(p.slots().len(), 18);
        assert_eq!(p.ring_slots(), 19);
        // One more byte in the head is one byte too many.
        chunks[0].len += 1;
        assert_eq!(Plan::new(chunks.iter().copied(), &meta), Err(TxPlanError::TooLarge { len: 0x10000 }));
    }

    #[test]
    fn one_byte_chunks() {
        let chunks: Vec<_> = (0..18).map(|i| c(4095 * (i % 2), 1)).collect();
        let mut head = std::vec![c(0, 14)];
        head.extend_from_slice(&chunks[..17]);
        let p = Plan::new(head.iter().copied(), &plain()).unwrap();
        assert_eq!(p.slots().len(), 18);
        assert!(p.slots()[1..].iter().all(|s| s.len == 1 && s.chunk_offset == 0));
        assert_eq!(p.slots()[2].offset, 4095);
        head.push(c(0, 1));
        assert_eq!(Plan::new(head.iter().copied(), &plain()), Err(TxPlanError::Linearize { slots: 19 }));
        // Zero-length chunks take no slot but keep their index.
        let p = Plan::new([c(0, 0), c(10, 20), c(5, 0), c(0, 1)], &plain()).unwrap();
        assert_eq!(shape(&p), [(1, 0, 0, 10, 20), (3, 0, 0, 0, 1)]);
    }

    #[test]
    fn refusals() {
        let gso0 = TxPacketMeta { checksum: TxChecksum::None, gso: Some(TxGso { size: 0, kind: GsoType::TcpV4 }) };
        assert_eq!(Plan::new([], &plain()), Err(TxPlanError::Empty));
        assert_eq!(Plan::new([c(0, 0)], &plain()), Err(TxPlanError::Empty));
        assert_eq!(Plan::new([c(0, 13)], &plain()), Err(TxPlanError::Runt { len: 13 }));
        assert_eq!(Plan::new([c(0, 100)], &gso0), Err(TxPlanError::GsoSizeZero));
        assert_eq!(Plan::new([c(4090, 100)], &plain()), Err(TxPlanError::HeadTooShort { first_slot: 6 }));
        assert_eq!(Plan::new([c(0, 10), c(0, 100)], &plain()), Err(TxPlanError::HeadTooShort { first_slot: 10 }));
        assert_eq!(Plan::new([c(u32::MAX, u32::MAX), c(0, 1)], &plain()), Err(TxPlanError::TooLarge { len: u32::MAX }));
        assert_eq!(Plan::new((0..20).map(|_| c(0, 100)), &plain()), Err(TxPlanError::Linearize { slots: 20 }));
        // A huge offset into a compound page is fine: only its page index grows.
        let p = Plan::new([c(u32::MAX - 99, 100)], &plain()).unwrap();
        assert_eq!(shape(&p), [(0, 0, u32::MAX / 4096, 3996, 100)]);
        assert_eq!(TxPlanError::Linearize { slots: 19 }.description(), "too many slots: linearize");
    }

    /// Pushes `plan` onto `ring` with ids from `ids` (per-packet grants:
    /// gref = 1000 * (chunk + 1) + xen page) and returns the ids used.
    fn push<const N: usize>(
        plan: &TxPlan<N>,
        ids: &mut TxIdTable<256>,
        ring: &mut MemRing<TxRequest, TxResponse, 256>,
    ) -> Vec<u16> {
        let mut used = Vec::new();
        for req in plan.requests() {
            match req {
                PlannedRequest::Data(d) => {
                    let gref = 1000 * (d.slot.chunk as u32 + 1) + d.slot.xen_page;
                    let id = ids.claim(TxGrant::PerPacket(gref)).unwrap();
                    used.push(id);
                    ring.push_request(d.request(id, gref));
                }
                PlannedRequest::Extra(slot) => {
                    ids.claim_extra();
                    ring.push_request(slot);
                }
            }
        }
        ids.publish();
        used
    }

    fn random_chunks(rng: &mut Lcg) -> Vec<TxChunk> {
        let n = 1 + (rng.next() % 20) as usize;
        (0..n)
            .map(|_| {
                let len = match rng.next() % 4 {
                    0 => rng.next() % 3,
                    1 => rng.next() % 200,
                    2 => rng.next() % 4097,
                    _ => rng.next() % 9000,
                } as u32;
                let page_offset = match rng.next() % 3 {
                    0 => 0,
                    1 => 4096 - (rng.next() % 20) as u32,
                    _ => (rng.next() % 20000) as u32,
                };
                TxChunk { page_offset, len }
            })
            .collect()
    }

    /// Random packets: an accepted plan covers each chunk byte exactly once,
    /// in order, within pages; the backend's own assembler accepts the
    /// requests with the same length, slots, flags and GSO; the backend's
    /// responses release every id and grant. Refusals are the right ones.
    #[test]
    fn random_plans_pass_the_backend() {
        let mut rng = Lcg(2024);
        let mut ids = TxIdTable::<256>::new();
        let mut back = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
        let mut asm = TxAssembler::new(TxConfig::default());
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let chunks = random_chunks(&mut rng);
            let gso = match rng.next() % 3 {
                0 => None,
                1 => Some(TxGso { size: 1 + (rng.next() % 9000) as u16, kind: GsoType::TcpV4 }),
                _ => Some(TxGso { size: 536, kind: GsoType::TcpV6 }),
            };
            let checksum = [TxChecksum::None, TxChecksum::Partial, TxChecksum::Unnecessary][(rng.next() % 3) as usize];
            let meta = TxPacketMeta { checksum, gso };
            let total: u64 = chunks.iter().map(|c| u64::from(c.len)).sum();
            let slots: u64 = chunks
                .iter()
                .filter(|c| c.len > 0)
                .map(|c| (u64::from(c.page_offset % 4096) + u64::from(c.len)).div_ceil(4096))
                .sum();
            let plan = match Plan::new(chunks.iter().copied(), &meta) {
                Ok(p) => p,
                Err(e) => {
                    refused += 1;
                    let want = if total == 0 {
                        TxPlanError::Empty
                    } else if total > 0xFFFF {
                        TxPlanError::TooLarge { len: total as u32 }
                    } else if total < 14 {
                        TxPlanError::Runt { len: total as u16 }
                    } else if slots > 18 {
                        TxPlanError::Linearize { slots: slots as usize }
                    } else {
                        let first = chunks.iter().find(|c| c.len > 0).unwrap();
                        let in_page = (4096 - first.page_offset % 4096).min(first.len);
                        TxPlanError::HeadTooShort { first_slot: in_page as u16 }
                    };
                    assert_eq!(e, want, "{chunks:?}");
                    continue;
                }
            };
            accepted += 1;
            // Every byte once, in order, each slot within its page.
            let mut next = (0usize, 0u32);
            for s in plan.slots() {
                while chunks[next.0].len == next.1 {
                    next = (next.0 + 1, 0);
                }
                assert_eq!((s.chunk, s.chunk_offset), next, "{chunks:?}");
                let at = u64::from(chunks[s.chunk].page_offset) + u64::from(s.chunk_offset);
                assert_eq!((u64::from(s.xen_page), u64::from(s.offset)), (at / 4096, at % 4096));
                assert!(s.len > 0 && u32::from(s.offset) + u32::from(s.len) <= 4096);
                next.1 += u32::from(s.len);
            }
            assert!(chunks[next.0 + 1..].iter().all(|c| c.len == 0) && next.1 == chunks[next.0].len);
            assert_eq!(u64::from(plan.total_len()), total);
            // Cross-check with the backend.
            let used = push(&plan, &mut ids, back.ring_mut());
            let pkt = match asm.poll(&mut back, &mut Unlimited) {
                TxPoll::Verdict(TxVerdict::Accept) => asm.packet(),
                other => panic!("backend refused {chunks:?} {meta:?}: {other:?}"),
            };
            assert_eq!(pkt.total_size, plan.total_len());
            assert_eq!(pkt.slots().len(), plan.slots().len());
            for (b, f) in pkt.slots().iter().zip(plan.slots()) {
                assert_eq!((b.offset, b.size), (f.offset, f.len));
            }
            assert_eq!(pkt.slots().iter().map(|s| s.id).collect::<Vec<_>>(), used);
            assert_eq!(pkt.gso, gso);
            assert_eq!(pkt.csum_blank, checksum == TxChecksum::Partial);
            assert_eq!(pkt.data_validated, checksum != TxChecksum::None);
            assert_eq!(pkt.extra_count as usize, plan.extra_slots());
            for rsp in pkt.response_plan().responses(NETIF_RSP_OKAY) {
                back.push_response(rsp).unwrap();
            }
            back.push_responses_and_check_notify();
            let mut ended = 0;
            while let Some(rsp) = back.ring_mut().take_response() {
                match ids.complete(rsp, |_| {
                    ended += 1;
                    true
                }) {
                    Ok(TxCompletion::Slot { status: TxStatus::Okay, grant: TxGrant::PerPacket(_), .. }) => {}
                    Ok(TxCompletion::Null) => {}
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(ended, used.len());
            assert_eq!((ids.free_ids(), ids.in_flight(), ids.nulls_owed()), (256, 0, 0));
        }
        assert!(accepted > 5000 && refused > 5000, "{accepted} accepted, {refused} refused");
    }

    /// A copied packet's plan is [`TxPlan::new`]'s of the packet as one
    /// chunk at page offset 0, for every length (without offloads; with
    /// them, the lengths around each page boundary): the same refusals,
    /// the same ring entries. And on the wire it is what the packet as
    /// page-sized chunks at offset 0 gave (the copy layout before the copy
    /// plan): the same requests, each slot's bytes from the same place of
    /// the packet.
    #[test]
    fn copy_plans_are_one_chunk_plans() {
        let gso = |size, kind| Some(TxGso { size, kind });
        let metas = [
            plain(),
            TxPacketMeta { checksum: TxChecksum::Partial, gso: None },
            TxPacketMeta { checksum: TxChecksum::Unnecessary, gso: None },
            TxPacketMeta { checksum: TxChecksum::Partial, gso: gso(1448, GsoType::TcpV4) },
            TxPacketMeta { checksum: TxChecksum::None, gso: gso(536, GsoType::TcpV6) },
            TxPacketMeta { checksum: TxChecksum::Partial, gso: gso(0, GsoType::TcpV4) },
        ];
        let lens = (0..=0x1_1000u32).chain([u32::MAX - 1, u32::MAX]);
        let mut accepted = 0;
        for (m, meta) in metas.iter().enumerate() {
            for len in lens.clone().filter(|len| m == 0 || !(16..4080).contains(&(len % 4096))) {
                let copy = TxCopyPlan::new(len, meta);
                let one_chunk = Plan::new([c(0, len)], meta);
                let pages = (0..len.div_ceil(4096)).map(|i| c(0, (len - i * 4096).min(4096)));
                let paged = Plan::new(pages, meta);
                let (copy, one_chunk, paged) = match (copy, one_chunk, paged) {
                    (Ok(a), Ok(b), Ok(p)) => (a, b, p),
                    (a, b, p) => {
                        assert_eq!(a.err(), b.err(), "{len} {meta:?}");
                        assert_eq!(a.err(), p.err(), "{len} {meta:?}");
                        assert!(a.is_err(), "{len} {meta:?}");
                        continue;
                    }
                };
                accepted += 1;
                assert_eq!(copy.total_len(), one_chunk.total_len());
                assert_eq!((copy.data_slots(), copy.ring_slots()), (one_chunk.slots().len(), one_chunk.ring_slots()));
                assert_eq!(copy.requests().collect::<Vec<_>>(), one_chunk.requests().collect::<Vec<_>>(), "{len}");
                assert_eq!(copy.data(copy.data_slots()), None);
                let wire = |r: PlannedRequest| match r {
                    PlannedRequest::Data(d) => d.request(7, 99),
                    PlannedRequest::Extra(e) => e,
                };
                assert_eq!(
                    copy.requests().map(wire).collect::<Vec<_>>(),
                    paged.requests().map(wire).collect::<Vec<_>>(),
                    "{len}"
                );
                let starts =
                    |p: &Plan| p.slots().iter().map(|s| s.chunk as u32 * 4096 + s.chunk_offset).collect::<Vec<_>>();
                let copy_starts = copy.requests().filter_map(|r| match r {
                    PlannedRequest::Data(d) => Some(d.slot.chunk_offset),
                    PlannedRequest::Extra(_) => None,
                });
                assert_eq!(copy_starts.collect::<Vec<_>>(), starts(&paged), "{len}");
            }
        }
        // Every length from 14 to 65535 without offloads; with each of the 4
        // other accepted metas, 14 and 15, the 16 lengths on either side of
        // the 15 inner page boundaries, and the 16 below 65536.
        assert_eq!(accepted, (0x10000 - 14) + 4 * (2 + 15 * 32 + 16));
    }

    /// The limit is what keeps a plan within what backends take: 19 data
    /// slots still pass our backend (1 + XEN_NETBK_LEGACY_SLOTS_MAX), 20 are
    /// dropped.
    #[test]
    fn slot_limit_matches_the_backend() {
        let chunks = |n: usize| (0..n).map(|_| c(0, 100)).collect::<Vec<_>>();
        for (n, accepted) in [(19usize, true), (20, false)] {
            let plan = TxPlan::<20>::new(chunks(n), &plain()).unwrap();
            let mut ids = TxIdTable::<256>::new();
            let mut back = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
            push(&plan, &mut ids, back.ring_mut());
            let v = TxAssembler::new(TxConfig::default()).poll(&mut back, &mut Unlimited);
            assert_eq!(v == TxPoll::Verdict(TxVerdict::Accept), accepted, "{n}: {v:?}");
            assert!(n <= TX_MAX_PACKET_SLOTS || !accepted);
        }
    }

    #[test]
    fn ids_exhaust_and_are_reused() {
        let mut t = TxIdTable::<4>::new();
        assert_eq!(t.capacity(), 4);
        let got: Vec<_> = (0..4).map(|i| t.claim(TxGrant::PerPacket(10 + i)).unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(t.claim(TxGrant::PerPacket(99)), None);
        assert_eq!(t.in_flight(), 0);
        t.publish();
        assert_eq!((t.free_ids(), t.in_flight()), (0, 4));
        let done = t.complete(TxResponse { id: 2, status: NETIF_RSP_ERROR }, |g| g == 12).unwrap();
        assert_eq!(done, TxCompletion::Slot { id: 2, grant: TxGrant::PerPacket(12), status: TxStatus::Error });
        assert_eq!(t.claim(staged(7)), Some(2));
        t.publish();
        // Staged pages are never ended.
        let done = t.complete(TxResponse { id: 2, status: NETIF_RSP_DROPPED }, |_| panic!("staged page revoked"));
        assert_eq!(done, Ok(TxCompletion::Slot { id: 2, grant: staged(7), status: TxStatus::Dropped }));
        let done = t.complete(TxResponse { id: 0, status: 5 }, |_| true);
        assert_eq!(done, Ok(TxCompletion::Slot { id: 0, grant: TxGrant::PerPacket(10), status: TxStatus::Other(5) }));
        assert_eq!((t.free_ids(), t.in_flight()), (2, 2));
        assert!(!t.is_broken());
    }

    /// With more array entries than 16-bit ids, the end-of-list marker is
    /// never taken for an id.
    #[test]
    fn ids_stay_16_bit_with_a_larger_table() {
        let t = std::thread::Builder::new().stack_size(64 << 20).spawn(|| {
            let mut t = std::boxed::Box::new(TxIdTable::<70_000>::new());
            assert_eq!(t.capacity(), 65_535);
            for i in 0..65_535u32 {
                assert_eq!(t.claim(TxGrant::PerPacket(i)), Some(i as u16));
            }
            assert_eq!(t.claim(TxGrant::PerPacket(0)), None);
            t.publish();
            assert_eq!(t.in_flight(), 65_535);
            assert_eq!(t.complete(TxResponse { id: 65_535, status: 0 }, |_| true), Err(TxResponseError::BadId(65_535)));
            let mut n = 0;
            t.reset(|_, _| n += 1);
            assert_eq!(n, 65_535);
        });
        t.unwrap().join().unwrap();
    }

    #[test]
    fn double_and_unknown_responses_break_the_table() {
        let setup = || {
            let mut t = TxIdTable::<8>::new();
            t.claim(TxGrant::PerPacket(1)).unwrap();
            t.publish();
            t.claim(TxGrant::PerPacket(2)).unwrap(); // claimed, not published
            t
        };
        let ok = |t: &mut TxIdTable<8>| t.complete(TxResponse { id: 0, status: 0 }, |_| true);
        let cases = [
            (TxResponse { id: 8, status: 0 }, TxResponseError::BadId(8)),
            (TxResponse { id: 0xFFFF, status: 0 }, TxResponseError::BadId(0xFFFF)),
            (TxResponse { id: 5, status: 0 }, TxResponseError::NotInFlight(5)),
            (TxResponse { id: 1, status: 0 }, TxResponseError::NotInFlight(1)),
            (TxResponse { id: 0, status: NETIF_RSP_NULL }, TxResponseError::UnexpectedNull),
        ];
        for (rsp, err) in cases {
            let mut t = setup();
            assert_eq!(t.complete(rsp, |_| true), Err(err));
            assert!(t.is_broken());
            assert_eq!(ok(&mut t), Err(TxResponseError::Broken));
            assert_eq!(t.claim(TxGrant::PerPacket(3)), None);
        }
        // An answered id answered again.
        let mut t = setup();
        assert!(ok(&mut t).is_ok());
        assert_eq!(ok(&mut t), Err(TxResponseError::NotInFlight(0)));
    }

    #[test]
    fn null_responses_ignore_the_id_and_are_counted() {
        let mut t = TxIdTable::<8>::new();
        t.claim(TxGrant::PerPacket(1)).unwrap();
        t.claim_extra();
        assert_eq!(t.nulls_owed(), 0, "not owed before publication");
        t.publish();
        assert_eq!(t.nulls_owed(), 1);
        // Stale id bytes in a NULL response (C netback leaves them) are ignored.
        assert_eq!(t.complete(TxResponse { id: 0xBEEF, status: NETIF_RSP_NULL }, |_| true), Ok(TxCompletion::Null));
        assert_eq!(
            t.complete(TxResponse { id: 0, status: NETIF_RSP_NULL }, |_| true),
            Err(TxResponseError::UnexpectedNull)
        );
    }

    #[test]
    fn grant_still_mapped_leaks_the_id_until_reset() {
        let mut t = TxIdTable::<4>::new();
        let a = t.claim(TxGrant::PerPacket(40)).unwrap();
        let b = t.claim(staged(41)).unwrap();
        t.publish();
        let c = t.claim(TxGrant::PerPacket(42)).unwrap();
        assert_eq!(
            t.complete(TxResponse { id: a, status: 0 }, |_| false),
            Err(TxResponseError::GrantStillMapped { id: a, gref: 40 })
        );
        assert!(t.is_broken());
        assert_eq!(t.free_ids(), 1);
        let mut released = Vec::new();
        t.reset(|id, g| released.push((id, g)));
        assert_eq!(released, [(a, TxGrant::PerPacket(40)), (b, staged(41)), (c, TxGrant::PerPacket(42))]);
        assert!(!t.is_broken());
        assert_eq!((t.free_ids(), t.in_flight(), t.nulls_owed()), (4, 0, 0));
    }

    #[test]
    fn abandon_returns_claimed_ids_only() {
        let mut t = TxIdTable::<4>::new();
        let a = t.claim(TxGrant::PerPacket(1)).unwrap();
        t.publish();
        let b = t.claim(TxGrant::PerPacket(2)).unwrap();
        let c = t.claim(staged(3)).unwrap();
        t.claim_extra();
        let mut undone = Vec::new();
        t.abandon(|id, g| undone.push((id, g)));
        undone.sort_by_key(|u| u.0);
        assert_eq!(undone, [(b, TxGrant::PerPacket(2)), (c, staged(3))]);
        t.publish();
        assert_eq!((t.free_ids(), t.in_flight(), t.nulls_owed()), (3, 1, 0));
        assert!(t.complete(TxResponse { id: a, status: 0 }, |_| true).is_ok());
        assert_eq!(t.complete(TxResponse { id: b, status: 0 }, |_| true), Err(TxResponseError::NotInFlight(b)));
    }

    /// Random claims, publications and (possibly hostile) responses against a
    /// plain model of which ids are in flight.
    #[test]
    fn random_id_traffic_matches_a_model() {
        let mut rng = Lcg(77);
        for _ in 0..300 {
            let mut t = TxIdTable::<16>::new();
            let mut model: std::collections::BTreeMap<u16, bool> = Default::default(); // id -> published
            let mut nulls = 0u32;
            let mut pending_extras = 0u32;
            for _ in 0..200 {
                match rng.next() % 6 {
                    0 | 1 => {
                        let r = t.claim(TxGrant::PerPacket(rng.next() as u32));
                        assert_eq!(r.is_some(), model.len() < 16);
                        if let Some(id) = r {
                            assert!(model.insert(id, false).is_none());
                        }
                        if rng.next().is_multiple_of(4) {
                            t.claim_extra();
                            pending_extras += 1;
                        }
                    }
                    2 => {
                        t.publish();
                        model.values_mut().for_each(|p| *p = true);
                        nulls += pending_extras;
                        pending_extras = 0;
                    }
                    _ => {
                        let null = rng.next().is_multiple_of(5);
                        let id = if rng.next().is_multiple_of(8) {
                            (rng.next() % 20) as u16
                        } else {
                            model.keys().nth((rng.next() % 16) as usize).copied().unwrap_or(0)
                        };
                        let status = if null { NETIF_RSP_NULL } else { 0 };
                        let r = t.complete(TxResponse { id, status }, |_| true);
                        let good = if null { nulls > 0 } else { model.get(&id) == Some(&true) };
                        assert_eq!(r.is_ok(), good, "{id} {null} {model:?}");
                        if !good {
                            break;
                        }
                        if null {
                            nulls -= 1;
                        } else {
                            model.remove(&id);
                        }
                    }
                }
                assert_eq!(t.free_ids() + model.len(), 16);
                assert_eq!(t.in_flight(), model.values().filter(|p| **p).count());
                assert_eq!(t.nulls_owed(), nulls);
            }
        }
    }
}

//! Guest RX, frontend side: posting receive buffers and turning the
//! backend's RX responses into packets (Linux netfront's
//! `xennet_alloc_rx_buffers`, `xennet_move_rx_slot`, `xennet_get_extras`,
//! `xennet_get_responses` and the checks of `xennet_poll`).
//!
//! - [`RxBuffers`] tracks the buffer posted under each request id: the
//!   page as the staging pool handed it out ([`TakenPage`]: its gref, and
//!   its place in the pool and in the shell's table of the same grants), so
//!   the shell reaches a received slot's page without a search. As in
//!   Linux, the request at ring index `i` gets id `i & (size - 1)`, and the
//!   response at index `i` (the backend answers each request at its own
//!   index) consumes the buffer of that id, whatever the response's `id`
//!   field says.
//! - [`RxPacketReader::poll`] takes responses from the [`FrontRing`] until
//!   one packet is complete, and accepts it ([`RxPoll::Packet`]: an
//!   [`RxPacket`] of data slots, checksum state, GSO, hash and length, which
//!   the reader built in place and [`RxPacketReader::packet`] shows) or
//!   rejects it ([`RxRejected`]: a reason and the buffers to repost). Every
//!   slot of a packet is consumed either way, so one bad packet never
//!   desynchronises the ring.
//!
//! Nothing the backend writes is trusted: ring indices are checked by
//! [`FrontRing`] (XSA-403), and every slot here. A packet's layout is one
//! data slot, then its extra-info slots if that slot has
//! `NETRXF_EXTRA_INFO` (chained by `XEN_NETIF_EXTRA_FLAG_MORE`), then more
//! data slots while the previous data slot has `NETRXF_MORE_DATA`. A
//! packet whose chain runs past the responses available is rejected
//! ([`RxReject::Incomplete`]): backends publish responses only for whole
//! packets, and Linux netfront rejects it too.
//!
//! # Checks, against Linux netfront
//!
//! The reason reported is the first problem found, in slot order (the first
//! data slot is checked after its extras, which may carry the XDP headroom).
//!
//! | Condition | Linux netfront | here |
//! |---|---|---|
//! | data slot `status < 0` (e.g. a failed grant copy) | error | [`RxReject::SlotError`] |
//! | `offset + status > 4096` | error | [`RxReject::SlotOutOfPage`] |
//! | data slot without data (`status == 0`) | accepted | [`RxReject::EmptySlot`] (stricter) |
//! | no buffer posted under the slot's id | error ("Bad rx response id") | [`RxReject::BufferNotPosted`] |
//! | response `id` is not `index & (size - 1)` | ignored | [`RxReject::IdMismatch`] (stricter) |
//! | more than 18 data slots (19 if the first holds at most 256 bytes) | error | [`RxReject::TooManySlots`] |
//! | extra type 0 or unknown | error | [`RxReject::BadExtraType`] |
//! | two extras of one type | the last one wins | [`RxReject::DuplicateExtra`] (stricter) |
//! | GSO size 0, GSO type not TCPv4/TCPv6 | error | [`RxReject::BadGso`] |
//! | XDP headroom of a page or more | (see below) | [`RxReject::BadXdpHeadroom`] |
//! | chain runs past `rsp_prod` | error ("Missing extra info", "Need more slots") | [`RxReject::Incomplete`] |
//! | packet shorter than an Ethernet header | dropped after assembly | [`RxReject::TooShort`] |
//! | HASH extra of an unknown hash type | (hash extras unused) | packet accepted without a hash |
//! | MCAST_ADD/DEL extra (a TX-only request) | ignored | ignored |
//!
//! **XDP headroom.** A backend told `xdp-headroom` leaves that many bytes
//! before the data of every data slot and reports `status` = headroom +
//! bytes with `offset` 0 (Linux netback `xenvif_rx_data_slot`, and
//! `rx.rs`). This module follows that layout: with an XDP extra of headroom
//! `h`, a data slot's bytes are `[offset + h, offset + status)`. Linux
//! netfront instead moves only the first slot's offset to `h` and keeps
//! `status` as its length, which with that layout reads `h` bytes past the
//! data; this module does not copy that.
//!
//! Left to the shell: ending foreign access on each delivered buffer's grant
//! (a grant still in use by the backend is fatal: netfront's "Grant still in
//! use by backend domain"), building the skb within its frag limit (Linux
//! drops a packet whose slots do not fit, `xennet_fill_frags`), and the
//! checksum fix-up of GSO packets without `NETRXF_CSUM_BLANK`
//! (`checksum_setup`).
//!
//! # Shell loop
//!
//! ```
//! use netif::front_ring::FrontRing;
//! use netif::front_rx::{RxBuffers, RxPacketReader, RxPoll};
//! use netif::front_staging::{PoolPage, StagingPool};
//! use netif::ring::MemRing;
//! use netif::wire::*;
//!
//! // The shell's FrontSharedRing impl wraps the granted page; MemRing stands in.
//! let mut ring = FrontRing::new(MemRing::<RxRequest, RxResponse, 256>::new()).unwrap();
//! let mut bufs = RxBuffers::<256>::new();
//! // Pages granted writable to the backend, in the queue's pool.
//! let mut pool = StagingPool::<[PoolPage; 256]>::new();
//! for gref in 1000..1256 {
//!     pool.add_page(gref, false).unwrap();
//! }
//! pool.use_unregistered().unwrap();
//! while ring.free_requests() > 0 {
//!     let Some(page) = pool.take_rx() else { break };
//!     let id = bufs.post(&mut ring, page).unwrap(); // the page is now "rx_skbs[id]"
//!     # let _ = id;
//! }
//! let _notify = ring.push_requests_and_check_notify();
//! let mut reader = RxPacketReader::new();
//! loop {
//!     match reader.poll(&mut ring, &mut bufs) {
//!         Ok(RxPoll::Packet) => {
//!             let pkt = reader.packet(); // read in place, until the next poll
//!             for slot in pkt.data_slots() {
//!                 // copy slot.len bytes at slot.offset out of the page at slot.page.index
//!                 if let Some(page) = bufs.release(slot.id) {
//!                     let _ = pool.give_back_page(page); // or repost it under a new id
//!                 }
//!             }
//!             for id in pkt.extra_ids() {
//!                 let _new_id = bufs.repost(&mut ring, id); // move the page to the new id
//!             }
//!             // deliver pkt.info (len, csum, gso, hash)
//!         }
//!         Ok(RxPoll::Rejected(bad)) => {
//!             for id in bad.ids() {
//!                 let _new_id = bufs.repost(&mut ring, id);
//!             }
//!             // rx_errors += 1; reader.counters() has the reasons
//!         }
//!         Ok(RxPoll::Empty) => break,
//!         Err(_broken) => break, // the backend broke the ring: disable the device
//!     }
//! }
//! let _notify = ring.push_requests_and_check_notify();
//! let _more = ring.final_check_for_responses(); // reschedule NAPI if Ok(true)
//! ```

use super::front_ring::{FrontRing, FrontRingError, FrontSharedRing};
use super::front_staging::TakenPage;
use super::rx::{RxCsum, RxHash, RxPacketInfo};
use super::wire::{
    ExtraInfo, ExtraInfoRaw, GsoType, RxRequest, RxResponse, ETH_HLEN, NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED,
    NETRXF_EXTRA_INFO, NETRXF_MORE_DATA, XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT,
    XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT, XEN_NETIF_NR_SLOTS_MIN, XEN_PAGE_SIZE,
};

/// Linux netfront's `RX_COPY_THRESHOLD`: a first slot of at most this many
/// bytes is copied into the skb's linear area, so it takes no frag and the
/// packet may have one more data slot.
pub const RX_COPY_THRESHOLD: u32 = 256;

/// Received packets up to this many bytes (an MTU-sized frame) are copied
/// into the skb's head alone; larger ones (jumbo, GSO) keep their first
/// [`RX_COPY_THRESHOLD`] bytes there and the rest in page frags.
pub const RX_LINEAR_MAX: u32 = 2048;

/// Whether a queue's received traffic is bulk (packets mostly over
/// [`RX_LINEAR_MAX`], whose pages are worth handing to the stack) or small
/// packets (copied into the skb's head whatever the page): an average of
/// the recent packets' lengths, each weighing 1/8, so one odd packet does
/// not flip it and a change of traffic does within a few dozen packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxSizeTracker {
    avg: u32,
}

impl RxSizeTracker {
    /// No packet seen: small.
    pub const fn new() -> Self {
        RxSizeTracker { avg: 0 }
    }

    /// Counts a received packet of `len` bytes.
    pub fn add(&mut self, len: u32) {
        // A packet is at most MAX_RX_SLOTS pages: the sum cannot overflow.
        let len = len.min(MAX_RX_SLOTS as u32 * XEN_PAGE_SIZE);
        self.avg = self.avg - self.avg / 8 + len / 8;
    }

    /// Whether the recent packets average over [`RX_LINEAR_MAX`] bytes.
    pub const fn is_bulk(&self) -> bool {
        self.avg > RX_LINEAR_MAX
    }
}

/// Data slots a packet may have: `XEN_NETIF_NR_SLOTS_MIN` (18), one more
/// when the first slot holds at most [`RX_COPY_THRESHOLD`] bytes; Linux
/// netfront's limit in `xennet_get_responses`.
pub const MAX_RX_SLOTS: usize = XEN_NETIF_NR_SLOTS_MIN as usize + 1;

// A packet's length is the sum of at most MAX_RX_SLOTS slots of at most a
// page each: it fits in a u32 and cannot overflow.
const _: () = assert!((MAX_RX_SLOTS as u64) * (XEN_PAGE_SIZE as u64) <= u32::MAX as u64);

/// What [`RxBuffers`] holds under one id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BufState {
    /// No buffer.
    Free,
    /// Posted to the backend: this page.
    Posted(TakenPage),
    /// Its response was consumed; the shell has not released or reposted it.
    Received(TakenPage),
}

/// Error from posting a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxBufferError {
    /// The ring's size is not `N` (shell bug).
    SizeMismatch {
        /// The ring's size.
        ring: u32,
        /// `N`.
        buffers: u32,
    },
    /// The id of the next ring index still holds a buffer: a response
    /// consumed a full ring ago was neither released nor reposted (shell bug).
    IdInUse(u16),
    /// The ring is full (repost or post only after consuming responses) or broken.
    Ring(FrontRingError),
}

impl RxBufferError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            RxBufferError::SizeMismatch { .. } => "RX buffer table size differs from the ring size",
            RxBufferError::IdInUse(_) => "RX buffer id still holds an unreleased buffer",
            RxBufferError::Ring(e) => e.description(),
        }
    }
}

/// The guest-RX buffers posted on a ring of `N` entries (Linux netfront's
/// `rx_skbs[]` and `grant_rx_ref[]`): per id, the page's grant reference
/// and its place in the shell's gref-sorted table of granted pages
/// ([`TakenPage`]), which the shell reads the page at. `N` must be a power of two
/// of at most 65536 (ids are 16 bits), checked at compile time, and equal
/// to the ring's size, checked at every post.
///
/// Per id: free -> posted ([`RxBuffers::post`]) -> received (its response
/// was consumed by [`RxPacketReader::poll`]) -> free again, either
/// released to the stack ([`RxBuffers::release`]) or reposted under a new
/// id ([`RxBuffers::repost`]).
///
/// ```compile_fail
/// let _ = netif::front_rx::RxBuffers::<6>::new(); // not a power of two
/// ```
#[derive(Clone, Debug)]
pub struct RxBuffers<const N: usize> {
    state: [BufState; N],
    posted: u32,
    received: u32,
}

impl<const N: usize> Default for RxBuffers<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RxBuffers<N> {
    const SIZE_IS_A_RING_SIZE: () =
        assert!(N.is_power_of_two() && N <= 1 << 16, "RxBuffers: N must be a power of two <= 65536");

    /// No buffer posted.
    pub const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::SIZE_IS_A_RING_SIZE;
        RxBuffers { state: [BufState::Free; N], posted: 0, received: 0 }
    }

    /// The id of ring index `index`: `index & (N - 1)` (`xennet_rxidx`).
    pub const fn id_of(index: u32) -> u16 {
        // N <= 65536, so the masked index fits in 16 bits.
        (index & (N as u32).wrapping_sub(1)) as u16
    }

    fn state_mut(&mut self, id: u16) -> Option<&mut BufState> {
        self.state.get_mut(usize::from(id) & N.wrapping_sub(1))
    }

    fn state(&self, id: u16) -> BufState {
        self.state.get(usize::from(id) & N.wrapping_sub(1)).copied().unwrap_or(BufState::Free)
    }

    /// Buffers posted and not yet answered.
    pub const fn posted(&self) -> u32 {
        self.posted
    }

    /// Buffers whose response was consumed and that were neither released
    /// nor reposted yet.
    pub const fn received(&self) -> u32 {
        self.received
    }

    /// Whether a buffer is posted under `id`.
    pub fn is_posted(&self, id: u16) -> bool {
        matches!(self.state(id), BufState::Posted(_))
    }

    /// Posts `page` (the request names its gref) at the ring's next request
    /// index, under id `index & (N - 1)`, which is returned
    /// (`xennet_alloc_rx_buffers` for one buffer). The request is produced,
    /// not published: call [`FrontRing::push_requests_and_check_notify`]
    /// after a batch.
    pub fn post<R>(&mut self, ring: &mut FrontRing<R>, page: TakenPage) -> Result<u16, RxBufferError>
    where
        R: FrontSharedRing<Request = RxRequest, Response = RxResponse>,
    {
        let size = ring.size();
        if usize::try_from(size).ok() != Some(N) {
            return Err(RxBufferError::SizeMismatch { ring: size, buffers: u32::try_from(N).unwrap_or(u32::MAX) });
        }
        if let Some(e) = ring.broken() {
            return Err(RxBufferError::Ring(e));
        }
        if ring.is_full() {
            return Err(RxBufferError::Ring(FrontRingError::Full));
        }
        let id = Self::id_of(ring.req_prod_pvt());
        if self.state(id) != BufState::Free {
            return Err(RxBufferError::IdInUse(id));
        }
        ring.push_request(RxRequest { id, pad: 0, gref: page.gref }).map_err(RxBufferError::Ring)?;
        if let Some(s) = self.state_mut(id) {
            *s = BufState::Posted(page);
        }
        self.posted = self.posted.saturating_add(1);
        Ok(id)
    }

    /// Reposts the received buffer of `id` (an extra-info slot's, or one of
    /// a rejected packet) with the same page at the ring's next request
    /// index (`xennet_move_rx_slot`); returns its new id, under which the
    /// buffer is now kept. `Ok(None)` if `id` holds no received
    /// buffer (e.g. a rejected packet's slot that had no buffer posted).
    /// On error the buffer stays received under `id`.
    pub fn repost<R>(&mut self, ring: &mut FrontRing<R>, id: u16) -> Result<Option<u16>, RxBufferError>
    where
        R: FrontSharedRing<Request = RxRequest, Response = RxResponse>,
    {
        let BufState::Received(page) = self.state(id) else {
            return Ok(None);
        };
        // Free the old id first: the new index may map to the same id.
        self.release(id);
        match self.post(ring, page) {
            Ok(new_id) => Ok(Some(new_id)),
            Err(e) => {
                if let Some(s) = self.state_mut(id) {
                    *s = BufState::Received(page);
                }
                self.received = self.received.saturating_add(1);
                Err(e)
            }
        }
    }

    /// The page of the received buffer of `id`; `None` if `id` holds no
    /// received buffer.
    pub fn received_page(&self, id: u16) -> Option<TakenPage> {
        match self.state(id) {
            BufState::Received(page) => Some(page),
            _ => None,
        }
    }

    /// Frees the received buffer of `id` (a delivered data slot's: its page
    /// goes to the stack, or back to the pool) and returns the page.
    /// `None` if `id` holds no received buffer.
    pub fn release(&mut self, id: u16) -> Option<TakenPage> {
        let s = self.state_mut(id)?;
        let BufState::Received(page) = *s else {
            return None;
        };
        *s = BufState::Free;
        self.received = self.received.saturating_sub(1);
        Some(page)
    }

    /// Marks the posted buffer of `id` received (its response arrived) and
    /// returns its page; `None` if no buffer is posted under `id`.
    fn take(&mut self, id: u16) -> Option<TakenPage> {
        let s = self.state_mut(id)?;
        let BufState::Posted(page) = *s else {
            return None;
        };
        *s = BufState::Received(page);
        self.posted = self.posted.saturating_sub(1);
        self.received = self.received.saturating_add(1);
        Some(page)
    }

    /// Frees every buffer, posted or received, yielding `(id, page)` for
    /// each (at disconnect: the shell revokes the grants and frees the pages).
    pub fn drain(&mut self) -> RxBufferDrain<'_, N> {
        RxBufferDrain { buffers: self, next: 0 }
    }
}

/// Iterator of [`RxBuffers::drain`].
#[derive(Debug)]
pub struct RxBufferDrain<'a, const N: usize> {
    buffers: &'a mut RxBuffers<N>,
    next: usize,
}

impl<const N: usize> Iterator for RxBufferDrain<'_, N> {
    type Item = (u16, TakenPage);

    fn next(&mut self) -> Option<(u16, TakenPage)> {
        while let Some(s) = self.buffers.state.get_mut(self.next) {
            let id = u16::try_from(self.next).unwrap_or(u16::MAX);
            self.next = self.next.saturating_add(1);
            let old = core::mem::replace(s, BufState::Free);
            match old {
                BufState::Free => {}
                BufState::Posted(page) => {
                    self.buffers.posted = self.buffers.posted.saturating_sub(1);
                    return Some((id, page));
                }
                BufState::Received(page) => {
                    self.buffers.received = self.buffers.received.saturating_sub(1);
                    return Some((id, page));
                }
            }
        }
        None
    }
}

/// Why a packet was rejected (all its slots are consumed and its buffers
/// go back to the backend). See the table in the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RxReject {
    /// A data slot's status is negative (an error, e.g. a failed grant copy).
    SlotError,
    /// A data slot's `offset + status` is past the end of the page.
    SlotOutOfPage,
    /// A data slot holds no data (`status` 0, or not past the XDP headroom).
    EmptySlot,
    /// No buffer is posted under the id of a slot's ring index.
    BufferNotPosted,
    /// A data response's `id` is not its ring index masked to the ring size.
    IdMismatch,
    /// More data slots than [`MAX_RX_SLOTS`] allows.
    TooManySlots,
    /// An extra-info slot of type 0 or of an unknown type.
    BadExtraType,
    /// Two extra-info slots of one type.
    DuplicateExtra,
    /// A GSO extra with size 0 or a type other than TCPv4/TCPv6.
    BadGso,
    /// An XDP extra whose headroom is a page or more.
    BadXdpHeadroom,
    /// The packet's chain runs past the responses available.
    Incomplete,
    /// The packet is shorter than an Ethernet header.
    TooShort,
}

impl RxReject {
    /// Number of reasons.
    pub const COUNT: usize = 12;

    /// Every reason, in [`RxReject::index`] order.
    pub const ALL: [RxReject; RxReject::COUNT] = [
        RxReject::SlotError,
        RxReject::SlotOutOfPage,
        RxReject::EmptySlot,
        RxReject::BufferNotPosted,
        RxReject::IdMismatch,
        RxReject::TooManySlots,
        RxReject::BadExtraType,
        RxReject::DuplicateExtra,
        RxReject::BadGso,
        RxReject::BadXdpHeadroom,
        RxReject::Incomplete,
        RxReject::TooShort,
    ];

    /// A dense index `< COUNT` (for counter arrays).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A fixed description for logging.
    pub const fn description(self) -> &'static str {
        match self {
            RxReject::SlotError => "rx slot with an error status",
            RxReject::SlotOutOfPage => "rx slot offset + size past the page",
            RxReject::EmptySlot => "rx slot without data",
            RxReject::BufferNotPosted => "rx response for a buffer not posted",
            RxReject::IdMismatch => "rx response id does not match its ring index",
            RxReject::TooManySlots => "too many rx slots",
            RxReject::BadExtraType => "invalid rx extra type",
            RxReject::DuplicateExtra => "duplicate rx extra",
            RxReject::BadGso => "bad rx GSO size or type",
            RxReject::BadXdpHeadroom => "rx XDP headroom of a page or more",
            RxReject::Incomplete => "rx packet runs past the responses available",
            RxReject::TooShort => "rx packet shorter than an Ethernet header",
        }
    }
}

/// Rejected packets per [`RxReject`] reason (for ethtool-style statistics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRejectCounters {
    counts: [u64; RxReject::COUNT],
}

impl RxRejectCounters {
    /// Counts one rejection.
    pub fn record(&mut self, reason: RxReject) {
        if let Some(c) = self.counts.get_mut(reason.index()) {
            *c = c.wrapping_add(1);
        }
    }

    /// Rejections for `reason`.
    pub fn get(&self, reason: RxReject) -> u64 {
        self.counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.wrapping_add(c))
    }

    /// `(reason, count)` for every reason.
    pub fn iter(&self) -> impl Iterator<Item = (RxReject, u64)> + '_ {
        RxReject::ALL.iter().map(move |&r| (r, self.get(r)))
    }
}

/// One data slot of an accepted packet: `len` bytes at `offset` in the page
/// of buffer `id` (`offset + len <= 4096`, `len >= 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxDataSlot {
    /// The buffer's id (= its ring index masked to the ring size).
    pub id: u16,
    /// The buffer's page, as posted (the shell copies out of it by its place).
    pub page: TakenPage,
    /// Offset of the data in the page.
    pub offset: u16,
    /// Bytes of data.
    pub len: u16,
}

impl RxDataSlot {
    /// Filler for the unused part of a packet's slot array.
    const UNUSED: RxDataSlot = RxDataSlot { id: 0, page: TakenPage { gref: 0, index: 0 }, offset: 0, len: 0 };
}

/// Buffer ids of consecutive ring indices (the ids to repost).
#[derive(Clone, Debug)]
pub struct RxIds {
    next: u32,
    remaining: u32,
    mask: u32,
}

impl Iterator for RxIds {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        if self.remaining == 0 {
            return None;
        }
        // The mask is at most 0xFFFF (RxBuffers' N <= 65536).
        let id = (self.next & self.mask) as u16;
        self.next = self.next.wrapping_add(1);
        self.remaining -= 1;
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

/// A packet accepted from the backend, read where the reader built it
/// ([`RxPacketReader::packet`]).
#[derive(Clone)]
pub struct RxPacket {
    /// Length (sum of the data slots), checksum state (from the first
    /// slot's flags: `NETRXF_CSUM_BLANK` -> partial, else
    /// `NETRXF_DATA_VALIDATED` -> unnecessary), GSO (validated) and hash
    /// (`None` for an unknown hash type).
    pub info: RxPacketInfo,
    /// The XDP headroom the backend reported (0 without an XDP extra); the
    /// data slots already start past it.
    pub xdp_headroom: u16,
    first_index: u32,
    ring_slots: u32,
    extra_slots: u32,
    mask: u32,
    /// The data slots in the first `slot_count` entries; the rest are left
    /// over from earlier packets.
    slots: [RxDataSlot; MAX_RX_SLOTS],
    slot_count: usize,
}

// By hand: what is left past `slot_count` is no part of the packet. (The
// fields are spelled out so that one added later is not missed.)
impl PartialEq for RxPacket {
    fn eq(&self, other: &Self) -> bool {
        let RxPacket { info, xdp_headroom, first_index, ring_slots, extra_slots, mask, slots: _, slot_count: _ } = self;
        (info, xdp_headroom, first_index, ring_slots, extra_slots, mask)
            == (
                &other.info,
                &other.xdp_headroom,
                &other.first_index,
                &other.ring_slots,
                &other.extra_slots,
                &other.mask,
            )
            && self.data_slots() == other.data_slots()
    }
}

impl Eq for RxPacket {}

impl core::fmt::Debug for RxPacket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RxPacket")
            .field("info", &self.info)
            .field("xdp_headroom", &self.xdp_headroom)
            .field("first_index", &self.first_index)
            .field("ring_slots", &self.ring_slots)
            .field("extra_slots", &self.extra_slots)
            .field("data_slots", &self.data_slots())
            .finish()
    }
}

impl RxPacket {
    /// The data slots in order (1 ..= [`MAX_RX_SLOTS`]). Their buffers are
    /// received: the shell releases each ([`RxBuffers::release`]).
    pub fn data_slots(&self) -> &[RxDataSlot] {
        self.slots.get(..self.slot_count).unwrap_or(&[])
    }

    /// The ids of the extra-info slots' buffers, which carried no data: the
    /// shell reposts them ([`RxBuffers::repost`]).
    pub fn extra_ids(&self) -> RxIds {
        RxIds { next: self.first_index.wrapping_add(1), remaining: self.extra_slots, mask: self.mask }
    }

    /// The ids of every slot of the packet (data and extras), in ring
    /// order: a shell that keeps its pages reposts each of them
    /// ([`RxBuffers::repost`]) in this order, which gives each buffer its
    /// own id back (any other order can find the next index's id still
    /// held by a buffer not yet reposted).
    pub fn ids(&self) -> RxIds {
        RxIds { next: self.first_index, remaining: self.ring_slots, mask: self.mask }
    }

    /// Ring index of the packet's first slot.
    pub fn first_index(&self) -> u32 {
        self.first_index
    }

    /// Ring slots (responses) the packet took: data slots plus extras.
    pub fn ring_slots(&self) -> u32 {
        self.ring_slots
    }
}

/// A packet rejected: all its ring slots were consumed; their buffers go
/// back to the backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxRejected {
    /// The first problem found.
    pub reason: RxReject,
    first_index: u32,
    ring_slots: u32,
    mask: u32,
}

impl RxRejected {
    /// The ids of every slot of the packet: the shell reposts each
    /// ([`RxBuffers::repost`]; an id that had no buffer posted yields `None`).
    pub fn ids(&self) -> RxIds {
        RxIds { next: self.first_index, remaining: self.ring_slots, mask: self.mask }
    }

    /// Ring index of the packet's first slot.
    pub fn first_index(&self) -> u32 {
        self.first_index
    }

    /// Ring slots (responses) the packet took.
    pub fn ring_slots(&self) -> u32 {
        self.ring_slots
    }
}

/// The outcome of [`RxPacketReader::poll`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RxPoll {
    /// A packet to deliver: [`RxPacketReader::packet`], until the next poll.
    Packet,
    /// A packet to drop (counted in [`RxPacketReader::counters`]).
    Rejected(RxRejected),
    /// No response is pending.
    Empty,
}

/// What the next slot of a packet in assembly is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Extra,
    Data,
}

/// Whether a packet needs more slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    More,
    Done,
}

/// One packet being assembled from consecutive responses, in place: the
/// reader keeps one for good, so a packet's slot array is neither zeroed
/// nor moved per packet, and an accepted packet is read where it was built.
#[derive(Clone, Debug)]
struct Assembly {
    /// The packet so far (`info.csum` is set once it is accepted).
    pkt: RxPacket,
    first: RxResponse,
    first_page: Option<TakenPage>,
    expect: Expect,
    data_slots: u32,
    max_data_slots: u32,
    extras_seen: u8,
    reject: Option<RxReject>,
}

impl Assembly {
    const fn new() -> Self {
        Assembly {
            pkt: RxPacket {
                info: RxPacketInfo { len: 0, gso: None, hash: None, csum: RxCsum::None },
                xdp_headroom: 0,
                first_index: 0,
                ring_slots: 0,
                extra_slots: 0,
                mask: 0,
                slots: [RxDataSlot::UNUSED; MAX_RX_SLOTS],
                slot_count: 0,
            },
            first: RxResponse { id: 0, offset: 0, flags: 0, status: 0 },
            first_page: None,
            expect: Expect::Extra,
            data_slots: 0,
            max_data_slots: 0,
            extras_seen: 0,
            reject: None,
        }
    }

    /// Starts a packet at its first data slot: every field is set again
    /// but the slot array, of which only the first `slot_count` entries,
    /// written for this packet, are read. (Spelled out field by field, so
    /// that a field added later cannot be missed here.)
    fn start<const N: usize>(&mut self, bufs: &mut RxBuffers<N>, index: u32, rsp: RxResponse) -> Step {
        let Assembly { pkt, first, first_page, expect, data_slots, max_data_slots, extras_seen, reject } = self;
        let RxPacket { info, xdp_headroom, first_index, ring_slots, extra_slots, mask, slots: _, slot_count } = pkt;
        *info = RxPacketInfo { len: 0, gso: None, hash: None, csum: RxCsum::None };
        *xdp_headroom = 0;
        *first_index = index;
        *ring_slots = 1;
        *extra_slots = 0;
        *mask = (N as u32).wrapping_sub(1);
        *slot_count = 0;
        *first = rsp;
        *first_page = bufs.take(RxBuffers::<N>::id_of(index));
        *expect = Expect::Extra;
        *data_slots = 1;
        *max_data_slots = XEN_NETIF_NR_SLOTS_MIN;
        *extras_seen = 0;
        *reject = None;
        if rsp.flags & NETRXF_EXTRA_INFO != 0 {
            Step::More
        } else {
            self.after_extras()
        }
    }

    fn fail(&mut self, reason: RxReject) {
        if self.reject.is_none() {
            self.reject = Some(reason);
        }
    }

    fn id_of(&self, index: u32) -> u16 {
        // The mask is at most 0xFFFF (RxBuffers' N <= 65536).
        (index & self.pkt.mask) as u16
    }

    /// Validates a data response at `index` against the packet's headroom.
    fn data_slot(&self, index: u32, rsp: &RxResponse, page: TakenPage) -> Result<RxDataSlot, RxReject> {
        let id = self.id_of(index);
        if rsp.id != id {
            return Err(RxReject::IdMismatch);
        }
        let status = u32::try_from(rsp.status).map_err(|_| RxReject::SlotError)?;
        // At most 0xFFFF + 0x7FFF: no overflow.
        let end = u32::from(rsp.offset) + status;
        if end > XEN_PAGE_SIZE {
            return Err(RxReject::SlotOutOfPage);
        }
        let start = u32::from(rsp.offset) + u32::from(self.pkt.xdp_headroom);
        if end <= start {
            return Err(RxReject::EmptySlot);
        }
        // start < end <= 4096: both fit in 16 bits.
        let offset = u16::try_from(start).map_err(|_| RxReject::SlotOutOfPage)?;
        let len = u16::try_from(end - start).map_err(|_| RxReject::SlotOutOfPage)?;
        Ok(RxDataSlot { id, page, offset, len })
    }

    fn add_slot(&mut self, slot: RxDataSlot) {
        let pkt = &mut self.pkt;
        if let Some(s) = pkt.slots.get_mut(pkt.slot_count) {
            *s = slot;
            pkt.slot_count += 1;
            // At most MAX_RX_SLOTS pages in total: cannot overflow (see the
            // const assertion above); saturating regardless.
            pkt.info.len = pkt.info.len.saturating_add(u32::from(slot.len));
        } else {
            self.fail(RxReject::TooManySlots);
        }
    }

    /// The extras (if any) are done: checks the first data slot, whose
    /// layout depends on the XDP headroom an extra may have set.
    fn after_extras(&mut self) -> Step {
        self.expect = Expect::Data;
        match self.first_page {
            None => self.fail(RxReject::BufferNotPosted),
            Some(page) => match self.data_slot(self.pkt.first_index, &self.first, page) {
                Ok(slot) => {
                    if u32::from(slot.len) <= RX_COPY_THRESHOLD {
                        self.max_data_slots = XEN_NETIF_NR_SLOTS_MIN + 1;
                    }
                    self.add_slot(slot);
                }
                Err(r) => self.fail(r),
            },
        }
        if self.first.flags & NETRXF_MORE_DATA != 0 {
            Step::More
        } else {
            Step::Done
        }
    }

    fn extra(&mut self, raw: &ExtraInfoRaw) {
        let Some(extra) = raw.parse() else {
            self.fail(RxReject::BadExtraType);
            return;
        };
        // Parsed kinds are 1..=5.
        let bit = 1u8.checked_shl(u32::from(raw.kind)).unwrap_or(0);
        if self.extras_seen & bit != 0 {
            self.fail(RxReject::DuplicateExtra);
            return;
        }
        self.extras_seen |= bit;
        match extra {
            ExtraInfo::Gso { size, gso_type, .. } => match GsoType::from_wire(gso_type) {
                Some(kind) if size != 0 => self.pkt.info.gso = Some((kind, size)),
                _ => self.fail(RxReject::BadGso),
            },
            ExtraInfo::Hash { hash_type, value, .. } => {
                self.pkt.info.hash = match hash_type {
                    XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT => Some(RxHash { value, ipv4: true, l4: false }),
                    XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT => Some(RxHash { value, ipv4: true, l4: true }),
                    XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT => Some(RxHash { value, ipv4: false, l4: false }),
                    XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT => Some(RxHash { value, ipv4: false, l4: true }),
                    // The hash is advisory: an unknown type loses it, not the packet.
                    _ => None,
                }
            }
            ExtraInfo::Xdp { headroom } => {
                if u32::from(headroom) >= XEN_PAGE_SIZE {
                    self.fail(RxReject::BadXdpHeadroom);
                } else {
                    self.pkt.xdp_headroom = headroom;
                }
            }
            // Requests of the TX direction; Linux netfront ignores them here.
            ExtraInfo::McastAdd { .. } | ExtraInfo::McastDel { .. } => {}
        }
    }

    /// Takes the next slot of the packet.
    fn feed<const N: usize>(&mut self, bufs: &mut RxBuffers<N>, index: u32, rsp: RxResponse) -> Step {
        self.pkt.ring_slots = self.pkt.ring_slots.saturating_add(1);
        // Every slot consumes the buffer of its index, data or extra, so
        // that a rejected packet's buffers can all be reposted.
        let page = bufs.take(RxBuffers::<N>::id_of(index));
        match self.expect {
            Expect::Extra => {
                self.pkt.extra_slots = self.pkt.extra_slots.saturating_add(1);
                if page.is_none() {
                    self.fail(RxReject::BufferNotPosted);
                }
                let raw = ExtraInfoRaw::from_rx_response(&rsp);
                self.extra(&raw);
                if raw.more() {
                    Step::More
                } else {
                    self.after_extras()
                }
            }
            Expect::Data => {
                self.data_slots = self.data_slots.saturating_add(1);
                if self.data_slots > self.max_data_slots {
                    self.fail(RxReject::TooManySlots);
                } else {
                    match page {
                        None => self.fail(RxReject::BufferNotPosted),
                        Some(page) => match self.data_slot(index, &rsp, page) {
                            Ok(slot) => self.add_slot(slot),
                            Err(r) => self.fail(r),
                        },
                    }
                }
                if rsp.flags & NETRXF_MORE_DATA != 0 {
                    Step::More
                } else {
                    Step::Done
                }
            }
        }
    }

    fn rejected(&self, reason: RxReject) -> RxRejected {
        let p = &self.pkt;
        RxRejected { reason, first_index: p.first_index, ring_slots: p.ring_slots, mask: p.mask }
    }

    /// The packet's last slot was taken.
    fn finish(&mut self) -> RxPoll {
        if self.reject.is_none() && self.pkt.info.len < u32::from(ETH_HLEN) {
            self.fail(RxReject::TooShort);
        }
        if let Some(reason) = self.reject {
            return RxPoll::Rejected(self.rejected(reason));
        }
        let flags = self.first.flags;
        self.pkt.info.csum = if flags & NETRXF_CSUM_BLANK != 0 {
            RxCsum::Partial
        } else if flags & NETRXF_DATA_VALIDATED != 0 {
            RxCsum::Unnecessary
        } else {
            RxCsum::None
        };
        RxPoll::Packet
    }

    /// The responses ran out before the packet's last slot.
    fn incomplete(&mut self) -> RxPoll {
        self.fail(RxReject::Incomplete);
        let reason = self.reject.unwrap_or(RxReject::Incomplete);
        RxPoll::Rejected(self.rejected(reason))
    }
}

/// Turns guest-RX responses into packets, one per [`RxPacketReader::poll`],
/// and counts the rejected ones. A packet never spans two polls (see
/// [`RxReject::Incomplete`]); the reader assembles each in place, and an
/// accepted one is read there ([`RxPacketReader::packet`]).
#[derive(Clone, Debug)]
pub struct RxPacketReader {
    counters: RxRejectCounters,
    packets: u64,
    assembly: Assembly,
}

impl Default for RxPacketReader {
    fn default() -> Self {
        Self::new()
    }
}

impl RxPacketReader {
    /// A reader with zeroed counters.
    pub const fn new() -> Self {
        Self { counters: RxRejectCounters { counts: [0; RxReject::COUNT] }, packets: 0, assembly: Assembly::new() }
    }

    /// Rejected packets per reason.
    pub fn counters(&self) -> &RxRejectCounters {
        &self.counters
    }

    /// Packets accepted.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The packet the last [`Self::poll`] accepted ([`RxPoll::Packet`]),
    /// until the next poll. After any other outcome it is a packet in
    /// assembly and means nothing.
    pub fn packet(&self) -> &RxPacket {
        &self.assembly.pkt
    }

    /// Consumes the responses of the next packet from `ring`, taking each
    /// slot's buffer out of `bufs`, and returns whether it was accepted
    /// ([`Self::packet`]) or rejected; [`RxPoll::Empty`] when no response is
    /// pending. A ring error (the backend broke the ring, see
    /// [`FrontRing::next_response`]) is returned as is; a packet in assembly
    /// is then abandoned with its buffers received (the device is being
    /// disabled).
    pub fn poll<R, const N: usize>(
        &mut self,
        ring: &mut FrontRing<R>,
        bufs: &mut RxBuffers<N>,
    ) -> Result<RxPoll, FrontRingError>
    where
        R: FrontSharedRing<Request = RxRequest, Response = RxResponse>,
    {
        let Some((index, rsp)) = ring.next_response()? else {
            return Ok(RxPoll::Empty);
        };
        let packet = &mut self.assembly;
        let mut step = packet.start(bufs, index, rsp);
        let outcome = loop {
            if step == Step::Done {
                break packet.finish();
            }
            match ring.next_response()? {
                Some((index, rsp)) => step = packet.feed(bufs, index, rsp),
                None => break packet.incomplete(),
            }
        };
        match &outcome {
            RxPoll::Packet => self.packets = self.packets.wrapping_add(1),
            RxPoll::Rejected(r) => self.counters.record(r.reason),
            RxPoll::Empty => {}
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use core::cell::RefCell;
    use std::vec::Vec;

    use super::super::front_ring::SharedMemRing;
    use super::super::ring::{BackRing, MemRing};
    use super::super::rx::{rx_slots_available, rx_slots_needed, RxConfig, RxPacketWriter, RxStep};
    use super::super::test_rng::Lcg;
    use super::super::wire::{
        XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_TCPV4,
        XEN_NETIF_GSO_TYPE_TCPV6, XEN_NETIF_RX_RING_SIZE,
    };
    use super::*;

    const SIZE: usize = 256;
    type Mem = MemRing<RxRequest, RxResponse, SIZE>;
    type Bufs = RxBuffers<SIZE>;

    fn gref_for(n: u32) -> u32 {
        0x1000_0000 | n
    }

    /// The `n`th page posted: its place is neither its gref's low bits nor
    /// its first id, so a mix-up shows.
    fn page_for(n: u32) -> TakenPage {
        TakenPage { gref: gref_for(n), index: (n as u16).wrapping_add(300) }
    }

    /// A front ring starting at `start` with every slot posted.
    fn posted_ring(start: u32) -> (FrontRing<Mem>, Bufs) {
        let mut m = Mem::new();
        m.req_prod = start;
        m.rsp_prod = start;
        let mut ring = FrontRing::new_at(m, start).unwrap();
        let mut bufs = Bufs::new();
        let mut n = 0;
        while !ring.is_full() {
            bufs.post(&mut ring, page_for(n)).unwrap();
            n += 1;
        }
        ring.push_requests_and_check_notify();
        (ring, bufs)
    }

    /// The backend: writes `rsps` at the shared rsp_prod and publishes them.
    fn respond(ring: &mut FrontRing<Mem>, rsps: &[RxResponse]) {
        let m = ring.ring_mut();
        for r in rsps {
            m.responses[(m.rsp_prod as usize) % SIZE] = *r;
            m.rsp_prod = m.rsp_prod.wrapping_add(1);
        }
    }

    /// A data response for ring index `index`, as netback writes it.
    fn data(index: u32, status: i16, flags: u16) -> RxResponse {
        RxResponse { id: (index as usize % SIZE) as u16, offset: 0, flags, status }
    }

    fn extra(e: ExtraInfo, more: bool) -> RxResponse {
        e.to_raw(more).to_rx_response()
    }

    fn gso(kind: u8, size: u16) -> ExtraInfo {
        ExtraInfo::Gso { size, gso_type: kind, features: 0 }
    }

    fn hash(hash_type: u8, value: u32) -> ExtraInfo {
        ExtraInfo::Hash { hash_type, algorithm: XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8, value }
    }

    /// A poll's outcome with an accepted packet copied out of the reader.
    // Test code: a packet by value keeps the assertions plain.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Outcome {
        Packet(RxPacket),
        Rejected(RxRejected),
        Empty,
    }

    fn outcome<R>(
        reader: &mut RxPacketReader,
        ring: &mut FrontRing<R>,
        bufs: &mut Bufs,
    ) -> Result<Outcome, FrontRingError>
    where
        R: FrontSharedRing<Request = RxRequest, Response = RxResponse>,
    {
        Ok(match reader.poll(ring, bufs)? {
            RxPoll::Packet => Outcome::Packet(reader.packet().clone()),
            RxPoll::Rejected(r) => Outcome::Rejected(r),
            RxPoll::Empty => Outcome::Empty,
        })
    }

    fn packet(p: Result<Outcome, FrontRingError>) -> RxPacket {
        match p {
            Ok(Outcome::Packet(pkt)) => pkt,
            other => panic!("expected a packet: {other:?}"),
        }
    }

    fn rejected(p: Result<Outcome, FrontRingError>) -> RxRejected {
        match p {
            Ok(Outcome::Rejected(r)) => r,
            other => panic!("expected a rejection: {other:?}"),
        }
    }

    /// What the shell does with an outcome: release delivered buffers,
    /// repost the others. Returns the pages released.
    fn settle(ring: &mut FrontRing<Mem>, bufs: &mut Bufs, outcome: &Outcome) -> Vec<TakenPage> {
        let mut released = Vec::new();
        match outcome {
            Outcome::Packet(pkt) => {
                for s in pkt.data_slots() {
                    released.push(bufs.release(s.id).expect("data slot buffer is received"));
                }
                for id in pkt.extra_ids() {
                    assert!(bufs.repost(ring, id).unwrap().is_some());
                }
            }
            Outcome::Rejected(r) => {
                for id in r.ids() {
                    let _ = bufs.repost(ring, id).unwrap();
                }
            }
            Outcome::Empty => {}
        }
        released
    }

    #[test]
    fn single_slot_packet() {
        let start = u32::MAX;
        let (mut ring, mut bufs) = posted_ring(start);
        assert_eq!(bufs.posted(), 256);
        respond(&mut ring, &[data(start, 60, NETRXF_DATA_VALIDATED)]);
        let mut reader = RxPacketReader::new();
        let pkt = packet(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!(pkt.info, RxPacketInfo { len: 60, gso: None, hash: None, csum: RxCsum::Unnecessary });
        assert_eq!(pkt.data_slots(), &[RxDataSlot { id: 255, page: page_for(0), offset: 0, len: 60 }]);
        assert_eq!((pkt.first_index(), pkt.ring_slots(), pkt.extra_ids().count()), (start, 1, 0));
        assert_eq!((bufs.posted(), bufs.received()), (255, 1));
        assert_eq!(outcome(&mut reader, &mut ring, &mut bufs), Ok(Outcome::Empty));
        assert_eq!(bufs.release(255), Some(page_for(0)));
        assert_eq!(bufs.release(255), None);
        assert_eq!(reader.packets(), 1);
        assert_eq!(reader.counters().total(), 0);
        // The freed slot can take a new buffer, under the id of index start + 256.
        assert_eq!(bufs.post(&mut ring, page_for(77)), Ok(255));
        assert_eq!(ring.ring().response_reads.get(), 1);
    }

    #[test]
    fn received_page_is_seen_until_released() {
        let (mut ring, mut bufs) = posted_ring(0);
        assert_eq!(bufs.received_page(0), None, "posted, not received");
        respond(&mut ring, &[data(0, 60, 0)]);
        let mut reader = RxPacketReader::new();
        let _ = packet(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!(bufs.received_page(0), Some(page_for(0)));
        assert_eq!(bufs.received_page(0), Some(page_for(0)), "looking does not take it");
        assert_eq!(bufs.release(0), Some(page_for(0)));
        assert_eq!(bufs.received_page(0), None);
    }

    /// Bulk takes a run of large packets and leaves with a run of small
    /// ones; a lone packet of the other kind flips neither way.
    #[test]
    fn size_tracker_follows_runs_not_single_packets() {
        let mut t = RxSizeTracker::new();
        assert!(!t.is_bulk());
        t.add(65_000);
        assert!(t.is_bulk(), "one GSO packet averages 8 KiB");
        let mut small = RxSizeTracker::new();
        for _ in 0..100 {
            small.add(100);
        }
        small.add(65_000);
        small.add(100);
        assert!(small.is_bulk(), "one GSO packet among small ones: 8 KiB / 8 steps");
        let mut to_small = 0;
        while small.is_bulk() {
            small.add(100);
            to_small += 1;
        }
        assert!(to_small < 20, "{to_small}");
        let mut bulk = RxSizeTracker::new();
        for _ in 0..100 {
            bulk.add(65_000);
        }
        for _ in 0..8 {
            bulk.add(66);
        }
        assert!(bulk.is_bulk(), "a few ACK-sized packets in a stream do not leave bulk");
        let mut max = RxSizeTracker::new();
        for _ in 0..1000 {
            max.add(u32::MAX);
        }
        assert!(max.is_bulk());
        let mut mtu = RxSizeTracker::new();
        for _ in 0..1000 {
            mtu.add(1514);
        }
        assert!(!mtu.is_bulk(), "MTU-sized frames go into the head: not bulk");
    }

    #[test]
    fn multi_slot_packet_and_checksum_flags() {
        let (mut ring, mut bufs) = posted_ring(0);
        let mut reader = RxPacketReader::new();
        let m = NETRXF_MORE_DATA;
        respond(
            &mut ring,
            &[
                data(0, 4096, m | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED),
                // Checksum flags on later slots mean nothing (Linux reads the first).
                data(1, 4096, m | NETRXF_DATA_VALIDATED),
                data(2, 100, 0),
                data(3, 1500, NETRXF_CSUM_BLANK),
                data(4, 1500, 0),
            ],
        );
        let pkt = packet(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!(pkt.info.len, 8292);
        assert_eq!(pkt.info.csum, RxCsum::Partial);
        let lens: Vec<_> = pkt.data_slots().iter().map(|s| (s.id, s.len)).collect();
        assert_eq!(lens, [(0, 4096), (1, 4096), (2, 100)]);
        assert_eq!(pkt.ring_slots(), 3);
        assert_eq!(packet(outcome(&mut reader, &mut ring, &mut bufs)).info.csum, RxCsum::Partial);
        assert_eq!(packet(outcome(&mut reader, &mut ring, &mut bufs)).info.csum, RxCsum::None);
        assert_eq!(outcome(&mut reader, &mut ring, &mut bufs), Ok(Outcome::Empty));
        assert_eq!(ring.ring().response_reads.get(), 5);
    }

    #[test]
    fn gso_and_hash_extras() {
        let (mut ring, mut bufs) = posted_ring(u32::MAX - 1);
        let s = u32::MAX - 1;
        respond(
            &mut ring,
            &[
                data(s, 4096, NETRXF_MORE_DATA | NETRXF_EXTRA_INFO | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED),
                extra(gso(XEN_NETIF_GSO_TYPE_TCPV6, 1448), true),
                extra(hash(XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT, 0xabcd), false),
                data(s.wrapping_add(3), 904, 0),
            ],
        );
        let mut reader = RxPacketReader::new();
        let out = outcome(&mut reader, &mut ring, &mut bufs).unwrap();
        let Outcome::Packet(pkt) = &out else { panic!("{out:?}") };
        assert_eq!(
            pkt.info,
            RxPacketInfo {
                len: 5000,
                gso: Some((GsoType::TcpV6, 1448)),
                hash: Some(RxHash { value: 0xabcd, ipv4: true, l4: true }),
                csum: RxCsum::Partial,
            }
        );
        assert_eq!(pkt.ring_slots(), 4);
        assert_eq!(pkt.extra_ids().collect::<Vec<_>>(), [255, 0]);
        let ids: Vec<_> = pkt.data_slots().iter().map(|d| d.id).collect();
        assert_eq!(ids, [254, 1]);
        // The shell: data buffers released, extra buffers reposted at the
        // next free indices (ids 254 and 255 after the ring wraps).
        let released = settle(&mut ring, &mut bufs, &out);
        assert_eq!(released, [page_for(0), page_for(3)]);
        assert_eq!((bufs.posted(), bufs.received()), (254, 0));
        assert_eq!(ring.ring().requests[254].gref, gref_for(1));
        assert_eq!(ring.ring().requests[255].gref, gref_for(2));
        assert!(bufs.is_posted(254) && bufs.is_posted(255) && !bufs.is_posted(0));
        assert_eq!(ring.in_flight(), 254);
    }

    #[test]
    fn unknown_hash_type_and_multicast_extras_are_ignored() {
        let (mut ring, mut bufs) = posted_ring(0);
        respond(
            &mut ring,
            &[
                data(0, 60, NETRXF_EXTRA_INFO),
                extra(ExtraInfo::McastAdd { addr: [1, 0, 0x5e, 0, 0, 1] }, true),
                extra(hash(9, 5), false),
            ],
        );
        let pkt = packet(outcome(&mut RxPacketReader::new(), &mut ring, &mut bufs));
        assert_eq!(pkt.info.hash, None);
        assert_eq!(pkt.info.len, 60);
        assert_eq!(pkt.extra_ids().count(), 2);
    }

    #[test]
    fn xdp_headroom_is_skipped_in_every_data_slot() {
        let (mut ring, mut bufs) = posted_ring(0);
        respond(
            &mut ring,
            &[
                data(0, 4096, NETRXF_EXTRA_INFO | NETRXF_MORE_DATA),
                extra(ExtraInfo::Xdp { headroom: 256 }, false),
                data(2, 256 + 100, 0),
                data(3, 256, NETRXF_EXTRA_INFO),
                extra(ExtraInfo::Xdp { headroom: 256 }, false),
            ],
        );
        let mut reader = RxPacketReader::new();
        let pkt = packet(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!(pkt.xdp_headroom, 256);
        let slots: Vec<_> = pkt.data_slots().iter().map(|d| (d.offset, d.len)).collect();
        assert_eq!(slots, [(256, 3840), (256, 100)]);
        assert_eq!(pkt.info.len, 3940);
        // Status equal to the headroom: no data.
        assert_eq!(rejected(outcome(&mut reader, &mut ring, &mut bufs)).reason, RxReject::EmptySlot);
    }

    /// One case per reject reason: the bad packet's slots are all consumed
    /// (then reposted), and a good packet behind it is read normally.
    #[test]
    fn every_reject_reason() {
        const X: u16 = NETRXF_EXTRA_INFO;
        const M: u16 = NETRXF_MORE_DATA;
        type Case = (RxReject, fn(u32) -> Vec<RxResponse>);
        fn case(reason: RxReject, make: fn(u32) -> Vec<RxResponse>) -> Case {
            (reason, make)
        }
        let cases: Vec<Case> = vec![
            case(RxReject::SlotError, |s| vec![data(s, -1, 0)]),
            case(RxReject::SlotError, |s| vec![data(s, 100, M), data(s.wrapping_add(1), NETIF_RSP_ERROR_STATUS, 0)]),
            case(RxReject::SlotOutOfPage, |s| vec![RxResponse { offset: 4000, ..data(s, 97, 0) }]),
            case(RxReject::SlotOutOfPage, |s| vec![data(s, 4097, 0)]),
            case(RxReject::EmptySlot, |s| vec![data(s, 0, 0)]),
            case(RxReject::EmptySlot, |s| {
                vec![data(s, 100, M), data(s.wrapping_add(1), 0, M), data(s.wrapping_add(2), 100, 0)]
            }),
            case(RxReject::IdMismatch, |s| vec![RxResponse { id: 7, ..data(s, 100, 0) }]),
            case(RxReject::IdMismatch, |s| vec![data(s, 100, M), data(s.wrapping_add(2), 100, 0)]),
            case(RxReject::TooManySlots, |s| {
                (0..19).map(|i| data(s.wrapping_add(i), 1000, if i < 18 { M } else { 0 })).collect()
            }),
            case(RxReject::TooManySlots, |s| {
                (0..20).map(|i| data(s.wrapping_add(i), 200, if i < 19 { M } else { 0 })).collect()
            }),
            case(RxReject::BadExtraType, |s| vec![data(s, 100, X), RxResponse { id: 0, ..data(s, 0, 0) }]),
            case(RxReject::BadExtraType, |s| {
                let bad = ExtraInfoRaw { kind: 6, flags: XEN_NETIF_EXTRA_FLAG_MORE_U8, payload: [0; 6] };
                vec![
                    data(s, 100, X | M),
                    bad.to_rx_response(),
                    extra(gso(1, 1448), false),
                    data(s.wrapping_add(3), 100, 0),
                ]
            }),
            case(RxReject::DuplicateExtra, |s| {
                vec![data(s, 100, X), extra(gso(1, 1448), true), extra(gso(1, 1448), false)]
            }),
            case(RxReject::BadGso, |s| vec![data(s, 100, X), extra(gso(XEN_NETIF_GSO_TYPE_TCPV4, 0), false)]),
            case(RxReject::BadGso, |s| vec![data(s, 100, X), extra(gso(XEN_NETIF_GSO_TYPE_NONE, 1448), false)]),
            case(RxReject::BadGso, |s| vec![data(s, 100, X), extra(gso(3, 1448), false)]),
            case(RxReject::BadXdpHeadroom, |s| vec![data(s, 100, X), extra(ExtraInfo::Xdp { headroom: 4096 }, false)]),
            case(RxReject::TooShort, |s| vec![data(s, 13, 0)]),
            case(RxReject::TooShort, |s| vec![data(s, 6, M), data(s.wrapping_add(1), 7, 0)]),
        ];
        let mut reader = RxPacketReader::new();
        let mut expected = RxRejectCounters::default();
        for (n, (reason, make)) in cases.iter().enumerate() {
            let start = u32::MAX - 3;
            let (mut ring, mut bufs) = posted_ring(start);
            let bad = make(start);
            respond(&mut ring, &bad);
            let next = start.wrapping_add(bad.len() as u32);
            respond(&mut ring, &[data(next, 60, 0)]);
            let out = outcome(&mut reader, &mut ring, &mut bufs).unwrap();
            let Outcome::Rejected(r) = &out else { panic!("case {n}: {out:?}") };
            assert_eq!(r.reason, *reason, "case {n}");
            assert_eq!(r.ring_slots() as usize, bad.len(), "case {n}");
            assert_eq!(r.first_index(), start);
            expected.record(*reason);
            settle(&mut ring, &mut bufs, &out);
            assert_eq!(bufs.received(), 0);
            let good = packet(outcome(&mut reader, &mut ring, &mut bufs));
            assert_eq!(good.first_index(), next, "case {n}: resynchronised");
            assert_eq!(ring.ring().response_reads.get(), bad.len() as u64 + 1);
        }
        assert_eq!(reader.counters(), &expected);
        assert_eq!(reader.packets(), cases.len() as u64);
        for r in RxReject::ALL {
            assert!(!r.description().is_empty());
            if !matches!(r, RxReject::BufferNotPosted | RxReject::Incomplete) {
                assert!(expected.get(r) > 0, "{r:?} not covered here");
            }
        }
    }

    const NETIF_RSP_ERROR_STATUS: i16 = -1;
    const XEN_NETIF_EXTRA_FLAG_MORE_U8: u8 = 1;

    #[test]
    fn nineteen_slots_only_with_a_small_first_slot() {
        let m = NETRXF_MORE_DATA;
        let (mut ring, mut bufs) = posted_ring(0);
        let mut rsps: Vec<_> = (0..19).map(|i| data(i, 4096, if i < 18 { m } else { 0 })).collect();
        rsps[0].status = 256;
        respond(&mut ring, &rsps);
        let pkt = packet(outcome(&mut RxPacketReader::new(), &mut ring, &mut bufs));
        assert_eq!(pkt.data_slots().len(), MAX_RX_SLOTS);
        assert_eq!(pkt.info.len, 256 + 18 * 4096);
    }

    #[test]
    fn incomplete_chains_are_rejected_and_consumed() {
        let (mut ring, mut bufs) = posted_ring(10);
        let mut reader = RxPacketReader::new();
        // more_data with nothing after it.
        respond(&mut ring, &[data(10, 100, NETRXF_MORE_DATA)]);
        let r = rejected(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!((r.reason, r.ring_slots()), (RxReject::Incomplete, 1));
        // An extra chain whose MORE flag points past rsp_prod.
        respond(&mut ring, &[data(11, 100, NETRXF_EXTRA_INFO), extra(gso(1, 1448), true)]);
        let r = rejected(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!((r.reason, r.ring_slots()), (RxReject::Incomplete, 2));
        // An earlier problem is the reason reported.
        respond(&mut ring, &[data(13, -3, NETRXF_MORE_DATA), data(14, 100, NETRXF_MORE_DATA)]);
        assert_eq!(rejected(outcome(&mut reader, &mut ring, &mut bufs)).reason, RxReject::SlotError);
        assert_eq!(outcome(&mut reader, &mut ring, &mut bufs), Ok(Outcome::Empty));
        assert_eq!(reader.counters().get(RxReject::Incomplete), 2);
        assert_eq!(ring.rsp_cons(), 15);
    }

    #[test]
    fn buffer_not_posted() {
        let mut ring = FrontRing::new(Mem::new()).unwrap();
        let mut bufs = Bufs::new();
        bufs.post(&mut ring, page_for(5)).unwrap();
        // A request produced without the table (shell bug): its response
        // finds no buffer.
        ring.push_request(RxRequest { id: 1, pad: 0, gref: gref_for(6) }).unwrap();
        bufs.post(&mut ring, page_for(7)).unwrap();
        ring.push_requests_and_check_notify();
        respond(&mut ring, &[data(0, 100, NETRXF_MORE_DATA), data(1, 100, 0), data(2, 100, 0)]);
        let mut reader = RxPacketReader::new();
        let out = outcome(&mut reader, &mut ring, &mut bufs).unwrap();
        let Outcome::Rejected(r) = &out else { panic!("{out:?}") };
        assert_eq!(r.reason, RxReject::BufferNotPosted);
        let ids: Vec<_> = r.ids().collect();
        assert_eq!(ids, [0, 1]);
        // Reposting: id 0 moves to the next index (3); id 1 had nothing.
        assert_eq!(bufs.repost(&mut ring, 0), Ok(Some(3)));
        assert_eq!(bufs.repost(&mut ring, 1), Ok(None));
        assert_eq!(ring.ring().requests[3], RxRequest { id: 3, pad: 0, gref: gref_for(5) });
        assert!(matches!(outcome(&mut reader, &mut ring, &mut bufs), Ok(Outcome::Packet(_))));
    }

    #[test]
    fn buffer_table_misuse_is_refused() {
        let mut small = FrontRing::new(MemRing::<RxRequest, RxResponse, 8>::new()).unwrap();
        assert_eq!(
            Bufs::new().post(&mut small, page_for(1)),
            Err(RxBufferError::SizeMismatch { ring: 8, buffers: 256 })
        );
        let mut ring = FrontRing::new(MemRing::<RxRequest, RxResponse, 8>::new()).unwrap();
        let mut bufs = RxBuffers::<8>::new();
        for g in 0..8 {
            assert_eq!(bufs.post(&mut ring, page_for(g)), Ok(g as u16));
        }
        assert_eq!(bufs.post(&mut ring, page_for(9)), Err(RxBufferError::Ring(FrontRingError::Full)));
        ring.push_requests_and_check_notify();
        ring.ring_mut().responses[0] = RxResponse { id: 0, offset: 0, flags: 0, status: 60 };
        ring.ring_mut().rsp_prod = 1;
        let mut reader = RxPacketReader::new();
        assert_eq!(reader.poll(&mut ring, &mut bufs), Ok(RxPoll::Packet));
        // Index 8 maps to id 0, still held (received, not released): refused.
        assert_eq!(bufs.post(&mut ring, page_for(9)), Err(RxBufferError::IdInUse(0)));
        // Reposting id 0 frees it first, so it lands on id 0 again.
        assert_eq!(bufs.repost(&mut ring, 0), Ok(Some(0)));
        assert_eq!(ring.req_prod_pvt(), 9);
        assert!(!RxBufferError::IdInUse(0).description().is_empty());
        // Disconnect: every buffer comes back once.
        let drained: Vec<_> = bufs.drain().collect();
        assert_eq!(drained.len(), 8);
        assert_eq!(drained[0], (0, page_for(0)));
        assert_eq!((bufs.posted(), bufs.received()), (0, 0));
        assert_eq!(bufs.drain().count(), 0);
    }

    #[test]
    fn ring_errors_are_passed_through() {
        let (mut ring, mut bufs) = posted_ring(0);
        ring.ring_mut().rsp_prod = 257;
        let e = outcome(&mut RxPacketReader::new(), &mut ring, &mut bufs);
        assert!(matches!(e, Err(FrontRingError::IllegalResponseCount { rsp_prod: 257, .. })));
        assert!(matches!(bufs.post(&mut ring, page_for(1)), Err(RxBufferError::Ring(_))));
    }

    /// The frontend reader against the backend's own writer (`rx.rs`) over
    /// one shared ring, starting near u32::MAX: random packets (length,
    /// GSO, hash, checksum, XDP headroom) come out as they went in, and
    /// packets the model says are unreadable (too many slots for the
    /// headroom, shorter than an Ethernet header, GSO size 0) or that had
    /// one response corrupted come out rejected for the predicted reason.
    /// Buffers are recycled like the shell does; none leaks.
    #[test]
    fn round_trip_against_the_backend_writer() {
        for seed in 1..=12u64 {
            let mut rng = Lcg(seed);
            let start = u32::MAX - (rng.next() % 600) as u32;
            let cell = RefCell::new(Mem::new());
            {
                let mut m = cell.borrow_mut();
                m.req_prod = start;
                m.rsp_prod = start;
            }
            let mut front = FrontRing::new_at(SharedMemRing::new(&cell), start).unwrap();
            let mut back = BackRing::attach_at(SharedMemRing::new(&cell), start).unwrap();
            let mut bufs = Bufs::new();
            let mut reader = RxPacketReader::new();
            let mut next_page = 0u32;
            let headroom = [0u16, 0, 256, 1024, 4000][(rng.next() % 5) as usize];
            let cfg = RxConfig::new(headroom);
            for _ in 0..300 {
                while !front.is_full() {
                    bufs.post(&mut front, page_for(next_page)).unwrap();
                    next_page += 1;
                }
                front.push_requests_and_check_notify();
                let len = match rng.next() % 6 {
                    0 => (rng.next() % 20) as u32,
                    1 => 60 + (rng.next() % 200) as u32,
                    2 => 65_535,
                    _ => 14 + (rng.next() % 70_000) as u32,
                };
                let info = RxPacketInfo {
                    len,
                    gso: match rng.next() % 4 {
                        0 => Some((GsoType::TcpV4, [0u16, 536, 1448, 8960][(rng.next() % 4) as usize])),
                        1 => Some((GsoType::TcpV6, 1 + (rng.next() % 9000) as u16)),
                        _ => None,
                    },
                    hash: rng.next().is_multiple_of(2).then(|| RxHash {
                        value: rng.next() as u32,
                        ipv4: rng.next().is_multiple_of(2),
                        l4: rng.next().is_multiple_of(2),
                    }),
                    csum: [RxCsum::None, RxCsum::Partial, RxCsum::Unnecessary][(rng.next() % 3) as usize],
                };
                let needed = rx_slots_needed(&cfg, &info);
                if needed > XEN_NETIF_RX_RING_SIZE {
                    continue; // the backend drops it (rx_packet_fits_ring)
                }
                let res = rx_slots_available(&mut back, needed).unwrap().expect("the ring is fully posted");
                let mut w = RxPacketWriter::new(&cfg, &info, res).unwrap();
                let mut steps = Vec::new();
                while let Some(step) = w.next_step(&mut back).unwrap() {
                    steps.push(step);
                }
                let data: Vec<_> = steps
                    .iter()
                    .filter_map(|s| match s {
                        RxStep::Data { index, len, response, .. } => Some((*index, *len, *response)),
                        RxStep::Extra { .. } => None,
                    })
                    .collect();
                // The model's verdict for the packet as written.
                let max = if data[0].1 as u32 <= RX_COPY_THRESHOLD { 19 } else { 18 };
                let mut expect = if matches!(info.gso, Some((_, 0))) {
                    Some(RxReject::BadGso)
                } else if info.len == 0 {
                    Some(RxReject::EmptySlot)
                } else if data.len() > max {
                    Some(RxReject::TooManySlots)
                } else if info.len < 14 {
                    Some(RxReject::TooShort)
                } else {
                    None
                };
                // Corrupt one data response of an otherwise good packet.
                if expect.is_none() && rng.next().is_multiple_of(4) {
                    let k = (rng.next() as usize) % data.len();
                    let (index, _, rsp) = data[k];
                    let (bad, why) = match rng.next() % 3 {
                        0 => (RxResponse { status: -1, ..rsp }, RxReject::SlotError),
                        1 => (RxResponse { id: rsp.id ^ 1, ..rsp }, RxReject::IdMismatch),
                        _ => (RxResponse { offset: 1, status: 4096, ..rsp }, RxReject::SlotOutOfPage),
                    };
                    back.overwrite_unpublished(index, bad).unwrap();
                    expect = Some(why);
                }
                back.push_responses_and_check_notify();
                let out = outcome(&mut reader, &mut front, &mut bufs).unwrap();
                match (&out, expect) {
                    (Outcome::Packet(pkt), None) => {
                        assert_eq!(pkt.info, info, "seed {seed}");
                        assert_eq!(pkt.xdp_headroom, headroom);
                        assert_eq!(pkt.ring_slots(), needed);
                        let got: Vec<_> = pkt.data_slots().iter().map(|d| (d.offset, d.len)).collect();
                        let want: Vec<_> = data.iter().map(|d| (headroom, d.1)).collect();
                        assert_eq!(got, want);
                    }
                    (Outcome::Rejected(r), Some(why)) => {
                        assert_eq!(r.reason, why, "seed {seed}, {info:?}");
                        assert_eq!(r.ring_slots(), needed);
                    }
                    other => panic!("seed {seed}: {info:?} headroom {headroom}: {other:?}"),
                }
                settle_shared(&mut front, &mut bufs, &out);
                assert_eq!(outcome(&mut reader, &mut front, &mut bufs), Ok(Outcome::Empty));
                assert_eq!(bufs.received(), 0);
                assert_eq!(bufs.posted(), front.in_flight());
            }
            let m = cell.borrow();
            assert_eq!(u64::from(front.rsp_cons().wrapping_sub(start)), m.response_reads.get());
        }
    }

    fn settle_shared(
        ring: &mut FrontRing<SharedMemRing<'_, RxRequest, RxResponse, SIZE>>,
        bufs: &mut Bufs,
        out: &Outcome,
    ) {
        let ids: Vec<u16> = match out {
            Outcome::Packet(pkt) => {
                for s in pkt.data_slots() {
                    bufs.release(s.id).unwrap();
                }
                pkt.extra_ids().collect()
            }
            Outcome::Rejected(r) => r.ids().collect(),
            Outcome::Empty => Vec::new(),
        };
        for id in ids {
            bufs.repost(ring, id).unwrap().unwrap();
        }
    }

    /// Per packet: ring slots taken, and (length, data slots) or the reason.
    type Verdict = (usize, Result<(u32, usize), RxReject>);

    /// A plain model of `xennet_get_responses` + `xennet_get_extras` over a
    /// slice of published responses (Linux's loop shape: index arithmetic
    /// from the packet start, `rp` as the end), with this module's stricter
    /// checks. Returns (slots taken, verdict) per packet.
    fn model(rsps: &[RxResponse], base: u32) -> Vec<Verdict> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < rsps.len() {
            let first = rsps[i];
            let mut err: Option<RxReject> = None;
            let note = |e: &mut Option<RxReject>, r| {
                if e.is_none() {
                    *e = Some(r)
                }
            };
            let mut j = i + 1;
            let mut headroom = 0u32;
            let mut seen = [false; 8];
            let mut complete = true;
            if first.flags & NETRXF_EXTRA_INFO != 0 {
                loop {
                    if j == rsps.len() {
                        complete = false;
                        break;
                    }
                    let raw = ExtraInfoRaw::from_rx_response(&rsps[j]);
                    j += 1;
                    match raw.kind {
                        1..=5 if seen[raw.kind as usize] => note(&mut err, RxReject::DuplicateExtra),
                        1..=5 => {
                            seen[raw.kind as usize] = true;
                            let p = raw.payload;
                            if raw.kind == 1 {
                                let size = u16::from_ne_bytes([p[0], p[1]]);
                                if size == 0 || !(p[2] == 1 || p[2] == 2) {
                                    note(&mut err, RxReject::BadGso);
                                }
                            }
                            if raw.kind == 5 {
                                let h = u32::from(u16::from_ne_bytes([p[0], p[1]]));
                                if h >= 4096 {
                                    note(&mut err, RxReject::BadXdpHeadroom);
                                } else {
                                    headroom = h;
                                }
                            }
                        }
                        _ => note(&mut err, RxReject::BadExtraType),
                    }
                    if !raw.more() {
                        break;
                    }
                }
            }
            let check = |idx: u32, r: &RxResponse| -> Result<u32, RxReject> {
                if usize::from(r.id) != idx as usize % SIZE {
                    return Err(RxReject::IdMismatch);
                }
                if r.status < 0 {
                    return Err(RxReject::SlotError);
                }
                let end = u32::from(r.offset) + r.status as u32;
                if end > 4096 {
                    return Err(RxReject::SlotOutOfPage);
                }
                if end <= u32::from(r.offset) + headroom {
                    return Err(RxReject::EmptySlot);
                }
                Ok(end - u32::from(r.offset) - headroom)
            };
            let mut len = 0;
            let mut nslots = 0;
            if complete {
                let mut max = 18;
                match check(base.wrapping_add(i as u32), &first) {
                    Ok(l) => {
                        len += l;
                        nslots += 1;
                        if l <= 256 {
                            max = 19;
                        }
                    }
                    Err(e) => note(&mut err, e),
                }
                let mut more = first.flags & NETRXF_MORE_DATA != 0;
                let mut count = 1;
                while more {
                    if j == rsps.len() {
                        complete = false;
                        break;
                    }
                    let r = rsps[j];
                    count += 1;
                    if count > max {
                        note(&mut err, RxReject::TooManySlots);
                    } else {
                        match check(base.wrapping_add(j as u32), &r) {
                            Ok(l) => {
                                len += l;
                                nslots += 1;
                            }
                            Err(e) => note(&mut err, e),
                        }
                    }
                    more = r.flags & NETRXF_MORE_DATA != 0;
                    j += 1;
                }
            }
            if !complete {
                note(&mut err, RxReject::Incomplete);
            }
            if len < 14 {
                note(&mut err, RxReject::TooShort);
            }
            out.push((j - i, err.map_or(Ok((len, nslots)), Err)));
            i = j;
        }
        out
    }

    /// A random response: mostly plausible, sometimes garbage.
    fn random_response(rng: &mut Lcg, index: u32) -> RxResponse {
        let flags = [0, NETRXF_MORE_DATA, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA | NETRXF_EXTRA_INFO];
        match rng.next() % 10 {
            0 => RxResponse {
                id: rng.next() as u16,
                offset: rng.next() as u16,
                flags: rng.next() as u16,
                status: rng.next() as i16,
            },
            1..=3 => {
                let e = match rng.next() % 5 {
                    0 => gso((rng.next() % 4) as u8, (rng.next() % 3) as u16 * 700),
                    1 => hash((rng.next() % 5) as u8, rng.next() as u32),
                    2 => ExtraInfo::Xdp { headroom: [0, 64, 4095, 4096][(rng.next() % 4) as usize] },
                    3 => ExtraInfo::McastDel { addr: [0; 6] },
                    _ => ExtraInfo::Gso { size: 1448, gso_type: 1, features: 0 },
                };
                let mut raw = e.to_raw(rng.next().is_multiple_of(3));
                if rng.next().is_multiple_of(8) {
                    raw.kind = (rng.next() % 8) as u8;
                }
                raw.to_rx_response()
            }
            _ => RxResponse {
                id: if rng.next().is_multiple_of(20) { rng.next() as u16 } else { (index as usize % SIZE) as u16 },
                offset: [0u16, 0, 0, 100, 4000][(rng.next() % 5) as usize],
                flags: flags[(rng.next() % 4) as usize] | (rng.next() % 4) as u16,
                status: [0i16, 10, 60, 200, 1500, 4096, 5000, -1][(rng.next() % 8) as usize],
            },
        }
    }

    /// Random response streams: the reader agrees with the model on every
    /// packet boundary and verdict, every accepted packet is within bounds,
    /// and the buffers balance once the shell has settled each outcome.
    #[test]
    fn random_streams_match_the_model() {
        let mut rng = Lcg(0x5eed);
        for round in 0..3000 {
            let start = if round % 2 == 0 { u32::MAX - (rng.next() % 300) as u32 } else { rng.next() as u32 };
            let (mut ring, mut bufs) = posted_ring(start);
            let n = 1 + (rng.next() % 64) as u32;
            let mut rsps: Vec<_> = (0..n).map(|k| random_response(&mut rng, start.wrapping_add(k))).collect();
            if round % 5 == 0 {
                // A long well-formed chain of 17 to 21 data slots up front.
                let chain = 17 + (rng.next() % 5) as u32;
                for k in 0..chain.min(n) {
                    let more = if k + 1 < chain { NETRXF_MORE_DATA } else { 0 };
                    let status = [100i16, 256, 257, 4096][(rng.next() % 4) as usize];
                    rsps[k as usize] = data(start.wrapping_add(k), status, more);
                }
            }
            respond(&mut ring, &rsps);
            let mut reader = RxPacketReader::new();
            let mut got = Vec::new();
            loop {
                let out = outcome(&mut reader, &mut ring, &mut bufs).unwrap();
                match &out {
                    Outcome::Empty => break,
                    Outcome::Packet(pkt) => {
                        let slots = pkt.data_slots();
                        assert!(!slots.is_empty() && slots.len() <= MAX_RX_SLOTS);
                        let mut sum = 0u32;
                        for (k, s) in slots.iter().enumerate() {
                            assert!(s.len >= 1 && u32::from(s.offset) + u32::from(s.len) <= XEN_PAGE_SIZE);
                            // Slot 0 is the first index; the others follow the extras.
                            let extras = if k == 0 { 0 } else { pkt.extra_ids().count() as u32 };
                            let index = pkt.first_index().wrapping_add(k as u32).wrapping_add(extras);
                            assert_eq!(s.id, Bufs::id_of(index));
                            assert_eq!(s.page, page_for(u32::from(s.id.wrapping_sub(Bufs::id_of(start)) % 256)));
                            sum += u32::from(s.len);
                        }
                        assert_eq!(sum, pkt.info.len);
                        assert!(pkt.info.len >= 14);
                        if let Some((_, size)) = pkt.info.gso {
                            assert_ne!(size, 0);
                        }
                        got.push((pkt.ring_slots() as usize, Ok((pkt.info.len, slots.len()))));
                    }
                    Outcome::Rejected(r) => got.push((r.ring_slots() as usize, Err(r.reason))),
                }
                settle(&mut ring, &mut bufs, &out);
            }
            assert_eq!(got, model(&rsps, start), "round {round}: {rsps:?}");
            assert_eq!(ring.rsp_cons(), start.wrapping_add(n));
            assert_eq!(ring.ring().response_reads.get(), u64::from(n));
            assert_eq!(bufs.received(), 0);
            assert_eq!(bufs.posted(), ring.in_flight());
            assert_eq!(reader.packets() + reader.counters().total(), got.len() as u64);
        }
    }

    /// The reader builds each packet in place, over what the packets before
    /// it left: the same response streams read by one reader throughout and
    /// by a fresh reader for every packet give the same outcomes, packet
    /// for packet (data slots, length, checksum, GSO, hash, XDP headroom),
    /// and the in-place packet is the one `poll` accepted.
    #[test]
    fn a_reused_reader_reads_like_a_fresh_one() {
        let mut rng = Lcg(0xf7e5);
        let mut reused = RxPacketReader::new();
        let mut accepted = 0u32;
        for _ in 0..400 {
            let start = rng.next() as u32;
            let (mut a, mut bufs_a) = posted_ring(start);
            let (mut b, mut bufs_b) = posted_ring(start);
            let n = 1 + (rng.next() % 64) as u32;
            let rsps: Vec<_> = (0..n).map(|k| random_response(&mut rng, start.wrapping_add(k))).collect();
            respond(&mut a, &rsps);
            respond(&mut b, &rsps);
            loop {
                let got = reused.poll(&mut a, &mut bufs_a).unwrap();
                let fresh = outcome(&mut RxPacketReader::new(), &mut b, &mut bufs_b).unwrap();
                match (&got, &fresh) {
                    (RxPoll::Packet, Outcome::Packet(pkt)) => {
                        assert_eq!(reused.packet(), pkt);
                        accepted += 1;
                    }
                    (RxPoll::Rejected(r), Outcome::Rejected(s)) => assert_eq!(r, s),
                    (RxPoll::Empty, Outcome::Empty) => break,
                    other => panic!("{other:?}"),
                }
                settle(&mut a, &mut bufs_a, &fresh);
                settle(&mut b, &mut bufs_b, &fresh);
            }
        }
        assert!(accepted > 500, "{accepted} packets accepted");
    }

    /// Arbitrary responses and arbitrary rsp_prod moves: never a panic; an
    /// error only from the ring checks, after which nothing more is read.
    #[test]
    fn arbitrary_input_never_panics() {
        let mut rng = Lcg(99);
        for _ in 0..500 {
            let start = rng.next() as u32;
            let (mut ring, mut bufs) = posted_ring(start);
            let mut reader = RxPacketReader::new();
            for _ in 0..50 {
                let k = (rng.next() % 8) as u32;
                for _ in 0..k {
                    let idx = ring.ring().rsp_prod;
                    let r = random_response(&mut rng, idx);
                    respond(&mut ring, &[r]);
                }
                if rng.next().is_multiple_of(10) {
                    ring.ring_mut().rsp_prod = rng.next() as u32;
                }
                match outcome(&mut reader, &mut ring, &mut bufs) {
                    Ok(out) => {
                        settle(&mut ring, &mut bufs, &out);
                    }
                    Err(e) => {
                        assert!(e.is_backend_fault());
                        assert_eq!(outcome(&mut reader, &mut ring, &mut bufs), Err(e));
                        break;
                    }
                }
                while !ring.is_full() {
                    if bufs.post(&mut ring, page_for(1)).is_err() {
                        break;
                    }
                }
                ring.push_requests_and_check_notify();
            }
        }
    }

    #[test]
    fn counters_iterate_every_reason() {
        let mut c = RxRejectCounters::default();
        c.record(RxReject::TooShort);
        c.record(RxReject::TooShort);
        c.record(RxReject::BadGso);
        assert_eq!(c.total(), 3);
        let v: Vec<_> = c.iter().filter(|(_, n)| *n > 0).collect();
        assert_eq!(v, [(RxReject::BadGso, 1), (RxReject::TooShort, 2)]);
        for (i, r) in RxReject::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    /// RX buffers taken from a staging pool, as netfront-rs posts them, over
    /// random response streams: every received data slot carries the page
    /// posted under its id, at the place the pool keeps its gref; delivered
    /// pages go back to the pool by that place, the others are reposted, the
    /// ring is topped up from the pool, and pool and buffers agree on the
    /// pages out for RX at every step and after the drain.
    #[test]
    fn pool_pages_are_received_at_their_place() {
        use super::super::front_staging::{PageUse, PoolPage, StagingPool};
        use std::collections::BTreeMap;
        let mut rng = Lcg(0x9a6e);
        // Paths taken: data pages given back, buffers reposted, pages drained.
        let mut seen = [0u32; 3];
        for _ in 0..40 {
            // Read-only and writable pages, added in a scrambled gref order:
            // places are the grefs' order, not the order of adding.
            let mut pool = StagingPool::<[PoolPage; 320]>::new();
            let mut grefs: Vec<u32> = (0..320u32).map(|i| (i.wrapping_mul(7919) % 320) * 3 + 11).collect();
            for (k, &g) in grefs.iter().enumerate() {
                pool.add_page(g, k % 5 == 0).unwrap();
            }
            pool.use_unregistered().unwrap();
            grefs.sort_unstable();
            let start = rng.next() as u32;
            let mut m = Mem::new();
            m.req_prod = start;
            m.rsp_prod = start;
            let mut ring = FrontRing::new_at(m, start).unwrap();
            let mut bufs = Bufs::new();
            // The page posted under each id.
            let mut posted: BTreeMap<u16, TakenPage> = BTreeMap::new();
            let mut reader = RxPacketReader::new();
            for _ in 0..60 {
                while !ring.is_full() {
                    let Some(page) = pool.take_rx() else { break };
                    assert_eq!(grefs[usize::from(page.index)], { page.gref }, "taken at another place");
                    let id = bufs.post(&mut ring, page).unwrap();
                    posted.insert(id, page);
                }
                ring.push_requests_and_check_notify();
                for _ in 0..(rng.next() % 24) {
                    if ring.ring().rsp_prod.wrapping_sub(ring.rsp_cons()) >= ring.outstanding() {
                        break;
                    }
                    let r = random_response(&mut rng, ring.ring().rsp_prod);
                    respond(&mut ring, &[r]);
                }
                loop {
                    let out = outcome(&mut reader, &mut ring, &mut bufs).unwrap();
                    let ids: Vec<u16> = match &out {
                        Outcome::Empty => break,
                        Outcome::Packet(pkt) => {
                            for s in pkt.data_slots() {
                                assert_eq!(Some(&s.page), posted.get(&s.id), "slot {} got another page", s.id);
                                assert_eq!(grefs[usize::from(s.page.index)], { s.page.gref });
                                let page = bufs.release(s.id).unwrap();
                                posted.remove(&s.id);
                                assert_eq!(pool.give_back_page(page), Ok(PageUse::Rx));
                                seen[0] += 1;
                            }
                            pkt.extra_ids().collect()
                        }
                        Outcome::Rejected(r) => r.ids().collect(),
                    };
                    for id in ids {
                        let page = posted.remove(&id).unwrap();
                        let new_id = bufs.repost(&mut ring, id).unwrap().unwrap();
                        posted.insert(new_id, page);
                        seen[1] += 1;
                    }
                    assert_eq!(pool.in_rx(), (bufs.posted() + bufs.received()) as usize);
                }
                assert_eq!((bufs.received(), bufs.posted() as usize), (0, posted.len()));
            }
            for (id, page) in bufs.drain() {
                assert_eq!(posted.remove(&id), Some(page));
                assert_eq!(pool.give_back_page(page), Ok(PageUse::Rx));
                seen[2] += 1;
            }
            assert!(posted.is_empty());
            assert_eq!((pool.in_rx(), pool.free_rx()), (0, 256));
        }
        assert!(seen.iter().all(|&n| n > 100), "paths not taken: {seen:?}");
    }

    #[test]
    fn reposting_in_ring_order_keeps_every_buffer() {
        // A GSO packet (data, GSO extra, data, data) whose pages the shell
        // keeps: every slot is reposted, in ring order, and each repost
        // succeeds, so the ring stays full. Data slots first, then the extra,
        // would find the extra's id still held at the second repost.
        let (mut ring, mut bufs) = posted_ring(0);
        respond(
            &mut ring,
            &[
                data(0, 4096, NETRXF_MORE_DATA | NETRXF_EXTRA_INFO),
                extra(gso(XEN_NETIF_GSO_TYPE_TCPV4, 1448), false),
                data(2, 4096, NETRXF_MORE_DATA),
                data(3, 100, 0),
            ],
        );
        let mut reader = RxPacketReader::new();
        let pkt = packet(outcome(&mut reader, &mut ring, &mut bufs));
        assert_eq!(pkt.ids().collect::<Vec<_>>(), [0, 1, 2, 3]);
        for id in pkt.ids() {
            assert!(bufs.repost(&mut ring, id).unwrap().is_some(), "repost of {id}");
        }
        assert_eq!((bufs.received(), ring.free_requests()), (0, 0));
    }
}

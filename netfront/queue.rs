// SPDX-License-Identifier: GPL-2.0
//! One queue of netfront-rs: a TX/RX ring pair, its packet buffers and what
//! moves packets over them.
//!
//! Buffers are the queue's own pages, granted to the backend once when the
//! queue connects ([`GrantedPages`]): one read-only page per TX ring entry,
//! two writable pages per RX ring entry, one of which may be registered as
//! a staging grant and one that never is (lendable). A packet to send is
//! copied into free TX pages and its skb freed at once. So no grant is made
//! per packet, and the backend reaches the pages by grant copy (plain mode,
//! which every backend does) or, once they are registered as staging
//! grants, by memcpy.
//!
//! A received packet's first bytes are copied into a fresh skb's head. Of
//! a packet larger than [`RX_LINEAR_MAX`], each slot's rest goes to the
//! stack as a frag: a lendable page as it is ([`GrantedPages::lend`]: its
//! access is ended and a fresh page is granted under the same reference),
//! a staged page by a copy, since the backend keeps it mapped. Then the
//! buffers are posted again: with staged pages while the traffic is small
//! packets (the backend's memcpy beats its grant copy), with lendable ones
//! while it is bulk (not copying out beats the backend's memcpy); see
//! [`RxSizeTracker`].
//!
//! The page bookkeeping is the protocol core's [`StagingPool`]; the ring
//! indices, request ids and the checks on every backend response are the
//! core's too (`front_ring`, `front_tx`, `front_rx`).
//!
//! Locking: the ring pair is one [`SpinLockBh`]. `ndo_start_xmit` (BH) and
//! the NAPI poll (softirq) take it; packets are handed to the stack only
//! after it is dropped, since the stack may transmit from there.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::bindings::net::device::{Channel, NetDev};
use crate::bindings::net::skb::{FragPages, SkBuff, SkbGso};
use crate::bindings::xen::granted::{GrantedPages, SkbGrants, SKB_GRANTS_MAX};
use crate::bindings::xen::ring::{MappedRing, RxSharedRing, TxSharedRing};
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::bindings::HeapSlice;
use crate::netif::front_ring::FrontRing;
use crate::netif::front_rx::{
    RxBuffers, RxPacket, RxPacketReader, RxPoll, RxSizeTracker, RX_COPY_THRESHOLD, RX_LINEAR_MAX,
};
use crate::netif::front_staging::{PoolPage, StagingPool, TakenPage, TX_STAGE_MAX_DEFAULT};
use crate::netif::front_tx::{
    PlannedData, PlannedRequest, TxChecksum, TxChunk, TxCompletion, TxCopyPlan, TxGrant, TxIdTable, TxPacketMeta,
    TxPlan, TX_PLAN_SLOTS_DEFAULT,
};
use crate::netif::poll_mode::PollLoad;
use crate::netif::rx::RxCsum;
use crate::netif::tx::TxGso;
use crate::netif::wire::{TxRequest, XEN_NETIF_RX_RING_SIZE, XEN_NETIF_TX_RING_SIZE, XEN_PAGE_SIZE};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;

const TX_SIZE: usize = XEN_NETIF_TX_RING_SIZE as usize;
const RX_SIZE: usize = XEN_NETIF_RX_RING_SIZE as usize;

/// Ring entries one packet may take: its data slots and a GSO extra. The
/// netdev queue is stopped while fewer are free.
const TX_MAX_RING_SLOTS: usize = TX_PLAN_SLOTS_DEFAULT + 1;

/// TX answers that may pile up before the backend notifies, while nothing
/// waits for one: a copied packet was freed when it was sent, so its answer
/// only gives a slot and a page back, and a poll can take them in bulk.
/// Half the ring: a queue that runs out of room asks for the next answer
/// instead, and a flood of small packets costs an event per 128 packets
/// instead of one per backend batch (often one packet).
const TX_EVENT_AHEAD: u32 = (TX_SIZE / 2) as u32;

/// Packets taken off the RX ring per lock hold, then handed to the stack.
const RX_BATCH: usize = 16;

/// How many dropped packets a queue logs (with the reason); the counters
/// count them all.
const DROPS_LOGGED: u32 = 10;

/// Counters of one queue (cumulative over reconnections). Those counted
/// on the data path under the ring lock are [`LockedCounter`]s; the drop
/// counters are also counted where the lock is not held.
#[derive(Default)]
pub(crate) struct QueueStats {
    pub(crate) tx_packets: LockedCounter,
    pub(crate) tx_bytes: LockedCounter,
    /// Packets dropped before the ring: not connected, no room, unplannable.
    pub(crate) tx_dropped: AtomicU64,
    /// TX slots the backend answered with an error or drop status.
    pub(crate) tx_errors: LockedCounter,
    /// Packets sent with per-packet grants of their own pages (trusted
    /// backend, packets over [`TX_STAGE_MAX_DEFAULT`] bytes).
    pub(crate) tx_granted: LockedCounter,
    pub(crate) rx_packets: LockedCounter,
    pub(crate) rx_bytes: LockedCounter,
    /// Received packets rejected by the checks of `front_rx`.
    pub(crate) rx_errors: AtomicU64,
    /// Accepted packets dropped here (no memory for an skb, bad headers).
    pub(crate) rx_dropped: AtomicU64,
    /// RX pages handed to the stack as they are ([`GrantedPages::lend`]);
    /// the rest of the received bytes were copied.
    pub(crate) rx_pages_lent: LockedCounter,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// A counter added to only under its queue's ring lock, and read without
/// it (ethtool, the stack's link stats). The lock orders the writers, so an
/// add is a plain load and store, not a locked read-modify-write (two per
/// packet sent or received otherwise); a reader sees whole values.
#[derive(Default)]
pub(crate) struct LockedCounter(AtomicU64);

impl LockedCounter {
    /// Adds `n`. `_held` is the proof that the caller holds the ring lock:
    /// a connection's [`Rings`] is only reached through its guard.
    fn add(&self, n: u64, _held: &Rings) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// The count so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one connection of a queue holds: the rings, their books and the
/// pages behind the buffers. Dropping it ends every grant (deferred while
/// the backend still maps a page).
pub(crate) struct Rings {
    tx: FrontRing<TxSharedRing>,
    rx: FrontRing<RxSharedRing>,
    tx_ids: KBox<TxIdTable<TX_SIZE>>,
    rx_bufs: KBox<RxBuffers<RX_SIZE>>,
    // Boxed: it holds the packet in assembly (a 19-slot array), which
    // would otherwise grow every frame that builds or moves `Rings`.
    reader: KBox<RxPacketReader>,
    /// Whether received traffic is bulk: which RX pages to post.
    rx_sizes: RxSizeTracker,
    /// The polls' load, for `napi_threaded=2`.
    poll_load: PollLoad,
    pool: StagingPool<HeapSlice<PoolPage>>,
    /// Which pages of a large packet go out by per-packet grants.
    tx_grants: TxGrants,
    domid: u16,
    /// Packets out with per-packet grants, until every grant is ended.
    granted: KVec<Option<SkbGrants>>,
    /// Entries of `granted` in use: while any, answers are wanted at once
    /// (their skbs, and their sockets' send budgets, wait for them).
    granted_out: usize,
    /// For each TX id of a per-packet grant, its packet's entry in `granted`.
    granted_of: KBox<[u16; TX_SIZE]>,
    // Declared last: the pages' grants end after the rings are gone.
    pages: GrantedPages,
}

/// Which of a large packet's pages (one over [`TX_STAGE_MAX_DEFAULT`])
/// the backend is given by a grant of its own for that packet; the other
/// bytes are copied into the queue's staged pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxGrants {
    /// None: the backend sees only the queue's own pages (`trusted=0`,
    /// `grant_private_pages=0`).
    None,
    /// Whole 4 KiB pages that hold only the packet's bytes and that no one
    /// else can write ([`SkBuff::private_pages_start`]): nothing the backend
    /// may not see (`trusted=0`, the default).
    PrivatePages,
    /// Every page of the packet, as xen-netfront by default (`trusted=1`).
    All,
}

/// The ring references to publish for a new connection.
pub(crate) struct RingRefs {
    pub(crate) tx: u32,
    pub(crate) rx: u32,
}

impl Rings {
    /// Grants the two ring pages and the buffer pages to the backend of
    /// `xdev`; nothing is posted until [`Self::start`].
    pub(crate) fn new(xdev: &XenbusDevice, tx_grants: TxGrants) -> Result<(Self, RingRefs)> {
        let (tx_page, tx_ref) = MappedRing::grant(xdev)?;
        let (rx_page, rx_ref) = MappedRing::grant(xdev)?;
        let tx = FrontRing::new(TxSharedRing::new(tx_page)).map_err(|_| EINVAL)?;
        let rx = FrontRing::new(RxSharedRing::new(rx_page)).map_err(|_| EINVAL)?;
        let pages = GrantedPages::grant(xdev.otherend_id(), TX_SIZE, 2 * RX_SIZE)?;
        let mut pool =
            StagingPool::with_storage(HeapSlice(KVec::from_elem(PoolPage::EMPTY, TX_SIZE + 2 * RX_SIZE, GFP_KERNEL)?));
        // The pool holds the same grants as `pages`, both sorted by gref: a
        // page's place in the pool is its place in `pages`. Of the writable
        // pages, one per RX ring entry may be registered and the others
        // stay lendable.
        let mut writable = 0;
        for (gref, readonly) in pages.grants() {
            let added = if readonly || writable < RX_SIZE {
                pool.add_page(gref, readonly)
            } else {
                pool.add_lendable_page(gref)
            };
            added.map_err(|_| EINVAL)?;
            writable += usize::from(!readonly);
        }
        let mut granted = KVec::with_capacity(TX_SIZE, GFP_KERNEL)?;
        for _ in 0..TX_SIZE {
            granted.push(None, GFP_KERNEL)?;
        }
        let rings = Self {
            tx,
            rx,
            tx_grants,
            domid: xdev.otherend_id(),
            granted,
            granted_out: 0,
            granted_of: KBox::new([0; TX_SIZE], GFP_KERNEL)?,
            tx_ids: KBox::new(TxIdTable::new(), GFP_KERNEL)?,
            rx_bufs: KBox::new(RxBuffers::new(), GFP_KERNEL)?,
            reader: KBox::new(RxPacketReader::new(), GFP_KERNEL)?,
            rx_sizes: RxSizeTracker::new(),
            poll_load: PollLoad::new(),
            pool,
            pages,
        };
        Ok((rings, RingRefs { tx: tx_ref, rx: rx_ref }))
    }

    /// Starts the data path once the backend is connected and the pages
    /// it takes as staging grants are registered: the other pages are
    /// used as they are (plain mode: the backend grant-copies them), and
    /// every RX buffer is posted and published (the caller notifies).
    pub(crate) fn start(&mut self) -> Result {
        self.pool.use_unregistered().map_err(|_| EINVAL)?;
        while self.rx.free_requests() > 0 {
            let Some(page) = self.pool.take_rx() else { break };
            self.rx_bufs.post(&mut self.rx, page).map_err(|_| EINVAL)?;
        }
        self.rx.push_requests_and_check_notify();
        Ok(())
    }

    /// Whether a packet of `ring_slots` ring entries, `data_slots` of them
    /// data (a page and an id each), fits now.
    fn has_room(&self, ring_slots: usize, data_slots: usize) -> bool {
        self.tx.free_requests() as usize >= ring_slots
            && self.pool.free_tx() >= data_slots
            && self.tx_ids.free_ids() >= data_slots
    }

    /// Whether a packet of the most ring slots fits now.
    fn tx_has_room(&self) -> bool {
        self.has_room(TX_MAX_RING_SLOTS, TX_PLAN_SLOTS_DEFAULT)
    }

    /// Produces a plan's `requests`, each data slot's by `data` (its id
    /// claimed and page granted, or `None` to stop); false if one failed:
    /// nothing is published, the caller gives back what it took.
    fn produce(
        &mut self,
        requests: impl Iterator<Item = PlannedRequest>,
        mut data: impl FnMut(&mut Self, &PlannedData) -> Option<TxRequest>,
    ) -> bool {
        for req in requests {
            let request = match req {
                PlannedRequest::Data(d) => match data(self, &d) {
                    Some(r) => r,
                    None => return false,
                },
                PlannedRequest::Extra(extra) => {
                    self.tx_ids.claim_extra();
                    extra
                }
            };
            if self.tx.push_request(request).is_err() {
                return false;
            }
        }
        true
    }

    /// Sends a large `skb` (over [`TX_STAGE_MAX_DEFAULT`]) with read-only
    /// grants of its own pages, one slot per Xen page piece as xen-netfront:
    /// every piece for a trusted backend, else only the pieces that are
    /// whole private pages ([`SkBuff::private_pages_start`]) while the others
    /// are copied into staged pages. Whether it went (false: a grant or an
    /// id failed midway, the packet is dropped); gives `skb` back when the
    /// copy path must take it (no page to grant, too many pieces, a piece
    /// not in our memory, no room).
    fn queue_granted(&mut self, skb: SkBuff, meta: &TxPacketMeta) -> core::result::Result<bool, SkBuff> {
        let len = skb.len();
        let all = self.tx_grants == TxGrants::All;
        // Where private pages may start (untrusted), once per packet.
        let private_start = match self.tx_grants {
            TxGrants::PrivatePages => skb.private_pages_start(),
            TxGrants::None | TxGrants::All => None,
        };
        if (!all && private_start.is_none()) || len <= TX_STAGE_MAX_DEFAULT {
            return Err(skb);
        }
        // The bytes as pieces within one Xen page each, where each starts,
        // and whether it is granted (else copied).
        let mut pieces = [TxChunk { page_offset: 0, len: 0 }; SKB_GRANTS_MAX];
        let mut starts = [0u32; SKB_GRANTS_MAX];
        let mut granted = [false; SKB_GRANTS_MAX];
        let (mut count, mut copies) = (0, 0);
        let mut pos = 0;
        while pos < len {
            let (Some((frame, n)), Some(piece), Some(start), Some(grant)) =
                (skb.locate(pos), pieces.get_mut(count), starts.get_mut(count), granted.get_mut(count))
            else {
                return Err(skb);
            };
            *piece = TxChunk { page_offset: u32::from(frame.offset), len: n };
            *start = pos;
            // A private page: a whole Xen page of ours past the linear area.
            *grant = all || private_start.is_some_and(|start| pos >= start && frame.offset == 0 && n == XEN_PAGE_SIZE);
            copies += usize::from(!*grant);
            count += 1;
            pos += n;
        }
        if copies == count {
            return Err(skb);
        }
        let Ok(plan) = TxPlan::<TX_PLAN_SLOTS_DEFAULT>::new(pieces.iter().take(count).copied(), meta) else {
            return Err(skb);
        };
        let entry = self.granted.iter().position(Option::is_none);
        let room = self.tx.free_requests() as usize >= plan.ring_slots()
            && self.tx_ids.free_ids() >= plan.slots().len()
            && self.pool.free_tx() >= copies;
        let (Some(entry), true) = (entry.and_then(|e| u16::try_from(e).ok()), room) else {
            return Err(skb);
        };
        let mut grants = SkbGrants::new(skb, self.domid);
        let produced = self.produce(plan.requests(), |r, d| {
            let pos = starts.get(d.slot.chunk).copied().unwrap_or(u32::MAX).saturating_add(d.slot.chunk_offset);
            if !granted.get(d.slot.chunk).copied().unwrap_or(false) {
                return r.stage_slot(grants.skb()?, d, pos);
            }
            let gref = match grants.grant(pos) {
                Ok((gref, offset, _)) if offset == d.slot.offset => gref,
                _ => return None,
            };
            let id = r.tx_ids.claim(TxGrant::PerPacket(gref))?;
            if let Some(of) = r.granted_of.get_mut(usize::from(id)) {
                *of = entry;
            }
            Some(d.request(id, gref))
        });
        if !produced {
            // Nothing was published; the grants end with `grants` (or it
            // is leaked, should the backend have mapped a gref unasked).
            self.abandon_unpublished();
            drop(grants);
            return Ok(false);
        }
        self.tx_ids.publish();
        if let Some(e) = self.granted.get_mut(usize::from(entry)) {
            *e = Some(grants);
            self.granted_out += 1;
        }
        Ok(true)
    }

    /// Copies the `d.slot.len` bytes of `skb` from byte `pos` into a free TX
    /// page at the slot's offset and claims an id for it: its request, or
    /// `None` (the page is given back, now or by `abandon_unpublished`).
    fn stage_slot(&mut self, skb: &SkBuff, d: &PlannedData, pos: u32) -> Option<TxRequest> {
        let page = self.pool.take_tx()?;
        let copied = self.pages.copy_from_skb(page, u32::from(d.slot.offset), skb, pos, u32::from(d.slot.len));
        match (copied, self.tx_ids.claim(TxGrant::Staged(page))) {
            (Ok(()), Some(id)) => Some(d.request(id, page.gref)),
            // An id claimed by a failed copy gives its page back through
            // `abandon_unpublished`.
            (Err(_), Some(_)) => None,
            (_, None) => {
                let _ = self.pool.give_back_page(page);
                None
            }
        }
    }

    /// Forgets the requests produced for a packet that failed midway: their
    /// ids and staged pages go back (per-packet grants end with their
    /// `SkbGrants`).
    fn abandon_unpublished(&mut self) {
        let pool = &mut self.pool;
        self.tx_ids.abandon(|_, grant| {
            if let TxGrant::Staged(page) = grant {
                let _ = pool.give_back_page(page);
            }
        });
        // Nothing was published: the produced requests are forgotten.
        self.tx.discard_unpublished();
    }

    /// Copies `skb` into TX pages and produces its requests; on error
    /// nothing is produced and every page and id taken is given back.
    fn queue_packet(&mut self, skb: &SkBuff, plan: &TxCopyPlan) -> Result<()> {
        if !self.has_room(plan.ring_slots(), plan.data_slots()) {
            return Err(EBUSY);
        }
        // A copy plan's slot starts at byte `chunk_offset` of the packet.
        if !self.produce(plan.requests(), |r, d| r.stage_slot(skb, d, d.slot.chunk_offset)) {
            self.abandon_unpublished();
            return Err(EINVAL);
        }
        self.tx_ids.publish();
        Ok(())
    }

    /// Takes every TX response: frees ids and pages. Returns the slots
    /// answered, or the reason the backend broke the ring.
    fn complete_tx(&mut self, stats: &QueueStats) -> core::result::Result<u32, &'static str> {
        let mut n = 0u32;
        loop {
            let rsp = match self.tx.next_response() {
                Ok(Some((_, rsp))) => rsp,
                Ok(None) => break,
                Err(e) => return Err(e.description()),
            };
            // A per-packet grant is ended through its packet's entry.
            let entry = self.granted_of.get(usize::from(rsp.id)).map(|&e| usize::from(e));
            let granted = &mut self.granted;
            let end =
                |gref| entry.and_then(|e| granted.get_mut(e)).and_then(Option::as_mut).is_some_and(|g| g.end(gref));
            match self.tx_ids.complete(rsp, end) {
                Ok(TxCompletion::Null) => {}
                Ok(TxCompletion::Slot { grant, status, .. }) => {
                    if status != crate::netif::front_tx::TxStatus::Okay {
                        stats.tx_errors.add(1, self);
                    }
                    match grant {
                        TxGrant::Staged(page) => {
                            if self.pool.give_back_page(page).is_err() {
                                return Err("TX response for a page not in use");
                            }
                        }
                        // The packet goes once all its grants are ended.
                        TxGrant::PerPacket(_) => {
                            if let Some(slot) = entry.and_then(|e| self.granted.get_mut(e)) {
                                if slot.as_ref().is_some_and(SkbGrants::all_ended) {
                                    if let Some(g) = slot.take() {
                                        g.finish();
                                        self.granted_out = self.granted_out.saturating_sub(1);
                                    }
                                }
                            }
                        }
                    }
                }
                Err(e) => return Err(e.description()),
            }
            n = n.saturating_add(1);
        }
        Ok(n)
    }

    /// Arms the TX ring's event once TX work is done (`xmit`, the poll):
    /// for the next answer, taking what arrived meanwhile, while something
    /// waits for one (the queue for room, a packet sent by per-packet
    /// grants); else only after [`TX_EVENT_AHEAD`] answers. Returns the
    /// answers it took, or the reason the backend broke the ring.
    fn arm_tx_event(&mut self, stats: &QueueStats) -> core::result::Result<u32, &'static str> {
        let mut answered = 0u32;
        while self.granted_out > 0 || !self.tx_has_room() {
            match self.tx.final_check_for_responses() {
                Ok(false) => return Ok(answered),
                Ok(true) => answered = answered.saturating_add(self.complete_tx(stats)?),
                Err(e) => return Err(e.description()),
            }
        }
        self.tx.defer_response_event(TX_EVENT_AHEAD);
        Ok(answered)
    }

    /// Makes an skb of the packet the reader accepted
    /// ([`RxPacketReader::packet`]) and posts its buffers again. A packet
    /// of up to [`RX_LINEAR_MAX`] bytes is copied into the skb's head; a
    /// larger one (jumbo, GSO) has its first [`RX_COPY_THRESHOLD`] bytes
    /// (the headers) copied there and the rest of each slot as a frag,
    /// lent or copied ([`Self::add_slot_frag`]). The skb is `None` when it
    /// could not be made (the buffers are posted all the same); the reason
    /// when the backend broke the ring or a buffer could not be posted.
    fn take_packet(&mut self, dev: &NetDev<'_>, stats: &QueueStats) -> (Option<SkBuff>, Option<&'static str>) {
        let (skb, lent, broken) = self.build_skb(dev);
        stats.rx_pages_lent.add(lent, self);
        let len = self.reader.packet().info.len;
        self.rx_sizes.add(len);
        let ids = self.reader.packet().ids();
        let reposted = self.repost(ids);
        let broken = broken.or((!reposted).then_some("an RX buffer could not be posted again"));
        (skb, broken)
    }

    /// Posts the buffers `ids` again, in ring order; false if one could not
    /// be (a buffer lost for good: the ring would run dry, so the caller
    /// stops the queue). A buffer's page is posted again when it is of the
    /// kind the traffic wants ([`RxSizeTracker::is_bulk`]: lendable for
    /// bulk, staged for small packets), else swapped for a free page of that
    /// kind, when the pool has one.
    fn repost(&mut self, ids: impl Iterator<Item = u16>) -> bool {
        let bulk = self.rx_sizes.is_bulk();
        let mut all = true;
        for id in ids {
            let swap = self.rx_bufs.received_page(id).filter(|&page| self.pool.is_lendable(page) != bulk);
            let posted = match swap.and_then(|_| self.rx_bufs.release(id)) {
                Some(page) => {
                    // Given back first, so the pool has a page to hand out.
                    let _ = self.pool.give_back_page(page);
                    self.pool
                        .take_rx_preferring(bulk)
                        .is_some_and(|fresh| self.rx_bufs.post(&mut self.rx, fresh).is_ok())
                }
                None => self.rx_bufs.repost(&mut self.rx, id).is_ok(),
            };
            all &= posted;
        }
        all
    }

    /// [`Self::take_packet`]'s skb, the pages lent to it, and the reason
    /// when the backend broke the ring.
    fn build_skb(&mut self, dev: &NetDev<'_>) -> (Option<SkBuff>, u64, Option<&'static str>) {
        let pkt = self.reader.packet();
        let len = pkt.info.len;
        // A frag per slot with bytes past the head; more than the skb
        // holds (up to 19 slots against 17 frags) are packed by a copy.
        let head = if len <= RX_LINEAR_MAX { len } else { RX_COPY_THRESHOLD };
        let mut end = 0u32;
        let frags = pkt
            .data_slots()
            .iter()
            .filter(|slot| {
                end = end.saturating_add(u32::from(slot.len));
                end > head
            })
            .count();
        let Some(mut skb) = dev.napi_alloc_skb(head) else { return (None, 0, None) };
        if skb.put(head).is_err() {
            return (None, 0, None);
        }
        if len <= RX_LINEAR_MAX || frags > skb.frag_room() {
            return (Self::copy_out(&self.pages, pkt, skb), 0, None);
        }
        let (mut pos, mut lent) = (0u32, 0u64);
        for slot in pkt.data_slots() {
            let n = u32::from(slot.len);
            let in_head = n.min(head.saturating_sub(pos));
            if in_head > 0 && self.pages.copy_to_skb(slot.page, u32::from(slot.offset), &mut skb, pos, in_head).is_err()
            {
                return (None, lent, None);
            }
            if n > in_head {
                let at = u32::from(slot.offset) + in_head;
                match Self::add_slot_frag(
                    &mut self.pages,
                    &self.pool,
                    slot.page,
                    at,
                    n - in_head,
                    &mut skb,
                    pos + in_head,
                ) {
                    Ok(true) => lent += 1,
                    Ok(false) => {}
                    Err(e) if e == EBUSY => {
                        return (None, lent, Some("the backend maps an RX page it was to copy into"))
                    }
                    Err(_) => return (None, lent, None),
                }
            }
            pos = pos.saturating_add(n);
        }
        (Some(skb), lent, None)
    }

    /// Adds `len` bytes at `offset` of the received page `page` as the next
    /// frag of `skb`, whose byte `pos` they are: the page itself when it is
    /// lendable (true), else a copy into a new page (false; also when no
    /// page is free to take a lent one's place). EBUSY when the backend
    /// maps a page it should only have grant-copied into.
    fn add_slot_frag(
        pages: &mut GrantedPages,
        pool: &StagingPool<HeapSlice<PoolPage>>,
        page: TakenPage,
        offset: u32,
        len: u32,
        skb: &mut SkBuff,
        pos: u32,
    ) -> Result<bool> {
        if pool.is_lendable(page) {
            match pages.lend(page) {
                Ok(frag) => return skb.add_frag_at(frag, offset, len).map(|()| true).map_err(|_| EINVAL),
                Err(e) if e == ENOMEM => {}
                Err(e) => return Err(e),
            }
        }
        let frag = FragPages::alloc_atomic(0).ok_or(ENOMEM)?;
        skb.add_frag(frag, len).map_err(|_| EINVAL)?;
        pages.copy_to_skb(page, offset, skb, pos, len)?;
        Ok(false)
    }

    /// Copies all of `pkt` past the head `skb` has into page frags, packed
    /// (a page per 4096 bytes, whatever the slots).
    fn copy_out(pages: &GrantedPages, pkt: &RxPacket, mut skb: SkBuff) -> Option<SkBuff> {
        let mut rest = pkt.info.len.saturating_sub(skb.len());
        while rest > 0 {
            let n = rest.min(XEN_PAGE_SIZE);
            skb.add_frag(FragPages::alloc_atomic(0)?, n).ok()?;
            rest -= n;
        }
        let mut pos = 0u32;
        for slot in pkt.data_slots() {
            let n = u32::from(slot.len);
            pages.copy_to_skb(slot.page, u32::from(slot.offset), &mut skb, pos, n).ok()?;
            pos = pos.saturating_add(n);
        }
        Some(skb)
    }
}

/// Driver state of one queue.
#[pin_data]
pub(crate) struct Queue {
    /// The connection's rings; `None` while disconnected.
    #[pin]
    pub(crate) rings: SpinLockBh<Option<Rings>>,
    /// The rings are up and the backend has not broken them.
    pub(crate) live: AtomicBool,
    /// Dropped packets logged so far (the first [`DROPS_LOGGED`] are).
    drops_logged: AtomicU32,
    /// A poll found work since the last EOI (the EOI is spurious without).
    work_since_eoi: AtomicBool,
    pub(crate) stats: QueueStats,
}

impl Queue {
    /// An idle queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            rings <- new_spinlock_bh!(None),
            live: AtomicBool::new(false),
            drops_logged: AtomicU32::new(0),
            work_since_eoi: AtomicBool::new(false),
            stats: QueueStats::default(),
        })
    }

    /// Runs `f` on the connection's page pool under the ring lock; `None`
    /// while disconnected.
    pub(crate) fn with_pool<R>(&self, f: impl FnOnce(&mut StagingPool<HeapSlice<PoolPage>>) -> R) -> Option<R> {
        let mut guard = self.rings.lock();
        (*guard).as_mut().map(|r| f(&mut r.pool))
    }

    /// Pages of the connection registered as staging grants.
    pub(crate) fn staged_pages(&self) -> usize {
        self.with_pool(|pool| pool.registered()).unwrap_or(0)
    }

    /// Counts a dropped packet in `counter` and logs why, for the first
    /// [`DROPS_LOGGED`] of the queue.
    fn dropped(&self, dev: &NetDev<'_>, counter: &AtomicU64, why: &str) {
        bump(counter, 1);
        if self.drops_logged.fetch_add(1, Ordering::Relaxed) < DROPS_LOGGED {
            pr_warn!("{}: packet dropped: {}\n", dev.name(), why);
        }
    }

    /// The backend broke the protocol: the queue stops (Linux's `broken`).
    fn broken(&self, dev: &NetDev<'_>, why: &str) {
        if self.live.swap(false, Ordering::AcqRel) {
            pr_err!("{}: backend broke the rings: {}; queue disabled\n", dev.name(), why);
            dev.stop_queue();
            dev.carrier_off();
        }
    }

    /// `ndo_start_xmit` on this queue: copies the packet into TX pages and
    /// sends it, or drops it. Consumes `skb`.
    pub(crate) fn xmit(&self, dev: &NetDev<'_>, mut skb: SkBuff) {
        if !self.live.load(Ordering::Acquire) {
            bump(&self.stats.tx_dropped, 1);
            return;
        }
        let Ok(info) = skb.prepare_to_guest() else {
            self.dropped(dev, &self.stats.tx_dropped, "no memory to flatten its frag list");
            return;
        };
        let checksum = TxChecksum::from(info.csum());
        let gso = match info.gso {
            SkbGso::None => None,
            SkbGso::Tcp(kind, size) => Some(TxGso { size, kind }),
            // Only TCP segmentation is negotiated; the stack segments the rest.
            SkbGso::Unsupported => {
                self.dropped(dev, &self.stats.tx_dropped, "a GSO type the ring cannot carry");
                return;
            }
        };
        let meta = TxPacketMeta { checksum, gso };
        // The copy path's plan, made only when that path takes the packet.
        let mut copy_plan = None;
        let mut notify = false;
        let mut sent = false;
        let mut granted = false;
        let mut broken_why = None;
        let mut left = Some(skb);
        {
            let mut guard = self.rings.lock();
            if let Some(r) = (*guard).as_mut() {
                // Trusted backend, large packet: its own pages, granted.
                if let Some(s) = left.take() {
                    match r.queue_granted(s, &meta) {
                        Ok(went) => (sent, granted) = (went, went),
                        Err(s) => left = Some(s),
                    }
                }
                if let Some(s) = left.as_ref() {
                    let plan = TxCopyPlan::new(info.len, &meta);
                    sent = plan.as_ref().is_ok_and(|p| r.queue_packet(s, p).is_ok());
                    copy_plan = Some(plan);
                }
                if sent {
                    notify = r.tx.push_requests_and_check_notify();
                    self.stats.tx_packets.add(1, r);
                    self.stats.tx_bytes.add(u64::from(info.len), r);
                }
                if granted {
                    self.stats.tx_granted.add(1, r);
                }
                // Waiting for an answer now (room, this packet's grants):
                // the next one must raise an event. Arming takes the
                // answers already there, so room is looked at again.
                let mut room = r.tx_has_room();
                if granted || !room {
                    broken_why = r.arm_tx_event(&self.stats).err();
                    room = r.tx_has_room();
                }
                if !room {
                    dev.stop_queue();
                }
            }
        }
        if notify {
            dev.notify(Channel::Tx);
        }
        if let Some(why) = broken_why {
            self.broken(dev, why);
        }
        if !sent {
            let why = match copy_plan {
                Some(Err(e)) => e.description(),
                _ => "no room on the TX ring",
            };
            self.dropped(dev, &self.stats.tx_dropped, why);
        }
        if let Some(s) = left {
            s.consume();
        }
    }

    /// The NAPI poll: TX answers, then up to `budget` received packets.
    /// With `count` (`napi_threaded=2`) its last batch counts the poll in
    /// the queue's load, under the lock it holds anyway: the second value
    /// is whether it found the queue flooded ([`PollLoad::on_poll`]).
    pub(crate) fn poll(&self, dev: &NetDev<'_>, budget: i32, count: bool) -> (i32, bool) {
        let budget = usize::try_from(budget).unwrap_or(0);
        let mut done = 0usize;
        let mut flooded = false;
        let mut tx_answered = 0u32;
        // The backend broke the RX ring (or a buffer was lost): the queue
        // stops, and the poll still ends the normal way (NAPI completed, the
        // event's EOI), or NAPI would stay scheduled and the channel masked.
        let mut broken_why: Option<&'static str> = None;
        loop {
            let mut batch: [Option<SkBuff>; RX_BATCH] = Default::default();
            let mut taken = 0usize;
            let more;
            let notify;
            {
                let mut guard = self.rings.lock();
                let Some(r) = (*guard).as_mut() else { break };
                if !self.live.load(Ordering::Acquire) {
                    break;
                }
                if done == 0 {
                    match r.complete_tx(&self.stats) {
                        Ok(n) => tx_answered = n,
                        Err(why) => {
                            drop(guard);
                            self.broken(dev, why);
                            break;
                        }
                    }
                    if r.tx_has_room() && dev.queue_stopped() {
                        dev.wake_queue();
                    }
                }
                while taken < RX_BATCH && done + taken < budget {
                    match r.reader.poll(&mut r.rx, &mut r.rx_bufs) {
                        Ok(RxPoll::Packet) => {
                            let info = r.reader.packet().info;
                            let (blank, valid) = match info.csum {
                                RxCsum::Partial => (true, true),
                                RxCsum::Unnecessary => (false, true),
                                RxCsum::None => (false, false),
                            };
                            let (skb, broken) = r.take_packet(dev, &self.stats);
                            if broken.is_some() {
                                broken_why = broken;
                            }
                            let skb = match skb {
                                Some(mut skb) => match dev.finish_from_guest(&mut skb, blank, valid, info.gso) {
                                    Ok(_) => {
                                        // The backend's flow hash (HASH extra): the stack
                                        // need not compute one.
                                        if let Some(h) = info.hash {
                                            skb.set_hash(h.value, h.l4);
                                        }
                                        Ok(skb)
                                    }
                                    Err(_) => Err("bad headers"),
                                },
                                None => Err("no memory for the skb"),
                            };
                            match skb {
                                Ok(skb) => {
                                    self.stats.rx_packets.add(1, r);
                                    self.stats.rx_bytes.add(u64::from(info.len), r);
                                    if let Some(slot) = batch.get_mut(taken) {
                                        *slot = Some(skb);
                                    }
                                    taken += 1;
                                }
                                Err(why) => self.dropped(dev, &self.stats.rx_dropped, why),
                            }
                        }
                        Ok(RxPoll::Rejected(bad)) => {
                            self.dropped(dev, &self.stats.rx_errors, bad.reason.description());
                            if !r.repost(bad.ids()) {
                                broken_why = Some("an RX buffer could not be posted again");
                            }
                        }
                        Ok(RxPoll::Empty) => break,
                        Err(e) => broken_why = Some(e.description()),
                    }
                    if broken_why.is_some() {
                        break;
                    }
                }
                notify = r.rx.push_requests_and_check_notify();
                more = taken == RX_BATCH && done + taken < budget;
                if count && !more && broken_why.is_none() {
                    let done = u32::try_from(done + taken).unwrap_or(u32::MAX);
                    let budget = u32::try_from(budget).unwrap_or(u32::MAX);
                    flooded = r.poll_load.on_poll(done, budget, crate::bindings::cpu_wanted());
                }
            }
            if notify {
                dev.notify(Channel::Rx);
            }
            for skb in batch.iter_mut().filter_map(Option::take) {
                dev.receive(skb);
            }
            done += taken;
            if let Some(why) = broken_why {
                self.broken(dev, why);
                break;
            }
            if !more {
                break;
            }
        }
        if done > 0 || tx_answered > 0 {
            self.work_since_eoi.store(true, Ordering::Release);
        }
        let done = i32::try_from(done).unwrap_or(0);
        if usize::try_from(done).unwrap_or(0) < budget && dev.napi_complete(done) {
            // The event that scheduled this poll is answered: as spurious
            // when no poll found work since the last EOI (XSA-391; an event
            // whose work an earlier poll took is not), so Xen slows down a
            // backend that sends events for nothing. Kept while no EOI is
            // owed, for the event still to come.
            // Both rings' channels when split (one EOI when shared).
            if dev.eoi_owed(Channel::Tx) || dev.eoi_owed(Channel::Rx) {
                let work = self.work_since_eoi.swap(false, Ordering::AcqRel);
                dev.lateeoi(Channel::Tx, !work);
                dev.lateeoi(Channel::Rx, !work);
            }
            let pending = {
                let mut guard = self.rings.lock();
                (*guard).as_mut().is_some_and(|r| {
                    // TX answers taken here (the queue was waiting) may
                    // make the room the stopped queue waits for.
                    let tx_broken = r.arm_tx_event(&self.stats).is_err();
                    if r.tx_has_room() && dev.queue_stopped() {
                        dev.wake_queue();
                    }
                    r.rx.final_check_for_responses().unwrap_or(true) | tx_broken
                })
            };
            if pending && self.live.load(Ordering::Acquire) {
                dev.napi_schedule();
            }
        }
        (done, flooded)
    }
}

// SPDX-License-Identifier: GPL-2.0
//! Guest RX (backend -> guest): queued packets are grant-copied into the
//! buffers the frontend posted on its RX ring.
//!
//! Runs in its queue's RX worker (see `QueueOps::rx_work` in `napi/`), or in
//! `ndo_start_xmit` for a lone small packet, never queued (`rx_sender_writes`), under the
//! queue's RX lock (bottom halves off), so it never sleeps. The protocol
//! core decides how many buffers a packet needs (`rx_slots_needed`), reserves
//! them if posted (`rx_slots_available`, never consuming a ring partially:
//! XSA-392) and writes every response into exactly those (`RxPacketWriter`);
//! this file turns each data step into grant copies (`COPY_BATCH` per hypercall) and
//! rewrites the responses of failed copies before publishing.
//!
//! Copy ops read the skb's memory when the batch is submitted, so an skb
//! lives until every op queued from it ran: packets written completely wait
//! in `copied` for the next flush, and a packet that fails part-way has its
//! still-queued ops discarded before it is freed.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{Channel, NetDev};
use crate::bindings::net::skb::{SkBuff, SkbGso};
use crate::bindings::xen::grant::{CopyBatch, CopyMark, COPY_BATCH};
use crate::bindings::xen::ring::RxSharedRing;
use crate::fatal::FatalReason;
use crate::grant_pool::{StagedCopy, StagedGrants};
use crate::netif::ring::{BackRing, RequestReservation};
use crate::netif::rx::{
    rx_copy_failed_response, rx_is_lone_slot, rx_slots_available, rx_slots_needed, rx_write_lone_slot, CarrierChange,
    RxConfig, RxHash, RxPacketInfo, RxPacketWriter, RxStall, RxStep, RxTimeouts, RX_BATCH_SIZE,
};
use crate::netif::wire::{GsoType, RxResponse, NETIF_RSP_ERROR};
use crate::stats::VifStats;
use kernel::prelude::*;

/// What one pass of the RX worker did.
pub(crate) struct RxOutcome {
    /// Packets written to the guest.
    pub(crate) packets: u32,
    /// The head packet is waiting for more guest buffers.
    pub(crate) blocked: bool,
    /// The worker stopped at its batch limit with packets left.
    pub(crate) batch_full: bool,
    /// This queue stalled or recovered (the VIF's `StalledQueues` decides
    /// the device carrier).
    pub(crate) carrier: CarrierChange,
    /// The sender's packet, when the guest had no buffers for it.
    pub(crate) returned: Option<SkBuff>,
}

/// What the frontend negotiated for guest RX.
#[derive(Clone, Copy)]
pub(crate) struct RxFrontendCaps {
    /// feature-gso-tcpv4.
    pub(crate) gso_v4: bool,
    /// feature-gso-tcpv6.
    pub(crate) gso_v6: bool,
}

impl RxFrontendCaps {
    /// Whether the frontend takes GSO packets of `kind`.
    fn allows_gso(&self, kind: GsoType) -> bool {
        match kind {
            GsoType::TcpV4 => self.gso_v4,
            GsoType::TcpV6 => self.gso_v6,
        }
    }
}

/// Where one copy into the guest lands: the granted buffer, the offset in it, and the
/// ring slot whose response reports the copy's outcome.
#[derive(Clone, Copy)]
struct GuestBuffer {
    gref: u32,
    offset: u16,
    index: u32,
    response: RxResponse,
}

/// The queue's staging grants during one [`RxQueue::action`], and what it
/// did with them.
struct Staging<'a> {
    grants: &'a StagedGrants,
    hits: u64,
    misses: u64,
}

/// The guest RX side of one queue.
pub(crate) struct RxQueue {
    ring: BackRing<RxSharedRing>,
    cfg: RxConfig,
    caps: RxFrontendCaps,
    batch: CopyBatch,
    /// Per queued copy op: the ring index and response it fills.
    targets: KVec<(u32, RxResponse)>,
    /// Packets whose copies are all queued; freed after the batch ran.
    copied: KVec<SkBuff>,
    stall: RxStall,
    timeouts: RxTimeouts,
    domid: u16,
    /// Send XEN_NETIF_EXTRA_TYPE_HASH with hashed packets.
    hash_extras: bool,
}

impl RxQueue {
    /// Sets up the RX side on an attached ring.
    pub(crate) fn new(
        ring: BackRing<RxSharedRing>,
        cfg: RxConfig,
        caps: RxFrontendCaps,
        timeouts: RxTimeouts,
        now: u64,
        domid: u16,
    ) -> Result<Self> {
        Ok(Self {
            ring,
            cfg,
            caps,
            batch: CopyBatch::new(COPY_BATCH)?,
            targets: KVec::with_capacity(COPY_BATCH, GFP_KERNEL)?,
            copied: KVec::with_capacity(RX_BATCH_SIZE as usize, GFP_KERNEL)?,
            stall: RxStall::new(now),
            timeouts,
            domid,
            hash_extras: false,
        })
    }

    /// Whether hashed packets carry a hash extra (a hash algorithm is set).
    pub(crate) fn set_hash_extras(&mut self, on: bool) {
        self.hash_extras = on;
    }

    /// Applies a new XDP headroom (frontend Reconfiguring).
    pub(crate) fn set_xdp_headroom(&mut self, headroom: u16) {
        self.cfg = RxConfig::new(headroom);
    }

    /// The shared ring (debugfs).
    pub(crate) fn ring(&self) -> &BackRing<RxSharedRing> {
        &self.ring
    }

    /// The timeouts in use (debugfs).
    pub(crate) fn timeouts(&self) -> RxTimeouts {
        self.timeouts
    }

    /// Whether the guest RX side is stalled (debugfs).
    pub(crate) fn is_stalled(&self) -> bool {
        self.stall.is_stalled()
    }

    /// Drain timeout in ticks.
    pub(crate) fn drain_ticks(&self) -> u64 {
        self.timeouts.drain
    }

    fn packet_info(&self, skb: &mut SkBuff) -> Result<RxPacketInfo> {
        let info = skb.prepare_to_guest()?;
        let gso = match info.gso {
            SkbGso::Tcp(kind, size) if self.caps.allows_gso(kind) => Some((kind, size)),
            SkbGso::None => None,
            // The stack only hands us GSO kinds the features allow; anything
            // else cannot be described to the guest.
            _ => return Err(EINVAL),
        };
        let csum = info.csum();
        // A hash extra only while the frontend configured a hash algorithm,
        // and only with the hash ndo_start_xmit computed with its
        // configuration (never the stack's own flow hash).
        let hash = match info.guest_hash {
            Some(h) if self.hash_extras => Some(RxHash { value: h.value, ipv4: h.ipv4, l4: h.l4 }),
            _ => None,
        };
        Ok(RxPacketInfo { len: info.len, gso, hash, csum })
    }

    /// Drops the copy ops queued since `mark` that have not run yet, and
    /// their targets: the packet they copy from is about to be freed.
    fn discard_copies_since(&mut self, mark: CopyMark) {
        self.batch.discard_since(mark);
        // One target per queued op.
        self.targets.truncate(self.batch.len());
    }

    /// Runs the queued copies, marks failed ones in their responses and
    /// frees the packets whose data is now in the guest.
    fn flush_copies(&mut self) -> core::result::Result<(), FatalReason> {
        self.batch.submit();
        let mut result = Ok(());
        for (i, &(index, rsp)) in self.targets.iter().enumerate() {
            if !self.batch.ok(i) {
                let failed = rx_copy_failed_response(rsp, self.batch.status(i));
                if let Err(e) = self.ring.overwrite_unpublished(index, failed) {
                    result = Err(e.into());
                }
            }
        }
        self.targets.clear();
        self.batch.clear();
        for skb in self.copied.drain_all() {
            skb.consume();
        }
        result
    }

    /// Queues the copy of up to `len` bytes of `skb` from `pos` into `dest`; returns the
    /// bytes queued (the rest of the skb fragment at `pos` at most).
    fn queue_copy(
        &mut self,
        dest: GuestBuffer,
        skb: &SkBuff,
        pos: u32,
        len: u32,
        staging: &mut Staging<'_>,
    ) -> core::result::Result<u32, FatalReason> {
        let GuestBuffer { gref, offset: dest_offset, index, response: rsp } = dest;
        // A staged grant: one memcpy into its mapped page, no grant copy.
        if staging.grants.is_active() {
            match staging.grants.copy_from_skb(gref, dest_offset, skb, pos, len) {
                Ok(StagedCopy::Hit) => {
                    staging.hits += 1;
                    return Ok(len);
                }
                Ok(StagedCopy::Miss) => staging.misses += 1,
                Err(_) => {
                    let failed = rx_copy_failed_response(rsp, NETIF_RSP_ERROR);
                    self.ring.overwrite_unpublished(index, failed).map_err(FatalReason::from)?;
                    return Ok(len);
                }
            }
        }
        // From our frame, or straight from the sending guest's grant when the
        // data sits in a page mapped from it (its zero-copy TX).
        let Some((source, avail)) = skb.copy_source(pos) else {
            // The skb is shorter than its length said: fail this buffer.
            let failed = rx_copy_failed_response(rsp, NETIF_RSP_ERROR);
            self.ring.overwrite_unpublished(index, failed).map_err(FatalReason::from)?;
            return Ok(len);
        };
        let n = len.min(avail);
        if !self.batch.has_room(1) || self.targets.len() >= COPY_BATCH {
            self.flush_copies()?;
        }
        self.batch
            .push_to_guest(source, self.domid, gref, dest_offset, n as u16)
            .map_err(|_| FatalReason::CopyBatchFull)?;
        if self.targets.push_within_capacity((index, rsp)).is_err() {
            return Err(FatalReason::CopyBatchFull);
        }
        Ok(n)
    }

    /// Writes one packet into the guest buffers reserved for it. On error
    /// some of its copy ops may still be queued: the caller discards them
    /// before freeing `skb`.
    fn write_packet(
        &mut self,
        skb: &SkBuff,
        info: &RxPacketInfo,
        lone: bool,
        reservation: RequestReservation,
        staging: &mut Staging<'_>,
    ) -> core::result::Result<(), FatalReason> {
        // Most packets take one buffer (`lone`, as `rx_is_lone_slot` said when
        // the buffers were counted): one step, no writer.
        if lone {
            let step = rx_write_lone_slot(&mut self.ring, reservation, &self.cfg, info).map_err(FatalReason::from)?;
            self.copy_step(skb, step, 0, staging)?;
            return Ok(());
        }
        let mut writer = RxPacketWriter::new(&self.cfg, info, reservation).map_err(FatalReason::from)?;
        let mut pos: u32 = 0;
        while let Some(step) = writer.next_step(&mut self.ring).map_err(FatalReason::from)? {
            pos = self.copy_step(skb, step, pos, staging)?;
        }
        Ok(())
    }

    /// Queues the copies of one step's data, the packet's bytes from `pos` on; returns the
    /// position after them.
    fn copy_step(
        &mut self,
        skb: &SkBuff,
        step: RxStep,
        mut pos: u32,
        staging: &mut Staging<'_>,
    ) -> core::result::Result<u32, FatalReason> {
        let RxStep::Data { request, index, dest_offset, len, response } = step else {
            return Ok(pos);
        };
        let mut remaining = u32::from(len);
        let mut dst = u32::from(dest_offset);
        while remaining > 0 {
            let dest = GuestBuffer { gref: request.gref, offset: dst as u16, index, response };
            let n = self.queue_copy(dest, skb, pos, remaining, staging)?;
            if n == 0 {
                break;
            }
            pos += n;
            dst += n;
            remaining = remaining.saturating_sub(n);
        }
        Ok(pos)
    }

    /// Moves into the guest `direct`, a packet its sender hands over
    /// without queueing it (the backlog is empty and stays so while the
    /// ring is held: only the sender queues), or else up to
    /// `RX_BATCH_SIZE` queued packets. `dequeued(bytes)` runs as each
    /// queued packet leaves the backlog (written or dropped), so the caller
    /// can release its backlog bytes and wake the netdev queue at once, as
    /// xen-netback's dequeue does: the stack then refills the backlog while
    /// this run copies, instead of after it. A `direct` packet the ring has
    /// no room for comes back in [`RxOutcome::returned`].
    pub(crate) fn action(
        &mut self,
        dev: &NetDev<'_>,
        stats: &VifStats,
        staged: &StagedGrants,
        now: u64,
        mut direct: Option<SkBuff>,
        mut dequeued: impl FnMut(u32),
    ) -> core::result::Result<RxOutcome, FatalReason> {
        let mut staging = Staging { grants: staged, hits: 0, misses: 0 };
        let mut out =
            RxOutcome { packets: 0, blocked: false, batch_full: false, carrier: CarrierChange::None, returned: None };
        let mut result = Ok(());
        let mut blocked_needed = 0;
        // Added to the counters once per run: an atomic add per packet costs.
        let mut bytes = 0u64;
        let limit = if direct.is_some() { 1 } else { RX_BATCH_SIZE };
        while out.packets < limit {
            let (mut skb, queued) = match direct.take() {
                Some(skb) => (skb, false),
                None if limit == 1 => break,
                None => match dev.rxq_pop() {
                    Some(skb) => (skb, true),
                    None => break,
                },
            };
            let len = skb.len();
            let info = match self.packet_info(&mut skb) {
                Ok(i) => i,
                Err(_) => {
                    if queued {
                        dequeued(len);
                    }
                    stats.tx_dropped.add(1);
                    continue;
                }
            };
            let lone = rx_is_lone_slot(&self.cfg, &info);
            let needed = if lone { 1 } else { rx_slots_needed(&self.cfg, &info) };
            let reservation = match rx_slots_available(&mut self.ring, needed) {
                Ok(Some(reservation)) => reservation,
                Ok(None) => {
                    if queued {
                        dev.rxq_push_front(skb);
                    } else {
                        out.returned = Some(skb);
                    }
                    stats.tx_ring_full.add(1);
                    out.blocked = true;
                    blocked_needed = needed;
                    break;
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            };
            if self.copied.len() >= self.copied.capacity() {
                if let Err(e) = self.flush_copies() {
                    result = Err(e);
                    break;
                }
            }
            let mark = self.batch.mark();
            if let Err(e) = self.write_packet(&skb, &info, lone, reservation, &mut staging) {
                // Never let Xen copy from this skb once it is freed (at
                // the end of this iteration).
                self.discard_copies_since(mark);
                result = Err(e);
                break;
            }
            out.packets += 1;
            if queued {
                dequeued(len);
            }
            bytes += u64::from(len);
            self.stall.packet_sent(now);
            if let Err(kernel::alloc::kvec::PushError(skb)) = self.copied.push_within_capacity(skb) {
                // Capacity was checked above; regardless, run the copies
                // while the data is alive, then free it.
                let flushed = self.flush_copies();
                drop(skb);
                if let Err(e) = flushed {
                    result = Err(e);
                    break;
                }
            }
        }
        if out.packets >= limit && limit > 1 && dev.rxq_len() > 0 {
            out.batch_full = true;
        }
        let flushed = self.flush_copies();
        stats.tx_packets.add(u64::from(out.packets));
        stats.tx_bytes.add(bytes);
        stats.add_tx_copies(self.batch.take_counts());
        stats.tx_staging_hits.add(staging.hits);
        stats.tx_staging_misses.add(staging.misses);
        // On a ring error a packet may be half written: publish nothing, the
        // VIF is being disabled.
        if result.is_ok() && flushed.is_ok() && self.ring.push_responses_and_check_notify() {
            dev.notify(Channel::Rx);
        }
        result?;
        flushed?;

        // Stall detection: this queue stalls when the guest posts no buffers
        // for rx_stall_timeout and recovers when it does; the caller turns
        // that into the device carrier over all queues.
        let posted = self.ring.published_requests().map_err(FatalReason::from)?;
        out.carrier = self.stall.update(posted, blocked_needed, now, &self.timeouts);
        Ok(out)
    }
}

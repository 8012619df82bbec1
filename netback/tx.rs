// SPDX-License-Identifier: GPL-2.0
//! Guest TX (guest -> backend): requests from the TX ring become skbs.
//!
//! Runs in NAPI context only (see `QueueOps::napi_poll` in `napi/`). The protocol core's
//! `TxAssembler` reads each request slot exactly once and returns a verdict;
//! accepted packets are grant-copied into an skb from the buffer source
//! (head: the packet's first `linear_len` <= 128 bytes, whichever slots
//! they are in, so headers split over slots stay linear (XSA-423); the rest
//! packed into page frags, a partly-linear slot continuing at the byte
//! after the head). The copy walks the slots as one byte stream, so it
//! follows the core's `linear_plan` + `frag_plan` split by construction.
//! Copies of many packets share one hypercall batch of up to 256 ops; after
//! the batch every packet's slots are answered (OKAY or ERROR) and the good
//! ones go up the stack in ring order.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{Channel, NetDev};
use crate::bindings::net::skb::SkBuff;
use crate::bindings::xen::grant::{CopyBatch, CopyDirection};
use crate::bindings::xen::ring::TxSharedRing;
use crate::fatal::FatalReason;
use crate::grant_pool::TxBufferSource;
use crate::multicast::McastControl;
use crate::netif::ring::BackRing;
use crate::netif::tx::{HashLevel, TxAssembler, TxConfig, TxGso, TxHash, TxPacket, TxPoll, TxResponsePlan, TxVerdict};
use crate::netif::wire::{NETIF_RSP_ERROR, NETIF_RSP_OKAY};
use crate::rate::TxCredit;
use crate::stats::VifStats;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Copy ops per guest TX hypercall: a whole poll's worth of packets (like
/// xen-netback's tx_copy_ops), so GSO packets of ~20-40 ops each share it.
const TX_COPY_BATCH: usize = 256;
/// Packets per guest TX batch (the NAPI weight).
const TX_PENDING_MAX: usize = 64;

/// The most work one NAPI poll of this queue did since the frontend
/// connected (debugfs `TX longest poll`): shows the per-poll bound holds
/// under a hostile ring.
#[derive(Clone, Copy, Default)]
pub(crate) struct LongestPoll {
    /// Verdicts (accepted, dropped and multicast requests) in one poll.
    pub(crate) verdicts: u32,
    /// Ring slots consumed in one poll.
    pub(crate) slots: u32,
}

/// A packet whose copies are queued in the current batch.
struct PendingTx {
    skb: SkBuff,
    responses: TxResponsePlan,
    first_op: usize,
    nr_ops: usize,
    csum_blank: bool,
    data_validated: bool,
    gso: Option<TxGso>,
    /// The frontend's hash from its HASH extra (`xenvif_set_skb_hash`'s
    /// counterpart on TX: `skb_set_hash` with its L3/L4 type).
    hash: Option<TxHash>,
}

/// The guest TX side of one queue.
pub(crate) struct TxQueue {
    ring: BackRing<TxSharedRing>,
    assembler: TxAssembler,
    batch: CopyBatch,
    pending: KVec<PendingTx>,
    source: TxBufferSource,
    domid: u16,
    /// The `rate` credit scheduler.
    pub(crate) credit: TxCredit,
    /// The VIF's multicast filter, edited by MCAST_ADD/DEL extras.
    mcast: Arc<McastControl>,
    /// The longest poll so far.
    longest_poll: LongestPoll,
}

impl TxQueue {
    /// Sets up the TX side on an attached ring.
    pub(crate) fn new(
        ring: BackRing<TxSharedRing>,
        config: TxConfig,
        domid: u16,
        credit: TxCredit,
        mcast: Arc<McastControl>,
    ) -> Result<Self> {
        Ok(Self {
            ring,
            assembler: TxAssembler::new(config),
            batch: CopyBatch::new(TX_COPY_BATCH)?,
            pending: KVec::with_capacity(TX_PENDING_MAX, GFP_KERNEL)?,
            source: TxBufferSource::FreshPages,
            domid,
            credit,
            mcast,
            longest_poll: LongestPoll::default(),
        })
    }

    /// The shared ring (debugfs).
    pub(crate) fn ring(&self) -> &BackRing<TxSharedRing> {
        &self.ring
    }

    /// The longest poll so far (debugfs).
    pub(crate) fn longest_poll(&self) -> LongestPoll {
        self.longest_poll
    }

    /// The data path in use, for logs.
    pub(crate) fn source_name(&self) -> &'static str {
        self.source.name()
    }

    /// Whether the frontend posted requests we have not consumed
    /// (`RING_FINAL_CHECK_FOR_REQUESTS`: arms req_event when idle).
    pub(crate) fn final_check(&mut self) -> core::result::Result<bool, FatalReason> {
        self.ring.final_check_for_requests().map_err(FatalReason::from)
    }

    fn respond(&mut self, plan: &TxResponsePlan, status: i16) -> core::result::Result<(), FatalReason> {
        for rsp in plan.responses(status) {
            self.ring.push_response(rsp).map_err(FatalReason::from)?;
        }
        Ok(())
    }

    /// Processes up to `budget` verdicts. Returns how many (at most
    /// `budget`), or the reason the frontend must be disabled.
    ///
    /// Every verdict counts toward the budget, not only the packets handed
    /// to the stack: a ring kept full of dropped packets or multicast
    /// requests would otherwise hold one poll in softirq for as long as the
    /// frontend refills it (each drop is answered at once, freeing its
    /// slots). At the budget NAPI polls again later, after other work.
    pub(crate) fn action(
        &mut self,
        dev: &NetDev<'_>,
        stats: &VifStats,
        budget: i32,
    ) -> core::result::Result<i32, FatalReason> {
        let mut done = 0;
        let mut result = Ok(());
        let now = crate::bindings::jiffies();
        let start = self.ring.req_cons();
        self.credit.refresh(now);
        while done < budget {
            let verdict = match self.assembler.poll(&mut self.ring, &mut self.credit.gate(now)) {
                TxPoll::Verdict(v) => v,
                TxPoll::RateLimited => {
                    stats.rx_credit_waits.add(1);
                    self.credit.wait();
                    break;
                }
                TxPoll::Empty | TxPoll::Incomplete => break,
            };
            done += 1;
            let step = match verdict {
                TxVerdict::Accept(pkt) => self.queue_packet(dev, stats, &pkt),
                TxVerdict::Drop(d) => {
                    stats.rx_errors.add(1);
                    self.respond(&d.responses, NETIF_RSP_ERROR)
                }
                TxVerdict::Multicast(m) => {
                    let status = self.mcast.apply(m.op, m.addr, dev.name().as_str());
                    self.respond(&m.responses, status)
                }
                TxVerdict::Fatal(f) => Err(f.into()),
            };
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        let slots = self.ring.req_cons().wrapping_sub(start);
        let longest = &mut self.longest_poll;
        longest.verdicts = longest.verdicts.max(u32::try_from(done).unwrap_or(0));
        longest.slots = longest.slots.max(slots);
        let flushed = self.flush(dev, stats);
        if self.ring.push_responses_and_check_notify() {
            dev.notify(Channel::Tx);
        }
        result?;
        flushed?;
        Ok(done)
    }

    /// Queues the copies of one accepted packet, flushing first when the
    /// batch has no room for its worst case.
    fn queue_packet(
        &mut self,
        dev: &NetDev<'_>,
        stats: &VifStats,
        pkt: &TxPacket,
    ) -> core::result::Result<(), FatalReason> {
        let slots = pkt.slots();
        // Worst case: every slot straddles a destination page boundary, and
        // the head may straddle one too.
        let worst = 2 * slots.len() + 2;
        if !self.batch.has_room(worst) || self.pending.len() >= TX_PENDING_MAX {
            self.flush(dev, stats)?;
        }
        let total = u32::from(pkt.total_size);
        let linear = u32::from(pkt.linear_len).min(total);
        let Some(skb) = self.source.alloc_skb(dev, linear, total) else {
            stats.rx_dropped.add(1);
            return self.respond(&pkt.response_plan(), NETIF_RSP_ERROR);
        };
        let first_op = self.batch.len();
        let mut pos: u32 = 0;
        let mut ok = true;
        'slots: for s in slots {
            let mut src_off = s.offset;
            let mut remaining = u32::from(s.size);
            while remaining > 0 {
                let Some((frame, avail)) = skb.locate(pos) else {
                    ok = false;
                    break 'slots;
                };
                let n = remaining.min(avail);
                // n <= 4096: a slot never crosses its page (validated).
                if self.batch.push(CopyDirection::FromGuest, self.domid, s.gref, src_off, frame, n as u16).is_err() {
                    ok = false;
                    break 'slots;
                }
                pos += n;
                src_off = src_off.wrapping_add(n as u16);
                remaining -= n;
            }
        }
        if !ok || pos != total {
            self.batch.truncate(first_op);
            stats.rx_errors.add(1);
            drop(skb);
            return self.respond(&pkt.response_plan(), NETIF_RSP_ERROR);
        }
        let pending = PendingTx {
            skb,
            responses: pkt.response_plan(),
            first_op,
            nr_ops: self.batch.len() - first_op,
            csum_blank: pkt.csum_blank,
            data_validated: pkt.data_validated,
            gso: pkt.gso,
            hash: pkt.hash,
        };
        if let Err(kernel::alloc::kvec::PushError(p)) = self.pending.push_within_capacity(pending) {
            // Cannot happen (flushed above when full); answer anyway.
            self.batch.truncate(first_op);
            let plan = p.responses;
            drop(p);
            return self.respond(&plan, NETIF_RSP_ERROR);
        }
        Ok(())
    }

    /// Runs the queued copies, answers every pending packet's slots and
    /// hands the good packets to the stack.
    fn flush(&mut self, dev: &NetDev<'_>, stats: &VifStats) -> core::result::Result<(), FatalReason> {
        self.batch.submit();
        stats.add_rx_copies(self.batch.take_counts());
        let mut result = Ok(());
        let mut pending = core::mem::take(&mut self.pending);
        for mut p in pending.drain_all() {
            let copied = (p.first_op..p.first_op + p.nr_ops).all(|i| self.batch.ok(i));
            let status = if copied { NETIF_RSP_OKAY } else { NETIF_RSP_ERROR };
            if let Err(e) = self.respond(&p.responses, status) {
                result = Err(e);
            }
            if !copied {
                stats.rx_errors.add(1);
                continue;
            }
            let len = p.skb.len();
            if let Some(h) = p.hash {
                p.skb.set_hash(h.value, h.level == HashLevel::L4);
            }
            let gso = p.gso.map(|g| (g.kind, g.size));
            match dev.finish_from_guest(&mut p.skb, p.csum_blank, p.data_validated, gso) {
                Ok(fixup) => {
                    if fixup {
                        stats.rx_gso_checksum_fixup.add(1);
                    }
                    stats.rx_packets.add(1);
                    stats.rx_bytes.add(u64::from(len));
                    dev.receive(p.skb);
                }
                Err(_) => stats.rx_dropped.add(1),
            }
        }
        self.pending = pending;
        self.batch.clear();
        result
    }
}

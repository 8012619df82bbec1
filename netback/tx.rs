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
//!
//! Answers are written to the ring as they are known, but published to the
//! guest (`rsp_prod` and its event) once per poll, when the VIF's answer
//! timing says (`ethtool -C tx-usecs/tx-frames/adaptive-tx`, the core's
//! `netif::coalesce`; default: in the poll). A hold arms the queue's
//! [`NapiTimer`] at its deadline, so no answer waits for a poll that is
//! never coming. Answers of the zero-copy drain take the same way.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{Channel, NetDev};
use crate::bindings::net::skb::SkBuff;
use crate::bindings::timer::NapiTimer;
use crate::bindings::xen::grant::CopyBatch;
use crate::bindings::xen::ring::TxSharedRing;
use crate::bindings::xen::staged::StagedLoan;
use crate::fatal::FatalReason;
use crate::grant_pool::{MappedFrags, MappedSource, TxBufferSource};
use crate::grant_pool::{StagedCopy, StagedGrants};
use crate::multicast::McastControl;
use crate::netif::coalesce::{PollTraffic, PublishDecision, TxCoalesce, TxCoalescer};
use crate::netif::poll_mode::PollLoad;
use crate::netif::ring::BackRing;
use crate::netif::tx::{
    HashLevel, TxAssembler, TxConfig, TxGso, TxHash, TxPacket, TxPoll, TxResponsePlan, TxResponses, TxVerdict,
    TX_MAX_PACKET_SLOTS,
};
use crate::netif::wire::{NETIF_RSP_ERROR, NETIF_RSP_OKAY};
use crate::netif::zerocopy::{LendAdvisor, TxZeroCopyPlan, TxZeroCopyPolicy};
use crate::rate::TxCredit;
use crate::stats::{Counter, VifStats};
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

/// The answer timing of one queue at one moment (debugfs `TX answers`).
pub(crate) struct AnswerState {
    /// Answers written and not yet published.
    pub(crate) held: u32,
    /// Microseconds since the oldest of them was written (0: none held).
    pub(crate) held_us: u64,
    /// The guest's smoothed time per request, in microseconds (updated
    /// only with `adaptive-tx on`).
    pub(crate) us_per_request: u64,
    /// The guest's smoothed packet size, in bytes (likewise).
    pub(crate) bytes_per_packet: u64,
    /// Microseconds until the deadline timer fires, if armed ahead.
    pub(crate) timer_in_us: Option<u64>,
}

/// A packet whose copies are queued in the current batch: what the flush
/// needs of it, kept small (it is moved into the batch).
struct PendingTx {
    /// Taken by the flush, which reads the rest in place: moving each
    /// packet out again showed in the line profile of 64-byte datagrams
    /// (benches/results/2026-12-05-exp-tx-pending-in-place-icount/).
    skb: Option<SkBuff>,
    /// The slots the flush answers: all of them, or with zero-copy those
    /// not mapped (a packet's slots at most).
    responses: TxResponsePlan<TX_MAX_PACKET_SLOTS>,
    first_op: usize,
    nr_ops: usize,
    csum_blank: bool,
    data_validated: bool,
    gso: Option<TxGso>,
    /// The frontend's hash from its HASH extra (`xenvif_set_skb_hash`'s
    /// counterpart on TX: `skb_set_hash` with its L3/L4 type).
    hash: Option<TxHash>,
    /// Zero-copy: the slots mapped as frags (answered on completion; the
    /// `responses` above cover the other slots).
    mapped: MappedFrags,
    /// Queueing failed after slots were reserved: answered with errors.
    failed: bool,
}

impl PendingTx {
    /// `pkt` in `skb`, its copies the batch's ops from `first_op` to its
    /// end (`batch_len`), answered by `responses` after them; nothing
    /// mapped.
    fn new(
        pkt: &TxPacket,
        skb: SkBuff,
        responses: TxResponsePlan<TX_MAX_PACKET_SLOTS>,
        first_op: usize,
        batch_len: usize,
    ) -> Self {
        PendingTx {
            skb: Some(skb),
            failed: false,
            responses,
            first_op,
            nr_ops: batch_len - first_op,
            csum_blank: pkt.csum_blank,
            data_validated: pkt.data_validated,
            gso: pkt.gso,
            hash: pkt.hash,
            mapped: MappedFrags::new(),
        }
    }
}

/// What turns a queue's accepted packets into skbs: the copy batch and the
/// packets waiting for it, their buffers, zero-copy's pending slots, and the
/// ring their answers go to. Apart from the assembler, which holds the
/// packet being queued.
struct TxBuilder {
    ring: BackRing<TxSharedRing>,
    batch: CopyBatch,
    pending: KVec<PendingTx>,
    domid: u16,
    /// Zero-copy: the policy and its pending slots (`tx_zerocopy` on, auto
    /// or staged).
    mapped: Option<(TxZeroCopyPolicy, MappedSource)>,
    /// `tx_zerocopy=staged`: whether lending pays now, from the stack's
    /// verdicts on the packets lent before.
    lend: LendAdvisor,
    /// `tx_zerocopy=staged`: the loans of the packet being queued, taken
    /// when it was planned, in reverse slot order (the next on top).
    prelent: KVec<(u32, StagedLoan)>,
    /// Packets and bytes the flushes of this poll answered as sent, taken
    /// by the answer timing at the poll's end.
    answered: PollTraffic,
}

/// The guest TX side of one queue.
pub(crate) struct TxQueue {
    assembler: TxAssembler,
    builder: TxBuilder,
    /// The `rate` credit scheduler.
    pub(crate) credit: TxCredit,
    /// The VIF's multicast filter, edited by MCAST_ADD/DEL extras.
    mcast: Arc<McastControl>,
    /// The longest poll so far.
    longest_poll: LongestPoll,
    /// The polls' load (`napi_threaded=2`: `napi::poll_mode`).
    poll_load: PollLoad,
    /// When answers are published: the core's policy state.
    coalescer: TxCoalescer,
    /// Polls this queue again at a held answer's deadline.
    answer_timer: NapiTimer,
    /// [`TxQueue::shutdown`] ran: the drop has nothing left to do (what
    /// the frontend posted since goes unanswered and unnotified there).
    shut_down: bool,
}

impl TxQueue {
    /// Sets up the TX side on an attached ring.
    pub(crate) fn new(
        ring: BackRing<TxSharedRing>,
        config: TxConfig,
        domid: u16,
        credit: TxCredit,
        mcast: Arc<McastControl>,
        zerocopy: Option<TxZeroCopyPolicy>,
        answer_timer: NapiTimer,
    ) -> Result<Self> {
        // Without its pages (balloon exhausted) the queue copies.
        let mapped = zerocopy.and_then(|policy| {
            MappedSource::new(domid, policy.maps_grants())
                .inspect_err(|e| pr_warn!("xen-netback-rs: no zero-copy pages ({:?}), guest TX copies\n", e))
                .ok()
                .map(|m| (policy, m))
        });
        Ok(Self {
            assembler: TxAssembler::new(config),
            builder: TxBuilder {
                ring,
                batch: CopyBatch::new(TX_COPY_BATCH)?,
                pending: KVec::with_capacity(TX_PENDING_MAX, GFP_KERNEL)?,
                domid,
                mapped,
                lend: LendAdvisor::new(),
                prelent: KVec::with_capacity(crate::bindings::net::zerocopy::ZC_MAX_FRAGS, GFP_KERNEL)?,
                answered: PollTraffic::default(),
            },
            credit,
            mcast,
            longest_poll: LongestPoll::default(),
            poll_load: PollLoad::new(),
            coalescer: TxCoalescer::new(),
            answer_timer,
            shut_down: false,
        })
    }

    /// The shared ring (debugfs).
    pub(crate) fn ring(&self) -> &BackRing<TxSharedRing> {
        &self.builder.ring
    }

    /// The longest poll so far (debugfs).
    pub(crate) fn longest_poll(&self) -> LongestPoll {
        self.longest_poll
    }

    /// The answer timing's state (debugfs).
    pub(crate) fn answer_state(&self) -> AnswerState {
        let now = self.answer_timer.now();
        AnswerState {
            held: self.builder.ring.unpublished(),
            held_us: self.coalescer.holding_since().map_or(0, |t| now.saturating_sub(t) / 1000),
            us_per_request: self.coalescer.rate().ns_per_request() / 1000,
            bytes_per_packet: self.coalescer.rate().bytes_per_packet(),
            timer_in_us: self.answer_timer.armed_at().filter(|&t| t > now).map(|t| (t - now) / 1000),
        }
    }

    /// The data path in use, for logs.
    pub(crate) fn source_name(&self) -> &'static str {
        self.builder.source().name()
    }

    /// Whether the frontend posted requests we have not consumed
    /// (`RING_FINAL_CHECK_FOR_REQUESTS`: arms req_event when idle).
    pub(crate) fn final_check(&mut self) -> core::result::Result<bool, FatalReason> {
        self.builder.ring.final_check_for_requests().map_err(FatalReason::from)
    }

    /// Counts a poll that did `done` of `budget` in the queue's load: true
    /// when it finds the queue flooded ([`PollLoad::on_poll`]).
    pub(crate) fn count_poll(&mut self, done: i32, budget: i32) -> bool {
        let (done, budget) = (u32::try_from(done).unwrap_or(0), u32::try_from(budget).unwrap_or(0));
        self.poll_load.on_poll(done, budget, crate::bindings::cpu_wanted())
    }

    /// Processes up to `budget` verdicts, then publishes the answers or
    /// holds them as `coalesce` says. Returns how many verdicts (at most
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
        staged: &StagedGrants,
        budget: i32,
        coalesce: TxCoalesce,
    ) -> core::result::Result<i32, FatalReason> {
        let mut done = 0;
        let mut result = Ok(());
        let now = crate::bindings::jiffies();
        let b = &mut self.builder;
        let start = b.ring.req_cons();
        if let Some((_, m)) = b.mapped.as_ref() {
            m.set_kick(dev);
        }
        if let Err(e) = b.drain_mapped(stats, staged) {
            result = Err(e);
        }
        self.credit.refresh(now);
        while done < budget && result.is_ok() {
            // An accepted packet is queued where the assembler built it.
            let step = match self.assembler.poll(&mut b.ring, &mut self.credit.gate(now)) {
                TxPoll::Verdict(TxVerdict::Accept) => b.queue_packet(dev, stats, staged, self.assembler.packet()),
                TxPoll::Verdict(TxVerdict::Drop(ref d)) => {
                    stats.rx_errors.add(1);
                    respond(&mut b.ring, d.responses.responses(NETIF_RSP_ERROR))
                }
                TxPoll::Verdict(TxVerdict::Multicast(ref m)) => {
                    let status = self.mcast.apply(m.op, m.addr, dev.name().as_str());
                    respond(&mut b.ring, m.responses.responses(status))
                }
                TxPoll::Verdict(TxVerdict::Fatal(f)) => Err(f.into()),
                TxPoll::RateLimited => {
                    stats.rx_credit_waits.add(1);
                    self.credit.wait();
                    break;
                }
                TxPoll::Empty | TxPoll::Incomplete => break,
            };
            done += 1;
            if let Err(e) = step {
                result = Err(e);
                break;
            }
        }
        let slots = b.ring.req_cons().wrapping_sub(start);
        let longest = &mut self.longest_poll;
        longest.verdicts = longest.verdicts.max(u32::try_from(done).unwrap_or(0));
        longest.slots = longest.slots.max(slots);
        let mut flushed = b.answer(stats);
        // Packets that failed in `answer` gave their mapped slots back.
        if let Err(e) = b.drain_mapped(stats, staged) {
            flushed = Err(e);
        }
        // A fatal error ends the connection: nothing is held for it.
        let force = result.is_err() || flushed.is_err();
        // What the guest sent this poll, for the answer timing.
        let traffic = PollTraffic { requests: slots, ..core::mem::take(&mut self.builder.answered) };
        // The answers go out before the packets go up the stack, as
        // xen-netback's do: a guest that fills its ring gets its slots back
        // a whole batch's delivery sooner (the data is copied, and mapped
        // slots are answered when the stack gives them back, so the
        // packets no longer need the guest's slots).
        self.publish(dev, stats, coalesce, traffic, force);
        self.builder.deliver(dev, stats);
        result?;
        flushed?;
        Ok(done)
    }

    /// Publishes the answers written so far (notifying the guest if it
    /// asked), or holds them as `coalesce` says, with the timer armed by
    /// the hold's deadline: a poll never leaves answers held without a
    /// wake-up. `traffic`: what this poll took (the guest's rate and packet
    /// size).
    fn publish(&mut self, dev: &NetDev<'_>, stats: &VifStats, coalesce: TxCoalesce, traffic: PollTraffic, force: bool) {
        if coalesce.holds() && !force {
            let now = self.answer_timer.now();
            if let PublishDecision::Defer { deadline, new_hold } =
                self.coalescer.decide(coalesce, now, traffic, self.builder.ring.unpublished())
            {
                self.answer_timer.arm_by(deadline, now);
                if new_hold {
                    stats.tx_answer_deferred.add(1);
                }
                return;
            }
        } else {
            self.coalescer.published();
        }
        // Published before the deadline: no extra poll for it.
        self.answer_timer.cancel();
        if self.builder.ring.push_responses_and_check_notify() {
            dev.notify(Channel::Tx);
        }
    }

    /// Teardown (process context, NAPI stopped): cancels the answer timer
    /// (it schedules this queue's NAPI, which goes next); waits, bounded and
    /// logged, for the stack to give back every mapped page, unmapping and
    /// answering them; refuses the requests still posted (counted dropped);
    /// publishes every answer, held ones included, and notifies the
    /// frontend on `dev`'s channel (still bound) so that it frees them
    /// before it disconnects ([`TxAssembler::refuse_posted`]). What is still
    /// held by the stack after the bound stays mapped and allocated for good
    /// (never unmapped under the stack).
    /// Staged pages lent meanwhile give their entries' use back to
    /// `staged` (none when dropped without a teardown). Runs once: the
    /// drop's call after the owner's does nothing.
    pub(crate) fn shutdown(&mut self, stats: &VifStats, staged: Option<&StagedGrants>, dev: Option<&NetDev<'_>>) {
        if core::mem::replace(&mut self.shut_down, true) {
            return;
        }
        self.answer_timer.cancel();
        let name = dev.map(|d| d.name());
        let name = name.as_ref().map_or("xen-netback-rs", |n| n.as_str());
        let b = &mut self.builder;
        if let Some((_, mut m)) = b.mapped.take() {
            let (success, fail) = m.shutdown(&mut b.ring, staged, name);
            stats.tx_zerocopy_success.add(success);
            stats.tx_zerocopy_fail.add(fail);
        }
        match self.assembler.refuse_posted(&mut b.ring) {
            Ok(0) => {}
            Ok(n) => {
                stats.rx_dropped.add(u64::from(n));
                let q = dev.map_or(0, |d| d.queue());
                pr_info!("{}: queue {}: {} guest TX packets refused at disconnect\n", name, q, n);
            }
            Err(e) => pr_warn!("{}: guest TX requests left unanswered at disconnect: {}\n", name, e.description()),
        }
        if b.ring.push_responses_and_check_notify() {
            if let Some(dev) = dev {
                dev.notify(Channel::Tx);
            }
        }
        self.coalescer.published();
    }
}

/// Writes `responses` to `ring` (published by the poll's end).
fn respond(ring: &mut BackRing<TxSharedRing>, responses: TxResponses<'_>) -> core::result::Result<(), FatalReason> {
    responses.push_to(ring).map_err(FatalReason::from)
}

impl TxBuilder {
    /// Where this queue's packet bytes go, from its zero-copy policy (and
    /// whether that policy got its pages).
    fn source(&self) -> TxBufferSource {
        TxBufferSource::of(self.mapped.as_ref().map(|(policy, _)| policy))
    }

    /// The bytes of `pkt` to copy: all of them, or with zero-copy only the
    /// linear head when the policy maps the rest (at most one frag per slot,
    /// a pending slot for each; under `tx_zerocopy=staged` only for a packet
    /// staged throughout, while lending pays). Counts `tx_frag_overflow` for
    /// a packet with more mapped slots than an skb has frags (it is copied).
    fn copy_len(&mut self, stats: &VifStats, staged: &StagedGrants, pkt: &TxPacket) -> u32 {
        let total = u32::from(pkt.total_size);
        let Some((policy, m)) = self.mapped.as_ref() else {
            return total;
        };
        let (lend, prelent) = (&mut self.lend, &mut self.prelent);
        // Lent at once, all or none: a DEL meanwhile cannot fail the packet.
        let all_staged = |grefs: &mut dyn Iterator<Item = u32>| {
            if !staged.is_active() || !lend.should_lend() {
                return false;
            }
            let lent = staged.lend_all(grefs, prelent);
            if !lent {
                lend.not_lent();
            }
            lent
        };
        let len = match policy.plan(pkt, crate::bindings::net::zerocopy::ZC_MAX_FRAGS, all_staged) {
            TxZeroCopyPlan::Map { frags } if m.has_room(frags) => u32::from(pkt.linear_len).min(total),
            TxZeroCopyPlan::Map { .. } | TxZeroCopyPlan::Copy => total,
            TxZeroCopyPlan::TooManyFrags => {
                stats.tx_frag_overflow.add(1);
                total
            }
        };
        if len == total {
            staged.give_back_all(&mut self.prelent);
        }
        // Taken one by one from the top, in slot order.
        self.prelent.reverse();
        len
    }

    /// Queues the copies (and with zero-copy the maps) of one accepted
    /// packet, flushing first when the batch has no room for its worst
    /// case.
    fn queue_packet(
        &mut self,
        dev: &NetDev<'_>,
        stats: &VifStats,
        staged: &StagedGrants,
        pkt: &TxPacket,
    ) -> core::result::Result<(), FatalReason> {
        let slots = pkt.slots();
        // Worst case: every slot straddles a destination page boundary, and
        // the head may straddle one too.
        let worst = 2 * slots.len() + 2;
        let map_full = self.mapped.as_ref().is_some_and(|(_, m)| !m.has_room(slots.len()));
        if !self.batch.has_room(worst) || self.pending.len() >= TX_PENDING_MAX || map_full {
            self.flush(dev, stats)?;
            self.drain_mapped(stats, staged)?;
        }
        let total = u32::from(pkt.total_size);
        let linear = u32::from(pkt.linear_len).min(total);
        let copy_len = self.copy_len(stats, staged, pkt);
        let Some(mut skb) = self.source().alloc_skb(dev, linear, copy_len) else {
            staged.give_back_all(&mut self.prelent);
            return self.refuse(&stats.rx_dropped, pkt.response_plan());
        };
        let first_op = self.batch.len();
        let mut mapped = MappedFrags::new();
        // Slots answered after the copy (all of them when nothing is mapped).
        let mut copied = if copy_len == total { pkt.response_plan() } else { TxResponsePlan::empty() };
        // Slots with a pending slot reserved (answered by the drain).
        let mut reserved: u64 = 0;
        let mut pos: u32 = 0;
        let mut ok = true;
        'slots: for (k, s) in slots.iter().enumerate() {
            let extras = if k == 0 { pkt.extra_count } else { 0 };
            let mut src_off = s.offset;
            let mut remaining = u32::from(s.size).min(copy_len - pos);
            let rest = u32::from(s.size) - remaining;
            // A staged grant: one memcpy from its mapped page, no grant copy.
            if remaining > 0 && staged.is_active() {
                match staged.copy_to_skb(s.gref, src_off, &mut skb, pos, remaining) {
                    Ok(StagedCopy::Hit) => {
                        stats.rx_staging_hits.add(1);
                        pos += remaining;
                        src_off = src_off.wrapping_add(remaining as u16);
                        remaining = 0;
                    }
                    Ok(StagedCopy::Miss) => stats.rx_staging_misses.add(1),
                    Err(_) => {
                        ok = false;
                        break 'slots;
                    }
                }
            }
            if !self.queue_copies(&skb, s.gref, src_off, pos, remaining) {
                ok = false;
                break 'slots;
            }
            pos += remaining;
            src_off = src_off.wrapping_add(remaining as u16);
            if copy_len == total {
                continue;
            }
            if rest == 0 {
                copied.add(s.id, extras);
                continue;
            }
            // rest <= 4096 - offset: fits the slot's page.
            let Some((_, m)) = self.mapped.as_mut() else {
                ok = false;
                break 'slots;
            };
            // A staged grant's page is mapped already: lend it to the skb
            // (under `staged` the loan was taken when the packet was planned).
            let loan = match self.prelent.pop() {
                Some((gref, loan)) if gref == s.gref => Some(loan),
                Some(other) => {
                    // Cannot happen (the plan lent these slots, in order):
                    // the packet fails, the loan is given back below.
                    let _ = self.prelent.push_within_capacity(other);
                    ok = false;
                    break 'slots;
                }
                None => staged.is_active().then(|| staged.lend(s.gref)).flatten(),
            };
            let lent = loan.is_some();
            let whole_slot = u32::from(s.size) == rest;
            let reserved_slot = m.reserve(s, src_off, rest as u16, extras, &mut mapped, loan);
            match (lent, reserved_slot) {
                (true, true) => {
                    stats.rx_staging_frags.add(1);
                    if whole_slot {
                        stats.rx_staging_hits.add(1);
                    }
                }
                (true, false) => staged.give_back(s.gref),
                (false, _) if whole_slot && staged.is_active() => stats.rx_staging_misses.add(1),
                (false, _) => {}
            }
            if !reserved_slot {
                ok = false;
                break 'slots;
            }
            reserved |= 1 << k;
        }
        staged.give_back_all(&mut self.prelent);
        let failed = !ok || pos != copy_len;
        if failed {
            self.batch.truncate(first_op);
            // The slots not reserved are answered with errors below (by the
            // flush if some are reserved: their maps are queued and must
            // run and be recorded, to be unmapped before they are answered).
            copied = TxResponsePlan::empty();
            for (k, s) in slots.iter().enumerate() {
                if reserved & (1 << k) == 0 {
                    copied.add(s.id, if k == 0 { pkt.extra_count } else { 0 });
                }
            }
            if mapped.is_empty() {
                drop(skb);
                return self.refuse(&stats.rx_errors, copied);
            }
        }
        self.push_pending(PendingTx { failed, mapped, ..PendingTx::new(pkt, skb, copied, first_op, self.batch.len()) })
    }

    /// Answers the slots of a packet not passed up with errors, counting it
    /// in `counter`: `rx_dropped` when it got no skb (memory pressure, as
    /// xen-netback), `rx_errors` when its copies could not be queued.
    fn refuse<const N: usize>(
        &mut self,
        counter: &Counter,
        plan: TxResponsePlan<N>,
    ) -> core::result::Result<(), FatalReason> {
        counter.add(1);
        respond(&mut self.ring, plan.responses(NETIF_RSP_ERROR))
    }

    /// Queues the grant copies of `len` bytes of the guest's grant `gref`,
    /// from `offset`, into `skb` at `pos`: an op per page of the skb they
    /// land in. False when the skb has no memory of ours there or the
    /// batch no room (the caller drops the ops queued).
    fn queue_copies(&mut self, skb: &SkBuff, gref: u32, mut offset: u16, mut pos: u32, len: u32) -> bool {
        let end = pos.saturating_add(len);
        while pos < end {
            let Some((frame, avail)) = skb.locate(pos) else {
                return false;
            };
            let n = (end - pos).min(avail);
            // n <= 4096: a slot never crosses its page (validated).
            if self.batch.push_from_guest(self.domid, gref, offset, frame, n as u16).is_err() {
                return false;
            }
            pos += n;
            offset = offset.wrapping_add(n as u16);
        }
        true
    }

    /// Adds a queued packet to the batch's packets. Inlined: the packet is
    /// then written once, where the batch keeps it (a call moved it twice,
    /// 41 instructions a packet).
    #[inline(always)]
    fn push_pending(&mut self, pending: PendingTx) -> core::result::Result<(), FatalReason> {
        if let Err(kernel::alloc::kvec::PushError(p)) = self.pending.push_within_capacity(pending) {
            // Cannot happen (flushed before when full); answer anyway.
            self.batch.truncate(p.first_op);
            if let Some((_, m)) = self.mapped.as_mut() {
                m.release(&p.mapped);
            }
            let plan = p.responses;
            drop(p);
            return respond(&mut self.ring, plan.responses(NETIF_RSP_ERROR));
        }
        Ok(())
    }

    /// Runs the queued copies and maps, answers each queued packet and
    /// hands the good ones up the stack.
    fn flush(&mut self, dev: &NetDev<'_>, stats: &VifStats) -> core::result::Result<(), FatalReason> {
        let answered = self.answer(stats);
        self.deliver(dev, stats);
        answered
    }

    /// Runs the queued copies and maps and writes each queued packet's
    /// answers (not yet published): OK for a packet whose copies and maps
    /// all succeeded, which stays queued for [`Self::deliver`], an error
    /// for the others, which are dropped.
    fn answer(&mut self, stats: &VifStats) -> core::result::Result<(), FatalReason> {
        self.batch.submit();
        stats.add_rx_copies(self.batch.take_counts());
        if let Some((_, m)) = self.mapped.as_mut() {
            m.submit_maps();
        }
        let mut result = Ok(());
        for p in self.pending.iter_mut() {
            let Some(skb) = p.skb.as_mut() else {
                continue;
            };
            let mut good = !p.failed && (p.first_op..p.first_op + p.nr_ops).all(|i| self.batch.ok(i));
            if let Some((_, m)) = self.mapped.as_mut().filter(|_| !p.mapped.is_empty()) {
                good &= m.record_maps(&p.mapped);
                good = good && m.attach(skb, &p.mapped).is_ok();
                if good {
                    stats.tx_zerocopy_sent.add(1);
                } else {
                    m.release(&p.mapped);
                }
            }
            let status = if good { NETIF_RSP_OKAY } else { NETIF_RSP_ERROR };
            if let Err(e) = respond(&mut self.ring, p.responses.responses(status)) {
                result = Err(e);
            }
            if good {
                self.answered.packets = self.answered.packets.saturating_add(1);
                self.answered.bytes += u64::from(skb.len());
            } else {
                stats.rx_errors.add(1);
                p.skb = None;
            }
        }
        if let Some((_, m)) = self.mapped.as_mut() {
            m.clear_maps();
        }
        self.batch.clear();
        result
    }

    /// Hands the packets [`Self::answer`] found good to the stack.
    fn deliver(&mut self, dev: &NetDev<'_>, stats: &VifStats) {
        // Summed here, added once per flush: an atomic add per packet costs.
        let (mut packets, mut bytes) = (0u64, 0u64);
        for p in self.pending.iter_mut() {
            let Some(mut skb) = p.skb.take() else {
                continue;
            };
            let len = skb.len();
            if let Some(h) = p.hash {
                skb.set_hash(h.value, h.level == HashLevel::L4);
            }
            let gso = p.gso.map(|g| (g.kind, g.size));
            match dev.finish_from_guest(&mut skb, p.csum_blank, p.data_validated, gso) {
                Ok(fixup) => {
                    if fixup {
                        stats.rx_gso_checksum_fixup.add(1);
                    }
                    packets += 1;
                    bytes += u64::from(len);
                    if let Some(skb) = crate::sriov::guest_tx(dev, stats, skb) {
                        dev.receive(skb);
                    }
                }
                Err(_) => stats.rx_dropped.add(1),
            }
        }
        self.pending.clear();
        stats.rx_packets.add(packets);
        stats.rx_bytes.add(bytes);
    }

    /// Zero-copy: unmaps and answers the mapped slots the stack gave back;
    /// counts the completed zero-copy packets.
    fn drain_mapped(&mut self, stats: &VifStats, staged: &StagedGrants) -> core::result::Result<(), FatalReason> {
        let Some((_, m)) = self.mapped.as_mut() else {
            return Ok(());
        };
        let (success, fail) = m.drain(&mut self.ring, Some(staged)).map_err(FatalReason::from)?;
        stats.tx_zerocopy_success.add(success);
        stats.tx_zerocopy_fail.add(fail);
        self.lend.record(success, fail);
        Ok(())
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        // Normally done by the owner with the counters at hand.
        self.shutdown(&VifStats::default(), None, None);
    }
}

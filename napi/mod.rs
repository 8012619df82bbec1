// SPDX-License-Identifier: GPL-2.0
//! Scheduling of the per-queue data path: the VIF's [`QueueOps`], which the
//! kernel's NAPI poll, guest-RX worker and event channel IRQs call directly
//! (through the adapters of `bindings::netdev`), each with the view of its
//! queue.
//!
//! * Guest TX: one NAPI instance per queue. The TX event only schedules NAPI
//!   (its EOI is deferred, XSA-332 lateeoi); the poll processes up to
//!   `budget` packets and, when the ring is idle, completes NAPI, re-arms
//!   `req_event` and ends the EOI (spurious when no request was consumed
//!   since the last EOI: XSA-332 backoff), or reschedules when requests
//!   raced in;
//!   while the queue waits for rate credit its credit timer reschedules it.
//! * Guest RX: one thread per queue (`<vif>-q<N>-guest-rx`, a kthread
//!   worker running the queue's delayed work, as xen-netback's per-queue
//!   guest-rx thread). `ndo_start_xmit` and the RX event kick it; a run
//!   moves up to `MAX_RX_BATCHES_PER_RUN` batches, so the copies run beside
//!   the sender on another CPU and a busy queue stays on its thread; it
//!   re-arms itself at the head packet's drain deadline while the guest has
//!   no buffers, and ends the RX EOI when it is done (spurious when no
//!   packet was written since the last EOI). Measured against NAPI-driven
//!   RX (which runs the copies on the sender's CPU: a single dom0 stream
//!   at half speed) in `benches/results/2026-12-01-rx-scheduling/`.
//!   A small packet that finds the backlog empty (a request, a reply, an
//!   ACK, a small datagram: the core's `rx_sender_writes`) is written by
//!   `ndo_start_xmit` itself when the thread does not hold the ring: no
//!   wake-up, no context switch, no second CPU for one copy op
//!   (`benches/results/2026-12-03-rx-sender-icount/`).
//! * Where the guest-TX polls run ([`poll_mode`], `napi_threaded`): in
//!   softirq, or in their own threads while a queue is flooded, so that a
//!   flood of small packets from a guest does not starve dom0's receivers
//!   of the CPU. Queue 0's guest-RX thread moves them.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{Channel, NetDev, QueueOps};
use crate::bindings::{jiffies, msecs_to_jiffies};
use crate::interface::Vif;
use crate::netif::rx::time_after;
use core::sync::atomic::{AtomicBool, Ordering};

pub(crate) mod poll_mode;

/// What the RX worker should do next.
pub(crate) enum RxNext {
    /// Nothing until the next kick.
    Idle,
    /// Run again right away (batch limit reached).
    Now,
    /// Run again at this jiffy (drain deadline of the head packet).
    At(u64),
}

/// The XSA-332 EOI policy of one queue's event channels: the IRQ handler
/// defers each event's EOI; the pass that handled it ends it, as spurious
/// when neither ring the channel serves saw work since the last EOI, so
/// Xen delays a storming guest's next events (as xenvif_{tx,rx}_interrupt
/// decide, here after the pass instead of in the hard IRQ, which must not
/// touch the ring NAPI owns).
pub(crate) struct EoiPolicy {
    /// Guest TX requests consumed since the last TX EOI decision.
    tx_work_seen: AtomicBool,
    /// Packets written to the guest since the last RX EOI decision.
    rx_work_seen: AtomicBool,
    /// The frontend uses one event channel for both rings (one EOI).
    shared_channel: AtomicBool,
}

impl EoiPolicy {
    /// No work seen, split channels.
    pub(crate) const fn new() -> Self {
        Self {
            tx_work_seen: AtomicBool::new(false),
            rx_work_seen: AtomicBool::new(false),
            shared_channel: AtomicBool::new(false),
        }
    }

    /// A new connection's event channels: one for both rings or split.
    /// Forgets the work seen on the previous connection.
    pub(crate) fn set_channels(&self, shared: bool) {
        self.shared_channel.store(shared, Ordering::Release);
        self.tx_work_seen.store(false, Ordering::Release);
        self.rx_work_seen.store(false, Ordering::Release);
    }

    /// The TX poll or RX worker found work for `ch`'s ring.
    pub(crate) fn work_seen(&self, ch: Channel) {
        match ch {
            Channel::Tx => &self.tx_work_seen,
            Channel::Rx => &self.rx_work_seen,
        }
        .store(true, Ordering::Release);
    }

    /// Ends `ch`'s deferred EOI if one is owed: spurious when no ring the
    /// channel serves saw work since the last EOI.
    pub(crate) fn end_eoi(&self, dev: &NetDev<'_>, ch: Channel) {
        if !dev.eoi_owed(ch) {
            // Keep the work seen for the EOI of the event still to come.
            return;
        }
        let (own, other) = match ch {
            Channel::Tx => (&self.tx_work_seen, &self.rx_work_seen),
            Channel::Rx => (&self.rx_work_seen, &self.tx_work_seen),
        };
        let mut work = own.swap(false, Ordering::AcqRel);
        if self.shared_channel.load(Ordering::Acquire) {
            work |= other.swap(false, Ordering::AcqRel);
        }
        dev.lateeoi(ch, !work);
    }
}

/// Batches one run of the RX worker moves before it requeues itself.
const MAX_RX_BATCHES_PER_RUN: u32 = 16;

/// Longest wait between two worker passes while packets are queued.
const MAX_RX_RECHECK_MS: u32 = 1000;

impl QueueOps for Vif {
    /// NAPI poll: guest TX.
    fn napi_poll(&self, dev: &NetDev<'_>, budget: i32) -> i32 {
        // A disabled VIF looks idle to NAPI; the RX worker takes it down.
        if self.is_disabled() {
            dev.napi_complete(0);
            return 0;
        }
        let (work_done, flooded) = self.tx_action(dev, budget);
        if flooded {
            self.polls.flooded(dev);
        }
        // Events come back on only when NAPI really completed: not when it
        // polls again anyway (rescheduled meanwhile, busy polling, or
        // deferred by the device's `napi_defer_hard_irqs` and
        // `gro_flush_timeout`, whose timer polls next). The deferred EOI
        // waits for that poll.
        if work_done < budget && dev.napi_complete(work_done) && !self.is_disabled() {
            self.tx_idle(dev);
        }
        work_done
    }

    /// A queue's guest RX work (on its thread); on queue 0's, also where
    /// the guest-TX polls run ([`poll_mode`]).
    fn rx_work(&self, dev: &NetDev<'_>) {
        // Stay on the CPU while packets keep coming (as xen-netback's
        // per-queue thread loops), up to a bound, rather than requeueing
        // the work after every batch.
        let mut next = self.rx_action(dev);
        for _ in 1..MAX_RX_BATCHES_PER_RUN {
            if !matches!(next, RxNext::Now) {
                break;
            }
            next = self.rx_action(dev);
        }
        // While the polls are in threads, queue 0's worker looks again a
        // quiet period later; one kick serves both (a delayed kick does not
        // replace one already pending).
        let poll_recheck = if dev.queue() == 0 { self.polls.recheck(dev) } else { None };
        match next {
            RxNext::Idle => {
                if let Some(delay) = poll_recheck {
                    dev.rx_work_kick(delay);
                }
            }
            RxNext::Now => dev.rx_work_kick(0),
            RxNext::At(when) => {
                let now = jiffies();
                let delay = if time_after(when, now) { when.wrapping_sub(now) } else { 1 };
                let delay = delay.clamp(1, msecs_to_jiffies(MAX_RX_RECHECK_MS).max(1));
                dev.rx_work_kick(poll_recheck.map_or(delay, |d| d.min(delay)));
            }
        }
        if !self.is_disabled() {
            self.rx_end_eoi(dev);
        }
    }

    /// Guest TX event (hard IRQ): schedules NAPI. No ring access here (NAPI
    /// owns the ring); NAPI ends the EOI once idle, as spurious when the
    /// poll consumed no request since the last EOI ([`EoiPolicy`]).
    fn tx_event(&self, dev: &NetDev<'_>) -> bool {
        if !self.is_up() || self.is_disabled() {
            return false;
        }
        dev.napi_schedule();
        true
    }

    /// Guest RX event (hard IRQ): kicks the worker, which ends the EOI,
    /// spurious when it wrote no packet.
    fn rx_event(&self, dev: &NetDev<'_>) -> bool {
        if !self.is_connected() || self.is_disabled() {
            return false;
        }
        dev.rx_work_kick(0);
        true
    }
}

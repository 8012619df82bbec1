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
//! * Guest RX: one worker per queue (a delayed work item on the unbound
//!   workqueue). `ndo_start_xmit` and the RX event kick it; it yields after
//!   a batch, re-arms itself at the head packet's drain deadline while the
//!   guest has no buffers, and ends the RX EOI when it is done (spurious
//!   when no packet was written since the last EOI).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::netdev::{NetDev, QueueOps};
use crate::bindings::{jiffies, msecs_to_jiffies};
use crate::interface::Vif;
use crate::netif::rx::time_after;

/// What the RX worker should do next.
pub(crate) enum RxNext {
    /// Nothing until the next kick.
    Idle,
    /// Run again right away (batch limit reached).
    Now,
    /// Run again at this jiffy (drain deadline of the head packet).
    At(u64),
}

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
        let work_done = self.tx_action(dev, budget);
        if work_done < budget {
            dev.napi_complete(work_done);
            if !self.is_disabled() {
                self.tx_idle(dev);
            }
        }
        work_done
    }

    /// A queue's guest RX worker.
    fn rx_work(&self, dev: &NetDev<'_>) {
        match self.rx_action(dev) {
            RxNext::Idle => {}
            RxNext::Now => dev.rx_work_kick(0),
            RxNext::At(when) => {
                let now = jiffies();
                let delay = if time_after(when, now) { when.wrapping_sub(now) } else { 1 };
                dev.rx_work_kick(delay.clamp(1, msecs_to_jiffies(MAX_RX_RECHECK_MS).max(1)));
            }
        }
        if !self.is_disabled() {
            self.rx_end_eoi(dev);
        }
    }

    /// Guest TX event (hard IRQ): schedules NAPI. No ring access here (NAPI
    /// owns the ring); NAPI ends the EOI once idle, as spurious when the
    /// poll consumed no request since the last EOI (`Queue::end_eoi`).
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

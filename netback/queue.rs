// SPDX-License-Identifier: GPL-2.0
//! One queue of a VIF: the driver's state of a TX/RX ring pair of the
//! frontend, with its own locks, guest-RX backlog accounting, EOI policy
//! and counters. It is one half of the queue's single pinned allocation
//! (`bindings::net::device::VifQueue`, xen-netback's `xenvif_queue`), whose
//! other half holds the queue's kernel objects (NAPI, event channel IRQs,
//! the skb backlog and its worker); driver code reaches those through the
//! queue's [`NetDev`] view.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::bindings::net::device::NetDev;
use crate::grant_pool::StagedGrants;
use crate::napi::EoiPolicy;
use crate::netif::rx::{rx_backlog_admit, rx_backlog_has_room, RxAdmit};
use crate::rx::RxQueue;
use crate::stats::VifStats;
use crate::tx::TxQueue;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

/// Driver state of one queue.
#[pin_data]
pub(crate) struct Queue {
    /// Guest TX ring; used by this queue's NAPI poll (softirq), so taken
    /// with bottom halves disabled everywhere.
    #[pin]
    pub(crate) tx: SpinLockBh<Option<TxQueue>>,
    /// Guest RX ring; used by this queue's RX worker and by
    /// `ndo_start_xmit` for a lone small packet, so taken with bottom halves
    /// disabled everywhere.
    #[pin]
    pub(crate) rx: SpinLockBh<Option<RxQueue>>,
    /// Bytes queued for the guest on this queue (xen-netback's
    /// rx_queue_len); `ndo_start_xmit` stops the queue with the packet that
    /// reaches `RX_QUEUE_MAX_BYTES` (`rx_backlog_admit`), so each queue holds
    /// at most that much plus one packet.
    rx_queued_bytes: AtomicU32,
    /// When this queue's deferred EOIs end, and whether as spurious.
    pub(crate) eoi: EoiPolicy,
    /// This queue's counters (cumulative over reconnections).
    pub(crate) stats: VifStats,
    /// Staging grants of the connected control ring (both directions).
    #[pin]
    pub(crate) staged: StagedGrants,
}

impl Queue {
    /// An idle queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            tx <- new_spinlock_bh!(None),
            rx <- new_spinlock_bh!(None),
            rx_queued_bytes: AtomicU32::new(0),
            eoi: EoiPolicy::new(),
            stats: VifStats::default(),
            staged <- StagedGrants::new(),
        })
    }

    /// Bytes queued for the guest.
    pub(crate) fn backlog_bytes(&self) -> u32 {
        self.rx_queued_bytes.load(Ordering::Relaxed)
    }

    /// Stops the netdev queue while the backlog is full (counted in
    /// `tx_stopped` when it was running). `backlog_sub` wakes it once the
    /// backlog drains; if it drained between the caller's check and the
    /// stop, it saw the queue running and woke nothing: look again (the
    /// fences pair), or the queue stays stopped for good.
    pub(crate) fn stop_until_room(&self, dev: &NetDev<'_>) {
        // Only senders stop the queue, under its xmit lock: no race here.
        if !dev.queue_stopped() {
            self.stats.tx_stopped.add(1);
        }
        dev.stop_queue();
        core::sync::atomic::fence(Ordering::SeqCst);
        if rx_backlog_has_room(self.rx_queued_bytes.load(Ordering::Acquire)) {
            dev.wake_queue();
        }
    }

    /// Admits a packet of `bytes` for the guest by the core's rule
    /// (`rx_backlog_admit`), accounting it when it is queued. Only the
    /// sender adds (under the netdev queue's lock); the thread's concurrent
    /// subtractions can only make the decision conservative.
    pub(crate) fn backlog_admit(&self, bytes: u32) -> RxAdmit {
        let admit = rx_backlog_admit(self.rx_queued_bytes.load(Ordering::Acquire), bytes);
        if admit != RxAdmit::Drop {
            self.rx_queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        }
        admit
    }

    /// Forgets the backlog (purged).
    pub(crate) fn backlog_reset(&self) {
        self.rx_queued_bytes.store(0, Ordering::Release);
    }

    /// Accounts `bytes` that left the backlog and wakes the stopped netdev
    /// queue once there is room again.
    pub(crate) fn backlog_sub(&self, dev: &NetDev<'_>, bytes: u32, connected: bool) {
        let mut cur = self.rx_queued_bytes.load(Ordering::Acquire);
        loop {
            let new = cur.saturating_sub(bytes);
            match self.rx_queued_bytes.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    cur = new;
                    break;
                }
                Err(actual) => cur = actual,
            }
        }
        // Pairs with `stop_until_room`: the new count is visible
        // before the queue's state is read.
        core::sync::atomic::fence(Ordering::SeqCst);
        if rx_backlog_has_room(cur) && connected && dev.queue_stopped() {
            dev.wake_queue();
        }
    }
}

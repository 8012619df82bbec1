// SPDX-License-Identifier: GPL-2.0
//! One queue of a VIF: a TX/RX ring pair of the frontend with its own
//! locks, guest-RX backlog accounting and counters (xen-netback's
//! `xenvif_queue`). The kernel objects of the queue (NAPI, event channel
//! IRQs, the skb backlog and its worker) live in the C private area and are
//! reached through the queue's [`NetDev`] view.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::bindings::netdev::{Channel, NetDev};
use crate::netif::rx::RX_QUEUE_MAX_BYTES;
use crate::rx::RxQueue;
use crate::stats::VifStats;
use crate::tx::TxQueue;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// Driver state of one queue.
#[pin_data]
pub(crate) struct Queue {
    /// Guest TX ring; used by this queue's NAPI poll (softirq), so taken
    /// with bottom halves disabled everywhere.
    #[pin]
    pub(crate) tx: SpinLockBh<Option<TxQueue>>,
    /// Guest RX ring; used by this queue's RX worker.
    #[pin]
    pub(crate) rx: Mutex<Option<RxQueue>>,
    /// Bytes queued for the guest on this queue (xen-netback's
    /// rx_queue_len); `ndo_start_xmit` stops the queue at
    /// `RX_QUEUE_MAX_BYTES`, so each queue holds at most that much.
    rx_queued_bytes: AtomicU32,
    /// Guest TX requests consumed since the last EOI decision (XSA-332: an
    /// event that found no work is ended as spurious, so Xen delays a
    /// storming guest's next events).
    tx_work_seen: AtomicBool,
    /// Packets written to the guest since the last EOI decision.
    rx_work_seen: AtomicBool,
    /// The frontend uses one event channel for both rings (one EOI).
    shared_channel: AtomicBool,
    /// This queue's counters (cumulative over reconnections).
    pub(crate) stats: VifStats,
}

impl Queue {
    /// An idle queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            tx <- new_spinlock_bh!(None),
            rx <- new_mutex!(None),
            rx_queued_bytes: AtomicU32::new(0),
            tx_work_seen: AtomicBool::new(false),
            rx_work_seen: AtomicBool::new(false),
            shared_channel: AtomicBool::new(false),
            stats: VifStats::default(),
        })
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

    /// Ends `ch`'s deferred EOI if one is owed: spurious when neither ring
    /// the channel serves saw work since the last EOI (as
    /// xenvif_{tx,rx}_interrupt decide, here after the pass instead of in
    /// the hard IRQ, which must not touch the ring NAPI owns).
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

    /// Bytes queued for the guest.
    pub(crate) fn backlog_bytes(&self) -> u32 {
        self.rx_queued_bytes.load(Ordering::Relaxed)
    }

    /// Whether the guest-RX backlog is full (the caller stops the queue).
    pub(crate) fn backlog_full(&self) -> bool {
        self.rx_queued_bytes.load(Ordering::Acquire) >= RX_QUEUE_MAX_BYTES
    }

    /// Accounts `bytes` newly queued for the guest.
    pub(crate) fn backlog_add(&self, bytes: u32) {
        self.rx_queued_bytes.fetch_add(bytes, Ordering::AcqRel);
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
        if cur < RX_QUEUE_MAX_BYTES && connected && dev.queue_stopped() {
            dev.wake_queue();
        }
    }
}

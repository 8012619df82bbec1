// SPDX-License-Identifier: GPL-2.0
//! The VIF: the `vifD.H` net_device's driver state and its callbacks.
//!
//! Lifecycle (all transitions under RTNL):
//! * created at probe, registered so the hotplug script can bridge it;
//! * `attach` (frontend connected): rings and event channels are installed,
//!   the interface goes *up* (NAPI + IRQs enabled) when it is also open;
//! * `detach` (frontend closing, device removal): down, worker cancelled,
//!   IRQs unbound, rings unmapped, queue purged;
//! * a fatal frontend error only sets `disabled` from NAPI/worker context;
//!   the RX worker then takes the carrier down in process context. Other
//!   VIFs are untouched.

use crate::bindings::netdev::{Channel, NetDev, Stats64, VifOps};
use crate::bindings::skb::SkBuff;
use crate::bindings::xenbus::XenbusDevice;
use crate::bindings::{jiffies, synchronize_net, BhDisabled, Rtnl};
use crate::knobs::VifKnobs;
use crate::netif::rx::RX_QUEUE_MAX_BYTES;
use crate::rx::RxQueue;
use crate::tx::{FatalReason, TxQueue};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::{Mutex, SpinLock};
use kernel::{new_mutex, new_spinlock};

/// A relaxed event counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Per-VIF counters. rx = from the guest, tx = to the guest (the netdev's
/// point of view, as in xen-netback).
#[derive(Default)]
pub(crate) struct VifStats {
    pub(crate) rx_packets: Counter,
    pub(crate) rx_bytes: Counter,
    pub(crate) rx_dropped: Counter,
    pub(crate) rx_errors: Counter,
    pub(crate) rx_gso_checksum_fixup: Counter,
    pub(crate) tx_packets: Counter,
    pub(crate) tx_bytes: Counter,
    pub(crate) tx_dropped: Counter,
    // Reasons behind tx_dropped, and other events (`ethtool -S`).
    pub(crate) tx_drop_not_connected: Counter,
    pub(crate) tx_drop_queue_full: Counter,
    pub(crate) tx_drop_expired: Counter,
    pub(crate) tx_drop_mcast_filtered: Counter,
    pub(crate) rx_credit_waits: Counter,
    pub(crate) fatal_errors: Counter,
}

/// Everything a connected frontend brings.
pub(crate) struct Attachment {
    pub(crate) tx: TxQueue,
    pub(crate) rx: RxQueue,
    pub(crate) tx_evtchn: u32,
    pub(crate) rx_evtchn: u32,
}

/// Driver state of one VIF (one queue).
#[pin_data]
pub(crate) struct Vif {
    domid: u16,
    /// Rings and event channels are installed.
    connected: AtomicBool,
    /// NAPI and IRQs are enabled (open and connected). Changed under RTNL.
    up: AtomicBool,
    /// A fatal frontend error was seen; stop all processing.
    disabled: AtomicBool,
    /// The worker has already taken a disabled VIF down.
    disable_done: AtomicBool,
    /// Bytes queued for the guest (xen-netback's rx_queue_len).
    rx_queued_bytes: AtomicU32,
    /// Drain timeout of the current frontend, in jiffies.
    drain_ticks: AtomicU64,
    #[pin]
    tx: SpinLock<Option<TxQueue>>,
    #[pin]
    rx: Mutex<Option<RxQueue>>,
    pub(crate) stats: VifStats,
    /// Rate limit, multicast control, per-VIF timeouts, disable reason.
    #[pin]
    pub(crate) knobs: VifKnobs,
}

impl Vif {
    /// State for the VIF of guest `domid`.
    pub(crate) fn new(domid: u16, knobs: impl PinInit<VifKnobs>) -> impl PinInit<Self> {
        pin_init!(Self {
            domid,
            connected: AtomicBool::new(false),
            up: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            disable_done: AtomicBool::new(false),
            rx_queued_bytes: AtomicU32::new(0),
            drain_ticks: AtomicU64::new(0),
            tx <- new_spinlock!(None),
            rx <- new_mutex!(None),
            stats: VifStats::default(),
            knobs <- knobs,
        })
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// The frontend's domain.
    pub(crate) fn domid(&self) -> u16 {
        self.domid
    }

    /// Bytes queued for the guest.
    pub(crate) fn rx_queued_bytes(&self) -> u32 {
        self.rx_queued_bytes.load(Ordering::Relaxed)
    }

    /// Runs `f` on the guest TX queue, if connected (process context; NAPI
    /// is held off on this CPU meanwhile).
    pub(crate) fn inspect_tx<R>(&self, f: impl FnOnce(Option<&TxQueue>) -> R) -> R {
        let _bh = BhDisabled::new();
        let guard = self.tx.lock();
        let tx: &Option<TxQueue> = &guard;
        f(tx.as_ref())
    }

    /// Runs `f` on the guest RX queue, if connected (process context).
    pub(crate) fn inspect_rx<R>(&self, f: impl FnOnce(Option<&RxQueue>) -> R) -> R {
        let guard = self.rx.lock();
        let rx: &Option<RxQueue> = &guard;
        f(rx.as_ref())
    }

    /// Disables the VIF after a frontend protocol violation (any context).
    /// The RX worker turns the carrier off; nothing else is processed.
    pub(crate) fn fatal(&self, dev: &NetDev, path: &str, reason: FatalReason) {
        if !self.disabled.swap(true, Ordering::AcqRel) {
            self.stats.fatal_errors.add(1);
            self.knobs.record_fatal(reason);
            pr_err!(
                "{}: fatal error from frontend (domain {}) on the {} path: {}; disabling the interface\n",
                dev.name().to_str().unwrap_or("vif"),
                self.domid,
                path,
                reason
            );
        }
        dev.rx_work_kick(0);
    }

    /// NAPI + IRQs on. RTNL held; connected and open.
    fn up(&self, dev: &NetDev, _rtnl: &Rtnl) {
        if self.up.swap(true, Ordering::AcqRel) {
            return;
        }
        dev.napi_enable();
        dev.enable_irqs();
        // Pick up requests posted while we were down (and end any EOI).
        dev.napi_schedule();
        dev.rx_work_kick(0);
    }

    /// NAPI + IRQs off. RTNL held.
    fn down(&self, dev: &NetDev, _rtnl: &Rtnl) {
        if !self.up.swap(false, Ordering::AcqRel) {
            return;
        }
        dev.disable_irqs();
        dev.napi_disable();
    }

    /// Installs a connected frontend's queue and starts it. Called from the
    /// xenbus side (process context, not under RTNL).
    pub(crate) fn attach(&self, dev: &NetDev, xdev: &XenbusDevice, a: Attachment) -> Result {
        if self.is_connected() {
            return Err(EBUSY);
        }
        self.disabled.store(false, Ordering::Release);
        self.knobs.clear_fatal();
        self.disable_done.store(false, Ordering::Release);
        self.rx_queued_bytes.store(0, Ordering::Release);
        self.drain_ticks.store(a.rx.drain_ticks(), Ordering::Release);
        pr_info!(
            "{}: frontend connected, guest TX data path: {}\n",
            dev.name().to_str().unwrap_or("vif"),
            a.tx.source_name()
        );
        *self.tx.lock() = Some(a.tx);
        *self.rx.lock() = Some(a.rx);
        dev.napi_add();
        if let Err(e) = dev.bind_evtchns(xdev, a.tx_evtchn, a.rx_evtchn) {
            dev.napi_del();
            *self.tx.lock() = None;
            *self.rx.lock() = None;
            return Err(e);
        }
        let rtnl = Rtnl::lock();
        dev.apply_frontend_caps(&rtnl);
        self.connected.store(true, Ordering::Release);
        if dev.running() {
            self.up(dev, &rtnl);
        }
        dev.wake_queue();
        drop(rtnl);
        // The worker turns the carrier on once the guest has posted buffers.
        dev.rx_work_kick(0);
        Ok(())
    }

    /// Stops and removes the frontend's queue (process context).
    pub(crate) fn detach(&self, dev: &NetDev) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        {
            let rtnl = Rtnl::lock();
            dev.carrier_off();
            self.down(dev, &rtnl);
        }
        // No start_xmit is still queueing after this.
        synchronize_net();
        dev.rx_work_cancel();
        dev.unbind_evtchns();
        dev.napi_del();
        dev.rxq_purge();
        self.rx_queued_bytes.store(0, Ordering::Release);
        // Unmaps the rings.
        let tx = self.tx.lock().take();
        let rx = self.rx.lock().take();
        drop(tx);
        drop(rx);
        self.knobs.mcast.reset();
        pr_info!("{}: frontend disconnected\n", dev.name().to_str().unwrap_or("vif"));
    }

    /// The frontend changed its XDP headroom (Reconfiguring); takes effect
    /// for the next packet written to the guest.
    pub(crate) fn set_xdp_headroom(&self, headroom: u16) {
        let mut guard = self.rx.lock();
        let rx: &mut Option<RxQueue> = &mut guard;
        if let Some(q) = rx.as_mut() {
            q.set_xdp_headroom(headroom);
        }
    }

    /// The rate limit changed: let the TX poll pick it up now (a queue
    /// waiting for credit under the old limit resumes at once).
    pub(crate) fn rate_changed(&self, dev: &NetDev) {
        if self.up.load(Ordering::Acquire) && !self.is_disabled() {
            // Process context: run the raised softirq when BHs come back on.
            let _bh = BhDisabled::new();
            dev.napi_schedule();
        }
    }

    /// Guest TX work for NAPI: returns packets processed.
    pub(crate) fn tx_action(&self, dev: &NetDev, budget: i32) -> i32 {
        let result = {
            let mut guard = self.tx.lock();
            let tx: &mut Option<TxQueue> = &mut guard;
            match tx.as_mut() {
                Some(q) => q.action(dev, &self.stats, budget),
                None => Ok(0),
            }
        };
        match result {
            Ok(n) => n,
            Err(reason) => {
                self.fatal(dev, "guest TX", reason);
                0
            }
        }
    }

    /// After a NAPI poll that finished early: reschedule if the frontend
    /// posted more, otherwise end the deferred TX EOI.
    pub(crate) fn tx_idle(&self, dev: &NetDev) {
        let more = {
            let mut guard = self.tx.lock();
            let tx: &mut Option<TxQueue> = &mut guard;
            match tx.as_mut() {
                // Waiting for credit: the credit timer reschedules NAPI and
                // the EOI stays pending meanwhile (xen-netback's rate_limited).
                Some(q) if q.credit.is_waiting() => return,
                Some(q) => q.final_check(),
                None => Ok(false),
            }
        };
        match more {
            Ok(true) => dev.napi_schedule(),
            Ok(false) => dev.lateeoi(Channel::Tx),
            Err(reason) => self.fatal(dev, "guest TX", reason),
        }
    }

    /// One pass of the guest RX worker (process context).
    pub(crate) fn rx_action(&self, dev: &NetDev) -> crate::napi::RxNext {
        use crate::napi::RxNext;
        if self.is_disabled() {
            if !self.disable_done.swap(true, Ordering::AcqRel) {
                let rtnl = Rtnl::lock();
                dev.carrier_off();
                self.down(dev, &rtnl);
            }
            dev.rxq_purge();
            self.rx_queued_bytes.store(0, Ordering::Release);
            return RxNext::Idle;
        }
        if !self.is_connected() {
            return RxNext::Idle;
        }
        let now = jiffies();
        let result = {
            let mut guard = self.rx.lock();
            let rx: &mut Option<RxQueue> = &mut guard;
            match rx.as_mut() {
                Some(q) => q.action(dev, &self.stats, now),
                None => return RxNext::Idle,
            }
        };
        let out = match result {
            Ok(out) => out,
            Err(reason) => {
                self.fatal(dev, "guest RX", reason);
                return RxNext::Idle;
            }
        };
        self.rx_dequeued(dev, out.dequeued_bytes);
        let dropped = self.drop_expired(dev, now);
        if out.batch_full {
            RxNext::Now
        } else if out.blocked || (dropped && dev.rxq_len() > 0) {
            match dev.rxq_head_expires() {
                Some(exp) => RxNext::At(exp),
                None => RxNext::Idle,
            }
        } else {
            RxNext::Idle
        }
    }

    fn rx_dequeued(&self, dev: &NetDev, bytes: u32) {
        let before = self.rx_queued_bytes.fetch_sub(bytes.min(self.rx_queued_bytes.load(Ordering::Acquire)), Ordering::AcqRel);
        let now = before.saturating_sub(bytes);
        if now < RX_QUEUE_MAX_BYTES && dev.queue_stopped() && self.is_connected() {
            dev.wake_queue();
        }
    }

    /// Drops packets that waited longer than the drain timeout
    /// (xenvif_rx_queue_drop_expired). Returns whether any was dropped.
    fn drop_expired(&self, dev: &NetDev, now: u64) -> bool {
        let mut dropped = false;
        while let Some(exp) = dev.rxq_head_expires() {
            if !crate::netif::rx::rx_packet_expired(now, exp) {
                break;
            }
            let Some(skb) = dev.rxq_pop() else {
                break;
            };
            self.rx_dequeued(dev, skb.len());
            self.stats.tx_dropped.add(1);
            self.stats.tx_drop_expired.add(1);
            drop(skb);
            dropped = true;
        }
        dropped
    }
}

impl VifOps for Vif {
    fn open(&self, dev: &NetDev) -> Result {
        if self.is_connected() && !self.is_disabled() {
            // ndo_open runs under RTNL; the guard type witnesses it.
            self.up(dev, &Rtnl::assume_held());
        }
        Ok(())
    }

    fn stop(&self, dev: &NetDev) {
        self.down(dev, &Rtnl::assume_held());
    }

    fn start_xmit(&self, dev: &NetDev, mut skb: SkBuff) {
        if !self.is_connected() || self.is_disabled() || !dev.carrier_ok() {
            self.stats.tx_dropped.add(1);
            self.stats.tx_drop_not_connected.add(1);
            return;
        }
        // Multicast control: unlisted multicast is not for this guest.
        if self.knobs.mcast.is_enabled() && skb.dest_mac().is_some_and(|dst| !self.knobs.mcast.delivers(&dst)) {
            self.stats.tx_dropped.add(1);
            self.stats.tx_drop_mcast_filtered.add(1);
            return;
        }
        let len = skb.len();
        // Bound the memory queued for a slow guest (xenvif_rx_queue_tail).
        if self.rx_queued_bytes.load(Ordering::Acquire) >= RX_QUEUE_MAX_BYTES {
            dev.stop_queue();
            self.stats.tx_dropped.add(1);
            self.stats.tx_drop_queue_full.add(1);
            // The worker wakes the queue once the backlog drains.
            dev.rx_work_kick(0);
            return;
        }
        self.rx_queued_bytes.fetch_add(len, Ordering::AcqRel);
        skb.stamp_expires(jiffies().wrapping_add(self.drain_ticks.load(Ordering::Relaxed)));
        dev.rxq_push(skb);
        dev.rx_work_kick(0);
    }

    fn stats(&self, _dev: &NetDev) -> Stats64 {
        let s = &self.stats;
        Stats64 {
            rx_packets: s.rx_packets.get(),
            rx_bytes: s.rx_bytes.get(),
            tx_packets: s.tx_packets.get(),
            tx_bytes: s.tx_bytes.get(),
            rx_dropped: s.rx_dropped.get(),
            tx_dropped: s.tx_dropped.get(),
            rx_errors: s.rx_errors.get(),
            rx_gso_checksum_fixup: s.rx_gso_checksum_fixup.get(),
            tx_drop_not_connected: s.tx_drop_not_connected.get(),
            tx_drop_queue_full: s.tx_drop_queue_full.get(),
            tx_drop_expired: s.tx_drop_expired.get(),
            tx_drop_mcast_filtered: s.tx_drop_mcast_filtered.get(),
            rx_credit_waits: s.rx_credit_waits.get(),
            fatal_errors: s.fatal_errors.get(),
        }
    }

    fn napi_poll(&self, dev: &NetDev, budget: i32) -> i32 {
        crate::napi::poll(self, dev, budget)
    }

    fn rx_work(&self, dev: &NetDev) {
        crate::napi::rx_worker(self, dev)
    }

    fn tx_event(&self, dev: &NetDev) -> bool {
        // Hard IRQ: no ring access here (NAPI owns the ring); NAPI ends the
        // EOI once it has processed the requests.
        if !self.up.load(Ordering::Acquire) || self.is_disabled() {
            return false;
        }
        dev.napi_schedule();
        true
    }

    fn rx_event(&self, dev: &NetDev) -> bool {
        if !self.is_connected() || self.is_disabled() {
            return false;
        }
        dev.rx_work_kick(0);
        true
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The `ethN` net_device of one vif: its callbacks and counters.
//!
//! The device is the binding layer's `VifNetDevice`, the same one
//! netback-rs' `vifD.H` uses: the callbacks reach [`Frontend`] through
//! `VifOps`, and each queue's NAPI poll and event through `QueueOps`.
//! "Guest offloads" are here what the backend takes from us.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{EthtoolStats, LinkStats, NetDev, QueueArray, QueueOps, VifOps};
use crate::bindings::net::skb::SkBuff;
use crate::bindings::Rtnl;
use crate::netif::coalesce::TxCoalesce;
use crate::netif::negotiate::GuestOffloads;
use crate::netif::poll_mode::PollMode;
use crate::poll_mode::PollPlacement;
use crate::queue::Queue;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use kernel::prelude::*;

/// Driver state of one vif's device.
#[pin_data]
pub(crate) struct Frontend {
    /// The offloads the backend takes (`ndo_fix_features` masks the rest).
    offloads: AtomicU8,
    /// Rings connected and the backend Connected: the carrier may be on.
    pub(crate) connected: AtomicBool,
    /// Queues of the connection (1 ..= `queues.len()`; the stack's real
    /// queue count).
    num_queues: AtomicU32,
    pub(crate) queues: QueueArray<Queue>,
    /// Where the queues' polls run (`napi_threaded`).
    poll_mode: PollMode,
    /// Where they run now, and the floods that put them there.
    polls: PollPlacement,
}

impl Frontend {
    /// `max_queues` queues allocated, nothing connected.
    pub(crate) fn new(max_queues: u32, poll_mode: PollMode) -> Result<impl PinInit<Self, Error>> {
        let queues = QueueArray::new(max_queues, |_| Queue::new())?;
        let none = GuestOffloads { sg: false, tso_v4: false, tso_v6: false, ip_csum: false, ipv6_csum: false };
        Ok(try_pin_init!(Self {
            offloads: AtomicU8::new(none.to_bits()),
            connected: AtomicBool::new(false),
            num_queues: AtomicU32::new(1),
            queues,
            poll_mode,
            polls: PollPlacement::new(),
        }? Error))
    }

    /// Sets where the polls of a new connection run, before its NAPI
    /// instances are added (process context; [`PollPlacement::start`]). By
    /// load (`napi_threaded=2`), queue 0's worker moves them (`rx_work`).
    pub(crate) fn start_polls(&self, dev: &NetDev<'_>) -> Result {
        if self.poll_mode == PollMode::Auto {
            dev.on_queue(0).rx_worker_start("poll-mode")?;
        }
        self.polls.start(dev, self.poll_mode);
        Ok(())
    }

    /// Records what the backend takes (applied with `apply_guest_offloads`).
    pub(crate) fn set_offloads(&self, o: GuestOffloads) {
        self.offloads.store(o.to_bits(), Ordering::Release);
    }

    /// Queues of the connection.
    pub(crate) fn num_queues(&self) -> u32 {
        self.num_queues.load(Ordering::Acquire)
    }

    /// Records the connection's queue count (the stack's was set to it).
    pub(crate) fn set_num_queues(&self, n: u32) {
        self.num_queues.store(n, Ordering::Release);
    }

    fn queue(&self, dev: &NetDev<'_>) -> Option<&Queue> {
        self.queues.get(dev.queue()).map(|q| &**q)
    }
}

impl QueueOps for Frontend {
    fn napi_poll(&self, dev: &NetDev<'_>, budget: i32) -> i32 {
        let Some(q) = self.queue(dev) else { return 0 };
        let (done, flooded) = q.poll(dev, budget, self.polls.counts());
        if flooded {
            self.polls.flooded(dev);
        }
        done
    }

    /// Queue 0's worker (`napi_threaded=2` only; both rings are served by
    /// the NAPI poll): moves the polls where the queues' load wants them,
    /// and while they are in threads looks again after a quiet period.
    fn rx_work(&self, dev: &NetDev<'_>) {
        if let Some(delay) = self.polls.recheck(dev) {
            dev.rx_work_kick(delay);
        }
    }

    /// The poll serves both rings: an event on either ring's channel (or
    /// on the one channel of both) schedules it.
    fn tx_event(&self, dev: &NetDev<'_>) -> bool {
        if !self.queue(dev).is_some_and(|q| q.live.load(Ordering::Acquire)) {
            return false;
        }
        dev.napi_schedule();
        true
    }

    /// As `tx_event`.
    fn rx_event(&self, dev: &NetDev<'_>) -> bool {
        self.tx_event(dev)
    }
}

impl VifOps for Frontend {
    fn open(&self, dev: &NetDev<'_>, _rtnl: &Rtnl) -> Result {
        if self.connected.load(Ordering::Acquire) {
            dev.wake_all_queues();
        }
        Ok(())
    }

    fn stop(&self, dev: &NetDev<'_>, _rtnl: &Rtnl) {
        for i in 0..self.queues.len() {
            dev.on_queue(i).stop_queue();
        }
    }

    /// The stack's choice (its flow hash, as xen-netfront's
    /// `skb_get_hash() % queues`) among the connected queues.
    fn select_queue(&self, dev: &NetDev<'_>, skb: &mut SkBuff) -> u16 {
        if self.num_queues() <= 1 {
            return 0;
        }
        dev.pick_tx(skb)
    }

    fn start_xmit(&self, dev: &NetDev<'_>, skb: SkBuff) {
        // The stack's mapping is below the real count unless it changed
        // under it: fold it.
        let dev = dev.on_queue(dev.queue() % self.num_queues().max(1));
        match self.queue(&dev) {
            Some(q) => q.xmit(&dev, skb),
            None => drop(skb),
        }
    }

    fn guest_offloads(&self, _dev: &NetDev<'_>) -> GuestOffloads {
        GuestOffloads::from_bits(self.offloads.load(Ordering::Acquire))
    }

    fn link_stats(&self, _dev: &NetDev<'_>) -> LinkStats {
        let mut s = LinkStats::default();
        for q in self.queues.iter() {
            let c = &q.stats;
            let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            s.rx_packets += c.rx_packets.get();
            s.rx_bytes += c.rx_bytes.get();
            s.tx_packets += c.tx_packets.get();
            s.tx_bytes += c.tx_bytes.get();
            s.rx_dropped += get(&c.rx_dropped);
            s.tx_dropped += get(&c.tx_dropped);
            s.rx_errors += get(&c.rx_errors);
        }
        s
    }

    fn ethtool_stats(&self, _dev: &NetDev<'_>, out: &mut EthtoolStats<'_>) {
        for (i, q) in self.queues.iter().enumerate() {
            let c = &q.stats;
            let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            out.push(format_args!("queue_{i}_tx_packets"), c.tx_packets.get());
            out.push(format_args!("queue_{i}_tx_dropped"), get(&c.tx_dropped));
            out.push(format_args!("queue_{i}_tx_errors"), c.tx_errors.get());
            out.push(format_args!("queue_{i}_tx_granted"), c.tx_granted.get());
            out.push(format_args!("queue_{i}_rx_packets"), c.rx_packets.get());
            out.push(format_args!("queue_{i}_rx_errors"), get(&c.rx_errors));
            out.push(format_args!("queue_{i}_rx_dropped"), get(&c.rx_dropped));
            out.push(format_args!("queue_{i}_rx_pages_lent"), c.rx_pages_lent.get());
            out.push(format_args!("queue_{i}_staging_pages"), q.staged_pages() as u64);
        }
    }

    fn channels(&self, _dev: &NetDev<'_>) -> u32 {
        self.num_queues()
    }

    fn set_queue_limit(&self, _dev: &NetDev<'_>, _n: u32) -> Result {
        Err(EINVAL)
    }

    fn tx_coalesce(&self, _dev: &NetDev<'_>) -> TxCoalesce {
        TxCoalesce::default()
    }

    fn set_tx_coalesce(&self, _dev: &NetDev<'_>, _c: TxCoalesce) -> Result {
        Err(EINVAL)
    }

    type Queue = Queue;

    fn queues(&self) -> &QueueArray<Queue> {
        &self.queues
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The VIF: the `vifD.H` net_device's driver state and its callbacks.
//!
//! Lifecycle (all transitions under RTNL):
//! * created at probe, registered so the hotplug script can bridge it;
//! * `attach` (frontend connected): each queue's rings and event channels
//!   are installed, the netdev's real queue count set, and the interface
//!   goes *up* (NAPI + IRQs of every queue enabled) when it is also open;
//! * `detach` (frontend closing, device removal): down, workers cancelled,
//!   IRQs unbound, rings unmapped, backlogs purged;
//! * a fatal frontend error on any queue only sets `disabled` from
//!   NAPI/worker context; an RX worker then takes the carrier down in
//!   process context. Other VIFs are untouched.
//!
//! The queues (`queue::Queue`, one per allocated netdev queue, max_queues
//! at probe, each one allocation holding all of its state, its kernel
//! objects included) are fixed for the VIF's life; a connection uses the
//! first `num_queues` of them.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings;
use crate::bindings::lock::{new_spinlock_bh, SpinLockBh, SpinLockBhGuard};
use crate::bindings::net::device::{Channel, EthtoolStats, LinkStats, NetDev, QueueArray, VifOps};
use crate::bindings::net::skb::SkBuff;
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::bindings::{jiffies, synchronize_net, BhDisabled, Rtnl};
use crate::fatal::FatalReason;
use crate::grant_pool::StagedGrants;
use crate::hash::VifHash;
use crate::knobs::VifKnobs;
use crate::napi::poll_mode::PollPlacement;
use crate::napi::RxNext;
use crate::netif::coalesce::TxCoalesce;
use crate::netif::negotiate::GuestOffloads;
use crate::netif::rx::{rx_sender_writes, CarrierChange, RxAdmit, StalledQueues};
use crate::params;
use crate::queue::Queue;
use crate::rx::RxQueue;
use crate::stats::{link_stats, write_ethtool, QueueValues, StatValues, TxDrop};
use crate::tx::TxQueue;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Everything a connected frontend brings for one queue.
pub(crate) struct Attachment {
    pub(crate) tx: TxQueue,
    pub(crate) rx: RxQueue,
    pub(crate) tx_evtchn: u32,
    pub(crate) rx_evtchn: u32,
}

/// Driver state of one VIF.
#[pin_data]
pub(crate) struct Vif {
    domid: u16,
    /// Rings and event channels are installed.
    connected: AtomicBool,
    /// NAPI and IRQs are enabled (open and connected). Changed under RTNL.
    up: AtomicBool,
    /// A fatal frontend error was seen; stop all processing.
    disabled: AtomicBool,
    /// The connection's generation, bumped by every attach and detach, so
    /// late work of one connection cannot act on the next.
    generation: AtomicU32,
    /// The generation whose disabled VIF an RX worker has taken down.
    taken_down: AtomicU32,
    /// Drain timeout of the current frontend, in jiffies.
    drain_ticks: AtomicU64,
    /// [`GuestOffloads`] bits of the frontend (`ndo_fix_features`, MTU limit).
    guest_offloads: AtomicU8,
    /// Queues of the connected frontend (0 while disconnected); stored
    /// before `connected` is set.
    num_queues: AtomicU32,
    /// The most queues offered to the next frontend connection
    /// (`multi-queue-max-queues`; `ethtool -L combined`), 1..=queues.len().
    queue_limit: AtomicU32,
    /// An `ethtool -L` limit not yet seen by a connection.
    queue_limit_pending: AtomicBool,
    /// All allocated queues, each one allocation with its kernel objects.
    queues: QueueArray<Queue>,
    /// The frontend's hash configuration (control ring) for queue selection.
    #[pin]
    pub(crate) hash: VifHash,
    /// Our xenbus device, to rewrite `multi-queue-max-queues`.
    xdev: ARef<XenbusDevice>,
    /// Rate limit, multicast control, per-VIF timeouts, disable reason.
    #[pin]
    pub(crate) knobs: VifKnobs,
    /// Guest RX stalled queues (`vif->stalled_queues`): the carrier is on
    /// only while none is. Every carrier change is made under this lock
    /// (bottom halves off: `ndo_start_xmit`'s RX pass may change it).
    #[pin]
    stalled_queues: SpinLockBh<StalledQueues>,
    /// Where the guest-TX polls run (`napi_threaded`).
    pub(crate) polls: PollPlacement,
}

impl Vif {
    /// State for the VIF of guest `domid` with `nr_queues` (>= 1) queues.
    pub(crate) fn new(
        domid: u16,
        nr_queues: u32,
        xdev: ARef<XenbusDevice>,
        knobs: impl PinInit<VifKnobs>,
    ) -> Result<impl PinInit<Self, Error>> {
        let queues = QueueArray::new(nr_queues, |_| Queue::new())?;
        Ok(try_pin_init!(Self {
            domid,
            connected: AtomicBool::new(false),
            up: AtomicBool::new(false),
            disabled: AtomicBool::new(false),
            generation: AtomicU32::new(1),
            taken_down: AtomicU32::new(0),
            drain_ticks: AtomicU64::new(0),
            guest_offloads: AtomicU8::new(GuestOffloads::INITIAL.to_bits()),
            num_queues: AtomicU32::new(0),
            queue_limit: AtomicU32::new(nr_queues),
            queue_limit_pending: AtomicBool::new(false),
            queues,
            hash <- VifHash::new(),
            xdev,
            knobs <- knobs,
            stalled_queues <- new_spinlock_bh!(StalledQueues::default()),
            polls: PollPlacement::new(),
        }? Error))
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled.load(Ordering::Acquire)
    }

    /// The interface is up (between `ndo_open` and `ndo_stop`).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Queues of the connected frontend (0 while disconnected).
    pub(crate) fn num_queues(&self) -> u32 {
        self.num_queues.load(Ordering::Acquire)
    }

    /// Every counter summed over the queues (all of them: a queue's counts
    /// stay after its frontend has gone).
    fn stat_totals(&self) -> StatValues {
        let mut total = StatValues::default();
        for queue in self.queues.iter() {
            total += queue.stats.read();
        }
        total
    }

    /// What the connected (or last) frontend takes; see [`GuestOffloads::INITIAL`].
    pub(crate) fn guest_offloads(&self) -> GuestOffloads {
        GuestOffloads::from_bits(self.guest_offloads.load(Ordering::Acquire))
    }

    /// Records what a connecting frontend takes (applied by `attach`).
    pub(crate) fn set_guest_offloads(&self, o: GuestOffloads) {
        self.guest_offloads.store(o.to_bits(), Ordering::Release);
    }

    /// The most queues the next frontend connection may use.
    pub(crate) fn queue_limit(&self) -> u32 {
        self.queue_limit.load(Ordering::Acquire)
    }

    /// The queue a per-queue callback's view acts on.
    fn queue(&self, dev: &NetDev<'_>) -> Option<&Queue> {
        self.queues.get(dev.queue()).map(|q| &**q)
    }

    /// Views of the connected queues.
    fn queue_devs<'a>(&self, dev: &'a NetDev<'a>) -> impl Iterator<Item = NetDev<'a>> + 'a {
        let n = self.num_queues();
        (0..n).map(move |q| dev.on_queue(q))
    }

    /// The frontend's domain.
    pub(crate) fn domid(&self) -> u16 {
        self.domid
    }

    /// The VIF's xenbus device (the backend's xenstore directory).
    pub(crate) fn xenbus(&self) -> &XenbusDevice {
        &self.xdev
    }

    /// Runs `f` on queue `index`'s guest TX side, `None` if that queue is
    /// not connected (process context; the lock holds NAPI off on this CPU
    /// meanwhile).
    pub(crate) fn inspect_tx<R>(&self, index: u32, f: impl FnOnce(Option<&TxQueue>) -> R) -> R {
        let Some(queue) = self.queues.get(index) else {
            return f(None);
        };
        let guard = queue.tx.lock();
        let tx: &Option<TxQueue> = &guard;
        f(tx.as_ref())
    }

    /// Runs `f` on queue `index`'s guest RX side, `None` if that queue is
    /// not connected (process context).
    pub(crate) fn inspect_rx<R>(&self, index: u32, f: impl FnOnce(Option<&RxQueue>) -> R) -> R {
        let Some(queue) = self.queues.get(index) else {
            return f(None);
        };
        let guard = queue.rx.lock();
        let rx: &Option<RxQueue> = &guard;
        f(rx.as_ref())
    }

    /// Queue `index`'s staging grants (control ring).
    pub(crate) fn staged(&self, index: u32) -> Option<&StagedGrants> {
        self.queues.get(index).map(|q| &q.staged)
    }

    /// Every allocated queue's staging grants.
    pub(crate) fn all_staged(&self) -> impl Iterator<Item = &StagedGrants> {
        self.queues.iter().map(|q| &q.staged)
    }

    /// Bytes queued for the guest on queue `index`.
    pub(crate) fn backlog_bytes(&self, index: u32) -> u32 {
        self.queues.get(index).map_or(0, |q| q.backlog_bytes())
    }

    /// Disables the VIF after a frontend protocol violation (any context).
    /// The RX workers turn the carrier off; nothing else is processed.
    pub(crate) fn fatal(&self, dev: &NetDev<'_>, path: &str, reason: FatalReason) {
        if !self.disabled.swap(true, Ordering::AcqRel) {
            if let Some(queue) = self.queue(dev) {
                queue.stats.fatal_errors.add(1);
            }
            self.knobs.record_fatal(reason);
            pr_err!(
                "{}: fatal error from frontend (domain {}) on the {} path of queue {}: {}; disabling the interface\n",
                dev.name(),
                self.domid,
                path,
                dev.queue(),
                reason
            );
        }
        // While detaching, detach takes everything down itself. A kick that
        // races with it (a worker re-queued after detach cancelled it) may
        // run after a reconnect: the worker's generation check
        // (`take_down_disabled`) keeps it off the new connection.
        if self.is_connected() {
            for qd in self.queue_devs(dev) {
                qd.rx_work_kick(0);
            }
        }
    }

    /// An RX worker found the VIF disabled: carrier, NAPI and IRQs of every
    /// queue off (once per connection) and this queue's backlog dropped.
    /// Acts only if the connection it saw disabled is still the current
    /// one, checked under RTNL, which attach holds to bring a new
    /// connection up: late work cannot take a new connection down.
    fn take_down_disabled(&self, dev: &NetDev<'_>, queue: &Queue) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.taken_down.load(Ordering::Acquire) != generation {
            let rtnl = Rtnl::lock();
            if self.generation.load(Ordering::Acquire) != generation || !self.is_disabled() {
                return;
            }
            if self.taken_down.swap(generation, Ordering::AcqRel) != generation {
                self.carrier_off(dev);
                self.down(dev, &rtnl);
            }
        }
        if self.generation.load(Ordering::Acquire) == generation {
            dev.rxq_purge();
            queue.backlog_reset();
        }
    }

    /// NAPI + IRQs of every queue on. RTNL held; connected and open.
    fn up(&self, dev: &NetDev<'_>, _rtnl: &Rtnl) {
        if self.up.swap(true, Ordering::AcqRel) {
            return;
        }
        for qd in self.queue_devs(dev) {
            qd.napi_enable();
            qd.enable_irqs();
            // Pick up requests posted while we were down (and end any EOI);
            // the poll runs when BHs come back on.
            let bh = BhDisabled::new();
            qd.napi_schedule();
            drop(bh);
            qd.rx_work_kick(0);
        }
    }

    /// NAPI + IRQs of every queue off. RTNL held.
    fn down(&self, dev: &NetDev<'_>, _rtnl: &Rtnl) {
        if !self.up.swap(false, Ordering::AcqRel) {
            return;
        }
        for qd in self.queue_devs(dev) {
            qd.disable_irqs();
            qd.napi_disable();
        }
    }

    /// Unbinds, deletes NAPI, purges and unmaps queues `0..n` (down, workers
    /// cancelled or never started).
    fn release_queues(&self, dev: &NetDev<'_>, n: usize) {
        for (i, queue) in self.queues.iter().take(n).enumerate() {
            let qd = dev.on_queue(i as u32);
            // Unmaps the rings and shuts the credit timer down (it
            // schedules this queue's NAPI) before NAPI goes.
            let mut tx = queue.tx.lock().take();
            if let Some(t) = tx.as_mut() {
                // Waits for zero-copy pages the stack still holds; answers
                // every request, notifying through the channel still bound
                // (its IRQ is off: nothing schedules NAPI).
                t.shutdown(&queue.stats, Some(&queue.staged), Some(&qd));
            }
            qd.unbind_evtchns();
            let rx = queue.rx.lock().take();
            drop(tx);
            drop(rx);
            qd.napi_del();
            qd.rxq_purge();
            queue.backlog_reset();
        }
    }

    /// Installs a connected frontend's queues and starts them. Called from
    /// the xenbus side (process context, not under RTNL).
    pub(crate) fn attach(&self, dev: &NetDev<'_>, xdev: &XenbusDevice, queues: KVec<Attachment>) -> Result {
        if self.is_connected() {
            return Err(EBUSY);
        }
        let n = queues.len();
        if n == 0 || n > self.queues.len() as usize {
            return Err(EINVAL);
        }
        // First the flag, then the new generation: a late worker of the old
        // connection that still saw `disabled` and reads the new generation
        // then finds the flag clear under RTNL, instead of marking the new
        // connection taken down (which would leave its carrier on after a
        // real fatal error of its own).
        self.disabled.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.knobs.clear_fatal();
        // Before NAPI is added: threads are made with it when threaded.
        self.polls.start(dev, params::napi_threaded());
        let mut source = "";
        for (i, (a, queue)) in queues.into_iter().zip(self.queues.iter()).enumerate() {
            let qd = dev.on_queue(i as u32);
            self.drain_ticks.store(a.rx.drain_ticks(), Ordering::Release);
            source = a.tx.source_name();
            queue.backlog_reset();
            queue.eoi.set_channels(a.tx_evtchn == a.rx_evtchn);
            *queue.tx.lock() = Some(a.tx);
            // An old ring (none is expected) is dropped outside the lock:
            // unmapping it may sleep.
            let old = queue.rx.lock().replace(a.rx);
            drop(old);
            qd.napi_add();
            if let Err(e) =
                qd.rx_worker_start("guest-rx").and_then(|()| qd.bind_evtchns(xdev, a.tx_evtchn, a.rx_evtchn))
            {
                self.release_queues(dev, i + 1);
                return Err(e);
            }
        }
        let rtnl = Rtnl::lock();
        if let Err(e) = dev.set_num_queues(n as u32, &rtnl) {
            drop(rtnl);
            self.release_queues(dev, n);
            return Err(e);
        }
        pr_info!("{}: frontend connected, {} queue(s), guest TX data path: {}\n", dev.name(), n, source);
        dev.apply_guest_offloads(self.guest_offloads(), &rtnl);
        // Every queue starts stalled; the carrier comes on once each has
        // buffers posted (or at once without stall detection).
        *self.stalled_queues.lock() = StalledQueues::all(n as u32);
        self.num_queues.store(n as u32, Ordering::Release);
        self.queue_limit_pending.store(false, Ordering::Release);
        self.connected.store(true, Ordering::Release);
        if dev.running() {
            self.up(dev, &rtnl);
        }
        dev.wake_all_queues();
        drop(rtnl);
        // The workers turn the carrier on once the guest has posted buffers.
        for qd in self.queue_devs(dev) {
            qd.rx_work_kick(0);
        }
        Ok(())
    }

    /// Stops and removes the frontend's queues (process context).
    pub(crate) fn detach(&self, dev: &NetDev<'_>) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        {
            let rtnl = Rtnl::lock();
            self.carrier_off(dev);
            self.down(dev, &rtnl);
        }
        // No start_xmit is still queueing after this.
        synchronize_net();
        for qd in self.queue_devs(dev) {
            qd.rx_work_cancel();
        }
        self.release_queues(dev, self.num_queues() as usize);
        {
            let rtnl = Rtnl::lock();
            // Only the count ethtool shows: the real queue counts stay.
            let _ = dev.set_num_queues(0, &rtnl);
        }
        self.num_queues.store(0, Ordering::Release);
        self.hash.reset();
        self.knobs.mcast.reset();
        pr_info!("{}: frontend disconnected\n", dev.name());
    }

    /// The frontend changed its XDP headroom (Reconfiguring); takes effect
    /// for the next packet written to the guest.
    pub(crate) fn set_xdp_headroom(&self, headroom: u16) {
        for queue in self.queues.iter() {
            let mut guard = queue.rx.lock();
            let rx: &mut Option<RxQueue> = &mut guard;
            if let Some(q) = rx.as_mut() {
                q.set_xdp_headroom(headroom);
            }
        }
    }

    /// The rate limit changed: let every queue's TX poll pick it up now (a
    /// queue waiting for credit under the old limit resumes at once).
    pub(crate) fn rate_changed(&self, dev: &NetDev<'_>) {
        crate::sriov::rate_changed(dev, self.knobs.rate.get());
        if self.up.load(Ordering::Acquire) && !self.is_disabled() {
            // Process context: run the raised softirqs when BHs come back on.
            let _bh = BhDisabled::new();
            for qd in self.queue_devs(dev) {
                qd.napi_schedule();
            }
        }
    }

    /// Guest TX work for NAPI: returns packets processed. Inlined into the
    /// poll, its only caller, as it was before guest TX's one-slot path grew
    /// it past the compiler's own threshold.
    #[inline(always)]
    pub(crate) fn tx_action(&self, dev: &NetDev<'_>, budget: i32) -> (i32, bool) {
        let Some(queue) = self.queue(dev) else {
            return (0, false);
        };
        let count = self.polls.counts();
        let result = {
            let mut guard = queue.tx.lock();
            let tx: &mut Option<TxQueue> = &mut guard;
            match tx.as_mut() {
                Some(q) => {
                    let req_cons = q.ring().req_cons();
                    let result = q.action(dev, &queue.stats, &queue.staged, budget, self.knobs.tx_coalesce());
                    if q.ring().req_cons() != req_cons {
                        queue.eoi.work_seen(Channel::Tx);
                    }
                    result.map(|n| (n, count && q.count_poll(n, budget)))
                }
                None => Ok((0, false)),
            }
        };
        match result {
            Ok(r) => r,
            Err(reason) => {
                self.fatal(dev, "guest TX", reason);
                (0, false)
            }
        }
    }

    /// After a NAPI poll that finished early: reschedule if the frontend
    /// posted more, otherwise end the deferred TX EOI.
    pub(crate) fn tx_idle(&self, dev: &NetDev<'_>) {
        let Some(queue) = self.queue(dev) else {
            return;
        };
        let more = {
            let mut guard = queue.tx.lock();
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
            Ok(false) => queue.eoi.end_eoi(dev, Channel::Tx),
            Err(reason) => self.fatal(dev, "guest TX", reason),
        }
    }

    /// One pass of a queue's guest RX worker (process context).
    pub(crate) fn rx_action(&self, dev: &NetDev<'_>) -> RxNext {
        let Some(queue) = self.queue(dev) else {
            return RxNext::Idle;
        };
        if self.is_disabled() {
            self.take_down_disabled(dev, queue);
            return RxNext::Idle;
        }
        self.rx_pass(dev, queue, queue.rx.lock(), None).0
    }

    /// `ndo_start_xmit`'s own RX pass (`rx_sender_writes`): writes `skb`
    /// to the guest without queueing it. The packet comes back, to be
    /// queued for the worker, when the worker holds the ring or the guest
    /// has no buffer for it.
    fn rx_by_sender(&self, dev: &NetDev<'_>, queue: &Queue, skb: SkBuff) -> Option<SkBuff> {
        if !bindings::bh_lock_allowed() {
            return Some(skb);
        }
        let Some(guard) = queue.rx.try_lock() else {
            return Some(skb);
        };
        // Looked at again with the ring held: a worker's pass that just
        // ended may have put back a packet the guest had no room for, and
        // this one must not overtake it.
        if dev.rxq_len() != 0 {
            return Some(skb);
        }
        self.rx_pass(dev, queue, guard, Some(skb)).1
    }

    /// Moves packets into the guest with its RX ring held by `guard`
    /// (released once the packets are written): the sender's `direct`
    /// packet, or else the queued ones; then applies what the pass found:
    /// carrier, EOI work, expired packets, the next run. A `direct` pass
    /// (`tx_sender_written`) returns its packet when the ring had no room.
    fn rx_pass(
        &self,
        dev: &NetDev<'_>,
        queue: &Queue,
        mut guard: SpinLockBhGuard<'_, Option<RxQueue>>,
        direct: Option<SkBuff>,
    ) -> (RxNext, Option<SkBuff>) {
        if !self.is_connected() || self.is_disabled() {
            return (RxNext::Idle, direct);
        }
        let by_sender = direct.is_some();
        let now = jiffies();
        let connected = self.is_connected();
        let result = {
            let rx: &mut Option<RxQueue> = &mut guard;
            match rx.as_mut() {
                Some(q) => {
                    q.set_hash_extras(self.hash.enabled());
                    q.action(dev, &queue.stats, &queue.staged, now, direct, |bytes| {
                        queue.backlog_sub(dev, bytes, connected)
                    })
                }
                None => return (RxNext::Idle, direct),
            }
        };
        drop(guard);
        let mut out = match result {
            Ok(out) => out,
            Err(reason) => {
                self.fatal(dev, "guest RX", reason);
                return (RxNext::Idle, None);
            }
        };
        self.queue_carrier(dev, out.carrier);
        if out.packets > 0 {
            queue.eoi.work_seen(Channel::Rx);
            if by_sender {
                queue.stats.tx_sender_written.add(u64::from(out.packets));
            }
        }
        // The sender's pass found the backlog empty: nothing to expire, no
        // next run but the worker's for a returned packet.
        if by_sender {
            return (RxNext::Idle, out.returned.take());
        }
        let dropped = self.drop_expired(queue, dev, now);
        let next = if out.batch_full {
            RxNext::Now
        } else if out.blocked || (dropped && dev.rxq_len() > 0) {
            match dev.rxq_head_expires() {
                Some(exp) => RxNext::At(exp),
                None => RxNext::Idle,
            }
        } else {
            RxNext::Idle
        };
        (next, None)
    }

    /// Carrier off for detach or a disabled VIF, ordered with the queues'
    /// changes.
    fn carrier_off(&self, dev: &NetDev<'_>) {
        let _stalled = self.stalled_queues.lock();
        dev.carrier_off();
    }

    /// Applies a queue's guest RX stall or recovery to the device carrier
    /// (xenvif_queue_carrier_off/on): off with the first stalled queue, on
    /// when the last recovers, never on for a VIF going away.
    fn queue_carrier(&self, dev: &NetDev<'_>, change: CarrierChange) {
        if change == CarrierChange::None {
            return;
        }
        let name = dev.name();
        let mut stalled = self.stalled_queues.lock();
        match stalled.apply(change) {
            CarrierChange::Off => {
                pr_info!("{}: guest RX stalled on queue {}, carrier off\n", name, dev.queue());
                dev.carrier_off();
            }
            CarrierChange::On if self.is_connected() && !self.is_disabled() => {
                pr_info!("{}: guest RX ready, carrier on\n", name);
                dev.carrier_on();
            }
            CarrierChange::On | CarrierChange::None => {}
        }
    }

    /// Ends the deferred EOI of a queue's RX (or shared) channel after a
    /// worker pass, spurious when the event found no work.
    pub(crate) fn rx_end_eoi(&self, dev: &NetDev<'_>) {
        if let Some(queue) = self.queue(dev) {
            queue.eoi.end_eoi(dev, Channel::Rx);
        }
    }

    /// Drops packets that waited longer than the drain timeout
    /// (xenvif_rx_queue_drop_expired). Returns whether any was dropped.
    fn drop_expired(&self, queue: &Queue, dev: &NetDev<'_>, now: u64) -> bool {
        let mut dropped = false;
        while let Some(exp) = dev.rxq_head_expires() {
            if !crate::netif::rx::rx_packet_expired(now, exp) {
                break;
            }
            let Some(skb) = dev.rxq_pop() else {
                break;
            };
            queue.backlog_sub(dev, skb.len(), self.is_connected());
            queue.stats.tx_drop(TxDrop::Expired);
            drop(skb);
            dropped = true;
        }
        dropped
    }
}

impl VifOps for Vif {
    fn open(&self, dev: &NetDev<'_>, rtnl: &Rtnl) -> Result {
        if self.is_connected() && !self.is_disabled() {
            self.up(dev, rtnl);
        }
        Ok(())
    }

    fn stop(&self, dev: &NetDev<'_>, rtnl: &Rtnl) {
        self.down(dev, rtnl);
    }

    fn select_queue(&self, dev: &NetDev<'_>, skb: &mut SkBuff) -> u16 {
        let n = self.num_queues();
        if n <= 1 {
            return 0;
        }
        match self.hash.select_queue(skb, n) {
            Some(q) => q,
            None => dev.pick_tx(skb),
        }
    }

    fn start_xmit(&self, dev: &NetDev<'_>, mut skb: SkBuff) {
        let n = self.num_queues();
        if !self.is_connected() || self.is_disabled() || !dev.carrier_ok() || n == 0 {
            if let Some(q) = self.queues.get(0) {
                q.stats.tx_drop(TxDrop::NotConnected);
            }
            return;
        }
        // The stack's mapping is below the real count unless it changed
        // under it; fold as xen-netback does.
        let dev = dev.on_queue(dev.queue() % n);
        let Some(queue) = self.queue(&dev) else {
            return;
        };
        // Multicast control (per VIF, whichever queue): unlisted multicast
        // is not for this guest.
        if self.knobs.mcast.is_enabled() && skb.dest_mac().is_some_and(|dst| !self.knobs.mcast.delivers(&dst)) {
            queue.stats.tx_drop(TxDrop::McastFiltered);
            return;
        }
        let len = skb.len();
        let hash = self.hash.guest_hash(&skb);
        skb.stamp_rx(jiffies().wrapping_add(self.drain_ticks.load(Ordering::Relaxed)), hash);
        // A lone small packet is written here, on the sender's CPU, without
        // queueing it, unless the worker holds the ring (then it takes the
        // packet from the backlog).
        let skb = if rx_sender_writes(self.knobs.rx_sender_writes(), len, dev.rxq_len()) {
            match self.rx_by_sender(&dev, queue, skb) {
                Some(skb) => skb,
                None => return,
            }
        } else {
            skb
        };
        // Bound the memory queued for a slow guest: the packet that fills
        // the backlog stops the netdev queue (the core's rule).
        let stop = match queue.backlog_admit(len) {
            RxAdmit::Queue { stop } => stop,
            RxAdmit::Drop => {
                queue.stats.tx_drop(TxDrop::QueueFull);
                queue.stop_until_room(&dev);
                dev.rx_work_kick(0);
                return;
            }
        };
        dev.rxq_push(skb);
        if stop {
            queue.stop_until_room(&dev);
        }
        dev.rx_work_kick(0);
    }

    fn guest_offloads(&self, _dev: &NetDev<'_>) -> GuestOffloads {
        Vif::guest_offloads(self)
    }

    fn link_stats(&self, _dev: &NetDev<'_>) -> LinkStats {
        link_stats(&self.stat_totals())
    }

    fn ethtool_stats(&self, _dev: &NetDev<'_>, out: &mut EthtoolStats<'_>) {
        // Per-queue entries for the connected queues only.
        let connected = self.queues.iter().take(self.num_queues() as usize);
        let queues = connected.map(|q| QueueValues {
            counters: q.stats.read(),
            tx_backlog_bytes: u64::from(q.backlog_bytes()),
            staging_mapped: u64::from(q.staged.mapped()),
        });
        let staging_mapped = self.queues.iter().map(|q| u64::from(q.staged.mapped())).sum();
        write_ethtool(&self.stat_totals(), staging_mapped, queues, out);
    }

    fn channels(&self, _dev: &NetDev<'_>) -> u32 {
        if self.queue_limit_pending.load(Ordering::Acquire) || !self.is_connected() {
            self.queue_limit()
        } else {
            self.num_queues()
        }
    }

    fn set_queue_limit(&self, dev: &NetDev<'_>, n: u32) -> Result {
        let name = dev.name();
        let max = self.queues.len();
        if n == 0 || n > max {
            pr_warn!(
                "{}: refusing {} queues: the range is 1..={} (max_queues when the vif was created)\n",
                name,
                n,
                max
            );
            return Err(EINVAL);
        }
        // Frontends read the key when they connect: a connected one keeps
        // its queues until it reconnects.
        self.xdev.write_own_ulong(c"multi-queue-max-queues", u64::from(n))?;
        self.queue_limit.store(n, Ordering::Release);
        self.queue_limit_pending.store(true, Ordering::Release);
        pr_info!("{}: offering at most {} queue(s) from the next frontend connection\n", name, n);
        Ok(())
    }

    fn tx_coalesce(&self, _dev: &NetDev<'_>) -> TxCoalesce {
        self.knobs.tx_coalesce()
    }

    fn set_tx_coalesce(&self, dev: &NetDev<'_>, c: TxCoalesce) -> Result {
        if c != self.knobs.tx_coalesce() {
            self.knobs.set_tx_coalesce(c);
            pr_info!(
                "{}: guest TX answers: tx-usecs {} tx-frames {} adaptive-tx {}\n",
                dev.name(),
                c.usecs(),
                c.frames(),
                if c.adaptive() { "on" } else { "off" }
            );
        }
        Ok(())
    }

    type Queue = Queue;

    fn queues(&self) -> &QueueArray<Queue> {
        &self.queues
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The VIF `net_device`, laid out and driven from Rust.
//!
//! * A queue is one pinned allocation, [`VifQueue`]: its kernel objects
//!   ([`QueueKernel`]: the NAPI instance for guest TX, the guest-RX backlog
//!   and its worker, the ring pair's event channels) next to the driver's
//!   state of the queue (`crate::queue::Queue`). `T` owns its queues in a
//!   [`QueueArray`] ([`VifOps::queues`]); the device's private area
//!   ([`VifPriv`]) holds `T` and pointers to the queues it serves.
//! * `net_device_ops` and `ethtool_ops` are constants of [`Vtable<T>`] built
//!   from the driver's [`VifOps`]; the kernel calls an `extern "C"` adapter
//!   there, which calls the `T` method (the pattern of `kernel::net::phy`).
//!   NAPI polls, the RX worker and the IRQ handlers are adapters of `T` too,
//!   reached from the kernel object by `container_of`.
//!
//! [`VifNetDevice`] owns the device; callbacks get a [`NetDev`] view of
//! their queue.

#[cfg(not(nbrs_frontend))]
use super::lower::LowerPort;
use super::skb::SkBuff;
use crate::bindings::xen::evtchn::{Binding, Handlers, RingEvtchns};
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::bindings::{ffi, Rtnl};
use crate::netif::coalesce::TxCoalesce;
use crate::netif::negotiate::{GuestOffloads, IFNAMSIZ, VIF_MTU_MAX};
use crate::netif::wire::GsoType;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::bindings::{kthread_delayed_work, kthread_work, kthread_worker, net_device, sk_buff, sk_buff_head};
use kernel::error::from_result;
use kernel::prelude::*;
use kernel::str::{CStrExt, CString};
use kernel::sync::Arc;
use kernel::types::Opaque;

pub(crate) use super::ethtool::EthtoolStats;
pub(crate) use crate::bindings::xen::evtchn::Channel;

/// The standard interface counters `ndo_get_stats64` reports (the rest of
/// `rtnl_link_stats64` stays 0).
#[derive(Clone, Copy, Default)]
pub(crate) struct LinkStats {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) tx_dropped: u64,
    pub(crate) rx_errors: u64,
}

/// A copy of an interface name taken at one moment: a rename may rewrite
/// the device's own buffer at any time, so no reference into it is kept.
#[derive(Clone, Copy)]
pub(crate) struct IfName([u8; IFNAMSIZ]);

impl IfName {
    /// The name of `dev` now.
    ///
    /// # Safety
    ///
    /// `dev` is a live net_device.
    pub(in crate::bindings) unsafe fn of(dev: *mut net_device) -> Self {
        // SAFETY: a live device (the caller's promise); dev->name is an
        // IFNAMSIZ array.
        let name = unsafe { ffi::nbrs_netdev_name(dev.cast()) }.cast::<u8>();
        let mut copy = [0u8; IFNAMSIZ];
        // The last byte stays NUL: a copy torn by a rename still ends.
        for (i, b) in copy.iter_mut().take(IFNAMSIZ - 1).enumerate() {
            // SAFETY: `i < IFNAMSIZ` bytes into dev->name; a volatile read
            // (READ_ONCE) because a rename may rewrite the name meanwhile.
            *b = unsafe { core::ptr::read_volatile(name.add(i)) };
        }
        Self(copy)
    }

    /// The name as a C string.
    pub(crate) fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.0).unwrap_or(c"vif")
    }

    /// The name as text, for messages.
    pub(crate) fn as_str(&self) -> &str {
        self.as_cstr().to_str().unwrap_or("vif")
    }
}

impl kernel::fmt::Display for IfName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The data path of a VIF's queues: what the NAPI poll, the guest-RX worker
/// and the event channel IRQs run. Each gets the view of its queue.
pub(crate) trait QueueOps {
    /// NAPI poll (softirq): guest TX.
    fn napi_poll(&self, dev: &NetDev<'_>, budget: i32) -> i32;
    /// The guest-RX worker (process context).
    fn rx_work(&self, dev: &NetDev<'_>);
    /// Guest TX event (hard IRQ). True when work was scheduled; the driver
    /// then owes a [`NetDev::lateeoi`] for [`Channel::Tx`].
    fn tx_event(&self, dev: &NetDev<'_>) -> bool;
    /// Guest RX event (hard IRQ); as `tx_event` for [`Channel::Rx`].
    fn rx_event(&self, dev: &NetDev<'_>) -> bool;
}

/// Callbacks of a VIF net_device (`net_device_ops`, `ethtool_ops`) and,
/// through [`QueueOps`], of its queues. All get the device view.
pub(crate) trait VifOps: QueueOps + Send + Sync + Sized + 'static {
    /// `ndo_open`, under RTNL.
    fn open(&self, dev: &NetDev<'_>, rtnl: &Rtnl) -> Result;
    /// `ndo_stop`, under RTNL.
    fn stop(&self, dev: &NetDev<'_>, rtnl: &Rtnl);
    /// `ndo_select_queue` (BH context): the queue index for `skb`.
    fn select_queue(&self, dev: &NetDev<'_>, skb: &mut SkBuff) -> u16;
    /// `ndo_start_xmit`: a packet for the guest (BH context). Consumes it.
    /// `dev` is the view of `skb_get_queue_mapping()`'s queue, which may be
    /// past the connected count.
    fn start_xmit(&self, dev: &NetDev<'_>, skb: SkBuff);
    /// What the frontend takes (`ndo_fix_features`, `ndo_change_mtu`).
    fn guest_offloads(&self, dev: &NetDev<'_>) -> GuestOffloads;
    /// `ndo_get_stats64`.
    fn link_stats(&self, dev: &NetDev<'_>) -> LinkStats;
    /// `ethtool -S`: every entry, in order, into `out`.
    fn ethtool_stats(&self, dev: &NetDev<'_>, out: &mut EthtoolStats<'_>);
    /// `ethtool -l`: the combined channel count to show (the maximum is
    /// the allocated queue count).
    fn channels(&self, dev: &NetDev<'_>) -> u32;
    /// `ethtool -L combined n` (the ethtool core has refused 0 and counts
    /// above the maximum): the queue limit offered at the next connection.
    fn set_queue_limit(&self, dev: &NetDev<'_>, n: u32) -> Result;
    /// `ethtool -c`: the guest TX answer timing in effect.
    fn tx_coalesce(&self, dev: &NetDev<'_>) -> TxCoalesce;
    /// `ethtool -C` with validated values: applies from each queue's next
    /// poll.
    fn set_tx_coalesce(&self, dev: &NetDev<'_>, c: TxCoalesce) -> Result;
    /// The driver's state of one queue ([`VifQueue`] derefs to it).
    type Queue: Send + Sync + 'static;
    /// The VIF's queues, which [`VifNetDevice::new`] binds to the device.
    fn queues(&self) -> &QueueArray<Self::Queue>;
}

/// The kernel objects of one TX/RX ring pair, the pinned half of a
/// [`VifQueue`]. Built idle; [`VifNetDevice::new`] binds it to its device.
#[pin_data]
pub(in crate::bindings) struct QueueKernel {
    /// The device this queue serves: null until [`VifNetDevice::new`] binds
    /// it, before anything can call back (NAPI not added, IRQs not bound,
    /// the worker not queued yet), and again once that device's `Drop` has
    /// released it. While bound, the device holds pointers to it.
    dev: AtomicPtr<net_device>,
    /// Index of the queue.
    id: u32,
    /// Guest TX: polled by [`Vtable::napi_poll`]; initialised by
    /// `netif_napi_add` when the queue connects.
    #[pin]
    napi: Opaque<ffi::napi_struct>,
    /// `napi` is added (between `napi_add` and `napi_del`, which the
    /// driver serializes).
    napi_added: AtomicBool,
    /// Guest RX backlog: packets `ndo_start_xmit` queued for the worker.
    #[pin]
    rx_backlog: Opaque<sk_buff_head>,
    /// Guest RX work, [`Vtable::rx_work`] of the device's `T`: initialised
    /// when the queue is bound to its device; runs on `rx_worker`.
    #[pin]
    rx_work: Opaque<kthread_delayed_work>,
    /// The queue's own guest-RX thread (xen-netback's per-queue
    /// `guest-rx` kthread): null until the queue first connects, destroyed
    /// with the device. A dedicated thread, not the shared workqueue: the
    /// copies run beside the sender on another CPU and a busy queue keeps
    /// its thread without requeueing through a worker pool.
    rx_worker: AtomicPtr<kthread_worker>,
    /// An immediate run of `rx_work` is queued and has not started: a kick
    /// then has nothing to add, and skips the worker's lock (a flood kicks
    /// once per packet, mostly while a run is queued). Set by the kick that
    /// queues the run, cleared as the run starts, before it reads the backlog.
    rx_kicked: AtomicBool,
    /// The ring pair's event channels.
    evtchns: RingEvtchns,
}

// The kernel objects are used only through kernel functions that do their
// own locking (the backlog's lock, NAPI's state bits, the workqueue, the
// event channel state); the driver serializes NAPI add/del and bind/unbind.
// SAFETY: no CPU affinity; the fields Rust reads itself are atomics.
unsafe impl Send for QueueKernel {}
// SAFETY: see `Send`.
unsafe impl Sync for QueueKernel {}

impl QueueKernel {
    /// The idle kernel objects of queue `id`, not yet bound to a device.
    fn new(id: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            dev: AtomicPtr::new(core::ptr::null_mut()),
            id,
            // Zeroed as a fresh private area would be: `netif_napi_add`
            // checks the state bits before it initialises the rest.
            napi: Opaque::zeroed(),
            napi_added: AtomicBool::new(false),
            rx_backlog <- Opaque::ffi_init(init_backlog),
            rx_work: Opaque::zeroed(),
            rx_worker: AtomicPtr::new(core::ptr::null_mut()),
            rx_kicked: AtomicBool::new(false),
            evtchns: RingEvtchns::new(),
        })
    }

    /// Binds the queue to `dev`, a new device of `T` that nothing can call
    /// back into yet, and sets its worker up to run `T`'s. -EBUSY when the
    /// queue serves a device already.
    fn bind<T: VifOps>(&self, dev: NonNull<net_device>) -> Result {
        self.dev
            .compare_exchange(core::ptr::null_mut(), dev.as_ptr(), Ordering::AcqRel, Ordering::Acquire)
            .map_err(|_| EBUSY)?;
        // The work item is idle: nothing queues it before its device exists,
        // and a device that did cancelled it when it released the queue.
        // SAFETY: the idle `rx_work` of a pinned queue now bound to a device
        // of `T`, which is what the work function takes.
        unsafe { ffi::nbrs_init_kthread_delayed_work(self.rx_work.get(), Some(Vtable::<T>::rx_work)) };
        Ok(())
    }

    /// Undoes [`Self::bind`] to `dev`: a device that never came to be, or
    /// one whose `Drop` has released the queue.
    fn unbind(&self, dev: NonNull<net_device>) {
        let _ = self.dev.compare_exchange(dev.as_ptr(), core::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// A device holds pointers to this queue.
    fn is_bound(&self) -> bool {
        !self.dev.load(Ordering::Acquire).is_null()
    }

    /// The queue's NAPI instance (valid to hand to the kernel once added).
    fn napi(&self) -> *mut ffi::napi_struct {
        self.napi.get()
    }

    /// Cancels the RX work and waits for a running instance. Process
    /// context, on a queue bound by [`Self::bind`].
    fn cancel_rx_work(&self) {
        // SAFETY: a work item initialised by `bind`; process context.
        unsafe { kernel::bindings::kthread_cancel_delayed_work_sync(self.rx_work.get()) };
        // A cancelled run never starts to clear it.
        self.rx_kicked.store(false, Ordering::Release);
    }

    /// Tears the queue's objects down before the device goes: cancels the
    /// work and stops its thread, frees the backlog, unbinds the channels,
    /// deletes NAPI.
    fn release(&self) {
        // Only bound queues are released.
        self.cancel_rx_work();
        // SAFETY: an initialised backlog.
        unsafe {
            kernel::bindings::skb_queue_purge_reason(
                self.rx_backlog.get(),
                kernel::bindings::skb_drop_reason_SKB_DROP_REASON_QUEUE_PURGE,
            )
        };
        // SAFETY: the device is going: no bind runs any more.
        unsafe { self.evtchns.unbind() };
        if self.napi_added.swap(false, Ordering::AcqRel) {
            // SAFETY: added, and disabled by the driver before the device goes.
            unsafe { ffi::nbrs_napi_del(self.napi()) };
        }
        let worker = self.rx_worker.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !worker.is_null() {
            self.cancel_rx_work();
            // Nothing else queues its work any more: unregistered, IRQs
            // unbound, NAPI deleted, and the work is cancelled.
            // SAFETY: created by `rx_worker_start`, swapped out: ours alone.
            unsafe { kernel::bindings::kthread_destroy_worker(worker) };
        }
    }
}

/// One queue of a VIF, all of its state in one pinned allocation: the
/// kernel objects and the driver's state `Q` (`crate::queue::Queue`,
/// together xen-netback's `xenvif_queue`), which it derefs to.
#[pin_data]
pub(crate) struct VifQueue<Q> {
    #[pin]
    kernel: QueueKernel,
    #[pin]
    state: Q,
}

impl<Q> VifQueue<Q> {
    /// Queue `id` with the driver state `state`, not yet bound to a device.
    fn new(id: u32, state: impl PinInit<Q>) -> impl PinInit<Self> {
        pin_init!(Self {
            kernel <- QueueKernel::new(id),
            state <- state,
        })
    }
}

impl<Q> core::ops::Deref for VifQueue<Q> {
    type Target = Q;

    fn deref(&self) -> &Q {
        &self.state
    }
}

/// A VIF's queues, fixed in number and place from [`QueueArray::new`] on.
///
/// A device serves them from [`VifNetDevice::new`] until its `Drop` has
/// released them, and keeps pointers to them meanwhile; so an array dropped
/// while a queue is still bound leaks that queue (logged) rather than free
/// memory the kernel points to. (The driver's array lives in `T`, which the
/// device holds, so it outlives the device.)
pub(crate) struct QueueArray<Q> {
    queues: KVec<Pin<KBox<VifQueue<Q>>>>,
}

impl<Q> QueueArray<Q> {
    /// `n` queues, queue `id`'s driver state from `state(id)`.
    pub(crate) fn new<I: PinInit<Q>>(n: u32, mut state: impl FnMut(u32) -> I) -> Result<Self> {
        let mut queues = KVec::with_capacity(n as usize, GFP_KERNEL)?;
        for id in 0..n {
            queues.push(KBox::pin_init(VifQueue::new(id, state(id)), GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self { queues })
    }

    /// Queue `index`; `None` past the last.
    pub(crate) fn get(&self, index: u32) -> Option<&VifQueue<Q>> {
        self.queues.get(index as usize).map(|q| &**q)
    }

    /// The queues, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &VifQueue<Q>> {
        self.queues.iter().map(|q| &**q)
    }

    /// The number of queues.
    pub(crate) fn len(&self) -> u32 {
        u32::try_from(self.queues.len()).unwrap_or(u32::MAX)
    }
}

impl<Q> Drop for QueueArray<Q> {
    fn drop(&mut self) {
        for q in self.queues.drain_all() {
            if q.kernel.is_bound() {
                pr_err!("queue {} dropped while its device uses it: leaked\n", q.kernel.id);
                core::mem::forget(q);
            }
        }
    }
}

/// Initialises a guest-RX backlog in place (for `Opaque::ffi_init`).
fn init_backlog(p: *mut sk_buff_head) {
    // SAFETY: `Opaque::ffi_init` passes the backlog's place in a pinned
    // `QueueKernel`.
    unsafe { ffi::nbrs_skb_queue_head_init(p) }
}

/// The net_device's private area (`netdev_priv`), pinned there: it is part
/// of the net_device allocation and never moves.
#[pin_data]
pub(in crate::bindings) struct VifPriv {
    /// The driver state: an `Arc<T>` (`Arc::into_raw`) of the `T` whose
    /// [`Vtable`] the device's ops are.
    data: *const c_void,
    /// `register_netdev` succeeded (and a module reference is held).
    registered: AtomicBool,
    /// The kernel objects of each allocated queue, bound to this device:
    /// parts of `T`'s [`QueueArray`].
    queues: KVec<NonNull<QueueKernel>>,
    /// `T`'s NAPI poll adapter ([`Vtable::napi_poll`]).
    napi_poll: NapiPoll,
    /// `T`'s event channel IRQ handlers.
    irq_handlers: &'static Handlers,
    /// The NIC virtual function this VIF may be bound to (SR-IOV).
    #[cfg(not(nbrs_frontend))]
    lower: LowerPort,
}

/// A NAPI poll function as `netif_napi_add` takes it.
type NapiPoll = unsafe extern "C" fn(*mut ffi::napi_struct, kernel::ffi::c_int) -> kernel::ffi::c_int;

/// The private area of `dev`.
///
/// # Safety
///
/// `dev` is a device [`VifNetDevice::new`] allocated, alive for `'a`.
unsafe fn vif_priv<'a>(dev: *mut net_device) -> &'a VifPriv {
    // SAFETY: per the contract, the private area holds the `VifPriv`
    // written by `VifNetDevice::new` until its `Drop`.
    unsafe { &*netdev_priv(dev).cast::<VifPriv>() }
}

/// Where the per-packet fields of `struct net_device` sit (`helpers.c`).
fn layout() -> &'static ffi::nbrs_netdev_layout {
    // SAFETY: a constant object, initialized at compile time and never written.
    unsafe { &*core::ptr::addr_of!(ffi::nbrs_netdev_layout) }
}

/// `netdev_priv()`: the private area that follows the device.
///
/// # Safety
///
/// `dev` is a live net_device.
unsafe fn netdev_priv(dev: *mut net_device) -> *mut u8 {
    // SAFETY: `priv` is a field of the live device, at this offset.
    unsafe { dev.cast::<u8>().add(layout().priv_) }
}

/// `test_bit(bit, word)`: `READ_ONCE` of the `unsigned long` at `word`, which
/// others change atomically.
///
/// # Safety
///
/// `word` is an aligned `unsigned long` field of a live kernel object.
unsafe fn test_bit(word: *const u8, bit: u32) -> bool {
    // SAFETY: per the contract; a volatile read as the kernel's.
    let value = unsafe { core::ptr::read_volatile(word.cast::<kernel::ffi::c_ulong>()) };
    value & (1 << bit) != 0
}

/// A view of a live VIF net_device from one of its queues, handed to
/// callbacks and borrowed from the owner. Device-wide operations ignore the
/// queue; per-queue ones (NAPI, event channels, guest-RX backlog and
/// worker, TX queue stop/wake) act on it and do nothing for an index past
/// the allocated count.
///
/// A view lives at most as long as what it was made from (`'a`): the
/// callback that received it or the [`VifNetDevice`] that owns the device;
/// views of other queues borrow the view they come from. It is neither Send
/// nor Sync: a view stays in the context the kernel called into.
///
/// # Invariants
///
/// `ptr` is a net_device allocated by [`VifNetDevice::new`], alive for `'a`.
pub(crate) struct NetDev<'a> {
    ptr: NonNull<net_device>,
    queue: u32,
    _life: PhantomData<&'a net_device>,
}

impl<'a> NetDev<'a> {
    /// A view of queue `queue` of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is a device from [`VifNetDevice::new`] that stays alive for `'a`.
    unsafe fn new_view(ptr: NonNull<net_device>, queue: u32) -> Self {
        Self { ptr, queue, _life: PhantomData }
    }

    /// The raw device (also for other binding types that keep it: timers,
    /// sysfs).
    pub(in crate::bindings) fn raw(&self) -> *mut net_device {
        self.ptr.as_ptr()
    }

    /// A view of queue `queue` of a raw device, for callbacks of other
    /// binding types.
    ///
    /// # Safety
    ///
    /// `dev` is null or a device from [`VifNetDevice::new`] that stays
    /// alive for `'a`.
    pub(in crate::bindings) unsafe fn from_raw(dev: *mut net_device, queue: u32) -> Option<NetDev<'a>> {
        // SAFETY: per the function's contract.
        NonNull::new(dev).map(|ptr| unsafe { NetDev::new_view(ptr, queue) })
    }

    /// The private area.
    fn vif_priv(&self) -> &'a VifPriv {
        // SAFETY: a live device of ours (type invariant).
        unsafe { vif_priv(self.raw()) }
    }

    /// This view's queue objects; None past the allocated count.
    fn kernel_queue(&self) -> Option<&'a QueueKernel> {
        let q = self.vif_priv().queues.get(self.queue as usize)?;
        // A bound queue stays pinned and allocated until the device's `Drop`
        // releases and unbinds it (a `QueueArray` leaks a bound queue rather
        // than free it).
        // SAFETY: a queue bound to this device, which lives for `'a`.
        Some(unsafe { q.as_ref() })
    }

    /// The number of queues allocated (the most a frontend may use).
    pub(in crate::bindings) fn allocated_queues(&self) -> u32 {
        u32::try_from(self.vif_priv().queues.len()).unwrap_or(u32::MAX)
    }

    /// The queue this view acts on.
    pub(crate) fn queue(&self) -> u32 {
        self.queue
    }

    /// The same device seen from queue `queue`, for as long as this view.
    pub(crate) fn on_queue(&self, queue: u32) -> NetDev<'_> {
        // SAFETY: the device is alive while `self` is (type invariant).
        unsafe { NetDev::new_view(self.ptr, queue) }
    }

    /// `netif_set_real_num_{tx,rx}_queues(n)`; 0 (the frontend is gone)
    /// leaves the counts as they are; -EINVAL past the allocated count.
    pub(crate) fn set_num_queues(&self, n: u32, _rtnl: &Rtnl) -> Result {
        if n as usize > self.vif_priv().queues.len() {
            return Err(EINVAL);
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: live device, RTNL held (witnessed by `_rtnl`).
        kernel::error::to_result(unsafe { ffi::netif_set_real_num_tx_queues(self.raw(), n) })?;
        // SAFETY: as above.
        kernel::error::to_result(unsafe { ffi::netif_set_real_num_rx_queues(self.raw(), n) })
    }

    /// `netdev_pick_tx() % real_num_tx_queues`: the stack's own choice.
    pub(crate) fn pick_tx(&self, skb: &SkBuff) -> u16 {
        // SAFETY: live device.
        let n = unsafe { ffi::nbrs_netdev_real_num_tx_queues(self.raw().cast()) };
        if n == 0 {
            return 0;
        }
        // SAFETY: live device; the skb is valid for the call.
        let q = unsafe { ffi::netdev_pick_tx(self.raw(), skb.as_raw(), core::ptr::null_mut()) };
        u16::try_from(u32::from(q) % n).unwrap_or(0)
    }

    /// The interface name (`vifD.H`).
    pub(crate) fn name(&self) -> IfName {
        // SAFETY: a live device.
        unsafe { IfName::of(self.raw()) }
    }

    /// Applies new [`VifOps::guest_offloads`]: lowers the MTU to what they
    /// allow and re-evaluates the features (`ndo_fix_features`).
    pub(crate) fn apply_guest_offloads(&self, offloads: GuestOffloads, _rtnl: &Rtnl) {
        // SAFETY: live device.
        let mtu = unsafe { ffi::nbrs_netdev_mtu(self.raw().cast()) };
        if mtu > offloads.max_mtu() {
            // SAFETY: live device, RTNL held (witnessed by `_rtnl`). A lower
            // MTU within min_mtu..max_mtu cannot be refused.
            let _ = unsafe { ffi::dev_set_mtu(self.raw(), offloads.max_mtu() as kernel::ffi::c_int) };
        }
        // SAFETY: live device, RTNL held.
        unsafe { ffi::netdev_update_features(self.raw()) };
    }

    /// `netif_running()`.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_netif_running(self.raw().cast()) }
    }

    /// `netif_carrier_on()`.
    pub(crate) fn carrier_on(&self) {
        // SAFETY: live device.
        unsafe { ffi::netif_carrier_on(self.raw()) }
    }

    /// `netif_carrier_off()`.
    pub(crate) fn carrier_off(&self) {
        // SAFETY: live device.
        unsafe { ffi::netif_carrier_off(self.raw()) }
    }

    /// The address of the device's field at `offset` (from [`layout`]).
    fn field(&self, offset: usize) -> *const u8 {
        self.raw().cast::<u8>().cast_const().wrapping_add(offset)
    }

    /// `netif_carrier_ok()`.
    pub(crate) fn carrier_ok(&self) -> bool {
        let l = layout();
        // SAFETY: live device; `state` is its `unsigned long` state word.
        !unsafe { test_bit(self.field(l.state), l.nocarrier_bit) }
    }

    /// `netif_tx_wake_all_queues()`.
    pub(crate) fn wake_all_queues(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_netif_tx_wake_all_queues(self.raw().cast()) }
    }

    /// Whether this view's queue is one of the device's TX queues.
    fn has_tx_queue(&self) -> bool {
        // SAFETY: live device; `num_tx_queues` is an `unsigned int` set
        // when it was allocated.
        self.queue < unsafe { self.field(layout().num_tx_queues).cast::<u32>().read() }
    }

    /// `netif_tx_wake_queue()` of this view's queue.
    pub(crate) fn wake_queue(&self) {
        if self.has_tx_queue() {
            // SAFETY: live device, an existing TX queue.
            unsafe { ffi::nbrs_netif_tx_wake_queue(self.raw().cast(), self.queue) }
        }
    }

    /// `netif_tx_stop_queue()` of this view's queue.
    pub(crate) fn stop_queue(&self) {
        if self.has_tx_queue() {
            // SAFETY: live device, an existing TX queue.
            unsafe { ffi::nbrs_netif_tx_stop_queue(self.raw().cast(), self.queue) }
        }
    }

    /// `netif_tx_queue_stopped()` of this view's queue.
    pub(crate) fn queue_stopped(&self) -> bool {
        if !self.has_tx_queue() {
            return false;
        }
        let l = layout();
        // SAFETY: live device; `_tx` is its array of `num_tx_queues` TX
        // queues, set when it was allocated, and this queue is one of them.
        unsafe {
            let txq = self.field(l.tx).cast::<*const u8>().read();
            test_bit(txq.add(self.queue as usize * l.queue_size + l.queue_state), l.drv_xoff_bit)
        }
    }

    /// The queue's NAPI instance if it is added.
    pub(in crate::bindings) fn added_napi(&self) -> Option<*mut ffi::napi_struct> {
        self.kernel_queue().filter(|q| q.napi_added.load(Ordering::Acquire)).map(|q| q.napi())
    }

    /// Adds the NAPI instance (idempotent; the driver serializes add/del).
    pub(crate) fn napi_add(&self) {
        let Some(q) = self.kernel_queue() else { return };
        if q.napi_added.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: live device; the pinned NAPI slot of its queue, not added;
        // the poll function takes it for the `napi` of a `QueueKernel` of
        // the device's `T` (installed by `VifNetDevice::new`).
        unsafe { ffi::nbrs_napi_add(self.raw().cast(), q.napi(), Some(self.vif_priv().napi_poll)) };
        q.napi_added.store(true, Ordering::Release);
    }

    /// Deletes the NAPI instance (idempotent; must be disabled).
    pub(crate) fn napi_del(&self) {
        let Some(q) = self.kernel_queue() else { return };
        if q.napi_added.swap(false, Ordering::AcqRel) {
            // SAFETY: added and disabled (the caller's order).
            unsafe { ffi::nbrs_napi_del(q.napi()) };
        }
    }

    /// `napi_enable()`; callers pair it with `napi_disable` (no-op before
    /// `napi_add`).
    pub(crate) fn napi_enable(&self) {
        if let Some(napi) = self.added_napi() {
            // SAFETY: an added NAPI instance.
            unsafe { ffi::napi_enable(napi) };
        }
    }

    /// Runs the device's NAPI polls in their own kernel threads (`true`)
    /// or in softirq context (`dev_set_threaded()`, what writing
    /// `/sys/class/net/<dev>/threaded` does): for every queue, those added
    /// later too. Process context (it takes the device's instance lock
    /// and may create the threads); fails when a thread cannot be made.
    pub(crate) fn set_threaded(&self, threaded: bool) -> Result {
        let mode = if threaded {
            ffi::netdev_napi_threaded_NETDEV_NAPI_THREADED_ENABLED
        } else {
            ffi::netdev_napi_threaded_NETDEV_NAPI_THREADED_DISABLED
        };
        // SAFETY: a live, registered device; process context.
        kernel::error::to_result(unsafe { ffi::dev_set_threaded(self.raw().cast(), mode) })
    }

    /// `napi_disable()`; waits for a running poll.
    pub(crate) fn napi_disable(&self) {
        if let Some(napi) = self.added_napi() {
            // SAFETY: an added NAPI instance; process context.
            unsafe { ffi::napi_disable(napi) };
        }
    }

    /// `napi_schedule()`.
    pub(crate) fn napi_schedule(&self) {
        if let Some(napi) = self.added_napi() {
            // SAFETY: an added NAPI instance.
            unsafe { ffi::nbrs_napi_schedule(napi) };
        }
    }

    /// `napi_complete_done()`; false when the poll must continue.
    pub(crate) fn napi_complete(&self, work_done: i32) -> bool {
        match self.kernel_queue() {
            // SAFETY: called from this queue's poll, so NAPI is added.
            Some(q) => unsafe { ffi::napi_complete_done(q.napi(), work_done) },
            None => false,
        }
    }

    /// The VIF's lower port (SR-IOV VF steering).
    #[cfg(not(nbrs_frontend))]
    pub(crate) fn lower(&self) -> &'a LowerPort {
        &self.vif_priv().lower
    }

    /// Hands a packet from the guest to the stack: to GRO while the device
    /// has it on, else straight to `netif_receive_skb()`, as xen-netback
    /// does. With GRO off `napi_gro_receive()` would only pass the packet on
    /// in a list, at about 115 more instructions a packet (counted,
    /// `benches/results/2026-12-07-rx-direct-lone-slot-icount/`).
    pub(crate) fn receive(&self, mut skb: SkBuff) {
        let Some(q) = self.kernel_queue() else { return };
        skb.record_rx_queue(self.queue);
        if self.gro_on() {
            // SAFETY: live device, NAPI context; ownership of the skb passes
            // to the stack.
            unsafe { ffi::nbrs_napi_gro_receive(q.napi(), skb.into_raw()) }
        } else {
            // SAFETY: as above (NAPI runs in softirq context, which
            // netif_receive_skb() needs).
            unsafe { ffi::netif_receive_skb(skb.into_raw()) };
        }
    }

    /// Whether the device has GRO on (`NETIF_F_GRO` in `dev->features`, which
    /// ethtool changes under RTNL: read once, as the stack does per packet).
    fn gro_on(&self) -> bool {
        // SAFETY: live device; `features` is its `netdev_features_t` (u64),
        // aligned, at this offset.
        let features = unsafe { core::ptr::read_volatile(self.field(layout().features).cast::<u64>()) };
        features & (1 << kernel::bindings::NETIF_F_GRO_BIT) != 0
    }

    /// `napi_alloc_skb()` on this queue's NAPI instance: an empty skb with
    /// room for `len` bytes in its head. NAPI context.
    pub(crate) fn napi_alloc_skb(&self, len: u32) -> Option<SkBuff> {
        let q = self.kernel_queue()?;
        // SAFETY: the queue's NAPI instance, in its poll; the result is
        // NULL or a new owned skb.
        unsafe { SkBuff::from_raw(ffi::napi_alloc_skb(q.napi(), len)) }
    }

    /// Turns a frame from the guest into a packet for the stack: checksum
    /// state (`csum_blank`: CHECKSUM_PARTIAL, `data_validated`:
    /// UNNECESSARY), GSO, protocol, headers, as xen-netback's
    /// `xenvif_tx_submit`. Returns whether the checksum had to be set up
    /// although the guest did not ask (a GSO packet without csum_blank).
    pub(crate) fn finish_from_guest(
        &self,
        skb: &mut SkBuff,
        csum_blank: bool,
        data_validated: bool,
        gso: Option<(GsoType, u16)>,
    ) -> Result<bool> {
        use kernel::bindings::{CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, ETH_HLEN};
        if skb.headlen() < ETH_HLEN {
            return Err(EINVAL);
        }
        // A GSO packet must be CHECKSUM_PARTIAL; some guests forget csum_blank
        // (the fixup). The fresh skb is CHECKSUM_NONE, so this is its whole state.
        let fixup = gso.is_some() && !csum_blank;
        let partial = csum_blank || fixup;
        if partial {
            skb.set_ip_summed(CHECKSUM_PARTIAL);
        } else if data_validated {
            skb.set_ip_summed(CHECKSUM_UNNECESSARY);
        }
        // A GSO packet with segments of 0 bytes is malformed.
        let gso = match gso {
            Some((kind, size)) => Some((kind, core::num::NonZeroU16::new(size).ok_or(EINVAL)?)),
            None => None,
        };
        if let Some((kind, size)) = gso {
            skb.set_gso(kind, size.get());
        }
        skb.set_eth_protocol(self)?;
        if partial {
            skb.checksum_setup(fixup)?;
        }
        skb.probe_transport();
        if let Some((_, size)) = gso {
            let headers = skb.tcp_all_headers()?;
            let payload = skb.len().checked_sub(headers).filter(|n| *n > 0).ok_or(EINVAL)?;
            // Division by a NonZero cannot fail: no panic path here.
            let size = core::num::NonZeroU32::from(size);
            let segs = (payload / size).saturating_add(u32::from(payload % size != 0));
            skb.set_gso_segs(u16::try_from(segs).unwrap_or(u16::MAX));
        }
        Ok(fixup)
    }

    /// Binds the frontend's event channels (one or split) with the lateeoi
    /// variants; the IRQs start disabled. -EBUSY when bound already.
    pub(crate) fn bind_evtchns(&self, xdev: &XenbusDevice, tx_port: u32, rx_port: u32) -> Result {
        let q = self.kernel_queue().ok_or(EINVAL)?;
        let name = self.name();
        let dev_id = core::ptr::from_ref(q).cast_mut().cast::<c_void>();
        // The handlers are the device's `T`'s and take `dev_id` as that; the
        // driver serializes bind and unbind of a queue.
        // SAFETY: `dev_id` is the pinned `QueueKernel`, alive until the
        // device goes, which unbinds first (`QueueKernel::release`).
        unsafe {
            q.evtchns.bind(xdev, (tx_port, rx_port), name.as_str(), self.queue, self.vif_priv().irq_handlers, dev_id)
        }
    }

    /// Frontend side: allocates and binds the event channels of this queue
    /// (lateeoi): one per ring when `split`, else one for both; the IRQs
    /// start disabled. Returns the TX and RX ports to publish (equal when
    /// not split).
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn bind_local_evtchns(&self, xdev: &XenbusDevice, split: bool) -> Result<(u32, u32)> {
        let q = self.kernel_queue().ok_or(EINVAL)?;
        let name = self.name();
        let dev_id = core::ptr::from_ref(q).cast_mut().cast::<c_void>();
        // SAFETY: as in `bind_evtchns`.
        unsafe { q.evtchns.bind_local(xdev, name.as_str(), self.queue, split, self.vif_priv().irq_handlers, dev_id) }
    }

    /// Unbinds the event channels (waits for running handlers).
    pub(crate) fn unbind_evtchns(&self) {
        if let Some(q) = self.kernel_queue() {
            // SAFETY: the driver serializes bind and unbind of a queue.
            unsafe { q.evtchns.unbind() }
        }
    }

    /// `enable_irq()` on the bound IRQs.
    pub(crate) fn enable_irqs(&self) {
        if let Some(q) = self.kernel_queue() {
            q.evtchns.enable();
        }
    }

    /// `disable_irq()` on the bound IRQs (waits for running handlers).
    pub(crate) fn disable_irqs(&self) {
        if let Some(q) = self.kernel_queue() {
            q.evtchns.disable();
        }
    }

    /// Whether an event on `ch` awaits its deferred EOI.
    pub(crate) fn eoi_owed(&self, ch: Channel) -> bool {
        self.kernel_queue().is_some_and(|q| q.evtchns.eoi_owed(ch))
    }

    /// Ends the deferred EOI owed for `ch` (no-op when none is pending);
    /// `spurious` (`XEN_EOI_FLAG_SPURIOUS`) when the event found no work, so
    /// Xen delays the channel's next event after repeated ones (XSA-332).
    pub(crate) fn lateeoi(&self, ch: Channel, spurious: bool) {
        if let Some(q) = self.kernel_queue() {
            q.evtchns.lateeoi(ch, spurious);
        }
    }

    /// Notifies the frontend on `ch`.
    pub(crate) fn notify(&self, ch: Channel) {
        if let Some(q) = self.kernel_queue() {
            q.evtchns.notify(ch);
        }
    }

    /// Queues a packet for the guest at the tail.
    pub(crate) fn rxq_push(&self, skb: SkBuff) {
        if let Some(q) = self.kernel_queue() {
            // SAFETY: an initialised backlog; the queue takes ownership.
            unsafe { kernel::bindings::skb_queue_tail(q.rx_backlog.get(), skb.into_raw()) }
        }
    }

    /// Puts a packet back at the head (it did not fit yet).
    pub(crate) fn rxq_push_front(&self, skb: SkBuff) {
        if let Some(q) = self.kernel_queue() {
            // SAFETY: an initialised backlog; the queue takes ownership.
            unsafe { kernel::bindings::skb_queue_head(q.rx_backlog.get(), skb.into_raw()) }
        }
    }

    /// Takes the packet at the head.
    pub(crate) fn rxq_pop(&self) -> Option<SkBuff> {
        let q = self.kernel_queue()?;
        // SAFETY: an initialised backlog; it gives up ownership.
        unsafe { SkBuff::from_raw(kernel::bindings::skb_dequeue(q.rx_backlog.get())) }
    }

    /// Drain deadline of the packet at the head.
    pub(crate) fn rxq_head_expires(&self) -> Option<u64> {
        let q = self.kernel_queue()?;
        let mut e: kernel::ffi::c_ulong = 0;
        // SAFETY: an initialised backlog; valid out pointer.
        unsafe { ffi::nbrs_rxq_head_expires(q.rx_backlog.get(), &mut e) }.then_some(e as u64)
    }

    /// Number of queued packets.
    pub(crate) fn rxq_len(&self) -> u32 {
        match self.kernel_queue() {
            // SAFETY: an initialised backlog; `qlen` read once, unlocked, as
            // skb_queue_len_lockless (READ_ONCE) does.
            Some(q) => unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*q.rx_backlog.get()).qlen)) },
            None => 0,
        }
    }

    /// Frees all queued packets.
    pub(crate) fn rxq_purge(&self) {
        if let Some(q) = self.kernel_queue() {
            // SAFETY: an initialised backlog.
            unsafe {
                kernel::bindings::skb_queue_purge_reason(
                    q.rx_backlog.get(),
                    kernel::bindings::skb_drop_reason_SKB_DROP_REASON_QUEUE_PURGE,
                )
            }
        }
    }

    /// Starts the queue's worker thread, `<dev>-q<N>-<role>` (netback's
    /// guest-RX thread: role `guest-rx`), unless it runs already (it stays
    /// across reconnects until the device goes). Process context,
    /// serialized by the caller (connect).
    pub(crate) fn rx_worker_start(&self, role: &str) -> Result {
        let Some(q) = self.kernel_queue() else { return Ok(()) };
        if !q.rx_worker.load(Ordering::Acquire).is_null() {
            return Ok(());
        }
        let name = CString::try_from_fmt(fmt!("{}-q{}-{}", self.name(), self.queue, role))?;
        // SAFETY: a NUL-terminated "%s" format with one NUL-terminated
        // string argument; flags 0 and no NUMA preference are valid.
        let worker = unsafe {
            kernel::bindings::kthread_create_worker_on_node(
                0,
                kernel::bindings::NUMA_NO_NODE,
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        // kthread_create_worker_on_node returns a worker or an ERR_PTR.
        let worker = kernel::error::from_err_ptr(worker)?;
        // SAFETY: a worker just created, its thread not started yet
        // (kthread_run_worker's second half: the thread idles until work
        // is queued).
        unsafe { kernel::bindings::wake_up_process((*worker).task) };
        q.rx_worker.store(worker, Ordering::Release);
        Ok(())
    }

    /// Runs the RX work now (`delay == 0`, overriding a pending delayed
    /// run) or after `delay` jiffies unless already pending. Nothing before
    /// the queue's first connect (no thread yet, nothing to do).
    pub(crate) fn rx_work_kick(&self, delay: u64) {
        let Some(q) = self.kernel_queue() else { return };
        let worker = q.rx_worker.load(Ordering::Acquire);
        if worker.is_null() {
            return;
        }
        // Pairs with the run's clear: a kick that finds a run queued and not
        // started leaves its packet to that run, which reads the backlog
        // after it clears the flag.
        if delay == 0 && q.rx_kicked.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: an initialised work item and a live worker (destroyed
        // only in `release`, after the device stopped kicking).
        unsafe { ffi::nbrs_kthread_work_kick(worker, q.rx_work.get(), delay as kernel::ffi::c_ulong) }
    }

    /// Cancels the RX work and waits for a running instance.
    pub(crate) fn rx_work_cancel(&self) {
        if let Some(q) = self.kernel_queue() {
            q.cancel_rx_work();
        }
    }
}

/// Owner of a VIF net_device whose callbacks go to `T`.
///
/// Drop order: unregister (stops the interface), then per queue cancel the
/// worker, purge the backlog, unbind the channels and delete NAPI, free the
/// device, then release `T` (which owns the queues).
pub(crate) struct VifNetDevice<T: VifOps> {
    /// The owner's view: handed out borrowed from `self` only.
    dev: NetDev<'static>,
    data: Arc<T>,
}

// SAFETY: the owner lives in the xenbus backend, used from process context
// on whatever thread xenbus runs it; it lends its view only borrowed, and the
// device functions it reaches are callable from any process context.
unsafe impl<T: VifOps> Send for VifNetDevice<T> {}
// SAFETY: see `Send`; `&self` methods change nothing without the kernel's
// own locking.
unsafe impl<T: VifOps> Sync for VifNetDevice<T> {}

/// `NET_NAME_UNKNOWN` (a macro): the name was not chosen by userspace.
const NET_NAME_UNKNOWN: u8 = 0;

/// The VIF's address: the numerically largest non-broadcast one keeps the
/// bridge from picking this port's address as its own (as xen-netback).
const VIF_MAC: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];

/// The netdev feature bits of the offloads in `o`.
pub(in crate::bindings) fn offload_features(o: GuestOffloads) -> u64 {
    use kernel::bindings::{
        NETIF_F_IPV6_CSUM_BIT, NETIF_F_IP_CSUM_BIT, NETIF_F_SG_BIT, NETIF_F_TSO6_BIT, NETIF_F_TSO_BIT,
    };
    let bit = |on: bool, bit: u32| if on { 1u64.checked_shl(bit).unwrap_or(0) } else { 0 };
    bit(o.sg, NETIF_F_SG_BIT)
        | bit(o.tso_v4, NETIF_F_TSO_BIT)
        | bit(o.tso_v6, NETIF_F_TSO6_BIT)
        | bit(o.ip_csum, NETIF_F_IP_CSUM_BIT)
        | bit(o.ipv6_csum, NETIF_F_IPV6_CSUM_BIT)
}

/// Every offload a frontend may grant: the device's `hw_features`.
const ALL_OFFLOADS: GuestOffloads =
    GuestOffloads { sg: true, tso_v4: true, tso_v6: true, ip_csum: true, ipv6_csum: true };

/// Binds queues `0..n` of `data` to `dev`, a new device of `T`: pointers
/// to their kernel objects, for the private area. -EINVAL when `data` has
/// fewer, -EBUSY when one serves another device; then none stays bound.
fn bind_queues<T: VifOps>(data: &T, dev: NonNull<net_device>, n: u32) -> Result<KVec<NonNull<QueueKernel>>> {
    let array = data.queues();
    if array.len() < n {
        return Err(EINVAL);
    }
    let mut queues = KVec::with_capacity(n as usize, GFP_KERNEL)?;
    for q in array.iter().take(n as usize) {
        if let Err(e) = q.kernel.bind::<T>(dev) {
            for bound in array.iter().take(queues.len()) {
                bound.kernel.unbind(dev);
            }
            return Err(e);
        }
        // Cannot fail: room for `n` was reserved.
        let _ = queues.push_within_capacity(NonNull::from(&q.kernel));
    }
    Ok(queues)
}

impl<T: VifOps> VifNetDevice<T> {
    /// Allocates (not yet registers) `name` under the xenbus device, with
    /// `nr_queues` (>= 1) TX/RX queues, served by the first `nr_queues` of
    /// `data`'s ([`VifOps::queues`]); -EBUSY when they serve another device.
    pub(crate) fn new(name: &CStr, parent: &XenbusDevice, nr_queues: u32, data: Arc<T>) -> Result<Self> {
        if nr_queues == 0 {
            return Err(EINVAL);
        }
        let priv_size = kernel::ffi::c_int::try_from(core::mem::size_of::<VifPriv>()).map_err(|_| EINVAL)?;
        // SAFETY: valid name; ether_setup is the setup for an Ethernet device.
        // As xen-netback: as many TX/RX queues as max_queues; the connected
        // frontend's count becomes the real number.
        let raw = unsafe {
            ffi::alloc_netdev_mqs(
                priv_size,
                name.as_char_ptr(),
                NET_NAME_UNKNOWN,
                Some(ffi::ether_setup),
                nr_queues,
                nr_queues,
            )
        };
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        let queues = match bind_queues(&*data, ptr, nr_queues) {
            Ok(q) => q,
            Err(e) => {
                // SAFETY: allocated above, never registered; nothing else
                // knows it (no queue is bound to it).
                unsafe { ffi::free_netdev(raw) };
                return Err(e);
            }
        };
        #[cfg(not(nbrs_frontend))]
        let lower = match LowerPort::new(ptr) {
            Ok(l) => l,
            Err(e) => {
                // SAFETY: as above: allocated, never registered, unknown.
                unsafe { ffi::free_netdev(raw) };
                return Err(e);
            }
        };
        let priv_data = Arc::into_raw(data.clone()).cast();
        let vif_priv = pin_init!(VifPriv {
            data: priv_data,
            registered: AtomicBool::new(false),
            queues,
            napi_poll: Vtable::<T>::napi_poll,
            irq_handlers: &Vtable::<T>::IRQ_HANDLERS,
            #[cfg(not(nbrs_frontend))]
            lower,
        });
        // SAFETY: the private area is `size_of::<VifPriv>()` bytes, aligned
        // for it (NETDEV_ALIGN), uninitialised, and pinned (it lives and dies
        // with the net_device); initialised once, here.
        let Ok(()) = unsafe { vif_priv.__pinned_init(netdev_priv(raw).cast::<VifPriv>()) };
        let hw = offload_features(ALL_OFFLOADS);
        // SAFETY: the new device, ours alone; the ops tables are `'static`
        // and `T`'s, as is the private area just written.
        unsafe {
            ffi::nbrs_netdev_init(
                raw.cast(),
                parent.as_device().cast(),
                &Vtable::<T>::NETDEV_OPS,
                &Vtable::<T>::ETHTOOL_OPS,
                hw,
                hw | (1u64 << kernel::bindings::NETIF_F_RXCSUM_BIT),
                kernel::bindings::ETH_MIN_MTU,
                VIF_MTU_MAX,
            );
            ffi::dev_addr_mod(raw, 0, VIF_MAC.as_ptr().cast(), VIF_MAC.len());
            ffi::netif_carrier_off(raw);
        }
        // SAFETY: the device lives until `Drop`; the view is only lent out
        // borrowed from `self` (`dev()`), never for `'static`.
        Ok(Self { dev: unsafe { NetDev::new_view(ptr, 0) }, data })
    }

    /// Sets the device's Ethernet address before it is registered (a
    /// frontend's from xenstore); -EBUSY once registered.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn set_mac(&self, mac: &[u8; 6]) -> Result {
        if self.dev.vif_priv().registered.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: allocated, not registered: nothing else reads the address.
        unsafe { ffi::dev_addr_mod(self.dev.raw(), 0, mac.as_ptr().cast(), mac.len()) };
        Ok(())
    }

    /// `register_netdev()` (takes RTNL; the backend holds a module
    /// reference while registered, as xen-netback does).
    pub(crate) fn register(&self) -> Result {
        // SAFETY: allocated, not yet registered.
        kernel::error::to_result(unsafe { ffi::register_netdev(self.dev.raw()) })?;
        self.dev.vif_priv().registered.store(true, Ordering::Release);
        // A frontend's devices go with its driver at rmmod (the xenbus core
        // removes them): no reference then, or rmmod could never run.
        #[cfg(not(nbrs_frontend))]
        {
            crate::bindings::module_get();
            self.gro_off_by_default();
        }
        Ok(())
    }

    /// A VIF starts with GRO off (`ethtool -K vifD.H gro on` turns it on),
    /// as xen-netback, which never uses GRO: a guest sends TCP as GSO
    /// packets, which GRO does not merge (DODGY), and datagrams it cannot
    /// merge, so on guest TX GRO costs a protocol lookup per packet for
    /// nothing (benches/results/2026-12-04-guest-tx-delivery-icount/).
    #[cfg(not(nbrs_frontend))]
    fn gro_off_by_default(&self) {
        let _rtnl = Rtnl::lock();
        // SAFETY: a registered device; RTNL held, as the helper requires.
        unsafe { ffi::nbrs_netdev_clear_wanted_gro(self.dev.raw()) };
    }

    /// The device view.
    pub(crate) fn dev(&self) -> &NetDev<'_> {
        &self.dev
    }

    /// The driver state.
    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// The driver state of a device allocated by [`Self::new`], for the
    /// callbacks of other binding types that get only the device (sysfs).
    ///
    /// # Safety
    ///
    /// `dev` is a live device allocated by `VifNetDevice::<T>::new` (same
    /// `T`); the reference is used only while the device lives.
    pub(in crate::bindings) unsafe fn data_of<'a>(dev: *mut net_device) -> Option<(&'a T, NetDev<'a>)> {
        // SAFETY: per the function's contract.
        unsafe { Vtable::<T>::ctx(dev, 0) }
    }
}

impl<T: VifOps> Drop for VifNetDevice<T> {
    fn drop(&mut self) {
        let raw = self.dev.raw();
        let vif_priv = self.dev.vif_priv();
        // The VF goes back to its own settings before the VIF goes away,
        // and its frames stop coming here.
        #[cfg(not(nbrs_frontend))]
        vif_priv.lower.unbind();
        if vif_priv.registered.swap(false, Ordering::AcqRel) {
            // SAFETY: registered in `register`; process context. Closing
            // the device stops every callback the stack makes.
            unsafe { ffi::unregister_netdev(raw) };
            #[cfg(not(nbrs_frontend))]
            crate::bindings::module_put();
        }
        for i in 0..self.dev.allocated_queues() {
            if let Some(q) = self.dev.on_queue(i).kernel_queue() {
                q.release();
                // Nothing of the kernel's points to the queue any more.
                q.unbind(self.dev.ptr);
            }
        }
        // SAFETY: the private area holds the `VifPriv` written in `new`;
        // nothing refers to it any more (IRQs unbound, worker cancelled,
        // NAPI deleted), so it is dropped once, here.
        let data = unsafe {
            let p = netdev_priv(raw).cast::<VifPriv>();
            let data = (*p).data;
            core::ptr::drop_in_place(p);
            data
        };
        // SAFETY: allocated in `new`, unregistered; freed once, here.
        unsafe { ffi::free_netdev(raw) };
        // SAFETY: the reference `new` leaked into the private area.
        drop(unsafe { Arc::from_raw(data.cast::<T>()) });
    }
}

/// The kernel's entry points of a VIF whose driver state is `T`: the ops
/// tables, the NAPI poll, the RX worker and the IRQ handlers, each an
/// adapter that finds `T` and the queue and calls the [`VifOps`] method.
pub(in crate::bindings) struct Vtable<T>(PhantomData<T>);

impl<T: VifOps> Vtable<T> {
    /// `net_device_ops` of a VIF.
    const NETDEV_OPS: ffi::net_device_ops = ffi::net_device_ops {
        ndo_open: Some(Self::open),
        ndo_stop: Some(Self::stop),
        ndo_start_xmit: Some(Self::start_xmit),
        ndo_select_queue: Some(Self::select_queue),
        ndo_get_stats64: Some(Self::get_stats64),
        ndo_change_mtu: Some(Self::change_mtu),
        ndo_fix_features: Some(Self::fix_features),
        ndo_set_mac_address: Some(ffi::eth_mac_addr),
        ndo_validate_addr: Some(ffi::eth_validate_addr),
        // SAFETY: all-zero is a valid `net_device_ops` (no entry).
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    };

    /// `ethtool_ops` of a VIF.
    const ETHTOOL_OPS: kernel::bindings::ethtool_ops = super::ethtool::ops::<T>();

    /// The event channel IRQ handlers.
    const IRQ_HANDLERS: Handlers = Handlers { tx: Self::irq_tx, rx: Self::irq_rx, shared: Self::irq_shared };

    /// The driver state and a view of queue `queue` of `dev`.
    ///
    /// # Safety
    ///
    /// `dev` is a live device from [`VifNetDevice::new`] with `T`, alive
    /// for `'a` (the kernel's callback into it).
    pub(in crate::bindings) unsafe fn ctx<'a>(dev: *mut net_device, queue: u32) -> Option<(&'a T, NetDev<'a>)> {
        let ptr = NonNull::new(dev)?;
        // SAFETY: per the contract.
        let view = unsafe { NetDev::new_view(ptr, queue) };
        // SAFETY: the private area of a device of `T` holds an `Arc<T>`
        // that lives until the device is freed.
        let t = unsafe { &*view.vif_priv().data.cast::<T>() };
        Some((t, view))
    }

    /// The driver state and the view of the queue `q` points into.
    ///
    /// # Safety
    ///
    /// `q` points to a [`QueueKernel`] of a live device of `T`, alive for
    /// `'a`.
    unsafe fn queue_ctx<'a>(q: *const QueueKernel) -> Option<(&'a T, NetDev<'a>, &'a QueueKernel)> {
        // SAFETY: per the contract.
        let q = unsafe { q.as_ref()? };
        // SAFETY: the queue's device, alive for `'a` (contract).
        let (t, view) = unsafe { Self::ctx(q.dev.load(Ordering::Acquire), q.id) }?;
        Some((t, view, q))
    }

    /// `ndo_open`.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T`, RTNL held.
    unsafe extern "C" fn open(dev: *mut net_device) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: a device of `T`, in its callback.
            let (t, d) = unsafe { Self::ctx(dev, 0) }.ok_or(EINVAL)?;
            // SAFETY: the kernel calls ndo_open with RTNL held.
            t.open(&d, &*unsafe { Rtnl::assume_held() })?;
            // SAFETY: live device.
            unsafe { ffi::nbrs_netif_tx_start_all_queues(dev.cast()) };
            Ok(0)
        })
    }

    /// `ndo_stop`.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T`, RTNL held.
    unsafe extern "C" fn stop(dev: *mut net_device) -> kernel::ffi::c_int {
        // SAFETY: a device of `T`, in its callback.
        if let Some((t, d)) = unsafe { Self::ctx(dev, 0) } {
            // SAFETY: the kernel calls ndo_stop with RTNL held.
            t.stop(&d, &*unsafe { Rtnl::assume_held() });
            // SAFETY: live device.
            unsafe { ffi::netif_tx_stop_all_queues(dev) };
        }
        0
    }

    /// `ndo_start_xmit`: owns `skb`.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T` and a valid skb.
    unsafe extern "C" fn start_xmit(skb: *mut sk_buff, dev: *mut net_device) -> ffi::netdev_tx_t {
        // SAFETY: ndo_start_xmit hands us ownership of a valid skb.
        if let Some(skb) = unsafe { SkBuff::from_raw(skb) } {
            let queue = u32::from(skb.queue_mapping());
            // SAFETY: a device of `T`, in its callback.
            match unsafe { Self::ctx(dev, queue) } {
                Some((t, d)) => t.start_xmit(&d, skb),
                None => drop(skb),
            }
        }
        ffi::netdev_tx_NETDEV_TX_OK
    }

    /// `ndo_select_queue`: the skb stays the stack's.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T` and a valid skb.
    unsafe extern "C" fn select_queue(dev: *mut net_device, skb: *mut sk_buff, _sb_dev: *mut net_device) -> u16 {
        // SAFETY: a valid skb, borrowed: ManuallyDrop keeps us from freeing it.
        let Some(skb) = (unsafe { SkBuff::from_raw(skb) }) else {
            return 0;
        };
        let mut skb = core::mem::ManuallyDrop::new(skb);
        // SAFETY: a device of `T`, in its callback.
        match unsafe { Self::ctx(dev, 0) } {
            Some((t, d)) => t.select_queue(&d, &mut skb),
            None => 0,
        }
    }

    /// `ndo_get_stats64`.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T` and its stats to fill.
    unsafe extern "C" fn get_stats64(dev: *mut net_device, out: *mut ffi::rtnl_link_stats64) {
        // SAFETY: a device of `T`, in its callback.
        let Some((t, d)) = (unsafe { Self::ctx(dev, 0) }) else {
            return;
        };
        let s = t.link_stats(&d);
        // SAFETY: the kernel's valid, exclusively borrowed struct (or NULL).
        let Some(out) = (unsafe { out.as_mut() }) else {
            return;
        };
        out.rx_packets = s.rx_packets;
        out.rx_bytes = s.rx_bytes;
        out.tx_packets = s.tx_packets;
        out.tx_bytes = s.tx_bytes;
        out.rx_dropped = s.rx_dropped;
        out.tx_dropped = s.tx_dropped;
        out.rx_errors = s.rx_errors;
    }

    /// `ndo_change_mtu`: accepted when the frontend can take `mtu`.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T`, RTNL held.
    unsafe extern "C" fn change_mtu(dev: *mut net_device, mtu: kernel::ffi::c_int) -> kernel::ffi::c_int {
        from_result(|| {
            // SAFETY: a device of `T`, in its callback.
            let (t, d) = unsafe { Self::ctx(dev, 0) }.ok_or(EINVAL)?;
            let mtu = u32::try_from(mtu).ok().filter(|m| *m <= t.guest_offloads(&d).max_mtu()).ok_or(EINVAL)?;
            // SAFETY: live device; ndo_change_mtu sets the MTU itself.
            unsafe { ffi::nbrs_netdev_set_mtu(dev.cast(), mtu) };
            Ok(0)
        })
    }

    /// `ndo_fix_features`: clears the offloads the frontend cannot take.
    ///
    /// # Safety
    ///
    /// Called by the kernel with a device of `T`.
    unsafe extern "C" fn fix_features(dev: *mut net_device, features: u64) -> u64 {
        // SAFETY: a device of `T`, in its callback.
        match unsafe { Self::ctx(dev, 0) } {
            Some((t, d)) => features & !(offload_features(ALL_OFFLOADS) & !offload_features(t.guest_offloads(&d))),
            None => features,
        }
    }

    /// NAPI poll of one queue: guest TX.
    ///
    /// # Safety
    ///
    /// Called by the kernel with the `napi` of a [`QueueKernel`] of a device
    /// of `T` (added by [`NetDev::napi_add`]).
    unsafe extern "C" fn napi_poll(napi: *mut ffi::napi_struct, budget: kernel::ffi::c_int) -> kernel::ffi::c_int {
        // SAFETY: `napi` is the `napi` field of a `QueueKernel` (contract);
        // `Opaque` is transparent, so the field's offset leads to the queue.
        let q = unsafe { napi.cast::<u8>().sub(core::mem::offset_of!(QueueKernel, napi)) }.cast::<QueueKernel>();
        // SAFETY: the queue of a live device of `T`, in its callback.
        match unsafe { Self::queue_ctx(q) } {
            Some((t, d, _)) => t.napi_poll(&d, budget),
            None => 0,
        }
    }

    /// The guest-RX worker of one queue.
    ///
    /// # Safety
    ///
    /// Called by the workqueue with the `rx_work` of a [`QueueKernel`] of a
    /// device of `T` (its `work`, the first field of `kthread_delayed_work`).
    unsafe extern "C" fn rx_work(work: *mut kthread_work) {
        // SAFETY: `work` is the start of the `rx_work` field of a
        // `QueueKernel` (contract; `Opaque` is transparent).
        let q = unsafe { work.cast::<u8>().sub(core::mem::offset_of!(QueueKernel, rx_work)) }.cast::<QueueKernel>();
        // SAFETY: the queue of a live device of `T` (the worker is
        // cancelled before the device goes).
        if let Some((t, d, q)) = unsafe { Self::queue_ctx(q) } {
            // Before the backlog is read, and an RMW: it reads the last
            // kick's swap, so every packet queued before a kick that found
            // the flag set is in the backlog this run reads; a packet queued
            // later finds the flag clear and kicks the next run.
            q.rx_kicked.swap(false, Ordering::AcqRel);
            t.rx_work(&d);
        }
    }

    /// One event on `binding`: defers its EOI; ends it at once as spurious
    /// when `T` found nothing to schedule.
    ///
    /// # Safety
    ///
    /// `dev_id` is the [`QueueKernel`] bound by [`NetDev::bind_evtchns`].
    unsafe fn event(irq: kernel::ffi::c_int, dev_id: *mut c_void, binding: Binding) -> kernel::bindings::irqreturn_t {
        // SAFETY: per the contract, the queue of a live device of `T`.
        if let Some((t, d, q)) = unsafe { Self::queue_ctx(dev_id.cast::<QueueKernel>()) } {
            q.evtchns.event_begin(binding);
            let work = match binding {
                Binding::Tx => t.tx_event(&d),
                Binding::Rx => t.rx_event(&d),
                // Both run: each schedules its own ring's work.
                Binding::Shared => t.tx_event(&d) | t.rx_event(&d),
            };
            if !work {
                q.evtchns.event_no_work(irq, binding);
            }
        } else if let Ok(irq) = u32::try_from(irq) {
            // No queue to take the event (teardown): end it here, or the
            // lateeoi channel would stay masked.
            // SAFETY: the IRQ whose handler runs.
            unsafe { ffi::xen_irq_lateeoi(irq, ffi::XEN_EOI_FLAG_SPURIOUS) };
        }
        kernel::bindings::irqreturn_IRQ_HANDLED
    }

    /// IRQ handler of the guest TX ring's channel.
    ///
    /// # Safety
    ///
    /// As for [`Self::event`].
    unsafe extern "C" fn irq_tx(irq: kernel::ffi::c_int, dev_id: *mut c_void) -> kernel::bindings::irqreturn_t {
        // SAFETY: per the contract.
        unsafe { Self::event(irq, dev_id, Binding::Tx) }
    }

    /// IRQ handler of the guest RX ring's channel.
    ///
    /// # Safety
    ///
    /// As for [`Self::event`].
    unsafe extern "C" fn irq_rx(irq: kernel::ffi::c_int, dev_id: *mut c_void) -> kernel::bindings::irqreturn_t {
        // SAFETY: per the contract.
        unsafe { Self::event(irq, dev_id, Binding::Rx) }
    }

    /// IRQ handler of a channel serving both rings.
    ///
    /// # Safety
    ///
    /// As for [`Self::event`].
    unsafe extern "C" fn irq_shared(irq: kernel::ffi::c_int, dev_id: *mut c_void) -> kernel::bindings::irqreturn_t {
        // SAFETY: per the contract.
        unsafe { Self::event(irq, dev_id, Binding::Shared) }
    }
}

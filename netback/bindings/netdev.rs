// SPDX-License-Identifier: GPL-2.0
//! The VIF `net_device` and everything the C side embeds in its private
//! area: per queue a NAPI instance, the event channel IRQs, the guest-RX
//! skb queue and worker.
//!
//! [`VifNetDevice`] owns the device; the driver's per-VIF state `T`
//! implements [`VifOps`] and is reached from the C callbacks through an
//! `Arc<T>` the device keeps (the `Opaque` + adapter pattern of
//! `kernel::net::phy`, with the ops table living in C).

use super::{ffi, skb::SkBuff, xenbus::XenbusDevice, Rtnl};
use crate::netif::negotiate::{GuestOffloads, VIF_MTU_MAX};
use crate::netif::wire::GsoType;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::CStrExt;
use kernel::sync::Arc;

use crate::netif::negotiate::IFNAMSIZ;

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

/// Where `ethtool -S` entries go, one [`push`](Self::push) per entry: the
/// name and value buffers of `get_strings` / `get_ethtool_stats` (either
/// may be absent), or none at all when the ethtool core only asks how many
/// there are. Entries past the buffers' room are counted, not written.
pub(crate) struct EthtoolStats<'a> {
    names: &'a mut [[u8; ETH_GSTRING_LEN]],
    values: &'a mut [u64],
    count: usize,
}

/// Length of one `ethtool -S` name, NUL included.
const ETH_GSTRING_LEN: usize = kernel::bindings::ETH_GSTRING_LEN as usize;

impl EthtoolStats<'_> {
    /// Appends one entry; a name longer than ethtool's 31 characters is cut.
    pub(crate) fn push(&mut self, name: core::fmt::Arguments<'_>, value: u64) {
        let i = self.count;
        self.count = self.count.saturating_add(1);
        if let Some(slot) = self.names.get_mut(i) {
            let mut w = GstringWriter { buf: slot, len: 0 };
            *w.buf = [0; ETH_GSTRING_LEN];
            let _ = core::fmt::write(&mut w, name);
        }
        if let Some(v) = self.values.get_mut(i) {
            *v = value;
        }
    }
}

/// Writes formatted text into one NUL-terminated `ethtool -S` name.
struct GstringWriter<'a> {
    buf: &'a mut [u8; ETH_GSTRING_LEN],
    len: usize,
}

impl core::fmt::Write for GstringWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // Keep the last byte for the NUL.
            if self.len < ETH_GSTRING_LEN - 1 {
                if let Some(slot) = self.buf.get_mut(self.len) {
                    *slot = b;
                }
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// A copy of an interface name taken at one moment: a rename may rewrite
/// the device's own buffer at any time, so no reference into it is kept.
#[derive(Clone, Copy)]
pub(crate) struct IfName([u8; IFNAMSIZ]);

impl IfName {
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

/// Which event channel (same IRQ when the frontend uses one channel).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Guest TX ring (requests the guest sends).
    Tx,
    /// Guest RX ring (buffers the guest posts).
    Rx,
}

/// Callbacks of a VIF net_device. All get the device view; per-queue
/// callbacks get it for their queue ([`NetDev::queue`]).
pub(crate) trait VifOps: Send + Sync + Sized + 'static {
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

/// A view of a live VIF net_device from one of its queues, handed to
/// callbacks and borrowed from the owner. Device-wide operations ignore the
/// queue; per-queue ones (NAPI, event channels, guest-RX backlog and
/// worker, TX queue stop/wake) act on it. The C side ignores a queue index
/// past the allocated count.
///
/// A view lives at most as long as what it was made from (`'a`): the
/// callback that received it or the [`VifNetDevice`] that owns the device;
/// views of other queues borrow the view they come from. It is neither Send
/// nor Sync: a view stays in the context the kernel called into.
///
/// # Invariants
///
/// `ptr` is a net_device allocated by `nbrs_vif_alloc` that is alive for `'a`.
pub(crate) struct NetDev<'a> {
    ptr: NonNull<kernel::bindings::net_device>,
    queue: u32,
    _life: core::marker::PhantomData<&'a kernel::bindings::net_device>,
}

impl<'a> NetDev<'a> {
    /// A view of queue `queue` of `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` is a device from `nbrs_vif_alloc` that stays alive for `'a`.
    unsafe fn new_view(ptr: NonNull<kernel::bindings::net_device>, queue: u32) -> Self {
        Self { ptr, queue, _life: core::marker::PhantomData }
    }

    /// The raw device (also for other binding types that keep it: timers,
    /// sysfs).
    pub(super) fn raw(&self) -> *mut kernel::bindings::net_device {
        self.ptr.as_ptr()
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

    /// `netif_set_real_num_{tx,rx}_queues(n)` (n > 0) and the count ethtool
    /// reports; 0 when the frontend is gone.
    pub(crate) fn set_num_queues(&self, n: u32, _rtnl: &Rtnl) -> Result {
        // SAFETY: live device, RTNL held (witnessed by `_rtnl`).
        kernel::error::to_result(unsafe { ffi::nbrs_vif_set_num_queues_locked(self.raw().cast(), n) })
    }

    /// `netdev_pick_tx() % real_num_tx_queues`: the stack's own choice.
    pub(crate) fn pick_tx(&self, skb: &SkBuff) -> u16 {
        // SAFETY: live device; the skb is valid for the call.
        unsafe { ffi::nbrs_vif_pick_tx(self.raw().cast(), skb.as_raw().cast()) }
    }

    /// A view of queue `queue` of a raw device, for callbacks of other
    /// binding types.
    ///
    /// # Safety
    ///
    /// `dev` is null or a device from `nbrs_vif_alloc` that stays alive
    /// for `'a`.
    pub(super) unsafe fn from_raw(dev: *mut kernel::bindings::net_device, queue: u32) -> Option<NetDev<'a>> {
        // SAFETY: per the function's contract.
        NonNull::new(dev).map(|ptr| unsafe { NetDev::new_view(ptr, queue) })
    }

    /// The interface name (`vifD.H`).
    pub(crate) fn name(&self) -> IfName {
        // SAFETY: live device; dev->name is an IFNAMSIZ array.
        let name = unsafe { ffi::nbrs_vif_name(self.raw().cast()) }.cast::<u8>();
        let mut copy = [0u8; IFNAMSIZ];
        // The last byte stays NUL: a copy torn by a rename still ends.
        for (i, b) in copy.iter_mut().take(IFNAMSIZ - 1).enumerate() {
            // SAFETY: `i < IFNAMSIZ` bytes into dev->name; a volatile read
            // (READ_ONCE) because a rename may rewrite the name meanwhile.
            *b = unsafe { core::ptr::read_volatile(name.add(i)) };
        }
        IfName(copy)
    }

    /// Applies new [`VifOps::guest_offloads`]: lowers the MTU to what they
    /// allow and re-evaluates the features (`ndo_fix_features`).
    pub(crate) fn apply_guest_offloads(&self, offloads: GuestOffloads, _rtnl: &Rtnl) {
        // SAFETY: live device, RTNL held (witnessed by `_rtnl`).
        unsafe {
            ffi::nbrs_vif_clamp_mtu_locked(self.raw().cast(), offloads.max_mtu());
            ffi::nbrs_vif_update_features_locked(self.raw().cast());
        }
    }

    /// `netif_running()`.
    pub(crate) fn running(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_running(self.raw().cast()) }
    }

    /// `netif_carrier_on()`.
    pub(crate) fn carrier_on(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_carrier_on(self.raw().cast()) }
    }

    /// `netif_carrier_off()`.
    pub(crate) fn carrier_off(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_carrier_off(self.raw().cast()) }
    }

    /// `netif_carrier_ok()`.
    pub(crate) fn carrier_ok(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_carrier_ok(self.raw().cast()) }
    }

    /// `netif_tx_wake_all_queues()`.
    pub(crate) fn wake_all_queues(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_wake_all_queues(self.raw().cast()) }
    }

    /// `netif_tx_wake_queue()` of this view's queue.
    pub(crate) fn wake_queue(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_wake_queue(self.raw().cast(), self.queue) }
    }

    /// `netif_tx_stop_queue()` of this view's queue.
    pub(crate) fn stop_queue(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_stop_queue(self.raw().cast(), self.queue) }
    }

    /// `netif_tx_queue_stopped()` of this view's queue.
    pub(crate) fn queue_stopped(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_queue_stopped(self.raw().cast(), self.queue) }
    }

    /// Adds the NAPI instance (idempotent).
    pub(crate) fn napi_add(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_napi_add(self.raw().cast(), self.queue) }
    }

    /// Deletes the NAPI instance (idempotent; must be disabled).
    pub(crate) fn napi_del(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_napi_del(self.raw().cast(), self.queue) }
    }

    /// `napi_enable()`; callers pair it with `napi_disable` (no-op before
    /// `napi_add`).
    pub(crate) fn napi_enable(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_napi_enable(self.raw().cast(), self.queue) }
    }

    /// `napi_disable()`; waits for a running poll.
    pub(crate) fn napi_disable(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_napi_disable(self.raw().cast(), self.queue) }
    }

    /// `napi_schedule()`.
    pub(crate) fn napi_schedule(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_napi_schedule(self.raw().cast(), self.queue) }
    }

    /// `napi_complete_done()`; false when the poll must continue.
    pub(crate) fn napi_complete(&self, work_done: i32) -> bool {
        // SAFETY: live device; called from our poll function.
        unsafe { ffi::nbrs_vif_napi_complete(self.raw().cast(), self.queue, work_done) }
    }

    /// Hands a packet from the guest to the stack (GRO).
    pub(crate) fn receive(&self, skb: SkBuff) {
        // SAFETY: live device; ownership of the skb passes to the stack.
        unsafe { ffi::nbrs_vif_napi_receive(self.raw().cast(), self.queue, skb.into_raw().cast()) }
    }

    /// `napi_alloc_skb()` on this queue's NAPI instance: an empty skb with
    /// room for `len` bytes in its head. NAPI context.
    pub(crate) fn napi_alloc_skb(&self, len: u32) -> Option<SkBuff> {
        // SAFETY: live device; the result is NULL or a new owned skb.
        unsafe { SkBuff::from_raw(ffi::nbrs_vif_napi_alloc_skb(self.raw().cast(), self.queue, len).cast()) }
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
    /// variants; the IRQs start disabled.
    pub(crate) fn bind_evtchns(&self, xdev: &XenbusDevice, tx_port: u32, rx_port: u32) -> Result {
        // SAFETY: live devices; the IRQ handlers reach `T` through the
        // device, which outlives the binding (unbound in Drop at the latest).
        kernel::error::to_result(unsafe {
            ffi::nbrs_vif_bind_irqs(self.raw().cast(), self.queue, xdev.as_raw(), tx_port, rx_port)
        })
    }

    /// Unbinds the event channels (waits for running handlers).
    pub(crate) fn unbind_evtchns(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_unbind_irqs(self.raw().cast(), self.queue) }
    }

    /// `enable_irq()` on the bound IRQs.
    pub(crate) fn enable_irqs(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_enable_irqs(self.raw().cast(), self.queue) }
    }

    /// `disable_irq()` on the bound IRQs (waits for running handlers).
    pub(crate) fn disable_irqs(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_disable_irqs(self.raw().cast(), self.queue) }
    }

    /// Whether an event on `ch` awaits its deferred EOI.
    pub(crate) fn eoi_owed(&self, ch: Channel) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_eoi_owed(self.raw().cast(), self.queue, ch == Channel::Rx) }
    }

    /// Ends the deferred EOI owed for `ch` (no-op when none is pending);
    /// `spurious` (`XEN_EOI_FLAG_SPURIOUS`) when the event found no work, so
    /// Xen delays the channel's next event after repeated ones (XSA-332).
    pub(crate) fn lateeoi(&self, ch: Channel, spurious: bool) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_lateeoi(self.raw().cast(), self.queue, ch == Channel::Rx, spurious) }
    }

    /// Notifies the frontend on `ch`.
    pub(crate) fn notify(&self, ch: Channel) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_notify(self.raw().cast(), self.queue, ch == Channel::Rx) }
    }

    /// Queues a packet for the guest at the tail.
    pub(crate) fn rxq_push(&self, skb: SkBuff) {
        // SAFETY: live device; the queue takes ownership.
        unsafe { ffi::nbrs_vif_rxq_tail(self.raw().cast(), self.queue, skb.into_raw().cast()) }
    }

    /// Puts a packet back at the head (it did not fit yet).
    pub(crate) fn rxq_push_front(&self, skb: SkBuff) {
        // SAFETY: live device; the queue takes ownership.
        unsafe { ffi::nbrs_vif_rxq_head(self.raw().cast(), self.queue, skb.into_raw().cast()) }
    }

    /// Takes the packet at the head.
    pub(crate) fn rxq_pop(&self) -> Option<SkBuff> {
        // SAFETY: live device; the queue gives up ownership.
        unsafe { SkBuff::from_raw(ffi::nbrs_vif_rxq_dequeue(self.raw().cast(), self.queue).cast()) }
    }

    /// Drain deadline of the packet at the head.
    pub(crate) fn rxq_head_expires(&self) -> Option<u64> {
        let mut e: kernel::ffi::c_ulong = 0;
        // SAFETY: live device; valid out pointer.
        unsafe { ffi::nbrs_vif_rxq_head_expires(self.raw().cast(), self.queue, &mut e) }.then_some(e as u64)
    }

    /// Number of queued packets.
    pub(crate) fn rxq_len(&self) -> u32 {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_rxq_len(self.raw().cast(), self.queue) }
    }

    /// Frees all queued packets.
    pub(crate) fn rxq_purge(&self) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_rxq_purge(self.raw().cast(), self.queue) }
    }

    /// Runs the RX worker now (`delay == 0`, overriding a pending delayed
    /// run) or after `delay` jiffies unless already pending.
    pub(crate) fn rx_work_kick(&self, delay: u64) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_vif_rx_work_kick(self.raw().cast(), self.queue, delay as kernel::ffi::c_ulong) }
    }

    /// Cancels the RX worker and waits for a running instance.
    pub(crate) fn rx_work_cancel(&self) {
        // SAFETY: live device; process context.
        unsafe { ffi::nbrs_vif_rx_work_cancel(self.raw().cast(), self.queue) }
    }
}

/// Owner of a VIF net_device whose callbacks go to `T`.
///
/// Drop order: unregister (stops the interface), unbind IRQs, cancel the
/// worker, delete NAPI, free the device, then release `T`.
pub(crate) struct VifNetDevice<T: VifOps> {
    /// The owner's view: handed out borrowed from `self` only.
    dev: NetDev<'static>,
    data: Arc<T>,
    _ops: KBox<ffi::nbrs_vif_ops>,
}

// SAFETY: the owner lives in the xenbus backend, used from process context
// on whatever thread xenbus runs it; it lends its view only borrowed, and the
// device functions it reaches are callable from any process context.
unsafe impl<T: VifOps> Send for VifNetDevice<T> {}
// SAFETY: see `Send`; `&self` methods change nothing without the kernel's
// own locking.
unsafe impl<T: VifOps> Sync for VifNetDevice<T> {}

impl<T: VifOps> VifNetDevice<T> {
    /// Allocates (not yet registers) `name` under the xenbus device, with
    /// `nr_queues` (>= 1) TX/RX queues.
    pub(crate) fn new(name: &CStr, parent: &XenbusDevice, nr_queues: u32, data: Arc<T>) -> Result<Self> {
        let ops = KBox::new(
            ffi::nbrs_vif_ops {
                open: Some(Self::open_cb),
                stop: Some(Self::stop_cb),
                start_xmit: Some(Self::start_xmit_cb),
                select_queue: Some(Self::select_queue_cb),
                fix_features: Some(Self::fix_features_cb),
                check_mtu: Some(Self::check_mtu_cb),
                get_stats64: Some(Self::stats_cb),
                ethtool_stats: Some(Self::ethtool_stats_cb),
                channels: Some(Self::channels_cb),
                set_queue_limit: Some(Self::set_queue_limit_cb),
                napi_poll: Some(Self::napi_poll_cb),
                rx_work: Some(Self::rx_work_cb),
                tx_event: Some(Self::tx_event_cb),
                rx_event: Some(Self::rx_event_cb),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` and `data` outlive the device: both are released
        // only after `nbrs_vif_free` in Drop.
        let raw = unsafe {
            ffi::nbrs_vif_alloc(
                name.as_char_ptr(),
                parent.as_device().cast(),
                nr_queues,
                VIF_MTU_MAX,
                &*ops,
                Arc::as_ptr(&data) as *mut c_void,
            )
        };
        let ptr = NonNull::new(raw.cast::<kernel::bindings::net_device>()).ok_or(ENOMEM)?;
        // SAFETY: the device lives until `Drop`; the view is only lent out
        // borrowed from `self` (`dev()`), never for `'static`.
        Ok(Self { dev: unsafe { NetDev::new_view(ptr, 0) }, data, _ops: ops })
    }

    /// `register_netdev()` (takes RTNL; holds a module reference while
    /// registered, as xen-netback does).
    pub(crate) fn register(&self) -> Result {
        // SAFETY: allocated, not yet registered.
        kernel::error::to_result(unsafe { ffi::nbrs_vif_register(self.dev.raw().cast()) })
    }

    /// The device view.
    pub(crate) fn dev(&self) -> &NetDev<'_> {
        &self.dev
    }

    /// The driver state.
    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// # Safety
    ///
    /// `data` is the pointer given to `nbrs_vif_alloc`, alive while the
    /// device exists; `dev` is that device.
    unsafe fn ctx<'a>(data: *mut c_void, dev: *mut kernel::bindings::net_device) -> Option<(&'a T, NetDev<'a>)> {
        // SAFETY: per the function's contract.
        unsafe { Self::ctx_q(data, dev, 0) }
    }

    /// [`Self::ctx`] with the view of queue `queue`.
    ///
    /// # Safety
    ///
    /// As for [`Self::ctx`].
    unsafe fn ctx_q<'a>(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: u32,
    ) -> Option<(&'a T, NetDev<'a>)> {
        let t = NonNull::new(data.cast::<T>())?;
        let ptr = NonNull::new(dev)?;
        // SAFETY: per the function's contract (the callback's duration is
        // the caller's choice of `'a`).
        Some((unsafe { t.as_ref() }, unsafe { NetDev::new_view(ptr, queue) }))
    }

    /// C entry point for `ndo_open`.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn open_cb(data: *mut c_void, dev: *mut kernel::bindings::net_device) -> kernel::ffi::c_int {
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx(data, dev) } {
            // SAFETY: the kernel calls ndo_open with RTNL held.
            Some((t, d)) => match t.open(&d, &*unsafe { Rtnl::assume_held() }) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            },
            None => EINVAL.to_errno(),
        }
    }

    /// C entry point for `ndo_stop`.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn stop_cb(data: *mut c_void, dev: *mut kernel::bindings::net_device) {
        // SAFETY: called by C with the registered data and its device.
        if let Some((t, d)) = unsafe { Self::ctx(data, dev) } {
            // SAFETY: the kernel calls ndo_stop with RTNL held.
            t.stop(&d, &*unsafe { Rtnl::assume_held() });
        }
    }

    /// C entry point for `ndo_start_xmit` (owns `skb`).
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn start_xmit_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: kernel::ffi::c_uint,
        skb: *mut kernel::bindings::sk_buff,
    ) {
        // SAFETY: ndo_start_xmit hands us ownership of a valid skb.
        let Some(skb) = (unsafe { SkBuff::from_raw(skb) }) else {
            return;
        };
        // SAFETY: called by C with the registered data and its device.
        if let Some((t, d)) = unsafe { Self::ctx_q(data, dev, queue) } {
            t.start_xmit(&d, skb);
        }
    }

    /// C entry point for `ndo_select_queue` (the skb stays the stack's).
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive), the device it belongs to and
    /// a valid skb the caller keeps owning.
    unsafe extern "C" fn select_queue_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        skb: *mut kernel::bindings::sk_buff,
    ) -> u16 {
        // SAFETY: a valid skb, borrowed: ManuallyDrop keeps us from freeing it.
        let Some(skb) = (unsafe { SkBuff::from_raw(skb) }) else {
            return 0;
        };
        let mut skb = core::mem::ManuallyDrop::new(skb);
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx(data, dev) } {
            Some((t, d)) => t.select_queue(&d, &mut skb),
            None => 0,
        }
    }

    /// C entry point for `ethtool -S`: returns how many entries there are
    /// and writes up to `max` of them into `names` (`ETH_GSTRING_LEN` bytes
    /// each) and `values`, either of which may be NULL.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive), the device it belongs to, and
    /// `names` / `values` NULL or valid for `max` entries, exclusively
    /// borrowed for the call.
    unsafe extern "C" fn ethtool_stats_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        names: *mut u8,
        values: *mut u64,
        max: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_uint {
        // SAFETY: called by C with the registered data and its device.
        let Some((t, d)) = (unsafe { Self::ctx(data, dev) }) else {
            return 0;
        };
        let max = max as usize;
        let names: &mut [[u8; ETH_GSTRING_LEN]] = match NonNull::new(names.cast::<[u8; ETH_GSTRING_LEN]>()) {
            // SAFETY: the caller's buffer of `max` names, borrowed for the call
            // (an array of bytes: any alignment will do).
            Some(p) => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), max) },
            None => &mut [],
        };
        let values: &mut [u64] = match NonNull::new(values) {
            // SAFETY: the caller's buffer of `max` values, borrowed for the call.
            Some(p) => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), max) },
            None => &mut [],
        };
        let mut out = EthtoolStats { names, values, count: 0 };
        t.ethtool_stats(&d, &mut out);
        out.count as kernel::ffi::c_uint
    }

    /// C entry point for `ethtool -l`.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive), the device it belongs to and
    /// a valid `combined` (or NULL).
    unsafe extern "C" fn channels_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        combined: *mut kernel::ffi::c_uint,
    ) {
        // SAFETY: called by C with the registered data and its device.
        let Some((t, d)) = (unsafe { Self::ctx(data, dev) }) else {
            return;
        };
        let n = t.channels(&d);
        if !combined.is_null() {
            // SAFETY: valid, exclusively borrowed out pointer.
            unsafe { *combined = n };
        }
    }

    /// C entry point for `ethtool -L combined n`.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn set_queue_limit_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        n: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int {
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx(data, dev) } {
            Some((t, d)) => match t.set_queue_limit(&d, n) {
                Ok(()) => 0,
                Err(e) => e.to_errno(),
            },
            None => EINVAL.to_errno(),
        }
    }

    /// C entry point for `ndo_fix_features`: clears the features the
    /// frontend cannot take.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn fix_features_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        features: u64,
    ) -> u64 {
        // SAFETY: called by C with the registered data and its device.
        let Some((t, d)) = (unsafe { Self::ctx(data, dev) }) else {
            return features;
        };
        let o = t.guest_offloads(&d);
        let off = |allowed: bool, bit: u32| if allowed { 0 } else { 1u64.checked_shl(bit).unwrap_or(0) };
        use kernel::bindings::{
            NETIF_F_IPV6_CSUM_BIT, NETIF_F_IP_CSUM_BIT, NETIF_F_SG_BIT, NETIF_F_TSO6_BIT, NETIF_F_TSO_BIT,
        };
        features
            & !(off(o.sg, NETIF_F_SG_BIT)
                | off(o.tso_v4, NETIF_F_TSO_BIT)
                | off(o.tso_v6, NETIF_F_TSO6_BIT)
                | off(o.ip_csum, NETIF_F_IP_CSUM_BIT)
                | off(o.ipv6_csum, NETIF_F_IPV6_CSUM_BIT))
    }

    /// C entry point for `ndo_change_mtu`: 0 when the frontend can take
    /// `mtu`, else -EINVAL.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn check_mtu_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        mtu: kernel::ffi::c_int,
    ) -> kernel::ffi::c_int {
        // SAFETY: called by C with the registered data and its device.
        let Some((t, d)) = (unsafe { Self::ctx(data, dev) }) else {
            return EINVAL.to_errno();
        };
        match u32::try_from(mtu) {
            Ok(m) if m <= t.guest_offloads(&d).max_mtu() => 0,
            _ => EINVAL.to_errno(),
        }
    }

    /// C entry point for `ndo_get_stats64`.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn stats_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        out: *mut ffi::rtnl_link_stats64,
    ) {
        // SAFETY: called by C with the registered data and its device.
        let Some((t, d)) = (unsafe { Self::ctx(data, dev) }) else {
            return;
        };
        let s = t.link_stats(&d);
        if out.is_null() {
            return;
        }
        // SAFETY: `out` is the caller's valid, exclusively borrowed struct.
        let out = unsafe { &mut *out };
        out.rx_packets = s.rx_packets;
        out.rx_bytes = s.rx_bytes;
        out.tx_packets = s.tx_packets;
        out.tx_bytes = s.tx_bytes;
        out.rx_dropped = s.rx_dropped;
        out.tx_dropped = s.tx_dropped;
        out.rx_errors = s.rx_errors;
    }

    /// C entry point for the NAPI poll.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn napi_poll_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: kernel::ffi::c_uint,
        budget: kernel::ffi::c_int,
    ) -> kernel::ffi::c_int {
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx_q(data, dev, queue) } {
            Some((t, d)) => t.napi_poll(&d, budget),
            None => 0,
        }
    }

    /// C entry point for the RX worker.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn rx_work_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: kernel::ffi::c_uint,
    ) {
        // SAFETY: called by C with the registered data and its device.
        if let Some((t, d)) = unsafe { Self::ctx_q(data, dev, queue) } {
            t.rx_work(&d);
        }
    }

    /// C entry point for the TX event IRQ.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn tx_event_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: kernel::ffi::c_uint,
    ) -> bool {
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx_q(data, dev, queue) } {
            Some((t, d)) => t.tx_event(&d),
            None => false,
        }
    }

    /// C entry point for the RX event IRQ.
    ///
    /// # Safety
    ///
    /// Called by helpers.c with the `data` pointer registered in `new`
    /// (an `Arc<T>` this owner keeps alive) and the device it belongs to.
    unsafe extern "C" fn rx_event_cb(
        data: *mut c_void,
        dev: *mut kernel::bindings::net_device,
        queue: kernel::ffi::c_uint,
    ) -> bool {
        // SAFETY: called by C with the registered data and its device.
        match unsafe { Self::ctx_q(data, dev, queue) } {
            Some((t, d)) => t.rx_event(&d),
            None => false,
        }
    }
}

impl<T: VifOps> Drop for VifNetDevice<T> {
    fn drop(&mut self) {
        // Unregistering (if registered) closes the device, then no callback
        // can start: IRQs are unbound, the worker cancelled and NAPI deleted
        // inside nbrs_vif_free before the memory goes. `data`/`_ops` are
        // released after this body, i.e. after the device is gone.
        // SAFETY: the device was allocated in `new` and is torn down once, here.
        unsafe {
            ffi::nbrs_vif_unregister(self.dev.raw().cast());
            ffi::nbrs_vif_unbind_all_irqs(self.dev.raw().cast());
            ffi::nbrs_vif_free(self.dev.raw().cast());
        }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The event channels of one ring pair, bound to IRQs with the lateeoi
//! variants (XSA-332): the handler only records that an EOI is owed, and
//! the queue's worker ends it once the work is done, as spurious when the
//! event found none, so Xen delays a storming frontend's next events.
//!
//! A frontend uses one channel for both rings or one per ring
//! (`feature-split-event-channels`); with one, both rings share its EOI.
//! netfront-rs binds its own side the same way: one channel it allocated
//! ([`RingEvtchns::bind_local`]), lateeoi too, so a backend that storms it
//! with events is slowed down as well (XSA-391).

use super::xenbus::XenbusDevice;
use crate::bindings::ffi;
use crate::netif::negotiate::IFNAMSIZ;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kernel::prelude::*;

/// Which ring an event is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Guest TX ring (requests the guest sends).
    Tx,
    /// Guest RX ring (buffers the guest posts).
    Rx,
}

/// What an IRQ was bound for: one ring's channel, or the one channel of
/// both rings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// The guest TX ring's own channel.
    Tx,
    /// The guest RX ring's own channel.
    Rx,
    /// One channel for both rings.
    Shared,
}

impl Binding {
    /// The EOI-owed bit of this binding.
    const fn eoi_bit(self) -> u32 {
        match self {
            Binding::Tx => 1,
            Binding::Rx => 2,
            Binding::Shared => 4,
        }
    }
}

/// The bits whose EOI `ch` ends: its own channel's or the shared one's.
fn eoi_bits(ch: Channel) -> u32 {
    let own = match ch {
        Channel::Tx => Binding::Tx,
        Channel::Rx => Binding::Rx,
    };
    own.eoi_bit() | Binding::Shared.eoi_bit()
}

/// An event channel to bind.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    /// The other end's port (backend: the frontend's channel).
    Peer(u32),
    /// A port of ours, from `xenbus_alloc_evtchn` (frontend).
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    Local(u32),
}

/// Frontend side: allocates an event channel for the backend `xdev` leads
/// to and runs `bind` on its port; the channel is freed again when `bind`
/// fails. Returns what `bind` made and the port to publish.
#[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
pub(in crate::bindings) fn with_local_port<T>(
    xdev: &XenbusDevice,
    bind: impl FnOnce(u32) -> Result<T>,
) -> Result<(T, u32)> {
    let mut port: ffi::evtchn_port_t = 0;
    // SAFETY: live device, valid out pointer.
    kernel::error::to_result(unsafe { ffi::xenbus_alloc_evtchn(xdev.as_raw(), &mut port) })?;
    match bind(port) {
        Ok(t) => Ok((t, port)),
        Err(e) => {
            // SAFETY: allocated above, bound to nothing.
            unsafe { ffi::xenbus_free_evtchn(xdev.as_raw(), port) };
            Err(e)
        }
    }
}

/// An IRQ handler as `request_irq` takes it.
pub(crate) type IrqHandler = unsafe extern "C" fn(kernel::ffi::c_int, *mut c_void) -> kernel::bindings::irqreturn_t;

/// The handlers of one ring pair, for each [`Binding`].
pub(crate) struct Handlers {
    /// For the guest TX ring's channel.
    pub(crate) tx: IrqHandler,
    /// For the guest RX ring's channel.
    pub(crate) rx: IrqHandler,
    /// For one channel serving both rings.
    pub(crate) shared: IrqHandler,
}

/// Room for an IRQ name: "vifD.H-qN-tx" is IFNAMSIZ plus "-q", up to 5
/// digits and "-tx".
const IRQ_NAME_LEN: usize = IFNAMSIZ + 12;

/// Where a bound IRQ's name lives.
type NameSlot = UnsafeCell<[u8; IRQ_NAME_LEN]>;

/// The IRQs of one ring pair's event channels and the EOIs they owe.
pub(crate) struct RingEvtchns {
    /// IRQ of the TX (or the shared) channel; 0 while unbound.
    tx_irq: AtomicU32,
    /// IRQ of the RX channel (the TX one when shared); 0 while unbound.
    rx_irq: AtomicU32,
    /// [`Binding::eoi_bit`]s of events whose EOI is deferred.
    eoi_pending: AtomicU32,
    /// The handlers' argument, kept to unbind with.
    dev_id: AtomicPtr<c_void>,
    /// The IRQ names `/proc/interrupts` shows; the kernel keeps pointers to
    /// them while bound.
    tx_name: NameSlot,
    rx_name: NameSlot,
}

// SAFETY: the names are written only by `bind` while unbound (no handler
// and no other binder: `bind` and `unbind` are serialized by their callers,
// see their safety sections); everything else is atomic.
unsafe impl Sync for RingEvtchns {}
// SAFETY: no thread affinity; see `Sync`.
unsafe impl Send for RingEvtchns {}

impl RingEvtchns {
    /// Unbound channels.
    pub(crate) const fn new() -> Self {
        Self {
            tx_irq: AtomicU32::new(0),
            rx_irq: AtomicU32::new(0),
            eoi_pending: AtomicU32::new(0),
            dev_id: AtomicPtr::new(core::ptr::null_mut()),
            tx_name: UnsafeCell::new([0; IRQ_NAME_LEN]),
            rx_name: UnsafeCell::new([0; IRQ_NAME_LEN]),
        }
    }

    /// Binds the frontend's channels (`tx_port == rx_port`: one for both
    /// rings) to IRQs named after `name` and `queue`, the IRQs disabled
    /// until [`Self::enable`]. -EBUSY when already bound.
    ///
    /// # Safety
    ///
    /// `dev_id` stays valid for the handlers until [`Self::unbind`], and
    /// the handlers take it for what it is; calls of `bind` and `unbind`
    /// on these channels do not overlap.
    pub(crate) unsafe fn bind(
        &self,
        xdev: &XenbusDevice,
        ports: (u32, u32),
        name: &str,
        queue: u32,
        handlers: &Handlers,
        dev_id: *mut c_void,
    ) -> Result {
        let (tx_port, rx_port) = ports;
        let bind_port = |ch: Channel, slot: &NameSlot, name: core::fmt::Arguments<'_>, handler: IrqHandler| {
            let port = if ch == Channel::Tx { tx_port } else { rx_port };
            // SAFETY: `bind_pair` hands out an unused name slot; `dev_id`
            // is the caller's (contract).
            let irq = unsafe { Self::bind_one(xdev, Port::Peer(port), slot, name, handler, dev_id) }?;
            Ok((irq, port))
        };
        // SAFETY: the caller's contract is `bind_pair`'s.
        unsafe { self.bind_pair(tx_port != rx_port, name, queue, handlers, dev_id, bind_port) }.map(|_| ())
    }

    /// Frontend side: allocates the event channels of one ring pair for the
    /// backend `xdev` leads to and binds them (lateeoi): one per ring when
    /// `split` (`feature-split-event-channels`), else one for both rings;
    /// the IRQs are left disabled until [`Self::enable`]. Returns the TX and
    /// RX ports to publish (equal when not split). [`Self::unbind`] closes
    /// the channels.
    ///
    /// # Safety
    ///
    /// As for [`Self::bind`].
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) unsafe fn bind_local(
        &self,
        xdev: &XenbusDevice,
        name: &str,
        queue: u32,
        split: bool,
        handlers: &Handlers,
        dev_id: *mut c_void,
    ) -> Result<(u32, u32)> {
        let bind_port = |_: Channel, slot: &NameSlot, name: core::fmt::Arguments<'_>, handler: IrqHandler| {
            with_local_port(xdev, |port| {
                // SAFETY: as in `bind`.
                unsafe { Self::bind_one(xdev, Port::Local(port), slot, name, handler, dev_id) }
            })
        };
        // SAFETY: the caller's contract is `bind_pair`'s.
        unsafe { self.bind_pair(split, name, queue, handlers, dev_id, bind_port) }
    }

    /// Binds one ring pair's channels with `bind_port`, which binds the
    /// channel of one ring (with the name slot, name and handler given) and
    /// returns its IRQ and port: the TX ring's alone, for both rings, when
    /// not `split`. A bound TX channel is unbound again when the RX one
    /// fails (which, for a port of ours, closes it). Returns the TX and RX
    /// ports.
    ///
    /// # Safety
    ///
    /// As for [`Self::bind`].
    unsafe fn bind_pair(
        &self,
        split: bool,
        name: &str,
        queue: u32,
        handlers: &Handlers,
        dev_id: *mut c_void,
        bind_port: impl Fn(Channel, &NameSlot, core::fmt::Arguments<'_>, IrqHandler) -> Result<(u32, u32)>,
    ) -> Result<(u32, u32)> {
        if self.tx_irq.load(Ordering::Acquire) != 0 {
            return Err(EBUSY);
        }
        self.eoi_pending.store(0, Ordering::Release);
        self.dev_id.store(dev_id, Ordering::Release);
        if !split {
            let (irq, port) = bind_port(Channel::Tx, &self.tx_name, format_args!("{name}-q{queue}"), handlers.shared)?;
            self.tx_irq.store(irq, Ordering::Release);
            self.rx_irq.store(irq, Ordering::Release);
            return Ok((port, port));
        }
        let (tx, tx_port) = bind_port(Channel::Tx, &self.tx_name, format_args!("{name}-q{queue}-tx"), handlers.tx)?;
        match bind_port(Channel::Rx, &self.rx_name, format_args!("{name}-q{queue}-rx"), handlers.rx) {
            Ok((rx, rx_port)) => {
                self.tx_irq.store(tx, Ordering::Release);
                self.rx_irq.store(rx, Ordering::Release);
                Ok((tx_port, rx_port))
            }
            Err(e) => {
                // SAFETY: bound just above with this `dev_id`, still
                // disabled.
                unsafe { ffi::unbind_from_irqhandler(tx, dev_id) };
                Err(e)
            }
        }
    }

    /// Binds one channel with `handler`, writing its name into `slot`; the
    /// IRQ is left disabled.
    ///
    /// # Safety
    ///
    /// `slot` is not in use by a bound IRQ and nobody else writes it;
    /// `dev_id` as for [`Self::bind`].
    unsafe fn bind_one(
        xdev: &XenbusDevice,
        port: Port,
        slot: &NameSlot,
        name: core::fmt::Arguments<'_>,
        handler: IrqHandler,
        dev_id: *mut c_void,
    ) -> Result<u32> {
        // SAFETY: exclusive access to the unused name (contract).
        let buf = unsafe { &mut *slot.get() };
        crate::bindings::write_cstr(buf, name);
        // SAFETY: live xenbus device; the name lives in `self` until unbind;
        // `dev_id` as the contract says.
        let irq = unsafe {
            match port {
                Port::Peer(port) => ffi::bind_interdomain_evtchn_to_irqhandler_lateeoi(
                    xdev.as_raw(),
                    port,
                    Some(handler),
                    0,
                    buf.as_ptr().cast(),
                    dev_id,
                ),
                Port::Local(port) => {
                    ffi::bind_evtchn_to_irqhandler_lateeoi(port, Some(handler), 0, buf.as_ptr().cast(), dev_id)
                }
            }
        };
        let irq = u32::try_from(irq).map_err(|_| Error::from_errno(irq))?;
        // SAFETY: the IRQ was just bound; disable_irq waits for a handler
        // that already runs, which then sees an owed EOI as usual.
        unsafe { kernel::bindings::disable_irq(irq) };
        Ok(irq)
    }

    /// Unbinds the channels (no-op when unbound).
    ///
    /// # Safety
    ///
    /// The IRQs are disabled ([`Self::disable`]) or were never enabled;
    /// calls of `bind` and `unbind` do not overlap.
    pub(crate) unsafe fn unbind(&self) {
        let tx = self.tx_irq.swap(0, Ordering::AcqRel);
        let rx = self.rx_irq.swap(0, Ordering::AcqRel);
        let dev_id = self.dev_id.load(Ordering::Acquire);
        if rx != 0 && rx != tx {
            // SAFETY: bound by `bind` with `dev_id`.
            unsafe { ffi::unbind_from_irqhandler(rx, dev_id) };
        }
        if tx != 0 {
            // SAFETY: as above.
            unsafe { ffi::unbind_from_irqhandler(tx, dev_id) };
        }
    }

    /// The distinct bound IRQs.
    fn irqs(&self) -> impl Iterator<Item = u32> {
        let tx = self.tx_irq.load(Ordering::Acquire);
        let rx = self.rx_irq.load(Ordering::Acquire);
        [tx, if rx != tx { rx } else { 0 }].into_iter().filter(|irq| *irq != 0)
    }

    /// `enable_irq()` on the bound IRQs.
    pub(crate) fn enable(&self) {
        for irq in self.irqs() {
            // SAFETY: an IRQ of ours, bound and disabled once by `bind_one`.
            unsafe { kernel::bindings::enable_irq(irq) };
        }
    }

    /// `disable_irq()` on the bound IRQs (waits for running handlers).
    pub(crate) fn disable(&self) {
        for irq in self.irqs() {
            // SAFETY: an IRQ of ours; process context (it may sleep).
            unsafe { kernel::bindings::disable_irq(irq) };
        }
    }

    /// In the handler of `binding`: the event's EOI is deferred.
    pub(crate) fn event_begin(&self, binding: Binding) {
        self.eoi_pending.fetch_or(binding.eoi_bit(), Ordering::AcqRel);
    }

    /// In the handler of `binding`, when the event scheduled no work: ends
    /// its EOI at once, as spurious.
    pub(crate) fn event_no_work(&self, irq: kernel::ffi::c_int, binding: Binding) {
        self.eoi_pending.fetch_and(!binding.eoi_bit(), Ordering::AcqRel);
        if let Ok(irq) = u32::try_from(irq) {
            // SAFETY: the IRQ whose handler runs.
            unsafe { ffi::xen_irq_lateeoi(irq, ffi::XEN_EOI_FLAG_SPURIOUS) };
        }
    }

    /// Whether an event on `ch` awaits its deferred EOI.
    pub(crate) fn eoi_owed(&self, ch: Channel) -> bool {
        self.eoi_pending.load(Ordering::Acquire) & eoi_bits(ch) != 0
    }

    /// Ends the deferred EOI owed for `ch` (no-op when none is pending);
    /// `spurious` when the event found no work.
    pub(crate) fn lateeoi(&self, ch: Channel, spurious: bool) {
        let irq = self.irq(ch);
        let bits = eoi_bits(ch);
        if irq != 0 && self.eoi_pending.fetch_and(!bits, Ordering::AcqRel) & bits != 0 {
            let flags = if spurious { ffi::XEN_EOI_FLAG_SPURIOUS } else { 0 };
            // SAFETY: a bound IRQ of ours.
            unsafe { ffi::xen_irq_lateeoi(irq, flags) };
        }
    }

    /// Notifies the frontend on `ch` (no-op when unbound).
    pub(crate) fn notify(&self, ch: Channel) {
        let irq = self.irq(ch);
        if irq != 0 {
            // SAFETY: a bound IRQ of ours (an event channel IRQ).
            unsafe { ffi::notify_remote_via_irq(irq as kernel::ffi::c_int) };
        }
    }

    /// The IRQ serving `ch`, 0 when unbound.
    fn irq(&self, ch: Channel) -> u32 {
        match ch {
            Channel::Tx => &self.tx_irq,
            Channel::Rx => &self.rx_irq,
        }
        .load(Ordering::Acquire)
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The control ring's event channel: bound with the lateeoi variant; each
//! event runs the handler in a work item on the unbound system workqueue
//! (process context: control requests grant-copy and allocate), which ends
//! the EOI, or requeues itself with the EOI still owed when a bounded run
//! left requests pending (as xen-netback's `xenvif_ctrl_irq_fn`).
//!
//! The work item is a raw `work_struct`, not `kernel::workqueue::Work`: the
//! channel must cancel a queued run when it is unbound, which that type
//! cannot do.

use super::xenbus::XenbusDevice;
use crate::bindings::ffi;
use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::bindings::work_struct;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::types::Opaque;

/// What one run of a [`CtrlEventHandler`] found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CtrlEvent {
    /// No request: the event was spurious.
    Idle,
    /// Requests answered and the ring is idle.
    Done,
    /// Requests remain after a bounded run: run again (the EOI stays
    /// owed).
    More,
}

/// Receiver of control ring events.
pub(crate) trait CtrlEventHandler: Send + Sync + 'static {
    /// Processes pending control requests, a bounded number per run
    /// (process context; runs once right after binding too).
    fn ctrl_event(&self, irq: &CtrlIrqRef<'_>) -> CtrlEvent;
}

/// The bound channel as seen from its handler.
pub(crate) struct CtrlIrqRef<'a> {
    irq: &'a AtomicU32,
}

impl CtrlIrqRef<'_> {
    /// Notifies the frontend.
    pub(crate) fn notify(&self) {
        let irq = self.irq.load(Ordering::Acquire);
        if irq != 0 {
            // SAFETY: the channel's IRQ, bound while its handler runs.
            unsafe { ffi::notify_remote_via_irq(irq as kernel::ffi::c_int) };
        }
    }
}

/// The channel's state, shared with its IRQ handler and work item.
#[pin_data]
struct CtrlChannel<T> {
    /// The IRQ; 0 until bound (the handler may store it first).
    irq: AtomicU32,
    /// An event was delivered and awaits its EOI.
    eoi_owed: AtomicBool,
    /// Runs [`CtrlEventHandler::ctrl_event`].
    #[pin]
    work: Opaque<work_struct>,
    handler: Arc<T>,
}

// SAFETY: the work item is only handed to the kernel's workqueue API, which
// may run and cancel it from any thread; everything else is atomic or the
// `Send + Sync` handler.
unsafe impl<T: CtrlEventHandler> Send for CtrlChannel<T> {}
// SAFETY: see `Send`; `&self` methods only queue the work item or touch
// atomics.
unsafe impl<T: CtrlEventHandler> Sync for CtrlChannel<T> {}

impl<T: CtrlEventHandler> CtrlChannel<T> {
    /// Queues the work item (no-op when queued already: that run ends this
    /// event's EOI too).
    fn queue(&self) {
        // SAFETY: an initialised work item, alive until `CtrlIrq::drop`
        // cancels it; system_dfl_wq exists for the kernel's lifetime.
        unsafe {
            kernel::bindings::queue_work_on(
                kernel::bindings::wq_misc_consts_WORK_CPU_UNBOUND as kernel::ffi::c_int,
                kernel::bindings::system_dfl_wq,
                self.work.get(),
            )
        };
    }

    /// The IRQ handler.
    ///
    /// # Safety
    ///
    /// `dev_id` is the pinned `CtrlChannel<T>` bound by [`CtrlIrq::bind`].
    unsafe extern "C" fn irq_handler(irq: kernel::ffi::c_int, dev_id: *mut c_void) -> kernel::bindings::irqreturn_t {
        // SAFETY: per the contract, alive until unbound.
        if let Some(c) = unsafe { dev_id.cast::<Self>().as_ref() } {
            // May run before `bind` has stored the number.
            c.irq.store(u32::try_from(irq).unwrap_or(0), Ordering::Release);
            c.eoi_owed.store(true, Ordering::Release);
            c.queue();
        }
        kernel::bindings::irqreturn_IRQ_HANDLED
    }

    /// The work item: one bounded run of the handler, then the EOI.
    ///
    /// # Safety
    ///
    /// `work` is the `work` field of a pinned `CtrlChannel<T>`.
    unsafe extern "C" fn run(work: *mut work_struct) {
        // SAFETY: `work` is the `work` field of a `CtrlChannel<T>` (contract;
        // `Opaque` is transparent), alive until its run is cancelled.
        let c = unsafe { &*work.cast::<u8>().sub(core::mem::offset_of!(Self, work)).cast::<Self>() };
        let run = c.handler.ctrl_event(&CtrlIrqRef { irq: &c.irq });
        // Bounded runs: requeue (other work items get the worker meanwhile)
        // and keep the EOI owed, so the channel stays masked.
        if run == CtrlEvent::More {
            c.queue();
            return;
        }
        // No EOI for the run right after binding: no event is active then,
        // and an EOI would clear a pending one.
        if c.eoi_owed.swap(false, Ordering::AcqRel) {
            let flags = if run == CtrlEvent::Done { 0 } else { ffi::XEN_EOI_FLAG_SPURIOUS };
            // SAFETY: the bound IRQ (stored before the handler queued us).
            unsafe { ffi::xen_irq_lateeoi(c.irq.load(Ordering::Acquire), flags) };
        }
    }
}

/// Initialises the channel's work item in place (for `Opaque::ffi_init`).
fn init_work<T: CtrlEventHandler>(p: *mut work_struct) {
    // SAFETY: `Opaque::ffi_init` passes the `work` place of a pinned
    // `CtrlChannel<T>`, which is what `run` takes.
    unsafe { ffi::nbrs_init_work(p, Some(CtrlChannel::<T>::run)) }
}

/// A bound control event channel; unbound on drop (waits for a running
/// handler and work item).
pub(crate) struct CtrlIrq<T: CtrlEventHandler> {
    chan: Pin<KBox<CtrlChannel<T>>>,
}

impl<T: CtrlEventHandler> CtrlIrq<T> {
    /// Binds the frontend's `port`; events go to `handler`.
    pub(crate) fn bind(xdev: &XenbusDevice, port: u32, handler: Arc<T>) -> Result<Self> {
        Self::bind_port(xdev, CtrlPort::Peer(port), handler, c"xen-netback-ctrl")
    }

    /// Frontend side: allocates a channel for our control ring and binds
    /// it; events go to `handler`. Returns the port to publish.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn bind_local(xdev: &XenbusDevice, handler: Arc<T>) -> Result<(Self, u32)> {
        super::evtchn::with_local_port(xdev, |port| {
            Self::bind_port(xdev, CtrlPort::Local(port), handler, c"xen-netfront-ctrl")
        })
    }

    fn bind_port(xdev: &XenbusDevice, port: CtrlPort, handler: Arc<T>, name: &'static CStr) -> Result<Self> {
        let chan = KBox::pin_init(
            pin_init!(CtrlChannel {
                irq: AtomicU32::new(0),
                eoi_owed: AtomicBool::new(false),
                work <- Opaque::ffi_init(init_work::<T>),
                handler,
            }),
            GFP_KERNEL,
        )?;
        let dev_id = core::ptr::from_ref::<CtrlChannel<T>>(&chan).cast_mut().cast::<c_void>();
        let handler = Some(CtrlChannel::<T>::irq_handler as super::evtchn::IrqHandler);
        // SAFETY: live xenbus device; `dev_id` is the pinned channel, which
        // outlives the binding (`Drop` unbinds before it goes); the name is
        // a static string.
        let irq = unsafe {
            match port {
                CtrlPort::Peer(port) => ffi::bind_interdomain_evtchn_to_irqhandler_lateeoi(
                    xdev.as_raw(),
                    port,
                    handler,
                    0,
                    name.as_char_ptr(),
                    dev_id,
                ),
                CtrlPort::Local(port) => {
                    ffi::bind_evtchn_to_irqhandler_lateeoi(port, handler, 0, name.as_char_ptr(), dev_id)
                }
            }
        };
        let irq = u32::try_from(irq).map_err(|_| Error::from_errno(irq))?;
        chan.irq.store(irq, Ordering::Release);
        // Requests posted before we bound: process them once.
        chan.queue();
        Ok(Self { chan })
    }

    /// Notifies the other end.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn notify(&self) {
        CtrlIrqRef { irq: &self.chan.irq }.notify();
    }
}

/// Which control channel to bind.
#[derive(Clone, Copy)]
enum CtrlPort {
    /// The frontend's port (backend side).
    Peer(u32),
    /// Our own, allocated (frontend side).
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    Local(u32),
}

impl<T: CtrlEventHandler> Drop for CtrlIrq<T> {
    fn drop(&mut self) {
        let irq = self.chan.irq.load(Ordering::Acquire);
        let dev_id = core::ptr::from_ref::<CtrlChannel<T>>(&self.chan).cast_mut().cast::<c_void>();
        // SAFETY: bound in `bind`; process context. The owner has told the
        // handler to stop first, so a run in progress ends promptly; a
        // requeued run is cancelled too. Then the channel may go.
        unsafe {
            kernel::bindings::disable_irq(irq);
            kernel::bindings::cancel_work_sync(self.chan.work.get());
            ffi::unbind_from_irqhandler(irq, dev_id);
        }
    }
}

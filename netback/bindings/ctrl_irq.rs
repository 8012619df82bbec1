// SPDX-License-Identifier: GPL-2.0
//! The control ring's event channel: bound with the lateeoi variant; each
//! event runs the handler in a work item (process context: control
//! requests grant-copy), which ends the EOI, or requeues itself with the
//! EOI still owed when a bounded run left requests pending.

use super::{ffi, xen::xenbus::XenbusDevice};
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

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

impl CtrlEvent {
    fn to_c(self) -> ffi::nbrs_ctrl_run {
        match self {
            CtrlEvent::Idle => ffi::nbrs_ctrl_run_NBRS_CTRL_IDLE,
            CtrlEvent::Done => ffi::nbrs_ctrl_run_NBRS_CTRL_DONE,
            CtrlEvent::More => ffi::nbrs_ctrl_run_NBRS_CTRL_MORE,
        }
    }
}

/// Receiver of control ring events.
pub(crate) trait CtrlEventHandler: Send + Sync + 'static {
    /// Processes pending control requests, a bounded number per run
    /// (process context; runs once right after binding too).
    fn ctrl_event(&self, irq: &CtrlIrqRef<'_>) -> CtrlEvent;
}

/// The bound channel as seen from its handler.
pub(crate) struct CtrlIrqRef<'a> {
    ptr: NonNull<ffi::nbrs_ctrl_irq>,
    _life: PhantomData<&'a ()>,
}

impl CtrlIrqRef<'_> {
    /// Notifies the frontend.
    pub(crate) fn notify(&self) {
        // SAFETY: the binding is alive while its handler runs.
        unsafe { ffi::nbrs_ctrl_irq_notify(self.ptr.as_ptr()) }
    }
}

/// A bound control event channel; unbound on drop (waits for a running
/// handler).
pub(crate) struct CtrlIrq<T: CtrlEventHandler> {
    ptr: NonNull<ffi::nbrs_ctrl_irq>,
    _handler: Arc<T>,
}

// SAFETY: unbinding works from any process context.
unsafe impl<T: CtrlEventHandler> Send for CtrlIrq<T> {}
// SAFETY: no `&self` methods.
unsafe impl<T: CtrlEventHandler> Sync for CtrlIrq<T> {}

impl<T: CtrlEventHandler> CtrlIrq<T> {
    /// Binds the frontend's `port`; events go to `handler`.
    pub(crate) fn bind(xdev: &XenbusDevice, port: u32, handler: Arc<T>) -> Result<Self> {
        let mut raw: *mut ffi::nbrs_ctrl_irq = core::ptr::null_mut();
        // SAFETY: `handler` is kept alive in the returned value until after
        // the channel is unbound (Drop), so the callback's pointer stays
        // valid; `raw` is a valid out pointer.
        let r = unsafe {
            ffi::nbrs_ctrl_irq_bind(
                xdev.as_raw(),
                port,
                Some(Self::event),
                Arc::as_ptr(&handler) as *mut c_void,
                &mut raw,
            )
        };
        kernel::error::to_result(r)?;
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        Ok(Self { ptr, _handler: handler })
    }

    /// # Safety
    ///
    /// `ctx` is the `Arc<T>` pointer given at binding, still alive; `c` is
    /// the binding, alive while the callback runs.
    unsafe extern "C" fn event(ctx: *mut c_void, c: *mut ffi::nbrs_ctrl_irq) -> ffi::nbrs_ctrl_run {
        let Some(ptr) = NonNull::new(c) else {
            return CtrlEvent::Idle.to_c();
        };
        // SAFETY: per the function's contract.
        let t = unsafe { &*(ctx as *const T) };
        t.ctrl_event(&CtrlIrqRef { ptr, _life: PhantomData }).to_c()
    }
}

impl<T: CtrlEventHandler> Drop for CtrlIrq<T> {
    fn drop(&mut self) {
        // SAFETY: bound in `bind`, unbound exactly once; this waits for the
        // handler, after which `_handler` may go.
        unsafe { ffi::nbrs_ctrl_irq_unbind(self.ptr.as_ptr()) }
    }
}

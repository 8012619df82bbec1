// SPDX-License-Identifier: GPL-2.0
//! [`DevTimer`]: a kernel timer bound to one queue of a VIF net_device whose
//! callback (softirq context) gets that queue's device view, e.g. to
//! reschedule its NAPI. Used for the guest-TX credit timer (xen-netback's
//! per-queue `credit_timeout`).

use super::ffi;
use super::netdev::NetDev;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Receiver of [`DevTimer`] expiries.
pub(crate) trait DevTimerHandler: Send + Sync + 'static {
    /// The timer expired (softirq context: must not sleep); `dev` is the
    /// view of the timer's queue.
    fn timer_fired(&self, dev: &NetDev<'_>);
}

/// An owned kernel timer; shut down (waiting for a running callback) and
/// freed on drop.
///
/// # Invariants
///
/// `ptr` comes from `nbrs_timer_new` and is freed only in `Drop`; `_ctx` is
/// the context the C side passes to the callback, kept alive until then.
/// The device the timer was created for outlives it (owners drop the timer
/// before the device is freed: it lives in the VIF's queue, which is
/// dropped at detach).
pub(crate) struct DevTimer<T: DevTimerHandler> {
    ptr: NonNull<ffi::nbrs_timer>,
    _ctx: Arc<T>,
}

// SAFETY: the timer functions may be called from any thread.
unsafe impl<T: DevTimerHandler> Send for DevTimer<T> {}
// SAFETY: `&self` methods only call timer functions that are thread-safe.
unsafe impl<T: DevTimerHandler> Sync for DevTimer<T> {}

impl<T: DevTimerHandler> DevTimer<T> {
    /// A new, unarmed timer for `dev`'s queue.
    pub(crate) fn new(dev: &NetDev<'_>, ctx: Arc<T>) -> Result<Self> {
        // SAFETY: `ctx` stays alive in the returned value until the timer is
        // shut down in Drop; `dev` outlives the timer (type invariant).
        let p = unsafe {
            ffi::nbrs_timer_new(dev.raw().cast(), dev.queue(), Some(Self::fired), Arc::as_ptr(&ctx) as *mut c_void)
        };
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        Ok(Self { ptr, _ctx: ctx })
    }

    /// Arms (or moves) the timer to fire at jiffy `expires`.
    pub(crate) fn arm(&self, expires: u64) {
        // SAFETY: live timer (type invariant).
        unsafe { ffi::nbrs_timer_arm(self.ptr.as_ptr(), expires as kernel::ffi::c_ulong) }
    }

    /// Whether the timer is armed.
    pub(crate) fn pending(&self) -> bool {
        // SAFETY: live timer (type invariant).
        unsafe { ffi::nbrs_timer_pending(self.ptr.as_ptr()) }
    }

    /// # Safety
    ///
    /// Called by timer.c with the context registered in `new` (alive until
    /// the timer is shut down) and the device and queue the timer was made
    /// for.
    unsafe extern "C" fn fired(ctx: *mut c_void, dev: *mut kernel::bindings::net_device, queue: u32) {
        let Some(t) = NonNull::new(ctx.cast::<T>()) else {
            return;
        };
        // SAFETY: per the function's contract the device is live.
        let Some(dev) = (unsafe { NetDev::from_raw(dev, queue) }) else {
            return;
        };
        // SAFETY: per the function's contract `ctx` is a live `T`.
        unsafe { t.as_ref() }.timer_fired(&dev);
    }
}

impl<T: DevTimerHandler> Drop for DevTimer<T> {
    fn drop(&mut self) {
        // SAFETY: created in `new`, freed exactly once here; this waits for
        // a running callback, after which `_ctx` may go.
        unsafe { ffi::nbrs_timer_free(self.ptr.as_ptr()) }
    }
}

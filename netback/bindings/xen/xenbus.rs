// SPDX-License-Identifier: GPL-2.0
//! xenbus: the backend driver for devicetype "vif", the device handle and
//! xenstore watches.

use crate::bindings::ffi;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::{CStrExt, CString};
use kernel::sync::Arc;

// The protocol core's `XenbusState` is the one state type: its discriminants are the C
// `enum xenbus_state` values.
use crate::netif::xenbus_state::XenbusState;

/// A reference-counted handle on a `struct xenbus_device`.
///
/// # Invariants
///
/// `ptr` points to a live xenbus device on which this handle holds a
/// `get_device()` reference.
pub(crate) struct XenbusDevice {
    ptr: NonNull<ffi::xenbus_device>,
}

// SAFETY: the xenbus/xenstore functions used through the handle may be
// called from any thread; the reference count is atomic.
unsafe impl Send for XenbusDevice {}
// SAFETY: see `Send`; all methods take `&self` and are thread-safe in C.
unsafe impl Sync for XenbusDevice {}

impl Clone for XenbusDevice {
    fn clone(&self) -> Self {
        // SAFETY: by the type invariant the device is live.
        unsafe { ffi::nbrs_xenbus_get(self.ptr.as_ptr()) };
        Self { ptr: self.ptr }
    }
}

impl Drop for XenbusDevice {
    fn drop(&mut self) {
        // SAFETY: drops the reference taken when this handle was made.
        unsafe { ffi::nbrs_xenbus_put(self.ptr.as_ptr()) };
    }
}

impl XenbusDevice {
    /// Takes a new reference on a device the xenbus core handed us.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct xenbus_device`.
    unsafe fn from_raw(ptr: *mut ffi::xenbus_device) -> Option<Self> {
        let ptr = NonNull::new(ptr)?;
        // SAFETY: live per the caller's guarantee.
        unsafe { ffi::nbrs_xenbus_get(ptr.as_ptr()) };
        Some(Self { ptr })
    }

    pub(in crate::bindings) fn as_raw(&self) -> *mut ffi::xenbus_device {
        self.ptr.as_ptr()
    }

    /// Our xenstore directory (`backend/vif/<domid>/<handle>`).
    pub(crate) fn nodename(&self) -> &CStr {
        // SAFETY: nodename is a NUL-terminated string owned by the device,
        // live (and unchanged) while we hold a reference.
        unsafe { CStr::from_char_ptr(ffi::nbrs_xenbus_nodename(self.as_raw())) }
    }

    /// The frontend's xenstore directory.
    pub(crate) fn otherend(&self) -> &CStr {
        // SAFETY: otherend is set before probe and only replaced on resume,
        // which backends do not implement; see `nodename`.
        unsafe { CStr::from_char_ptr(ffi::nbrs_xenbus_otherend(self.as_raw())) }
    }

    /// The frontend's domain id.
    pub(crate) fn otherend_id(&self) -> u16 {
        // SAFETY: live device.
        unsafe { ffi::nbrs_xenbus_otherend_id(self.as_raw()) as u16 }
    }

    /// `&dev->dev`, for parenting the net_device.
    pub(in crate::bindings) fn as_device(&self) -> *mut kernel::bindings::device {
        // SAFETY: live device.
        unsafe { ffi::nbrs_xenbus_to_device(self.as_raw()).cast() }
    }

    fn read_ulong_in(dir: &CStr, node: &CStr) -> Result<u64> {
        let mut v: kernel::ffi::c_ulong = 0;
        // SAFETY: both strings are NUL-terminated; `v` is a valid out pointer.
        let r = unsafe { ffi::nbrs_xenbus_read_ulong(dir.as_char_ptr(), node.as_char_ptr(), &mut v) };
        kernel::error::to_result(r)?;
        Ok(v as u64)
    }

    /// Reads an unsigned number from our own directory.
    pub(crate) fn read_own_ulong(&self, node: &CStr) -> Result<u64> {
        Self::read_ulong_in(self.nodename(), node)
    }

    /// Reads `<frontend>/<name>` (or `<frontend>/queue-<q>/<name>`) into
    /// `buf` as a NUL-terminated string; returns its length.
    pub(crate) fn read_frontend_key(&self, queue: Option<u32>, name: &str, buf: &mut [u8]) -> Result<usize> {
        let otherend = self.otherend().to_str().map_err(|_| EINVAL)?;
        let node = CString::try_from_fmt(fmt!("{}", name))?;
        match queue {
            None => Self::read_str_in(self.otherend(), &node, buf),
            Some(q) => {
                let dir = CString::try_from_fmt(fmt!("{}/queue-{}", otherend, q))?;
                Self::read_str_in(&dir, &node, buf)
            }
        }
    }

    fn read_str_in(dir: &CStr, node: &CStr, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: `buf` is writable for `buf.len()` bytes; the C side writes
        // at most that many including the NUL.
        let r = unsafe {
            ffi::nbrs_xenbus_read_str(dir.as_char_ptr(), node.as_char_ptr(), buf.as_mut_ptr().cast(), buf.len() as u32)
        };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(r as usize)
    }

    /// Reads a string from our own directory into `buf`; returns its length.
    pub(crate) fn read_own_str(&self, node: &CStr, buf: &mut [u8]) -> Result<usize> {
        Self::read_str_in(self.nodename(), node, buf)
    }

    /// Writes an unsigned number into our own directory.
    pub(crate) fn write_own_ulong(&self, node: &CStr, val: u64) -> Result {
        // SAFETY: NUL-terminated strings.
        kernel::error::to_result(unsafe {
            ffi::nbrs_xenbus_write_ulong(self.nodename().as_char_ptr(), node.as_char_ptr(), val as kernel::ffi::c_ulong)
        })
    }

    /// Removes a node from our own directory.
    pub(crate) fn rm_own(&self, node: &CStr) {
        // SAFETY: NUL-terminated strings. The result does not matter: the
        // node may simply not exist.
        let _ = unsafe { ffi::nbrs_xenbus_rm(self.nodename().as_char_ptr(), node.as_char_ptr()) };
    }

    /// `xenbus_switch_state()`.
    pub(crate) fn switch_state(&self, state: XenbusState) {
        // SAFETY: live device. Failures are reported by xenbus itself
        // (xenbus_switch_state calls xenbus_dev_fatal).
        let _ = unsafe { ffi::nbrs_xenbus_switch_state(self.as_raw(), state.to_u32() as i32) };
    }

    /// `xenbus_dev_fatal()`: logs, records `error` in xenstore and moves the
    /// device to Closing.
    pub(crate) fn dev_fatal(&self, err: Error, msg: &CStr) {
        // SAFETY: live device; msg is printed through "%s".
        unsafe { ffi::nbrs_xenbus_dev_fatal(self.as_raw(), err.to_errno(), msg.as_char_ptr()) }
    }

    /// `xenbus_dev_is_online()`.
    pub(crate) fn is_online(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::nbrs_xenbus_dev_is_online(self.as_raw()) != 0 }
    }

    /// Sends the ONLINE/OFFLINE uevent (udev-driven hotplug setups).
    pub(crate) fn uevent_online(&self, online: bool) {
        // SAFETY: live device.
        unsafe { ffi::nbrs_xenbus_uevent_online(self.as_raw(), online) }
    }

    /// `device_unregister(&dev->dev)`: the frontend is gone for good. Must
    /// not be called with locks held that `remove` takes.
    pub(crate) fn unregister(&self) {
        // SAFETY: live device; our own reference keeps the memory alive
        // after the driver core drops its references.
        unsafe { ffi::nbrs_xenbus_device_unregister(self.as_raw()) }
    }
}

/// A xenbus backend driver.
pub(crate) trait XenbusBackend: Send + Sync + Sized + 'static {
    /// A new backend device appeared.
    fn probe(dev: XenbusDevice) -> Result<Arc<Self>>;
    /// The frontend's state changed to `state` (raw `enum xenbus_state`;
    /// xenwatch thread).
    fn frontend_changed(self: &Arc<Self>, state: u32);
    /// The device goes away; tear everything down.
    fn remove(self: Arc<Self>);
}

/// A registered xenbus backend driver for `T`. Unregisters on drop.
pub(crate) struct Registration<T: XenbusBackend> {
    _ops: KBox<ffi::nbrs_xenbus_ops>,
    _t: PhantomData<T>,
}

// SAFETY: the registration is only touched at module init/exit.
unsafe impl<T: XenbusBackend> Send for Registration<T> {}
// SAFETY: no methods; see `Send`.
unsafe impl<T: XenbusBackend> Sync for Registration<T> {}

impl<T: XenbusBackend> Registration<T> {
    /// Registers the backend driver for devicetype "vif".
    pub(crate) fn register() -> Result<Self> {
        let ops = KBox::new(
            ffi::nbrs_xenbus_ops {
                probe: Some(Self::probe_callback),
                remove: Some(Self::remove_callback),
                otherend_changed: Some(Self::otherend_changed_callback),
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` stays allocated until after unregistering (Drop).
        kernel::error::to_result(unsafe { ffi::nbrs_xenbus_register(&*ops) })?;
        Ok(Self { _ops: ops, _t: PhantomData })
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live device.
    unsafe extern "C" fn probe_callback(dev: *mut ffi::xenbus_device) -> kernel::ffi::c_int {
        // SAFETY: live device per the xenbus core.
        let Some(handle) = (unsafe { XenbusDevice::from_raw(dev) }) else {
            return EINVAL.to_errno();
        };
        match T::probe(handle) {
            Ok(be) => {
                // SAFETY: the Arc's reference is owned by drvdata until
                // `remove_callback` takes it back.
                unsafe { ffi::nbrs_xenbus_set_drvdata(dev, Arc::into_raw(be) as *mut c_void) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// Borrows the backend stored in drvdata.
    ///
    /// # Safety
    ///
    /// `dev` is live and its drvdata is either NULL or an `Arc<T>` pointer
    /// set by `probe_callback` and not yet taken by `remove_callback`.
    unsafe fn backend(dev: *mut ffi::xenbus_device) -> Option<Arc<T>> {
        // SAFETY: per the function's contract.
        let p = unsafe { ffi::nbrs_xenbus_get_drvdata(dev) } as *const T;
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` and drvdata still owns that
        // reference, so the count is > 0: take an extra one for the caller.
        let borrowed = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
        Some((*borrowed).clone())
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live, probed device.
    unsafe extern "C" fn otherend_changed_callback(dev: *mut ffi::xenbus_device, state: kernel::ffi::c_int) {
        // SAFETY: called by xenbus on a live device; drvdata follows the
        // contract of `backend`.
        if let Some(be) = unsafe { Self::backend(dev) } {
            be.frontend_changed(state as u32);
        }
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live, probed device.
    unsafe extern "C" fn remove_callback(dev: *mut ffi::xenbus_device) {
        // SAFETY: live device.
        let p = unsafe { ffi::nbrs_xenbus_get_drvdata(dev) } as *const T;
        if p.is_null() {
            return;
        }
        // SAFETY: live device; clearing drvdata first so nothing borrows the
        // pointer we are about to take back.
        unsafe { ffi::nbrs_xenbus_set_drvdata(dev, core::ptr::null_mut()) };
        // SAFETY: takes back the reference `probe_callback` stored.
        let be = unsafe { Arc::from_raw(p) };
        be.remove();
    }
}

impl<T: XenbusBackend> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this removes all devices first.
        unsafe { ffi::nbrs_xenbus_unregister() }
    }
}

/// Receiver of xenstore watch events.
pub(crate) trait WatchHandler: Send + Sync + 'static {
    /// The watched node changed (xenwatch thread, no locks held).
    fn watch_fired(&self);
}

/// A registered watch on `<nodename>/<node>`; unregistered on drop (which
/// waits for a running callback unless called from the xenwatch thread).
pub(crate) struct Watch<T: WatchHandler> {
    ptr: NonNull<ffi::nbrs_watch>,
    _ctx: Arc<T>,
}

// SAFETY: unregistering works from any thread.
unsafe impl<T: WatchHandler> Send for Watch<T> {}
// SAFETY: no `&self` methods.
unsafe impl<T: WatchHandler> Sync for Watch<T> {}

impl<T: WatchHandler> Watch<T> {
    /// Registers a watch on `<nodename>/<node>`; xenstore fires it once
    /// right away.
    pub(crate) fn register(dev: &XenbusDevice, node: &CStr, ctx: Arc<T>) -> Result<Self> {
        // SAFETY: `ctx` is kept alive in the returned Watch until after the
        // watch is unregistered, so the callback's pointer stays valid.
        let p = unsafe {
            ffi::nbrs_watch_register(
                dev.as_raw(),
                node.as_char_ptr(),
                Some(Self::fired),
                Arc::as_ptr(&ctx) as *mut c_void,
            )
        };
        Self::from_registered(p, ctx)
    }

    /// Registers a watch on `<frontend dir>/<node>`; fires once right away.
    pub(crate) fn register_frontend(dev: &XenbusDevice, node: &CStr, ctx: Arc<T>) -> Result<Self> {
        // SAFETY: as in `register`.
        let p = unsafe {
            ffi::nbrs_watch_register_frontend(
                dev.as_raw(),
                node.as_char_ptr(),
                Some(Self::fired),
                Arc::as_ptr(&ctx) as *mut c_void,
            )
        };
        Self::from_registered(p, ctx)
    }

    fn from_registered(p: *mut ffi::nbrs_watch, ctx: Arc<T>) -> Result<Self> {
        Ok(Self { ptr: crate::bindings::from_err_ptr(p)?, _ctx: ctx })
    }

    /// # Safety
    ///
    /// `ctx` is the `Arc<T>` pointer given at registration, still alive.
    unsafe extern "C" fn fired(ctx: *mut c_void) {
        // SAFETY: per the function's contract.
        let t = unsafe { &*(ctx as *const T) };
        t.watch_fired();
    }
}

impl<T: WatchHandler> Drop for Watch<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, unregistered exactly once.
        unsafe { ffi::nbrs_watch_unregister(self.ptr.as_ptr()) }
    }
}

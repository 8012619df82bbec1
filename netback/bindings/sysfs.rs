// SPDX-License-Identifier: GPL-2.0
//! [`SysfsGroup`]: a named sysfs attribute group on a VIF net_device
//! (`/sys/class/net/vifD.H/<group>/`) whose attributes are served by a
//! [`SysfsAttrs`] implementation.

use super::ffi;
use super::netdev::NetDev;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The attributes of a group and their handlers.
pub(crate) trait SysfsAttrs: Send + Sync + 'static {
    /// Attribute names and whether each is writable (index = position).
    const ATTRS: &'static [(&'static CStr, bool)];
    /// Writes attribute `index`'s value (process context).
    fn show(&self, index: usize, out: &mut SysfsText<'_>) -> fmt::Result;
    /// Sets attribute `index` from `value` (the raw write, usually ending
    /// in a newline). `Err` fails the write and must change nothing.
    fn store(&self, index: usize, value: &[u8]) -> Result;
}

/// A sysfs page being filled; output beyond it is an error.
pub(crate) struct SysfsText<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for SysfsText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A created attribute group; removed on drop (which waits for running
/// show/store calls).
///
/// # Invariants
///
/// `ptr` comes from `nbrs_sysfs_create` and is removed only in `Drop`;
/// `_ctx` is the context the callbacks get, alive until then. The group is
/// dropped before its device is unregistered.
pub(crate) struct SysfsGroup<T: SysfsAttrs> {
    ptr: NonNull<ffi::nbrs_sysfs>,
    _ctx: Arc<T>,
}

// SAFETY: removal works from any thread.
unsafe impl<T: SysfsAttrs> Send for SysfsGroup<T> {}
// SAFETY: no `&self` methods.
unsafe impl<T: SysfsAttrs> Sync for SysfsGroup<T> {}

impl<T: SysfsAttrs> SysfsGroup<T> {
    const OPS: ffi::nbrs_sysfs_ops = ffi::nbrs_sysfs_ops { show: Some(Self::show_cb), store: Some(Self::store_cb) };

    /// Creates `/sys/class/net/<dev>/<name>/` (the device is registered).
    pub(crate) fn create(dev: &NetDev<'_>, name: &'static CStr, ctx: Arc<T>) -> Result<Self> {
        let mut names = KVec::with_capacity(T::ATTRS.len(), GFP_KERNEL)?;
        let mut writable = KVec::with_capacity(T::ATTRS.len(), GFP_KERNEL)?;
        for (n, w) in T::ATTRS {
            names.push(n.as_char_ptr(), GFP_KERNEL)?;
            writable.push(*w, GFP_KERNEL)?;
        }
        // SAFETY: the names are 'static; the arrays are read during the call
        // only; `OPS` is a constant promoted to 'static; `ctx` stays alive
        // in the returned value until the group is removed.
        let p = unsafe {
            ffi::nbrs_sysfs_create(
                dev.raw().cast(),
                name.as_char_ptr(),
                names.as_ptr(),
                writable.as_ptr(),
                T::ATTRS.len() as u32,
                &Self::OPS,
                Arc::as_ptr(&ctx) as *mut c_void,
            )
        };
        Ok(Self { ptr: super::from_err_ptr(p)?, _ctx: ctx })
    }

    /// # Safety
    ///
    /// Called by sysfs.c with the context given to `create` (alive until
    /// the group is removed) and a writable buffer of `size` bytes.
    unsafe extern "C" fn show_cb(ctx: *mut c_void, index: u32, buf: *mut u8, size: usize) -> isize {
        let (Some(t), Some(buf)) = (NonNull::new(ctx.cast::<T>()), NonNull::new(buf)) else {
            return EINVAL.to_errno() as isize;
        };
        // SAFETY: per the function's contract.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf.as_ptr(), size) };
        let mut out = SysfsText { buf, len: 0 };
        // SAFETY: per the function's contract `ctx` is a live `T`.
        match unsafe { t.as_ref() }.show(index as usize, &mut out) {
            Ok(()) => out.len as isize,
            Err(_) => EINVAL.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by sysfs.c with the context given to `create` (alive until
    /// the group is removed) and `len` readable bytes at `buf`.
    unsafe extern "C" fn store_cb(ctx: *mut c_void, index: u32, buf: *const u8, len: usize) -> i32 {
        let (Some(t), Some(buf)) = (NonNull::new(ctx.cast::<T>()), NonNull::new(buf.cast_mut())) else {
            return EINVAL.to_errno();
        };
        // SAFETY: per the function's contract.
        let value = unsafe { core::slice::from_raw_parts(buf.as_ptr(), len) };
        // SAFETY: per the function's contract `ctx` is a live `T`.
        match unsafe { t.as_ref() }.store(index as usize, value) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

impl<T: SysfsAttrs> Drop for SysfsGroup<T> {
    fn drop(&mut self) {
        // SAFETY: created in `create`, removed exactly once here; this waits
        // for running callbacks, after which `_ctx` may go.
        unsafe { ffi::nbrs_sysfs_remove(self.ptr.as_ptr()) }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! debugfs: the module's root directory `xen-netback-rs` ([`DebugfsRoot`])
//! and one [`DebugfsDir`] per VIF with read-only files written by a
//! [`DebugfsShow`] implementation. (The kernel crate's `debugfs::Dir`
//! cannot hand a module-wide root to the per-device probe path without
//! global state, so the root lives in C.)

use super::ffi;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The module's root directory; removed on drop (after every VIF's).
pub(crate) struct DebugfsRoot(());

impl DebugfsRoot {
    /// Creates `/sys/kernel/debug/xen-netback-rs` (nothing when debugfs is
    /// unavailable: the VIF directories are then silently empty).
    pub(crate) fn create() -> Self {
        // SAFETY: called once at module init.
        unsafe { ffi::nbrs_debugfs_init() };
        DebugfsRoot(())
    }
}

impl Drop for DebugfsRoot {
    fn drop(&mut self) {
        // SAFETY: module exit, after the xenbus driver (and every VIF
        // directory) is gone.
        unsafe { ffi::nbrs_debugfs_exit() }
    }
}

/// Content of the files of a [`DebugfsDir`].
pub(crate) trait DebugfsShow: Send + Sync + 'static {
    /// Writes file `arg`'s content (process context).
    fn show(&self, arg: u32, out: &mut SeqText<'_>) -> fmt::Result;
}

/// The seq_file of a file being read.
pub(crate) struct SeqText<'a> {
    m: NonNull<kernel::bindings::seq_file>,
    _file: core::marker::PhantomData<&'a mut kernel::bindings::seq_file>,
}

impl fmt::Write for SeqText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the seq_file of the running show call.
        unsafe { ffi::nbrs_seq_write(self.m.as_ptr(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// A VIF's directory under the root; removed on drop (waiting for readers
/// inside show; reads of files still open afterwards fail with EIO).
///
/// # Invariants
///
/// `ptr` comes from `nbrs_debugfs_dir` and is freed only in `Drop`; `_ctx`
/// is the files' context, alive until then.
pub(crate) struct DebugfsDir<T: DebugfsShow> {
    ptr: NonNull<ffi::nbrs_debugfs_dir>,
    ctx: Arc<T>,
}

// SAFETY: removal works from any thread.
unsafe impl<T: DebugfsShow> Send for DebugfsDir<T> {}
// SAFETY: `&self` methods only create files, which debugfs serializes.
unsafe impl<T: DebugfsShow> Sync for DebugfsDir<T> {}

impl<T: DebugfsShow> DebugfsDir<T> {
    /// Creates `xen-netback-rs/<name>`.
    pub(crate) fn create(name: &CStr, ctx: Arc<T>) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated (debugfs copies it).
        let p = unsafe { ffi::nbrs_debugfs_dir(name.as_char_ptr()) };
        let ptr = NonNull::new(p).ok_or(ENOMEM)?;
        Ok(Self { ptr, ctx })
    }

    /// Adds the read-only file `name`, whose content is `T::show(arg)`.
    /// Without debugfs this does nothing.
    pub(crate) fn file(&self, name: &CStr, arg: u32) {
        // SAFETY: live directory; `ctx` outlives the file (removed with
        // the directory in Drop before `ctx` goes).
        let _ = unsafe {
            ffi::nbrs_debugfs_file(
                self.ptr.as_ptr(),
                name.as_char_ptr(),
                Some(Self::show_cb),
                Arc::as_ptr(&self.ctx) as *mut c_void,
                arg,
            )
        };
    }

    /// # Safety
    ///
    /// Called by debugfs.c with the context given to `file` (alive until
    /// the directory is removed) and the seq_file being filled.
    unsafe extern "C" fn show_cb(ctx: *mut c_void, arg: u32, m: *mut kernel::bindings::seq_file) -> i32 {
        let (Some(t), Some(m)) = (NonNull::new(ctx.cast::<T>()), NonNull::new(m)) else {
            return EINVAL.to_errno();
        };
        let mut out = SeqText { m, _file: core::marker::PhantomData };
        // SAFETY: per the function's contract `ctx` is a live `T`.
        match unsafe { t.as_ref() }.show(arg, &mut out) {
            Ok(()) => 0,
            Err(_) => EINVAL.to_errno(),
        }
    }
}

impl<T: DebugfsShow> Drop for DebugfsDir<T> {
    fn drop(&mut self) {
        // SAFETY: created in `create`, removed exactly once here; waits for
        // show calls in progress, after which `ctx` may go.
        unsafe { ffi::nbrs_debugfs_remove(self.ptr.as_ptr()) }
    }
}

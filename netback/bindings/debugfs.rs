// SPDX-License-Identifier: GPL-2.0
//! debugfs: the module's root directory `xen-netback-rs` ([`DebugfsRoot`])
//! and one [`DebugfsDir`] per VIF with read-only (0444) seq_file files
//! written by a [`DebugfsShow`] implementation.
//!
//! Over the raw debugfs calls with a Rust `file_operations` table rather
//! than the kernel crate's `kernel::debugfs`: its read-only files are
//! created with mode 0400 (ours are 0444, like every other read-only file
//! the driver has), and its `file_operations` have no `owner`, so nothing
//! would keep the module loaded while a file is held open (debugfs calls
//! the table's `release` even after the file was removed).
//!
//! Files go through debugfs' file proxy: removing a directory waits for
//! readers inside `show`, and later reads of a still-open file fail with
//! EIO, so the files' context may go right after the removal.

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The module's root directory (NULL when debugfs is unavailable or before
/// [`DebugfsRoot::create`]). A module-wide pointer, as in C: the VIF
/// directories are created from the xenbus paths, which are not handed the
/// module's state.
static ROOT: AtomicPtr<bindings::dentry> = AtomicPtr::new(core::ptr::null_mut());

/// A debugfs dentry pointer (which may be an `ERR_PTR`) as an optional
/// live dentry.
fn live_dentry(d: *mut bindings::dentry) -> Option<NonNull<bindings::dentry>> {
    super::from_err_ptr(d).ok()
}

/// The module's root directory; removed on drop (after every VIF's).
pub(crate) struct DebugfsRoot(());

impl DebugfsRoot {
    /// Creates `/sys/kernel/debug/xen-netback-rs` (nothing when debugfs is
    /// unavailable: the VIF directories then have no files).
    pub(crate) fn create() -> Self {
        // SAFETY: a static NUL-terminated name; a NULL parent is the
        // debugfs root.
        let d = unsafe { bindings::debugfs_create_dir(c"xen-netback-rs".as_char_ptr(), core::ptr::null_mut()) };
        let root = live_dentry(d).map_or(core::ptr::null_mut(), NonNull::as_ptr);
        ROOT.store(root, Ordering::Release);
        DebugfsRoot(())
    }
}

impl Drop for DebugfsRoot {
    fn drop(&mut self) {
        let root = ROOT.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: module exit, after the xenbus driver (and with it every
        // VIF directory) is gone; `debugfs_remove` takes NULL and removes
        // recursively.
        unsafe { bindings::debugfs_remove(root) }
    }
}

/// Content of the files of a [`DebugfsDir`].
pub(crate) trait DebugfsShow: Send + Sync + 'static {
    /// Writes file `arg`'s content (process context).
    fn show(&self, arg: u32, out: &mut SeqText<'_>) -> fmt::Result;
}

/// The seq_file of a file being read.
pub(crate) struct SeqText<'a> {
    m: NonNull<bindings::seq_file>,
    _file: PhantomData<&'a mut bindings::seq_file>,
}

impl fmt::Write for SeqText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the seq_file of the running show call. On overflow
        // seq_file notices and calls show again with a bigger buffer.
        unsafe { bindings::seq_write(self.m.as_ptr(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// What a file's inode points to: the directory's context and the file's
/// argument.
struct FileCtx<T> {
    ctx: Arc<T>,
    arg: u32,
}

/// A VIF's directory under the root; removed on drop (waiting for readers
/// inside show; reads of files still open afterwards fail with EIO).
///
/// # Invariants
///
/// `dentry` is NULL or a live directory created in `create`, removed only
/// in `Drop`. Every file in it has one of `files` as its inode's private
/// data, alive until the directory is removed.
pub(crate) struct DebugfsDir<T: DebugfsShow> {
    dentry: *mut bindings::dentry,
    ctx: Arc<T>,
    files: KVec<KBox<FileCtx<T>>>,
}

// SAFETY: removal works from any thread; `T` is Send + Sync.
unsafe impl<T: DebugfsShow> Send for DebugfsDir<T> {}
// SAFETY: no `&self` methods touch the directory.
unsafe impl<T: DebugfsShow> Sync for DebugfsDir<T> {}

impl<T: DebugfsShow> DebugfsDir<T> {
    /// The files' operations: the stock single-record seq_file ones, with
    /// an `open` that hands the file's `FileCtx<T>` to `show`.
    const FOPS: bindings::file_operations = bindings::file_operations {
        // Holds the module while a file is open (as the C `THIS_MODULE`).
        owner: crate::THIS_MODULE.as_ptr(),
        open: Some(Self::open_cb),
        read: Some(bindings::seq_read),
        llseek: Some(bindings::seq_lseek),
        release: Some(bindings::single_release),
        ..pin_init::zeroed()
    };

    /// Creates `xen-netback-rs/<name>` (without debugfs: a directory that
    /// takes no files).
    pub(crate) fn create(name: &CStr, ctx: Arc<T>) -> Self {
        let root = ROOT.load(Ordering::Acquire);
        let dentry = if root.is_null() {
            core::ptr::null_mut()
        } else {
            // SAFETY: `name` is NUL-terminated (debugfs copies it); `root`
            // is the live root directory (removed only at module exit,
            // after every VIF).
            let d = unsafe { bindings::debugfs_create_dir(name.as_char_ptr(), root) };
            live_dentry(d).map_or(core::ptr::null_mut(), NonNull::as_ptr)
        };
        Self { dentry, ctx, files: KVec::new() }
    }

    /// Adds the read-only file `name`, whose content is `T::show(arg)`.
    /// Without debugfs, or when out of memory, this does nothing.
    pub(crate) fn file(&mut self, name: &CStr, arg: u32) {
        if self.dentry.is_null() {
            return;
        }
        let Ok(file) = KBox::new(FileCtx { ctx: self.ctx.clone(), arg }, GFP_KERNEL) else {
            return;
        };
        // The box's content does not move when the box moves into `files`.
        let data = core::ptr::from_ref::<FileCtx<T>>(&*file).cast_mut().cast::<c_void>();
        if self.files.push(file, GFP_KERNEL).is_err() {
            return;
        }
        // `FOPS` is a constant promoted to 'static whose `open` expects
        // exactly such a `FileCtx<T>` as `data`.
        // SAFETY: live directory (type invariant), NUL-terminated `name`
        // (copied), `data` alive in `files` until the directory goes.
        let d = unsafe {
            bindings::debugfs_create_file_full(
                name.as_char_ptr(),
                0o444,
                self.dentry,
                data,
                core::ptr::null(),
                &Self::FOPS,
            )
        };
        if live_dentry(d).is_none() {
            self.files.pop();
        }
    }

    /// `open` of the files: a single-record seq_file whose private data is
    /// the inode's `FileCtx<T>`.
    ///
    /// # Safety
    ///
    /// Called by the VFS (through debugfs' proxy) with a live inode of a
    /// file made by [`Self::file`] and the file being opened.
    unsafe extern "C" fn open_cb(inode: *mut bindings::inode, file: *mut bindings::file) -> kernel::ffi::c_int {
        // SAFETY: per the function's contract `inode` is live; its private
        // data is the file's `FileCtx<T>`, which `show_cb` expects.
        unsafe { bindings::single_open(file, Some(Self::show_cb), (*inode).i_private) }
    }

    /// `show` of the seq_file.
    ///
    /// # Safety
    ///
    /// Called by seq_file with the seq_file `open_cb` set up, whose private
    /// data is a `FileCtx<T>`; debugfs' proxy keeps the directory (and so
    /// the `FileCtx<T>`) from going while this runs.
    unsafe extern "C" fn show_cb(m: *mut bindings::seq_file, _v: *mut c_void) -> kernel::ffi::c_int {
        let Some(m) = NonNull::new(m) else {
            return EINVAL.to_errno();
        };
        // SAFETY: per the function's contract `m` is live and its private
        // data a live `FileCtx<T>`.
        let Some(file) = NonNull::new(unsafe { (*m.as_ptr()).private }.cast::<FileCtx<T>>()) else {
            return EINVAL.to_errno();
        };
        // SAFETY: see above; only shared references are made to it.
        let file = unsafe { file.as_ref() };
        let mut out = SeqText { m, _file: PhantomData };
        match file.ctx.show(file.arg, &mut out) {
            Ok(()) => 0,
            Err(_) => EINVAL.to_errno(),
        }
    }
}

impl<T: DebugfsShow> Drop for DebugfsDir<T> {
    fn drop(&mut self) {
        // SAFETY: `dentry` is NULL or the live directory, removed exactly
        // once, here (recursively, waiting for show calls in progress);
        // `files` are freed after this body.
        unsafe { bindings::debugfs_remove(self.dentry) }
    }
}

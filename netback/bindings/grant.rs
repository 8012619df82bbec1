// SPDX-License-Identifier: GPL-2.0
//! Grant copy: batches of up to 64 `struct gnttab_copy` per hypercall.

use super::ffi;
use kernel::prelude::*;

/// Copy ops per `gnttab_batch_copy` hypercall.
pub(crate) const COPY_BATCH: usize = 64;

/// `GNTST_okay`.
const GNTST_OKAY: i16 = 0;

/// Where a local chunk of memory lives: Xen frame number and offset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalFrame {
    /// Guest frame number of our page (DOMID_SELF).
    pub(crate) gfn: u64,
    /// Offset within the Xen page.
    pub(crate) offset: u16,
}

/// A reusable batch of grant copy operations.
pub(crate) struct CopyBatch {
    ops: KBox<[ffi::gnttab_copy; COPY_BATCH]>,
    len: usize,
}

impl CopyBatch {
    /// Allocates an empty batch.
    pub(crate) fn new() -> Result<Self> {
        let mut ops = KBox::<[ffi::gnttab_copy; COPY_BATCH]>::new_uninit(GFP_KERNEL)?;
        // SAFETY: `gnttab_copy` is plain old data for which all-zero bytes
        // are a valid value; we zero the whole array before assuming init.
        let ops = unsafe {
            ops.as_mut_ptr().write_bytes(0, 1);
            ops.assume_init()
        };
        Ok(Self { ops, len: 0 })
    }

    /// Number of queued ops.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Room for `n` more ops?
    pub(crate) fn has_room(&self, n: usize) -> bool {
        self.len + n <= COPY_BATCH
    }

    /// Drops all queued ops.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, to_guest: bool, domid: u16, gref: u32, remote_offset: u16, local: LocalFrame, len: u16) -> Result<usize> {
        let idx = self.len;
        let op = self.ops.get_mut(idx).ok_or(ENOSPC)?;
        // SAFETY: `op` is a valid, exclusively borrowed gnttab_copy.
        unsafe { ffi::nbrs_gntcopy_fill(op, to_guest, domid, gref, remote_offset, local.gfn, local.offset, len) };
        self.len += 1;
        Ok(idx)
    }

    /// Queues a copy of `len` bytes from the guest's grant into our frame.
    pub(crate) fn push_from_guest(&mut self, domid: u16, gref: u32, remote_offset: u16, local: LocalFrame, len: u16) -> Result<usize> {
        self.push(false, domid, gref, remote_offset, local, len)
    }

    /// Queues a copy of `len` bytes from our frame into the guest's grant.
    pub(crate) fn push_to_guest(&mut self, domid: u16, gref: u32, remote_offset: u16, local: LocalFrame, len: u16) -> Result<usize> {
        self.push(true, domid, gref, remote_offset, local, len)
    }

    /// Runs the queued ops in one hypercall (retrying GNTST_eagain inside
    /// `gnttab_batch_copy`). Statuses stay readable until `clear`.
    pub(crate) fn submit(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: the first `len` entries were filled by `push`.
        unsafe { ffi::nbrs_grant_copy(self.ops.as_mut_ptr(), self.len as u32) };
    }

    /// Did op `idx` succeed?
    pub(crate) fn ok(&self, idx: usize) -> bool {
        match self.ops.get(idx) {
            // SAFETY: valid gnttab_copy reference.
            Some(op) if idx < self.len => (unsafe { ffi::nbrs_gntcopy_status(op) }) == GNTST_OKAY,
            _ => false,
        }
    }

    /// Status of op `idx` (GNTST_*), for logging.
    pub(crate) fn status(&self, idx: usize) -> i16 {
        match self.ops.get(idx) {
            // SAFETY: valid gnttab_copy reference.
            Some(op) => unsafe { ffi::nbrs_gntcopy_status(op) },
            None => -1,
        }
    }
}

impl CopyBatch {
    /// Forgets ops queued after the first `len` (a packet that failed to
    /// queue completely).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
        }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! Grant copy: batches of `struct gnttab_copy`, one hypercall per batch
//! (64 for guest RX as xen-netback; guest TX batches a whole NAPI poll).
//! A copy to a guest reads our frame or, for data in a page mapped from
//! another guest, that guest's grant ([`CopySource`]).

use super::ring::XEN_PAGE_SIZE;
use crate::bindings::ffi;
use kernel::page::Page;
use kernel::prelude::*;

/// Copy ops per `gnttab_batch_copy` hypercall on the guest RX path: a
/// ring's worth of slots, so the packets of one poll (a GSO packet takes
/// ~20-40 ops) share few hypercalls, as guest TX's batch of 256 does.
pub(crate) const COPY_BATCH: usize = 256;

/// Where a local chunk of memory lives: Xen frame number and offset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalFrame {
    /// Guest frame number of our page (DOMID_SELF).
    pub(crate) gfn: u64,
    /// Offset within the Xen page.
    pub(crate) offset: u16,
}

/// A page of another guest that dom0 has grant-mapped (a foreign page, as
/// `xen_page_foreign` reports it: zero-copy guest TX of another VIF), at an
/// offset: the grant names the guest's memory for a copy.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForeignGrant {
    /// The granting guest.
    pub(crate) domid: u16,
    /// Its grant reference of the whole page.
    pub(crate) gref: u32,
    /// Offset within the page.
    pub(crate) offset: u16,
}

/// Where the bytes of a copy to a guest come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CopySource {
    /// Dom0's own memory.
    Local(LocalFrame),
    /// A foreign page: Xen copies from the granting guest's grant (dom0 owns
    /// no frame behind the mapping), so guest-to-guest data is copied once.
    Foreign(ForeignGrant),
}

/// A reusable batch of grant copy operations.
pub(crate) struct CopyBatch {
    ops: KVec<ffi::gnttab_copy>,
    len: usize,
    /// Bumped whenever the queued ops are dropped ([`CopyBatch::clear`]), so
    /// a [`CopyMark`] taken before knows they are gone.
    generation: u64,
    /// Ops and hypercalls submitted since the last [`CopyBatch::take_counts`].
    submitted: CopyCounts,
}

/// A position in a [`CopyBatch`] (see [`CopyBatch::mark`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct CopyMark {
    generation: u64,
    len: usize,
}

/// Grant copy work done, for the per-queue counters.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct CopyCounts {
    /// `gnttab_copy` operations.
    pub(crate) ops: u64,
    /// `gnttab_batch_copy` calls (one hypercall each, barring retries).
    pub(crate) batches: u64,
    /// Operations of them copying from a [`CopySource::Foreign`] page.
    pub(crate) foreign_ops: u64,
}

impl CopyBatch {
    /// Allocates an empty batch of up to `capacity` ops.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        // SAFETY: `gnttab_copy` is plain old data for which all-zero bytes
        // are a valid value.
        let zero: ffi::gnttab_copy = unsafe { core::mem::zeroed() };
        let ops = KVec::from_elem(zero, capacity, GFP_KERNEL)?;
        Ok(Self { ops, len: 0, generation: 0, submitted: CopyCounts::default() })
    }

    /// Number of queued ops.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Room for `n` more ops?
    pub(crate) fn has_room(&self, n: usize) -> bool {
        self.len + n <= self.ops.len()
    }

    /// Drops all queued ops.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Where the next op will go, to drop everything queued from here on
    /// with [`CopyBatch::discard_since`].
    pub(crate) fn mark(&self) -> CopyMark {
        CopyMark { generation: self.generation, len: self.len }
    }

    /// Drops the ops queued since `mark` that are still queued (if the
    /// batch was submitted and cleared since, only those queued after
    /// that), so that they are never submitted. Their source memory (an
    /// skb about to be freed) must not be read by Xen: ops are only ever
    /// submitted from the first `len` entries, so ops past `len` are dead.
    pub(crate) fn discard_since(&mut self, mark: CopyMark) {
        let keep = if mark.generation == self.generation { mark.len } else { 0 };
        self.truncate(keep);
    }

    /// Queues a copy of `len` bytes from the guest `domid`'s grant `gref`
    /// (at `remote_offset`) into our frame `local`; returns the op's index.
    pub(crate) fn push_from_guest(
        &mut self,
        domid: u16,
        gref: u32,
        remote_offset: u16,
        local: LocalFrame,
        len: u16,
    ) -> Result<usize> {
        self.queue(from_guest_op(domid, gref, remote_offset, local, len))
    }

    /// Queues a copy of `len` bytes from `source` into the grant `gref` of
    /// the guest `domid`, at `dest_offset`; returns the op's index.
    pub(crate) fn push_to_guest(
        &mut self,
        source: CopySource,
        domid: u16,
        gref: u32,
        dest_offset: u16,
        len: u16,
    ) -> Result<usize> {
        self.queue(to_guest_op(source, domid, gref, dest_offset, len))
    }

    /// Queues `op`; returns its index (ENOSPC when full).
    fn queue(&mut self, op: ffi::gnttab_copy) -> Result<usize> {
        let idx = self.len;
        *self.ops.get_mut(idx).ok_or(ENOSPC)? = op;
        self.len += 1;
        Ok(idx)
    }

    /// Runs the queued ops in one hypercall (retrying GNTST_eagain inside
    /// `gnttab_batch_copy`). Statuses stay readable until `clear`.
    pub(crate) fn submit(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: the first `len` entries were filled by `push`; the
        // hypercall writes only their statuses.
        unsafe { ffi::gnttab_batch_copy(self.ops.as_mut_ptr(), self.len as u32) };
        self.submitted.ops += self.len as u64;
        self.submitted.batches += 1;
        let foreign = self.ops.iter().take(self.len).filter(|op| u32::from(op.flags) == FOREIGN_TO_GUEST).count();
        self.submitted.foreign_ops += foreign as u64;
    }

    /// The work submitted since the last call, and resets it.
    pub(crate) fn take_counts(&mut self) -> CopyCounts {
        core::mem::take(&mut self.submitted)
    }

    /// Did op `idx` succeed?
    pub(crate) fn ok(&self, idx: usize) -> bool {
        // `submit` ran the first `len` ops and Xen wrote each one's status.
        idx < self.len && self.status(idx) == GNTST_OKAY
    }

    /// Status of op `idx` (GNTST_*), for logging.
    pub(crate) fn status(&self, idx: usize) -> i16 {
        self.ops.get(idx).map_or(-1, |op| op.status)
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

/// `GNTST_okay`: the status of a copy that succeeded.
const GNTST_OKAY: i16 = ffi::GNTST_okay as i16;

/// The `flags` of a copy from a foreign page to a guest: both sides are
/// grant references.
const FOREIGN_TO_GUEST: u32 = ffi::GNTCOPY_source_gref | ffi::GNTCOPY_dest_gref;

/// One side of a copy: `domid`'s grant `gref` at `offset`.
fn grant_ptr(domid: u16, gref: u32, offset: u16) -> ffi::gnttab_copy_gnttab_copy_ptr {
    ffi::gnttab_copy_gnttab_copy_ptr { u: ffi::gnttab_copy_gnttab_copy_ptr__bindgen_ty_1 { ref_: gref }, domid, offset }
}

/// One side of a copy: a frame of ours.
fn local_ptr(local: LocalFrame) -> ffi::gnttab_copy_gnttab_copy_ptr {
    ffi::gnttab_copy_gnttab_copy_ptr {
        u: ffi::gnttab_copy_gnttab_copy_ptr__bindgen_ty_1 { gmfn: local.gfn as ffi::xen_pfn_t },
        domid: ffi::DOMID_SELF as u16,
        offset: local.offset,
    }
}

/// One `gnttab_copy` of `len` bytes from `source` into the guest `domid`'s
/// grant `gref` at `dest_offset`.
fn to_guest_op(source: CopySource, domid: u16, gref: u32, dest_offset: u16, len: u16) -> ffi::gnttab_copy {
    // A side named by a grant reference has its GNTCOPY_*_gref flag; the
    // other is a frame of ours.
    let (source, flags) = match source {
        CopySource::Local(local) => (local_ptr(local), ffi::GNTCOPY_dest_gref),
        CopySource::Foreign(g) => (grant_ptr(g.domid, g.gref, g.offset), FOREIGN_TO_GUEST),
    };
    let dest = grant_ptr(domid, gref, dest_offset);
    ffi::gnttab_copy { source, dest, len, flags: flags as u16, status: 0 }
}

/// One `gnttab_copy` of `len` bytes from the guest `domid`'s grant `gref`
/// (at `remote_offset`) into our frame `local`.
fn from_guest_op(domid: u16, gref: u32, remote_offset: u16, local: LocalFrame, len: u16) -> ffi::gnttab_copy {
    let source = grant_ptr(domid, gref, remote_offset);
    ffi::gnttab_copy { source, dest: local_ptr(local), len, flags: ffi::GNTCOPY_source_gref as u16, status: 0 }
}

/// Copies `dst.len()` (<= 4096) bytes from the start of the page the
/// frontend of `domid` granted as `gref` (control requests: hash key and
/// mapping). Xen copies into a bounce page of ours (a frame number is
/// needed; `dst` may be on a vmalloc'd stack). Process context (sleeps to
/// allocate). EINVAL for more than a page, EIO when the copy fails.
pub(crate) fn copy_from_guest(domid: u16, gref: u32, dst: &mut [u8]) -> Result {
    if dst.is_empty() {
        return Ok(());
    }
    let len = u16::try_from(dst.len()).ok().filter(|&n| usize::from(n) <= XEN_PAGE_SIZE).ok_or(EINVAL)?;
    let bounce = Page::alloc_page(GFP_KERNEL)?;
    copy_one(from_guest_op(domid, gref, 0, bounce_frame(&bounce), len))?;
    // SAFETY: `dst` is writable for its length (<= a page); nothing else
    // writes the bounce page (the copy has completed).
    unsafe { bounce.read_raw(dst.as_mut_ptr(), 0, dst.len()) }
}

/// Copies `src` (<= 4096 bytes) into the page the frontend of `domid`
/// granted as `gref`, at `offset` (control requests: the statuses of a
/// `DEL_GREF_MAPPING` list), through a bounce page of ours. Process context.
/// EINVAL when it does not fit the page, EIO when the copy fails.
pub(crate) fn copy_to_guest(domid: u16, gref: u32, offset: u16, src: &[u8]) -> Result {
    if src.is_empty() {
        return Ok(());
    }
    let len = u16::try_from(src.len()).ok().filter(|&n| usize::from(offset) + usize::from(n) <= XEN_PAGE_SIZE);
    let len = len.ok_or(EINVAL)?;
    let bounce = Page::alloc_page(GFP_KERNEL)?;
    // SAFETY: `src` is readable for its length (<= a page); the bounce page
    // is ours and not shared yet.
    unsafe { bounce.write_raw(src.as_ptr(), 0, src.len())? };
    copy_one(to_guest_op(CopySource::Local(bounce_frame(&bounce)), domid, gref, offset, len))
}

/// The frame of a bounce page of ours, from its start.
fn bounce_frame(page: &Page) -> LocalFrame {
    // SAFETY: a page we own; the wrapper only computes its frame number.
    let gfn = unsafe { ffi::nbrs_xen_page_to_gfn(page.as_ptr()) };
    LocalFrame { gfn: gfn as u64, offset: 0 }
}

/// Runs one grant copy `op` (control requests: process context, a bounce
/// page of ours on our side); EIO unless Xen says `GNTST_okay`.
fn copy_one(mut op: ffi::gnttab_copy) -> Result {
    // SAFETY: one filled op on our own stack; the hypercall reads and writes
    // only the frames it names (a bounce page the caller owns, and the
    // guest's grant) and the op's status.
    unsafe { ffi::gnttab_batch_copy(&mut op, 1) };
    if op.status != GNTST_OKAY {
        return Err(EIO);
    }
    Ok(())
}

/// Pages to grant-map guest memory into (`gnttab_alloc_pages`: frames
/// ballooned out of dom0, so a foreign frame can take their place, and
/// marked foreign so the mapping's domid and gref can be looked up).
/// Freed on drop (`gnttab_free_pages`): the owner unmaps every slot first.
///
/// # Invariants
///
/// `pages` holds the `gnttab_alloc_pages` result for its length.
pub(crate) struct GrantPages {
    pages: KVec<*mut kernel::bindings::page>,
}

// SAFETY: the pages are plain memory owned by this value; the pointers are
// not tied to a context.
unsafe impl Send for GrantPages {}

impl GrantPages {
    /// `n` pages (process context).
    pub(crate) fn alloc(n: usize) -> Result<Self> {
        let mut pages = KVec::from_elem(core::ptr::null_mut(), n, GFP_KERNEL)?;
        let nr = i32::try_from(n).map_err(|_| EINVAL)?;
        // SAFETY: `pages` has room for `n` pointers.
        kernel::error::to_result(unsafe { ffi::gnttab_alloc_pages(nr, pages.as_mut_ptr()) })?;
        Ok(Self { pages })
    }

    /// Page `index`.
    pub(in crate::bindings) fn page(&self, index: usize) -> Option<*mut kernel::bindings::page> {
        self.pages.get(index).copied()
    }
}

impl Drop for GrantPages {
    fn drop(&mut self) {
        // SAFETY: allocated by `gnttab_alloc_pages` for this length (type
        // invariant); the owner unmapped them.
        unsafe { ffi::gnttab_free_pages(self.pages.len() as i32, self.pages.as_mut_ptr()) }
    }
}

/// A grant handle of a successful map, needed to unmap it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct GrantHandle(pub(crate) u32);

/// One kind of grant operation on [`GrantPages`] that the kernel runs in
/// batches over (op, page) pairs: [`Map`] or [`Unmap`].
pub(crate) trait PageGrantOp {
    /// The hypercall's op struct.
    type Op;
    /// What an op needs besides its page.
    type Arg;
    /// The hypercall's name, for logs.
    const NAME: &'static str;

    /// Fills `op` for `page` (the `gnttab_set_*_op` helper).
    ///
    /// # Safety
    ///
    /// `page` is one of a live [`GrantPages`]' pages.
    unsafe fn set(op: &mut Self::Op, page: *mut kernel::bindings::page, arg: Self::Arg);

    /// Runs `n` ops on their pages (`gnttab_map_refs`/`gnttab_unmap_refs`).
    ///
    /// # Safety
    ///
    /// `ops` and `pages` point to `n` pairs filled by [`Self::set`].
    unsafe fn run(ops: *mut Self::Op, pages: *mut *mut kernel::bindings::page, n: u32) -> i32;

    /// The op's GNTST_* result.
    fn status(op: &Self::Op) -> i16;
}

/// What a [`Map`] op maps: the guest's grant, read-only or writable.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapArg {
    /// The granting guest.
    pub(crate) domid: u16,
    /// Its grant reference.
    pub(crate) gref: u32,
    /// Map read-only (all guest TX maps; staged grants flagged so).
    pub(crate) readonly: bool,
}

/// Maps of guest pages ([`MapArg`]).
pub(crate) enum Map {}

impl PageGrantOp for Map {
    type Op = ffi::gnttab_map_grant_ref;
    type Arg = MapArg;
    const NAME: &'static str = "gnttab_map_refs";

    unsafe fn set(op: &mut Self::Op, page: *mut kernel::bindings::page, arg: MapArg) {
        // SAFETY: `op` is writable; `page` is a grant page (caller).
        unsafe { ffi::nbrs_gnttab_set_map_op(op, page, arg.gref, arg.domid, arg.readonly) }
    }

    unsafe fn run(ops: *mut Self::Op, pages: *mut *mut kernel::bindings::page, n: u32) -> i32 {
        // SAFETY: `n` filled pairs (caller); the hypercall writes the
        // statuses and handles.
        unsafe { ffi::gnttab_map_refs(ops, core::ptr::null_mut(), pages, n) }
    }

    fn status(op: &Self::Op) -> i16 {
        op.status
    }
}

/// Unmaps of pages mapped by [`Map`] (their handle).
pub(crate) enum Unmap {}

impl PageGrantOp for Unmap {
    type Op = ffi::gnttab_unmap_grant_ref;
    type Arg = GrantHandle;
    const NAME: &'static str = "gnttab_unmap_refs";

    unsafe fn set(op: &mut Self::Op, page: *mut kernel::bindings::page, handle: GrantHandle) {
        // SAFETY: `op` is writable; `page` is a grant page (caller).
        unsafe { ffi::nbrs_gnttab_set_unmap_op(op, page, handle.0) }
    }

    unsafe fn run(ops: *mut Self::Op, pages: *mut *mut kernel::bindings::page, n: u32) -> i32 {
        // SAFETY: `n` filled pairs (caller).
        unsafe { ffi::gnttab_unmap_refs(ops, core::ptr::null_mut(), pages, n) }
    }

    fn status(op: &Self::Op) -> i16 {
        op.status
    }
}

/// A batch of grant operations of kind `K` on [`GrantPages`]: one
/// hypercall per [`PageGrantBatch::submit`].
pub(crate) struct PageGrantBatch<K: PageGrantOp> {
    ops: KVec<K::Op>,
    pages: KVec<*mut kernel::bindings::page>,
}

/// Maps into [`GrantPages`] (`gnttab_map_refs`).
pub(crate) type MapBatch = PageGrantBatch<Map>;
/// Unmaps from [`GrantPages`] (`gnttab_unmap_refs`); the pages must no
/// longer be read by anyone when it is submitted.
pub(crate) type UnmapBatch = PageGrantBatch<Unmap>;

// SAFETY: plain data; the page pointers are only handed to the hypercall.
unsafe impl<K: PageGrantOp> Send for PageGrantBatch<K> where K::Op: Send {}

impl<K: PageGrantOp> PageGrantBatch<K> {
    /// An empty batch of up to `capacity` ops.
    pub(crate) fn new(capacity: usize) -> Result<Self> {
        Ok(Self { ops: KVec::with_capacity(capacity, GFP_KERNEL)?, pages: KVec::with_capacity(capacity, GFP_KERNEL)? })
    }

    /// Queued ops.
    pub(crate) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Queues an op on page `index` of `pages`; returns the op's index
    /// (ENOSPC when full, EINVAL for a page index outside `pages`).
    pub(crate) fn push(&mut self, pages: &GrantPages, index: usize, arg: K::Arg) -> Result<usize> {
        let page = pages.page(index).ok_or(EINVAL)?;
        if self.ops.len() == self.ops.capacity() {
            return Err(ENOSPC);
        }
        // SAFETY: all-zero bytes are a valid grant op struct (plain C data).
        let mut op: K::Op = unsafe { core::mem::zeroed() };
        // SAFETY: `page` is one of our grant pages.
        unsafe { K::set(&mut op, page, arg) };
        let i = self.ops.len();
        self.ops.push_within_capacity(op).map_err(|_| ENOSPC)?;
        self.pages.push_within_capacity(page).map_err(|_| ENOSPC)?;
        Ok(i)
    }

    /// Runs the queued ops. Each op's result stays readable until
    /// [`Self::clear`]; ops the hypercall did not reach keep the positive
    /// status the set helper gave them: they count as failed.
    pub(crate) fn submit(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        // SAFETY: `ops` and `pages` are filled in pairs by `push`.
        let ret = unsafe { K::run(self.ops.as_mut_ptr(), self.pages.as_mut_ptr(), self.ops.len() as u32) };
        if ret != 0 {
            pr_err!("xen-netback-rs: {}: {}\n", K::NAME, ret);
        }
    }

    /// Did op `idx` succeed?
    pub(crate) fn ok(&self, idx: usize) -> bool {
        self.status(idx) == GNTST_OKAY
    }

    /// Status of op `idx` (GNTST_*; -1 for no such op), for logs.
    pub(crate) fn status(&self, idx: usize) -> i16 {
        self.ops.get(idx).map_or(-1, K::status)
    }

    /// Drops all ops.
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
        self.pages.clear();
    }
}

impl MapBatch {
    /// The handle of map `idx` if it succeeded.
    pub(crate) fn handle(&self, idx: usize) -> Option<GrantHandle> {
        self.ops.get(idx).filter(|op| op.status == GNTST_OKAY).map(|op| GrantHandle(op.handle))
    }
}

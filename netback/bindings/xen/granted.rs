// SPDX-License-Identifier: GPL-2.0
//! [`GrantedPages`]: a frontend's own pages, each granted to the backend
//! once (read-only or writable) and kept granted until the pool goes: the
//! buffers netfront-rs copies packets into and out of. The backend reaches
//! them by grant copy, or by a mapping it keeps once they are registered as
//! staging grants (`ADD_GREF_MAPPING`).
//!
//! The pages hold nothing but packet data the frontend sends or receives,
//! and they are never reused for anything else: dropping the pool ends
//! each grant with the deferred `gnttab_end_foreign_access`, which frees a
//! page only once the backend no longer maps it (XSA-396).

use super::ring::XEN_PAGE_SIZE;
use crate::bindings::ffi;
use crate::bindings::net::skb::SkBuff;
use kernel::bindings;
use kernel::prelude::*;

/// One granted page.
struct Granted {
    page: *mut bindings::page,
    gref: u32,
    readonly: bool,
}

/// Pages granted to one backend domain, sorted by grant reference.
///
/// # Invariants
///
/// Every `page` is a page this value owns (one reference from
/// `alloc_page`), granted to `domid` as `gref` until `Drop` ends the grant
/// and hands the reference to `gnttab_end_foreign_access`.
pub(crate) struct GrantedPages {
    pages: KVec<Granted>,
}

// SAFETY: plain pages owned by this value; granting and copying work from
// any context.
unsafe impl Send for GrantedPages {}
// SAFETY: `&self` methods only copy bytes to and from the pages; callers
// serialise the users of one page through their own bookkeeping.
unsafe impl Sync for GrantedPages {}

impl GrantedPages {
    /// Allocates `n_ro` pages granted read-only and `n_rw` granted writable
    /// to `domid` (process context). All or nothing.
    pub(crate) fn grant(domid: u16, n_ro: usize, n_rw: usize) -> Result<Self> {
        let n = n_ro.checked_add(n_rw).ok_or(EINVAL)?;
        let mut this = Self { pages: KVec::with_capacity(n, GFP_KERNEL)? };
        for i in 0..n {
            let readonly = i < n_ro;
            // SAFETY: no preconditions; GFP_KERNEL may sleep (process context).
            let page = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL | bindings::__GFP_ZERO, 0) };
            if page.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: a page we own; its frame number for the grant entry.
            let gfn = unsafe { ffi::nbrs_xen_page_to_gfn(page) };
            // SAFETY: a valid frame of ours, granted to `domid`.
            let gref = unsafe { ffi::gnttab_grant_foreign_access(domid, gfn, i32::from(readonly)) };
            let Ok(gref) = u32::try_from(gref) else {
                // SAFETY: allocated above, never granted.
                unsafe { bindings::__free_pages(page, 0) };
                return Err(Error::from_errno(gref));
            };
            // Cannot fail: room for `n` was reserved.
            if let Err(e) = this.pages.push_within_capacity(Granted { page, gref, readonly }) {
                // SAFETY: granted above; ending it frees the page.
                unsafe { ffi::gnttab_end_foreign_access(e.0.gref, e.0.page) };
                return Err(ENOMEM);
            }
            // Kept sorted by gref: references come mostly in increasing
            // order, so this moves an entry rarely and not far (and needs
            // no sort routine, whose unreachable panic paths objtool flags).
            let mut at = this.pages.len().saturating_sub(1);
            while at > 0 && this.pages.get(at - 1).is_some_and(|prev| prev.gref > gref) {
                this.pages.swap(at - 1, at);
                at -= 1;
            }
        }
        Ok(this)
    }

    /// Every page's `(gref, readonly)`.
    pub(crate) fn grants(&self) -> impl Iterator<Item = (u32, bool)> + '_ {
        self.pages.iter().map(|g| (g.gref, g.readonly))
    }

    fn find(&self, gref: u32) -> Option<&Granted> {
        let i = self.pages.binary_search_by_key(&gref, |g| g.gref).ok()?;
        self.pages.get(i)
    }

    /// Runs `copy` on the kernel address of byte `offset` of the page
    /// granted as `gref`, after checking `offset + len` stays in the page.
    fn with_page(
        &self,
        gref: u32,
        offset: u32,
        len: u32,
        copy: impl FnOnce(*mut kernel::ffi::c_void) -> i32,
    ) -> Result {
        let g = self.find(gref).ok_or(EINVAL)?;
        if offset.checked_add(len).is_none_or(|end| end > XEN_PAGE_SIZE as u32) {
            return Err(EINVAL);
        }
        // SAFETY: a page we own (type invariant); mapped until the unmap below.
        let addr = unsafe { bindings::kmap_local_page(g.page) };
        // SAFETY: `offset` < XEN_PAGE_SIZE (checked): inside the mapping.
        let ret = copy(unsafe { addr.cast::<u8>().add(offset as usize) }.cast());
        // SAFETY: mapped above on this CPU.
        unsafe { bindings::kunmap_local(addr) };
        kernel::error::to_result(ret)
    }

    /// TX: copies `len` bytes of `skb` from byte `pos` to byte `offset` of
    /// the page granted as `gref`. EINVAL for an unknown gref, a range past
    /// the page or past the skb.
    pub(crate) fn copy_from_skb(&self, gref: u32, offset: u32, skb: &SkBuff, pos: u32, len: u32) -> Result {
        self.with_page(gref, offset, len, |dst| {
            // SAFETY: `dst` is writable for `len` bytes (our page, range
            // checked by `with_page`); skb_copy_bits checks `pos + len`.
            unsafe { bindings::skb_copy_bits(skb.as_raw(), pos as i32, dst, len as i32) }
        })
    }

    /// RX: copies `len` bytes at byte `offset` of the page granted as `gref`
    /// into `skb` at byte `pos`. The backend may still write the page (it is
    /// granted writable): the bytes land in the skb once and are not read
    /// from the page again.
    pub(crate) fn copy_to_skb(&self, gref: u32, offset: u32, skb: &mut SkBuff, pos: u32, len: u32) -> Result {
        self.with_page(gref, offset, len, |src| {
            // SAFETY: `src` is readable for `len` bytes (checked by
            // `with_page`); skb_store_bits checks `pos + len` against the skb.
            unsafe { bindings::skb_store_bits(skb.as_raw(), pos as i32, src, len as i32) }
        })
    }
}

impl GrantedPages {
    /// Copies `bytes` into the page granted as `gref` at `offset` (a
    /// control request's list).
    pub(crate) fn write(&self, gref: u32, offset: u32, bytes: &[u8]) -> Result {
        let len = u32::try_from(bytes.len()).map_err(|_| EINVAL)?;
        self.with_page(gref, offset, len, |dst| {
            // SAFETY: `dst` is writable for `len` bytes (checked by
            // `with_page`); `bytes` is a distinct Rust buffer.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len()) };
            0
        })
    }

    /// Copies bytes of the page granted as `gref` from `offset` into `out`
    /// (the backend's answers in a list page). The backend may write the
    /// page meanwhile: `out` is the one copy read.
    pub(crate) fn read(&self, gref: u32, offset: u32, out: &mut [u8]) -> Result {
        let len = u32::try_from(out.len()).map_err(|_| EINVAL)?;
        self.with_page(gref, offset, len, |src| {
            // SAFETY: `src` is readable for `len` bytes (checked by
            // `with_page`); `out` is a distinct Rust buffer.
            unsafe { core::ptr::copy_nonoverlapping(src.cast::<u8>(), out.as_mut_ptr(), out.len()) };
            0
        })
    }
}

impl Drop for GrantedPages {
    fn drop(&mut self) {
        for g in self.pages.drain_all() {
            // SAFETY: granted by `grant` and owned (type invariant); this
            // ends the grant, at once or once the backend unmaps it, and
            // only then frees the page.
            unsafe { ffi::gnttab_end_foreign_access(g.gref, g.page) };
        }
    }
}

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
//! page only once the backend no longer maps it (XSA-396). The one way a
//! page leaves earlier is [`GrantedPages::lend`]: a received RX page the
//! backend only grant-copied into goes to the stack once access to it is
//! ended, and a fresh page takes its place under the same reference.

use crate::bindings::ffi;
use crate::bindings::net::skb::{with_page_at, FragPages, SkBuff};
use crate::bindings::xen::grant::CopySource;
use crate::netif::front_staging::TakenPage;
use core::ffi::c_void;
use core::ptr::{null_mut, NonNull};
use kernel::bindings;
use kernel::prelude::*;

/// One granted page.
struct Granted {
    page: *mut bindings::page,
    gref: u32,
    readonly: bool,
    /// A page of `GrantedPages::rx_pool` (one that took a lent page's place).
    pooled: bool,
}

/// Pages granted to one backend domain, sorted by grant reference: the
/// order of a staging pool of the same grants, so that the place a
/// [`TakenPage`] carries addresses its page here too.
///
/// # Invariants
///
/// Every `page` is a page this value owns (one reference from
/// `alloc_page`, or from `rx_pool` when `pooled`), granted to `domid` as
/// `gref` until `Drop` ends the grant and frees the page (or `lend` ends
/// it, hands the page on and grants a new one as `gref`). `rx_pool` is
/// null or a page_pool this value owns, destroyed after its pages.
pub(crate) struct GrantedPages {
    pages: KVec<Granted>,
    domid: u16,
    rx_pool: *mut c_void,
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
        // The pages that take lent ones' places are recycled through a
        // page_pool as the stack frees them (none without one: then fresh
        // zeroed pages from the allocator).
        let pool_size = u32::try_from(n_rw.min(1024)).unwrap_or(1024);
        let rx_pool = if n_rw > 0 {
            // SAFETY: no preconditions; process context.
            unsafe { ffi::nbrs_rx_page_pool_create(pool_size) }
        } else {
            null_mut()
        };
        let mut this = Self { pages: KVec::with_capacity(n, GFP_KERNEL)?, domid, rx_pool };
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
            if let Err(e) = this.pages.push_within_capacity(Granted { page, gref, readonly, pooled: false }) {
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

    /// The page `page` names ([`TakenPage::position_in`]: mostly no search).
    fn find_taken(&self, page: TakenPage) -> Option<&Granted> {
        self.pages.get(page.position_in(&self.pages, |g| g.gref)?)
    }

    /// TX: copies `len` bytes of `skb` from byte `pos` to byte `offset` of
    /// the pool page `page`. EINVAL for a gref not granted here, a range
    /// past the page or past the skb.
    pub(crate) fn copy_from_skb(&self, page: TakenPage, offset: u32, skb: &SkBuff, pos: u32, len: u32) -> Result {
        let g = self.find_taken(page).ok_or(EINVAL)?;
        // SAFETY: a page we own (type invariant).
        unsafe { skb.copy_to_page(pos, g.page, offset, len) }
    }

    /// RX: hands the page under `page`, a received writable RX buffer the
    /// backend reached by grant copy only (a lendable pool page), to the
    /// caller for an skb frag, and grants another page in its place under
    /// the same reference (the buffer is posted again as it is).
    /// Access is ended first, so the backend cannot reach the page once the
    /// stack has it. ENOMEM when no page is free now (nothing changed: copy
    /// out instead); EBUSY when the backend maps the page (it may still
    /// write it: XSA-403), which stays granted here; EINVAL for a page not
    /// granted here or read-only.
    ///
    /// The fresh page comes from the RX page_pool, which the stack gives lent
    /// pages back to (as xen-netfront's): a recycled page holds only packet
    /// data received here, a new one is zeroed, so the backend (which can
    /// read a page granted writable) sees no other guest memory.
    pub(crate) fn lend(&mut self, page: TakenPage) -> Result<FragPages> {
        let i = page.position_in(&self.pages, |g| g.gref).ok_or(EINVAL)?;
        let domid = self.domid;
        let g = self.pages.get_mut(i).ok_or(EINVAL)?;
        if g.readonly {
            return Err(EINVAL);
        }
        let pool = self.rx_pool;
        let fresh = if pool.is_null() {
            let gfp = bindings::GFP_ATOMIC | bindings::__GFP_NOWARN | bindings::__GFP_ZERO;
            // SAFETY: no preconditions; GFP_ATOMIC does not sleep (softirq).
            unsafe { bindings::alloc_pages(gfp, 0) }
        } else {
            // SAFETY: our live pool; it allocates without sleeping.
            unsafe { ffi::nbrs_rx_page_pool_alloc(pool) }
        };
        let fresh = NonNull::new(fresh).ok_or(ENOMEM)?;
        // SAFETY: allocated above (from `pool` when not null), ours alone;
        // freed its way should the backend keep the page it replaces.
        let unused = unsafe { FragPages::from_page(fresh, pool) };
        // SAFETY: `g.gref` is a live grant of ours (type invariant); this
        // ends it only if the backend does not map the page, keeping the
        // reference allocated for the fresh page.
        if unsafe { ffi::gnttab_end_foreign_access_ref(g.gref) } == 0 {
            drop(unused);
            return Err(EBUSY);
        }
        // From here the page is granted: `g` owns it.
        core::mem::forget(unused);
        // SAFETY: a page we own; its frame number for the grant entry.
        let gfn = unsafe { ffi::nbrs_xen_page_to_gfn(fresh.as_ptr()) };
        // SAFETY: `g.gref` is ours and not in use (ended above); the frame
        // is a page we own, which stays allocated while granted (type
        // invariant: it replaces `g.page`).
        unsafe { ffi::gnttab_grant_foreign_access_ref(g.gref, domid, gfn, 0) };
        let old = core::mem::replace(&mut g.page, fresh.as_ptr());
        let old_pooled = core::mem::replace(&mut g.pooled, !pool.is_null());
        let old = NonNull::new(old).ok_or(EINVAL)?;
        let source = if old_pooled { pool } else { null_mut() };
        // SAFETY: `old` was ours with one reference, a page of `pool` when
        // `old_pooled` (type invariant; the pool lives until every page is
        // back); the backend's access to it is ended: the reference passes on.
        Ok(unsafe { FragPages::from_page(old, source) })
    }

    /// RX: copies `len` bytes at byte `offset` of the pool page `page` (an
    /// RX buffer as posted) into `skb` at byte `pos`. EINVAL for a gref not
    /// granted here, a range past the page or past the skb. The backend may
    /// still write the page (it is granted writable): the bytes land in the
    /// skb once and are not read from the page again.
    pub(crate) fn copy_to_skb(&self, page: TakenPage, offset: u32, skb: &mut SkBuff, pos: u32, len: u32) -> Result {
        let g = self.find_taken(page).ok_or(EINVAL)?;
        // SAFETY: a page we own (type invariant).
        unsafe { skb.store_from_page(pos, g.page, offset, len) }
    }
}

impl GrantedPages {
    /// Copies `bytes` into the page granted as `gref` at `offset` (a
    /// control request's list).
    pub(crate) fn write(&self, gref: u32, offset: u32, bytes: &[u8]) -> Result {
        let g = self.find(gref).ok_or(EINVAL)?;
        let len = u32::try_from(bytes.len()).map_err(|_| EINVAL)?;
        // SAFETY: a page we own (type invariant); the closure writes the
        // `len` bytes `with_page_at` checked to fit, from a distinct buffer.
        unsafe {
            with_page_at(g.page, offset, len, |dst| {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.cast::<u8>(), bytes.len());
                0
            })
        }
    }
}

impl Drop for GrantedPages {
    fn drop(&mut self) {
        for g in self.pages.drain_all() {
            // SAFETY: a live grant of ours (type invariant): ended (and its
            // reference freed) only if the backend does not map the page.
            let ended = g.pooled && unsafe { ffi::gnttab_try_end_foreign_access(g.gref) } != 0;
            if ended {
                // SAFETY: a page of our pool, no longer granted.
                unsafe { ffi::nbrs_rx_page_pool_put(self.rx_pool, g.page) };
                continue;
            }
            // Ends the grant at once or once the backend unmaps it, and only
            // then frees the page (a pool page by its last reference, as
            // xen-netfront's teardown does).
            // SAFETY: granted by `grant` and owned (type invariant).
            unsafe { ffi::gnttab_end_foreign_access(g.gref, g.page) };
        }
        if !self.rx_pool.is_null() {
            // SAFETY: our pool, its pages all handed back or freed above;
            // the pool itself waits for pages still in skbs.
            unsafe { ffi::nbrs_rx_page_pool_destroy(self.rx_pool) };
        }
    }
}

/// Grants one packet may hold (a TX packet's data slots at most).
pub(crate) const SKB_GRANTS_MAX: usize = 18;

/// A packet sent with per-packet grants (a trusted backend, as stock
/// xen-netfront by default): the skb and read-only grants of the Xen
/// pages its bytes are in, which the backend grant-copies or maps.
///
/// The skb is freed only once every grant is ended. A grant the backend
/// still maps when we end it (it answered the request and kept the page:
/// XSA-403) is never ended nor the skb freed: the packet is leaked on
/// purpose, so the backend never reads a page that went back to the
/// allocator.
///
/// # Invariants
///
/// The first `count` entries of `refs` are grants of pages of `skb`'s data
/// to the backend; bit `i` of `live` is set while `refs[i]` is not ended.
pub(crate) struct SkbGrants {
    skb: Option<SkBuff>,
    domid: u16,
    refs: [u32; SKB_GRANTS_MAX],
    count: usize,
    live: u32,
}

impl SkbGrants {
    /// Holds `skb` for grants to `domid`; none granted yet.
    pub(crate) fn new(skb: SkBuff, domid: u16) -> Self {
        Self { skb: Some(skb), domid, refs: [0; SKB_GRANTS_MAX], count: 0, live: 0 }
    }

    /// The packet (until `finish`).
    pub(crate) fn skb(&self) -> Option<&SkBuff> {
        self.skb.as_ref()
    }

    /// Grants the Xen page holding byte `pos` of the skb, read-only:
    /// `(gref, offset in the page, bytes from there to the page's or the
    /// data's end)`. EINVAL past the data or for a page not ours, ENOSPC
    /// when no grant is free or the packet holds [`SKB_GRANTS_MAX`].
    pub(crate) fn grant(&mut self, pos: u32) -> Result<(u32, u16, u32)> {
        let skb = self.skb.as_ref().ok_or(EINVAL)?;
        let Some((CopySource::Local(frame), n)) = skb.copy_source(pos) else {
            return Err(EINVAL);
        };
        let slot = self.refs.get_mut(self.count).ok_or(ENOSPC)?;
        let gfn = usize::try_from(frame.gfn).map_err(|_| EINVAL)?;
        // SAFETY: a frame of our skb's data, which stays allocated until the
        // grant is ended (type invariant, `Drop`).
        let gref = unsafe { ffi::gnttab_grant_foreign_access(self.domid, gfn, 1) };
        let gref = u32::try_from(gref).map_err(|_| ENOSPC)?;
        *slot = gref;
        self.live |= 1 << self.count;
        self.count += 1;
        Ok((gref, frame.offset, n))
    }

    /// Ends the grant `gref` the backend answered; false if it still maps
    /// the page (or the gref is not one of ours): then it stays live.
    pub(crate) fn end(&mut self, gref: u32) -> bool {
        let Some(i) = self.refs.iter().take(self.count).position(|&r| r == gref) else { return false };
        if self.live & (1 << i) == 0 {
            return false;
        }
        // SAFETY: a live grant of ours (type invariant); this ends it only
        // if the backend does not map it, and frees the reference then.
        if unsafe { ffi::gnttab_try_end_foreign_access(gref) } == 0 {
            return false;
        }
        self.live &= !(1 << i);
        true
    }

    /// Whether every grant is ended (the skb may go).
    pub(crate) fn all_ended(&self) -> bool {
        self.live == 0
    }

    /// Frees the packet (as sent) if every grant is ended; else `Drop`
    /// keeps it from the allocator.
    pub(crate) fn finish(mut self) {
        if self.live == 0 {
            if let Some(skb) = self.skb.take() {
                skb.consume();
            }
        }
    }
}

impl Drop for SkbGrants {
    fn drop(&mut self) {
        for i in 0..self.count {
            let Some(&gref) = self.refs.get(i) else { break };
            if self.live & (1 << i) != 0 {
                let _ = self.end(gref);
            }
        }
        if self.live != 0 {
            pr_warn!("xen: the backend still maps {} page(s) of a sent packet: leaking it\n", self.live.count_ones());
            // Never freed: its pages stay out of the allocator's hands.
            core::mem::forget(self.skb.take());
        }
    }
}

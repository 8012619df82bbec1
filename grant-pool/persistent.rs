// SPDX-License-Identifier: GPL-2.0
//! [`StagedGrants`]: the persistent source. A frontend that speaks Xen's
//! staging-grant extension hands each queue a pool of grants once, on the
//! control ring (`ADD_GREF_MAPPING`); the backend keeps them mapped, and a
//! TX or RX request naming one of them is served with a memcpy to or from
//! the mapped page instead of a grant copy (no hypercall). A gref that is
//! not staged takes the normal grant copy path.
//!
//! Who does what:
//! * The core's [`StagingTable`] validates every list (bounds, cap,
//!   duplicates, flags) and keeps the gref -> slot table.
//! * [`StagedPages`] (binding layer) owns the pages and their map handles.
//! * This file sequences a request: the list is copied out of the guest,
//!   planned under the table's lock, mapped or unmapped outside it (maps
//!   sleep), and committed under it. Only the control ring changes the
//!   table (its requests run one at a time), so nothing changes between
//!   the plan and the commit. While the control path holds the pages, the
//!   data path finds none and grant-copies: still correct, the frontend's
//!   grants stay valid while staged.
//! * Budgets: `staging_grants_per_queue` caps one queue, `staging_grants_max`
//!   all VIFs (every mapping costs a maptrack entry of this domain).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::bindings::net::skb::SkBuff;
use crate::bindings::xen::grant::{copy_from_guest, copy_to_guest};
use crate::bindings::xen::staged::{StageRequest, StagedLoan, StagedPages};
use crate::netif::staging::{GrefEntry, Staged, StagingTable, GREF_ENTRY_SIZE, GREF_LIST_MAX};
use crate::netif::wire::{
    XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, XEN_NETIF_CTRL_STATUS_SUCCESS,
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

/// The most entries one queue can stage (`staging_grants_per_queue` is
/// clamped to it): 4 rings' worth of buffers.
pub(crate) const STAGING_QUEUE_MAX: u32 = 1024;

/// Entries staged by all VIFs together, against `staging_grants_max`.
static STAGED_TOTAL: AtomicU32 = AtomicU32::new(0);

/// Takes `n` entries from the global budget of `max`; false if they do not fit.
fn reserve_global(n: u32, max: u32) -> bool {
    STAGED_TOTAL
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| cur.checked_add(n).filter(|&t| t <= max))
        .is_ok()
}

/// Gives `n` entries back to the global budget.
fn release_global(n: u32) {
    let _ = STAGED_TOTAL.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| Some(cur.saturating_sub(n)));
}

/// The table's heap storage.
type Entries = crate::bindings::HeapSlice<Staged>;

/// A queue's staged grants: the table and the mapped pages.
struct Staging {
    table: StagingTable<Entries>,
    /// `None` before the first ADD maps anything, and while the control
    /// path maps or unmaps.
    pages: Option<StagedPages>,
}

/// What a data-path copy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StagedCopy {
    /// Copied through the staged page.
    Hit,
    /// The gref is not staged (or not writable, for guest RX): grant-copy it.
    Miss,
}

/// One queue's staging grants.
#[pin_data]
pub(crate) struct StagedGrants {
    /// Taken by the data path (NAPI, RX worker) per copy and by the
    /// control ring; `None` until the first ADD of a connection.
    #[pin]
    state: SpinLockBh<Option<Staging>>,
    /// Entries staged now: the data path's lock-free "nothing staged".
    staged: AtomicU32,
    /// This connection's per-queue cap (0: staging not offered).
    cap: AtomicU32,
}

impl StagedGrants {
    /// Nothing staged, staging not offered.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- new_spinlock_bh!(None),
            staged: AtomicU32::new(0),
            cap: AtomicU32::new(0),
        })
    }

    /// A control ring connected: offer `cap` entries (clamped to
    /// [`STAGING_QUEUE_MAX`]).
    pub(crate) fn connect(&self, cap: u32) {
        self.cap.store(cap.min(STAGING_QUEUE_MAX), Ordering::Release);
    }

    /// `GET_GREF_MAPPING_SIZE`: the entries this queue may stage.
    pub(crate) fn max_entries(&self) -> u32 {
        self.cap.load(Ordering::Acquire)
    }

    /// Entries mapped now.
    pub(crate) fn mapped(&self) -> u32 {
        self.staged.load(Ordering::Acquire)
    }

    /// Whether requests may name staged grants now (a miss is then worth
    /// counting).
    pub(crate) fn is_active(&self) -> bool {
        self.mapped() > 0
    }

    /// Guest TX: copies `len` bytes at `offset` of the staged page `gref`
    /// into `skb` at `pos`. Err if the copy failed (the packet fails).
    pub(crate) fn copy_to_skb(
        &self,
        gref: u32,
        offset: u16,
        skb: &mut SkBuff,
        pos: u32,
        len: u32,
    ) -> Result<StagedCopy> {
        let guard = self.state.lock();
        let Some(s) = guard.as_ref() else { return Ok(StagedCopy::Miss) };
        let (Some(e), Some(pages)) = (s.table.lookup(gref), s.pages.as_ref()) else {
            return Ok(StagedCopy::Miss);
        };
        pages.copy_to_skb(e.slot, offset, skb, pos, len)?;
        Ok(StagedCopy::Hit)
    }

    /// Lends the pages of all of `grefs` (a packet's slots past its head),
    /// in order, into `out`, under one lock: all or none. A DEL afterwards
    /// finds them in use, so the packet cannot lose one between this check
    /// and its frags. A loan a frag takes is given back as one from
    /// [`Self::lend`], the others by [`Self::give_back_all`].
    pub(crate) fn lend_all(&self, grefs: &mut dyn Iterator<Item = u32>, out: &mut KVec<(u32, StagedLoan)>) -> bool {
        let mut guard = self.state.lock();
        let Some(s) = (*guard).as_mut() else { return false };
        // Empty unless a caller kept loans: those end here, not leak.
        Self::release_loans(Some(&mut *s), out);
        let mut ok = true;
        for g in grefs {
            let loan = match (s.table.lookup(g), s.pages.as_ref()) {
                (Some(e), Some(pages)) => pages.lend(e.slot).ok(),
                _ => None,
            };
            let Some(loan) = loan.filter(|_| s.table.acquire(g)) else {
                ok = false;
                break;
            };
            if out.push_within_capacity((g, loan)).is_err() {
                let _ = s.table.release(g);
                ok = false;
                break;
            }
        }
        if !ok {
            Self::release_loans(Some(s), out);
        }
        ok
    }

    /// Gives back the loans of [`Self::lend_all`] that no frag took, under
    /// one lock (none taken when there are none).
    pub(crate) fn give_back_all(&self, loans: &mut KVec<(u32, StagedLoan)>) {
        if loans.is_empty() {
            return;
        }
        let mut guard = self.state.lock();
        Self::release_loans((*guard).as_mut(), loans);
    }

    /// Ends `loans` (their pages' loan counts) and their entries' use.
    fn release_loans(mut s: Option<&mut Staging>, loans: &mut KVec<(u32, StagedLoan)>) {
        for (g, loan) in loans.drain_all() {
            drop(loan);
            Self::release_entry(s.as_deref_mut(), g);
        }
    }

    /// Ends one use of the entry `gref` (logged if it was not in use).
    fn release_entry(s: Option<&mut Staging>, gref: u32) {
        if !s.is_some_and(|s| s.table.release(gref)) {
            pr_err!("xen-netback-rs: staged grant {}: given back but not in use\n", gref);
        }
    }

    /// Zero-copy guest TX: lends the page of the staged grant `gref` to
    /// the stack, and counts the entry in use until [`Self::give_back`]
    /// (a DEL of it fails meanwhile). None if `gref` is not staged, or the
    /// control path holds the pages.
    pub(crate) fn lend(&self, gref: u32) -> Option<StagedLoan> {
        let mut guard = self.state.lock();
        let s = (*guard).as_mut()?;
        let slot = s.table.lookup(gref)?.slot;
        let loan = s.pages.as_ref()?.lend(slot).ok()?;
        s.table.acquire(gref).then_some(loan)
    }

    /// The stack gave back a page lent by [`Self::lend`] for `gref`.
    pub(crate) fn give_back(&self, gref: u32) {
        let mut guard = self.state.lock();
        Self::release_entry((*guard).as_mut(), gref);
    }

    /// Guest RX: copies `len` bytes of `skb` from `pos` into the staged
    /// page `gref` at `offset`, if it is staged writable. Err if the copy
    /// failed (the buffer fails).
    pub(crate) fn copy_from_skb(&self, gref: u32, offset: u16, skb: &SkBuff, pos: u32, len: u32) -> Result<StagedCopy> {
        let guard = self.state.lock();
        let Some(s) = guard.as_ref() else { return Ok(StagedCopy::Miss) };
        let (Some(e), Some(pages)) = (s.table.lookup(gref), s.pages.as_ref()) else {
            return Ok(StagedCopy::Miss);
        };
        if e.readonly {
            return Ok(StagedCopy::Miss);
        }
        pages.copy_from_skb(e.slot, offset, skb, pos, len)?;
        Ok(StagedCopy::Hit)
    }

    /// Copies the `count` entries of the list page `list` out of the guest.
    fn read_list(domid: u16, list: u32, count: u32) -> Option<KVec<u8>> {
        let bytes = (count as usize).checked_mul(GREF_ENTRY_SIZE)?;
        let mut page = KVec::from_elem(0u8, bytes, GFP_KERNEL).ok()?;
        copy_from_guest(domid, list, &mut page).ok()?;
        Some(page)
    }

    /// `ADD_GREF_MAPPING` (control ring, process context): the status.
    pub(crate) fn add(&self, domid: u16, list: u32, count: u32, global_max: u32) -> u32 {
        let cap = self.max_entries();
        if count == 0 || count > GREF_LIST_MAX || cap == 0 {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        let Some(page) = Self::read_list(domid, list, count) else {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        };
        if !reserve_global(count, global_max) {
            return XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW;
        }
        let status = self.add_reserved(domid, &page, count, cap);
        if status != XEN_NETIF_CTRL_STATUS_SUCCESS {
            release_global(count);
        }
        status
    }

    fn add_reserved(&self, domid: u16, page: &[u8], count: u32, cap: u32) -> u32 {
        let n = count as usize;
        let (Ok(mut planned), Ok(mut reqs)) =
            (KVec::<GrefEntry>::with_capacity(n, GFP_KERNEL), KVec::<StageRequest>::with_capacity(n, GFP_KERNEL))
        else {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        };
        // The table's storage, for a queue's first ADD (allocated unlocked).
        let exists = self.state.lock().is_some();
        let fresh = match exists {
            true => None,
            false => match KVec::from_elem(Staged::EMPTY, cap as usize, GFP_KERNEL) {
                Ok(v) => Some(crate::bindings::HeapSlice(v)),
                Err(_) => return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
            },
        };
        // Plan under the lock and take the pages out of the data path's way.
        let pages = {
            let mut guard = self.state.lock();
            if guard.is_none() {
                if let Some(entries) = fresh {
                    *guard = Some(Staging { table: StagingTable::with_storage(entries, cap), pages: None });
                }
            }
            let Some(s) = (*guard).as_mut() else { return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER };
            match s.table.plan_add(page, count) {
                Ok(list) => {
                    for e in list {
                        let r = StageRequest { gref: e.gref, readonly: e.readonly() };
                        if planned.push_within_capacity(e).is_err() || reqs.push_within_capacity(r).is_err() {
                            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
                        }
                    }
                }
                Err(status) => return status,
            }
            s.pages.take()
        };
        let mut pages = match pages {
            Some(p) => p,
            None => match StagedPages::alloc(cap as usize, domid) {
                Ok(p) => p,
                Err(_) => return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
            },
        };
        let status = match pages.map(&reqs) {
            Ok(slots) => {
                let mut mapped = KVec::with_capacity(n, GFP_KERNEL).unwrap_or_default();
                for (e, slot) in planned.iter().zip(slots.iter()) {
                    let _ = mapped.push_within_capacity((*e, *slot));
                }
                let mut guard = self.state.lock();
                let committed =
                    mapped.len() == n && (*guard).as_mut().is_some_and(|s| s.table.commit_add(&mapped).is_ok());
                if committed {
                    if let Some(s) = (*guard).as_mut() {
                        self.staged.store(s.table.len() as u32, Ordering::Release);
                        s.pages = Some(pages);
                    }
                    return XEN_NETIF_CTRL_STATUS_SUCCESS;
                }
                drop(guard);
                pages.unmap(&slots);
                XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER
            }
            // A grant that cannot be mapped (never granted, revoked, wrong
            // domain): nothing is added.
            Err(_) => XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
        };
        if let Some(s) = (*self.state.lock()).as_mut() {
            s.pages = Some(pages);
        }
        status
    }

    /// `DEL_GREF_MAPPING` (control ring, process context): the status and
    /// the number unmapped; each entry's status is written back into the
    /// list page.
    pub(crate) fn delete(&self, domid: u16, list: u32, count: u32) -> (u32, u32) {
        if count == 0 || count > GREF_LIST_MAX {
            return (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0);
        }
        let n = count as usize;
        let Some(mut page) = Self::read_list(domid, list, count) else {
            return (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0);
        };
        let (Ok(mut statuses), Ok(mut slots)) =
            (KVec::from_elem(0u16, n, GFP_KERNEL), KVec::<u16>::with_capacity(n, GFP_KERNEL))
        else {
            return (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0);
        };
        let (removed, pages) = {
            let mut guard = self.state.lock();
            match (*guard).as_mut() {
                Some(s) => {
                    let r = s.table.delete(&page, count, &mut statuses, |e| {
                        let _ = slots.push_within_capacity(e.slot);
                    });
                    self.staged.store(s.table.len() as u32, Ordering::Release);
                    match r {
                        Ok(removed) => (removed, s.pages.take()),
                        Err(status) => return (status, 0),
                    }
                }
                None => {
                    statuses.iter_mut().for_each(|st| *st = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER as u16);
                    (0, None)
                }
            }
        };
        if let Some(mut pages) = pages {
            pages.unmap(&slots);
            if let Some(s) = (*self.state.lock()).as_mut() {
                s.pages = Some(pages);
            }
        }
        release_global(removed);
        for (entry, st) in page.chunks_exact_mut(GREF_ENTRY_SIZE).zip(statuses.iter()) {
            if let Some(field) = entry.get_mut(6..8) {
                field.copy_from_slice(&st.to_le_bytes());
            }
        }
        match copy_to_guest(domid, list, 0, &page) {
            Ok(()) => (XEN_NETIF_CTRL_STATUS_SUCCESS, removed),
            Err(_) => (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, removed),
        }
    }

    /// The control ring disconnected: unmaps every staged grant and frees
    /// the pages (process context). Nothing copies through them any more
    /// once they are out of the table.
    pub(crate) fn disconnect(&self) {
        self.cap.store(0, Ordering::Release);
        let taken = self.state.lock().take();
        self.staged.store(0, Ordering::Release);
        if let Some(s) = taken {
            release_global(s.table.len() as u32);
            let in_use = s.table.in_use();
            if in_use != 0 {
                // The guest TX teardown gave up waiting for the stack:
                // those pages stay mapped and allocated for good.
                pr_err!("xen-netback-rs: {} staged page(s) still lent to the stack at disconnect\n", in_use);
            }
            // Dropping the pages unmaps them (and leaks, logged, any whose
            // unmap fails).
            drop(s);
        }
    }
}

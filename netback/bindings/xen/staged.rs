// SPDX-License-Identifier: GPL-2.0
//! [`StagedPages`]: the pages behind one queue's staging grants (Xen's
//! `ADD_GREF_MAPPING`): a frontend's grants mapped once, read-only or
//! writable, and then read and written with memcpy by the data path instead
//! of a grant copy per packet.
//!
//! The type keeps each slot's map handle, so it knows which pages are
//! mapped: [`StagedPages::copy_to_skb`] and [`StagedPages::copy_from_skb`]
//! only touch a mapped page (a ballooned page that is not mapped has no
//! memory behind it), and writes only one mapped writable. Maps and unmaps
//! run in batches (one hypercall each) in process context; the owner makes
//! sure no copy runs on a slot it unmaps (the table's lock).
//!
//! A page can also be lent to the stack as an skb frag (zero-copy guest
//! TX from a staged grant: [`StagedPages::lend`]). A [`StagedLoan`] counts
//! itself in its slot until dropped, and a lent page is never unmapped nor
//! freed: an unmap leaves it mapped (logged), and the pages are leaked if
//! any loan is still out when they drop. The counts are shared with the
//! loans, so a loan can end while the control path holds the pages.

use super::grant::{GrantHandle, GrantPages, MapArg, MapBatch, UnmapBatch};
use crate::bindings::net::skb::SkBuff;
use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// One slot: how its page is mapped, if it is.
#[derive(Clone, Copy)]
struct Mapping {
    handle: GrantHandle,
    readonly: bool,
}

/// Pages for the staged grants of one queue, each mapped at most once.
/// Dropping it unmaps what is still mapped; pages whose unmap failed are
/// never freed (leaked, logged), since Xen still maps guest memory there.
pub(crate) struct StagedPages {
    pages: ManuallyDrop<GrantPages>,
    slots: KVec<Option<Mapping>>,
    /// Loans out per slot ([`StagedLoan`]).
    loans: Arc<LoanCounts>,
    domid: u16,
}

/// Loans out of each slot's page.
struct LoanCounts(KVec<AtomicU32>);

impl LoanCounts {
    fn of(&self, slot: u16) -> u32 {
        self.0.get(usize::from(slot)).map_or(0, |c| c.load(Ordering::Acquire))
    }
}

/// A staged page lent to the stack as an skb frag: while this lives, the
/// page stays mapped and allocated (see [`StagedPages`]). Drop it once the
/// stack gave the page back.
pub(crate) struct StagedLoan {
    page: *mut kernel::bindings::page,
    slot: u16,
    counts: Arc<LoanCounts>,
}

// SAFETY: the page pointer is not tied to a context; the count is atomic.
unsafe impl Send for StagedLoan {}

impl StagedLoan {
    /// The lent page (mapped and allocated while the loan lives).
    pub(crate) fn page(&self) -> *mut kernel::bindings::page {
        self.page
    }
}

impl Drop for StagedLoan {
    fn drop(&mut self) {
        if let Some(c) = self.counts.0.get(usize::from(self.slot)) {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Why [`StagedPages::map`] mapped nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StageError {
    /// Fewer free slots than grants.
    NoSlots,
    /// No memory for the batch.
    NoMemory,
    /// A map failed (a grant not granted to us, or revoked); the others
    /// were undone.
    GrantFailed,
}

/// One grant to map onto a free slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StageRequest {
    /// The frontend's grant reference.
    pub(crate) gref: u32,
    /// Map it read-only.
    pub(crate) readonly: bool,
}

impl StagedPages {
    /// `n` unmapped pages for grants of the guest `domid` (process
    /// context).
    pub(crate) fn alloc(n: usize, domid: u16) -> Result<Self> {
        let pages = GrantPages::alloc(n)?;
        let slots = KVec::from_elem(None, n, GFP_KERNEL)?;
        let mut counts = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            counts.push_within_capacity(AtomicU32::new(0)).map_err(|_| ENOMEM)?;
        }
        let loans = Arc::new(LoanCounts(counts), GFP_KERNEL)?;
        Ok(Self { pages: ManuallyDrop::new(pages), slots, loans, domid })
    }

    /// Lends mapped slot `slot`'s page to the stack (any context). EINVAL
    /// if the slot is not mapped.
    pub(crate) fn lend(&self, slot: u16) -> Result<StagedLoan> {
        let page = self.mapped_page(slot, Direction::FromPage)?;
        let count = self.loans.0.get(usize::from(slot)).ok_or(EINVAL)?;
        count.fetch_add(1, Ordering::AcqRel);
        Ok(StagedLoan { page, slot, counts: self.loans.clone() })
    }

    /// Maps every grant of `reqs` onto a free slot, in one batch, and
    /// returns the slots (same order). All or nothing: if any map fails,
    /// the ones that succeeded are unmapped again. Process context.
    pub(crate) fn map(&mut self, reqs: &[StageRequest]) -> core::result::Result<KVec<u16>, StageError> {
        let mut slots = KVec::with_capacity(reqs.len(), GFP_KERNEL).map_err(|_| StageError::NoMemory)?;
        let free = self.slots.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i);
        for i in free.take(reqs.len()) {
            let slot = u16::try_from(i).map_err(|_| StageError::NoSlots)?;
            slots.push_within_capacity(slot).map_err(|_| StageError::NoSlots)?;
        }
        if slots.len() != reqs.len() {
            return Err(StageError::NoSlots);
        }
        let mut batch = MapBatch::new(reqs.len()).map_err(|_| StageError::NoMemory)?;
        for (r, &slot) in reqs.iter().zip(slots.iter()) {
            let arg = MapArg { domid: self.domid, gref: r.gref, readonly: r.readonly };
            batch.push(&self.pages, usize::from(slot), arg).map_err(|_| StageError::NoMemory)?;
        }
        batch.submit();
        let mut failed = false;
        for (i, (r, &slot)) in reqs.iter().zip(slots.iter()).enumerate() {
            match (batch.handle(i), self.slots.get_mut(usize::from(slot))) {
                (Some(handle), Some(s)) => *s = Some(Mapping { handle, readonly: r.readonly }),
                _ => failed = true,
            }
        }
        if failed {
            self.unmap(&slots);
            return Err(StageError::GrantFailed);
        }
        Ok(slots)
    }

    fn is_mapped(&self, slot: u16) -> bool {
        self.slots.get(usize::from(slot)).is_some_and(|s| s.is_some())
    }

    /// Unmaps the mapped ones of `slots` in one batch (process context;
    /// nobody copies to or from them any more). Returns how many stay
    /// mapped because their unmap failed or their page is still lent
    /// (logged): those pages are never reused nor freed.
    pub(crate) fn unmap(&mut self, slots: &[u16]) -> usize {
        if let Ok(mut batch) = UnmapBatch::new(slots.len()) {
            let mut queued = KVec::<u16>::with_capacity(slots.len(), GFP_KERNEL).unwrap_or_default();
            for &slot in slots {
                if self.loans.of(slot) != 0 {
                    pr_err!("xen-netback-rs: staged grant slot {}: still lent to the stack, not unmapped\n", slot);
                    continue;
                }
                if let Some(m) = self.slots.get(usize::from(slot)).copied().flatten() {
                    if queued.push_within_capacity(slot).is_ok() {
                        let _ = batch.push(&self.pages, usize::from(slot), m.handle);
                    }
                }
            }
            batch.submit();
            for (i, &slot) in queued.iter().enumerate() {
                match self.slots.get_mut(usize::from(slot)) {
                    Some(s) if batch.ok(i) => *s = None,
                    _ => pr_err!("xen-netback-rs: staged grant slot {}: unmap failed ({})\n", slot, batch.status(i)),
                }
            }
        }
        let stuck = slots.iter().filter(|&&s| self.is_mapped(s)).count();
        if stuck > 0 {
            pr_err!("xen-netback-rs: {} staged grant pages stay mapped (never freed)\n", stuck);
        }
        stuck
    }

    /// The page of mapped slot `slot`, if it is mapped (writable, for
    /// `Direction::ToPage`).
    fn mapped_page(&self, slot: u16, dir: Direction) -> Result<*mut kernel::bindings::page> {
        let m = self.slots.get(usize::from(slot)).copied().flatten().ok_or(EINVAL)?;
        if dir == Direction::ToPage && m.readonly {
            return Err(EINVAL);
        }
        self.pages.page(usize::from(slot)).ok_or(EINVAL)
    }

    /// Guest TX: copies `len` bytes at `offset` of mapped slot `slot`'s
    /// page into `skb` at byte `pos` (any context). EINVAL if the slot is
    /// not mapped, the range leaves the page, or `skb` is too short. The
    /// guest may write the page meanwhile: the bytes land in our skb once,
    /// and nothing reads the page twice.
    pub(crate) fn copy_to_skb(&self, slot: u16, offset: u16, skb: &mut SkBuff, pos: u32, len: u32) -> Result {
        let page = self.mapped_page(slot, Direction::FromPage)?;
        // SAFETY: a mapped grant page: memory is behind it until it is
        // unmapped, which the owner does not do while copies run.
        unsafe { skb.store_from_page(pos, page, u32::from(offset), len) }
    }

    /// Guest RX: copies `len` bytes of `skb` from byte `pos` into mapped
    /// writable slot `slot`'s page at `offset` (any context). EINVAL if
    /// the slot is not mapped writable, the range leaves the page, or
    /// `skb` is too short.
    pub(crate) fn copy_from_skb(&self, slot: u16, offset: u16, skb: &SkBuff, pos: u32, len: u32) -> Result {
        let page = self.mapped_page(slot, Direction::ToPage)?;
        // SAFETY: a page mapped writable (checked), as above.
        unsafe { skb.copy_to_page(pos, page, u32::from(offset), len) }
    }
}

/// Which way a copy goes, relative to the staged page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Out of the page (guest TX): any mapping will do.
    FromPage,
    /// Into the page (guest RX): only a writable mapping.
    ToPage,
}

impl Drop for StagedPages {
    fn drop(&mut self) {
        let mapped: KVec<u16> = (0..self.slots.len())
            .filter_map(|i| u16::try_from(i).ok())
            .filter(|&s| self.is_mapped(s))
            .fold(KVec::new(), |mut v, s| {
                let _ = v.push(s, GFP_KERNEL);
                v
            });
        let still = self.unmap(&mapped);
        let lent = (0..self.slots.len()).filter_map(|i| u16::try_from(i).ok()).any(|s| self.loans.of(s) != 0);
        if still == 0 && !lent && !self.slots.iter().any(|s| s.is_some()) {
            // SAFETY: dropped once, here; no page is mapped or lent any
            // more, and no new loan can start (that takes `&self`).
            unsafe { ManuallyDrop::drop(&mut self.pages) };
        } else if lent {
            pr_err!("xen-netback-rs: staged grant pages still lent to the stack at teardown: leaked\n");
        }
    }
}

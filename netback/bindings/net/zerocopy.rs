// SPDX-License-Identifier: GPL-2.0
//! Zero-copy guest TX: guest pages grant-mapped into a queue's pages and
//! attached to skbs as frags, with a `ubuf_info` completion per skb (the
//! kernel's `ubuf_info_msgzc` / `ubuf_info_ops`, as xen-netback since
//! XSA-423).
//!
//! [`ZeroCopyArea`] owns one queue's pending slots: a page from
//! `gnttab_alloc_pages` and a `ubuf_info_msgzc` per slot, and a state per
//! slot that makes the dangerous orders impossible: a page is mapped only
//! when free, handed to the stack only when mapped, unmapped only when the
//! stack gave it back, and the pages are freed only when every slot is
//! free (else they are leaked, with an error).
//!
//! A slot can also carry a staged grant's page instead of its own
//! ([`ZeroCopyArea::claim_loan`]): the frontend's page is mapped already,
//! so there is nothing to map or unmap, only the loan to end when the
//! stack gave the page back ([`ZeroCopyArea::end_loan`]). An area made
//! for loans only (`tx_zerocopy=staged`) has no pages of its own.
//!
//! The completion ([`complete`], any context) marks the skb's slots done
//! in a bitmap of atomics (lock-free: several CPUs may complete at once),
//! counts the packet as zero-copy success or fail and schedules the queue's
//! NAPI, whose poll takes the done slots, unmaps them in one batch and
//! answers them.

use super::device::NetDev;
use super::skb::SkBuff;
use crate::bindings::ffi;
use crate::bindings::xen::grant::{GrantHandle, GrantPages, MapArg, MapBatch, UnmapBatch};
use crate::bindings::xen::staged::StagedLoan;
use core::mem::ManuallyDrop;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use kernel::bindings::{self as b, sk_buff, ubuf_info, ubuf_info_msgzc, ubuf_info_ops};
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::grant_pool::MappedSlot;
use crate::netif::pool::SlotPool;

/// Pending slots per queue (xen-netback's MAX_PENDING_REQS: the TX ring
/// size, so a frontend within the ring never runs out).
pub(crate) const ZC_SLOTS: usize = 256;
/// Words of the done bitmap.
const DONE_WORDS: usize = ZC_SLOTS / 64;
/// Frags an skb takes.
pub(crate) const ZC_MAX_FRAGS: usize = b::MAX_SKB_FRAGS as usize;

/// Slot states (`SlotUbuf::state`).
const FREE: u8 = 0;
/// Grant-mapped (or being mapped), or holding a staged page's loan; owned
/// by the driver.
const MAPPED: u8 = 1;
/// A frag of an skb the stack holds.
const IN_STACK: u8 = 2;

/// What the completions share with the queue.
struct Shared {
    /// Slots the stack gave back, one bit each.
    done: [AtomicU64; DONE_WORDS],
    /// Completed packets whose pages were not copied.
    success: AtomicU64,
    /// Completed packets that were copied (`skb_copy_ubufs`).
    fail: AtomicU64,
    /// The queue's NAPI to schedule, or NULL once the queue stops.
    napi: AtomicPtr<ffi::napi_struct>,
    /// Completions running now (teardown waits for them to leave).
    busy: AtomicU32,
}

/// One slot's completion record.
#[repr(C)]
struct SlotUbuf {
    /// First: the `ubuf_info` the kernel hands to [`complete`] is this one.
    msgzc: Opaque<ubuf_info_msgzc>,
    /// The area's shared part.
    shared: *const Shared,
    /// FREE, MAPPED or IN_STACK.
    state: AtomicU8,
}

/// The pages and completion records of one queue's pending slots.
///
/// # Invariants
///
/// `ubufs` and `loans` have [`ZC_SLOTS`] entries, `ubufs` never
/// reallocated, each pointing at `*shared`; `pages`, when present, has
/// [`ZC_SLOTS`] pages.
/// A slot's page (or its loan's) is in an skb only while its state is
/// IN_STACK; a slot with a loan is MAPPED or IN_STACK.
pub(crate) struct ZeroCopyArea {
    /// The slots' own pages, to map into; `None` for an area that only
    /// lends staged pages.
    pages: ManuallyDrop<Option<GrantPages>>,
    ubufs: ManuallyDrop<KVec<SlotUbuf>>,
    shared: ManuallyDrop<KBox<Shared>>,
    /// Staged pages standing in for a slot's own page.
    loans: ManuallyDrop<KVec<Option<StagedLoan>>>,
}

// SAFETY: the raw pointers point into this value's own heap allocations;
// the shared part is atomics.
unsafe impl Send for ZeroCopyArea {}

/// The completion callback of every slot.
static UBUF_OPS: ubuf_info_ops = ubuf_info_ops { complete: Some(complete), link_skb: None };

/// `ubuf_info_ops.complete`: the stack is done with an skb's mapped pages
/// (freed it, or copied them: `zerocopy_success` false). Any context.
///
/// # Safety
///
/// `ubuf` is the `ubuf_info` of a [`SlotUbuf`] of a live [`ZeroCopyArea`]
/// that [`ZeroCopyArea::attach`] set as an skb's `destructor_arg`.
unsafe extern "C" fn complete(_skb: *mut sk_buff, ubuf: *mut ubuf_info, zerocopy_success: bool) {
    let mut slot = ubuf.cast::<SlotUbuf>().cast_const();
    // SAFETY: `ubuf` is the first field of a `SlotUbuf` (repr(C)); its
    // `shared` lives as long as the area, which outlives its skbs.
    let shared = unsafe { &*(*slot).shared };
    shared.busy.fetch_add(1, Ordering::SeqCst);
    while !slot.is_null() {
        // SAFETY: a slot of the chain `attach` built; the kernel does not
        // touch `desc`/`ctx` of our records.
        let (index, next) = unsafe {
            let m = (*(*slot).msgzc.get()).__bindgen_anon_1.__bindgen_anon_1;
            (m.desc, m.ctx.cast::<SlotUbuf>().cast_const())
        };
        // SAFETY: as above.
        unsafe { (*slot).state.store(MAPPED, Ordering::Release) };
        if let Some(word) = shared.done.get(index / 64) {
            word.fetch_or(1 << (index % 64), Ordering::AcqRel);
        }
        slot = next;
    }
    if zerocopy_success {
        shared.success.fetch_add(1, Ordering::Relaxed);
    } else {
        shared.fail.fetch_add(1, Ordering::Relaxed);
    }
    let napi = shared.napi.load(Ordering::SeqCst);
    if !napi.is_null() {
        // SAFETY: the queue's NAPI, alive while set ([`ZeroCopyArea::stop_kicks`]
        // clears it and waits for `busy`); any context.
        unsafe { ffi::nbrs_napi_schedule(napi) };
    }
    shared.busy.fetch_sub(1, Ordering::SeqCst);
}

impl ZeroCopyArea {
    /// [`ZC_SLOTS`] free slots (process context), with a page each to map
    /// into when `map_grants` (else only loans can fill them).
    pub(crate) fn new(map_grants: bool) -> Result<Self> {
        let pages = if map_grants { Some(GrantPages::alloc(ZC_SLOTS)?) } else { None };
        let shared = KBox::new(
            Shared {
                done: [const { AtomicU64::new(0) }; DONE_WORDS],
                success: AtomicU64::new(0),
                fail: AtomicU64::new(0),
                napi: AtomicPtr::new(null_mut()),
                busy: AtomicU32::new(0),
            },
            GFP_KERNEL,
        )?;
        let mut ubufs = KVec::with_capacity(ZC_SLOTS, GFP_KERNEL)?;
        for i in 0..ZC_SLOTS {
            // SAFETY: all-zero bytes are a valid `ubuf_info_msgzc`
            // (refcnt 0 and flags 0, as xen-netback's records).
            let mut m: ubuf_info_msgzc = unsafe { core::mem::zeroed() };
            m.ubuf.ops = &UBUF_OPS;
            m.__bindgen_anon_1.__bindgen_anon_1 =
                b::ubuf_info_msgzc__bindgen_ty_1__bindgen_ty_1 { desc: i as kernel::ffi::c_ulong, ctx: null_mut() };
            let slot = SlotUbuf { msgzc: Opaque::new(m), shared: &*shared, state: AtomicU8::new(FREE) };
            ubufs.push_within_capacity(slot).map_err(|_| ENOMEM)?;
        }
        let mut loans = KVec::with_capacity(ZC_SLOTS, GFP_KERNEL)?;
        for _ in 0..ZC_SLOTS {
            loans.push_within_capacity(None).map_err(|_| ENOMEM)?;
        }
        Ok(Self {
            pages: ManuallyDrop::new(pages),
            ubufs: ManuallyDrop::new(ubufs),
            shared: ManuallyDrop::new(shared),
            loans: ManuallyDrop::new(loans),
        })
    }

    fn slot(&self, index: usize) -> Result<&SlotUbuf> {
        self.ubufs.get(index).ok_or(EINVAL)
    }

    /// Completions schedule `dev`'s NAPI from now on (NAPI context: the
    /// queue's device view).
    pub(crate) fn set_kick(&self, dev: &NetDev<'_>) {
        if self.shared.napi.load(Ordering::Relaxed).is_null() {
            if let Some(napi) = dev.added_napi() {
                self.shared.napi.store(napi, Ordering::SeqCst);
            }
        }
    }

    /// No completion schedules NAPI any more once this returns (the queue
    /// is going away; completions still mark their slots done).
    pub(crate) fn stop_kicks(&self) {
        self.shared.napi.store(null_mut(), Ordering::SeqCst);
        while self.shared.busy.load(Ordering::SeqCst) != 0 {
            core::hint::spin_loop();
        }
    }

    /// Queues the read-only map of the guest's `gref` onto slot `index`'s
    /// page; the slot becomes MAPPED. EBUSY if the slot is not free, EINVAL
    /// for an area without pages.
    pub(crate) fn push_map(&self, batch: &mut MapBatch, index: usize, domid: u16, gref: u32) -> Result<usize> {
        let pages = self.pages.as_ref().ok_or(EINVAL)?;
        let slot = self.slot(index)?;
        slot.state.compare_exchange(FREE, MAPPED, Ordering::AcqRel, Ordering::Acquire).map_err(|_| EBUSY)?;
        batch
            .push(pages, index, MapArg { domid, gref, readonly: true })
            .inspect_err(|_| slot.state.store(FREE, Ordering::Release))
    }

    /// Slot `index` carries the staged page of `loan` instead of its own
    /// (nothing to map); the slot becomes MAPPED. EBUSY if it is not free
    /// (the loan is dropped).
    pub(crate) fn claim_loan(&mut self, index: usize, loan: StagedLoan) -> Result {
        let slot = self.slot(index)?;
        slot.state.compare_exchange(FREE, MAPPED, Ordering::AcqRel, Ordering::Acquire).map_err(|_| EBUSY)?;
        match self.loans.get_mut(index) {
            Some(l) => {
                *l = Some(loan);
                Ok(())
            }
            None => Err(EINVAL),
        }
    }

    /// Ends the loan of slot `index` once the stack gave its page back (or
    /// it never got it); the slot becomes free. False if the slot has no
    /// loan or the stack still holds it.
    pub(crate) fn end_loan(&mut self, index: usize) -> bool {
        let mapped = self.slot(index).is_ok_and(|s| s.state.load(Ordering::Acquire) == MAPPED);
        let Some(loan) = self.loans.get_mut(index).filter(|l| mapped && l.is_some()) else {
            return false;
        };
        *loan = None;
        if let Ok(slot) = self.slot(index) {
            slot.state.store(FREE, Ordering::Release);
        }
        true
    }

    /// Slot `index`'s map failed: free again.
    pub(crate) fn map_failed(&self, index: usize) {
        if let Ok(slot) = self.slot(index) {
            let _ = slot.state.compare_exchange(MAPPED, FREE, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Queues the unmap of slot `index` (mapped with `handle`); the slot
    /// becomes free. EBUSY while the stack holds its page.
    pub(crate) fn push_unmap(&self, batch: &mut UnmapBatch, index: usize, handle: GrantHandle) -> Result<usize> {
        let pages = self.pages.as_ref().ok_or(EINVAL)?;
        let slot = self.slot(index)?;
        slot.state.compare_exchange(MAPPED, FREE, Ordering::AcqRel, Ordering::Acquire).map_err(|_| EBUSY)?;
        batch.push(pages, index, handle).inspect_err(|_| slot.state.store(MAPPED, Ordering::Release))
    }

    /// An unmap failed: the slot stays mapped (never reused, never freed).
    pub(crate) fn unmap_failed(&self, index: usize) {
        if let Ok(slot) = self.slot(index) {
            slot.state.store(MAPPED, Ordering::Release);
        }
    }

    /// Hands the mapped slots `frags` (slot index, offset in its page,
    /// length) to `skb` as its frags, behind one completion; the skb must
    /// have no frags yet. EINVAL (nothing changed) if a slot is not mapped
    /// or has no page, or for too many frags or a frag outside its page.
    pub(crate) fn attach(&self, skb: &mut SkBuff, frags: &[(u16, u16, u16)]) -> Result {
        let sh = skb.shinfo();
        // SAFETY: valid shared info of an skb we own.
        if frags.is_empty() || frags.len() > ZC_MAX_FRAGS || unsafe { (*sh).nr_frags } != 0 {
            return Err(EINVAL);
        }
        for &(index, off, len) in frags {
            let slot = self.slot(usize::from(index))?;
            let has_page = self.pages.is_some() || self.loans.get(usize::from(index)).is_some_and(|l| l.is_some());
            if usize::from(off) + usize::from(len) > kernel::page::PAGE_SIZE
                || slot.state.load(Ordering::Acquire) != MAPPED
                || !has_page
            {
                return Err(EINVAL);
            }
        }
        let mut prev: Option<&SlotUbuf> = None;
        for (i, &(index, off, len)) in frags.iter().enumerate() {
            let slot = self.slot(usize::from(index))?;
            let page = match self.loans.get(usize::from(index)) {
                Some(Some(loan)) => loan.page(),
                _ => self.pages.as_ref().and_then(|p| p.page(usize::from(index))).ok_or(EINVAL)?,
            };
            slot.state.store(IN_STACK, Ordering::Release);
            // A staged page stays mapped and allocated while this slot holds
            // its loan (`StagedLoan`), i.e. until the stack gives it back.
            // SAFETY: an skb we own, frag slot `i` free (none before, fewer
            // than MAX_SKB_FRAGS); a mapped page of ours or a lent one, the
            // frag inside it (checked); the skb takes its own page reference.
            unsafe { ffi::nbrs_skb_add_mapped_frag(skb.as_raw(), i as i32, page, off.into(), len.into()) };
            // SAFETY: our record, not in use by the kernel (the slot was
            // MAPPED, not IN_STACK); the chain ends at the last frag.
            unsafe {
                let m = &mut (*slot.msgzc.get()).__bindgen_anon_1.__bindgen_anon_1;
                m.ctx = null_mut();
                if let Some(p) = prev {
                    (*p.msgzc.get()).__bindgen_anon_1.__bindgen_anon_1.ctx = slot.msgzc.get().cast();
                }
            }
            prev = Some(slot);
        }
        let first = self.slot(usize::from(frags.first().ok_or(EINVAL)?.0))?;
        // SAFETY: an skb we own; the first record heads the chain and lives
        // until every slot is done (the area frees nothing before).
        unsafe {
            (*sh).__bindgen_anon_2.destructor_arg = first.msgzc.get().cast();
            (*sh).flags |= b::SKBFL_ZEROCOPY_ENABLE as u8;
        }
        Ok(())
    }

    /// Marks a MAPPED slot done, as a completion would (a packet that never
    /// reached the stack).
    pub(crate) fn release(&self, index: usize) {
        if let Some(word) = self.shared.done.get(index / 64) {
            word.fetch_or(1 << (index % 64), Ordering::AcqRel);
        }
    }

    /// Takes the set of done slots (bit `i % 64` of word `i / 64`).
    pub(crate) fn take_done(&self) -> [u64; DONE_WORDS] {
        let mut out = [0; DONE_WORDS];
        for (o, w) in out.iter_mut().zip(self.shared.done.iter()) {
            *o = w.swap(0, Ordering::AcqRel);
        }
        out
    }

    /// Takes the completed packets: (zero-copy success, fail).
    pub(crate) fn take_verdicts(&self) -> (u64, u64) {
        (self.shared.success.swap(0, Ordering::Relaxed), self.shared.fail.swap(0, Ordering::Relaxed))
    }

    /// Slots whose page the stack holds.
    pub(crate) fn in_stack(&self) -> usize {
        self.ubufs.iter().filter(|s| s.state.load(Ordering::Acquire) == IN_STACK).count()
    }

    /// Whether every slot is free (nothing mapped, nothing in the stack).
    fn all_free(&self) -> bool {
        self.ubufs.iter().all(|s| s.state.load(Ordering::Acquire) == FREE)
    }
}

impl Drop for ZeroCopyArea {
    fn drop(&mut self) {
        self.stop_kicks();
        if !self.all_free() {
            // A page still mapped, or still in an skb: freeing would hand a
            // foreign frame back to the allocator, or let the stack (or a
            // late completion) use freed memory. Leak the lot, and pin the
            // module: a late completion runs its code.
            pr_err!(
                "xen-netback-rs: {} zero-copy slot(s) still busy at teardown: leaking the queue's pages, module pinned\n",
                self.in_stack()
            );
            // The loans stay out too: their staged pages are never
            // unmapped nor freed.
            crate::bindings::module_get();
            return;
        }
        // SAFETY: dropped once, here; every slot is free: no page is mapped,
        // lent or in an skb, so no completion can come.
        unsafe {
            ManuallyDrop::drop(&mut self.pages);
            ManuallyDrop::drop(&mut self.ubufs);
            ManuallyDrop::drop(&mut self.shared);
            ManuallyDrop::drop(&mut self.loans);
        }
    }
}

// SAFETY: `SlotPool`'s fields are arrays of u16, u32 and bool, two usizes
// and `[T; N]`: all-zero bytes are a valid pool (with no free slot: see
// `SlotPool::reset`) whenever they are a valid `T`.
unsafe impl<T: Zeroable, const N: usize> Zeroable for SlotPool<T, N> {}

// SAFETY: integers and bools only.
unsafe impl Zeroable for MappedSlot {}

/// A [`SlotPool`] built in place on the heap (a pool of 256 is KiBs: it
/// must not pass through the kernel stack), all slots free.
pub(crate) fn new_slot_pool<T: Zeroable + Copy + Default, const N: usize>() -> Result<KBox<SlotPool<T, N>>> {
    let mut pool: KBox<SlotPool<T, N>> = KBox::init(pin_init::init_zeroed(), GFP_KERNEL)?;
    pool.reset();
    Ok(pool)
}

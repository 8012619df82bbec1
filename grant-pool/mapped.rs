// SPDX-License-Identifier: GPL-2.0
//! [`MappedSource`]: zero-copy guest TX. The bytes past a packet's linear
//! head stay in the guest's pages, grant-mapped read-only into the queue's
//! pending slots and attached to the skb as frags; each slot is answered
//! only when the stack gave its page back (the skb's completion, see
//! `bindings::net::zerocopy`), after its grant is unmapped.
//!
//! Life of a slot: [`MappedSource::reserve`] (pool slot + map op queued),
//! [`MappedSource::record_map`] after the batch ran, then either
//! [`MappedSource::attach`] (the stack holds it until the completion) or
//! [`MappedSource::release`] (the packet failed); [`MappedSource::drain`]
//! (NAPI) unmaps the done slots in one batch, answers them and frees them.
//!
//! A slot naming a staged grant ([`super::StagedGrants`]) needs no map: its
//! page is mapped already. [`MappedSource::reserve`] lends that page
//! to the skb instead, and the drain ends the loan (and the staged entry's
//! use) instead of unmapping. Under `tx_zerocopy=staged` that is all a
//! source does: it has no pages to map into, and packets that are not
//! staged throughout are copied (the core's plan).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::net::skb::SkBuff;
use crate::bindings::net::zerocopy::{new_slot_pool, ZeroCopyArea, ZC_MAX_FRAGS, ZC_SLOTS};
use crate::bindings::xen::grant::{GrantHandle, MapBatch, UnmapBatch};
use crate::bindings::xen::ring::TxSharedRing;
use crate::bindings::xen::staged::StagedLoan;
use crate::grant_pool::StagedGrants;
use crate::netif::pool::{SlotHandle, SlotPool};
use crate::netif::ring::{BackRing, RingError};
use crate::netif::tx::{TxResponsePlan, TxSlot};
use crate::netif::wire::{NETIF_RSP_ERROR, NETIF_RSP_OKAY};
use kernel::prelude::*;
use kernel::time::{delay::fsleep, Delta, Instant, Monotonic};

/// How long teardown waits for the stack to give mapped pages back.
const TEARDOWN_WAIT_MS: u32 = 30_000;
/// Teardown logs what it still waits for this often.
const TEARDOWN_LOG_MS: u32 = 5_000;

/// A pending slot's data while in flight (held inline in the pool's array:
/// keep it small).
#[derive(Clone, Copy, Default)]
pub(crate) struct MappedSlot {
    /// Grant handle of the map, when `mapped`.
    handle: u32,
    /// Request id, for the response.
    id: u16,
    /// NULL responses owed after this one (the packet's first slot).
    extras: u8,
    /// The map succeeded: unmap before answering.
    mapped: bool,
    /// Answer NETIF_RSP_ERROR (the packet never reached the stack).
    failed: bool,
    /// The slot lends the staged page of `gref` (no map).
    staged: bool,
    /// The staged grant, when `staged`.
    gref: u32,
}

/// `frag_ops` entry of a frag with no map op (a staged page's loan).
const NO_MAP: u16 = u16::MAX;

/// The mapped frags of one packet: a run of its [`MappedSource`]'s frags of
/// the current map batch (a handle, so that a packet waiting for the batch
/// stays small; valid until [`MappedSource::clear_maps`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct MappedFrags {
    start: u16,
    len: u8,
}

impl MappedFrags {
    /// None yet.
    pub(crate) const fn new() -> Self {
        Self { start: 0, len: 0 }
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Their positions in the batch's frag list.
    fn range(&self) -> core::ops::Range<usize> {
        let start = usize::from(self.start);
        start..start + usize::from(self.len)
    }
}

/// One queue's zero-copy state.
pub(crate) struct MappedSource {
    area: ZeroCopyArea,
    /// Generation-checked bookkeeping of the slots in flight.
    pool: KBox<SlotPool<MappedSlot, ZC_SLOTS>>,
    /// The live handle of each slot index.
    handles: KVec<Option<SlotHandle>>,
    map: MapBatch,
    /// The frags of the map batch, one per queued map, in packet order:
    /// (slot index, offset, length), and the index of each one's map op.
    frags: KVec<(u16, u16, u16)>,
    frag_ops: KVec<u16>,
    unmap: UnmapBatch,
    /// Scratch for [`MappedSource::drain`]: (slot index, unmap op or
    /// [`NO_MAP`] for a slot that was never mapped).
    draining: KVec<(u16, u16)>,
    domid: u16,
}

impl MappedSource {
    /// The pending slots of one queue of the frontend of `domid` (process
    /// context): with 256 pages to map grants into when `map_grants`, else
    /// for staged pages' loans only (`tx_zerocopy=staged`).
    pub(crate) fn new(domid: u16, map_grants: bool) -> Result<Self> {
        // Loans need no map or unmap op: without pages the batches stay
        // empty (18 KiB a queue not allocated).
        let ops = if map_grants { ZC_SLOTS } else { 0 };
        Ok(Self {
            area: ZeroCopyArea::new(map_grants)?,
            pool: new_slot_pool()?,
            handles: KVec::from_elem(None, ZC_SLOTS, GFP_KERNEL)?,
            map: MapBatch::new(ops)?,
            frags: KVec::with_capacity(ZC_SLOTS, GFP_KERNEL)?,
            frag_ops: KVec::with_capacity(ZC_SLOTS, GFP_KERNEL)?,
            unmap: UnmapBatch::new(ops)?,
            draining: KVec::with_capacity(ZC_SLOTS, GFP_KERNEL)?,
            domid,
        })
    }

    /// Whether `n` more slots can be mapped now.
    pub(crate) fn has_room(&self, n: usize) -> bool {
        self.pool.available() >= n && self.map.len() + n <= ZC_SLOTS
    }

    /// Completions of this queue's skbs schedule `dev`'s NAPI.
    pub(crate) fn set_kick(&self, dev: &NetDev<'_>) {
        self.area.set_kick(dev);
    }

    /// Takes a pending slot for the `len` bytes at `offset` of `slot`
    /// (which owes `extras` NULL responses) and queues its map, or for a
    /// slot naming a staged grant lends `loan`'s page (mapped already: no
    /// map op); adds the frag to `frags` (a packet's frags are reserved one
    /// after another). False (nothing taken, the loan dropped) when no slot
    /// or frag is free; the caller then gives the staged entry's use back.
    pub(crate) fn reserve(
        &mut self,
        slot: &TxSlot,
        offset: u16,
        len: u16,
        extras: u32,
        frags: &mut MappedFrags,
        loan: Option<StagedLoan>,
    ) -> bool {
        let next = self.frags.len();
        let Ok(start) = u16::try_from(if frags.is_empty() { next } else { usize::from(frags.start) }) else {
            return false;
        };
        let contiguous = usize::from(start) + usize::from(frags.len) == next;
        // Room in the lists is checked first, so that their pushes below
        // cannot fail once the map is queued.
        let room = next < self.frags.capacity() && self.frag_ops.len() == next && next < self.frag_ops.capacity();
        if !contiguous || !room || usize::from(frags.len) >= ZC_MAX_FRAGS {
            return false;
        }
        let data = MappedSlot {
            id: slot.id,
            extras: u8::try_from(extras).unwrap_or(u8::MAX),
            staged: loan.is_some(),
            gref: slot.gref,
            ..Default::default()
        };
        let Ok(h) = self.pool.alloc(data) else {
            return false;
        };
        let index = h.index();
        let op = match loan {
            Some(loan) => self.area.claim_loan(usize::from(index), loan).map(|()| NO_MAP),
            None => self.area.push_map(&mut self.map, usize::from(index), self.domid, slot.gref).map(|op| op as u16),
        };
        let (Ok(op), Some(live)) = (op, self.handles.get_mut(usize::from(index))) else {
            let _ = self.area.end_loan(usize::from(index));
            let _ = self.pool.complete(h);
            return false;
        };
        *live = Some(h);
        frags.start = start;
        frags.len += 1;
        // Cannot fail (room checked above); if they did, later reserves
        // would find the lists uneven and refuse until the batch is cleared.
        let _ = self.frags.push_within_capacity((index, offset, len));
        let _ = self.frag_ops.push_within_capacity(op);
        true
    }

    /// Runs the queued maps (one hypercall).
    pub(crate) fn submit_maps(&mut self) {
        self.map.submit();
    }

    /// Records the results of `frags`' maps; false if any failed (the
    /// packet must then be [`MappedSource::release`]d).
    pub(crate) fn record_maps(&mut self, frags: &MappedFrags) -> bool {
        let mut ok = true;
        let run = frags.range();
        let (list, ops) = (self.frags.get(run.clone()).unwrap_or(&[]), self.frag_ops.get(run).unwrap_or(&[]));
        for (&(index, _, _), &op) in list.iter().zip(ops.iter()) {
            if op == NO_MAP {
                // A staged page's loan: nothing was mapped.
                continue;
            }
            let handle = self.map.handle(usize::from(op));
            let data = self.live(index).and_then(|h| self.pool.get_mut(h).ok());
            match (handle, data) {
                (Some(GrantHandle(handle)), Some(d)) => {
                    d.handle = handle;
                    d.mapped = true;
                }
                (Some(_), None) => ok = false,
                (None, _) => {
                    self.area.map_failed(usize::from(index));
                    ok = false;
                }
            }
        }
        ok
    }

    /// Forgets the map ops and frags of the last batch (after
    /// [`MappedSource::record_maps`]).
    pub(crate) fn clear_maps(&mut self) {
        self.map.clear();
        self.frags.clear();
        self.frag_ops.clear();
    }

    /// The (slot index, offset, length) of `frags`.
    fn frags_of(&self, frags: &MappedFrags) -> &[(u16, u16, u16)] {
        self.frags.get(frags.range()).unwrap_or(&[])
    }

    /// Hands `frags` to `skb` behind one completion.
    pub(crate) fn attach(&self, skb: &mut SkBuff, frags: &MappedFrags) -> Result {
        self.area.attach(skb, self.frags_of(frags))
    }

    /// The packet of `frags` failed before reaching the stack: its slots
    /// are unmapped and answered with an error by the next drain.
    pub(crate) fn release(&mut self, frags: &MappedFrags) {
        for &(index, _, _) in self.frags.get(frags.range()).unwrap_or(&[]) {
            if let Some(d) = self.live(index).and_then(|h| self.pool.get_mut(h).ok()) {
                d.failed = true;
            }
            self.area.release(usize::from(index));
        }
    }

    fn live(&self, index: u16) -> Option<SlotHandle> {
        self.handles.get(usize::from(index)).copied().flatten()
    }

    /// Unmaps the slots the stack gave back (one hypercall), ends the loans
    /// of staged pages among them (and their entries' use in `staged`,
    /// when given: not at a teardown without it) and answers them. Returns
    /// the completed packets (zero-copy success, fail).
    pub(crate) fn drain(
        &mut self,
        ring: &mut BackRing<TxSharedRing>,
        staged: Option<&StagedGrants>,
    ) -> core::result::Result<(u64, u64), RingError> {
        let done = self.area.take_done();
        self.draining.clear();
        self.unmap.clear();
        for (w, bits) in done.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let index = (w * 64 + bits.trailing_zeros() as usize) as u16;
                bits &= bits - 1;
                let Some(h) = self.live(index) else {
                    pr_err!("xen-netback-rs: zero-copy completion of idle slot {}\n", index);
                    continue;
                };
                let Ok(&d) = self.pool.get(h) else {
                    continue;
                };
                if d.staged && !self.area.end_loan(usize::from(index)) {
                    pr_err!("xen-netback-rs: zero-copy slot {} has no staged loan to end\n", index);
                    continue;
                }
                let op = if d.mapped {
                    match self.area.push_unmap(&mut self.unmap, usize::from(index), GrantHandle(d.handle)) {
                        Ok(op) => op as u16,
                        Err(e) => {
                            pr_err!("xen-netback-rs: cannot unmap slot {}: {:?}\n", index, e);
                            continue;
                        }
                    }
                } else {
                    NO_MAP
                };
                let _ = self.draining.push_within_capacity((index, op));
            }
        }
        self.unmap.submit();
        let mut result = Ok(());
        for &(index, op) in self.draining.iter() {
            if op != NO_MAP && !self.unmap.ok(usize::from(op)) {
                // Still mapped: never answered (netfront would find its
                // grant in use) and never reused.
                pr_err!(
                    "xen-netback-rs: unmap of slot {} failed ({}): slot leaked\n",
                    index,
                    self.unmap.status(usize::from(op))
                );
                self.area.unmap_failed(usize::from(index));
                continue;
            }
            let Some(h) = self.handles.get_mut(usize::from(index)).and_then(|h| h.take()) else {
                continue;
            };
            let Ok(d) = self.pool.complete(h) else {
                continue;
            };
            if let Some(staged) = staged.filter(|_| d.staged) {
                staged.give_back(d.gref);
            }
            let status = if d.failed { NETIF_RSP_ERROR } else { NETIF_RSP_OKAY };
            for rsp in TxResponsePlan::<1>::single(d.id, u32::from(d.extras)).responses(status) {
                if let Err(e) = ring.push_response(rsp) {
                    result = Err(e);
                }
            }
        }
        result.map(|()| self.area.take_verdicts())
    }

    /// Slots in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.pool.in_flight()
    }

    /// Waits (bounded, logged) for the stack to give back every mapped
    /// page, unmapping and answering as they come. Process context, NAPI
    /// stopped. Returns the completed packets (success, fail); what is
    /// still held after the bound is leaked when the area drops.
    pub(crate) fn shutdown(
        &mut self,
        ring: &mut BackRing<TxSharedRing>,
        staged: Option<&StagedGrants>,
        name: &str,
    ) -> (u64, u64) {
        let mut verdicts = (0, 0);
        let started = Instant::<Monotonic>::now();
        // When the next "waiting" line is due (ms since start); none logged
        // while it is 0.
        let mut next_log_ms = 0;
        loop {
            if let Ok((s, f)) = self.drain(ring, staged) {
                verdicts.0 += s;
                verdicts.1 += f;
            }
            let held = self.in_flight();
            let waited = started.elapsed().as_millis();
            if held == 0 {
                if next_log_ms != 0 {
                    pr_info!("{}: the stack released every zero-copy slot after {} ms\n", name, waited);
                }
                break;
            }
            if waited > i64::from(TEARDOWN_WAIT_MS) {
                pr_err!("{}: gave up waiting for the stack to release {} zero-copy slot(s)\n", name, held);
                break;
            }
            if waited >= next_log_ms {
                pr_info!("{}: waiting for the stack to release {} zero-copy slot(s)\n", name, held);
                next_log_ms = waited + i64::from(TEARDOWN_LOG_MS);
            }
            fsleep(Delta::from_millis(10));
        }
        verdicts
    }
}

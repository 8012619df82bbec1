//! The shared-ring model (`include/xen/interface/io/ring.h`), frontend side.
//!
//! The frontend owns the ring page and grants it to the backend. The driver
//! shell implements [`FrontSharedRing`] for that page (volatile accesses,
//! acquire/release ordering, barriers); [`FrontRing`] holds the frontend's
//! private indices and implements the ring.h front-ring macros on top of it
//! with free-running, wrapping `u32` indices.
//!
//! The backend is not trusted (XSA-403). The one shared index it writes that
//! we act on, `rsp_prod`, is checked at every read against what the
//! backend can legitimately have answered: it may not be more than the
//! requests we published and have not yet seen answered ("Illegal number
//! of responses" in Linux netfront, which checks against the ring size;
//! this check is tighter), and it may not move backwards ("RX producer
//! index going backwards"). A violation is sticky: the ring reports it from
//! then on and refuses new requests, like netfront's `broken` flag, and the
//! shell disables the device. The shared `req_prod` is never read back:
//! our own copy of the last published value is used.
//!
//! A response slot is copied out exactly once: [`FrontRing::next_response`]
//! returns an owned copy and advances `rsp_cons`, so the API offers no way to
//! read the same slot again.
//!
//! For tests and fuzzers, [`MemRing`] implements [`FrontSharedRing`], and
//! [`SharedMemRing`] lets a `FrontRing` and a `BackRing` share one
//! `MemRing`, so both ends of the protocol run over the same memory.

use core::cell::RefCell;

use super::ring::{event_in_published_range, valid_ring_size, MemRing, SharedRing};

/// One ring page granted by the frontend, as the frontend sees it.
/// Implemented by the driver shell over the page, and by [`MemRing`] and
/// [`SharedMemRing`] for tests and fuzzing.
pub trait FrontSharedRing {
    /// The request type.
    type Request: Copy;
    /// The response type (`RING_COPY_RESPONSE` destination).
    type Response: Copy;

    /// Number of entries; must be a non-zero power of two (checked by
    /// [`FrontRing::new`]).
    fn size(&self) -> u32;

    /// Writes request slot `slot` (already masked, `< size()`).
    fn write_request(&mut self, slot: u32, req: Self::Request);

    /// Publishes `req_prod` with release semantics: all requests written
    /// before become visible first (`virt_wmb()` then the store).
    fn publish_req_prod(&mut self, req_prod: u32);

    /// Reads the shared `req_event` (backend-controlled; only used for the
    /// notification decision).
    fn req_event(&self) -> u32;

    /// Reads the shared `rsp_prod` with acquire semantics: response slots
    /// below it must be visible to later [`FrontSharedRing::copy_response`]
    /// calls (the `rmb()` after reading `rsp_prod` in C).
    fn rsp_prod_acquire(&self) -> u32;

    /// Copies response slot `slot` (already masked, `< size()`) out of shared
    /// memory with one volatile read of the whole entry.
    fn copy_response(&self, slot: u32) -> Self::Response;

    /// Writes the shared `rsp_event`.
    fn set_rsp_event(&mut self, rsp_event: u32);

    /// Full memory barrier (`virt_mb()`), between publishing an index and
    /// reading the other side's event index or producer.
    fn full_barrier(&self);
}

/// A front-ring error: a shell bug, or the backend broke the ring protocol
/// (then the device must be disabled; Linux netfront sets `broken`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontRingError {
    /// The ring size is not a non-zero power of two (shell bug).
    BadSize(u32),
    /// A request was pushed with no free slot (caller bug: check
    /// [`FrontRing::free_requests`] first).
    Full,
    /// `rsp_prod - rsp_cons` exceeds the requests published and not yet
    /// answered (netfront's "Illegal number of responses", XSA-403). Fatal.
    IllegalResponseCount {
        /// The backend's `rsp_prod`.
        rsp_prod: u32,
        /// Our `rsp_cons`.
        rsp_cons: u32,
        /// Requests published and not yet answered (`req_prod - rsp_cons`).
        outstanding: u32,
    },
    /// `rsp_prod` moved backwards from a value already seen. Fatal.
    RspProdBackwards {
        /// The backend's `rsp_prod` now.
        rsp_prod: u32,
        /// The `rsp_prod` seen before.
        seen: u32,
    },
}

impl FrontRingError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            FrontRingError::BadSize(_) => "ring size is not a power of two",
            FrontRingError::Full => "request pushed on a full ring",
            FrontRingError::IllegalResponseCount { .. } => {
                "illegal number of responses (rsp_prod - rsp_cons > outstanding requests)"
            }
            FrontRingError::RspProdBackwards { .. } => "response producer index going backwards",
        }
    }

    /// Whether the backend broke the protocol (the ring is then unusable and
    /// the device must be disabled), as opposed to a local bug.
    pub const fn is_backend_fault(&self) -> bool {
        matches!(self, FrontRingError::IllegalResponseCount { .. } | FrontRingError::RspProdBackwards { .. })
    }
}

/// The frontend's private ring state (`struct *_front_ring`) plus the ring.
#[derive(Debug)]
pub struct FrontRing<R> {
    ring: R,
    size: u32,
    /// Next request index to produce.
    req_prod_pvt: u32,
    /// The `req_prod` last published (our copy; the shared one is never read).
    req_published: u32,
    /// Next response index to consume.
    rsp_cons: u32,
    /// The last `rsp_prod` read and validated; responses below it may be
    /// consumed without reading `rsp_prod` again.
    rsp_prod_seen: u32,
    /// The backend fault detected, if any (sticky).
    broken: Option<FrontRingError>,
}

impl<R: FrontSharedRing> FrontRing<R> {
    /// `FRONT_RING_INIT`: a ring whose indices start at 0. The shell has
    /// initialised the shared page (`SHARED_RING_INIT`: producers 0, events 1).
    pub fn new(ring: R) -> Result<Self, FrontRingError> {
        Self::new_at(ring, 0)
    }

    /// `FRONT_RING_ATTACH` at index `start`: the shared `req_prod` and
    /// `rsp_prod` must both be `start` (the frontend initialises the page;
    /// tests start near `u32::MAX` to exercise wrapping).
    pub fn new_at(ring: R, start: u32) -> Result<Self, FrontRingError> {
        let size = ring.size();
        if !valid_ring_size(size) {
            return Err(FrontRingError::BadSize(size));
        }
        Ok(FrontRing {
            ring,
            size,
            req_prod_pvt: start,
            req_published: start,
            rsp_cons: start,
            rsp_prod_seen: start,
            broken: None,
        })
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Next request index to produce.
    pub fn req_prod_pvt(&self) -> u32 {
        self.req_prod_pvt
    }

    /// The `req_prod` last published.
    pub fn req_prod_published(&self) -> u32 {
        self.req_published
    }

    /// Next response index to consume.
    pub fn rsp_cons(&self) -> u32 {
        self.rsp_cons
    }

    /// Requests published whose responses have not been consumed yet: the
    /// most responses the backend may have produced.
    pub fn outstanding(&self) -> u32 {
        self.req_published.wrapping_sub(self.rsp_cons)
    }

    /// Requests produced (published or not) whose responses have not been
    /// consumed yet.
    pub fn in_flight(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// `RING_FREE_REQUESTS`: request slots that may be produced now.
    pub fn free_requests(&self) -> u32 {
        // `in_flight() <= size` always holds: requests are only produced
        // into free slots, and rsp_cons never passes rsp_prod_seen, which
        // never passes req_published.
        self.size.saturating_sub(self.in_flight())
    }

    /// `RING_FULL`.
    pub fn is_full(&self) -> bool {
        self.free_requests() == 0
    }

    /// The backend fault detected, if any. Once set, every response read
    /// and every request push fails with it.
    pub fn broken(&self) -> Option<FrontRingError> {
        self.broken
    }

    /// The ring.
    pub fn ring(&self) -> &R {
        &self.ring
    }

    /// The ring, mutably.
    pub fn ring_mut(&mut self) -> &mut R {
        &mut self.ring
    }

    /// Gives the ring back (for revoking the grant and freeing the page).
    pub fn into_inner(self) -> R {
        self.ring
    }

    fn mask(&self, idx: u32) -> u32 {
        idx & self.size.wrapping_sub(1)
    }

    fn check_broken(&self) -> Result<(), FrontRingError> {
        match self.broken {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes a request at `req_prod_pvt` and advances it (not yet
    /// published); returns the request's ring index. Refuses when the ring
    /// is full or broken.
    pub fn push_request(&mut self, req: R::Request) -> Result<u32, FrontRingError> {
        self.check_broken()?;
        if self.is_full() {
            return Err(FrontRingError::Full);
        }
        let index = self.req_prod_pvt;
        self.ring.write_request(self.mask(index), req);
        self.req_prod_pvt = index.wrapping_add(1);
        Ok(index)
    }

    /// Forgets the requests produced since the last publication (a packet
    /// abandoned half built): the backend never saw them, and their slots
    /// are written again by the next requests.
    pub fn discard_unpublished(&mut self) {
        self.req_prod_pvt = self.req_published;
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publishes `req_prod_pvt` and
    /// returns whether the backend asked to be notified (its `req_event`
    /// lies in the newly published range). The old value is our own copy,
    /// not a re-read of the shared index.
    pub fn push_requests_and_check_notify(&mut self) -> bool {
        let old = self.req_published;
        let new = self.req_prod_pvt;
        self.ring.publish_req_prod(new);
        self.req_published = new;
        self.ring.full_barrier();
        event_in_published_range(old, new, self.ring.req_event())
    }

    /// Reads `rsp_prod` once, validates it and records it as the snapshot;
    /// returns the responses available (`rsp_prod - rsp_cons`). A backend
    /// fault is recorded (sticky) and returned.
    fn read_rsp_prod(&mut self) -> Result<u32, FrontRingError> {
        self.check_broken()?;
        let rsp_prod = self.ring.rsp_prod_acquire();
        let available = rsp_prod.wrapping_sub(self.rsp_cons);
        let outstanding = self.outstanding();
        let fault = if available > outstanding {
            Some(FrontRingError::IllegalResponseCount { rsp_prod, rsp_cons: self.rsp_cons, outstanding })
        } else if available < self.rsp_prod_seen.wrapping_sub(self.rsp_cons) {
            Some(FrontRingError::RspProdBackwards { rsp_prod, seen: self.rsp_prod_seen })
        } else {
            None
        };
        if let Some(e) = fault {
            self.broken = Some(e);
            return Err(e);
        }
        self.rsp_prod_seen = rsp_prod;
        Ok(available)
    }

    /// `XEN_RING_NR_UNCONSUMED_RESPONSES` from a fresh, validated read of
    /// `rsp_prod` (for an interrupt handler's spurious-event accounting).
    pub fn unconsumed_responses(&mut self) -> Result<u32, FrontRingError> {
        self.read_rsp_prod()
    }

    /// `RING_HAS_UNCONSUMED_RESPONSES`, validated.
    pub fn has_unconsumed_responses(&mut self) -> Result<bool, FrontRingError> {
        Ok(self.read_rsp_prod()? != 0)
    }

    /// Copies out the next response and consumes it, returning its ring
    /// index; `Ok(None)` when none is available. `rsp_prod` is read (and
    /// validated) only when the responses known from the last read are used
    /// up, so at most once per call. The copy is the only read of that slot
    /// the API allows.
    pub fn next_response(&mut self) -> Result<Option<(u32, R::Response)>, FrontRingError> {
        self.check_broken()?;
        if self.rsp_cons == self.rsp_prod_seen && self.read_rsp_prod()? == 0 {
            return Ok(None);
        }
        let index = self.rsp_cons;
        let rsp = self.ring.copy_response(self.mask(index));
        self.rsp_cons = index.wrapping_add(1);
        Ok(Some((index, rsp)))
    }

    /// Asks for the next event only once `ahead` (at least 1) more
    /// responses have arrived: `rsp_event = rsp_cons + ahead`, past
    /// `req_prod` when fewer are outstanding. For a frontend that takes its
    /// answers without an event (netfront-rs' copied TX packets, freed when
    /// sent, whose answers only give slots back); no re-check, since what
    /// arrives meanwhile waits for the next time it looks.
    pub fn defer_response_event(&mut self, ahead: u32) {
        self.ring.set_rsp_event(self.rsp_cons.wrapping_add(ahead.max(1)));
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: whether more responses are
    /// pending; if not, arms `rsp_event = rsp_cons + 1` and checks again so a
    /// response racing with going idle is not missed.
    pub fn final_check_for_responses(&mut self) -> Result<bool, FrontRingError> {
        if self.has_unconsumed_responses()? {
            return Ok(true);
        }
        self.ring.set_rsp_event(self.rsp_cons.wrapping_add(1));
        self.ring.full_barrier();
        self.has_unconsumed_responses()
    }
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> FrontSharedRing for MemRing<Req, Rsp, N> {
    type Request = Req;
    type Response = Rsp;

    fn size(&self) -> u32 {
        N as u32
    }
    fn write_request(&mut self, slot: u32, req: Req) {
        // `slot % N` keeps the write in bounds even for a ring that
        // `FrontRing::new` would refuse.
        if let Some(s) = self.requests.get_mut((slot as usize) % N.max(1)) {
            *s = req;
        }
    }
    fn publish_req_prod(&mut self, req_prod: u32) {
        self.req_prod = req_prod;
    }
    fn req_event(&self) -> u32 {
        self.req_event
    }
    fn rsp_prod_acquire(&self) -> u32 {
        self.rsp_prod
    }
    fn copy_response(&self, slot: u32) -> Rsp {
        self.response_reads.set(self.response_reads.get().wrapping_add(1));
        self.responses.get((slot as usize) % N.max(1)).copied().unwrap_or_default()
    }
    fn set_rsp_event(&mut self, rsp_event: u32) {
        self.rsp_event = rsp_event;
    }
    fn full_barrier(&self) {}
}

/// One end's handle on a [`MemRing`] shared by a
/// [`FrontRing`] and a [`BackRing`](super::ring::BackRing) in the same test
/// or fuzz target: both implement their ring trait on a `SharedMemRing`
/// over one `RefCell`, so requests and responses really cross.
///
/// Each trait method borrows the cell for its own duration only; holding a
/// borrow of the cell across a ring call is a test bug and panics.
#[derive(Debug)]
pub struct SharedMemRing<'a, Req, Rsp, const N: usize>(&'a RefCell<MemRing<Req, Rsp, N>>);

impl<'a, Req, Rsp, const N: usize> SharedMemRing<'a, Req, Rsp, N> {
    /// A handle on `mem`; make one for each end.
    pub fn new(mem: &'a RefCell<MemRing<Req, Rsp, N>>) -> Self {
        SharedMemRing(mem)
    }

    /// The shared ring (to inspect it, or to play a hostile peer).
    pub fn mem(&self) -> &'a RefCell<MemRing<Req, Rsp, N>> {
        self.0
    }
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> FrontSharedRing for SharedMemRing<'_, Req, Rsp, N> {
    type Request = Req;
    type Response = Rsp;

    fn size(&self) -> u32 {
        N as u32
    }
    fn write_request(&mut self, slot: u32, req: Req) {
        self.0.borrow_mut().write_request(slot, req);
    }
    fn publish_req_prod(&mut self, req_prod: u32) {
        self.0.borrow_mut().publish_req_prod(req_prod);
    }
    fn req_event(&self) -> u32 {
        self.0.borrow().req_event
    }
    fn rsp_prod_acquire(&self) -> u32 {
        self.0.borrow().rsp_prod
    }
    fn copy_response(&self, slot: u32) -> Rsp {
        self.0.borrow().copy_response(slot)
    }
    fn set_rsp_event(&mut self, rsp_event: u32) {
        self.0.borrow_mut().rsp_event = rsp_event;
    }
    fn full_barrier(&self) {}
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> SharedRing for SharedMemRing<'_, Req, Rsp, N> {
    type Request = Req;
    type Response = Rsp;

    fn size(&self) -> u32 {
        N as u32
    }
    fn req_prod_acquire(&self) -> u32 {
        self.0.borrow().req_prod
    }
    fn copy_request(&self, slot: u32) -> Req {
        self.0.borrow().copy_request(slot)
    }
    fn write_response(&mut self, slot: u32, rsp: Rsp) {
        self.0.borrow_mut().write_response(slot, rsp);
    }
    fn rsp_prod(&self) -> u32 {
        self.0.borrow().rsp_prod
    }
    fn publish_rsp_prod(&mut self, rsp_prod: u32) {
        self.0.borrow_mut().rsp_prod = rsp_prod;
    }
    fn rsp_event(&self) -> u32 {
        self.0.borrow().rsp_event
    }
    fn set_req_event(&mut self, req_event: u32) {
        self.0.borrow_mut().req_event = req_event;
    }
    fn full_barrier(&self) {}
}

#[cfg(test)]
mod tests {
    use super::super::ring::{BackRing, RingError};
    use super::super::test_rng::Lcg;
    use super::super::wire::{TxRequest, TxResponse};
    use super::*;

    type Mem = MemRing<TxRequest, TxResponse, 8>;

    fn req(id: u16) -> TxRequest {
        TxRequest { id, ..TxRequest::default() }
    }

    /// A MemRing whose shared indices all start at `start` (events at start + 1).
    fn mem_at(start: u32) -> Mem {
        let mut m = Mem::new();
        m.req_prod = start;
        m.rsp_prod = start;
        m.req_event = start.wrapping_add(1);
        m.rsp_event = start.wrapping_add(1);
        m
    }

    #[test]
    fn rejects_bad_sizes() {
        let r: MemRing<TxRequest, TxResponse, 6> = MemRing::new();
        assert_eq!(FrontRing::new(r).err(), Some(FrontRingError::BadSize(6)));
        let r: MemRing<TxRequest, TxResponse, 0> = MemRing::new();
        assert_eq!(FrontRing::new(r).err(), Some(FrontRingError::BadSize(0)));
    }

    #[test]
    fn push_refuses_when_full_and_counts_free_slots() {
        let mut f = FrontRing::new(Mem::new()).unwrap();
        assert_eq!(f.free_requests(), 8);
        for i in 0..8 {
            assert_eq!(f.push_request(req(i)), Ok(u32::from(i)));
        }
        assert!(f.is_full());
        assert_eq!(f.push_request(req(9)), Err(FrontRingError::Full));
        // Unpublished requests are not visible and cannot be answered.
        assert_eq!(f.ring().req_prod, 0);
        assert_eq!(f.outstanding(), 0);
        assert_eq!(f.in_flight(), 8);
        assert!(f.push_requests_and_check_notify());
        assert_eq!(f.ring().req_prod, 8);
        assert_eq!(f.ring().requests[3].id, 3);
    }

    #[test]
    fn notify_follows_req_event_with_wrapping() {
        for start in [0u32, u32::MAX - 2] {
            let mut f = FrontRing::new_at(mem_at(start), start).unwrap();
            f.push_request(req(0)).unwrap();
            assert!(f.push_requests_and_check_notify(), "event at the first new request");
            f.push_request(req(1)).unwrap();
            assert!(!f.push_requests_and_check_notify(), "event already passed");
            // Backend asks to be woken at the 4th request: not by the 3rd.
            f.ring_mut().req_event = start.wrapping_add(4);
            f.push_request(req(2)).unwrap();
            assert!(!f.push_requests_and_check_notify());
            f.push_request(req(3)).unwrap();
            f.push_request(req(4)).unwrap();
            assert!(f.push_requests_and_check_notify(), "event inside a batch of two");
            // Nothing new published: never a notification.
            assert!(!f.push_requests_and_check_notify());
            assert_eq!(f.ring().req_prod, start.wrapping_add(5));
        }
    }

    #[test]
    fn final_check_arms_rsp_event() {
        let start = u32::MAX;
        let mut f = FrontRing::new_at(mem_at(start), start).unwrap();
        assert_eq!(f.final_check_for_responses(), Ok(false));
        assert_eq!(f.ring().rsp_event, 0);
        f.push_request(req(1)).unwrap();
        f.push_requests_and_check_notify();
        f.ring_mut().responses[7] = TxResponse { id: 1, status: 0 };
        f.ring_mut().rsp_prod = 0;
        assert_eq!(f.final_check_for_responses(), Ok(true));
        assert_eq!(f.next_response(), Ok(Some((u32::MAX, TxResponse { id: 1, status: 0 }))));
        assert_eq!(f.final_check_for_responses(), Ok(false));
        assert_eq!(f.ring().rsp_event, 1);
    }

    #[test]
    fn deferred_rsp_event_lies_ahead_of_rsp_cons() {
        let start = u32::MAX - 1;
        let mut f = FrontRing::new_at(mem_at(start), start).unwrap();
        f.defer_response_event(128);
        assert_eq!(f.ring().rsp_event, start.wrapping_add(128), "wraps with the indices");
        f.push_request(req(1)).unwrap();
        f.push_requests_and_check_notify();
        f.ring_mut().rsp_prod = start.wrapping_add(1);
        assert_eq!(f.next_response().map(|r| r.is_some()), Ok(true));
        f.defer_response_event(0);
        assert_eq!(f.ring().rsp_event, start.wrapping_add(2), "at least the next response");
        // The prompt form still arms the next one and re-checks.
        assert_eq!(f.final_check_for_responses(), Ok(false));
        assert_eq!(f.ring().rsp_event, start.wrapping_add(2));
    }

    #[test]
    fn too_many_responses_is_fatal_and_sticky() {
        let mut f = FrontRing::new(Mem::new()).unwrap();
        for i in 0..3 {
            f.push_request(req(i)).unwrap();
        }
        f.push_requests_and_check_notify();
        // One more request produced but not published: it cannot be answered.
        f.push_request(req(3)).unwrap();
        // Four responses for three published requests: the XSA-403 check.
        f.ring_mut().rsp_prod = 4;
        let e = FrontRingError::IllegalResponseCount { rsp_prod: 4, rsp_cons: 0, outstanding: 3 };
        assert_eq!(f.next_response(), Err(e));
        assert!(e.is_backend_fault());
        // Sticky: a corrected index does not revive the ring.
        f.ring_mut().rsp_prod = 1;
        assert_eq!(f.next_response(), Err(e));
        assert_eq!(f.final_check_for_responses(), Err(e));
        assert_eq!(f.push_request(req(9)), Err(e));
        assert_eq!(f.broken(), Some(e));
        assert_eq!(f.ring().response_reads.get(), 0);
    }

    #[test]
    fn rsp_prod_going_backwards_is_fatal() {
        let mut f = FrontRing::new(Mem::new()).unwrap();
        for i in 0..4 {
            f.push_request(req(i)).unwrap();
        }
        f.push_requests_and_check_notify();
        f.ring_mut().rsp_prod = 3;
        assert_eq!(f.unconsumed_responses(), Ok(3));
        // Still ahead of rsp_cons, but behind what was seen.
        f.ring_mut().rsp_prod = 2;
        assert_eq!(f.unconsumed_responses(), Err(FrontRingError::RspProdBackwards { rsp_prod: 2, seen: 3 }));

        // Behind rsp_cons: wraps to a huge count.
        let mut f = FrontRing::new(Mem::new()).unwrap();
        f.push_request(req(0)).unwrap();
        f.push_requests_and_check_notify();
        f.ring_mut().rsp_prod = 1;
        assert!(f.next_response().unwrap().is_some());
        f.ring_mut().rsp_prod = 0;
        assert!(matches!(f.next_response(), Err(FrontRingError::IllegalResponseCount { .. })));
    }

    #[test]
    fn snapshot_is_used_until_exhausted() {
        let mut f = FrontRing::new(Mem::new()).unwrap();
        for i in 0..4 {
            f.push_request(req(i)).unwrap();
        }
        f.push_requests_and_check_notify();
        for i in 0..4 {
            f.ring_mut().responses[i] = TxResponse { id: i as u16, status: 0 };
        }
        f.ring_mut().rsp_prod = 2;
        assert_eq!(f.next_response().unwrap().map(|(i, r)| (i, r.id)), Some((0, 0)));
        // A hostile rewrite of rsp_prod is not looked at while the snapshot
        // still covers the next response ...
        f.ring_mut().rsp_prod = 1000;
        assert_eq!(f.next_response().unwrap().map(|(i, r)| (i, r.id)), Some((1, 1)));
        // ... and caught at the next read.
        assert!(matches!(f.next_response(), Err(FrontRingError::IllegalResponseCount { rsp_prod: 1000, .. })));
    }

    /// A frontend and a backend over one MemRing: requests cross forward,
    /// responses back, with indices wrapping through u32::MAX, every slot
    /// copied exactly once at each end.
    #[test]
    fn round_trip_with_backend_over_shared_memory() {
        for start in [0u32, u32::MAX - 5, u32::MAX - 8] {
            let cell = RefCell::new(mem_at(start));
            let mut front = FrontRing::new_at(SharedMemRing::new(&cell), start).unwrap();
            let mut back = BackRing::attach_at(SharedMemRing::new(&cell), start).unwrap();
            let mut rng = Lcg(u64::from(start));
            let mut next_id = 0u16;
            let mut expect_id = 0u16;
            for _round in 0..50 {
                let n = (rng.next() % 9) as u32;
                for _ in 0..n.min(front.free_requests()) {
                    front.push_request(req(next_id)).unwrap();
                    next_id = next_id.wrapping_add(1);
                }
                let notify = front.push_requests_and_check_notify();
                let before = back.final_check_for_requests().unwrap();
                // The backend was idle with req_event armed: it is woken
                // exactly when there is new work for it.
                assert!(!notify || before);
                while let Some(r) = back.next_request().unwrap() {
                    back.push_response(TxResponse { id: r.id, status: 0 }).unwrap();
                }
                let _ = back.push_responses_and_check_notify();
                while let Some((_, rsp)) = front.next_response().unwrap() {
                    assert_eq!(rsp.id, expect_id);
                    expect_id = expect_id.wrapping_add(1);
                }
                assert_eq!(front.final_check_for_responses(), Ok(false));
                assert_eq!(front.free_requests(), 8);
            }
            assert_eq!(expect_id, next_id);
            let mem = cell.borrow();
            assert_eq!(mem.response_reads.get(), u64::from(next_id));
            assert_eq!(mem.request_reads.get(), u64::from(next_id));
            assert_eq!(front.rsp_cons(), start.wrapping_add(u32::from(next_id)));
        }
    }

    /// Notification decisions on both ends against ring.h's formula computed
    /// independently, on random batches (`(new - event) < (new - old)`).
    #[test]
    fn notification_decisions_match_ring_h() {
        let mut rng = Lcg(42);
        for _ in 0..2000 {
            let start = (rng.next() as u32).wrapping_mul(7919);
            let mut f = FrontRing::new_at(mem_at(start), start).unwrap();
            let n = (rng.next() % 9) as u32;
            for i in 0..n {
                f.push_request(req(i as u16)).unwrap();
            }
            let event = start.wrapping_add((rng.next() % 20) as u32).wrapping_sub(5);
            f.ring_mut().req_event = event;
            let new = start.wrapping_add(n);
            let expect = new.wrapping_sub(event) < new.wrapping_sub(start);
            assert_eq!(f.push_requests_and_check_notify(), expect);
            // Same event window semantics: notify iff old < event <= new (mod 2^32).
            let in_window = event.wrapping_sub(start).wrapping_sub(1) < n;
            assert_eq!(expect, in_window);
        }
    }

    /// Arbitrary rsp_prod values never panic, always yield either an error
    /// or responses within the outstanding window, and once an error is
    /// reported it stays.
    #[test]
    fn hostile_rsp_prod_never_panics() {
        let mut rng = Lcg(7);
        for _ in 0..300 {
            let start = rng.next() as u32;
            let mut f = FrontRing::new_at(mem_at(start), start).unwrap();
            let mut consumed = 0u32;
            for _ in 0..40 {
                let n = (rng.next() % 4) as u32;
                for _ in 0..n.min(f.free_requests()) {
                    let _ = f.push_request(req(0));
                }
                f.push_requests_and_check_notify();
                let rsp_prod = match rng.next() % 4 {
                    0 => rng.next() as u32,
                    1 => f.rsp_cons().wrapping_add((rng.next() % 10) as u32),
                    2 => f.rsp_cons().wrapping_sub((rng.next() % 3) as u32),
                    _ => f.req_prod_published(),
                };
                f.ring_mut().rsp_prod = rsp_prod;
                let was_broken = f.broken();
                match f.next_response() {
                    Ok(Some((index, _))) => {
                        assert!(was_broken.is_none());
                        assert_eq!(index, start.wrapping_add(consumed));
                        consumed += 1;
                        assert!(f.rsp_cons().wrapping_sub(start) <= f.req_prod_published().wrapping_sub(start));
                    }
                    Ok(None) => assert!(was_broken.is_none()),
                    Err(e) => {
                        assert!(e.is_backend_fault());
                        assert!(was_broken.is_none() || was_broken == Some(e));
                        assert_eq!(f.broken(), Some(e));
                    }
                }
                let _ = f.final_check_for_responses();
                assert!(f.free_requests() <= 8);
            }
            assert_eq!(f.ring().response_reads.get(), u64::from(consumed));
        }
    }

    #[test]
    fn backend_ring_errors_still_work_over_shared_memory() {
        // The adapter is a plain SharedRing: the backend's own hostile-index
        // checks apply unchanged.
        let cell = RefCell::new(Mem::new());
        let mut back = BackRing::new(SharedMemRing::new(&cell)).unwrap();
        cell.borrow_mut().req_prod = 9;
        assert!(matches!(back.next_request(), Err(RingError::ImpossibleRequestCount { .. })));
        assert_eq!(SharedMemRing::new(&cell).mem().borrow().req_prod, 9);
    }

    #[test]
    fn discarded_requests_are_never_published() {
        let mut ring = FrontRing::new(MemRing::<u32, u32, 4>::new()).unwrap();
        ring.push_request(1).unwrap();
        ring.push_requests_and_check_notify();
        ring.push_request(2).unwrap();
        ring.push_request(3).unwrap();
        ring.discard_unpublished();
        assert_eq!((ring.req_prod_pvt(), ring.req_prod_published(), ring.free_requests()), (1, 1, 3));
        ring.push_request(4).unwrap();
        ring.push_requests_and_check_notify();
        assert_eq!(ring.ring().req_prod, 2);
    }
}

//! The shared-ring model (`include/xen/interface/io/ring.h`), backend side.
//!
//! The driver shell implements [`SharedRing`] for one mapped ring page: it is
//! the only place that touches guest-writable memory (volatile copies,
//! acquire/release ordering, barriers). [`BackRing`] holds the backend's
//! private indices and implements the ring.h macros on top of it with
//! free-running, wrapping `u32` indices. Every index the frontend controls
//! (`req_prod`, `rsp_event`) is treated as hostile: it is bounds-checked
//! before use and never used to index memory without masking.
//!
//! A request slot is copied out exactly once: [`BackRing::next_request`]
//! returns an owned copy and advances `req_cons`, so the API offers no way to
//! read the same slot again (the XSA-155 double-fetch class).
//!
//! A consumer that must take several requests as a unit (guest RX: all the
//! buffers of one packet, or none) first reserves them with
//! [`BackRing::reserve_requests`], which reads `req_prod` once and checks
//! the count against that one snapshot, then takes them with
//! [`BackRing::take_reserved`], which never reads `req_prod` again. What the
//! frontend does to `req_prod` meanwhile cannot change what is consumed.

use core::cell::Cell;

/// Whether `size` can be a shared ring's entry count: a non-zero power of two (both ends
/// mask free-running indices with `size - 1`).
pub(crate) fn valid_ring_size(size: u32) -> bool {
    size.is_power_of_two()
}

/// ring.h's `RING_PUSH_*_AND_CHECK_NOTIFY` decision, for either end: after moving the
/// published producer index from `old` to `new`, notify when the other end's event index
/// `event` lies in `(old, new]` (wrapping arithmetic).
pub(crate) fn event_in_published_range(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// One mapped shared ring, as seen by the backend. Implemented by the driver
/// shell over the granted page, and by [`MemRing`] for tests and fuzzing.
pub trait SharedRing {
    /// The request type (`RING_COPY_REQUEST` destination).
    type Request: Copy;
    /// The response type.
    type Response: Copy;

    /// Number of entries; must be a power of two (checked by [`BackRing::new`]).
    fn size(&self) -> u32;

    /// Reads the shared `req_prod` with acquire semantics: request slots below
    /// it must be visible to later [`SharedRing::copy_request`] calls (the
    /// `rmb()` after reading `req_prod` in C).
    fn req_prod_acquire(&self) -> u32;

    /// Copies request slot `slot` (already masked, `< size()`) out of shared
    /// memory with one volatile read of the whole entry.
    fn copy_request(&self, slot: u32) -> Self::Request;

    /// Writes response slot `slot` (already masked, `< size()`).
    fn write_response(&mut self, slot: u32, rsp: Self::Response);

    /// Reads the shared `rsp_prod` (a plain read; the frontend may have
    /// scribbled on it, it is only used for the notification decision).
    fn rsp_prod(&self) -> u32;

    /// Publishes `rsp_prod` with release semantics: all responses written
    /// before become visible first (`virt_wmb()` then the store).
    fn publish_rsp_prod(&mut self, rsp_prod: u32);

    /// Reads the shared `rsp_event`.
    fn rsp_event(&self) -> u32;

    /// Writes the shared `req_event`.
    fn set_req_event(&mut self, req_event: u32);

    /// Full memory barrier (`virt_mb()`), between publishing an index and
    /// reading the other side's event index.
    fn full_barrier(&self);
}

/// A ring-level protocol violation: the frontend is broken or malicious and
/// the VIF must be disabled (C: `xenvif_fatal_tx_err`), or a shell bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The ring size is not a non-zero power of two (shell bug).
    BadSize(u32),
    /// `req_prod - req_cons` exceeds the ring size ("Impossible number of
    /// requests" in C; the XSA-39 fatal path).
    ImpossibleRequestCount {
        /// The frontend's `req_prod`.
        req_prod: u32,
        /// Our `req_cons`.
        req_cons: u32,
    },
    /// At attach time, `req_prod - rsp_prod` exceeds the ring size.
    BadInitialIndices {
        /// The frontend's `req_prod`.
        req_prod: u32,
        /// The shared `rsp_prod`.
        rsp_prod: u32,
    },
    /// A response was pushed with no consumed, unanswered request (shell bug).
    NoRequestToAnswer,
    /// A response overwrite named an index that is not produced-but-unpublished.
    NotUnpublished(u32),
    /// [`BackRing::take_reserved`] with every reserved request already
    /// taken (consumer bug: it needs more requests than it reserved).
    ReservationExhausted,
    /// [`BackRing::take_reserved`] with a reservation that does not start at
    /// `req_cons`: requests were consumed outside it (shell bug).
    ReservationStale {
        /// Where the reservation continues.
        next: u32,
        /// Our `req_cons`.
        req_cons: u32,
    },
}

impl RingError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            RingError::BadSize(_) => "ring size is not a power of two",
            RingError::ImpossibleRequestCount { .. } => {
                "impossible number of requests (req_prod - req_cons > ring size)"
            }
            RingError::BadInitialIndices { .. } => "frontend ring indices inconsistent at attach",
            RingError::NoRequestToAnswer => "response without an outstanding request",
            RingError::NotUnpublished(_) => "response index is not pending publication",
            RingError::ReservationExhausted => "more requests taken than reserved",
            RingError::ReservationStale { .. } => "request reservation does not start at req_cons",
        }
    }
}

/// Requests the frontend published, validated against one snapshot of
/// `req_prod` by [`BackRing::reserve_requests`], to be taken one at a time
/// with [`BackRing::take_reserved`]. Only `reserve_requests` makes one, and
/// it is neither `Clone` nor `Copy`: a reservation is used once.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestReservation {
    /// Index of the next reserved request.
    next: u32,
    /// Reserved requests not yet taken.
    remaining: u32,
}

impl RequestReservation {
    /// Reserved requests not yet taken.
    pub const fn remaining(&self) -> u32 {
        self.remaining
    }
}

/// The outcome of [`BackRing::reserve_requests`].
#[derive(Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The requests are posted and reserved.
    Granted(RequestReservation),
    /// Fewer requests are posted; `req_prod` is the snapshot that said so
    /// (for [`BackRing::arm_req_event_after`]).
    Short {
        /// The `req_prod` read.
        req_prod: u32,
    },
}

/// The backend's private ring state (`struct *_back_ring`) plus the mapped ring.
#[derive(Debug)]
pub struct BackRing<R> {
    ring: R,
    req_cons: u32,
    rsp_prod_pvt: u32,
    rsp_published: u32,
    size: u32,
}

impl<R: SharedRing> BackRing<R> {
    /// `BACK_RING_INIT`: a fresh ring whose indices start at 0.
    pub fn new(ring: R) -> Result<Self, RingError> {
        Self::attach_at(ring, 0)
    }

    /// `BACK_RING_ATTACH` at index `start` (reconnect to a live ring).
    pub fn attach_at(ring: R, start: u32) -> Result<Self, RingError> {
        let size = ring.size();
        if !valid_ring_size(size) {
            return Err(RingError::BadSize(size));
        }
        Ok(BackRing { ring, req_cons: start, rsp_prod_pvt: start, rsp_published: start, size })
    }

    /// Attaches to a ring the frontend has already initialised, starting at
    /// its `rsp_prod`, after checking `req_prod - rsp_prod <= size` as
    /// `xenvif_map_frontend_data_rings` does.
    pub fn attach_checked(ring: R) -> Result<Self, RingError> {
        let rsp_prod = ring.rsp_prod();
        let req_prod = ring.req_prod_acquire();
        let size = ring.size();
        if req_prod.wrapping_sub(rsp_prod) > size {
            return Err(RingError::BadInitialIndices { req_prod, rsp_prod });
        }
        Self::attach_at(ring, rsp_prod)
    }

    /// Number of entries.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Next request index to consume.
    pub fn req_cons(&self) -> u32 {
        self.req_cons
    }

    /// Next response index to produce.
    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
    }

    /// Consumed requests not yet answered.
    pub fn unanswered(&self) -> u32 {
        self.req_cons.wrapping_sub(self.rsp_prod_pvt)
    }

    /// Responses produced and not yet published (`rsp_prod_pvt` past the
    /// last [`BackRing::push_responses_and_check_notify`]).
    pub fn unpublished(&self) -> u32 {
        self.rsp_prod_pvt.wrapping_sub(self.rsp_published)
    }

    /// The mapped ring.
    pub fn ring(&self) -> &R {
        &self.ring
    }

    /// The mapped ring, mutably.
    pub fn ring_mut(&mut self) -> &mut R {
        &mut self.ring
    }

    /// Gives the mapped ring back (for unmapping).
    pub fn into_inner(self) -> R {
        self.ring
    }

    fn mask(&self, idx: u32) -> u32 {
        idx & self.size.wrapping_sub(1)
    }

    /// `req_prod - req_cons` for the snapshot `req_prod`, after the fatal
    /// bound check.
    fn published_at(&self, req_prod: u32) -> Result<u32, RingError> {
        let n = req_prod.wrapping_sub(self.req_cons);
        if n > self.size {
            return Err(RingError::ImpossibleRequestCount { req_prod, req_cons: self.req_cons });
        }
        Ok(n)
    }

    /// [`BackRing::unconsumed_requests`] for the snapshot `req_prod`.
    fn unconsumed_at(&self, req_prod: u32) -> Result<u32, RingError> {
        let req = self.published_at(req_prod)?;
        let rsp = self.size.wrapping_sub(self.unanswered());
        Ok(if req < rsp { req } else { rsp })
    }

    /// Requests published by the frontend and not yet consumed
    /// (`req_prod - req_cons`), after the fatal bound check.
    pub fn published_requests(&self) -> Result<u32, RingError> {
        self.published_at(self.ring.req_prod_acquire())
    }

    /// `XEN_RING_NR_UNCONSUMED_REQUESTS` with the fatal bound check first:
    /// `min(req_prod - req_cons, size - (req_cons - rsp_prod_pvt))`.
    pub fn unconsumed_requests(&self) -> Result<u32, RingError> {
        self.unconsumed_at(self.ring.req_prod_acquire())
    }

    /// Reserves the next `count` requests if that many are unconsumed,
    /// reading `req_prod` exactly once: the bound check and the count both
    /// use that snapshot. Consumes nothing; [`BackRing::take_reserved`]
    /// then takes exactly these requests without looking at `req_prod`
    /// again, so a frontend moving it backwards or far ahead meanwhile
    /// changes nothing. A snapshot more than a ring ahead is fatal.
    pub fn reserve_requests(&self, count: u32) -> Result<Reservation, RingError> {
        let req_prod = self.ring.req_prod_acquire();
        if self.unconsumed_at(req_prod)? < count {
            return Ok(Reservation::Short { req_prod });
        }
        Ok(Reservation::Granted(RequestReservation { next: self.req_cons, remaining: count }))
    }

    /// Copies out the next reserved request and consumes it. Reads no
    /// shared index: the request was validated by [`BackRing::reserve_requests`].
    /// Fails if the reservation is used up or requests were consumed
    /// outside it since.
    pub fn take_reserved(&mut self, reservation: &mut RequestReservation) -> Result<R::Request, RingError> {
        if reservation.remaining == 0 {
            return Err(RingError::ReservationExhausted);
        }
        if reservation.next != self.req_cons {
            return Err(RingError::ReservationStale { next: reservation.next, req_cons: self.req_cons });
        }
        let req = self.ring.copy_request(self.mask(self.req_cons));
        self.req_cons = self.req_cons.wrapping_add(1);
        reservation.next = self.req_cons;
        reservation.remaining -= 1;
        Ok(req)
    }

    /// `RING_HAS_UNCONSUMED_REQUESTS`.
    pub fn has_unconsumed_requests(&self) -> Result<bool, RingError> {
        Ok(self.unconsumed_requests()? != 0)
    }

    /// Copies out the next request and consumes it; `Ok(None)` when none is
    /// available. The copy is the only read of that slot the API allows.
    pub fn next_request(&mut self) -> Result<Option<R::Request>, RingError> {
        if self.unconsumed_requests()? == 0 {
            return Ok(None);
        }
        let req = self.ring.copy_request(self.mask(self.req_cons));
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(req))
    }

    /// Writes a response at `rsp_prod_pvt` and advances it (not yet
    /// published). Fails if every consumed request already has a response.
    pub fn push_response(&mut self, rsp: R::Response) -> Result<(), RingError> {
        if self.unanswered() == 0 {
            return Err(RingError::NoRequestToAnswer);
        }
        let slot = self.mask(self.rsp_prod_pvt);
        self.ring.write_response(slot, rsp);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Rewrites a response that was produced but not yet published, e.g. to
    /// put a failed grant copy's status into an RX response before pushing.
    pub fn overwrite_unpublished(&mut self, index: u32, rsp: R::Response) -> Result<(), RingError> {
        let pending = self.rsp_prod_pvt.wrapping_sub(self.rsp_published);
        if index.wrapping_sub(self.rsp_published) >= pending {
            return Err(RingError::NotUnpublished(index));
        }
        let slot = self.mask(index);
        self.ring.write_response(slot, rsp);
        Ok(())
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publishes `rsp_prod_pvt` and
    /// returns whether the frontend asked to be notified (its `rsp_event`
    /// lies in the newly published range).
    pub fn push_responses_and_check_notify(&mut self) -> bool {
        let old = self.ring.rsp_prod();
        let new = self.rsp_prod_pvt;
        self.ring.publish_rsp_prod(new);
        self.rsp_published = new;
        self.ring.full_barrier();
        event_in_published_range(old, new, self.ring.rsp_event())
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: whether more requests are pending;
    /// if not, arms `req_event = req_cons + 1` and checks again so a request
    /// racing with going idle is not missed.
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        if self.has_unconsumed_requests()? {
            return Ok(true);
        }
        self.ring.set_req_event(self.req_cons.wrapping_add(1));
        self.ring.full_barrier();
        self.has_unconsumed_requests()
    }

    /// Arms `req_event = req_prod + 1` (then a full barrier), as
    /// `xenvif_rx_ring_slots_available` does when waiting for more RX buffers
    /// than are posted: the frontend's next post then raises an event.
    pub fn arm_req_event_after(&mut self, req_prod: u32) {
        self.ring.set_req_event(req_prod.wrapping_add(1));
        self.ring.full_barrier();
    }
}

/// A pure in-memory ring with `N` entries (a power of two) that plays both
/// the shared page and a well- or ill-behaved frontend. Used by the unit
/// tests, property tests and fuzzers; counts slot reads so tests can check
/// that each request is copied exactly once. It also implements the
/// frontend's view (`front_ring::FrontSharedRing`), and
/// `front_ring::SharedMemRing` lets a `FrontRing` and a [`BackRing`] run
/// over one `MemRing`.
#[derive(Clone, Debug)]
pub struct MemRing<Req, Rsp, const N: usize> {
    /// Request slots.
    pub requests: [Req; N],
    /// Response slots.
    pub responses: [Rsp; N],
    /// Shared `req_prod` (frontend-controlled: tests may set any value).
    pub req_prod: u32,
    /// Shared `req_event`.
    pub req_event: u32,
    /// Shared `rsp_prod`.
    pub rsp_prod: u32,
    /// Shared `rsp_event` (frontend-controlled).
    pub rsp_event: u32,
    /// Frontend's private `rsp_cons`.
    pub rsp_cons: u32,
    /// Number of [`SharedRing::copy_request`] calls so far.
    pub request_reads: Cell<u64>,
    /// Number of response-slot copies by a frontend so far (the
    /// `FrontSharedRing` impl in `front_ring` counts them).
    pub response_reads: Cell<u64>,
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> MemRing<Req, Rsp, N> {
    /// `SHARED_RING_INIT`: indices 0, event indices 1.
    pub fn new() -> Self {
        MemRing {
            requests: [Req::default(); N],
            responses: [Rsp::default(); N],
            req_prod: 0,
            req_event: 1,
            rsp_prod: 0,
            rsp_event: 1,
            rsp_cons: 0,
            request_reads: Cell::new(0),
            response_reads: Cell::new(0),
        }
    }

    fn slot(idx: u32) -> usize {
        // N is a power of two for any usable MemRing; the modulo keeps the
        // index in bounds even if it is not.
        (idx as usize) % N.max(1)
    }

    /// Frontend: writes a request at `req_prod` and publishes it.
    pub fn push_request(&mut self, req: Req) {
        if let Some(s) = self.requests.get_mut(Self::slot(self.req_prod)) {
            *s = req;
        }
        self.req_prod = self.req_prod.wrapping_add(1);
    }

    /// Frontend: free request slots (`RING_FREE_REQUESTS`).
    pub fn free_requests(&self) -> u32 {
        (N as u32).wrapping_sub(self.req_prod.wrapping_sub(self.rsp_cons))
    }

    /// Frontend: takes the next published response, if any.
    pub fn take_response(&mut self) -> Option<Rsp> {
        if self.rsp_cons == self.rsp_prod {
            return None;
        }
        let r = self.responses.get(Self::slot(self.rsp_cons)).copied();
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        r
    }
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> Default for MemRing<Req, Rsp, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req: Copy + Default, Rsp: Copy + Default, const N: usize> SharedRing for MemRing<Req, Rsp, N> {
    type Request = Req;
    type Response = Rsp;

    fn size(&self) -> u32 {
        N as u32
    }
    fn req_prod_acquire(&self) -> u32 {
        self.req_prod
    }
    fn copy_request(&self, slot: u32) -> Req {
        self.request_reads.set(self.request_reads.get().wrapping_add(1));
        self.requests.get(Self::slot(slot)).copied().unwrap_or_default()
    }
    fn write_response(&mut self, slot: u32, rsp: Rsp) {
        if let Some(s) = self.responses.get_mut(Self::slot(slot)) {
            *s = rsp;
        }
    }
    fn rsp_prod(&self) -> u32 {
        self.rsp_prod
    }
    fn publish_rsp_prod(&mut self, rsp_prod: u32) {
        self.rsp_prod = rsp_prod;
    }
    fn rsp_event(&self) -> u32 {
        self.rsp_event
    }
    fn set_req_event(&mut self, req_event: u32) {
        self.req_event = req_event;
    }
    fn full_barrier(&self) {}
}

#[cfg(test)]
mod tests {
    use super::super::wire::{TxRequest, TxResponse};
    use super::*;

    type Ring = MemRing<TxRequest, TxResponse, 8>;

    fn req(id: u16) -> TxRequest {
        TxRequest { id, ..TxRequest::default() }
    }

    #[test]
    fn rejects_non_power_of_two() {
        let r: MemRing<TxRequest, TxResponse, 6> = MemRing::new();
        assert_eq!(BackRing::new(r).err(), Some(RingError::BadSize(6)));
    }

    #[test]
    fn consumes_each_request_once_in_order() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        for i in 0..5 {
            back.ring_mut().push_request(req(i));
        }
        for i in 0..5 {
            assert_eq!(back.next_request().unwrap().map(|r| r.id), Some(i));
        }
        assert_eq!(back.next_request().unwrap(), None);
        assert_eq!(back.req_cons(), 5);
        assert_eq!(back.ring().request_reads.get(), 5);
    }

    #[test]
    fn impossible_request_count_is_fatal() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        back.ring_mut().req_prod = 9;
        assert!(matches!(back.next_request(), Err(RingError::ImpossibleRequestCount { .. })));
        back.ring_mut().req_prod = 8;
        assert_eq!(back.unconsumed_requests(), Ok(8));
        // A req_prod "behind" req_cons wraps to a huge count: also fatal.
        back.ring_mut().req_prod = u32::MAX;
        assert!(back.unconsumed_requests().is_err());
    }

    #[test]
    fn unconsumed_is_limited_by_response_space() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        for i in 0..8 {
            back.ring_mut().push_request(req(i));
        }
        for _ in 0..8 {
            back.next_request().unwrap();
        }
        // Frontend lies: publishes 8 more although no response was given.
        back.ring_mut().req_prod = 16;
        assert_eq!(back.unconsumed_requests(), Ok(0));
        assert_eq!(back.next_request(), Ok(None));
        back.push_response(TxResponse { id: 0, status: 0 }).unwrap();
        assert_eq!(back.unconsumed_requests(), Ok(1));
    }

    #[test]
    fn response_without_request_is_refused() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        assert_eq!(back.push_response(TxResponse::default()), Err(RingError::NoRequestToAnswer));
    }

    #[test]
    fn notify_follows_rsp_event_with_wrapping() {
        for start in [0u32, u32::MAX - 2] {
            let mut ring = Ring::new();
            ring.req_prod = start;
            ring.rsp_prod = start;
            let mut back = BackRing::attach_at(ring, start).unwrap();
            back.ring_mut().rsp_event = start.wrapping_add(1);
            for i in 0..3 {
                back.ring_mut().push_request(req(i));
            }
            for _ in 0..3 {
                back.next_request().unwrap();
            }
            back.push_response(TxResponse::default()).unwrap();
            assert!(back.push_responses_and_check_notify(), "event at first new response");
            back.push_response(TxResponse::default()).unwrap();
            assert!(!back.push_responses_and_check_notify(), "event already passed");
            back.ring_mut().rsp_event = start.wrapping_add(3);
            back.push_response(TxResponse::default()).unwrap();
            assert!(back.push_responses_and_check_notify());
            assert_eq!(back.ring().rsp_prod, start.wrapping_add(3));
        }
    }

    #[test]
    fn final_check_arms_req_event() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        assert_eq!(back.final_check_for_requests(), Ok(false));
        assert_eq!(back.ring().req_event, 1);
        back.ring_mut().push_request(req(1));
        assert_eq!(back.final_check_for_requests(), Ok(true));
        back.next_request().unwrap();
        assert_eq!(back.final_check_for_requests(), Ok(false));
        assert_eq!(back.ring().req_event, 2);
    }

    #[test]
    fn overwrite_only_unpublished() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        back.ring_mut().push_request(req(1));
        back.ring_mut().push_request(req(2));
        back.next_request().unwrap();
        back.next_request().unwrap();
        back.push_response(TxResponse { id: 1, status: 0 }).unwrap();
        assert!(back.overwrite_unpublished(0, TxResponse { id: 1, status: -1 }).is_ok());
        assert!(back.overwrite_unpublished(1, TxResponse::default()).is_err());
        back.push_responses_and_check_notify();
        assert!(back.overwrite_unpublished(0, TxResponse::default()).is_err());
        assert_eq!(back.ring_mut().take_response(), Some(TxResponse { id: 1, status: -1 }));
    }

    fn granted(r: Result<Reservation, RingError>) -> RequestReservation {
        match r {
            Ok(Reservation::Granted(res)) => res,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reservation_ignores_req_prod_after_the_snapshot() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        for i in 0..3 {
            back.ring_mut().push_request(req(i));
        }
        assert_eq!(back.reserve_requests(4), Ok(Reservation::Short { req_prod: 3 }));
        let mut res = granted(back.reserve_requests(3));
        assert_eq!(res.remaining(), 3);
        // The frontend rewinds req_prod, then pushes it far ahead: the
        // reserved requests are taken regardless, and nothing more.
        back.ring_mut().req_prod = 0;
        assert_eq!(back.take_reserved(&mut res).map(|r| r.id), Ok(0));
        back.ring_mut().req_prod = 1000;
        assert_eq!(back.take_reserved(&mut res).map(|r| r.id), Ok(1));
        assert_eq!(back.take_reserved(&mut res).map(|r| r.id), Ok(2));
        assert_eq!(back.take_reserved(&mut res), Err(RingError::ReservationExhausted));
        assert_eq!(back.req_cons(), 3);
        assert_eq!(back.ring().request_reads.get(), 3);
        assert_eq!(res.remaining(), 0);
    }

    #[test]
    fn reservation_checks_bounds_and_staleness() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        back.ring_mut().req_prod = 9;
        assert!(matches!(back.reserve_requests(1), Err(RingError::ImpossibleRequestCount { req_prod: 9, .. })));
        back.ring_mut().req_prod = 2;
        let mut res = granted(back.reserve_requests(1));
        back.next_request().unwrap();
        assert_eq!(back.take_reserved(&mut res), Err(RingError::ReservationStale { next: 0, req_cons: 1 }));
        assert_eq!(back.req_cons(), 1);
        // Zero requests: always granted, nothing to take.
        let mut none = granted(back.reserve_requests(0));
        assert_eq!(back.take_reserved(&mut none), Err(RingError::ReservationExhausted));
    }

    #[test]
    fn reservation_is_limited_by_response_space() {
        let mut back = BackRing::new(Ring::new()).unwrap();
        for i in 0..8 {
            back.ring_mut().push_request(req(i));
        }
        let mut res = granted(back.reserve_requests(8));
        for _ in 0..8 {
            back.take_reserved(&mut res).unwrap();
        }
        // 8 more claimed, but no response given yet: no room for them.
        back.ring_mut().req_prod = 16;
        assert_eq!(back.reserve_requests(1), Ok(Reservation::Short { req_prod: 16 }));
    }

    #[test]
    fn attach_checked_validates_indices() {
        let mut r = Ring::new();
        r.rsp_prod = 100;
        r.req_prod = 109;
        assert!(BackRing::attach_checked(r.clone()).is_err());
        r.req_prod = 108;
        let back = BackRing::attach_checked(r).unwrap();
        assert_eq!(back.req_cons(), 100);
    }
}

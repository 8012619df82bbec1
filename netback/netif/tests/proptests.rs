//! Property tests: no panics on any guest input, the C driver's decisions
//! reproduced (TX against a line-by-line model of `xenvif_tx_build_gops`),
//! and the ring/pool/rate invariants.
//!
//! Case counts are kept small enough for the whole suite to run in seconds;
//! the fuzzers (netback/netif/fuzz) do the long runs.

use proptest::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};

use netif::ctrl::{CtrlState, GrantSource, XEN_NETBK_MAX_HASH_MAPPING_SIZE};
use netif::mcast::{McastFilter, XEN_NETBK_MCAST_MAX};
use netif::negotiate::{negotiate, negotiate_queue, BackendParams, FrontendKeys, Key};
use netif::pool::{PoolError, SlotHandle, SlotPool};
use netif::rate::{parse_rate, rate_limit_from_key, CreditLimiter, Rate};
use netif::ring::{BackRing, MemRing, RingError, SharedRing};
use netif::rx::*;
use netif::tx::*;
use netif::wire::*;
use netif::zerocopy::{TxZeroCopyMode, TxZeroCopyPlan};

// ---------------------------------------------------------------------------
// Guest TX against a model of the C code.

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Model {
    Accept {
        consumed: usize,
        first_size: u16,
        nr_cont: usize,
        gso: Option<TxGso>,
        linear_len: u16,
    },
    Drop {
        consumed: usize,
    },
    Mcast {
        consumed: usize,
        add: bool,
    },
    Fatal,
    /// C: "Asked for N slots but exceeds this limit" / "Missing extra info".
    OutOfWork,
}

/// `xenvif_tx_build_gops` for one packet starting at `reqs[0]`, all of
/// `reqs` published, the ring not limited by responses.
fn c_model(reqs: &[TxRequest], fatal_skb_slots: usize) -> Model {
    let mut first = reqs[0];
    let mut work = reqs.len() as i64 - 1;
    let mut cons = 1usize;
    let mut extras: [Option<ExtraInfoRaw>; 5] = [None; 5];
    if first.flags & NETTXF_EXTRA_INFO != 0 {
        loop {
            work -= 1;
            if work < 0 {
                return Model::OutOfWork;
            }
            let e = ExtraInfoRaw::from_tx_slot(&reqs[cons]);
            cons += 1;
            if e.kind == 0 || e.kind >= 6 {
                return Model::Fatal;
            }
            extras[usize::from(e.kind) - 1] = Some(e);
            if e.flags & 1 == 0 {
                break;
            }
        }
    }
    if extras[1].is_some() {
        return Model::Mcast { consumed: cons, add: true };
    }
    if extras[2].is_some() {
        return Model::Mcast { consumed: cons, add: false };
    }
    // XSA-423: data_len is taken from the whole packet's size, before
    // xenvif_count_requests turns first.size into the first slot's own.
    let mut data_len = first.size.min(128);
    let mut slots = 0usize;
    let mut drop = false;
    if first.flags & NETTXF_MORE_DATA != 0 {
        loop {
            if slots as i64 >= work {
                return Model::OutOfWork;
            }
            if slots >= fatal_skb_slots {
                return Model::Fatal;
            }
            if !drop && slots >= 18 {
                drop = true;
            }
            let txp = reqs[cons + slots];
            if !drop && txp.size > first.size {
                drop = true;
            }
            first.size = first.size.wrapping_sub(txp.size);
            slots += 1;
            if u32::from(txp.offset) + u32::from(txp.size) > 4096 {
                return Model::Fatal;
            }
            if txp.flags & NETTXF_MORE_DATA == 0 {
                break;
            }
        }
    }
    let consumed = cons + slots;
    if drop {
        return Model::Drop { consumed };
    }
    if first.size < 14 {
        return Model::Drop { consumed };
    }
    if u32::from(first.offset) + u32::from(first.size) > 4096 {
        return Model::Fatal;
    }
    if slots >= 17 && data_len < first.size {
        data_len = first.size;
    }
    let mut gso = None;
    if let Some(g) = extras[0] {
        let size = u16::from_ne_bytes([g.payload[0], g.payload[1]]);
        if size == 0 {
            return Model::Fatal;
        }
        let kind = match g.payload[2] {
            1 => GsoType::TcpV4,
            2 => GsoType::TcpV6,
            _ => return Model::Fatal,
        };
        gso = Some(TxGso { size, kind });
    }
    Model::Accept { consumed, first_size: first.size, nr_cont: slots, gso, linear_len: data_len }
}

/// The (gref, offset, id) of every byte a list of slot regions names, in
/// order: what a copy/map plan moves.
fn stream_bytes(regions: impl Iterator<Item = TxSlot>) -> Vec<(u32, u16, u16)> {
    regions.flat_map(|s| (0..s.size).map(move |i| (s.gref, s.offset + i, s.id))).collect()
}

/// The first `linear_len` bytes of the packet's slots.
fn linear_bytes(p: &TxPacket) -> Vec<(u32, u16, u16)> {
    let mut all = stream_bytes(p.slots().iter().copied());
    all.truncate(usize::from(p.linear_len));
    all
}

fn data_slot() -> impl Strategy<Value = TxRequest> {
    (
        any::<u32>(),
        prop_oneof![4 => 0u16..256, 1 => 0u16..4200, 1 => any::<u16>()],
        prop_oneof![6 => 0u16..16, 1 => any::<u16>()],
        any::<u16>(),
        prop_oneof![3 => 0u16..1600, 1 => 0u16..20, 1 => any::<u16>()],
    )
        .prop_map(|(gref, offset, flags, id, size)| TxRequest { gref, offset, flags, id, size })
}

fn extra_slot() -> impl Strategy<Value = TxRequest> {
    (prop_oneof![8 => 1u8..6, 1 => any::<u8>()], 0u8..2, any::<[u8; 6]>(), 0u8..4).prop_map(
        |(kind, flags, mut payload, gso_type)| {
            payload[2] = gso_type;
            ExtraInfoRaw { kind, flags, payload }.to_tx_slot()
        },
    )
}

fn tx_stream() -> impl Strategy<Value = Vec<TxRequest>> {
    prop::collection::vec(prop_oneof![4 => data_slot(), 1 => extra_slot()], 1..200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn tx_matches_c_model(reqs in tx_stream(), fatal in 18u32..24) {
        let mut ring = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
        for r in &reqs {
            ring.ring_mut().push_request(*r);
        }
        let mut asm = TxAssembler::new(TxConfig::new(fatal));
        let mut pos = 0usize;
        loop {
            let before = ring.req_cons();
            let got = asm.poll(&mut ring, &mut Unlimited);
            // Every slot is copied exactly once.
            prop_assert_eq!(ring.ring().request_reads.get(), u64::from(ring.req_cons()));
            let consumed = ring.req_cons().wrapping_sub(before) as usize;
            if pos >= reqs.len() {
                prop_assert_eq!(got, TxPoll::Empty);
                break;
            }
            let model = c_model(&reqs[pos..], fatal as usize);
            match (model, got) {
                (Model::OutOfWork, TxPoll::Incomplete) => break,
                // Both limits hit: C checks the work left first, we check
                // fatal_skb_slots before waiting; both end fatal in C.
                (Model::OutOfWork, TxPoll::Verdict(TxVerdict::Fatal(TxFatal::TooManySlots { .. }))) => break,
                (Model::Fatal, TxPoll::Verdict(TxVerdict::Fatal(f))) => {
                    prop_assert!(!f.description().is_empty());
                    break;
                }
                (Model::Drop { consumed: c }, TxPoll::Verdict(TxVerdict::Drop(d))) => {
                    prop_assert_eq!(c, consumed);
                    prop_assert_eq!(d.slots_consumed() as usize, consumed);
                    prop_assert_eq!(d.responses.responses(NETIF_RSP_ERROR).count(), consumed);
                }
                (Model::Mcast { consumed: c, add }, TxPoll::Verdict(TxVerdict::Multicast(m))) => {
                    prop_assert_eq!(c, consumed);
                    prop_assert_eq!(add, m.op == McastOp::Add);
                    prop_assert_eq!(m.responses.responses(NETIF_RSP_OKAY).count(), consumed);
                }
                (Model::Accept { consumed: c, first_size, nr_cont, gso, linear_len }, TxPoll::Verdict(TxVerdict::Accept)) => {
                    let p = asm.packet();
                    prop_assert_eq!(c, consumed);
                    prop_assert_eq!(p.ring_slots() as usize, consumed);
                    prop_assert_eq!(p.first().size, first_size);
                    prop_assert_eq!(p.continuation().len(), nr_cont);
                    prop_assert_eq!(p.gso, gso);
                    prop_assert!(p.slots().len() <= TX_MAX_PACKET_SLOTS);
                    let total: u32 = p.slots().iter().map(|s| u32::from(s.size)).sum();
                    prop_assert_eq!(total, u32::from(p.total_size));
                    for s in p.slots() {
                        prop_assert!(u32::from(s.offset) + u32::from(s.size) <= 4096);
                    }
                    prop_assert_eq!(p.linear_len, linear_len);
                    prop_assert!(p.first().size >= ETH_HLEN);
                    prop_assert_eq!(stream_bytes(p.linear_plan()), linear_bytes(p));
                    // Linear pieces then mapped frags rebuild the packet's
                    // bytes in order, each exactly once.
                    let mut rebuilt = stream_bytes(p.linear_plan());
                    rebuilt.extend(stream_bytes(p.frag_plan().filter_map(|u| match u {
                        TxSlotUse::Map { slot, .. } => { assert!(slot.size != 0); Some(slot) }
                        TxSlotUse::RespondNow(slot) => { assert_eq!(slot.size, 0); None }
                    })));
                    prop_assert_eq!(rebuilt, stream_bytes(p.slots().iter().copied()));
                    // `first` marks the first slot's remainder (it owes the
                    // extras' NULLs), which comes first if there is one.
                    let firsts: Vec<bool> = p.frag_plan().filter_map(|u| match u {
                        TxSlotUse::Map { first, .. } => Some(first),
                        TxSlotUse::RespondNow(_) => None,
                    }).collect();
                    let first_rest = p.linear_len < p.first().size;
                    prop_assert_eq!(firsts.iter().filter(|f| **f).count(), usize::from(first_rest));
                    prop_assert!(!first_rest || firsts[0]);
                    prop_assert_eq!(p.response_plan().responses(NETIF_RSP_OKAY).count(), consumed);
                    // tx_zerocopy=staged asks about the grants of the mapped
                    // frags, and maps exactly when `on` would and all of them
                    // are staged (here: grefs not divisible by 3).
                    let map_grefs: Vec<u32> = p.frag_plan().filter_map(|u| match u {
                        TxSlotUse::Map { slot, .. } => Some(slot.gref),
                        TxSlotUse::RespondNow(_) => None,
                    }).collect();
                    let is_staged = |g: &u32| !g.is_multiple_of(3);
                    let mut asked = None;
                    let got = TxZeroCopyMode::Staged.policy(0).unwrap().plan(p, 17, |grefs| {
                        let seen: Vec<u32> = grefs.collect();
                        let all = seen.iter().all(is_staged);
                        asked = Some(seen);
                        all
                    });
                    let want = match TxZeroCopyMode::On.policy(0).unwrap().plan(p, 17, |_| unreachable!()) {
                        TxZeroCopyPlan::Map { .. } if !map_grefs.iter().all(is_staged) => TxZeroCopyPlan::Copy,
                        other => other,
                    };
                    prop_assert_eq!(got, want);
                    if let Some(seen) = asked {
                        prop_assert_eq!(seen, map_grefs);
                    }
                }
                (m, g) => prop_assert!(false, "model {:?} vs ours {:?} at {}", m, g, pos),
            }
            pos += consumed;
        }
    }

    /// Arbitrary ring indices and slot contents: never a panic, and a fatal
    /// error whenever req_prod runs more than a ring ahead.
    #[test]
    fn tx_hostile_indices(reqs in prop::collection::vec(any::<(u32, u16, u16, u16, u16)>(), 0..64),
                          prods in prop::collection::vec(any::<u32>(), 1..8),
                          start in any::<u32>()) {
        let mut mem = MemRing::<TxRequest, TxResponse, 64>::new();
        for (i, (gref, offset, flags, id, size)) in reqs.iter().enumerate() {
            mem.requests[i % 64] = TxRequest { gref: *gref, offset: *offset, flags: *flags, id: *id, size: *size };
        }
        mem.req_prod = start;
        mem.rsp_prod = start;
        let mut ring = BackRing::attach_at(mem, start).unwrap();
        let mut asm = TxAssembler::new(TxConfig::default());
        for p in prods {
            ring.ring_mut().req_prod = start.wrapping_add(p % 100);
            for _ in 0..70 {
                match asm.poll(&mut ring, &mut Unlimited) {
                    TxPoll::Verdict(TxVerdict::Accept) => {
                        for r in asm.packet().response_plan().responses(NETIF_RSP_OKAY) { ring.push_response(r).unwrap(); }
                    }
                    TxPoll::Verdict(TxVerdict::Drop(d)) => {
                        for r in d.responses.responses(NETIF_RSP_ERROR) { ring.push_response(r).unwrap(); }
                    }
                    TxPoll::Verdict(TxVerdict::Multicast(m)) => {
                        for r in m.responses.responses(NETIF_RSP_OKAY) { ring.push_response(r).unwrap(); }
                    }
                    TxPoll::Verdict(TxVerdict::Fatal(TxFatal::Ring(_))) => {
                        prop_assert!(ring.ring().req_prod.wrapping_sub(ring.req_cons()) > 64);
                        return Ok(());
                    }
                    TxPoll::Verdict(TxVerdict::Fatal(_)) => return Ok(()),
                    _ => break,
                }
                ring.push_responses_and_check_notify();
            }
            prop_assert!(ring.unanswered() <= 64);
        }
    }
}

// ---------------------------------------------------------------------------
// Shared ring.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Notification decisions equal the ring.h formula for any indices.
    #[test]
    fn ring_notify_formula(start in any::<u32>(), n in 1u32..16, k in 0u32..16, event in any::<u32>()) {
        let mut mem = MemRing::<TxRequest, TxResponse, 16>::new();
        mem.req_prod = start;
        mem.rsp_prod = start;
        let mut ring = BackRing::attach_at(mem, start).unwrap();
        for _ in 0..n { ring.ring_mut().push_request(TxRequest::default()); }
        for _ in 0..n { ring.next_request().unwrap().unwrap(); }
        let k = k.min(n);
        for _ in 0..k { ring.push_response(TxResponse::default()).unwrap(); }
        ring.ring_mut().rsp_event = event;
        let old = start;
        let new = start.wrapping_add(k);
        let expect = new.wrapping_sub(event) < new.wrapping_sub(old);
        prop_assert_eq!(ring.push_responses_and_check_notify(), expect);
        prop_assert_eq!(ring.ring().rsp_prod, new);
        prop_assert_eq!(ring.unanswered(), n - k);
    }
}

// ---------------------------------------------------------------------------
// Guest RX.

fn rx_packet() -> impl Strategy<Value = (RxConfig, RxPacketInfo)> {
    (
        prop_oneof![2 => Just(0u16), 1 => 0u16..512, 1 => any::<u16>()],
        prop_oneof![2 => 0u32..70_000, 1 => any::<u32>().prop_map(|x| x % 300_000)],
        prop::option::of((prop_oneof![Just(GsoType::TcpV4), Just(GsoType::TcpV6)], any::<u16>())),
        prop::option::of((any::<u32>(), any::<bool>(), any::<bool>())),
        0u8..3,
    )
        .prop_map(|(h, len, gso, hash, csum)| {
            let csum = match csum {
                0 => RxCsum::None,
                1 => RxCsum::Partial,
                _ => RxCsum::Unnecessary,
            };
            let hash = hash.map(|(value, ipv4, l4)| RxHash { value, ipv4, l4 });
            (RxConfig::new(h), RxPacketInfo { len, gso, hash, csum })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rx_lone_slot_writes_what_the_writer_writes((cfg, pkt) in rx_packet(), small in 0u32..300) {
        // Small packets too, the lone-slot writer's case, as often as large ones.
        let pkt = if small % 2 == 0 { RxPacketInfo { len: small, ..pkt } } else { pkt };
        let lone = rx_is_lone_slot(&cfg, &pkt);
        prop_assert_eq!(lone, rx_slots_needed(&cfg, &pkt) == 1);
        let needed = rx_slots_needed(&cfg, &pkt);
        prop_assume!(needed <= 256);
        let run = |lone_writer: bool| {
            let mut ring = BackRing::new(MemRing::<RxRequest, RxResponse, 256>::new()).unwrap();
            for i in 0..needed {
                ring.ring_mut().push_request(RxRequest { id: i as u16 + 7, pad: 0, gref: i + 3 });
            }
            let reservation = rx_slots_available(&mut ring, needed).unwrap().unwrap();
            let mut steps = std::vec::Vec::new();
            if lone_writer {
                match rx_write_lone_slot(&mut ring, reservation, &cfg, &pkt) {
                    Ok(step) => steps.push(step),
                    Err(e) => return Err(e),
                }
            } else {
                let mut w = RxPacketWriter::new(&cfg, &pkt, reservation).unwrap();
                while let Some(step) = w.next_step(&mut ring).unwrap() {
                    steps.push(step);
                }
            }
            ring.push_responses_and_check_notify();
            let rsps: std::vec::Vec<_> = core::iter::from_fn(|| ring.ring_mut().take_response()).collect();
            Ok((steps, rsps, ring.req_cons()))
        };
        match run(true) {
            Ok(got) => {
                prop_assert!(lone);
                prop_assert_eq!(got, run(false).unwrap());
            }
            // Any other packet is refused.
            Err(e) => {
                prop_assert!(!lone);
                prop_assert_eq!(e, RxError::ReservationMismatch { reserved: needed, needed });
            }
        }
    }

    #[test]
    fn rx_writer_consumes_exactly_needed((cfg, pkt) in rx_packet(), short in 0u32..3) {
        let needed = rx_slots_needed(&cfg, &pkt);
        prop_assume!(needed <= 256);
        let mut ring = BackRing::new(MemRing::<RxRequest, RxResponse, 256>::new()).unwrap();
        let posted = needed.saturating_sub(short);
        for i in 0..posted {
            ring.ring_mut().push_request(RxRequest { id: i as u16, pad: 0, gref: i });
        }
        let reservation = rx_slots_available(&mut ring, needed).unwrap();
        prop_assert_eq!(reservation.is_some(), posted >= needed);
        let Some(reservation) = reservation else {
            prop_assert_eq!(ring.req_cons(), 0);
            return Ok(());
        };
        let mut w = RxPacketWriter::new(&cfg, &pkt, reservation).unwrap();
        let mut data = 0u64;
        let mut steps = 0u32;
        loop {
            match w.next_step(&mut ring) {
                Ok(Some(RxStep::Data { len, dest_offset, response, index, request })) => {
                    prop_assert_eq!(dest_offset, cfg.xdp_headroom);
                    prop_assert_eq!(response.status as i64, i64::from(dest_offset) + i64::from(len));
                    prop_assert_eq!(request.id as u32, index, "response at its request's index");
                    data += u64::from(len);
                }
                Ok(Some(RxStep::Extra { .. })) => {}
                Ok(None) => break,
                Err(e) => prop_assert!(false, "{:?}", e),
            }
            steps += 1;
        }
        prop_assert_eq!(steps, needed);
        prop_assert_eq!(data, u64::from(pkt.len));
        ring.push_responses_and_check_notify();
        let mut more = 0;
        let mut first = true;
        let mut extras_seen = 0;
        while let Some(r) = ring.ring_mut().take_response() {
            if first {
                prop_assert_eq!(r.flags & NETRXF_EXTRA_INFO != 0, needed > rx_data_slots(&cfg, pkt.len));
                first = false;
            } else if extras_seen < needed - rx_data_slots(&cfg, pkt.len) {
                extras_seen += 1;
                continue;
            }
            if r.flags & NETRXF_MORE_DATA != 0 { more += 1; }
        }
        prop_assert_eq!(more, rx_data_slots(&cfg, pkt.len) - 1);
    }
}

/// An RX ring whose frontend moves `req_prod` between any two reads: each
/// `req_prod_acquire` returns the next value of a script (then the last one
/// again), wherever it points. Counts the reads.
struct ScriptedRing {
    mem: MemRing<RxRequest, RxResponse, 256>,
    script: RefCell<VecDeque<u32>>,
    last: Cell<u32>,
    prod_reads: Cell<u32>,
}

impl SharedRing for ScriptedRing {
    type Request = RxRequest;
    type Response = RxResponse;

    fn size(&self) -> u32 {
        self.mem.size()
    }
    fn req_prod_acquire(&self) -> u32 {
        self.prod_reads.set(self.prod_reads.get() + 1);
        if let Some(v) = self.script.borrow_mut().pop_front() {
            self.last.set(v);
        }
        self.last.get()
    }
    fn copy_request(&self, slot: u32) -> RxRequest {
        self.mem.copy_request(slot)
    }
    fn write_response(&mut self, slot: u32, rsp: RxResponse) {
        self.mem.write_response(slot, rsp)
    }
    fn rsp_prod(&self) -> u32 {
        self.mem.rsp_prod()
    }
    fn publish_rsp_prod(&mut self, rsp_prod: u32) {
        self.mem.publish_rsp_prod(rsp_prod)
    }
    fn rsp_event(&self) -> u32 {
        self.mem.rsp_event()
    }
    fn set_req_event(&mut self, req_event: u32) {
        self.mem.set_req_event(req_event)
    }
    fn full_barrier(&self) {}
}

/// A `req_prod` relative to `req_cons`: behind it, a little or far ahead,
/// exactly a ring ahead or just past it.
fn hostile_req_prod() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => 0u32..40,
        1 => (0u32..40).prop_map(|d| d.wrapping_neg()),
        1 => Just(256u32),
        1 => Just(257u32),
        1 => any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever `req_prod` does between reads, the RX writer consumes
    /// exactly the requests `rx_slots_available` reserved from one
    /// snapshot of it: never more, never a partial packet, and it never
    /// reads `req_prod` itself. Violations are errors, not panics.
    #[test]
    fn rx_writer_consumes_only_reserved(
        (cfg, pkt) in rx_packet(),
        start in prop_oneof![Just(0u32), any::<u32>()],
        script in prop::collection::vec(hostile_req_prod(), 1..12),
        during in prop::collection::vec(hostile_req_prod(), 0..40),
    ) {
        let needed = rx_slots_needed(&cfg, &pkt);
        let mut mem = MemRing::<RxRequest, RxResponse, 256>::new();
        for i in 0..256u32 {
            mem.requests[i as usize] = RxRequest { id: i as u16, pad: 0, gref: i };
        }
        mem.rsp_prod = start;
        let rel = |d: u32| start.wrapping_add(d);
        let ring = ScriptedRing {
            mem,
            script: RefCell::new(script.iter().map(|&d| rel(d)).collect()),
            last: Cell::new(start),
            prod_reads: Cell::new(0),
        };
        let mut ring = BackRing::attach_at(ring, start).unwrap();
        let reservation = match rx_slots_available(&mut ring, needed) {
            Ok(r) => r,
            Err(e) => {
                prop_assert!(matches!(e, RingError::ImpossibleRequestCount { .. }), "{:?}", e);
                prop_assert!(script.iter().any(|&d| d > 256), "fatal only for a snapshot past a ring");
                prop_assert_eq!(ring.req_cons(), start);
                return Ok(());
            }
        };
        prop_assert_eq!(ring.ring().mem.request_reads.get(), 0, "availability copies no request");
        let Some(reservation) = reservation else {
            prop_assert_eq!(ring.req_cons(), start, "a short ring is not consumed partially");
            prop_assert_eq!(ring.ring().mem.req_event, ring.ring().last.get().wrapping_add(1));
            return Ok(());
        };
        // The granting snapshot was one of the scripted values (or the
        // initial one) with at least `needed` posted, and no more than a ring.
        prop_assert_eq!(reservation.remaining(), needed);
        prop_assert!(needed <= 256);
        prop_assert!(script.iter().any(|&d| d >= needed && d <= 256));
        // From here on the frontend moves req_prod on every read; nothing
        // may read it.
        ring.ring().script.borrow_mut().extend(during.iter().map(|&d| rel(d)));
        let reads_before = ring.ring().prod_reads.get();
        let mut w = RxPacketWriter::new(&cfg, &pkt, reservation).unwrap();
        let mut steps = 0u32;
        let mut data = 0u64;
        loop {
            match w.next_step(&mut ring) {
                Ok(Some(step)) => {
                    let index = match step {
                        RxStep::Data { request, index, len, .. } => {
                            data += u64::from(len);
                            prop_assert_eq!(request.gref, index % 256, "slot req_cons copied");
                            index
                        }
                        RxStep::Extra { index } => index,
                    };
                    prop_assert_eq!(index, rel(steps));
                    steps += 1;
                    prop_assert!(steps <= needed);
                }
                Ok(None) => break,
                Err(e) => prop_assert!(false, "{:?}", e),
            }
        }
        prop_assert_eq!(ring.ring().prod_reads.get(), reads_before, "writer read req_prod");
        prop_assert_eq!(steps, needed);
        prop_assert_eq!(data, u64::from(pkt.len));
        prop_assert_eq!(ring.req_cons(), rel(needed));
        prop_assert_eq!(ring.ring().mem.request_reads.get(), u64::from(needed));
        prop_assert_eq!(w.next_step(&mut ring), Ok(None));
        prop_assert_eq!(ring.req_cons(), rel(needed), "a finished writer takes nothing");
    }

    /// A reservation cannot be stretched: a writer for a bigger packet than
    /// reserved, or one whose buffers were consumed behind its back, fails
    /// cleanly and consumes nothing more.
    #[test]
    fn rx_writer_refuses_foreign_reservations((cfg, pkt) in rx_packet(), reserve in 0u32..40, steal in any::<bool>()) {
        let needed = rx_slots_needed(&cfg, &pkt);
        let mut ring = BackRing::new(MemRing::<RxRequest, RxResponse, 256>::new()).unwrap();
        ring.ring_mut().req_prod = 256;
        let Some(reservation) = rx_slots_available(&mut ring, reserve).unwrap() else {
            prop_assert_eq!(reserve, 0);
            return Ok(());
        };
        match RxPacketWriter::new(&cfg, &pkt, reservation) {
            Err(RxError::ReservationMismatch { reserved, needed: n }) => {
                prop_assert_eq!((reserved, n), (reserve, needed));
                prop_assert_ne!(reserve, needed);
            }
            Err(e) => prop_assert!(false, "{:?}", e),
            Ok(mut w) => {
                prop_assert_eq!(reserve, needed);
                if steal {
                    ring.next_request().unwrap();
                    let r = w.next_step(&mut ring);
                    prop_assert!(matches!(r, Err(RxError::Ring(RingError::ReservationStale { .. }))), "{:?}", r);
                    prop_assert_eq!(ring.req_cons(), 1);
                } else {
                    let mut steps = 0;
                    while w.next_step(&mut ring).unwrap().is_some() {
                        steps += 1;
                    }
                    prop_assert_eq!(steps, needed);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Several queues' stall logic feeding one VIF carrier: the device
    /// carrier (as the shell applies the changes) is on exactly when no
    /// queue is stalled, and never on while a queue has posted nothing.
    #[test]
    fn carrier_is_on_iff_no_queue_stalled(
        queues in 1usize..5,
        stall in prop_oneof![Just(0u64), 1u64..50],
        passes in prop::collection::vec((0usize..5, prop_oneof![Just(0u32), 0u32..4, any::<u32>()], 0u32..20, 0u64..30), 1..120),
    ) {
        let t = RxTimeouts { drain: 10, stall };
        let mut q: Vec<RxStall> = (0..queues).map(|_| RxStall::new(0)).collect();
        let mut vif = StalledQueues::all(queues as u32);
        let mut carrier = false;
        let mut now = 0u64;
        for (i, posted, needed, dt) in passes {
            let i = i % queues;
            now += dt;
            let change = q[i].update(posted, needed, now, &t);
            if stall != 0 && change == CarrierChange::On {
                prop_assert!(posted >= needed.max(1), "ready with {} of {} buffers posted", posted, needed);
            }
            match vif.apply(change) {
                CarrierChange::On => { prop_assert!(!carrier); carrier = true; }
                CarrierChange::Off => { prop_assert!(carrier); carrier = false; }
                CarrierChange::None => {}
            }
            let stalled = q.iter().filter(|s| s.is_stalled()).count() as u32;
            prop_assert_eq!(vif.count(), stalled);
            prop_assert_eq!(carrier, stalled == 0);
        }
    }
}

// ---------------------------------------------------------------------------
// Control ring.

struct RandomPage(Vec<u8>, bool);

impl GrantSource for RandomPage {
    fn copy_from_grant(&mut self, _gref: u32, dst: &mut [u8]) -> bool {
        if !self.1 || dst.len() > self.0.len() {
            return false;
        }
        let n = dst.len();
        dst.copy_from_slice(&self.0[..n]);
        true
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ctrl_never_breaks_invariants(
        queues in 0u32..10,
        reqs in prop::collection::vec((0u16..9, any::<u32>(), prop_oneof![0u32..200, any::<u32>()], prop_oneof![0u32..200, any::<u32>()]), 1..40),
        page in prop::collection::vec(prop_oneof![0u8..10, any::<u8>()], 0..4096),
        ok in any::<bool>(),
        hashes in prop::collection::vec(any::<u32>(), 8),
    ) {
        let mut st = CtrlState::new(queues);
        let mut g = RandomPage(page, ok);
        for (id, (kind, d0, d1, d2)) in reqs.into_iter().enumerate() {
            let d0 = if kind == 5 || kind == 7 || kind == 2 { d0 % 300 } else { d0 };
            let rsp = st.handle(&CtrlRequest { id: id as u16, kind, data: [d0, d1, d2] }, &mut g);
            prop_assert_eq!(rsp.id, id as u16);
            prop_assert!(rsp.status <= XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
            prop_assert!(st.mapping().len() <= XEN_NETBK_MAX_HASH_MAPPING_SIZE as usize);
            for &q in st.mapping() {
                prop_assert!(q < queues || q == 0, "entry {} with {} queues", q, queues);
            }
            for &h in &hashes {
                let q = st.select_queue(h);
                prop_assert!(q < queues.max(1));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Pool, rate, negotiation.

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_model(ops in prop::collection::vec((any::<bool>(), any::<u8>(), any::<u32>()), 1..300)) {
        let mut pool: SlotPool<u32, 8> = SlotPool::new();
        let mut live: HashMap<u16, (SlotHandle, u32)> = HashMap::new();
        let mut dead: Vec<SlotHandle> = Vec::new();
        for (alloc, pick, val) in ops {
            if alloc {
                match pool.alloc(val) {
                    Ok(h) => { prop_assert!(live.insert(h.index(), (h, val)).is_none()); }
                    Err(PoolError::Exhausted) => prop_assert_eq!(live.len(), 8),
                    Err(e) => prop_assert!(false, "{:?}", e),
                }
            } else if !live.is_empty() && pick % 3 != 0 {
                let key = *live.keys().nth(usize::from(pick) % live.len()).unwrap();
                let (h, v) = live.remove(&key).unwrap();
                prop_assert_eq!(pool.complete(h), Ok(v));
                dead.push(h);
            } else if !dead.is_empty() {
                let h = dead[usize::from(pick) % dead.len()];
                let before = pool.available();
                prop_assert!(pool.complete(h).is_err(), "stale/double completion refused");
                prop_assert_eq!(pool.available(), before);
            }
            prop_assert_eq!(pool.in_flight(), live.len());
            for (h, v) in live.values() {
                prop_assert_eq!(pool.get(*h), Ok(v));
            }
        }
    }

    /// Over any horizon the limiter admits at most the initial credit plus
    /// one burst per window (and never panics on any clock).
    #[test]
    fn rate_bound(bytes in 1u64..1_000_000, window in 1u64..1000, start in any::<u64>(),
                  sizes in prop::collection::vec(1u64..70_000, 1..300), step in 0u64..50) {
        let mut l = CreditLimiter::new(Rate { bytes, usec: 0 }, window, start);
        let mut now = start;
        let mut sent = 0u64;
        for s in &sizes {
            if l.timer().is_some_and(|t| (now.wrapping_sub(t) as i64) >= 0) {
                l.timer_fired();
            }
            if l.admit(*s, now) { sent += s; }
            now = now.wrapping_add(step);
        }
        let elapsed = step * sizes.len() as u64;
        let burst = bytes.max(131_072);
        let bound = bytes + burst * (elapsed / window + 2);
        prop_assert!(sent <= bound, "sent {} bound {}", sent, bound);
    }

    /// After a live change, a queue with constant demand sends at the new
    /// limit: within one burst plus one window's credit over any horizon,
    /// and an unlimited change never refuses again.
    #[test]
    fn rate_change_tracks_new_limit(old in 1u64..1_000_000, old_window in 1u64..100,
                                    new in 1_500u64..1_000_000, window in 1u64..100,
                                    warmup in 0u64..500, windows in 5u64..50, unlimited in any::<bool>()) {
        let mut l = CreditLimiter::new(Rate { bytes: old, usec: 0 }, old_window, 0);
        let mut now = 0u64;
        let run = |l: &mut CreditLimiter, now: &mut u64, ticks: u64| {
            let mut sent = 0u64;
            for _ in 0..ticks {
                if l.timer_due(*now) { l.timer_fired(); }
                while l.admit(1_500, *now) {
                    sent += 1_500;
                    if sent > (1 << 40) { return sent; }
                }
                *now += 1;
            }
            sent
        };
        run(&mut l, &mut now, warmup);
        if unlimited {
            l.change_rate(Rate::UNLIMITED, 0, now);
            for _ in 0..1000 { prop_assert!(l.admit(65_535, now)); now += 1; }
        } else {
            l.change_rate(Rate { bytes: new, usec: 0 }, window, now);
            let sent = run(&mut l, &mut now, windows * window);
            let burst = new.max(131_072);
            prop_assert!(sent <= burst + new * (windows + 1), "sent {} new {} windows {}", sent, new, windows);
            prop_assert!(sent + 1_500 * windows >= new * windows.saturating_sub(1), "sent {} new {} windows {}", sent, new, windows);
        }
    }

    /// The key accepts exactly the C syntax with a non-zero byte count and
    /// window.
    #[test]
    fn rate_key_is_c_syntax_minus_zeroes(s in "[0-9]{0,8},[0-9]{0,8}|[0-9,a ]{0,12}") {
        let c = parse_rate(s.as_bytes());
        match rate_limit_from_key(Some(s.as_bytes())) {
            Ok(r) => {
                prop_assert_eq!(c, Ok(r));
                prop_assert!(r.bytes > 0 && r.usec > 0);
                prop_assert_eq!(r.to_bits().map(Rate::from_bits), Some(r));
            }
            Err(_) => prop_assert!(c.is_err() || c.is_ok_and(|r| r.bytes == 0 || r.usec == 0)),
        }
    }

    /// The multicast list behaves like C's linked list (append; delete the
    /// first match; refuse the 65th) and only filters listed-or-not group
    /// addresses.
    #[test]
    fn mcast_matches_list_model(ops in prop::collection::vec((any::<bool>(), 0u8..80), 0..300),
                                dst in any::<[u8; 6]>(), enabled in any::<bool>()) {
        let mut f = McastFilter::new();
        let mut model: Vec<[u8; 6]> = Vec::new();
        for (add, k) in ops {
            let addr = [1, 0, 0x5e, 0, 0, k];
            let op = if add { McastOp::Add } else { McastOp::Del };
            let r = f.apply(op, addr);
            if add {
                prop_assert_eq!(r.is_ok(), model.len() < XEN_NETBK_MCAST_MAX);
                if r.is_ok() { model.push(addr); }
            } else if let Some(i) = model.iter().position(|a| *a == addr) {
                model.remove(i);
            }
            prop_assert_eq!(f.addrs(), &model[..]);
        }
        let group = dst[0] & 1 != 0 && dst != [0xff; 6];
        prop_assert_eq!(f.delivers(enabled, &dst), !enabled || !group || model.contains(&dst));
    }

    #[test]
    fn rate_parse_never_panics(s in "[0-9,]{0,30}|\\PC{0,30}") {
        let _ = parse_rate(s.as_bytes());
    }

    #[test]
    fn negotiate_never_panics(keys in prop::collection::hash_map(
        prop_oneof![
            Just("multi-queue-num-queues".to_string()), Just("request-rx-copy".to_string()),
            Just("feature-sg".to_string()), Just("xdp-headroom".to_string()),
            Just("ctrl-ring-ref".to_string()), Just("event-channel-ctrl".to_string()),
            Just("tx-ring-ref".to_string()), Just("rx-ring-ref".to_string()),
            Just("event-channel".to_string()), Just("queue-1/tx-ring-ref".to_string()),
            Just("queue-1/rx-ring-ref".to_string()), Just("queue-1/event-channel-tx".to_string()),
        ],
        prop_oneof![Just("1".to_string()), Just("2".to_string()), "[0-9]{1,22}", "\\PC{0,30}"],
        0..12,
    )) {
        struct Fe(HashMap<String, String>);
        impl FrontendKeys for Fe {
            fn read<'a>(&mut self, key: &Key<'_>, buf: &'a mut [u8]) -> Option<&'a [u8]> {
                let p = match key.queue { Some(q) => format!("queue-{q}/{}", key.name), None => key.name.into() };
                let v = self.0.get(&p)?.as_bytes();
                let n = v.len().min(buf.len());
                buf[..n].copy_from_slice(&v[..n]);
                Some(&buf[..n])
            }
        }
        let mut fe = Fe(keys);
        if let Ok(cfg) = negotiate(&mut fe, &BackendParams::default()) {
            prop_assert!(cfg.num_queues >= 1 && cfg.num_queues <= 8);
            prop_assert!(cfg.xdp_headroom <= XEN_NETIF_MAX_XDP_HEADROOM);
            for q in 0..cfg.num_queues {
                let _ = negotiate_queue(&mut fe, &cfg, q);
            }
        }
    }
}

/// A frontend that moves `req_prod` on every read, never far enough for the
/// packet, cannot hold the RX worker in `rx_slots_available`: it gives up
/// after a bounded number of re-checks, with the event armed.
#[test]
fn rx_slots_available_stops_rechecking_a_restless_req_prod() {
    // 0, 1, 0, 1, ... far longer than any bound: one or no buffer posted.
    let script: VecDeque<u32> = (0..100_000u32).map(|i| i % 2).collect();
    let ring = ScriptedRing {
        mem: MemRing::new(),
        script: RefCell::new(script),
        last: Cell::new(0),
        prod_reads: Cell::new(0),
    };
    let mut back = BackRing::new(ring).unwrap();
    assert!(matches!(rx_slots_available(&mut back, 5), Ok(None)));
    let reads = back.ring().prod_reads.get();
    assert!(reads <= 2 * RX_SLOTS_RECHECKS + 2, "{reads} reads of req_prod");
    assert_eq!(back.req_cons(), 0, "nothing consumed");
}

//! Guest TX: a hostile frontend drives the in-memory ring (slot contents,
//! req_prod jumps, rsp_event) while the backend polls the assembler, answers
//! verdicts and is rate limited. Checks: no panic, every slot copied exactly
//! once, responses always accepted by the ring, packet invariants; at
//! disconnect every posted request is answered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::rate::{CreditLimiter, Rate};
use netif::ring::{BackRing, MemRing};
use netif::tx::*;
use netif::wire::*;

#[path = "common.rs"]
mod common;
use common::Bytes;

fn check_packet(p: &TxPacket) {
    assert!(!p.slots().is_empty() && p.slots().len() <= TX_MAX_PACKET_SLOTS);
    let total: u32 = p.slots().iter().map(|s| u32::from(s.size)).sum();
    assert_eq!(total, u32::from(p.total_size));
    for s in p.slots() {
        assert!(u32::from(s.offset) + u32::from(s.size) <= XEN_PAGE_SIZE);
    }
    assert!(p.first().size >= ETH_HLEN);
    // XSA-423: the linear area is the packet's first bytes, across slots.
    let linear_expected = if p.continuation().len() >= 17 && p.first().size > 128 {
        p.first().size
    } else {
        p.total_size.min(XEN_NETBACK_TX_COPY_LEN)
    };
    assert_eq!(p.linear_len, linear_expected);
    let linear: u32 = p.linear_plan().map(|s| u32::from(s.size)).sum();
    assert_eq!(linear, u32::from(p.linear_len));
    if let Some(g) = p.gso {
        assert!(g.size != 0);
    }
    let mut mapped = 0u32;
    for u in p.frag_plan() {
        match u {
            TxSlotUse::Map { slot, .. } => {
                assert!(slot.size != 0);
                mapped += u32::from(slot.size);
            }
            TxSlotUse::RespondNow(slot) => assert_eq!(slot.size, 0),
        }
    }
    assert_eq!(mapped + u32::from(p.linear_len), total);
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let start = b.u32();
    let mut mem = MemRing::<TxRequest, TxResponse, 256>::new();
    mem.req_prod = start;
    mem.rsp_prod = start;
    let mut ring = BackRing::attach_at(mem, start).unwrap();
    let mut asm = TxAssembler::new(TxConfig::new(u32::from(b.u8())));
    let limited = b.bool();
    let mut limiter = if limited {
        CreditLimiter::new(Rate { bytes: u64::from(b.u32() % 300_000), usec: 0 }, u64::from(b.u8()), 0)
    } else {
        CreditLimiter::unlimited()
    };
    let mut now = 0u64;
    let mut in_flight: Vec<TxResponse> = Vec::new();
    while !b.is_empty() {
        match b.u8() % 8 {
            // Frontend posts a data slot.
            0 | 1 | 2 => {
                let req = TxRequest {
                    gref: b.u32(),
                    offset: b.u16() % 4200,
                    flags: u16::from(b.u8()),
                    id: b.u16(),
                    size: b.u16(),
                };
                ring.ring_mut().push_request(req);
            }
            // Frontend posts an extra-info slot.
            3 => {
                let raw = ExtraInfoRaw {
                    kind: b.u8() % 7,
                    flags: b.u8() % 2,
                    payload: [b.u8(), b.u8(), b.u8() % 4, b.u8(), b.u8(), b.u8()],
                };
                ring.ring_mut().push_request(raw.to_tx_slot());
            }
            // Frontend scribbles on req_prod / rsp_event.
            4 => {
                let d = b.u16();
                ring.ring_mut().req_prod = ring.req_cons().wrapping_add(u32::from(d % 300));
                ring.ring_mut().rsp_event = b.u32();
            }
            // Backend answers some in-flight slots (zero-copy completions).
            5 => {
                let n = usize::from(b.u8()) % (in_flight.len() + 1);
                for r in in_flight.drain(..n) {
                    ring.push_response(r).unwrap();
                }
                let _ = ring.push_responses_and_check_notify();
                let _ = ring.final_check_for_requests();
            }
            // Time passes; credit timer may fire.
            6 => {
                now = now.wrapping_add(u64::from(b.u16()));
                if limiter.timer().is_some_and(|t| (now.wrapping_sub(t) as i64) >= 0) {
                    limiter.timer_fired();
                }
            }
            // Backend polls.
            _ => {
                for _ in 0..64 {
                    let before = ring.req_cons();
                    let got = asm.poll(&mut ring, &mut limiter.gate(now));
                    assert_eq!(ring.ring().request_reads.get(), u64::from(ring.req_cons().wrapping_sub(start)));
                    let consumed = ring.req_cons().wrapping_sub(before);
                    match got {
                        TxPoll::Verdict(TxVerdict::Accept) => {
                            let p = asm.packet();
                            check_packet(p);
                            in_flight.extend(p.response_plan().responses(NETIF_RSP_OKAY));
                        }
                        TxPoll::Verdict(TxVerdict::Drop(d)) => {
                            assert!(!d.reason.description().is_empty());
                            for r in d.responses.responses(NETIF_RSP_ERROR) {
                                ring.push_response(r).unwrap();
                            }
                        }
                        TxPoll::Verdict(TxVerdict::Multicast(m)) => {
                            assert_eq!(m.responses.slots(), m.responses.responses(0).count() as u32);
                            for r in m.responses.responses(NETIF_RSP_OKAY) {
                                ring.push_response(r).unwrap();
                            }
                        }
                        TxPoll::Verdict(TxVerdict::Fatal(f)) => {
                            assert!(!f.description().is_empty());
                            assert!(asm.is_failed());
                            return;
                        }
                        TxPoll::Empty | TxPoll::Incomplete | TxPoll::RateLimited => {
                            let _ = consumed;
                            break;
                        }
                    }
                }
                assert!(ring.unanswered() <= 256);
            }
        }
    }
    // Disconnect: the in-flight slots are answered, then everything still
    // posted is refused; unless the frontend broke the ring, nothing it
    // posted is left unanswered.
    for r in in_flight.drain(..) {
        ring.push_response(r).unwrap();
    }
    let refused = asm.refuse_posted(&mut ring).unwrap();
    assert!(refused <= ring.size());
    if !asm.is_failed() && ring.unconsumed_requests() == Ok(0) {
        assert_eq!(ring.unanswered(), 0);
    }
});

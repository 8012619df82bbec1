//! Frontend guest RX: an arbitrary backend (response slots, extras, hostile
//! rsp_prod moves) through FrontRing and RxPacketReader, with the buffers
//! recycled as the shell does. Checks: no panic; a ring error only for a
//! backend fault, and sticky; each outcome takes exactly the responses it
//! reports, from the packet's first index on; every accepted packet is within
//! bounds (1..=MAX_RX_SLOTS data slots inside their pages, with the ids of
//! their ring indices and the pages posted under them, length = their
//! sum >= 14, GSO size non-zero); buffers
//! balance (posted = requests in flight, none left received); every response
//! slot is copied exactly once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::front_ring::FrontRing;
use netif::front_rx::{RxBuffers, RxPacketReader, RxPoll, MAX_RX_SLOTS};
use netif::front_staging::TakenPage;
use netif::ring::MemRing;
use netif::wire::*;

#[path = "common.rs"]
mod common;
use common::Bytes;

const SIZE: usize = 256;
type Bufs = RxBuffers<SIZE>;

/// The page posted with grant `gref`: its place is a function of the gref,
/// so a slot that pairs a gref with another page's place shows.
fn page(gref: u32) -> TakenPage {
    TakenPage { gref, index: (gref as u16).rotate_left(5) ^ 0x1234 }
}

/// One response slot as the backend might write it.
fn response(b: &mut Bytes, index: u32) -> RxResponse {
    match b.u8() % 4 {
        // Anything at all.
        0 => RxResponse { id: b.u16(), offset: b.u16(), flags: b.u16(), status: b.u16() as i16 },
        // An extra-info slot, types around the valid range.
        1 => ExtraInfoRaw {
            kind: b.u8() % 8,
            flags: b.u8() & XEN_NETIF_EXTRA_FLAG_MORE,
            payload: [b.u8(), b.u8(), b.u8(), b.u8(), b.u8(), b.u8()],
        }
        .to_rx_response(),
        // A plausible data slot for its index.
        _ => RxResponse {
            id: Bufs::id_of(index),
            offset: if b.bool() { 0 } else { b.u16() % 4200 },
            flags: u16::from(b.u8() & 0x1f),
            status: (b.u16() % 4200) as i16 - if b.u8() == 0 { 4200 } else { 0 },
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let start = b.u32();
    let mut mem = MemRing::<RxRequest, RxResponse, SIZE>::new();
    mem.req_prod = start;
    mem.rsp_prod = start;
    let mut ring = FrontRing::new_at(mem, start).unwrap();
    let mut bufs = Bufs::new();
    let mut reader = RxPacketReader::new();
    let mut next_gref = 0u32;
    while !b.is_empty() {
        // The frontend posts some buffers.
        for _ in 0..b.u8() {
            if ring.is_full() {
                break;
            }
            bufs.post(&mut ring, page(next_gref)).unwrap();
            next_gref = next_gref.wrapping_add(1);
        }
        let _ = ring.push_requests_and_check_notify();

        // The backend writes some responses and publishes them, or lies.
        for _ in 0..b.u8() % 32 {
            let index = ring.ring().rsp_prod;
            let rsp = response(&mut b, index);
            let m = ring.ring_mut();
            m.responses[(index as usize) % SIZE] = rsp;
            m.rsp_prod = index.wrapping_add(1);
        }
        if b.u8() % 16 == 0 {
            ring.ring_mut().rsp_prod = b.u32();
        }
        // It may also scribble over responses already published: each is
        // copied once, so what was read stays read.
        if b.u8() % 8 == 0 {
            let slot = usize::from(b.u8());
            ring.ring_mut().responses[slot] = RxResponse { id: b.u16(), offset: b.u16(), flags: b.u16(), status: 1 };
        }

        for _ in 0..=b.u8() % 8 {
            let before = ring.rsp_cons();
            let out = match reader.poll(&mut ring, &mut bufs) {
                Ok(out) => out,
                Err(e) => {
                    assert!(e.is_backend_fault(), "{e:?}");
                    assert_eq!(ring.broken(), Some(e));
                    assert_eq!(reader.poll(&mut ring, &mut bufs), Err(e));
                    return;
                }
            };
            let taken = ring.rsp_cons().wrapping_sub(before);
            match out {
                RxPoll::Empty => {
                    assert_eq!(taken, 0);
                    break;
                }
                RxPoll::Packet => {
                    let pkt = reader.packet();
                    assert_eq!(pkt.first_index(), before);
                    assert_eq!(pkt.ring_slots(), taken);
                    let slots = pkt.data_slots();
                    assert!(!slots.is_empty() && slots.len() <= MAX_RX_SLOTS);
                    let extras = pkt.extra_ids().count() as u32;
                    assert_eq!(taken, slots.len() as u32 + extras);
                    let mut sum = 0u32;
                    for (k, s) in slots.iter().enumerate() {
                        assert!(s.len >= 1 && u32::from(s.offset) + u32::from(s.len) <= XEN_PAGE_SIZE);
                        let skip = if k == 0 { 0 } else { extras };
                        assert_eq!(s.id, Bufs::id_of(before.wrapping_add(k as u32).wrapping_add(skip)));
                        sum += u32::from(s.len);
                        assert_eq!(s.page, page(s.page.gref));
                        assert_eq!(bufs.release(s.id), Some(s.page));
                    }
                    assert_eq!(sum, pkt.info.len);
                    assert!(pkt.info.len >= u32::from(ETH_HLEN));
                    assert!(pkt.info.gso.map_or(true, |(_, size)| size != 0));
                    for id in pkt.extra_ids() {
                        assert!(bufs.repost(&mut ring, id).unwrap().is_some());
                    }
                }
                RxPoll::Rejected(r) => {
                    assert_eq!(r.first_index(), before);
                    assert_eq!(r.ring_slots(), taken);
                    for id in r.ids() {
                        // Every buffer was posted through `bufs`.
                        assert!(bufs.repost(&mut ring, id).unwrap().is_some());
                    }
                }
            }
            assert_eq!(bufs.received(), 0);
            assert_eq!(bufs.posted(), ring.in_flight());
        }
        if ring.final_check_for_responses().is_err() {
            return;
        }
    }
    assert_eq!(ring.ring().response_reads.get(), u64::from(ring.rsp_cons().wrapping_sub(start)));
});

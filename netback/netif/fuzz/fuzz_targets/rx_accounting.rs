//! Guest RX: arbitrary packets, headroom and posted buffers (including a
//! hostile req_prod). Checks: no panic; when buffers are available, the
//! writer consumes exactly the `rx_slots_needed` buffers reserved and copies
//! `len` bytes, even when `req_prod` moves mid-packet;
//! stall/drain logic on an arbitrary clock never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::ring::{BackRing, MemRing};
use netif::rx::*;
use netif::wire::*;

#[path = "common.rs"]
mod common;
use common::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let start = b.u32();
    let mut mem = MemRing::<RxRequest, RxResponse, 256>::new();
    mem.req_prod = start;
    mem.rsp_prod = start;
    let mut ring = BackRing::attach_at(mem, start).unwrap();
    let cfg = RxConfig::new(b.u16());
    let timeouts = RxTimeouts::for_frontend(b.bool(), b.u32(), b.u32(), u64::from);
    let mut stall = RxStall::new(b.u64());
    let mut vif_carrier = StalledQueues::all(1);
    let mut backlog = 0u32;
    let mut now = b.u64();
    while !b.is_empty() {
        let gso = match b.u8() % 3 {
            0 => None,
            1 => Some((GsoType::TcpV4, b.u16())),
            _ => Some((GsoType::TcpV6, b.u16())),
        };
        let hash = if b.bool() { Some(RxHash { value: b.u32(), ipv4: b.bool(), l4: b.bool() }) } else { None };
        let csum = match b.u8() % 3 {
            0 => RxCsum::None,
            1 => RxCsum::Partial,
            _ => RxCsum::Unnecessary,
        };
        let pkt = RxPacketInfo { len: b.u32() % 200_000, gso, hash, csum };
        let queued = match rx_backlog_admit(backlog, pkt.len) {
            RxAdmit::Drop => {
                assert!(!rx_backlog_has_room(backlog));
                false
            }
            RxAdmit::Queue { stop } => {
                backlog = backlog.saturating_add(pkt.len);
                assert_eq!(stop, !rx_backlog_has_room(backlog));
                true
            }
        };
        // Frontend posts some buffers or lies about req_prod.
        if b.u8() % 5 == 0 {
            ring.ring_mut().req_prod = ring.req_cons().wrapping_add(b.u32() % 600);
        } else {
            for _ in 0..b.u8() {
                ring.ring_mut().push_request(RxRequest { id: b.u16(), pad: 0, gref: b.u32() });
            }
        }
        ring.ring_mut().rsp_event = b.u32();
        let needed = rx_slots_needed(&cfg, &pkt);
        assert!(needed >= 1);
        now = now.wrapping_add(u64::from(b.u16()));
        let posted = ring.published_requests().unwrap_or(0);
        let change = stall.update(posted, needed, now, &timeouts);
        let _ = (vif_carrier.apply(change), stall.has_work(posted, needed, now, &timeouts));
        assert_eq!(vif_carrier.count(), u32::from(stall.is_stalled()));
        let _ = rx_packet_expired(now, timeouts.expires(now.wrapping_sub(u64::from(b.u16()))));
        let reservation = match rx_slots_available(&mut ring, needed) {
            Err(_) => return, // fatal for the VIF
            Ok(None) => continue,
            Ok(Some(r)) => r,
        };
        assert!(rx_packet_fits_ring(needed, XEN_NETIF_RX_RING_SIZE));
        let mut w = RxPacketWriter::new(&cfg, &pkt, reservation).unwrap();
        let cons_before = ring.req_cons();
        let mut steps = 0u32;
        let mut bytes = 0u64;
        loop {
            // The frontend may move req_prod anywhere mid-packet: the
            // writer must not care.
            if b.u8() % 7 == 0 {
                ring.ring_mut().req_prod = b.u32();
            }
            match w.next_step(&mut ring) {
                Ok(Some(RxStep::Data { len, index, response, .. })) => {
                    bytes += u64::from(len);
                    if b.u8() == 0xff {
                        ring.overwrite_unpublished(index, rx_copy_failed_response(response, -1)).unwrap();
                    }
                }
                Ok(Some(RxStep::Extra { .. })) => {}
                Ok(None) => break,
                Err(e) => panic!("writer failed after availability check: {e:?}"),
            }
            steps += 1;
        }
        assert_eq!(steps, needed);
        assert_eq!(ring.req_cons().wrapping_sub(cons_before), needed);
        assert_eq!(bytes, u64::from(pkt.len));
        assert!(w.is_done());
        let _ = ring.push_responses_and_check_notify();
        stall.packet_sent(now);
        if queued {
            backlog -= pkt.len;
        }
    }
});

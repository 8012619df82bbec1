//! Fixed workload for instruction counting of guest-TX parse and validation:
//! parses PACKETS packets of each shape through `TxAssembler::poll` on an
//! in-memory ring, refilling the ring as it drains.
//!
//!   cargo build --release -p netif --example tx_callgrind
//!   valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!       target/release/examples/tx_callgrind small 100000
//!
//! Instructions per packet = (Ir of the run - Ir of the same run with 0
//! packets) / packets; docs/netif-core.md records the figure.

use netif::ring::{BackRing, MemRing};
use netif::tx::{TxAssembler, TxConfig, TxPoll, TxVerdict, Unlimited};
use netif::wire::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "small".into());
    let packets: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let slots: Vec<TxRequest> = match shape.as_str() {
        "gso" => vec![
            TxRequest {
                gref: 1,
                offset: 0,
                flags: NETTXF_MORE_DATA | NETTXF_EXTRA_INFO | NETTXF_CSUM_BLANK,
                id: 1,
                size: 9000,
            },
            ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 }.to_raw(false).to_tx_slot(),
            TxRequest { gref: 2, offset: 0, flags: NETTXF_MORE_DATA, id: 2, size: 4096 },
            TxRequest { gref: 3, offset: 0, flags: 0, id: 3, size: 808 },
        ],
        _ => vec![TxRequest { gref: 1, offset: 0, flags: NETTXF_CSUM_BLANK, id: 1, size: 60 }],
    };
    let mut ring = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
    let mut asm = TxAssembler::new(TxConfig::default());
    let mut done = 0u64;
    let mut posted = 0u64;
    let mut checksum = 0u64;
    while done < packets {
        // Keep the ring topped up, answering what was parsed so slots free up.
        while posted < packets && ring.ring().free_requests() as usize >= slots.len() {
            for r in &slots {
                ring.ring_mut().push_request(*r);
            }
            posted += 1;
        }
        match asm.poll(&mut ring, &mut Unlimited) {
            TxPoll::Verdict(TxVerdict::Accept) => {
                let p = asm.packet();
                checksum = checksum.wrapping_add(u64::from(p.total_size));
                for r in p.response_plan().responses(NETIF_RSP_OKAY) {
                    ring.push_response(r).unwrap();
                }
                done += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        if ring.unanswered() == 0 {
            ring.push_responses_and_check_notify();
            while ring.ring_mut().take_response().is_some() {}
        }
    }
    println!("{shape}: {done} packets, checksum {checksum}");
}

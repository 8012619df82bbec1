//! Per-packet cost of guest-TX parse and validation: `TxAssembler::poll` on
//! an in-memory ring, including copying the slots out and building the
//! verdict (responses are not pushed). Two shapes: a 1-slot 60-byte packet
//! and a 3-slot GSO packet with a GSO extra (9000 bytes).
//!
//!   nice -n 19 cargo bench -p netif --bench tx_parse

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use netif::ring::{BackRing, MemRing};
use netif::tx::{TxAssembler, TxConfig, TxPoll, TxVerdict, Unlimited};
use netif::wire::*;

type Ring = MemRing<TxRequest, TxResponse, 256>;

/// A ring holding as many `shape` packets as fit, and their count.
fn filled(shape: &[TxRequest]) -> (BackRing<Ring>, u64) {
    let mut ring = BackRing::new(Ring::new()).unwrap();
    let n = 256 / shape.len();
    for _ in 0..n {
        for r in shape {
            ring.ring_mut().push_request(*r);
        }
    }
    (ring, n as u64)
}

fn small() -> Vec<TxRequest> {
    vec![TxRequest { gref: 1, offset: 0, flags: NETTXF_CSUM_BLANK, id: 1, size: 60 }]
}

fn gso() -> Vec<TxRequest> {
    vec![
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
    ]
}

fn run(ring: &mut BackRing<Ring>) -> u64 {
    let mut asm = TxAssembler::new(TxConfig::default());
    let mut n = 0;
    while let TxPoll::Verdict(v) = asm.poll(ring, &mut Unlimited) {
        if v == TxVerdict::Accept {
            black_box(asm.packet());
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_parse");
    for (name, shape) in [("1slot_60B", small()), ("gso_3slot_9000B", gso())] {
        let (_, per_ring) = filled(&shape);
        g.throughput(Throughput::Elements(per_ring));
        g.bench_function(name, |b| {
            b.iter_batched_ref(|| filled(&shape).0, |ring| assert_eq!(run(ring), per_ring), BatchSize::SmallInput)
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

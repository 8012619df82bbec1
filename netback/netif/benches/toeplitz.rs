//! Cost of one Toeplitz flow hash as `ndo_select_queue` computes it per
//! packet: the yardstick for a hash cache (xen-netback keeps one,
//! `hash_cache_size` entries per VIF, looked up under RCU). IPv4+TCP hashes
//! 12 bytes, IPv6+TCP 36.
//!
//!   nice -n 19 cargo bench -p netif --bench toeplitz

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use netif::toeplitz::{flow_hash, Flow};
use netif::wire::XEN_NETIF_CTRL_HASH_TYPES_ALL;

fn bench(c: &mut Criterion) {
    let key: [u8; 40] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let v4 = Flow::V4 { src: [10, 99, 0, 1], dst: [10, 99, 0, 11], ports: Some((40000, 5201)) };
    let v6 = Flow::V6 {
        src: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x16, 0x3e, 0xff, 0xfe, 0, 0, 1],
        dst: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x16, 0x3e, 0xff, 0xfe, 0, 0, 2],
        ports: Some((40000, 5201)),
    };
    c.bench_function("toeplitz ipv4+tcp", |b| {
        b.iter(|| flow_hash(black_box(&key), XEN_NETIF_CTRL_HASH_TYPES_ALL, black_box(&v4)))
    });
    c.bench_function("toeplitz ipv6+tcp", |b| {
        b.iter(|| flow_hash(black_box(&key), XEN_NETIF_CTRL_HASH_TYPES_ALL, black_box(&v6)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

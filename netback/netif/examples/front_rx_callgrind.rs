//! Fixed workload for instruction counting of netfront-rs' guest-RX core
//! path, as its NAPI poll runs it (`netfront/queue.rs`) minus the kernel's
//! skb work: `RxPacketReader::poll` on an in-memory ring whose 256 buffers
//! are writable pages of a 512-page staging pool, each data slot's page
//! found in the shell's gref-sorted page table (`GrantedPages`, modelled by
//! a sorted vector) at its place, every slot reposted in ring order, the requests pushed
//! once per batch of 16 packets. The backend's responses are written
//! straight into the ring.
//!
//!   cargo build --release -p netif --example front_rx_callgrind
//!   valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!       target/release/examples/front_rx_callgrind small 100000
//!
//! Instructions per packet = (Ir of the run - Ir of the same run with 0
//! packets) / packets (`benches/callgrind.sh`).

use netif::front_ring::FrontRing;
use netif::front_rx::{RxBuffers, RxPacketReader, RxPoll};
use netif::front_staging::{PoolPage, StagingPool, TakenPage};
use netif::ring::MemRing;
use netif::wire::*;
use std::hint::black_box;

const SIZE: usize = 256;
/// Packets taken per lock hold in the shell (`RX_BATCH`).
const BATCH: u64 = 16;

type Ring = FrontRing<MemRing<RxRequest, RxResponse, SIZE>>;

/// The shell's table of granted pages, sorted by gref as the pool is
/// (`GrantedPages`): a stand-in page address per gref.
struct Pages(Vec<(u32, u64)>);

impl Pages {
    /// The page `page` names, as `GrantedPages::find_taken` finds it.
    fn find_taken(&self, page: TakenPage) -> Option<u64> {
        self.0.get(page.position_in(&self.0, |p| p.0)?).map(|p| p.1)
    }
}

/// The responses of one packet, as netback writes them: each with whether
/// it is a data slot (whose `id` is its ring index's).
fn responses(shape: &str) -> Vec<(RxResponse, bool)> {
    let data = |flags, status| (RxResponse { id: 0, offset: 0, flags, status }, true);
    match shape {
        "gso" => vec![
            data(NETRXF_MORE_DATA | NETRXF_EXTRA_INFO | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED, 4096),
            (
                ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 }
                    .to_raw(false)
                    .to_rx_response(),
                false,
            ),
            data(NETRXF_MORE_DATA, 4096),
            data(0, 808),
        ],
        _ => vec![data(NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED, 60)],
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "small".into());
    let packets: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // As `Rings::new`: 256 read-only pages for TX, then 256 writable ones.
    let pages = Pages((0..2 * SIZE as u32).map(|i| (8 + i, 0x1000 * u64::from(i))).collect());
    let mut pool = StagingPool::with_storage(vec![PoolPage::EMPTY; 2 * SIZE]);
    for (i, &(gref, _)) in pages.0.iter().enumerate() {
        pool.add_page(gref, i < SIZE).unwrap();
    }
    pool.use_unregistered().unwrap();
    let mut ring: Ring = FrontRing::new(MemRing::new()).unwrap();
    let mut bufs = Box::new(RxBuffers::<SIZE>::new());
    // As `Rings::start`.
    while ring.free_requests() > 0 {
        let Some(page) = pool.take_rx() else { break };
        bufs.post(&mut ring, page).unwrap();
    }
    ring.push_requests_and_check_notify();
    let template = responses(&shape);
    let mut reader = RxPacketReader::new();
    let (mut done, mut checksum) = (0u64, 0u64);
    while done < packets {
        // The backend answers a batch of packets.
        let m = ring.ring_mut();
        for _ in 0..BATCH.min(packets - done) {
            for &(r, is_data) in &template {
                let at = m.rsp_prod;
                let id = if is_data { RxBuffers::<SIZE>::id_of(at) } else { r.id };
                m.responses[at as usize % SIZE] = RxResponse { id, ..r };
                m.rsp_prod = at.wrapping_add(1);
            }
        }
        // The poll takes them, copies each out and reposts its buffers.
        loop {
            match reader.poll(&mut ring, &mut *bufs) {
                Ok(RxPoll::Packet) => {
                    let pkt = reader.packet();
                    for slot in pkt.data_slots() {
                        let page = pages.find_taken(slot.page).unwrap();
                        checksum =
                            checksum.wrapping_add(black_box(page) + u64::from(slot.offset) + u64::from(slot.len));
                    }
                    for id in pkt.ids() {
                        bufs.repost(&mut ring, id).unwrap();
                    }
                    done += 1;
                }
                Ok(RxPoll::Empty) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        black_box(ring.push_requests_and_check_notify());
    }
    println!("{shape}: {done} packets, checksum {checksum}");
}

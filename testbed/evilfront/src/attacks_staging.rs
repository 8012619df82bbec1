//! Staging grants (Xen's io/netif.h control requests GET_GREF_MAPPING_SIZE = 8,
//! ADD_GREF_MAPPING = 9, DEL_GREF_MAPPING = 10): the frontend hands the backend a list of its
//! pages (`struct xen_netif_gref {u32 ref; u16 flags; u16 status}`, 8 bytes each, in a
//! granted list page) to keep mapped; TX and RX requests naming one of them are served by a
//! memcpy instead of a grant copy, any other gref by the grant copy as usual. Both attacks
//! use one queue and a control ring. Dispatched from `attacks::run`; dom0's side is
//! testbed/scenarios/staging.sh, the expected outcomes are in docs/hostile-frontend.md
//! ("Staging grants").
//!
//! Every control request's status is recorded as a number, or `timeout` when the backend did
//! not answer within 5 s (1 s once one timed out: the ring may be dead).

use crate::attacks::{our_ip, record_probe, Report};
use crate::frames;
use crate::front::{rx_slot, ConnectTweaks, CtrlRing, Frontend, MqLayout, MqRings, TX_RING};
use crate::xen_dev::{Gntalloc, GrantedPage, PAGE_SIZE};
use crate::Args;
use netif::wire::{
    CtrlRequest, CtrlResponse, RxRequest, RxResponse, TxRequest, TxResponse, NETIF_RSP_OKAY, NETRXF_EXTRA_INFO,
    NETRXF_MORE_DATA, SRING_RSP_EVENT_OFFSET, XEN_NETIF_CTRLF_GREF_READONLY, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
    XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE,
};
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const ATTACKS: &[(&str, &str)] = &[
    (
        "staging",
        "staging grants as meant: GET size, ADD 64 pages, TX from and RX into them, DEL, DEL again, \
         re-ADD half and close with them mapped",
    ),
    (
        "staging-hostile",
        "bad staging lists (empty, 513 entries, a gref twice, unknown flags, never granted, bad queue, bad list \
         page, over the cap, added twice, DEL of an unknown gref), DEL while TX uses the pages, RX into read-only \
         entries",
    ),
    (
        "staging-lent",
        "frames from staged pages to a peer dom0 has paused, so the backend's stack holds the pages (lent with \
         tx_zerocopy=on); DEL of them meanwhile (the lent entries answer in use), the frames answered once the \
         peer drains, DEL of the rest",
    ),
];

/// Bytes of one `struct xen_netif_gref`.
const ENTRY_SIZE: usize = 8;
/// Entries of a list page.
const LIST_MAX: usize = PAGE_SIZE / ENTRY_SIZE;
/// What evilfront writes in each entry's `status` before a request: a DEL that does not
/// write a status back shows.
const STATUS_UNSET: u16 = 0xffff;
/// A grant reference nobody granted (past any guest's grant table).
const NEVER_GRANTED: u32 = 0x7fff_f000;
/// A queue index past a one-queue vif's.
const BAD_QUEUE: u32 = 5;
/// Pages staged (at most; GET's size when smaller).
const STAGED_MAX: u32 = 64;
/// `staging-hostile` fills the table to its cap when the cap is at most this.
const OVER_CAP_MAX: u32 = 1024;
/// Pages of `staging-hostile` against a backend without staging (its traffic still runs).
const UNSUPPORTED_POOL: usize = 16;
/// Frames `staging` sends from staged pages (fewer if `--seconds` runs out first).
const TX_FRAMES: u32 = 2000;
/// Frames of the other TX phases.
const SHORT_FRAMES: u32 = 500;
/// Where the ARP request sits in a TX page (the filler frame is at offset 0).
const ARP_OFFSET: u16 = 2048;
/// Longest RX phase.
const RX_SECONDS: u64 = 3;
/// Frames (one per staged page) `staging-lent` sends to the paused peer.
const LENT_FRAMES: u32 = 16;
/// How long `staging-lent` waits for its frames' answers once it printed its DEL phase:
/// dom0 unpauses the peer then, and the backend drops a packet queued for a stalled guest
/// after rx_drain_timeout_msecs (10 s) anyway.
const LENT_ANSWER_SECONDS: u64 = 30;
/// Status values as the list page's 16-bit field holds them.
const ST_OK: u16 = XEN_NETIF_CTRL_STATUS_SUCCESS as u16;
const ST_INVALID: u16 = XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER as u16;

/// Runs `a.attack` if it is one of ours; returns whether it was.
pub fn run(fe: &mut Frontend, a: &Args, r: &mut Report) -> bool {
    if !ATTACKS.iter().any(|(n, _)| *n == a.attack) {
        return false;
    }
    let be = fe.backend.clone();
    r.set("offer_ctrl_ring", fe.xs.read(&format!("{be}/feature-ctrl-ring")).unwrap_or_else(|_| "none".into()));
    let mq = match MqRings::prepare(fe, &MqLayout { num_queues: 1, split: false, ctrl: true }) {
        Ok(m) => m,
        Err(e) => {
            r.set("error", e);
            return true;
        }
    };
    let tweaks = ConnectTweaks { extra_keys: mq.keys(fe), ..Default::default() };
    let Some(connected) = r.connect(fe, &tweaks, Duration::from_secs(60)) else {
        return true;
    };
    if connected {
        match &mq.ctrl {
            Some(ring) => {
                let mut ctrl = Ctrl { ring, timeouts: 0, mismatched: 0, mapped: 0 };
                match a.attack.as_str() {
                    "staging" => staging(fe, &mut ctrl, a, r),
                    "staging-lent" => lent(fe, &mut ctrl, a, r),
                    _ => hostile(fe, &mut ctrl, a, r),
                }
                r.set("left_mapped", ctrl.mapped);
                r.set("ctrl_timeouts", ctrl.timeouts);
                r.set("ctrl_mismatched", ctrl.mismatched);
                println!("EVIL staging left_mapped={} (closing with them after the hold)", ctrl.mapped);
            }
            None => r.set("error", "no control ring"),
        }
    }
    // The control ring's event channel (and its pages) must stay until main closes the
    // connection after the hold: entries stay mapped through it, the backend drains them
    // on the disconnect. The process ends right after.
    std::mem::forget(mq);
    true
}

// ---- the control ring ----

/// The control ring with its data page as the gref list page.
struct Ctrl<'a> {
    ring: &'a CtrlRing,
    timeouts: u32,
    /// Responses whose id or type is not the request's.
    mismatched: u32,
    /// Entries the backend holds by our count: what ADDs answered SUCCESS added, less what
    /// DELs unmapped.
    mapped: u64,
}

impl Ctrl<'_> {
    fn call(&mut self, kind: u16, data: [u32; 3]) -> Option<CtrlResponse> {
        let wait = Duration::from_secs(if self.timeouts == 0 { 5 } else { 1 });
        let id = self.ring.req_prod() as u16;
        match self.ring.request(CtrlRequest { id, kind, data }, wait) {
            None => {
                self.timeouts += 1;
                println!("EVIL staging control request type {kind} data {data:?}: no response");
                None
            }
            Some(p) => {
                if p.id != id || p.kind != kind {
                    self.mismatched += 1;
                }
                Some(p)
            }
        }
    }
    fn list_gref(&self) -> u32 {
        self.ring.data.gref
    }
    /// Writes `entries` (gref, flags) into the list page (at most a page of them), each
    /// status STATUS_UNSET.
    fn write_list(&self, entries: &[(u32, u16)]) {
        let mut b = Vec::with_capacity(entries.len().min(LIST_MAX) * ENTRY_SIZE);
        for &(gref, flags) in entries.iter().take(LIST_MAX) {
            b.extend_from_slice(&gref.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&STATUS_UNSET.to_le_bytes());
        }
        self.ring.data.write_bytes(0, &b);
    }
    /// The status fields of the first `n` entries of the list page.
    fn statuses(&self, n: usize) -> Vec<u16> {
        let b = self.ring.data.read_bytes(0, n.min(LIST_MAX) * ENTRY_SIZE);
        b.chunks_exact(ENTRY_SIZE).map(|e| u16::from_le_bytes([e[6], e[7]])).collect()
    }
    fn get_size(&mut self, queue: u32) -> Option<CtrlResponse> {
        self.call(XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE, [queue, 0, 0])
    }
    /// ADD_GREF_MAPPING naming list page `list` and `count` entries, as given.
    fn add_raw(&mut self, queue: u32, list: u32, count: u32) -> Option<CtrlResponse> {
        let rsp = self.call(XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, [queue, list, count]);
        if rsp.is_some_and(|p| p.status == XEN_NETIF_CTRL_STATUS_SUCCESS) {
            self.mapped += u64::from(count);
        }
        rsp
    }
    fn add(&mut self, queue: u32, entries: &[(u32, u16)]) -> Option<CtrlResponse> {
        self.write_list(entries);
        self.add_raw(queue, self.list_gref(), entries.len() as u32)
    }
    fn del_raw(&mut self, queue: u32, list: u32, count: u32) -> Option<CtrlResponse> {
        let rsp = self.call(XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, [queue, list, count]);
        if let Some(p) = rsp.filter(|p| p.status == XEN_NETIF_CTRL_STATUS_SUCCESS) {
            self.mapped = self.mapped.saturating_sub(u64::from(p.data));
        }
        rsp
    }
    /// DEL_GREF_MAPPING of `entries`: the response and each entry's status read back.
    fn del(&mut self, queue: u32, entries: &[(u32, u16)]) -> (Option<CtrlResponse>, Vec<u16>) {
        self.write_list(entries);
        let rsp = self.del_raw(queue, self.list_gref(), entries.len() as u32);
        (rsp, self.statuses(entries.len()))
    }
}

fn status(rsp: Option<CtrlResponse>) -> String {
    rsp.map_or_else(|| "timeout".into(), |p| p.status.to_string())
}
/// A response's data, `timeout` without one.
fn data(rsp: Option<CtrlResponse>) -> String {
    rsp.map_or_else(|| "timeout".into(), |p| p.data.to_string())
}
/// Sets `k` and prints it as progress.
fn note(r: &mut Report, k: &str, v: impl ToString) {
    let v = v.to_string();
    println!("EVIL staging {k}={v}");
    r.set(k, v);
}

// ---- the staged pages ----

/// Pages granted for staging, on their own gntalloc device. Never dropped: they must stay
/// granted until the process exits (entries are left mapped through the close).
struct Pool {
    pages: Vec<GrantedPage>,
    _gnt: Gntalloc,
}

const GNTALLOC_LIMIT: &str = "/sys/module/xen_gntalloc/parameters/limit";

fn grant_pool(fe: &mut Frontend, n: usize) -> Result<Pool, String> {
    let domid = fe.backend_id()?;
    // gntalloc grants at most `limit` pages in all (1024 by default); the connection holds
    // about 270 already. Raise it when this pool needs more (best effort).
    let want = n + 512;
    if let Some(limit) = std::fs::read_to_string(GNTALLOC_LIMIT).ok().and_then(|s| s.trim().parse::<usize>().ok()) {
        if limit < want && std::fs::write(GNTALLOC_LIMIT, want.to_string()).is_ok() {
            println!("EVIL staging gntalloc limit {limit} -> {want}");
        }
    }
    let gnt = Gntalloc::open().map_err(|e| format!("open /dev/xen/gntalloc: {e}"))?;
    let pages = (0..n)
        .map(|i| gnt.grant_page(domid).map_err(|e| format!("granting staged page {i} of {n}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    println!("EVIL staging granted {n} pages");
    Ok(Pool { pages, _gnt: gnt })
}

/// List entries for `pages` with `flags`.
fn entries(pages: &[GrantedPage], flags: u16) -> Vec<(u32, u16)> {
    pages.iter().map(|p| (p.gref, flags)).collect()
}

// ---- TX ----

#[derive(Default)]
struct TxTally {
    sent: u32,
    ok: u32,
    err: u32,
    unanswered: u32,
}

impl TxTally {
    fn add(&mut self, rsps: &[TxResponse]) {
        for p in rsps {
            if p.status == NETIF_RSP_OKAY {
                self.ok += 1;
            } else {
                self.err += 1;
            }
        }
    }
    fn record(&self, r: &mut Report, prefix: &str) {
        println!(
            "EVIL staging {prefix}: sent={} ok={} err={} unanswered={}",
            self.sent, self.ok, self.err, self.unanswered
        );
        r.set(&format!("{prefix}_sent"), self.sent);
        r.set(&format!("{prefix}_ok"), self.ok);
        r.set(&format!("{prefix}_err"), self.err);
        r.set(&format!("{prefix}_unanswered"), self.unanswered);
    }
}

/// Sends `count` one-slot frames of `size` bytes, the slots naming `grefs` (gref, offset) in
/// turn, keeping the ring as full as it goes, for at most `limit`; `hook(fe, sent)` runs
/// after each batch. Then waits up to 5 s for the last responses.
fn send_frames(
    fe: &mut Frontend,
    grefs: &[(u32, u16)],
    size: u16,
    count: u32,
    limit: Duration,
    hook: &mut dyn FnMut(&mut Frontend, u32),
) -> TxTally {
    let mut t = TxTally::default();
    if grefs.is_empty() {
        return t;
    }
    let t0 = Instant::now();
    while t.sent < count && t0.elapsed() < limit {
        let rsps = fe.take_tx_responses();
        t.add(&rsps);
        let in_flight = fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons);
        let free = TX_RING.saturating_sub(in_flight).min(count - t.sent);
        for _ in 0..free {
            let (gref, offset) = grefs[t.sent as usize % grefs.len()];
            let id = (fe.tx_req_prod % TX_RING) as u16;
            fe.put_tx(TxRequest { gref, offset, flags: 0, id, size });
            t.sent += 1;
        }
        if free > 0 {
            fe.push_tx();
        }
        hook(fe, t.sent);
        if free == 0 && rsps.is_empty() {
            sleep(Duration::from_millis(1));
        }
    }
    t.add(&fe.wait_tx_responses(Duration::from_secs(5)));
    t.unanswered = fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons);
    t
}

// ---- RX into our own pages ----

/// RX buffers that are pages of ours (staged or not) instead of the connection's own:
/// request `i` of the ring names page `i % len` (responses sit in their request's slot).
/// Each frame is read from the page and checked.
struct RxPool<'a> {
    pages: Vec<&'a GrantedPage>,
    mac: [u8; 6],
    /// Repost buffers as responses are taken.
    reposting: bool,
    /// The last data response had MORE_DATA: the next one continues its packet.
    more: bool,
    /// Frames with a sane Ethernet header (to us or multicast, from a unicast source).
    frames: u32,
    /// Data responses whose bytes are not such a frame (or still the poison).
    bad: u32,
    /// Responses with a negative status.
    errors: u32,
    arp_replies: u32,
    /// dom0's pattern frames (ethertype 0x88b5, payload 0xa5) and those whose payload is wrong.
    pattern: u32,
    pattern_bad: u32,
    /// Continuation slots of multi-slot packets (not checked).
    frags: u32,
    /// Responses whose id is not their request's.
    id_mismatch: u32,
}

/// What evilfront writes at the start of a buffer before posting it: a response that
/// claims data the backend did not write reads as a bad frame.
const POISON: [u8; 256] = [0xee; 256];

impl<'a> RxPool<'a> {
    fn new(pages: impl IntoIterator<Item = &'a GrantedPage>, mac: [u8; 6]) -> Self {
        Self {
            pages: pages.into_iter().collect(),
            mac,
            reposting: true,
            more: false,
            frames: 0,
            bad: 0,
            errors: 0,
            arp_replies: 0,
            pattern: 0,
            pattern_bad: 0,
            frags: 0,
            id_mismatch: 0,
        }
    }

    /// Posts every buffer not posted now.
    fn post(&mut self, fe: &mut Frontend) {
        let len = self.pages.len() as u32;
        let outstanding = fe.rx_req_prod.wrapping_sub(fe.rx_rsp_cons);
        if len == 0 || outstanding >= len {
            return;
        }
        for _ in outstanding..len {
            let id = fe.rx_req_prod % len;
            let page = self.pages[id as usize];
            page.write_bytes(0, &POISON);
            fe.rx_ring().write_obj(rx_slot(fe.rx_req_prod), RxRequest { id: id as u16, pad: 0, gref: page.gref });
            fe.rx_req_prod = fe.rx_req_prod.wrapping_add(1);
        }
        fe.push_rx_raw(fe.rx_req_prod);
    }

    /// Takes the responses published so far, checks each frame, reposts.
    fn take(&mut self, fe: &mut Frontend) {
        let len = self.pages.len() as u32;
        if len == 0 {
            return;
        }
        let prod = fe.rx_rsp_prod();
        let mut n = 0;
        while fe.rx_rsp_cons != prod && n < crate::front::RX_RING {
            let cons = fe.rx_rsp_cons;
            let rsp: RxResponse = fe.rx_ring().read_obj(rx_slot(cons));
            fe.rx_rsp_cons = cons.wrapping_add(1);
            n += 1;
            let page = self.pages[(cons % len) as usize];
            if u32::from(rsp.id) != cons % len {
                self.id_mismatch += 1;
            }
            let continuation = self.more;
            self.more = rsp.status > 0 && rsp.flags & NETRXF_MORE_DATA != 0;
            if rsp.status < 0 {
                self.errors += 1;
            } else if rsp.status > 0 {
                if continuation {
                    self.frags += 1;
                } else {
                    let off = usize::from(rsp.offset).min(PAGE_SIZE);
                    let l = (rsp.status as usize).min(PAGE_SIZE - off);
                    self.check(&page.read_bytes(off, l));
                }
            }
            if rsp.flags & NETRXF_EXTRA_INFO != 0 && fe.rx_rsp_cons != prod {
                fe.rx_rsp_cons = fe.rx_rsp_cons.wrapping_add(1);
                n += 1;
            }
        }
        fe.rx_ring().word(SRING_RSP_EVENT_OFFSET).store(fe.rx_rsp_cons.wrapping_add(1), Ordering::SeqCst);
        if self.reposting {
            self.post(fe);
        }
    }

    fn check(&mut self, f: &[u8]) {
        let (Some(dst), Some(src), Some(kind)) = (f.get(0..6), f.get(6..12), f.get(12..14)) else {
            self.bad += 1;
            return;
        };
        let to_us = dst == self.mac || dst[0] & 1 == 1;
        let from_unicast = src[0] & 1 == 0 && src.iter().any(|&b| b != 0);
        if !to_us || !from_unicast {
            self.bad += 1;
            return;
        }
        self.frames += 1;
        let payload = f.get(14..).unwrap_or(&[]);
        if frames::is_arp_reply_from_dom0(f) {
            self.arp_replies += 1;
        } else if kind == [0x88, 0xb5] && payload.first() == Some(&0xa5) {
            self.pattern += 1;
            if payload.iter().any(|&b| b != 0xa5) {
                self.pattern_bad += 1;
            }
        }
    }

    /// Stops reposting and takes responses until every posted buffer is used (or 1 s):
    /// then nothing of the backend's RX path uses these pages.
    fn quiesce(&mut self, fe: &mut Frontend) {
        self.reposting = false;
        let t0 = Instant::now();
        loop {
            self.take(fe);
            if fe.rx_req_prod == fe.rx_rsp_cons || t0.elapsed() > Duration::from_secs(1) {
                break;
            }
            sleep(Duration::from_millis(10));
        }
    }

    fn record(&self, r: &mut Report, prefix: &str) {
        println!(
            "EVIL staging {prefix}: frames={} bad={} errors={} arp_replies={} pattern={} pattern_bad={}",
            self.frames, self.bad, self.errors, self.arp_replies, self.pattern, self.pattern_bad
        );
        r.set(&format!("{prefix}_frames"), self.frames);
        r.set(&format!("{prefix}_bad"), self.bad);
        r.set(&format!("{prefix}_errors"), self.errors);
        r.set(&format!("{prefix}_arp_replies"), self.arp_replies);
        r.set(&format!("{prefix}_pattern"), self.pattern);
        r.set(&format!("{prefix}_pattern_bad"), self.pattern_bad);
        r.set(&format!("{prefix}_frags"), self.frags);
        r.set(&format!("{prefix}_id_mismatch"), self.id_mismatch);
    }
}

/// Receives into `rx` for up to RX_SECONDS while asking dom0 for ARP replies (requests from
/// page `arp_page`, at ARP_OFFSET, every 300 ms); dom0's pattern frames (the scenario's raw
/// sender) arrive meanwhile. Ends early once a few replies and frames are in. Returns the
/// ARP requests sent.
fn receive(fe: &mut Frontend, rx: &mut RxPool, arp_page: &GrantedPage, handle: u32) -> u32 {
    let arp = frames::arp_request(fe.mac, our_ip(handle));
    arp_page.write_bytes(usize::from(ARP_OFFSET), &arp);
    let t0 = Instant::now();
    let mut last_arp: Option<Instant> = None;
    let mut sent = 0;
    while t0.elapsed() < Duration::from_secs(RX_SECONDS) {
        if sent < 10 && last_arp.is_none_or(|t| t.elapsed() > Duration::from_millis(300)) {
            let id = (fe.tx_req_prod % TX_RING) as u16;
            fe.put_tx(TxRequest { gref: arp_page.gref, offset: ARP_OFFSET, flags: 0, id, size: arp.len() as u16 });
            fe.push_tx();
            sent += 1;
            last_arp = Some(Instant::now());
        }
        fe.take_tx_responses();
        rx.take(fe);
        if rx.arp_replies >= 2 && rx.frames >= 20 {
            break;
        }
        sleep(Duration::from_millis(5));
    }
    fe.wait_tx_responses(Duration::from_secs(2));
    sent
}

// ---- the attacks ----

/// GET for queue 0, recorded; the size when the backend supports staging.
fn get(ctrl: &mut Ctrl, r: &mut Report) -> Option<u32> {
    let g = ctrl.get_size(0);
    note(r, "get_status", status(g));
    note(r, "size", g.map_or(0, |p| p.data));
    let supported = g.filter(|p| p.status == XEN_NETIF_CTRL_STATUS_SUCCESS).map(|p| p.data);
    note(r, "supported", u8::from(supported.is_some()));
    supported
}

/// GET, then `min(size, max)` pages granted for staging, at least `least`. `None` without
/// staging (plain traffic ran instead) or on an error (recorded).
fn staged_pool(fe: &mut Frontend, ctrl: &mut Ctrl, a: &Args, r: &mut Report, max: u32, least: usize) -> Option<Pool> {
    let Some(size) = get(ctrl, r) else {
        plain_traffic(fe, a, r);
        return None;
    };
    let n = size.min(max) as usize;
    if n < least {
        r.set("error", format!("size {size}: too small (at least {least} pages)"));
        return None;
    }
    grant_pool(fe, n).map_err(|e| r.set("error", e)).ok()
}

/// Staging used as meant (see ATTACKS); without staging (C: NOT_SUPPORTED), plain traffic.
fn staging(fe: &mut Frontend, ctrl: &mut Ctrl, a: &Args, r: &mut Report) {
    // TX and RX pages: two at least.
    let Some(pool) = staged_pool(fe, ctrl, a, r, STAGED_MAX, 2) else {
        return;
    };
    let n = pool.pages.len();
    let all = entries(&pool.pages, 0);
    note(r, "add_status", status(ctrl.add(0, &all)));
    // TX from the first half, RX into the second: a page is never both at once.
    let (tx_pages, rx_pages) = pool.pages.split_at(n / 2);
    let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
    for p in tx_pages {
        p.write_bytes(0, &frame);
    }
    let tx_grefs: Vec<(u32, u16)> = tx_pages.iter().map(|p| (p.gref, 0)).collect();
    let mut rx = RxPool::new(rx_pages, fe.mac);
    rx.post(fe);
    let limit = Duration::from_secs(a.seconds.max(1));
    let t = send_frames(fe, &tx_grefs, frame.len() as u16, TX_FRAMES, limit, &mut |fe, _| rx.take(fe));
    t.record(r, "tx");
    let arp_sent = receive(fe, &mut rx, &tx_pages[0], a.handle);
    r.set("arp_sent", arp_sent);
    rx.quiesce(fe);
    rx.record(r, "rx");

    // DEL everything: each status must come back 0. An entry the RX path still used (status
    // 2: in use) is tried once more.
    let (del, st) = ctrl.del(0, &all);
    note(r, "del_status", status(del));
    note(r, "del_count", data(del));
    let busy: Vec<(u32, u16)> = all.iter().zip(&st).filter(|&(_, &s)| s == ST_INVALID).map(|(e, _)| *e).collect();
    let mut bad = st.iter().filter(|&&s| s != ST_OK && s != ST_INVALID).count();
    let mut retried = String::from("0");
    if !busy.is_empty() {
        sleep(Duration::from_millis(200));
        let (again, st2) = ctrl.del(0, &busy);
        retried = data(again);
        bad += st2.iter().filter(|&&s| s != ST_OK).count();
    }
    note(r, "del_busy", busy.len());
    note(r, "del_retry_count", retried);
    note(r, "del_bad_status", bad);
    // The same list again: nothing left to unmap, every entry INVALID_PARAMETER.
    let (del2, st2) = ctrl.del(0, &all);
    note(r, "del2_status", status(del2));
    note(r, "del2_count", data(del2));
    note(r, "del2_invalid", st2.iter().filter(|&&s| s == ST_INVALID).count());
    // Half of them again, left mapped for the close.
    note(r, "readd_status", status(ctrl.add(0, &all[..n / 2])));
    std::mem::forget(pool);
}

/// Frames from staged pages held by dom0's stack while they are deleted (see ATTACKS).
/// dom0 has paused the peer `a.dst_mac` names and filled its vif's queue, so with
/// tx_zerocopy=on each frame's bytes past its head stay lent to the stack until dom0
/// unpauses the peer, which it does on `EVIL-PHASE lent-del`.
fn lent(fe: &mut Frontend, ctrl: &mut Ctrl, a: &Args, r: &mut Report) {
    let Some(pool) = staged_pool(fe, ctrl, a, r, LENT_FRAMES, 1) else {
        return;
    };
    // A new bridge port drops frames until it forwards: an ARP answered first.
    fe.post_rx_buffers();
    record_probe(fe, a.handle, r, "probe");
    let all = entries(&pool.pages, 0);
    note(r, "add_status", status(ctrl.add(0, &all)));
    let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
    // One frame per page, all at once (n < the ring's size).
    let mut t = TxTally::default();
    for p in &pool.pages {
        p.write_bytes(0, &frame);
        let id = (fe.tx_req_prod % TX_RING) as u16;
        fe.put_tx(TxRequest { gref: p.gref, offset: 0, flags: 0, id, size: frame.len() as u16 });
        t.sent += 1;
    }
    fe.push_tx();
    sleep(Duration::from_secs(1));
    let early = fe.take_tx_responses();
    note(r, "lent_answered_early", early.len());
    t.add(&early);
    // The pages still lent are in use: their entries answer INVALID_PARAMETER and stay.
    let (del, st) = ctrl.del(0, &all);
    note(r, "lent_del", status(del));
    note(r, "lent_del_count", data(del));
    let busy: Vec<(u32, u16)> = all.iter().zip(&st).filter(|&(_, &s)| s == ST_INVALID).map(|(e, _)| *e).collect();
    note(r, "lent_del_busy", busy.len());
    note(r, "lent_del_bad", st.iter().filter(|&&s| s != ST_OK && s != ST_INVALID).count());
    println!("EVIL-PHASE lent-del");
    t.add(&fe.wait_tx_responses(Duration::from_secs(LENT_ANSWER_SECONDS)));
    t.unanswered = fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons);
    t.record(r, "lent_tx");
    // Given back with their answers: now they go.
    let (again, st2) = if busy.is_empty() { (None, Vec::new()) } else { ctrl.del(0, &busy) };
    note(r, "lent_retry_count", again.map_or(0, |p| p.data));
    note(r, "lent_retry_bad", st2.iter().filter(|&&s| s != ST_OK).count());
    std::mem::forget(pool);
}

/// Without staging: the connection's own buffers, a probe and some frames.
fn plain_traffic(fe: &mut Frontend, a: &Args, r: &mut Report) {
    fe.post_rx_buffers();
    record_probe(fe, a.handle, r, "probe");
    let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
    // The frames rotate over the TX pages (not the probe's, page 0): a backend that maps
    // guest TX (C's zero-copy) pins a grant once per frame in flight, and Xen refuses a
    // grant pinned too often (its per-grant pin count), so one page for a full ring of
    // frames fails frames that a real frontend, with a grant per slot, never would.
    let mut grefs = Vec::new();
    for page in fe.data.iter().skip(1) {
        page.write_bytes(0, &frame);
        grefs.push((page.gref, 0));
    }
    let limit = Duration::from_secs(a.seconds.max(1));
    let t = send_frames(fe, &grefs, frame.len() as u16, SHORT_FRAMES, limit, &mut |fe, _| {
        fe.take_rx_frames();
    });
    t.record(r, "tx");
}

/// Bad requests, each recorded; then DEL while TX uses the pages and RX into read-only
/// entries (see ATTACKS). Without staging the same requests run (all answered
/// NOT_SUPPORTED by C) and the traffic goes by grant copy.
fn hostile(fe: &mut Frontend, ctrl: &mut Ctrl, a: &Args, r: &mut Report) {
    let supported = get(ctrl, r);
    note(r, "get_bad_queue", status(ctrl.get_size(BAD_QUEUE)));
    let n = supported.map_or(UNSUPPORTED_POOL, |s| s.min(STAGED_MAX) as usize);
    if n < 2 {
        r.set("error", format!("size {n}: too small"));
        return;
    }
    let over_cap = supported.filter(|&s| s <= OVER_CAP_MAX).map(|s| s as usize);
    let pool = match grant_pool(fe, n.max(over_cap.map_or(0, |s| s + 1))) {
        Ok(p) => p,
        Err(e) => {
            r.set("error", e);
            return;
        }
    };
    let (p0, p1) = (pool.pages[0].gref, pool.pages[1].gref);
    let list = ctrl.list_gref();

    // Refused lists: INVALID_PARAMETER, nothing mapped.
    ctrl.write_list(&[(p0, 0)]);
    note(r, "empty", status(ctrl.add_raw(0, list, 0)));
    ctrl.write_list(&entries(&pool.pages, 0));
    note(r, "too_long", status(ctrl.add_raw(0, list, LIST_MAX as u32 + 1)));
    note(r, "dup", status(ctrl.add(0, &[(p0, 0), (p1, 0), (p0, 0)])));
    note(r, "bad_flags", status(ctrl.add(0, &[(p0, 0x2)])));
    note(r, "never_granted", status(ctrl.add(0, &[(p0, 0), (p1, 0), (NEVER_GRANTED, 0)])));
    note(r, "bad_queue", status(ctrl.add(BAD_QUEUE, &[(p0, 0)])));
    note(r, "bad_list_gref", status(ctrl.add_raw(0, NEVER_GRANTED + 1, 1)));
    // All or nothing: neither p0 nor p1 (both in refused lists) may be mapped.
    note(r, "bad_left", data(ctrl.del(0, &[(p0, 0), (p1, 0)]).0));

    // Over the cap: fill the table exactly (lists of at most a page), then one more.
    match over_cap {
        Some(size) => {
            let fill = entries(&pool.pages[..size], 0);
            let mut fill_status = String::from("0");
            for chunk in fill.chunks(LIST_MAX) {
                let s = status(ctrl.add(0, chunk));
                if s != "0" {
                    fill_status = s;
                    break;
                }
            }
            note(r, "fill_status", fill_status);
            note(r, "over_cap", status(ctrl.add(0, &[(pool.pages[size].gref, 0)])));
            let mut unmapped = 0;
            for chunk in fill.chunks(LIST_MAX) {
                if let (Some(p), _) = ctrl.del(0, chunk) {
                    unmapped += p.data;
                }
            }
            note(r, "fill_del", unmapped);
        }
        None => note(r, "over_cap", "skip"),
    }

    // Added twice; DEL of what was never added.
    note(r, "again_first", status(ctrl.add(0, &[(p0, 0)])));
    note(r, "again", status(ctrl.add(0, &[(p0, 0)])));
    let (d, st) = ctrl.del(0, &[(NEVER_GRANTED, 0)]);
    note(r, "del_unknown", status(d));
    note(r, "del_unknown_count", data(d));
    note(r, "del_unknown_entry", st.first().copied().unwrap_or(STATUS_UNSET));
    ctrl.write_list(&[(p0, 0)]);
    note(r, "del_too_long", status(ctrl.del_raw(0, list, LIST_MAX as u32 + 1)));
    note(r, "del_bad_queue", status(ctrl.del(BAD_QUEUE, &[(p0, 0)]).0));
    note(r, "del_bad_list_gref", status(ctrl.del_raw(0, NEVER_GRANTED + 1, 1)));
    note(r, "again_del_count", data(ctrl.del(0, &[(p0, 0)]).0));

    // A good list still works, and so does traffic from it.
    let work = entries(&pool.pages[..n], 0);
    note(r, "after_ok", status(ctrl.add(0, &work)));
    let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
    for p in &pool.pages[..n] {
        p.write_bytes(0, &frame);
    }
    let grefs: Vec<(u32, u16)> = work.iter().map(|&(g, _)| (g, 0)).collect();
    let size = frame.len() as u16;
    let limit = Duration::from_secs(a.seconds.max(1));
    send_frames(fe, &grefs, size, SHORT_FRAMES, limit, &mut |_, _| {}).record(r, "after_tx");

    // DEL of the same pages while TX requests naming them are in flight: frames that lose
    // the mapping go by grant copy (the pages are still granted) and must be answered OKAY.
    let mut del: Option<(Option<CtrlResponse>, Vec<u16>)> = None;
    let t = send_frames(fe, &grefs, size, SHORT_FRAMES + 100, limit, &mut |_, sent| {
        if sent >= 200 && del.is_none() {
            del = Some(ctrl.del(0, &work));
        }
    });
    let (d, st) = del.unwrap_or((None, Vec::new()));
    note(r, "del_during_tx", status(d));
    note(r, "del_during_tx_count", data(d));
    note(r, "del_during_tx_busy", st.iter().filter(|&&s| s == ST_INVALID).count());
    note(r, "tx_err_during_del", t.err);
    t.record(r, "tx_during_del");
    // What was in use then is free now: gone too, so the count left mapped is exact.
    note(r, "cleanup_count", data(ctrl.del(0, &work).0));

    // Read-only entries: TX from them (the backend only reads), then RX buffers naming
    // them. The backend must not write through a read-only mapping: a grant copy, an error
    // status or no frame are all fine, a fault is not.
    let ro_n = (n / 2).clamp(1, 4);
    let ro = &pool.pages[..ro_n];
    note(r, "ro_add", status(ctrl.add(0, &entries(ro, XEN_NETIF_CTRLF_GREF_READONLY))));
    let ro_grefs: Vec<(u32, u16)> = ro.iter().map(|p| (p.gref, 0)).collect();
    send_frames(fe, &ro_grefs, size, 100, limit, &mut |_, _| {}).record(r, "ro_tx");
    let mut rx = RxPool::new(ro, fe.mac);
    rx.post(fe);
    receive(fe, &mut rx, &pool.pages[n - 1], a.handle);
    rx.record(r, "ro_rx");
    // Left posted: dom0's frames keep landing there until the close.

    // Some more entries left mapped for the close (not the read-only ones' pages).
    let fin = entries(&pool.pages[n / 2..(n / 2 + 8).min(n)], 0);
    note(r, "final_add", status(ctrl.add(0, &fin)));
    std::mem::forget(pool);
}

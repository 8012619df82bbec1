//! The attacks. Each runs on a fresh connection and records what the frontend saw; what
//! dom0 must show (disabled vif, logged reason, other vifs unharmed) is checked by
//! testbed/scenarios/hostile.sh.

use crate::attacks_hardening;
use crate::frames;
use crate::front::{ConnectTweaks, Frontend, TX_RING};
use crate::Args;
use netif::wire::{
    ExtraInfo, ExtraInfoRaw, TxRequest, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY, NETTXF_EXTRA_INFO,
    NETTXF_MORE_DATA, XEN_NETIF_GSO_TYPE_TCPV4,
};
use std::time::{Duration, Instant};

pub const ATTACKS: &[(&str, &str)] = &[
    ("legit", "one ARP request out, dom0's reply back: the plumbing works"),
    ("tx-req-prod-overflow", "TX req_prod 1000 ahead of the responses (more than a ring holds)"),
    ("tx-too-many-slots", "one TX packet chained over 40 slots, MORE_DATA on every slot"),
    ("tx-cross-page", "first TX slot with offset 4000 and size 200 (beyond its page)"),
    ("tx-cross-page-frag", "second slot of a packet with offset 4050 and size 100"),
    ("tx-bad-gref", "8 packets with grant references never granted, then a good one"),
    ("tx-tiny", "a packet smaller than an Ethernet header, then a good one"),
    ("tx-bad-extra-type", "an extra-info slot of type 7 (no such type)"),
    ("tx-gso-bad-type", "a GSO extra with GSO type 9"),
    ("tx-gso-zero-size", "a GSO extra with size 0"),
    ("tx-mcast-add", "100 MCAST_ADD extras (multicast control was not negotiated), then a good packet"),
    ("rx-req-prod-overflow", "RX req_prod 5000 ahead over garbage slots, then traffic to the guest"),
    ("rx-xdp-headroom-max", "xdp-headroom 32767 (the protocol's limit, more than a page), then traffic to the guest"),
    ("connect-bad-ring-ref", "tx-ring-ref names a grant that does not exist"),
    ("connect-bad-evtchn", "event-channel names a port that is not bound"),
    ("connect-queues-0", "multi-queue-num-queues = 0"),
    ("connect-queues-1000", "multi-queue-num-queues = 1000"),
    ("connect-ring-prefilled", "the TX ring holds req_prod 1000 when the backend maps it"),
    ("abandon", "a full TX ring in flight, then exit without closing (the guest just goes away)"),
    ("flood", "well-formed TX packets as fast as possible for --seconds"),
    ("evtchn-storm", "event channel notifications as fast as possible for --seconds, nothing posted"),
    // attacks_hardening.rs
    ("rx-mid-packet-rewind", "RX req_prod moved back and far ahead while a big packet's buffers fill; scan them"),
    ("tx-split-headers", "TCP/IPv4 packets with only the Ethernet (or Ethernet + IP) header in the first slot"),
    ("tx-drop-flood", "TX ring kept full of too-short packets and MCAST_DEL requests for --seconds"),
    ("state-churn", "Connected -> Closing -> Connected and Reconfiguring cycles under traffic"),
    (
        "fatal-during-reconnect",
        "2 queues: fatal RX/TX error on queue 1 timed around Closing, reconnect, probe; \
         dom0 re-attaches after a last fatal",
    ),
];

/// Attacks after which the tool exits at once, leaving the connection as it is.
pub fn leaves_connection_open(attack: &str) -> bool {
    attack == "abandon" || crate::attacks_mq::leaves_connection_open(attack)
}

/// key=value pairs of one `EVIL-RESULT` line.
pub struct Report {
    pairs: Vec<(String, String)>,
}

impl Report {
    /// Connects `fe` with `tweaks` and reports `connected` and `backend_state` (or
    /// `error`, then `None`); `Some(connected)` otherwise.
    pub fn connect(&mut self, fe: &mut Frontend, tweaks: &ConnectTweaks, wait: Duration) -> Option<bool> {
        let (connected, state) = match fe.connect(tweaks, wait) {
            Ok(v) => v,
            Err(e) => {
                self.set("error", e);
                return None;
            }
        };
        self.set("connected", u8::from(connected));
        self.set("backend_state", state.map_or("none".into(), |s| s.to_string()));
        println!("EVIL connected={} backend_state={state:?}", u8::from(connected));
        Some(connected)
    }

    pub fn new(attack: &str) -> Self {
        Self { pairs: vec![("attack".into(), attack.into())] }
    }
    pub fn set(&mut self, k: &str, v: impl ToString) {
        let v = v.to_string().replace(|c: char| c.is_whitespace(), "_");
        match self.pairs.iter_mut().find(|(key, _)| key == k) {
            Some(p) => p.1 = v,
            None => self.pairs.push((k.into(), v)),
        }
    }
    pub fn line(&self) -> String {
        let kv: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("EVIL-RESULT {}", kv.join(" "))
    }
}

fn tweaks_for(attack: &str, fe: &Frontend) -> ConnectTweaks {
    let mut t = ConnectTweaks::default();
    match attack {
        "connect-bad-ring-ref" => t.tx_ring_ref = Some(0xfff0),
        "connect-bad-evtchn" => t.event_channel = Some(fe.port + 1000),
        "connect-queues-0" => t.num_queues = Some("0".into()),
        "connect-queues-1000" => t.num_queues = Some("1000".into()),
        "connect-ring-prefilled" => t.tx_req_prod = Some(1000),
        "rx-xdp-headroom-max" => t.xdp_headroom = Some(0x7FFF),
        _ => attacks_hardening::tweaks(attack, &mut t),
    }
    t
}

pub(crate) fn our_ip(handle: u32) -> [u8; 4] {
    [10, 99, 0, 200 + (handle % 50) as u8]
}

/// Counts of TX response statuses.
#[derive(Default)]
struct Statuses {
    ok: u32,
    error: u32,
    dropped: u32,
    null: u32,
    other: u32,
}
impl Statuses {
    fn add(&mut self, rsps: &[netif::wire::TxResponse]) {
        for r in rsps {
            match r.status {
                NETIF_RSP_OKAY => self.ok += 1,
                NETIF_RSP_ERROR => self.error += 1,
                netif::wire::NETIF_RSP_DROPPED => self.dropped += 1,
                NETIF_RSP_NULL => self.null += 1,
                _ => self.other += 1,
            }
        }
    }
    fn record(&self, r: &mut Report, prefix: &str) {
        r.set(&format!("{prefix}_ok"), self.ok);
        r.set(&format!("{prefix}_error"), self.error);
        r.set(&format!("{prefix}_dropped"), self.dropped);
        r.set(&format!("{prefix}_null"), self.null);
        r.set(&format!("{prefix}_other"), self.other);
    }
}

/// Sends one good ARP request and waits for its TX response and dom0's ARP reply:
/// (TX status if answered, reply seen).
pub(crate) fn probe(fe: &mut Frontend, handle: u32) -> (Option<i16>, bool) {
    probe_with(fe, handle, ProbeRetry { tries: 3, reply_wait: Duration::from_millis(1500) }, |_| false)
}

/// How often [`probe_with`] asks, and how long it waits for a reply each time.
pub(crate) struct ProbeRetry {
    pub(crate) tries: u32,
    pub(crate) reply_wait: Duration,
}

/// As [`probe`], asking as `retry` says, the reply also looked for by `other_queues` (the
/// RX rings of queues 1..).
pub(crate) fn probe_with(
    fe: &mut Frontend,
    handle: u32,
    retry: ProbeRetry,
    other_queues: impl Fn(&Frontend) -> bool,
) -> (Option<i16>, bool) {
    // Like an IP stack, ask again when an answered request gets no reply: the backend's
    // carrier (and the bridge port) may come on only once it has seen our RX buffers,
    // after the first request left.
    let mut first_status = None;
    for _ in 0..retry.tries {
        let f = frames::arp_request(fe.mac, our_ip(handle));
        let id = (fe.tx_req_prod % TX_RING) as u16;
        fe.send_frame(0, 0, &f, id);
        fe.push_tx();
        let rsps = fe.wait_tx_responses(Duration::from_secs(3));
        let status = rsps.iter().rev().find(|r| r.id == id).map(|r| r.status);
        first_status = first_status.or(status);
        if status != Some(0) {
            return (first_status, false);
        }
        let t0 = Instant::now();
        while t0.elapsed() < retry.reply_wait {
            let fr = fe.take_rx_frames();
            if fr.iter().any(|f| frames::is_arp_reply_from_dom0(f)) || other_queues(fe) {
                return (first_status, true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    (first_status, false)
}

pub(crate) fn record_probe(fe: &mut Frontend, handle: u32, r: &mut Report, prefix: &str) {
    let (st, reply) = probe(fe, handle);
    r.set(&format!("{prefix}_tx_status"), st.map_or("none".into(), |s| s.to_string()));
    r.set(&format!("{prefix}_arp_reply"), u8::from(reply));
}

/// Posts `slots` as they are, publishes them and gathers the responses of the next 2 s.
fn post_and_collect(fe: &mut Frontend, slots: &[Slot], r: &mut Report) {
    for s in slots {
        match *s {
            Slot::Req(q) => fe.put_tx(q),
            Slot::Extra(e) => fe.put_tx_extra(e),
        }
    }
    fe.push_tx();
    let mut st = Statuses::default();
    st.add(&fe.wait_tx_responses(Duration::from_secs(2)));
    st.record(r, "rsp");
    r.set("tx_unanswered", fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons));
}

#[derive(Clone, Copy)]
enum Slot {
    Req(TxRequest),
    Extra(ExtraInfoRaw),
}

/// A good 60-byte ARP frame in data page `page`, as a request with `flags`.
fn good_request(fe: &mut Frontend, handle: u32, page: usize, flags: u16, size: u16) -> TxRequest {
    fe.data[page].write_bytes(0, &frames::arp_request(fe.mac, our_ip(handle)));
    TxRequest { gref: fe.data[page].gref, offset: 0, flags, id: page as u16, size }
}

pub fn run(fe: &mut Frontend, a: &Args, r: &mut Report) {
    if crate::attacks_staging::run(fe, a, r) || crate::attacks_mq::run(fe, a, r) {
        return;
    }
    let attack = a.attack.as_str();
    let tweaks = tweaks_for(attack, fe);
    let wait = if attack.starts_with("connect-") { Duration::from_secs(10) } else { Duration::from_secs(60) };
    let Some(connected) = r.connect(fe, &tweaks, wait) else {
        return;
    };
    if !connected || attacks_hardening::run(fe, a, r) {
        return;
    }
    fe.post_rx_buffers();
    let h = a.handle;
    match attack {
        "legit"
        | "connect-bad-ring-ref"
        | "connect-bad-evtchn"
        | "connect-queues-0"
        | "connect-queues-1000"
        | "connect-ring-prefilled" => record_probe(fe, h, r, "probe"),
        "tx-req-prod-overflow" => {
            let p = fe.tx_rsp_cons.wrapping_add(1000);
            fe.push_tx_raw(p);
            std::thread::sleep(Duration::from_secs(2));
            r.set("tx_rsp_prod", fe.tx_rsp_prod());
        }
        "tx-too-many-slots" => {
            let n = 40u16;
            let slots: Vec<Slot> = (0..n)
                .map(|i| {
                    let page = i as usize % fe.data.len();
                    let size = if i == 0 { 64 * n } else { 64 };
                    Slot::Req(good_request(fe, h, page, NETTXF_MORE_DATA, size))
                })
                .collect();
            post_and_collect(fe, &slots, r);
            record_probe(fe, h, r, "after");
        }
        "tx-cross-page" => {
            let mut q = good_request(fe, h, 0, 0, 200);
            q.offset = 4000;
            post_and_collect(fe, &[Slot::Req(q)], r);
            record_probe(fe, h, r, "after");
        }
        "tx-cross-page-frag" => {
            let first = good_request(fe, h, 0, NETTXF_MORE_DATA, 300);
            let mut second = good_request(fe, h, 1, 0, 100);
            second.offset = 4050;
            post_and_collect(fe, &[Slot::Req(first), Slot::Req(second)], r);
            record_probe(fe, h, r, "after");
        }
        "tx-bad-gref" => {
            let slots: Vec<Slot> = (0..8u32)
                .map(|i| {
                    let mut q = good_request(fe, h, 0, 0, 60);
                    q.gref = 0xfff0 + i;
                    q.id = i as u16;
                    Slot::Req(q)
                })
                .collect();
            post_and_collect(fe, &slots, r);
            record_probe(fe, h, r, "after");
        }
        "tx-tiny" => {
            let q = good_request(fe, h, 0, 0, 5);
            post_and_collect(fe, &[Slot::Req(q)], r);
            record_probe(fe, h, r, "after");
        }
        "tx-bad-extra-type" | "tx-gso-bad-type" | "tx-gso-zero-size" => {
            let q = good_request(fe, h, 0, NETTXF_EXTRA_INFO, 60);
            let extra = match attack {
                "tx-bad-extra-type" => ExtraInfoRaw { kind: 7, flags: 0, payload: [0; 6] },
                "tx-gso-bad-type" => ExtraInfo::Gso { size: 1400, gso_type: 9, features: 0 }.to_raw(false),
                _ => ExtraInfo::Gso { size: 0, gso_type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 }.to_raw(false),
            };
            post_and_collect(fe, &[Slot::Req(q), Slot::Extra(extra)], r);
            record_probe(fe, h, r, "after");
        }
        "tx-mcast-add" => {
            let mut slots = Vec::new();
            for i in 0..100u8 {
                slots.push(Slot::Req(good_request(fe, h, 0, NETTXF_EXTRA_INFO, 60)));
                slots.push(Slot::Extra(ExtraInfo::McastAdd { addr: [0x01, 0, 0x5e, 0, 1, i] }.to_raw(false)));
            }
            // In batches that fit the ring (2 slots each).
            let mut st = Statuses::default();
            for chunk in slots.chunks(100) {
                for s in chunk {
                    match *s {
                        Slot::Req(q) => fe.put_tx(q),
                        Slot::Extra(e) => fe.put_tx_extra(e),
                    }
                }
                fe.push_tx();
                st.add(&fe.wait_tx_responses(Duration::from_secs(2)));
            }
            st.record(r, "rsp");
            r.set("tx_unanswered", fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons));
            record_probe(fe, h, r, "after");
        }
        "rx-req-prod-overflow" => {
            let p = fe.rx_rsp_cons.wrapping_add(5000);
            fe.push_rx_raw(p);
            // Make dom0 send to us: its ARP reply goes to the RX ring.
            let (st, _) = probe(fe, h);
            r.set("tx_status", st.map_or("none".into(), |s| s.to_string()));
            std::thread::sleep(Duration::from_secs(1));
            r.set("rx_rsp_prod", fe.rx_rsp_prod());
        }
        "rx-xdp-headroom-max" => {
            // The protocol's largest headroom is more than a buffer page: whatever the
            // backend does with it, the guest must not see error (negative) statuses or
            // an end offset past its page. Dom0's ARP reply is the traffic.
            let (st, _) = probe(fe, h);
            r.set("tx_status", st.map_or("none".into(), |s| s.to_string()));
            let t0 = Instant::now();
            while fe.rx_stats.data == 0 && t0.elapsed() < Duration::from_secs(15) {
                fe.take_rx_frames();
                std::thread::sleep(Duration::from_millis(50));
            }
            r.set("rx_data", fe.rx_stats.data);
            r.set("rx_errors", fe.rx_stats.errors);
            r.set("rx_max_status", fe.rx_stats.max_status);
        }
        "abandon" => {
            let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
            fe.data[0].write_bytes(0, &frame);
            for _ in 0..TX_RING {
                let id = (fe.tx_req_prod % TX_RING) as u16;
                fe.put_tx(TxRequest { gref: fe.data[0].gref, offset: 0, flags: 0, id, size: frame.len() as u16 });
            }
            fe.push_tx();
            r.set("tx_posted", TX_RING);
        }
        "flood" => flood(fe, a, r),
        "evtchn-storm" => {
            let t0 = Instant::now();
            let mut n: u64 = 0;
            let mut last_report = Instant::now();
            while t0.elapsed() < Duration::from_secs(a.seconds) {
                for _ in 0..1000 {
                    fe.notify();
                }
                n += 1000;
                if last_report.elapsed() > Duration::from_secs(5) {
                    println!("EVIL load t={} notifies={n}", t0.elapsed().as_secs());
                    last_report = Instant::now();
                }
            }
            r.set("notifies", n);
            r.set("seconds", t0.elapsed().as_secs());
        }
        _ => r.set("error", "attack not implemented"),
    }
}

/// Keeps the TX ring full of well-formed frames for `a.seconds`.
fn flood(fe: &mut Frontend, a: &Args, r: &mut Report) {
    let frame = frames::filler(a.dst_mac, fe.mac, a.frame_size);
    fe.data[0].write_bytes(0, &frame);
    let gref = fe.data[0].gref;
    let mut st = Statuses::default();
    let t0 = Instant::now();
    let mut last_report = Instant::now();
    let mut last_progress = Instant::now();
    let mut stalled = false;
    while t0.elapsed() < Duration::from_secs(a.seconds) {
        let rsps = fe.take_tx_responses();
        if !rsps.is_empty() {
            last_progress = Instant::now();
        }
        st.add(&rsps);
        let free = TX_RING - fe.tx_req_prod.wrapping_sub(fe.tx_rsp_cons);
        if free > 0 {
            for _ in 0..free {
                let id = (fe.tx_req_prod % TX_RING) as u16;
                fe.put_tx(TxRequest { gref, offset: 0, flags: 0, id, size: frame.len() as u16 });
            }
            fe.push_tx();
        } else {
            std::thread::yield_now();
        }
        if last_progress.elapsed() > Duration::from_secs(10) {
            stalled = true;
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!("EVIL load t={} ok={} error={}", t0.elapsed().as_secs(), st.ok, st.error);
            last_report = Instant::now();
        }
    }
    st.record(r, "rsp");
    r.set("seconds", t0.elapsed().as_secs());
    r.set("stalled", u8::from(stalled));
    r.set("pps", (u64::from(st.ok) / t0.elapsed().as_secs().max(1)).to_string());
}

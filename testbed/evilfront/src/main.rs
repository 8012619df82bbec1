//! evilfront: a hostile netfront for one vif, run as root inside a guest. It connects to
//! the backend with real grants and a real event channel, runs one named attack and prints
//! `EVIL ...` progress lines and one `EVIL-RESULT attack=NAME key=value ...` line.
//!
//! usage: evilfront --handle N --attack NAME [--hold SECONDS] [--release-file PATH]
//!                  [--seconds SECONDS] [--dst-mac MAC] [--frame-size BYTES]
//! `--hold` keeps the connection (after the attack) before closing, so dom0 can inspect the
//! vif; with `--release-file` the hold ends as soon as PATH exists (dom0 creates it once it
//! has looked), `--hold` being then only the longest wait; `--seconds` is the flood's length. `evilfront --list` prints the attacks.
//! `evilfront ctrl-feed ...` (in dom0) feeds a guest's control ring: see ctrl_feed.rs.
//! `evilfront blast ...` (in dom0 or a guest) generates 64-byte UDP frames: see blast.rs.
//! `evilfront insn-mark ...` (in dom0) marks a window of the instruction counts: see insn_mark.rs.

mod attacks;
mod attacks_hardening;
mod attacks_mq;
mod attacks_staging;
mod blast;
mod ctrl_feed;
mod frames;
mod front;
mod insn_mark;
mod packet_socket;
mod xen_dev;
mod xenstore;

use std::process::exit;
use std::time::{Duration, Instant};

pub struct Args {
    pub handle: u32,
    pub attack: String,
    pub hold: u64,
    pub release_file: Option<String>,
    pub seconds: u64,
    pub dst_mac: [u8; 6],
    pub frame_size: usize,
}

/// Every attack: (name, what it does).
fn all_attacks() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    attacks::ATTACKS.iter().chain(attacks_mq::ATTACKS).chain(attacks_staging::ATTACKS)
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        handle: 1,
        attack: String::new(),
        hold: 0,
        release_file: None,
        seconds: 30,
        dst_mac: [0xff; 6],
        frame_size: 1514,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--list" {
            for (name, what) in all_attacks() {
                println!("{name}\t{what}");
            }
            exit(0);
        }
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|_| format!("{k}: not a number: {v}"));
        match k.as_str() {
            "--handle" => a.handle = num(&v)? as u32,
            "--attack" => a.attack = v,
            "--hold" => a.hold = num(&v)?,
            "--release-file" => a.release_file = Some(v),
            "--seconds" => a.seconds = num(&v)?,
            "--frame-size" => a.frame_size = num(&v)?.clamp(60, 4096) as usize,
            "--dst-mac" => a.dst_mac = frames::parse_mac(&v).map_err(|e| format!("--dst-mac: {e}"))?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if !all_attacks().any(|(n, _)| *n == a.attack) {
        return Err(format!("unknown attack '{}' (see --list)", a.attack));
    }
    Ok(a)
}

/// Keeps the connection for `--hold` seconds, or until `--release-file` exists.
fn hold(args: &Args) {
    let end = Instant::now() + Duration::from_secs(args.hold);
    while Instant::now() < end {
        if args.release_file.as_deref().is_some_and(|p| std::path::Path::new(p).exists()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    if words.first().map(String::as_str) == Some("ctrl-feed") {
        exit(ctrl_feed::main(&words[1..]));
    }
    if words.first().map(String::as_str) == Some("blast") {
        exit(blast::main(&words[1..]));
    }
    if words.first().map(String::as_str) == Some("insn-mark") {
        exit(insn_mark::main(&words[1..]));
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("evilfront: {e}");
            exit(2);
        }
    };
    let mut report = attacks::Report::new(&args.attack);
    match front::Frontend::prepare(args.handle) {
        Err(e) => report.set("error", e),
        Ok(mut fe) => {
            println!("EVIL prepared handle={} backend={} port={}", args.handle, fe.backend, fe.port);
            attacks::run(&mut fe, &args, &mut report);
            if attacks::leaves_connection_open(&args.attack) {
                println!("EVIL-PHASE hold");
                println!("{}", report.line());
                exit(0);
            }
            println!("EVIL-PHASE hold");
            hold(&args);
            let st = fe.close();
            report.set("backend_state_after_close", st.map_or("gone".into(), |s| s.to_string()));
        }
    }
    println!("{}", report.line());
}

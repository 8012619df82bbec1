//! `evilfront blast`: the testbed's packet generator (its kernel has no pktgen), in dom0 or in
//! a guest. It writes 64-byte UDP datagrams, in whole Ethernet frames, straight to one
//! device's driver through a packet socket (past the queueing discipline, as pktgen), as fast
//! as the driver takes them, for the benches' generated
//! traffic test (lib.sh's `gen_pps`): no socket, route or neighbour work on the sending side,
//! and the receiver drops them as they arrive, so what the figure measures is the path
//! between frontend and backend, the way Xen's staging-grant note measured its "Packet I/O"
//! (netperf's `udp_pps` measures that plus both UDP stacks and the receiving application).
//!
//! usage: evilfront blast --dev IFACE --dst-mac MAC --src-ip A.B.C.D --dst-ip A.B.C.D
//!                        [--payload BYTES] [--seconds S]
//! The source MAC is the device's own. Prints one line,
//! `BLAST sent=N refused=N seconds=S`: the frames the driver took, the sends it refused with
//! its queue stopped (`ENOBUFS`), and the time it ran.

use crate::frames::{parse_mac, udp_frame};
use crate::packet_socket::{PacketSocket, BATCH};
use std::io;
use std::time::{Duration, Instant};

struct BlastArgs {
    dev: String,
    dst_mac: [u8; 6],
    src_ip: [u8; 4],
    dst_ip: [u8; 4],
    payload: usize,
    seconds: u64,
}

fn ipv4(v: &str) -> Option<[u8; 4]> {
    v.parse::<std::net::Ipv4Addr>().ok().map(|a| a.octets())
}

fn parse(args: &[String]) -> Result<BlastArgs, String> {
    let (mut dev, mut dst_mac, mut src_ip, mut dst_ip) = (None, None, None, None);
    let (mut payload, mut seconds) = (64, 10);
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = || format!("{k}: bad value {v}");
        match k.as_str() {
            "--dev" => dev = Some(v.clone()),
            "--dst-mac" => dst_mac = Some(parse_mac(v).map_err(|_| bad())?),
            "--src-ip" => src_ip = Some(ipv4(v).ok_or_else(bad)?),
            "--dst-ip" => dst_ip = Some(ipv4(v).ok_or_else(bad)?),
            "--payload" => payload = v.parse::<usize>().ok().filter(|p| (18..=1472).contains(p)).ok_or_else(bad)?,
            "--seconds" => seconds = v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(bad)?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(BlastArgs {
        dev: dev.ok_or("--dev is required")?,
        dst_mac: dst_mac.ok_or("--dst-mac is required")?,
        src_ip: src_ip.ok_or("--src-ip is required")?,
        dst_ip: dst_ip.ok_or("--dst-ip is required")?,
        payload,
        seconds,
    })
}

pub fn main(args: &[String]) -> i32 {
    match parse(args).and_then(|a| blast(&a).map_err(|e| e.to_string())) {
        Ok((sent, refused, secs)) => {
            println!("BLAST sent={sent} refused={refused} seconds={secs:.3}");
            0
        }
        Err(e) => {
            eprintln!("evilfront blast: {e}");
            2
        }
    }
}

fn blast(a: &BlastArgs) -> io::Result<(u64, u64, f64)> {
    let src_mac = parse_mac(&std::fs::read_to_string(format!("/sys/class/net/{}/address", a.dev))?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let frame = udp_frame(a.dst_mac, src_mac, a.src_ip, a.dst_ip, a.payload);
    let sock = PacketSocket::open(&a.dev, a.dst_mac)?;
    let (mut sent, mut refused) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs(a.seconds);
    while Instant::now() < end {
        match sock.send(&frame, BATCH) {
            Ok(n) => sent += n as u64,
            Err(e) if e.raw_os_error() == Some(105) => refused += 1, // ENOBUFS: the queue is stopped
            Err(e) => return Err(e),
        }
    }
    Ok((sent, refused, start.elapsed().as_secs_f64()))
}

//! Negotiation, xenbus state machine and the `rate` parser on arbitrary
//! xenstore contents and state sequences. Checks: no panic, negotiated
//! values within their limits, bounded action lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::negotiate::*;
use netif::rate::parse_rate;
use netif::xenbus_state::BackendStateMachine;

#[path = "common.rs"]
mod common;
use common::Bytes;

/// The keys negotiation reads, so that the fuzzer spends its input on them.
const KEYS: [&str; 17] = FRONTEND_KEYS;

struct Fe<'a> {
    values: Vec<(Option<u32>, &'static str, &'a [u8])>,
}

impl FrontendKeys for Fe<'_> {
    fn read<'b>(&mut self, key: &Key<'_>, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let (_, _, v) = self.values.iter().rev().find(|(q, n, _)| *q == key.queue && *n == key.name)?;
        let n = v.len().min(buf.len());
        buf[..n].copy_from_slice(&v[..n]);
        Some(&buf[..n])
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let params = BackendParams {
        max_queues: u32::from(b.u8() % 17),
        separate_tx_rx_irq: b.bool(),
        provides_xdp_headroom: b.bool(),
    };
    let _ = advertised_keys(&params);
    let mut fe = Fe { values: Vec::new() };
    for _ in 0..(b.u8() % 24) {
        let queue = match b.u8() % 4 {
            0 => Some(u32::from(b.u8() % 4)),
            _ => None,
        };
        let name = KEYS[usize::from(b.u8()) % KEYS.len()];
        let len = usize::from(b.u8() % 24);
        let v = b.take(len);
        fe.values.push((queue, name, v));
    }
    if let Ok(cfg) = negotiate(&mut fe, &params) {
        assert!(cfg.num_queues >= 1 && cfg.num_queues <= params.max_queues);
        assert!(cfg.xdp_headroom <= 0x7FFF);
        for q in 0..cfg.num_queues {
            if let Err(e) = negotiate_queue(&mut fe, &cfg, q) {
                assert!(e.errno() < 0 && !e.description().is_empty());
            }
        }
    }
    let _ = read_xdp_headroom(&mut fe);
    let mut sm = BackendStateMachine::new();
    assert!(sm.probe().len() <= 8);
    for _ in 0..(b.u8() % 32) {
        let acts = match b.u8() % 4 {
            0 => sm.connect_done(b.bool()),
            1 => sm.hotplug_status(if b.bool() { b"connected" } else { b"x" }),
            _ => sm.frontend_changed(u32::from(b.u8() % 12), b.bool()),
        };
        assert!(acts.len() <= 8);
    }
    let n = usize::from(b.u8() % 40);
    let _ = parse_rate(b.take(n));
});

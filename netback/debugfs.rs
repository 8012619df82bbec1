// SPDX-License-Identifier: GPL-2.0
//! `/sys/kernel/debug/xen-netback-rs/<vif>/io_ring_q<N>`: ring indices and
//! queue state, like xen-netback's `xenvif_read_io_ring`, plus the longest
//! guest-TX poll of the connection (`TX longest poll: verdicts V slots S`,
//! bounded by the NAPI budget), the guest-TX answer timing (`TX answers:`
//! the `ethtool -C` setting, answers held and for how long, the guest's
//! smoothed time per request, the deadline timer in us or -1); and, with a
//! control ring, `ctrl`: the frontend's hash configuration in
//! `xenvif_dump_hash_info`'s format. Reads take the
//! queue locks briefly (TX with NAPI held off) and print "not connected"
//! for a queue without rings. The directory, with one file per connected
//! queue, exists while a frontend is connected (`controls::VifControls`); it
//! outlives neither the VIF nor a reader (see `bindings::debugfs`).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::debugfs::{DebugfsShow, SeqText};
use crate::bindings::jiffies;
use crate::interface::Vif;
use crate::netif::ring::{BackRing, SharedRing};
use crate::netif::rx::RX_QUEUE_MAX_BYTES;
use crate::rate::RateText;
use kernel::fmt::{self, Write};
use kernel::prelude::*;

/// One ring's indices, each read once; the numbers in parentheses are
/// relative to the shared `rsp_prod`, as in xen-netback.
fn write_ring<R: SharedRing>(out: &mut SeqText<'_>, name: &str, ring: &BackRing<R>) -> fmt::Result {
    let shared = ring.ring();
    let req_prod = shared.req_prod_acquire();
    let rsp_prod = shared.rsp_prod();
    let rsp_event = shared.rsp_event();
    let (req_cons, pvt) = (ring.req_cons(), ring.rsp_prod_pvt());
    let rel = |v: u32| v.wrapping_sub(rsp_prod) as i32;
    writeln!(out, "{}: nr_ents {}", name, ring.size())?;
    writeln!(out, "req prod {} ({}) cons {} ({})", req_prod, rel(req_prod), req_cons, rel(req_cons))?;
    writeln!(out, "rsp prod {} (base) pvt {} ({}) event {} ({})", rsp_prod, pvt, rel(pvt), rsp_event, rel(rsp_event))
}

/// The file argument of `ctrl` (the `io_ring_q<N>` files pass `N`).
pub(crate) const CTRL_FILE: u32 = u32::MAX;

impl DebugfsShow for Vif {
    fn show(&self, queue: u32, out: &mut SeqText<'_>) -> fmt::Result {
        if queue == CTRL_FILE {
            return match self.hash.snapshot() {
                Some(state) => state.write_dump(out),
                None => writeln!(out, "control ring: not connected"),
            };
        }
        writeln!(out, "Queue {}", queue)?;
        writeln!(out, "connected {} disabled {}", u8::from(self.is_connected()), u8::from(self.is_disabled()))?;
        self.inspect_tx(queue, |tx| match tx {
            None => writeln!(out, "TX: not connected"),
            Some(q) => {
                write_ring(out, "TX", q.ring())?;
                let c = q.credit.state();
                out.write_fmt(fmt!(
                    "Credit rate {} remaining {} waiting {} timer armed {} next window {} now {}\n",
                    RateText(c.rate),
                    c.remaining,
                    u8::from(c.waiting),
                    u8::from(c.timer_armed),
                    c.next_window.unwrap_or(0),
                    jiffies()
                ))?;
                let longest = q.longest_poll();
                writeln!(out, "TX longest poll: verdicts {} slots {}", longest.verdicts, longest.slots)?;
                let a = q.answer_state();
                let c = self.knobs.tx_coalesce();
                writeln!(
                    out,
                    "TX answers: tx-usecs {} tx-frames {} adaptive {} held {} for {} us, {} us per request, {} bytes per packet, timer {}",
                    c.usecs(),
                    c.frames(),
                    u8::from(c.adaptive()),
                    a.held,
                    a.held_us,
                    a.us_per_request,
                    a.bytes_per_packet,
                    a.timer_in_us.map_or(-1, |us| i64::try_from(us).unwrap_or(i64::MAX))
                )
            }
        })?;
        self.inspect_rx(queue, |rx| match rx {
            None => writeln!(out, "RX: not connected"),
            Some(q) => {
                write_ring(out, "RX", q.ring())?;
                let t = q.timeouts();
                writeln!(
                    out,
                    "RX stalled {} drain timeout {} jiffies stall timeout {} jiffies",
                    u8::from(q.is_stalled()),
                    t.drain,
                    t.stall
                )
            }
        })?;
        writeln!(out, "Rx internal queue: bytes {} max {}", self.backlog_bytes(queue), RX_QUEUE_MAX_BYTES)?;
        if let Some(staged) = self.staged(queue) {
            writeln!(out, "Staging grants: mapped {} max {}", staged.mapped(), staged.max_entries())?;
        }
        writeln!(
            out,
            "Multicast control {} addresses {}",
            u8::from(self.knobs.mcast.is_enabled()),
            self.knobs.mcast.len()
        )
    }
}

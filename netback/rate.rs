// SPDX-License-Identifier: GPL-2.0
//! Guest TX rate limiting from the xenstore `rate` key ("bytes,usec" in the
//! backend directory, as xen-netback's `xen_net_read_rate`).
//!
//! * [`VifRate`] (per VIF) holds the limit in effect as one atomic word, so
//!   the xenwatch thread (writer) and NAPI (reader, softirq) never share a
//!   lock. The key is read at connect and on every change of its watch.
//!   Absent = unlimited; a value the core refuses (`rate_limit_from_key`) is
//!   logged and the limit in effect stays (xen-netback instead drops to
//!   unlimited on a bad value).
//! * [`TxCredit`] (per TX queue) runs the core's `CreditLimiter` in NAPI
//!   context: each poll first picks up a changed limit and an expired
//!   window, then gates every packet; when the credit runs out the poll
//!   stops consuming requests and arms a kernel timer at the next window,
//!   whose only job is to reschedule NAPI (xen-netback's
//!   `tx_credit_exceeded` / `xenvif_tx_credit_callback`). While waiting the
//!   TX event's EOI stays pending, so the guest's kicks do not spin NAPI.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::timer::{DevTimer, DevTimerHandler};
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::bindings::{jiffies, msecs_to_jiffies};
use crate::netif::rate::{rate_limit_from_key, CreditGate, CreditScheduler, Rate};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The rate limit in effect for one VIF.
pub(crate) struct VifRate {
    /// `Rate::to_bits` of the limit (0: unlimited).
    bits: AtomicU64,
}

impl VifRate {
    /// Unlimited until the `rate` key says otherwise.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self { bits: AtomicU64::new(0) }, GFP_KERNEL)?)
    }

    /// The limit in effect.
    pub(crate) fn get(&self) -> Rate {
        Rate::from_bits(self.bits())
    }

    fn bits(&self) -> u64 {
        self.bits.load(Ordering::Acquire)
    }

    /// Reads the backend's `rate` key and applies it (connect and the
    /// watch; xenwatch thread). Logs changes and refused values.
    pub(crate) fn update_from_xenstore(&self, xdev: &XenbusDevice, vif: &str) {
        let mut buf = [0u8; 64];
        let value = match xdev.read_own_str(c"rate", &mut buf) {
            Ok(n) => Some(buf.get(..n).unwrap_or(&[])),
            Err(e) if e == ENOENT => None,
            Err(e) if e == E2BIG => {
                pr_warn!(
                    "{}: refusing xenstore rate: longer than {} bytes; the rate limit stays {}\n",
                    vif,
                    buf.len() - 1,
                    RateText(self.get())
                );
                return;
            }
            Err(e) => {
                pr_warn!(
                    "{}: cannot read xenstore rate (error {}); the rate limit stays {}\n",
                    vif,
                    e.to_errno(),
                    RateText(self.get())
                );
                return;
            }
        };
        match rate_limit_from_key(value) {
            Ok(rate) => {
                // Validated rates always pack.
                let bits = rate.to_bits().unwrap_or(0);
                if self.bits.swap(bits, Ordering::AcqRel) != bits {
                    pr_info!("{}: guest TX rate limit now {}\n", vif, RateLog(rate));
                }
            }
            Err(e) => pr_warn!(
                "{}: refusing xenstore rate \"{}\": {}; the rate limit stays {}\n",
                vif,
                Printable(value.unwrap_or(&[])),
                e.description(),
                RateText(self.get())
            ),
        }
    }
}

/// A rate as the `rate` key and sysfs spell it: "bytes,usec" or "unlimited".
pub(crate) struct RateText(pub(crate) Rate);

impl fmt::Display for RateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_unlimited() {
            f.write_str("unlimited")
        } else {
            f.write_fmt(fmt!("{},{}", self.0.bytes, self.0.usec))
        }
    }
}

/// A rate for logs: the key's spelling plus the bit rate.
struct RateLog(Rate);

impl fmt::Display for RateLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_unlimited() {
            return f.write_str("unlimited");
        }
        let kbit = self.0.bits_per_sec() / 1000;
        f.write_fmt(fmt!(
            "{},{} ({} bytes per {} us = {}.{:03} Mbit/s)",
            self.0.bytes,
            self.0.usec,
            self.0.bytes,
            self.0.usec,
            kbit / 1000,
            kbit % 1000
        ))
    }
}

/// Bytes of a xenstore value with anything unprintable shown as '?'.
struct Printable<'a>(&'a [u8]);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            let c = if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '?' };
            f.write_fmt(fmt!("{}", c))?;
        }
        Ok(())
    }
}

/// The credit timer's expiry: reschedule the queue's NAPI poll, which adds
/// the credit itself.
struct CreditWake;

impl DevTimerHandler for CreditWake {
    fn timer_fired(&self, dev: &NetDev<'_>) {
        dev.napi_schedule();
    }
}

/// The credit scheduler of one guest TX queue (NAPI context only): the
/// core's `CreditScheduler` on the VIF's rate, and the kernel timer that
/// ends each of its waits.
pub(crate) struct TxCredit {
    sched: CreditScheduler,
    rate: Arc<VifRate>,
    timer: DevTimer<CreditWake>,
    /// The time of the current poll (`refresh`).
    now: u64,
}

impl TxCredit {
    /// A scheduler following `rate`, starting with a full window.
    pub(crate) fn new(dev: &NetDev<'_>, rate: Arc<VifRate>) -> Result<Self> {
        let now = jiffies();
        Ok(Self {
            sched: CreditScheduler::new(rate.bits(), msecs_to_jiffies(1000), now),
            rate,
            timer: DevTimer::new(dev, CreditWake)?,
            now,
        })
    }

    /// Start of a poll at `now`: apply a changed limit, add the credit of a
    /// window whose timer is due.
    pub(crate) fn refresh(&mut self, now: u64) {
        self.now = now;
        self.sched.refresh(self.rate.bits(), now);
    }

    /// The per-packet gate for this poll.
    pub(crate) fn gate(&mut self, now: u64) -> CreditGate<'_> {
        self.sched.gate(now)
    }

    /// The gate refused a packet: wait, with the timer armed at the tick
    /// the core names (every wait has one, so none outlasts its window).
    pub(crate) fn wait(&mut self) {
        let at = self.sched.wait(self.now);
        self.timer.arm(at);
    }

    /// Whether the last poll stopped for credit (NAPI must then neither
    /// reschedule itself nor end the TX EOI: the timer does the former).
    pub(crate) fn is_waiting(&self) -> bool {
        self.sched.waiting().is_some()
    }

    /// The scheduler's state, for debugfs.
    pub(crate) fn state(&self) -> CreditState {
        CreditState {
            rate: self.sched.rate(),
            remaining: self.sched.limiter().remaining(),
            next_window: self.sched.limiter().timer(),
            timer_armed: self.timer.pending(),
            waiting: self.is_waiting(),
        }
    }
}

/// A copy of [`TxCredit`]'s state.
pub(crate) struct CreditState {
    /// The limit in use.
    pub(crate) rate: Rate,
    /// Credit left in the current window (bytes).
    pub(crate) remaining: u64,
    /// When the next credit is due (jiffies), while waiting for it.
    pub(crate) next_window: Option<u64>,
    /// The kernel timer is armed.
    pub(crate) timer_armed: bool,
    /// The last poll stopped for credit.
    pub(crate) waiting: bool,
}

// SPDX-License-Identifier: GPL-2.0
//! Where one device's NAPI polls run (`napi_threaded`): the shell of the
//! core's rule (`netif::poll_mode`), shared by netback-rs' `vifD.H` (its
//! guest-TX polls) and netfront-rs' `ethN` (its receive polls).
//!
//! A poll counts itself in its queue's `PollLoad` (under the lock the poll
//! holds anyway) and reports a flood here, from softirq or thread context.
//! Moving the polls (`dev_set_threaded`) sleeps, so queue 0's worker does
//! it: a flood kicks the worker, and while the polls are in threads the
//! worker looks again every quiet period, so they go back to softirq a
//! quiet period after the last flood, traffic or not.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::{jiffies, msecs_to_jiffies};
use crate::netif::poll_mode::{threads_wanted, PollMode, SOFTIRQ_AFTER_MS};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;

/// Where a device's polls run and why.
pub(crate) struct PollPlacement {
    /// The connection's [`PollMode`], as its `napi_threaded` value.
    mode: AtomicU32,
    /// When a queue was last flooded, in jiffies (0: not in this
    /// connection).
    last_flood: AtomicU64,
    /// The device's polls run in threads because we put them there.
    threaded: AtomicBool,
}

impl PollPlacement {
    /// Softirq, nothing moved.
    pub(crate) const fn new() -> Self {
        Self { mode: AtomicU32::new(0), last_flood: AtomicU64::new(0), threaded: AtomicBool::new(false) }
    }

    fn mode(&self) -> PollMode {
        PollMode::from_param(self.mode.load(Ordering::Acquire)).unwrap_or(PollMode::Softirq)
    }

    /// Whether polls count their load (`PollLoad::on_poll`): only by load.
    pub(crate) fn counts(&self) -> bool {
        self.mode() == PollMode::Auto
    }

    /// Sets where a new connection's polls run (process context):
    /// `Threaded` in threads, `Auto` in softirq until a queue is flooded
    /// (queue 0's worker must run for it to move them), `Softirq` where
    /// the administrator put them (`/sys/class/net/<dev>/threaded`). Polls
    /// that we had moved come back first.
    pub(crate) fn start(&self, dev: &NetDev<'_>, mode: PollMode) {
        self.last_flood.store(0, Ordering::Release);
        self.mode.store(mode.param(), Ordering::Release);
        self.apply(dev, mode == PollMode::Threaded);
    }

    /// A queue's poll found it flooded (`PollLoad::on_poll`; softirq or
    /// thread context): the polls move into threads at once, and back a
    /// quiet period after the last flood.
    pub(crate) fn flooded(&self, dev: &NetDev<'_>) {
        self.last_flood.store(jiffies().max(1), Ordering::Release);
        if !self.threaded.load(Ordering::Acquire) {
            dev.on_queue(0).rx_work_kick(0);
        }
    }

    /// On queue 0's worker (process context): moves the polls where the
    /// load wants them. While they are in threads, the jiffies after which
    /// to look again.
    pub(crate) fn recheck(&self, dev: &NetDev<'_>) -> Option<u64> {
        if self.mode() != PollMode::Auto {
            return None;
        }
        let quiet = msecs_to_jiffies(SOFTIRQ_AFTER_MS);
        let last_flood = Some(self.last_flood.load(Ordering::Acquire)).filter(|&t| t != 0);
        self.apply(dev, threads_wanted(jiffies(), last_flood, quiet));
        self.threaded.load(Ordering::Acquire).then_some(quiet.max(1))
    }

    /// Moves the device's polls into threads or back to softirq when they
    /// are not there, and says so (or why they stay).
    fn apply(&self, dev: &NetDev<'_>, threaded: bool) {
        if threaded == self.threaded.load(Ordering::Acquire) {
            return;
        }
        match dev.set_threaded(threaded) {
            Ok(()) => {
                self.threaded.store(threaded, Ordering::Release);
                let place = if threaded { "threads" } else { "softirq" };
                pr_info!("{}: NAPI polls in {}\n", dev.name(), place);
            }
            Err(e) => pr_warn!("{}: NAPI polls stay where they are: {:?}\n", dev.name(), e),
        }
    }
}

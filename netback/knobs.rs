// SPDX-License-Identifier: GPL-2.0
//! Per-VIF state an administrator sets or reads (through xenstore, sysfs,
//! debugfs, ethtool): the rate limit, multicast control, per-VIF overrides of the RX timeouts and zero-copy mode,
//! whether senders write small packets into the guest themselves, the guest TX answer timing (`ethtool -C`), and why
//! the VIF was disabled ([`VifKnobs`], one field of `Vif`). The files that
//! expose them are `crate::controls`.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::fatal::FatalReason;
use crate::multicast::McastControl;
use crate::netif::coalesce::TxCoalesce;
use crate::netif::rx::{parse_switch, parse_timeout_ms};
use crate::netif::zerocopy::{TxZeroCopyMode, TxZeroCopyPolicy};
use crate::params;
use crate::rate::VifRate;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A per-VIF RX timeout that overrides a module parameter.
#[derive(Clone, Copy)]
pub(crate) enum RxTimeout {
    /// `rx_drain_timeout_msecs`.
    Drain,
    /// `rx_stall_timeout_msecs`.
    Stall,
}

/// The per-VIF knobs.
#[pin_data]
pub(crate) struct VifKnobs {
    /// The xenbus `handle` (the H of vifD.H).
    pub(crate) handle: u32,
    /// The guest TX rate limit (xenstore `rate`).
    pub(crate) rate: Arc<VifRate>,
    /// Multicast control (the frontend's filter list).
    pub(crate) mcast: Arc<McastControl>,
    /// Overrides in ms; 0: the module parameter.
    rx_drain_timeout_ms: AtomicU32,
    rx_stall_timeout_ms: AtomicU32,
    /// `tx_zerocopy` override: 0 the module parameter, else its mode's
    /// index + 1.
    tx_zerocopy: AtomicU32,
    /// `rx_sender_writes` (sysfs): a lone small packet for the guest is
    /// written by its sender (`netif::rx::rx_sender_writes`); read by every
    /// `ndo_start_xmit`, so it applies at once.
    rx_sender_writes: AtomicBool,
    /// Guest TX answer timing (`ethtool -C tx-usecs/tx-frames/adaptive-tx`),
    /// `TxCoalesce::to_bits`; read by every TX poll, so it applies at once
    /// and stays across reconnections of this VIF.
    tx_coalesce: AtomicU64,
    /// The reason of the last fatal frontend error. Set from NAPI or the RX
    /// worker, read from sysfs: always taken with bottom halves off.
    #[pin]
    fatal_reason: SpinLockBh<Option<FatalReason>>,
}

impl VifKnobs {
    /// Knobs of VIF `handle`, with module-parameter timeouts.
    pub(crate) fn new(handle: u32, rate: Arc<VifRate>, mcast: Arc<McastControl>) -> impl PinInit<Self> {
        pin_init!(Self {
            handle,
            rate,
            mcast,
            rx_drain_timeout_ms: AtomicU32::new(0),
            rx_stall_timeout_ms: AtomicU32::new(0),
            tx_zerocopy: AtomicU32::new(0),
            rx_sender_writes: AtomicBool::new(true),
            tx_coalesce: AtomicU64::new(TxCoalesce::DEFAULT.to_bits()),
            fatal_reason <- new_spinlock_bh!(None),
        })
    }

    fn timeout_cell(&self, which: RxTimeout) -> &AtomicU32 {
        match which {
            RxTimeout::Drain => &self.rx_drain_timeout_ms,
            RxTimeout::Stall => &self.rx_stall_timeout_ms,
        }
    }

    /// The timeout this VIF uses at its next connect: the override, else
    /// the module parameter.
    pub(crate) fn rx_timeout_ms(&self, which: RxTimeout) -> u32 {
        match self.timeout_cell(which).load(Ordering::Relaxed) {
            0 => match which {
                RxTimeout::Drain => params::rx_drain_timeout_msecs(),
                RxTimeout::Stall => params::rx_stall_timeout_msecs(),
            },
            ms => ms,
        }
    }

    /// Sets an override from a sysfs write; EINVAL (and no change) unless
    /// it is 1..=3600000 ms.
    pub(crate) fn set_rx_timeout(&self, which: RxTimeout, value: &[u8]) -> Result {
        let ms = parse_timeout_ms(value).ok_or(EINVAL)?;
        self.timeout_cell(which).store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// The zero-copy mode this VIF uses at its next connect: the override,
    /// else the module parameter.
    pub(crate) fn tx_zerocopy(&self) -> TxZeroCopyMode {
        match self.tx_zerocopy.load(Ordering::Relaxed) {
            0 => params::tx_zerocopy(),
            i => TxZeroCopyMode::from_index(i - 1),
        }
    }

    /// The zero-copy policy of a connection made now (mode and
    /// `tx_zerocopy_threshold`); `None` when off.
    pub(crate) fn tx_zerocopy_policy(&self) -> Option<TxZeroCopyPolicy> {
        self.tx_zerocopy().policy(params::tx_zerocopy_threshold())
    }

    /// Sets the override from a sysfs write (`off`, `on`, `auto` or
    /// `staged`); EINVAL (and no change) otherwise.
    pub(crate) fn set_tx_zerocopy(&self, value: &[u8]) -> Result {
        let mode = TxZeroCopyMode::parse(value).ok_or(EINVAL)?;
        self.tx_zerocopy.store(mode.index() + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a sender may write a lone small packet into the guest
    /// itself.
    pub(crate) fn rx_sender_writes(&self) -> bool {
        self.rx_sender_writes.load(Ordering::Relaxed)
    }

    /// Sets `rx_sender_writes` from a sysfs write (`1` or `0`); EINVAL (and
    /// no change) otherwise.
    pub(crate) fn set_rx_sender_writes(&self, value: &[u8]) -> Result {
        let on = parse_switch(value).ok_or(EINVAL)?;
        self.rx_sender_writes.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// The guest TX answer timing in effect.
    pub(crate) fn tx_coalesce(&self) -> TxCoalesce {
        TxCoalesce::from_bits(self.tx_coalesce.load(Ordering::Relaxed))
    }

    /// Sets the guest TX answer timing (validated by `TxCoalesce::new`).
    pub(crate) fn set_tx_coalesce(&self, c: TxCoalesce) {
        self.tx_coalesce.store(c.to_bits(), Ordering::Relaxed);
    }

    /// Records why the VIF is being disabled (any context but hard IRQ).
    pub(crate) fn record_fatal(&self, reason: FatalReason) {
        *self.fatal_reason.lock() = Some(reason);
    }

    /// Forgets the reason (a new frontend connection).
    pub(crate) fn clear_fatal(&self) {
        *self.fatal_reason.lock() = None;
    }

    /// Why the VIF was disabled, if it was.
    pub(crate) fn fatal_reason(&self) -> Option<FatalReason> {
        *self.fatal_reason.lock()
    }
}

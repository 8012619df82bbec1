// SPDX-License-Identifier: GPL-2.0
//! Why a VIF is disabled: a frontend broke the protocol on one of its rings
//! (`Vif::fatal` logs it, sysfs `disabled_reason` shows it). The core's
//! errors say what was wrong; this adds the shell's own limits.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::netif::ring::RingError;
use crate::netif::rx::RxError;
use crate::netif::tx::TxFatal;

/// Why the VIF must be disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FatalReason {
    /// Impossible ring indices.
    Ring(RingError),
    /// A guest TX request broke the protocol.
    TxRequest(TxFatal),
    /// A packet for the guest did not fit the buffers reserved for it.
    RxPacket(RxError),
    /// A packet for the guest needed more grant copies than one batch holds.
    CopyBatchFull,
}

impl From<RingError> for FatalReason {
    fn from(e: RingError) -> Self {
        FatalReason::Ring(e)
    }
}

impl From<TxFatal> for FatalReason {
    fn from(e: TxFatal) -> Self {
        FatalReason::TxRequest(e)
    }
}

impl From<RxError> for FatalReason {
    fn from(e: RxError) -> Self {
        FatalReason::RxPacket(e)
    }
}

impl FatalReason {
    /// What went wrong, for the log and sysfs.
    pub(crate) fn description(&self) -> &'static str {
        match self {
            FatalReason::Ring(e) => e.description(),
            FatalReason::TxRequest(e) => e.description(),
            FatalReason::RxPacket(e) => e.description(),
            FatalReason::CopyBatchFull => "more grant copies for one packet than a batch holds",
        }
    }
}

impl core::fmt::Display for FatalReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.description())
    }
}

// The kernel's `pr_*!` take their own Display trait.
impl kernel::fmt::Display for FatalReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.description())
    }
}

// SPDX-License-Identifier: GPL-2.0
//! `/sys/class/net/vifD.H/netback/`: the VIF's state for administrators
//! (read-only) and its writable per-VIF knobs. Writes are validated: a bad
//! value fails with EINVAL and changes nothing.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::sysfs::{SysfsAttrs, SysfsText};
use crate::interface::Vif;
use crate::knobs::RxTimeout;
use crate::rate::RateText;
use kernel::fmt::{self, Write};
use kernel::prelude::*;

/// The attributes, in the order of [`SysfsAttrs::ATTRS`].
#[derive(Clone, Copy)]
enum Attr {
    /// The frontend's domain id.
    FrontendDomid,
    /// The xenbus handle (vifD.H's H).
    Handle,
    /// 1 while a frontend is connected (rings mapped).
    Connected,
    /// Queues of the connected frontend (0 while disconnected).
    NumQueues,
    /// 1 after a fatal frontend error, until the next connect.
    Disabled,
    /// Why it was disabled (empty when not).
    DisabledReason,
    /// How guest TX data reaches dom0 ("grant-copy"; "none" when not connected).
    GuestTxDataPath,
    /// The guest TX rate limit in effect: "bytes,usec" or "unlimited".
    Rate,
    /// 1 while the frontend filters multicast (request-multicast-control).
    MulticastControl,
    /// Addresses on the frontend's multicast list.
    MulticastAddresses,
    /// Drain timeout (ms) for this VIF from the next connect (rw).
    RxDrainTimeoutMs,
    /// Stall timeout (ms) for this VIF from the next connect (rw).
    RxStallTimeoutMs,
    /// Zero-copy mode (off, on, auto, staged) for this VIF from the next connect (rw).
    TxZeroCopy,
    /// 1 while a lone small packet for the guest is written by its sender,
    /// 0 while the queue's thread writes every packet (rw, at once).
    RxSenderWrites,
    /// The SR-IOV VF the VIF is bound to, "none" (rw: a VF's interface
    /// name binds it, "none" unbinds).
    Vf,
}

const ALL: [Attr; 15] = [
    Attr::FrontendDomid,
    Attr::Handle,
    Attr::Connected,
    Attr::NumQueues,
    Attr::Disabled,
    Attr::DisabledReason,
    Attr::GuestTxDataPath,
    Attr::Rate,
    Attr::MulticastControl,
    Attr::MulticastAddresses,
    Attr::RxDrainTimeoutMs,
    Attr::RxStallTimeoutMs,
    Attr::TxZeroCopy,
    Attr::RxSenderWrites,
    Attr::Vf,
];

impl Attr {
    const fn name(self) -> &'static CStr {
        match self {
            Attr::FrontendDomid => c"frontend_domid",
            Attr::Handle => c"handle",
            Attr::Connected => c"connected",
            Attr::NumQueues => c"num_queues",
            Attr::Disabled => c"disabled",
            Attr::DisabledReason => c"disabled_reason",
            Attr::GuestTxDataPath => c"guest_tx_data_path",
            Attr::Rate => c"rate",
            Attr::MulticastControl => c"multicast_control",
            Attr::MulticastAddresses => c"multicast_addresses",
            Attr::RxDrainTimeoutMs => c"rx_drain_timeout_ms",
            Attr::RxStallTimeoutMs => c"rx_stall_timeout_ms",
            Attr::TxZeroCopy => c"tx_zerocopy",
            Attr::RxSenderWrites => c"rx_sender_writes",
            Attr::Vf => c"vf",
        }
    }

    /// Whether an administrator may write it.
    const fn writable(self) -> bool {
        matches!(
            self,
            Attr::RxDrainTimeoutMs | Attr::RxStallTimeoutMs | Attr::TxZeroCopy | Attr::RxSenderWrites | Attr::Vf
        )
    }

    const fn timeout(self) -> Option<RxTimeout> {
        match self {
            Attr::RxDrainTimeoutMs => Some(RxTimeout::Drain),
            Attr::RxStallTimeoutMs => Some(RxTimeout::Stall),
            _ => None,
        }
    }
}

const fn attr_table() -> [(&'static CStr, bool); ALL.len()] {
    let mut out = [(c"", false); ALL.len()];
    let mut i = 0;
    while i < ALL.len() {
        out[i] = (ALL[i].name(), ALL[i].writable());
        i += 1;
    }
    out
}

const ATTR_TABLE: [(&CStr, bool); ALL.len()] = attr_table();

impl SysfsAttrs for Vif {
    const GROUP: &'static CStr = c"netback";
    const ATTRS: &'static [(&'static CStr, bool)] = &ATTR_TABLE;

    fn show(&self, dev: &NetDev<'_>, index: usize, out: &mut SysfsText<'_>) -> fmt::Result {
        let attr = *ALL.get(index).ok_or(fmt::Error)?;
        match attr {
            Attr::FrontendDomid => writeln!(out, "{}", self.domid()),
            Attr::Handle => writeln!(out, "{}", self.knobs.handle),
            Attr::Connected => writeln!(out, "{}", u8::from(self.is_connected())),
            Attr::NumQueues => writeln!(out, "{}", self.num_queues()),
            Attr::Disabled => writeln!(out, "{}", u8::from(self.is_disabled())),
            Attr::DisabledReason => match self.knobs.fatal_reason().filter(|_| self.is_disabled()) {
                Some(reason) => writeln!(out, "{}", reason),
                None => writeln!(out),
            },
            Attr::GuestTxDataPath => {
                let path = self.inspect_tx(0, |q| q.map(|q| q.source_name()));
                writeln!(out, "{}", path.unwrap_or("none"))
            }
            Attr::Rate => out.write_fmt(fmt!("{}\n", RateText(self.knobs.rate.get()))),
            Attr::MulticastControl => writeln!(out, "{}", u8::from(self.knobs.mcast.is_enabled())),
            Attr::MulticastAddresses => writeln!(out, "{}", self.knobs.mcast.len()),
            Attr::RxDrainTimeoutMs | Attr::RxStallTimeoutMs => {
                let which = attr.timeout().ok_or(fmt::Error)?;
                writeln!(out, "{}", self.knobs.rx_timeout_ms(which))
            }
            Attr::TxZeroCopy => writeln!(out, "{}", self.knobs.tx_zerocopy().name()),
            Attr::RxSenderWrites => writeln!(out, "{}", u8::from(self.knobs.rx_sender_writes())),
            Attr::Vf => crate::sriov::describe(dev, out),
        }
    }

    fn store(&self, dev: &NetDev<'_>, index: usize, value: &[u8]) -> Result {
        match ALL.get(index).copied() {
            Some(Attr::Vf) => crate::sriov::configure(dev, self.xenbus(), self.knobs.rate.get(), value),
            Some(Attr::TxZeroCopy) => self.knobs.set_tx_zerocopy(value),
            Some(Attr::RxSenderWrites) => self.knobs.set_rx_sender_writes(value),
            Some(attr @ (Attr::RxDrainTimeoutMs | Attr::RxStallTimeoutMs)) => {
                self.knobs.set_rx_timeout(attr.timeout().ok_or(EPERM)?, value)
            }
            _ => Err(EPERM),
        }
    }
}

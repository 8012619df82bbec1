// SPDX-License-Identifier: GPL-2.0
//! SR-IOV VF steering: a VIF bound to a NIC virtual function, so that the
//! NIC's switch demultiplexes its traffic instead of a software bridge.
//!
//! While bound, the guest's frames leave through the VF (`dev_queue_xmit`
//! on it; the stack segments GSO packets the VF cannot take) and the VF's
//! received frames enter the VIF's guest RX path (its `start_xmit`: queue
//! choice, multicast filter, ring), so the bridge carries none of them. The
//! PF gives the VF the guest's MAC (the toolstack's `mac` key) with spoof
//! checking on and trust off; frames from the guest with another source
//! MAC are dropped here too (`vf_tx_spoofed`), since not every NIC (nor
//! QEMU's igb) checks. Unbinding, the VIF going away and the VF going away
//! (`sriov_numvfs`) give the VF back as it was; the VIF then uses the
//! bridge again.
//!
//! Queues: the VIF keeps its queues and their guest RX threads; every VIF
//! queue's guest TX goes to the VF, whose own queue selection spreads it
//! over the VF's queues (a single-queue VF takes all of it on one).
//!
//! Administrators bind with `echo VFDEV > /sys/class/net/vifD.H/netback/vf`
//! (`none` unbinds), or through the `vif-sriov` hotplug script from the
//! vif line (docs/sriov.md).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::net::lower::LowerXmit;
use crate::bindings::net::skb::SkBuff;
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::netif::negotiate::IFNAMSIZ;
use crate::netif::rate::Rate;
use crate::netif::sriov::{parse_guest_mac, parse_vf_request, vf_max_tx_rate_mbps, VfRequest};
use crate::stats::VifStats;
use kernel::fmt::{self, Write};
use kernel::prelude::*;

/// A write to the VIF's `vf` file: binds the named VF ("VF" or "VF vlan N"),
/// or unbinds (`none`); `rate` is the VIF's limit, which the PF then also
/// enforces. Errors say why in the log and fail the write; nothing changes
/// then.
pub(crate) fn configure(dev: &NetDev<'_>, xdev: &XenbusDevice, rate: Rate, value: &[u8]) -> Result {
    let name = dev.name();
    let (vf, vlan) = match parse_vf_request(value) {
        Ok(VfRequest::Unbind) => {
            if dev.lower().is_bound() {
                dev.lower().unbind();
                pr_info!("{}: VF unbound: back to the bridge path\n", name);
            }
            return Ok(());
        }
        Ok(VfRequest::Bind(vf, vlan)) => (vf, vlan),
        Err(_) => {
            pr_warn!("{}: vf: not \"VFDEV\", \"VFDEV vlan N\" (1..4094) or \"none\"\n", name);
            return Err(EINVAL);
        }
    };
    let mut text = [0u8; 32];
    let mac = xdev.read_own_str(c"mac", &mut text).ok().and_then(|n| text.get(..n)).and_then(parse_guest_mac);
    let Some(mac) = mac else {
        pr_warn!("{}: vf: the backend's mac key is missing or not a unicast address\n", name);
        return Err(EINVAL);
    };
    let mut vf_name = [0u8; IFNAMSIZ];
    vf_name.get_mut(..vf.len()).ok_or(EINVAL)?.copy_from_slice(vf);
    let vf_cstr = CStr::from_bytes_until_nul(&vf_name).map_err(|_| EINVAL)?;
    let vf_text = vf_cstr.to_str().unwrap_or("?");
    match dev.lower().bind(vf_cstr, &mac, vlan.unwrap_or(0)) {
        Ok(()) => {
            pr_info!("{}: bound to VF {} (guest MAC {}, VLAN {})\n", name, vf_text, MacText(&mac), vlan.unwrap_or(0));
            rate_changed(dev, rate);
            Ok(())
        }
        Err(e) => {
            use kernel::bindings::{EBUSY, EINVAL, ENODEV, ENOTTY, EOPNOTSUPP};
            let errno = e.to_errno().unsigned_abs();
            let why = match errno {
                ENODEV => "no such interface",
                EINVAL => "not an Ethernet device other than the VIF",
                ENOTTY => "not an SR-IOV virtual function",
                EOPNOTSUPP => "its PF cannot set a VF's MAC (or VLAN)",
                EBUSY => "busy (bridged, bonded or another VIF's), or this VIF has a VF already",
                _ => "the PF refused the guest's MAC",
            };
            pr_warn!(
                "{}: cannot bind VF {}: {} (error {}); staying on the bridge path\n",
                name,
                vf_text,
                why,
                e.to_errno()
            );
            Err(e)
        }
    }
}

/// A MAC address as text, for messages.
struct MacText<'a>(&'a [u8; 6]);

impl kernel::fmt::Display for MacText<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = *self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The `vf` file: "none", or "VF pf PF index N vlan V max_tx_rate M" (0:
/// none).
pub(crate) fn describe(dev: &NetDev<'_>, out: &mut impl Write) -> fmt::Result {
    match dev.lower().state() {
        Some(s) => writeln!(
            out,
            "{} pf {} index {} vlan {} max_tx_rate {}",
            s.vf.as_str(),
            s.pf.as_str(),
            s.index,
            s.vlan,
            s.max_tx_rate
        ),
        None => writeln!(out, "none"),
    }
}

/// The VIF's rate limit changed (or a VF was bound): the PF enforces it on
/// the VF too, where it can; the credit limiter holds it on the ring either
/// way.
pub(crate) fn rate_changed(dev: &NetDev<'_>, rate: Rate) {
    let port = dev.lower();
    if !port.is_bound() {
        return;
    }
    let mbps = vf_max_tx_rate_mbps(rate);
    match port.set_rate(mbps) {
        Ok(()) => pr_info!("{}: VF transmit limit now {} Mbit/s (0: none)\n", dev.name(), mbps),
        Err(e) => pr_info!(
            "{}: the PF does not limit the VF to {} Mbit/s (error {}); the credit limiter holds the rate\n",
            dev.name(),
            mbps,
            e.to_errno()
        ),
    }
}

/// A guest frame ready for the stack: out of the bound VF, if any (`None`:
/// taken); else handed back for the normal path.
pub(crate) fn guest_tx(dev: &NetDev<'_>, stats: &VifStats, skb: SkBuff) -> Option<SkBuff> {
    match dev.lower().xmit(skb) {
        LowerXmit::Unbound(skb) => Some(skb),
        LowerXmit::Sent => {
            stats.vf_tx_packets.add(1);
            None
        }
        LowerXmit::Spoofed => {
            stats.vf_tx_spoofed.add(1);
            None
        }
    }
}

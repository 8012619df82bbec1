// SPDX-License-Identifier: GPL-2.0
//! The networking stack's side, one file per concept:
//!
//! * [`device`]: the VIF `net_device` ([`device::VifNetDevice`] owns it,
//!   [`device::NetDev`] is the view callbacks get): its private area, a
//!   queue in one allocation ([`device::VifQueue`]: its NAPI, guest-RX
//!   backlog, worker and event channels next to the driver's state), and the
//!   `net_device_ops` built from [`device::VifOps`] and
//!   [`device::QueueOps`].
//! * [`ethtool`]: the `ethtool_ops` built from the same traits.
//! * [`lower`]: [`lower::LowerPort`], the NIC virtual function a VIF may
//!   be bound to, and the notifier that lets it go (SR-IOV steering; the
//!   VF's rx_handler and a few wrappers are C, `lower.c`).
//! * [`skb`]: [`skb::SkBuff`], an owned socket buffer (its fields through
//!   the kernel's bindgen'd `sk_buff`), [`skb::FragPages`] and the
//!   guest-RX control block.
//! * [`zerocopy`]: zero-copy guest TX (mapped pages behind an skb's
//!   `ubuf_info` completion).
//!
//! `lower` and `zerocopy` are the backend's alone: netfront-rs, built with
//! the cfg `nbrs_frontend`, leaves them out (and the C they call).

pub(crate) mod device;
pub(crate) mod ethtool;
#[cfg(not(nbrs_frontend))]
pub(crate) mod lower;
pub(crate) mod skb;
#[cfg(not(nbrs_frontend))]
pub(crate) mod zerocopy;

// SPDX-License-Identifier: GPL-2.0
//! Xen's interfaces, one file per subsystem:
//!
//! * [`xenbus`]: the xenbus driver for devicetype "vif", a backend's or a
//!   frontend's (a static `xenbus_driver` built from
//!   [`xenbus::XenbusDriverOps`]),
//!   [`xenbus::XenbusDevice`] (xenstore read/write, state switch, fatal
//!   errors; refcounted through `ARef`) and [`xenbus::Watch`].
//! * [`ring`]: [`ring::MappedRing`], a shared ring page (the frontend's
//!   mapped with `xenbus_map_ring_valloc`, or our own granted with
//!   `xenbus_setup_ring`), read and written with volatile accesses only.
//! * [`grant`]: [`grant::CopyBatch`], batched `gnttab_batch_copy`, and
//!   [`grant::copy_from_guest`] for control requests.
//! * [`evtchn`]: a ring pair's event channels bound with the lateeoi
//!   variants and the deferred-EOI bookkeeping (XSA-332).
//! * [`ctrl_irq`]: the control ring's event channel ([`ctrl_irq::CtrlIrq`]).
//! * [`staged`]: [`staged::StagedPages`], a queue's staging grants mapped
//!   once and copied to and from skbs with memcpy.
//! * [`granted`]: [`granted::GrantedPages`], a frontend's own pages granted
//!   once to the backend (netfront-rs' packet buffers).

pub(crate) mod ctrl_irq;
pub(crate) mod evtchn;
pub(crate) mod grant;
#[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
pub(crate) mod granted;
pub(crate) mod ring;
pub(crate) mod staged;
pub(crate) mod xenbus;

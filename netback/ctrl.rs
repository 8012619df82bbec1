// SPDX-License-Identifier: GPL-2.0
//! The control ring (`feature-ctrl-ring`): the frontend configures the hash
//! used for queue selection (algorithm, types, key, mapping table).
//!
//! Every request is answered by the protocol core (`netif::ctrl`:
//! `ctrl_action`, `CtrlState::handle`, with the XSA-270 bounds on the
//! mapping); this file maps the ring, binds its event channel and applies
//! the resulting state to the VIF ([`crate::hash::VifHash`]).

use crate::bindings::ctrl_irq::{CtrlEventHandler, CtrlIrq, CtrlIrqRef};
use crate::bindings::grant::copy_from_guest;
use crate::bindings::ring::{CtrlSharedRing, MappedRing};
use crate::bindings::xenbus::XenbusDevice;
use crate::interface::Vif;
use crate::netif::ctrl::{ctrl_action, GrantSource};
use crate::netif::negotiate::CtrlRingRefs;
use crate::netif::ring::BackRing;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;
use kernel::new_mutex;
use kernel::sync::{Arc, Mutex};

/// Grant copies out of the frontend's pages for `SET_HASH_KEY` and
/// `SET_HASH_MAPPING`.
struct FrontendGrants {
    domid: u16,
}

impl GrantSource for FrontendGrants {
    fn copy_from_grant(&mut self, gref: u32, dst: &mut [u8]) -> bool {
        copy_from_guest(self.domid, gref, dst).is_ok()
    }
}

/// The mapped control ring and the VIF whose hash it configures.
#[pin_data]
pub(crate) struct CtrlRing {
    #[pin]
    ring: Mutex<BackRing<CtrlSharedRing>>,
    vif: Arc<Vif>,
    domid: u16,
    /// A ring protocol violation was seen: requests are no longer served.
    broken: AtomicBool,
}

impl CtrlEventHandler for CtrlRing {
    fn ctrl_event(&self, irq: &CtrlIrqRef<'_>) -> bool {
        if self.broken.load(Ordering::Acquire) {
            return false;
        }
        // Work on a copy; the data path sees the result once committed.
        let Some(mut state) = self.vif.hash.snapshot() else {
            return false;
        };
        let mut grants = FrontendGrants { domid: self.domid };
        let result = {
            let mut ring = self.ring.lock();
            ctrl_action(&mut ring, &mut state, &mut grants)
        };
        match result {
            Ok(notify) => {
                self.vif.hash.commit(state);
                if notify {
                    irq.notify();
                }
                notify
            }
            Err(e) => {
                if !self.broken.swap(true, Ordering::AcqRel) {
                    pr_err!(
                        "vif{}: control ring error from frontend: {}; control requests are no longer served\n",
                        self.domid,
                        e.description()
                    );
                }
                false
            }
        }
    }
}

/// A connected control ring; disconnected (event channel unbound, ring
/// unmapped) on drop.
pub(crate) struct CtrlConnection {
    _irq: CtrlIrq<CtrlRing>,
}

impl CtrlConnection {
    /// Maps the frontend's control ring, starts `vif`'s hash state for
    /// `num_queues` queues and binds the event channel
    /// (`xenvif_connect_ctrl`).
    pub(crate) fn connect(xdev: &XenbusDevice, refs: &CtrlRingRefs, vif: &Arc<Vif>, num_queues: u32) -> Result<Self> {
        let domid = xdev.otherend_id();
        let page = MappedRing::map(xdev, refs.ring_ref)?;
        let ring = BackRing::attach_checked(CtrlSharedRing::new(page)).map_err(|e| {
            pr_err!("vif{}: control ring: {}\n", domid, e.description());
            EIO
        })?;
        let handler = Arc::pin_init(
            pin_init!(CtrlRing {
                ring <- new_mutex!(ring),
                vif: vif.clone(),
                domid,
                broken: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        vif.hash.connect(num_queues);
        match CtrlIrq::bind(xdev, refs.evtchn, handler) {
            Ok(irq) => Ok(Self { _irq: irq }),
            Err(e) => {
                vif.hash.reset();
                Err(e)
            }
        }
    }
}

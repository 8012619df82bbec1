// SPDX-License-Identifier: GPL-2.0
//! The control ring (`feature-ctrl-ring`): the frontend configures the hash
//! used for queue selection (algorithm, types, key, mapping table).
//!
//! Every request is answered by the protocol core (`netif::ctrl`:
//! `ctrl_action`, `CtrlState::handle`, with the XSA-270 bounds on the
//! mapping); this file maps the ring, binds its event channel and applies
//! the resulting state to the VIF ([`crate::hash::VifHash`]). Staging-grant
//! requests (8, 9, 10) go to the queue's [`crate::grant_pool::StagedGrants`]
//! (the core checked the queue index); their mappings live as long as the
//! control ring: disconnecting it unmaps them all.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::xen::ctrl_irq::{CtrlEvent, CtrlEventHandler, CtrlIrq, CtrlIrqRef};
use crate::bindings::xen::grant::copy_from_guest;
use crate::bindings::xen::ring::{CtrlSharedRing, MappedRing};
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::interface::Vif;
use crate::netif::ctrl::{ctrl_action, GrantSource, StagingControl};
use crate::netif::negotiate::CtrlRingRefs;
use crate::netif::ring::BackRing;
use crate::netif::wire::XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
use crate::params;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// The frontend's grants as control requests use them: copies out of its
/// pages (`SET_HASH_KEY`, `SET_HASH_MAPPING`) and its queues' staging
/// grants.
struct FrontendGrants<'a> {
    domid: u16,
    vif: &'a Vif,
}

impl GrantSource for FrontendGrants<'_> {
    fn copy_from_grant(&mut self, gref: u32, dst: &mut [u8]) -> bool {
        copy_from_guest(self.domid, gref, dst).is_ok()
    }

    fn staging(&mut self) -> Option<&mut dyn StagingControl> {
        Some(self)
    }
}

impl StagingControl for FrontendGrants<'_> {
    fn max_entries(&self) -> u32 {
        self.vif.staged(0).map_or(0, |s| s.max_entries())
    }

    fn add(&mut self, queue: u32, list: u32, count: u32) -> u32 {
        match self.vif.staged(queue) {
            Some(s) => s.add(self.domid, list, count, params::staging_grants_max()),
            None => XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
        }
    }

    fn delete(&mut self, queue: u32, list: u32, count: u32) -> (u32, u32) {
        match self.vif.staged(queue) {
            Some(s) => s.delete(self.domid, list, count),
            None => (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0),
        }
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
    /// The ring is being disconnected: a run in progress stops at the next
    /// request, so unbinding (xenwatch) never waits for a busy frontend.
    stopping: AtomicBool,
}

impl CtrlEventHandler for CtrlRing {
    fn ctrl_event(&self, irq: &CtrlIrqRef<'_>) -> CtrlEvent {
        if self.broken.load(Ordering::Acquire) || self.stopping.load(Ordering::Acquire) {
            return CtrlEvent::Idle;
        }
        // Work on a copy; the data path sees the result once committed.
        let Some(mut state) = self.vif.hash.snapshot() else {
            return CtrlEvent::Idle;
        };
        let mut grants = FrontendGrants { domid: self.domid, vif: &self.vif };
        let result = {
            let mut ring = self.ring.lock();
            // A ring's worth per run: a frontend that keeps req_prod ahead
            // gets one run at a time on the shared workqueue.
            let bound = ring.size();
            ctrl_action(&mut ring, &mut state, &mut grants, bound, || self.stopping.load(Ordering::Acquire))
        };
        match result {
            Ok(run) => {
                self.vif.hash.commit(state);
                if run.notify {
                    irq.notify();
                }
                if run.more {
                    CtrlEvent::More
                } else if run.answered > 0 {
                    CtrlEvent::Done
                } else {
                    CtrlEvent::Idle
                }
            }
            Err(e) => {
                if !self.broken.swap(true, Ordering::AcqRel) {
                    pr_err!(
                        "vif{}: control ring error from frontend: {}; control requests are no longer served\n",
                        self.domid,
                        e.description()
                    );
                }
                CtrlEvent::Idle
            }
        }
    }
}

/// A connected control ring; disconnected (event channel unbound, ring
/// unmapped) on drop.
pub(crate) struct CtrlConnection {
    irq: Option<CtrlIrq<CtrlRing>>,
    ring: Arc<CtrlRing>,
}

impl Drop for CtrlConnection {
    fn drop(&mut self) {
        // Stop a run in progress first, then unbind (which waits for it).
        self.ring.stopping.store(true, Ordering::Release);
        drop(self.irq.take());
        // No control request runs any more: unmap the staging grants.
        for staged in self.ring.vif.all_staged() {
            staged.disconnect();
        }
    }
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
                stopping: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        vif.hash.connect(num_queues);
        let cap = params::staging_grants_per_queue();
        for staged in vif.all_staged() {
            staged.connect(cap);
        }
        match CtrlIrq::bind(xdev, refs.evtchn, handler.clone()) {
            Ok(irq) => Ok(Self { irq: Some(irq), ring: handler }),
            Err(e) => {
                vif.hash.reset();
                for staged in vif.all_staged() {
                    staged.disconnect();
                }
                Err(e)
            }
        }
    }
}

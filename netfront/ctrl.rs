// SPDX-License-Identifier: GPL-2.0
//! The control ring, frontend side: our ring page and event channel, one
//! request at a time from process context (connect and disconnect), and
//! what goes over it: the staging-grant setup (`GET_GREF_MAPPING_SIZE`,
//! then `ADD_GREF_MAPPING` lists of a queue's pages; the protocol core's
//! `front_staging` decides every step) and, with several queues, the
//! Toeplitz hash setup (`front_hash`).
//!
//! Requests are rare and synchronous, so the answer is awaited by looking
//! at the ring every millisecond (at most [`CTRL_TIMEOUT_MS`]); the event
//! channel is there for the backend's side of the protocol (it notifies us)
//! and to notify it.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::xen::ctrl_irq::{CtrlEvent, CtrlEventHandler, CtrlIrq, CtrlIrqRef};
use crate::bindings::xen::granted::GrantedPages;
use crate::bindings::xen::ring::{CtrlSharedRing, MappedRing};
use crate::bindings::xen::xenbus::XenbusDevice;
use crate::netif::front_hash::{HashSetup, FRONT_HASH_MAPPING_SIZE};
use crate::netif::front_ring::FrontRing;
use crate::netif::front_staging::{add_gref_mapping_request, gref_mapping_size_request, pages_to_register, AddOutcome};
use crate::netif::staging::{GREF_ENTRY_SIZE, GREF_LIST_MAX};
use crate::netif::wire::{CtrlRequest, CtrlResponse, XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_PAGE_SIZE};
use crate::queue::Queue;
use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::Delta;

/// How long one control request may take.
const CTRL_TIMEOUT_MS: u32 = 2000;

/// Events on our control channel need no work: requests are awaited by
/// their caller.
struct CtrlEvents;

impl CtrlEventHandler for CtrlEvents {
    fn ctrl_event(&self, _irq: &CtrlIrqRef<'_>) -> CtrlEvent {
        CtrlEvent::Done
    }
}

/// The control ring of one connection.
pub(crate) struct CtrlClient {
    ring: FrontRing<CtrlSharedRing>,
    irq: CtrlIrq<CtrlEvents>,
    /// One writable page for request lists (the backend writes statuses).
    list: GrantedPages,
    list_gref: u32,
    next_id: u16,
}

/// What to publish for the control ring.
pub(crate) struct CtrlRefs {
    pub(crate) ring: u32,
    pub(crate) port: u32,
}

/// What a staging setup did.
pub(crate) struct StagingSetup {
    /// Pages registered (maybe 0).
    pub(crate) registered: u32,
    /// Why no more, if the backend or the setup stopped it.
    pub(crate) stopped: Option<&'static str>,
}

fn setup(registered: u32, stopped: Option<&'static str>) -> StagingSetup {
    StagingSetup { registered, stopped }
}

impl CtrlClient {
    /// Grants the ring page and the list page and binds our channel.
    pub(crate) fn new(xdev: &XenbusDevice) -> Result<(Self, CtrlRefs)> {
        let (page, ring_ref) = MappedRing::grant(xdev)?;
        let ring = FrontRing::new(CtrlSharedRing::new(page)).map_err(|_| EINVAL)?;
        let list = GrantedPages::grant(xdev.otherend_id(), 0, 1)?;
        let list_gref = list.grants().next().map(|(g, _)| g).ok_or(EINVAL)?;
        let (irq, port) = CtrlIrq::bind_local(xdev, Arc::new(CtrlEvents, GFP_KERNEL)?)?;
        Ok((Self { ring, irq, list, list_gref, next_id: 0 }, CtrlRefs { ring: ring_ref, port }))
    }

    /// Sends `req` (its id set here) and waits for its answer.
    fn call(&mut self, mut req: CtrlRequest) -> Result<CtrlResponse> {
        req.id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.ring.push_request(req).map_err(|_| EIO)?;
        if self.ring.push_requests_and_check_notify() {
            self.irq.notify();
        }
        let mut waited = 0;
        while waited < CTRL_TIMEOUT_MS {
            match self.ring.next_response() {
                // An answer to an earlier request that timed out: skip it.
                Ok(Some((_, rsp))) if rsp.id != req.id => continue,
                Ok(Some((_, rsp))) => return Ok(rsp),
                Ok(None) => {}
                Err(_) => return Err(EIO),
            }
            kernel::time::delay::fsleep(Delta::from_millis(1));
            waited += 1;
        }
        Err(ETIMEDOUT)
    }

    /// Registers up to `want` of `queue`'s pages (queue index `index`) as
    /// staging grants: asks the backend's size, then sends ADD lists until
    /// the pages are registered or the backend stops it. The queue's data
    /// path is not running yet.
    pub(crate) fn setup_staging(&mut self, queue: &Queue, index: u32, want: u32) -> StagingSetup {
        if want == 0 {
            return setup(0, Some("staging_pages is 0"));
        }
        let n = match self.call(gref_mapping_size_request(0, index)) {
            Ok(rsp) => match pages_to_register(want, &rsp) {
                Ok(n) => n,
                Err(off) => return setup(0, Some(off.description())),
            },
            Err(_) => return setup(0, Some("no answer to GET_GREF_MAPPING_SIZE")),
        };
        let mut buf = [0u8; XEN_PAGE_SIZE as usize];
        let mut registered = 0u32;
        while registered < n {
            let room = (n - registered).min(GREF_LIST_MAX) as usize * GREF_ENTRY_SIZE;
            let Some(list) = buf.get_mut(..room) else { break };
            let count = match queue.with_pool(|pool| pool.write_add_list(list)) {
                Some(Ok(count)) if count > 0 => count,
                _ => break,
            };
            let bytes = buf.get(..count as usize * GREF_ENTRY_SIZE).unwrap_or(&[]);
            let rsp = match self.list.write(self.list_gref, 0, bytes) {
                Ok(()) => self.call(add_gref_mapping_request(0, index, self.list_gref, count)),
                Err(e) => Err(e),
            };
            // No answer: taken as a refusal, so the pool's list is settled
            // (its pages stay unregistered and are used with grant copy).
            let rsp = rsp.unwrap_or(CtrlResponse {
                id: 0,
                kind: crate::netif::wire::XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING,
                status: XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
                data: 0,
            });
            match queue.with_pool(|pool| pool.add_response(&rsp)) {
                Some(Ok(AddOutcome::Registered { pages })) => registered += pages,
                Some(Ok(AddOutcome::Stop(why))) => return setup(registered, Some(why.description())),
                _ => break,
            }
        }
        setup(registered, None)
    }

    /// Sets up the Toeplitz hash over `queues` queues (`front_hash` decides
    /// each step); the reason when it stops (the backend then steers by its
    /// own choice).
    pub(crate) fn setup_hash(&mut self, queues: u32) -> core::result::Result<HashSetup, &'static str> {
        let mut setup = HashSetup::new(queues);
        // The largest page content: the mapping table (the key is 40 bytes).
        let mut buf = [0u8; FRONT_HASH_MAPPING_SIZE as usize * 4];
        while let Some(req) = setup.request(self.list_gref) {
            let n = setup.page(&mut buf).map_err(|e| e.description())?;
            if n > 0 {
                let bytes = buf.get(..n).unwrap_or(&[]);
                self.list.write(self.list_gref, 0, bytes).map_err(|_| "could not write the list page")?;
            }
            let rsp = self.call(req).map_err(|_| "no answer on the control ring")?;
            setup.answer(&rsp).map_err(|e| e.description())?;
        }
        Ok(setup)
    }
}

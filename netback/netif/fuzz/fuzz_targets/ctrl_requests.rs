//! Control ring: arbitrary requests through `ctrl_action` on the in-memory
//! ring, arbitrary grant page contents and copy failures, with or without
//! staging grants (a model shell of per-queue `StagingTable`s). Checks: no
//! panic, one response per request with the request's id and type, mapping
//! entries always below num_queues, queue selection always in range, staging
//! requests only reach the shell for queues the VIF has, no table past its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::ctrl::{ctrl_action, CtrlState, GrantSource, StagingControl};
use netif::ring::{BackRing, MemRing};
use netif::staging::{GrefEntry, Staged, StagingTable};
use netif::toeplitz::Flow;
use netif::wire::*;

#[path = "common.rs"]
mod common;
use common::Bytes;

struct Page<'a> {
    bytes: &'a [u8],
    fail_every: u8,
    n: u8,
    staging: Option<Shell>,
}

/// A staging shell over the core's tables: lists are read from the fuzzed page, maps
/// always succeed.
struct Shell {
    cap: u32,
    tables: Vec<StagingTable<[Staged; 32]>>,
    list: Vec<u8>,
    slot: u16,
}

impl StagingControl for Shell {
    fn max_entries(&self) -> u32 {
        self.cap
    }
    fn add(&mut self, queue: u32, _list: u32, count: u32) -> u32 {
        let t = &mut self.tables[queue as usize];
        let planned: Vec<GrefEntry> = match t.plan_add(&self.list, count) {
            Ok(p) => p.collect(),
            Err(status) => return status,
        };
        let mapped: Vec<(GrefEntry, u16)> = planned
            .into_iter()
            .map(|e| {
                self.slot = self.slot.wrapping_add(1);
                (e, self.slot)
            })
            .collect();
        t.commit_add(&mapped).err().unwrap_or(XEN_NETIF_CTRL_STATUS_SUCCESS)
    }
    fn delete(&mut self, queue: u32, _list: u32, count: u32) -> (u32, u32) {
        let mut st = vec![0u16; 512];
        match self.tables[queue as usize].delete(&self.list, count, &mut st, |_| {}) {
            Ok(n) => (XEN_NETIF_CTRL_STATUS_SUCCESS, n),
            Err(status) => (status, 0),
        }
    }
}

impl GrantSource for Page<'_> {
    fn copy_from_grant(&mut self, _gref: u32, dst: &mut [u8]) -> bool {
        self.n = self.n.wrapping_add(1);
        if self.fail_every != 0 && self.n % self.fail_every == 0 {
            return false;
        }
        for (i, d) in dst.iter_mut().enumerate() {
            *d = self.bytes.get(i % self.bytes.len().max(1)).copied().unwrap_or(0) % 9;
        }
        true
    }

    fn staging(&mut self) -> Option<&mut dyn StagingControl> {
        self.staging.as_mut().map(|s| s as &mut dyn StagingControl)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let queues = u32::from(b.u8() % 10);
    let mut st = CtrlState::new(queues);
    let page_len = usize::from(b.u8());
    let page_bytes = b.take(page_len);
    let staging = match b.u8() % 3 {
        0 => None,
        c => {
            let mut list = vec![0u8; 4096];
            for (i, v) in list.iter_mut().enumerate() {
                *v = page_bytes.get(i % page_bytes.len().max(1)).copied().unwrap_or(0) % 5;
            }
            let tables = (0..queues).map(|_| StagingTable::new(u32::from(c) * 10)).collect();
            Some(Shell { cap: u32::from(c) * 10, tables, list, slot: 0 })
        }
    };
    let mut page = Page { bytes: page_bytes, fail_every: b.u8() % 4, n: 0, staging };
    let mut ring = BackRing::new(MemRing::<CtrlRequest, CtrlResponse, 128>::new()).unwrap();
    while !b.is_empty() {
        let n = b.u8() % 8;
        let mut sent = Vec::new();
        for _ in 0..n {
            let kind = u16::from(b.u8() % 12);
            let small = |v: u32, b: &mut Bytes| if b.bool() { v % 200 } else { v };
            let d0 = b.u32();
            let d0 = small(d0, &mut b);
            let d1 = b.u32();
            let d1 = small(d1, &mut b);
            let d2 = b.u32();
            let d2 = small(d2, &mut b);
            let req = CtrlRequest { id: b.u16(), kind, data: [d0, d1, d2] };
            ring.ring_mut().push_request(req);
            sent.push(req);
        }
        if b.u8() % 16 == 0 {
            // Hostile req_prod: must be a ring error, never a panic.
            ring.ring_mut().req_prod = ring.req_cons().wrapping_add(b.u32());
            if ctrl_action(&mut ring, &mut st, &mut page, 128, || false).is_err() {
                return;
            }
            while ring.ring_mut().take_response().is_some() {}
            continue;
        }
        ctrl_action(&mut ring, &mut st, &mut page, 128, || false).unwrap();
        for req in sent {
            let rsp = ring.ring_mut().take_response().unwrap();
            assert_eq!((rsp.id, rsp.kind), (req.id, req.kind));
            assert!(rsp.status <= XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
            let staging_kind = (8..=10).contains(&req.kind);
            if staging_kind && (page.staging.is_none() || req.data[0] >= queues) {
                assert_ne!(rsp.status, XEN_NETIF_CTRL_STATUS_SUCCESS);
            }
            if !staging_kind {
                assert!(rsp.status <= XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
            }
        }
        assert!(st.mapping().iter().all(|&q| q < queues.max(1)));
        if let Some(sh) = &page.staging {
            assert!(sh.tables.iter().all(|t| t.len() as u32 <= sh.cap));
        }
        for _ in 0..4 {
            let h = b.u32();
            assert!(st.select_queue(h) < queues.max(1));
        }
        let flow = Flow::V4 {
            src: b.u32().to_be_bytes(),
            dst: b.u32().to_be_bytes(),
            ports: if b.bool() { Some((b.u16(), b.u16())) } else { None },
        };
        if let Some((h, _)) = st.hash_flow(&flow) {
            assert!(st.select_queue(h) < queues.max(1));
        }
    }
});

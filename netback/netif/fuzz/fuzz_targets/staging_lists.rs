//! Staging-grant control requests (ADD/DEL_GREF_MAPPING lists, uses and releases, drain) on
//! arbitrary list pages. Checks: no panic, the table never exceeds its cap, a refused ADD
//! changes nothing, nothing in use is ever unmapped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netif::staging::{GrefEntry, Staged, StagingTable};

#[path = "common.rs"]
mod common;
use common::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let cap = u32::from(b.u8());
    let mut t = StagingTable::<[Staged; 64]>::new(cap);
    let mut slot = 0u16;
    let mut page = [0u8; 4096];
    while !b.is_empty() {
        let count = u32::from(b.u16() % 600);
        let len = usize::from(b.u16() % 64) * 8;
        let list = b.take(len);
        page.fill(0);
        page[..list.len()].copy_from_slice(list);
        match b.u8() % 5 {
            0 | 1 => {
                let before = t.len();
                match t.plan_add(&page, count) {
                    Ok(planned) => {
                        let mapped: Vec<(GrefEntry, u16)> = planned
                            .map(|e| {
                                slot = slot.wrapping_add(1);
                                (e, slot)
                            })
                            .collect();
                        assert!(t.commit_add(&mapped).is_ok());
                        assert_eq!(t.len(), before + mapped.len());
                    }
                    Err(_) => assert_eq!(t.len(), before),
                }
            }
            2 => {
                let g = b.u32() % 64;
                if b.bool() {
                    t.acquire(g);
                } else {
                    t.release(g);
                }
            }
            3 => {
                let mut st = vec![0u16; 600];
                let _ = t.delete(&page, count, &mut st, |s| assert_eq!(s.users(), 0));
            }
            _ => {
                let busy = t.in_use();
                let r = t.drain(|s| assert_eq!(s.users(), 0));
                assert_eq!(r.is_ok(), busy == 0);
            }
        }
        assert!(t.len() as u64 <= u64::from(cap.min(64)));
    }
});

// SPDX-License-Identifier: GPL-2.0
//! netfront-rs: a Xen network frontend (the guest's side of netif) in Rust.
//!
//! Crate root: module declarations and `module!` only. It shares netback-rs'
//! protocol core (`netif/`: the frontend's ring, TX planner, RX reader and
//! staging pool) and binding layer (`bindings/`, built with the cfg
//! `nbrs_frontend`, which leaves the backend-only parts out). The driver,
//! `#![forbid(unsafe_code)]` in every file, is split as xen-netfront is:
//! `xenbus` (the frontend state machine), `device` (the `ethN` net_device
//! and its counters), `queue` (one TX/RX ring pair: buffers, TX, RX) and
//! `ctrl` (the control ring and the staging-grant setup on it).

#[allow(unused_attributes, unreachable_pub, dead_code)]
#[path = "../netback/netif/src/lib.rs"]
mod netif;

// The binding layer serves two modules; each uses a part of it.
#[allow(dead_code)]
#[path = "../netback/bindings/mod.rs"]
mod bindings;

// Where the NAPI polls run: the same shell as netback-rs' vif.
#[path = "../napi/poll_mode.rs"]
mod poll_mode;

mod ctrl;
mod device;
mod queue;
mod xenbus;

use kernel::prelude::*;

module! {
    type: NetfrontModule,
    name: "xen_netfront_rs",
    authors: ["netback-rs developers"],
    description: "Xen virtual network device frontend (Rust)",
    license: "GPL",
    params: {
        max_queues: u32 {
            default: 8,
            description: "Maximum number of queues per virtual interface (also capped by the CPUs and the backend)",
        },
        trusted: u32 {
            default: 0,
            description: "Trust the backend (xen-netfront's default): 1 grants every page of a packet over 4 KiB instead of copying it (unless the frontend's xenstore key trusted is 0); 0 (default) only its private pages (grant_private_pages)",
        },
        grant_private_pages: u32 {
            default: 1,
            description: "With an untrusted backend (trusted=0): 1 (default) sends the whole 4 KiB pages of a large packet that hold only its bytes and that nothing else writes (not page cache, not MSG_ZEROCOPY) by per-packet grants and copies the rest; 0 copies every byte",
        },
        napi_threaded: u32 {
            default: 2,
            description: "Where the queues' NAPI polls run: 0 softirq, 1 their own kernel threads, 2 (default) in threads while a queue is flooded (4 windows of 1024 packets in a row with a quarter or more of their packets in NAPI runs of a budget's worth or more), in softirq again a second after the last flood",
        },
        staging_pages: u32 {
            default: 512,
            description: "Buffer pages per queue to register with the backend as staging grants (0: plain grant copy)",
        },
    },
}

struct NetfrontModule {
    _driver: bindings::xen::xenbus::Registration,
}

impl kernel::Module for NetfrontModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !bindings::xen_domain() {
            return Err(ENODEV);
        }
        if xenbus::poll_mode().is_none() {
            pr_err!("xen_netfront_rs: napi_threaded must be 0, 1 or 2\n");
            return Err(EINVAL);
        }
        if xenbus::grant_private_pages().is_none() {
            pr_err!("xen_netfront_rs: grant_private_pages must be 0 or 1\n");
            return Err(EINVAL);
        }
        let driver = bindings::xen::xenbus::Registration::register(&xenbus::DRIVER, module)?;
        pr_info!("xen_netfront_rs: registered frontend for devicetype vif\n");
        Ok(Self { _driver: driver })
    }
}

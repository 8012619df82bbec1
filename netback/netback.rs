// SPDX-License-Identifier: GPL-2.0
//! netback-rs: Xen's network backend (xen-netback) as a Rust driver.
//!
//! Crate root: module declarations and `module!` only. Three layers:
//! * `netif/`: the `#![no_std]` protocol core (rings, requests, slots,
//!   extras, hashing, credit, negotiation); every protocol decision.
//! * `bindings/`: the only `unsafe` code (xenbus, grant copies, rings,
//!   event channels, net_device, sk_buff, NAPI, timers, debugfs/sysfs).
//! * The driver, `#![forbid(unsafe_code)]` in every file, split as the C
//!   driver is: `xenbus` (backend state machine), `interface` (the vifD.H
//!   net_device), `queue` (one queue's TX and RX halves), `tx` (guest ->
//!   backend), `rx` (backend -> guest), `ctrl` (control ring) with `hash`
//!   (Toeplitz and the queue mapping), `multicast` (the guest's filter),
//!   `rate` (credit scheduling), `stats` (the counters), `knobs` (runtime
//!   settings), `fatal` (why a VIF is disabled), `params` (module
//!   parameters), `debugfs` and `sysfs`; and the components `napi/`
//!   (scheduling), `grant-pool/` (guest TX buffers) and `sriov/` (VF
//!   steering).

#[allow(unused_attributes, unreachable_pub, dead_code)]
#[path = "netif/src/lib.rs"]
mod netif;

mod bindings;
mod controls;
mod ctrl;
mod debugfs;
mod fatal;
#[path = "../grant-pool/mod.rs"]
mod grant_pool;
mod hash;
mod interface;
mod knobs;
mod multicast;
#[path = "../napi/mod.rs"]
mod napi;
mod params;
mod queue;
mod rate;
mod rx;
#[path = "../sriov/mod.rs"]
mod sriov;
mod stats;
mod sysfs;
mod tx;
mod xenbus;

use kernel::prelude::*;

module! {
    type: NetbackModule,
    name: "xen_netback_rs",
    authors: ["netback-rs developers"],
    description: "Xen backend network device module (Rust)",
    license: "GPL",
    alias: ["xen-backend:vif"],
}

struct NetbackModule {
    // Dropped in this order: the VIFs (and their debugfs directories) go
    // with the driver, then the debugfs root.
    _driver: bindings::xen::xenbus::Registration,
    _vf_watch: bindings::net::lower::LowerNotifier,
    _debugfs: bindings::debugfs::DebugfsRoot,
}

impl kernel::Module for NetbackModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        if !bindings::xen_domain() {
            return Err(ENODEV);
        }
        params::init();
        let debugfs = bindings::debugfs::DebugfsRoot::create();
        let vf_watch = bindings::net::lower::LowerNotifier::register()?;
        let driver = bindings::xen::xenbus::Registration::register(&xenbus::DRIVER, module)?;
        pr_info!("xen_netback_rs: registered backend for devicetype vif\n");
        Ok(Self { _driver: driver, _vf_watch: vf_watch, _debugfs: debugfs })
    }
}

// SPDX-License-Identifier: GPL-2.0
//! netback-rs: Xen's network backend (xen-netback) as a Rust driver.
//!
//! Crate root: module declarations and `module!` only. The protocol core
//! (`netif/`) makes every protocol decision, the binding layer
//! (`bindings/`) holds all `unsafe`, and the files here follow the C
//! driver's split: `xenbus` (backend state machine), `interface` (the
//! vifD.H net_device), `tx` (guest -> backend), `rx` (backend -> guest),
//! `params` (module parameters).

#[allow(unused_attributes, unreachable_pub, dead_code)]
#[path = "netif/src/lib.rs"]
mod netif;

mod bindings;
mod ctrl;
mod debugfs;
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
    _driver: bindings::xenbus::Registration<xenbus::Backend>,
    _debugfs: bindings::debugfs::DebugfsRoot,
}

impl kernel::Module for NetbackModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        if !bindings::xen_domain() {
            return Err(ENODEV);
        }
        params::init();
        let debugfs = bindings::debugfs::DebugfsRoot::create();
        let driver = bindings::xenbus::Registration::register()?;
        pr_info!("xen_netback_rs: registered backend for devicetype vif\n");
        Ok(Self { _driver: driver, _debugfs: debugfs })
    }
}

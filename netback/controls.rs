// SPDX-License-Identifier: GPL-2.0
//! A VIF's administrator interfaces: its sysfs group and debugfs directory
//! ([`VifControls`]), which expose the VIF's state and its knobs
//! (`crate::knobs`) through `crate::sysfs` and `crate::debugfs`.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::debugfs::DebugfsDir;
use crate::bindings::net::device::VifNetDevice;
use crate::bindings::sysfs::SysfsGroup;
use crate::interface::Vif;
use kernel::prelude::*;
use kernel::str::CString;

/// A VIF's administrator interfaces: the sysfs group (for the VIF's life:
/// created once the net_device is registered, dropped before it is
/// unregistered) and the debugfs directory (while a frontend is connected,
/// one `io_ring_q<N>` file per connected queue, as xen-netback's
/// `xenvif_debugfs_addif`/`delif`). Failing to create either only costs
/// that interface.
pub(crate) struct VifControls {
    _sysfs: Option<SysfsGroup>,
    debugfs: Option<DebugfsDir<Vif>>,
}

impl VifControls {
    /// `/sys/class/net/<vif>/netback/`.
    pub(crate) fn create(vif: &VifNetDevice<Vif>) -> Self {
        let name = vif.dev().name();
        let sysfs = SysfsGroup::create(vif)
            .inspect_err(|e| pr_warn!("{}: no sysfs attributes (error {})\n", name, e.to_errno()))
            .ok();
        Self { _sysfs: sysfs, debugfs: None }
    }

    /// A frontend connected with `num_queues` queues:
    /// `xen-netback-rs/<vif>/io_ring_q0` ... `io_ring_q<num_queues - 1>`,
    /// and `ctrl` when it has a control ring.
    pub(crate) fn connected(&mut self, vif: &VifNetDevice<Vif>, num_queues: u32, ctrl_ring: bool) {
        // Drops (removes) the directory of an earlier connection first: the
        // new one has the same name.
        self.debugfs = None;
        let mut dir = DebugfsDir::create(vif.dev().name().as_cstr(), vif.data().clone());
        for q in 0..num_queues {
            if let Ok(file) = CString::try_from_fmt(fmt!("io_ring_q{}", q)) {
                dir.file(&file, q);
            }
        }
        if ctrl_ring {
            dir.file(c"ctrl", crate::debugfs::CTRL_FILE);
        }
        self.debugfs = Some(dir);
    }

    /// The frontend disconnected: the debugfs directory goes (waiting for
    /// readers inside show).
    pub(crate) fn disconnected(&mut self) {
        self.debugfs = None;
    }
}

// SPDX-License-Identifier: GPL-2.0
//! A VIF's lower port: the NIC virtual function (SR-IOV VF) a VIF may be
//! bound to, so that the NIC's switch, not a bridge, carries its traffic
//! (`sriov/` decides; `lower.c` does the kernel's part: the VF's
//! rx_handler, its removal notifier, the PF's `ndo_set_vf_*`).
//!
//! Every VIF device has one [`LowerPort`], unbound until an administrator
//! binds it; the device unbinds it before it goes away.

use super::device::IfName;
use super::skb::SkBuff;
use crate::bindings::ffi;
use crate::netif::negotiate::IFNAMSIZ;
use core::ptr::NonNull;
use kernel::bindings::net_device;
use kernel::prelude::*;

/// What became of a guest frame offered to the lower port.
pub(crate) enum LowerXmit {
    /// Not bound: the frame is handed back for the normal path.
    Unbound(SkBuff),
    /// Sent out of the VF.
    Sent,
    /// Dropped: its source was not the guest's MAC.
    Spoofed,
}

/// The bound VF, for administrators.
pub(crate) struct LowerState {
    /// The VF's net_device.
    pub(crate) vf: IfName,
    /// Its PF's net_device.
    pub(crate) pf: IfName,
    /// The VF's index on the PF.
    pub(crate) index: u32,
    /// The port VLAN the NIC tags the VF's traffic with (0: none).
    pub(crate) vlan: u16,
    /// The transmit limit the PF enforces (Mbit/s, 0: none).
    pub(crate) max_tx_rate: u32,
}

/// A VIF's lower port (owns a `struct nbrs_lower`).
///
/// # Invariants
///
/// `ptr` came from `nbrs_lower_alloc` for a VIF device that outlives it, and
/// is freed only in `Drop`.
pub(crate) struct LowerPort {
    ptr: NonNull<ffi::nbrs_lower>,
}

// SAFETY: the C object is used from any context: binding state changes under
// RTNL (which `lower.c` takes), readers use RCU.
unsafe impl Send for LowerPort {}
// SAFETY: as for `Send`; every method is safe to call concurrently.
unsafe impl Sync for LowerPort {}

impl LowerPort {
    /// An unbound port for the VIF device `upper` (allocated, not
    /// necessarily registered).
    pub(in crate::bindings) fn new(upper: NonNull<net_device>) -> Result<Self> {
        // SAFETY: `upper` is a VIF device that, per the caller (the device's
        // constructor), owns the port and so outlives it.
        let ptr = unsafe { ffi::nbrs_lower_alloc(upper.as_ptr().cast()) };
        Ok(Self { ptr: NonNull::new(ptr).ok_or(ENOMEM)? })
    }

    /// Binds the VF named `vf` (its net_device) for the guest whose MAC is
    /// `mac`, in port VLAN `vlan` (0: none): the PF sets the VF's MAC to it,
    /// spoof checking on, trust off; the VF's frames go to the VIF. Takes
    /// RTNL: the caller must not hold it. ENODEV: no such device; ENOTTY: not
    /// an SR-IOV VF; EOPNOTSUPP: its PF cannot set a VF's MAC (or VLAN);
    /// EBUSY: bridged, bonded, another VIF's, or this port is bound already.
    pub(crate) fn bind(&self, vf: &CStr, mac: &[u8; 6], vlan: u16) -> Result {
        // SAFETY: a live port (type invariant); `vf` is a C string and `mac`
        // six bytes, both read during the call only.
        kernel::error::to_result(unsafe {
            ffi::nbrs_lower_bind(self.ptr.as_ptr(), vf.as_char_ptr(), mac.as_ptr(), vlan)
        })
    }

    /// Has the PF enforce `mbps` (0: no limit) on the bound VF's transmit.
    /// Takes RTNL. ENOLINK: unbound; EOPNOTSUPP: the PF cannot.
    pub(crate) fn set_rate(&self, mbps: u32) -> Result {
        // SAFETY: a live port (type invariant); process context.
        kernel::error::to_result(unsafe { ffi::nbrs_lower_set_rate(self.ptr.as_ptr(), mbps) })
    }

    /// Gives the VF back with its settings as they were before `bind`; a
    /// no-op when unbound. Takes RTNL: the caller must not hold it.
    pub(crate) fn unbind(&self) {
        // SAFETY: a live port (type invariant); process context.
        unsafe { ffi::nbrs_lower_unbind(self.ptr.as_ptr()) }
    }

    /// Whether a VF is bound right now.
    pub(crate) fn is_bound(&self) -> bool {
        // SAFETY: a live port (type invariant).
        unsafe { ffi::nbrs_lower_bound(self.ptr.as_ptr()) }
    }

    /// The bound VF, its PF and index; `None` when unbound. Takes RTNL.
    pub(crate) fn state(&self) -> Option<LowerState> {
        let mut vf = [0u8; IFNAMSIZ];
        let mut pf = [0u8; IFNAMSIZ];
        let mut index: kernel::ffi::c_int = -1;
        let (mut vlan, mut max_tx_rate) = (0u16, 0u32);
        // SAFETY: a live port (type invariant); both buffers hold IFNAMSIZ
        // bytes, as `nbrs_lower_describe` writes at most.
        unsafe {
            ffi::nbrs_lower_describe(
                self.ptr.as_ptr(),
                vf.as_mut_ptr().cast(),
                pf.as_mut_ptr().cast(),
                &mut index,
                &mut vlan,
                &mut max_tx_rate,
            )
        };
        let index = u32::try_from(index).ok()?;
        Some(LowerState { vf: IfName::from_bytes(vf), pf: IfName::from_bytes(pf), index, vlan, max_tx_rate })
    }

    /// Sends a guest frame (its Ethernet header pulled, as the stack would
    /// get it) out of the bound VF, if any. Any context. One call per
    /// packet: the C side reads the binding once, under RCU.
    pub(crate) fn xmit(&self, skb: SkBuff) -> LowerXmit {
        let raw = skb.into_raw();
        // SAFETY: a live port (type invariant); the skb is ours and passes
        // to the callee unless it answers UNBOUND.
        match unsafe { ffi::nbrs_lower_xmit(self.ptr.as_ptr(), raw) } as ffi::nbrs_lower_verdict {
            ffi::nbrs_lower_verdict_NBRS_LOWER_SENT => LowerXmit::Sent,
            ffi::nbrs_lower_verdict_NBRS_LOWER_SPOOFED => LowerXmit::Spoofed,
            // SAFETY: not taken: still the owned skb of `into_raw`.
            _ => match unsafe { SkBuff::from_raw(raw) } {
                Some(skb) => LowerXmit::Unbound(skb),
                None => LowerXmit::Sent,
            },
        }
    }
}

impl Drop for LowerPort {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once here (it unbinds first,
        // taking RTNL: a port is dropped with the device, outside RTNL).
        unsafe { ffi::nbrs_lower_free(self.ptr.as_ptr()) }
    }
}

/// The module's watch for bound VFs (and their PFs) going away: while
/// registered, a VF that is removed is let go first.
pub(crate) struct LowerNotifier(());

impl LowerNotifier {
    /// Registers the watch.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: registers a static notifier block; undone in `Drop`.
        kernel::error::to_result(unsafe { ffi::nbrs_lower_notifier_register() })?;
        Ok(Self(()))
    }
}

impl Drop for LowerNotifier {
    fn drop(&mut self) {
        // SAFETY: registered in `register`.
        unsafe { ffi::nbrs_lower_notifier_unregister() }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! A VIF's lower port: the NIC virtual function (SR-IOV VF) a VIF may be
//! bound to, so that the NIC's switch, not a bridge, carries its traffic.
//! `sriov/` decides; this file does the kernel's part: it finds the VF and
//! its PF, sets the VF up through the PF's `ndo_set_vf_*` and back to its
//! saved settings, sends guest frames out of the VF, and lets a VF go
//! before it (or its PF) is unregistered. `lower.c` holds the VF's
//! rx_handler and wrappers of static inlines, macros and `net_device`
//! fields.
//!
//! Every VIF device has one [`LowerPort`], unbound until an administrator
//! binds it; the device unbinds it before it goes away.
//!
//! Locking: binding state changes under RTNL ([`RtnlCell`]); the TX path
//! reads the bound VF under RCU; unbinding unregisters the rx_handler
//! (which waits for its RCU readers), unpublishes the VF and waits for the
//! TX path's readers (`synchronize_net`) before it drops the references.
//! The notifier, which runs under RTNL too, walks the bound ports in
//! [`BOUND`].

use super::device::IfName;
use super::skb::SkBuff;
use crate::bindings::{ffi, synchronize_net, Rtnl};
use core::cell::UnsafeCell;
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::bindings::{net_device, notifier_block};
use kernel::error::to_result;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::sync::rcu;
use kernel::types::Opaque;

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

/// `htons(ETH_P_8021Q)`: the protocol of a port VLAN.
const VLAN_PROTO_8021Q: u16 = (kernel::bindings::ETH_P_8021Q as u16).to_be();

/// An errno the kernel crate has no constant for.
fn errno(code: u32) -> Error {
    Error::from_errno(-(code as c_int))
}

/// A MAC address in the low 48 bits, as [`Port::mac`] keeps it.
fn mac_bits(mac: &[u8; 6]) -> u64 {
    let [a, b, c, d, e, f] = *mac;
    u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
}

/// A value only touched with RTNL held, copied in and out: never lent, so
/// that a shared [`Rtnl`] witness is enough.
struct RtnlCell<T: Copy>(UnsafeCell<T>);

// SAFETY: every access holds RTNL (an `&Rtnl` witness) and copies the whole
// value, so no two accesses overlap; the cells hold pointers (to devices a
// port holds, to linked ports) that are followed under RTNL only.
unsafe impl<T: Copy> Sync for RtnlCell<T> {}

impl<T: Copy> RtnlCell<T> {
    const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    fn get(&self, _rtnl: &Rtnl) -> T {
        // SAFETY: RTNL is held (the witness): no other access overlaps.
        unsafe { *self.0.get() }
    }

    fn set(&self, _rtnl: &Rtnl, value: T) {
        // SAFETY: RTNL is held (the witness): no other access overlaps.
        unsafe { *self.0.get() = value }
    }
}

/// Every bound port, the latest bound first, for the notifier: a list of
/// our own under RTNL (the kernel's `list_head` operations are static
/// inlines). A port is linked exactly while bound, and a linked port is
/// alive: [`LowerPort`]'s `Drop` unbinds it before it is freed.
static BOUND: RtnlCell<Option<NonNull<Port>>> = RtnlCell::new(None);

/// What a bound port holds.
#[derive(Clone, Copy)]
struct Binding {
    /// The VF, held with the port's `tracker`.
    lower: NonNull<net_device>,
    /// Its PF, held with the port's `pf_tracker`.
    pf: NonNull<net_device>,
    /// The VF's index on the PF.
    vf: c_int,
    /// The VF's settings before it was bound (`ndo_get_vf_config`).
    saved: ffi::ifla_vf_info,
    /// The port VLAN the NIC tags with, 0: none.
    vlan: u16,
    /// The transmit limit the PF enforces (Mbit/s), 0: none.
    max_tx_rate: u32,
    /// `dev_set_allmulti(lower, 1)` succeeded.
    allmulti: bool,
}

/// The state of a lower port, pinned in its own allocation ([`BOUND`]
/// points to it).
///
/// # Invariants
///
/// `upper` outlives the port. Under RTNL, `lower` is the VF of `binding`
/// while that is `Some` and null otherwise, and the port is in [`BOUND`]
/// exactly while it is `Some`.
struct Port {
    /// The VIF.
    upper: NonNull<net_device>,
    /// The bound VF for the readers under RCU (`rcu_assign_pointer` and
    /// `rcu_dereference`: release and acquire).
    lower: AtomicPtr<net_device>,
    /// The guest's MAC (its frames' only source) in the low 48 bits; set
    /// before `lower` is published.
    mac: AtomicU64,
    /// The tracker of the reference on the VF.
    tracker: Opaque<ffi::netdevice_tracker>,
    /// The tracker of the reference on the PF.
    pf_tracker: Opaque<ffi::netdevice_tracker>,
    /// `Some` while bound.
    binding: RtnlCell<Option<Binding>>,
    /// The next port in [`BOUND`].
    next: RtnlCell<Option<NonNull<Port>>>,
}

/// A reference on a net_device taken with one of a port's trackers, put on
/// drop unless the port keeps it.
///
/// # Invariants
///
/// `dev` is held with `tracker`, and the reference is this value's.
struct Held<'a> {
    dev: NonNull<net_device>,
    tracker: &'a Opaque<ffi::netdevice_tracker>,
}

impl Held<'_> {
    /// The port keeps the reference (its `release` puts it).
    fn keep(self) -> NonNull<net_device> {
        let dev = self.dev;
        core::mem::forget(self);
        dev
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // SAFETY: a reference taken with `tracker`, ours (type invariant).
        unsafe { ffi::nbrs_netdev_put(self.dev.as_ptr(), self.tracker.get()) }
    }
}

/// The `net_device_ops` of `dev`, its driver's table.
///
/// # Safety
///
/// `dev` is held and registered, and stays registered while `rtnl` is
/// held (as every device does: unregistering takes RTNL); its driver's table
/// lives at least as long.
unsafe fn netdev_ops<'a>(dev: NonNull<net_device>, _rtnl: &'a Rtnl) -> Option<&'a ffi::net_device_ops> {
    // SAFETY: a held device whose table lives for `'a` (the caller's
    // promise); never written once the device is registered.
    unsafe { ffi::nbrs_netdev_ops(dev.as_ptr()).as_ref() }
}

impl Port {
    /// [`LowerPort::bind`], with RTNL held.
    fn bind(&self, rtnl: &Rtnl, name: &CStr, mac: &[u8; 6], vlan: u16) -> Result {
        if self.binding.get(rtnl).is_some() {
            // One VF per VIF: unbind first.
            return Err(EBUSY);
        }
        // SAFETY: the live VIF (type invariant), a C string and the tracker
        // of an unbound port, which is free; RTNL is held.
        let lower = unsafe {
            ffi::netdev_get_by_name(
                ffi::nbrs_dev_net(self.upper.as_ptr()),
                name.as_char_ptr(),
                self.tracker.get(),
                kernel::bindings::GFP_KERNEL,
            )
        };
        // INVARIANT: a reference `netdev_get_by_name` took with `tracker`.
        let lower = Held { dev: NonNull::new(lower).ok_or(ENODEV)?, tracker: &self.tracker };
        let lower_dev = lower.dev.as_ptr();
        // SAFETY: a device we hold.
        if lower.dev == self.upper || unsafe { ffi::nbrs_netdev_type(lower_dev) } != ffi::NBRS_ARPHRD_ETHER {
            return Err(EINVAL);
        }
        // Not a VF of a PF we can see.
        let (pf, vf) = self.vf_pf(rtnl, lower.dev).ok_or(ENOTTY)?;
        let pf_dev = pf.dev.as_ptr();
        // SAFETY: the PF was registered when found under RTNL, held since.
        let ops = unsafe { netdev_ops(pf.dev, rtnl) }.ok_or_else(|| errno(kernel::bindings::EOPNOTSUPP))?;
        let (Some(set_mac), Some(get_config)) = (ops.ndo_set_vf_mac, ops.ndo_get_vf_config) else {
            return Err(errno(kernel::bindings::EOPNOTSUPP));
        };
        if vlan != 0 && ops.ndo_set_vf_vlan.is_none() {
            return Err(errno(kernel::bindings::EOPNOTSUPP));
        }
        // SAFETY: all-zero is a valid `ifla_vf_info` (integers only).
        let mut saved: ffi::ifla_vf_info = unsafe { core::mem::zeroed() };
        // SAFETY: the PF's op for its VF `vf`, under RTNL; it fills `saved`
        // during the call.
        if unsafe { get_config(pf_dev, vf, &mut saved) } != 0 {
            return Err(errno(kernel::bindings::EOPNOTSUPP));
        }
        // Busy: bridged, bonded, another VIF's, macvlan's...
        // SAFETY: a VF we hold, under RTNL. `nbrs_lower_rx` takes
        // `rx_handler_data` for the VIF, which outlives the registration:
        // `release`, which the VIF's `Drop` runs, unregisters it.
        to_result(unsafe {
            ffi::netdev_rx_handler_register(lower_dev, Some(ffi::nbrs_lower_rx), self.upper.as_ptr().cast())
        })?;
        let mut guest_mac = *mac;
        // SAFETY: the PF's ops for its VF `vf`, under RTNL; the MACs are
        // read during the calls only.
        let err = unsafe {
            // The NIC's switch delivers the guest's MAC to this VF, and only
            // frames from it leave (where the hardware checks).
            let mut err = set_mac(pf_dev, vf, guest_mac.as_mut_ptr());
            // A port VLAN: the NIC tags what the VF sends, strips what it gets.
            if err == 0 && vlan != 0 {
                if let Some(set_vlan) = ops.ndo_set_vf_vlan {
                    err = set_vlan(pf_dev, vf, vlan, 0, VLAN_PROTO_8021Q);
                    if err != 0 {
                        set_mac(pf_dev, vf, saved.mac.as_mut_ptr());
                    }
                }
            }
            err
        };
        if err != 0 {
            // SAFETY: registered above, under RTNL.
            unsafe { ffi::netdev_rx_handler_unregister(lower_dev) };
            return to_result(err);
        }
        // SAFETY: the PF's ops for its VF `vf` and the VF we hold, under RTNL.
        let allmulti = unsafe {
            if let Some(set_spoofchk) = ops.ndo_set_vf_spoofchk {
                set_spoofchk(pf_dev, vf, true);
            }
            if let Some(set_trust) = ops.ndo_set_vf_trust {
                set_trust(pf_dev, vf, false);
            }
            // The VF's link follows the PF's (igb has no such setting).
            if let Some(set_link_state) = ops.ndo_set_vf_link_state {
                set_link_state(pf_dev, vf, ffi::NBRS_IFLA_VF_LINK_STATE_AUTO);
            }
            // The guest's multicast memberships are not the VF's own list.
            let allmulti = ffi::dev_set_allmulti(lower_dev, 1) == 0;
            if ffi::nbrs_netdev_flags(lower_dev) & kernel::bindings::net_device_flags_IFF_UP == 0 {
                ffi::dev_open(lower_dev, null_mut());
            }
            allmulti
        };
        self.mac.store(mac_bits(mac), Ordering::Relaxed);
        let binding = Binding { lower: lower.keep(), pf: pf.keep(), vf, saved, vlan, max_tx_rate: 0, allmulti };
        self.binding.set(rtnl, Some(binding));
        self.link(rtnl);
        // `rcu_assign_pointer`: a reader that sees the VF sees `mac` too.
        self.lower.store(lower_dev, Ordering::Release);
        Ok(())
    }

    /// The PF of the VF `lower`, held with `pf_tracker`, and the VF's index
    /// on it; `None` when `lower` is not an SR-IOV virtual function whose
    /// PF has a net_device in `lower`'s namespace.
    fn vf_pf(&self, _rtnl: &Rtnl, lower: NonNull<net_device>) -> Option<(Held<'_>, c_int)> {
        // SAFETY: a device we hold.
        let vf = NonNull::new(unsafe { ffi::nbrs_netdev_pci_vf(lower.as_ptr()) })?;
        // SAFETY: the parent of a device we hold, which lives as long.
        let index = unsafe { kernel::bindings::pci_iov_vf_id(vf.as_ptr()) };
        if index < 0 {
            return None;
        }
        // SAFETY: as above; RTNL is held, and `pf_tracker` is free (the port
        // is unbound).
        let pf = unsafe {
            ffi::nbrs_netdev_hold_by_parent(
                ffi::nbrs_dev_net(lower.as_ptr()),
                ffi::nbrs_pci_physfn_device(vf.as_ptr()),
                self.pf_tracker.get(),
            )
        };
        // INVARIANT: a reference taken with `pf_tracker`.
        Some((Held { dev: NonNull::new(pf)?, tracker: &self.pf_tracker }, index))
    }

    /// Undoes [`Self::bind`], in reverse; a no-op when unbound. `vf_gone`:
    /// the VF or its PF is being unregistered, so the VF's settings are not
    /// set back.
    fn release(&self, rtnl: &Rtnl, vf_gone: bool) {
        let Some(b) = self.binding.get(rtnl) else {
            return;
        };
        let (lower_dev, pf_dev) = (b.lower.as_ptr(), b.pf.as_ptr());
        // SAFETY: the rx_handler `bind` registered on the VF we hold, under
        // RTNL; this waits for its RCU readers.
        unsafe { ffi::netdev_rx_handler_unregister(lower_dev) };
        // `RCU_INIT_POINTER(NULL)`: nothing to publish with it.
        self.lower.store(null_mut(), Ordering::Relaxed);
        // The TX path's readers of `lower`.
        synchronize_net();
        if !vf_gone {
            if b.allmulti {
                // SAFETY: the VF we hold, under RTNL; it still exists.
                unsafe { ffi::dev_set_allmulti(lower_dev, -1) };
            }
            // SAFETY: the PF, held since `bind`; not being unregistered
            // (`vf_gone` is false) while we hold RTNL.
            if let Some(ops) = unsafe { netdev_ops(b.pf, rtnl) } {
                let mut saved = b.saved;
                // SAFETY: the PF's ops for its VF `b.vf`, under RTNL; the
                // MAC is read during the call only.
                unsafe {
                    // The VF's settings as they were.
                    if let Some(set_mac) = ops.ndo_set_vf_mac {
                        set_mac(pf_dev, b.vf, saved.mac.as_mut_ptr());
                    }
                    if let Some(set_spoofchk) = ops.ndo_set_vf_spoofchk {
                        set_spoofchk(pf_dev, b.vf, saved.spoofchk != 0);
                    }
                    if let Some(set_trust) = ops.ndo_set_vf_trust {
                        set_trust(pf_dev, b.vf, saved.trusted != 0);
                    }
                    if let Some(set_link_state) = ops.ndo_set_vf_link_state {
                        set_link_state(pf_dev, b.vf, saved.linkstate as c_int);
                    }
                    if b.vlan != 0 {
                        if let Some(set_vlan) = ops.ndo_set_vf_vlan {
                            let proto = if saved.vlan_proto != 0 { saved.vlan_proto } else { VLAN_PROTO_8021Q };
                            set_vlan(pf_dev, b.vf, saved.vlan as u16, saved.qos as u8, proto);
                        }
                    }
                    if b.max_tx_rate != 0 {
                        if let Some(set_rate) = ops.ndo_set_vf_rate {
                            set_rate(pf_dev, b.vf, saved.min_tx_rate as c_int, saved.max_tx_rate as c_int);
                        }
                    }
                }
            }
        }
        self.binding.set(rtnl, None);
        self.unlink(rtnl);
        // INVARIANT: the references `bind` kept in `b`, put once (`binding`
        // is `None` now), the PF's first.
        drop(Held { dev: b.pf, tracker: &self.pf_tracker });
        drop(Held { dev: b.lower, tracker: &self.tracker });
    }

    /// Puts the port at the head of [`BOUND`].
    fn link(&self, rtnl: &Rtnl) {
        self.next.set(rtnl, BOUND.get(rtnl));
        BOUND.set(rtnl, Some(NonNull::from(self)));
    }

    /// Takes the port out of [`BOUND`].
    fn unlink(&self, rtnl: &Rtnl) {
        let this = NonNull::from(self);
        let mut link: &RtnlCell<Option<NonNull<Port>>> = &BOUND;
        while let Some(port) = link.get(rtnl) {
            if port == this {
                link.set(rtnl, self.next.get(rtnl));
                break;
            }
            // SAFETY: a linked port is alive (see `BOUND`).
            link = unsafe { &port.as_ref().next };
        }
        self.next.set(rtnl, None);
    }
}

/// A VIF's lower port.
///
/// # Invariants
///
/// `port.upper` is the VIF device that owns the port, and outlives it.
pub(crate) struct LowerPort {
    port: Pin<KBox<Port>>,
}

// SAFETY: the port is used from any context: its binding changes under RTNL
// (which the methods take), readers use atomics under RCU.
unsafe impl Send for LowerPort {}
// SAFETY: as for `Send`; every method is safe to call concurrently.
unsafe impl Sync for LowerPort {}

impl LowerPort {
    /// An unbound port for the VIF device `upper` (allocated, not
    /// necessarily registered), which owns the port and so outlives it.
    pub(in crate::bindings) fn new(upper: NonNull<net_device>) -> Result<Self> {
        let port = Port {
            upper,
            lower: AtomicPtr::new(null_mut()),
            mac: AtomicU64::new(0),
            tracker: Opaque::zeroed(),
            pf_tracker: Opaque::zeroed(),
            binding: RtnlCell::new(None),
            next: RtnlCell::new(None),
        };
        Ok(Self { port: KBox::pin(port, GFP_KERNEL)? })
    }

    /// Binds the VF named `vf` (its net_device) for the guest whose MAC is
    /// `mac`, in port VLAN `vlan` (0: none): the PF sets the VF's MAC to it,
    /// spoof checking on, trust off; the VF's frames go to the VIF. Takes
    /// RTNL: the caller must not hold it. ENODEV: no such device; ENOTTY: not
    /// an SR-IOV VF; EOPNOTSUPP: its PF cannot set a VF's MAC (or VLAN);
    /// EBUSY: bridged, bonded, another VIF's, or this port is bound already.
    pub(crate) fn bind(&self, vf: &CStr, mac: &[u8; 6], vlan: u16) -> Result {
        let rtnl = Rtnl::lock();
        self.port.bind(&rtnl, vf, mac, vlan)
    }

    /// Has the PF enforce `mbps` (0: no limit) on the bound VF's transmit.
    /// Takes RTNL. ENOLINK: unbound; EOPNOTSUPP: the PF cannot; else what
    /// the PF says (igb: only at 1000 Mbit/s link speed).
    pub(crate) fn set_rate(&self, mbps: u32) -> Result {
        let rtnl = Rtnl::lock();
        let Some(mut b) = self.port.binding.get(&rtnl) else {
            return Err(errno(kernel::bindings::ENOLINK));
        };
        // SAFETY: the PF of a bound port, held; not unregistered while we
        // hold RTNL (the notifier would have unbound the port first).
        let set_rate = unsafe { netdev_ops(b.pf, &rtnl) }.and_then(|ops| ops.ndo_set_vf_rate);
        let Some(set_rate) = set_rate else {
            return Err(errno(kernel::bindings::EOPNOTSUPP));
        };
        // SAFETY: the PF's op for its VF `b.vf`, under RTNL.
        let err = unsafe { set_rate(b.pf.as_ptr(), b.vf, 0, mbps as c_int) };
        if err == 0 {
            b.max_tx_rate = mbps;
            self.port.binding.set(&rtnl, Some(b));
        }
        to_result(err)
    }

    /// Gives the VF back with its settings as they were before `bind`; a
    /// no-op when unbound. Takes RTNL: the caller must not hold it.
    pub(crate) fn unbind(&self) {
        let rtnl = Rtnl::lock();
        self.port.release(&rtnl, false);
    }

    /// Whether a VF is bound right now.
    pub(crate) fn is_bound(&self) -> bool {
        !self.port.lower.load(Ordering::Relaxed).is_null()
    }

    /// The bound VF, its PF and index; `None` when unbound. Takes RTNL.
    pub(crate) fn state(&self) -> Option<LowerState> {
        let rtnl = Rtnl::lock();
        let b = self.port.binding.get(&rtnl)?;
        // SAFETY: the VF and PF a bound port holds, under RTNL.
        let (vf, pf) = unsafe { (IfName::of(b.lower.as_ptr()), IfName::of(b.pf.as_ptr())) };
        Some(LowerState { vf, pf, index: u32::try_from(b.vf).ok()?, vlan: b.vlan, max_tx_rate: b.max_tx_rate })
    }

    /// Sends a guest frame (its Ethernet header pulled, as the stack would
    /// get it) out of the bound VF, if any. Any context. One call per
    /// packet: the binding is read once, under RCU.
    pub(crate) fn xmit(&self, skb: SkBuff) -> LowerXmit {
        // Unbound, the common case: testing the pointer for NULL needs no RCU
        // (nothing is dereferenced), and spares two calls per packet.
        if self.port.lower.load(Ordering::Relaxed).is_null() {
            return LowerXmit::Unbound(skb);
        }
        let _rcu = rcu::read_lock();
        // `rcu_dereference`.
        let Some(lower) = NonNull::new(self.port.lower.load(Ordering::Acquire)) else {
            return LowerXmit::Unbound(skb);
        };
        if skb.eth_source().map(|source| mac_bits(&source)) != Some(self.port.mac.load(Ordering::Relaxed)) {
            // Freed: not from the guest's MAC (QEMU's igb, unlike real NICs,
            // checks nothing).
            drop(skb);
            return LowerXmit::Spoofed;
        }
        // SAFETY: the VF stays alive while we hold RCU: `release` unpublishes
        // it and waits for a grace period before it drops its reference.
        unsafe { skb.xmit_pushed(lower) };
        LowerXmit::Sent
    }
}

impl Drop for LowerPort {
    fn drop(&mut self) {
        // Out of `BOUND` before the port is freed. Takes RTNL: a port is
        // dropped with its device, outside RTNL.
        self.unbind();
    }
}

/// The netdevice notifier (under RTNL): a bound VF, or the PF of one, that
/// is being unregistered is let go first (without setting the VF back: it
/// is going away), before the core waits for its references.
///
/// # Safety
///
/// Called by the netdevice notifier chain: RTNL held, `ptr` a
/// `netdev_notifier_info`.
unsafe extern "C" fn lower_event(_nb: *mut notifier_block, event: c_ulong, ptr: *mut c_void) -> c_int {
    if event == ffi::NBRS_NETDEV_UNREGISTER {
        // SAFETY: netdevice notifiers run under RTNL, for the whole call.
        let rtnl = unsafe { Rtnl::assume_held() };
        // SAFETY: a netdevice notifier's `ptr` is its `netdev_notifier_info`.
        let dev = unsafe { ffi::nbrs_netdev_notifier_dev(ptr) };
        release_going(&rtnl, dev);
    }
    kernel::bindings::NOTIFY_DONE as c_int
}

/// Lets go of the ports bound to `dev` or to a VF of `dev`, a device being
/// unregistered.
fn release_going(rtnl: &Rtnl, dev: *mut net_device) {
    let mut next = BOUND.get(rtnl);
    while let Some(port) = next {
        // SAFETY: a linked port is alive (see `BOUND`).
        let port = unsafe { port.as_ref() };
        // Read before `release` unlinks the port.
        next = port.next.get(rtnl);
        let Some(b) = port.binding.get(rtnl) else {
            continue;
        };
        if b.lower.as_ptr() == dev {
            // SAFETY: the live VIF (type invariant) and `dev`'s name, a C
            // string, for the format's one `%s`.
            unsafe {
                kernel::bindings::netdev_info(
                    port.upper.as_ptr(),
                    c"VF %s is going away: back to the bridge path\n".as_char_ptr(),
                    ffi::nbrs_netdev_name(dev),
                )
            };
            port.release(rtnl, true);
        } else if b.pf.as_ptr() == dev {
            // SAFETY: the live VIF (type invariant) and the names of `dev`
            // and of the VF the port holds, C strings, for the two `%s`.
            unsafe {
                kernel::bindings::netdev_info(
                    port.upper.as_ptr(),
                    c"PF %s of VF %s is going away: back to the bridge path\n".as_char_ptr(),
                    ffi::nbrs_netdev_name(dev),
                    ffi::nbrs_netdev_name(b.lower.as_ptr()),
                )
            };
            port.release(rtnl, true);
        }
    }
}

/// The module's watch for bound VFs (and their PFs) going away: while
/// registered, a VF that is removed is let go first.
///
/// # Invariants
///
/// `block` is on the netdevice notifier chain until `Drop`.
pub(crate) struct LowerNotifier {
    block: Pin<KBox<Opaque<notifier_block>>>,
}

// SAFETY: only the kernel's notifier chain reads or writes the block (under
// its own locking); Rust keeps it to unregister it, from any thread.
unsafe impl Send for LowerNotifier {}
// SAFETY: as for `Send`: `&LowerNotifier` gives access to nothing.
unsafe impl Sync for LowerNotifier {}

impl LowerNotifier {
    /// Registers the watch.
    pub(crate) fn register() -> Result<Self> {
        let block = notifier_block { notifier_call: Some(lower_event), next: null_mut(), priority: 0 };
        let block = KBox::pin(Opaque::new(block), GFP_KERNEL)?;
        // SAFETY: a pinned block that `Drop` unregisters before it is freed;
        // process context.
        to_result(unsafe { ffi::register_netdevice_notifier(block.get()) })?;
        // INVARIANT: registered just now.
        Ok(Self { block })
    }
}

impl Drop for LowerNotifier {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); process context.
        unsafe { ffi::unregister_netdevice_notifier(self.block.get()) };
    }
}

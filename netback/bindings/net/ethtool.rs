// SPDX-License-Identifier: GPL-2.0
//! The VIF's `ethtool_ops`, built from [`VifOps`]:
//!
//! * `-i`: driver "vif" and bus-info "vif-<domid>-<handle>" (the xenbus
//!   backend device) are what xen-netback shows; scripts match on them. The
//!   version names this driver next to the kernel release.
//! * `-g`/`-G`: the rings are one page each, 256 requests: the frontend
//!   allocates them and the protocol fixes their size, so `-G` is refused.
//! * `-S`: every counter, from the driver's one counter list.
//! * `-l`/`-L`: combined channels, at most the allocated queues.
//! * `-c`/`-C`: guest TX answer timing (`tx-usecs`, `tx-frames`,
//!   `adaptive-tx`; the core's `netif::coalesce`); the ethtool core refuses
//!   every other field.

use super::device::{VifOps, Vtable};
use crate::bindings::{ffi, write_cstr};
use crate::netif::coalesce::{CoalesceError, TxCoalesce};
use crate::netif::wire::{XEN_NETIF_RX_RING_SIZE, XEN_NETIF_TX_RING_SIZE};
use core::ptr::NonNull;
use kernel::bindings::{
    ethtool_channels, ethtool_coalesce, ethtool_drvinfo, ethtool_ops, ethtool_ringparam, ethtool_stats,
    kernel_ethtool_coalesce, kernel_ethtool_ringparam, net_device, netlink_ext_ack,
};
use kernel::error::from_result;
use kernel::prelude::*;

/// Length of one `ethtool -S` name, NUL included.
const ETH_GSTRING_LEN: usize = kernel::bindings::ETH_GSTRING_LEN as usize;

/// Where `ethtool -S` entries go, one [`push`](Self::push) per entry: the
/// name and value buffers of `get_strings` / `get_ethtool_stats` (either
/// may be absent), or none at all when the ethtool core only asks how many
/// there are. Entries past the buffers' room are counted, not written.
pub(crate) struct EthtoolStats<'a> {
    names: &'a mut [[u8; ETH_GSTRING_LEN]],
    values: &'a mut [u64],
    count: usize,
}

impl EthtoolStats<'_> {
    /// Appends one entry; a name longer than ethtool's 31 characters is cut.
    pub(crate) fn push(&mut self, name: core::fmt::Arguments<'_>, value: u64) {
        let i = self.count;
        self.count = self.count.saturating_add(1);
        if let Some(slot) = self.names.get_mut(i) {
            write_cstr(slot, name);
        }
        if let Some(v) = self.values.get_mut(i) {
            *v = value;
        }
    }
}

/// `ETHTOOL_COALESCE_*` bits of `include/linux/ethtool.h` (`BIT(n)`
/// macros, which bindgen does not evaluate; the ethtool core checks their
/// positions against its netlink attributes at build time).
const ETHTOOL_COALESCE_TX_USECS: u32 = 1 << 4;
const ETHTOOL_COALESCE_TX_MAX_FRAMES: u32 = 1 << 5;
const ETHTOOL_COALESCE_USE_ADAPTIVE_TX: u32 = 1 << 10;

/// The `ethtool_ops` of a VIF whose driver state is `T`.
pub(in crate::bindings) const fn ops<T: VifOps>() -> ethtool_ops {
    ethtool_ops {
        supported_coalesce_params: ETHTOOL_COALESCE_TX_USECS
            | ETHTOOL_COALESCE_TX_MAX_FRAMES
            | ETHTOOL_COALESCE_USE_ADAPTIVE_TX,
        get_coalesce: Some(get_coalesce::<T>),
        set_coalesce: Some(set_coalesce::<T>),
        get_drvinfo: Some(get_drvinfo),
        get_ringparam: Some(get_ringparam),
        set_ringparam: Some(set_ringparam),
        get_link: Some(kernel::bindings::ethtool_op_get_link),
        get_ts_info: Some(kernel::bindings::ethtool_op_get_ts_info),
        get_sset_count: Some(get_sset_count::<T>),
        get_strings: Some(get_strings::<T>),
        get_ethtool_stats: Some(get_ethtool_stats::<T>),
        get_channels: Some(get_channels::<T>),
        set_channels: Some(set_channels::<T>),
        // SAFETY: all-zero is a valid `ethtool_ops` (no entry, no capability).
        ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
    }
}

/// A C `char` array as bytes.
fn bytes_of(chars: &mut [kernel::ffi::c_char]) -> &mut [u8] {
    // SAFETY: `c_char` and `u8` have the same size and alignment, and every
    // bit pattern is valid for both.
    unsafe { core::slice::from_raw_parts_mut(chars.as_mut_ptr().cast(), chars.len()) }
}

/// `ethtool -i`.
///
/// # Safety
///
/// Called by the ethtool core with a live VIF and its struct to fill.
unsafe extern "C" fn get_drvinfo(dev: *mut net_device, info: *mut ethtool_drvinfo) {
    // SAFETY: the core's valid, exclusively borrowed struct (or NULL).
    let Some(info) = (unsafe { info.as_mut() }) else { return };
    write_cstr(bytes_of(&mut info.driver), format_args!("vif"));
    // SAFETY: a NUL-terminated constant of the C side.
    let release = unsafe { CStr::from_char_ptr(ffi::nbrs_uts_release.as_ptr()) };
    write_cstr(bytes_of(&mut info.version), format_args!("{} (xen-netback-rs)", release.to_str().unwrap_or("")));
    // SAFETY: a live device.
    let parent = unsafe { ffi::nbrs_netdev_parent_name(dev.cast()) };
    if !parent.is_null() {
        // SAFETY: the parent's name, valid while the device is.
        let parent = unsafe { CStr::from_char_ptr(parent) };
        write_cstr(bytes_of(&mut info.bus_info), format_args!("{}", parent.to_str().unwrap_or("")));
    }
}

/// `ethtool -g`: the protocol's fixed ring sizes.
///
/// # Safety
///
/// Called by the ethtool core with its struct to fill.
unsafe extern "C" fn get_ringparam(
    _dev: *mut net_device,
    ring: *mut ethtool_ringparam,
    _kring: *mut kernel_ethtool_ringparam,
    _extack: *mut netlink_ext_ack,
) {
    // SAFETY: the core's valid, exclusively borrowed struct (or NULL).
    if let Some(ring) = unsafe { ring.as_mut() } {
        ring.rx_max_pending = XEN_NETIF_RX_RING_SIZE;
        ring.tx_max_pending = XEN_NETIF_TX_RING_SIZE;
        ring.rx_pending = XEN_NETIF_RX_RING_SIZE;
        ring.tx_pending = XEN_NETIF_TX_RING_SIZE;
    }
}

/// The reason `ethtool -G` gets.
const RING_SIZE_FIXED: &CStr = c"ring sizes are fixed at 256 by the Xen netif protocol (one shared page per ring)";

/// `ethtool -G`: only the sizes the rings have.
///
/// # Safety
///
/// Called by the ethtool core with the requested sizes and its extack.
unsafe extern "C" fn set_ringparam(
    _dev: *mut net_device,
    ring: *mut ethtool_ringparam,
    _kring: *mut kernel_ethtool_ringparam,
    extack: *mut netlink_ext_ack,
) -> kernel::ffi::c_int {
    // SAFETY: the core's valid struct (or NULL).
    if let Some(ring) = unsafe { ring.as_ref() } {
        if ring.rx_pending == XEN_NETIF_RX_RING_SIZE && ring.tx_pending == XEN_NETIF_TX_RING_SIZE {
            return 0;
        }
    }
    // SAFETY: the core's extack (or NULL), exclusively ours for the call;
    // NL_SET_ERR_MSG stores a static message.
    if let Some(extack) = unsafe { extack.as_mut() } {
        extack._msg = RING_SIZE_FIXED.as_char_ptr();
    }
    -(kernel::bindings::EOPNOTSUPP as kernel::ffi::c_int)
}

/// Walks `T`'s `ethtool -S` entries into up to `max` names and values
/// (either may be NULL); returns how many entries there are.
///
/// # Safety
///
/// `dev` is a live VIF of `T`; `names` and `values` are NULL or valid for
/// `max` entries, exclusively borrowed for the call.
unsafe fn walk_stats<T: VifOps>(dev: *mut net_device, names: *mut u8, values: *mut u64, max: usize) -> usize {
    // SAFETY: a device of `T`, in its callback.
    let Some((t, d)) = (unsafe { Vtable::<T>::ctx(dev, 0) }) else {
        return 0;
    };
    let names: &mut [[u8; ETH_GSTRING_LEN]] = match NonNull::new(names.cast::<[u8; ETH_GSTRING_LEN]>()) {
        // SAFETY: the caller's buffer of `max` names (bytes: any alignment).
        Some(p) => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), max) },
        None => &mut [],
    };
    let values: &mut [u64] = match NonNull::new(values) {
        // SAFETY: the caller's buffer of `max` values.
        Some(p) => unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), max) },
        None => &mut [],
    };
    let mut out = EthtoolStats { names, values, count: 0 };
    t.ethtool_stats(&d, &mut out);
    out.count
}

/// `get_sset_count`: how many `ethtool -S` entries.
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T`.
unsafe extern "C" fn get_sset_count<T: VifOps>(dev: *mut net_device, sset: kernel::ffi::c_int) -> kernel::ffi::c_int {
    if sset != kernel::bindings::ethtool_stringset_ETH_SS_STATS as kernel::ffi::c_int {
        return EINVAL.to_errno();
    }
    // SAFETY: a VIF of `T`; no buffers.
    let n = unsafe { walk_stats::<T>(dev, core::ptr::null_mut(), core::ptr::null_mut(), 0) };
    kernel::ffi::c_int::try_from(n).unwrap_or(0)
}

/// `get_strings`: the `ethtool -S` names, as many as `get_sset_count` said
/// (under RTNL, as that was: the count has not changed).
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T` and room for
/// `get_sset_count` names.
unsafe extern "C" fn get_strings<T: VifOps>(dev: *mut net_device, sset: u32, data: *mut u8) {
    if sset != kernel::bindings::ethtool_stringset_ETH_SS_STATS {
        return;
    }
    // SAFETY: a VIF of `T`; counting writes nothing.
    let n = unsafe { walk_stats::<T>(dev, core::ptr::null_mut(), core::ptr::null_mut(), 0) };
    // SAFETY: the core's buffer holds `n` names (contract).
    unsafe { walk_stats::<T>(dev, data, core::ptr::null_mut(), n) };
}

/// `get_ethtool_stats`: the `ethtool -S` values.
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T` and room for
/// `stats->n_stats` values.
unsafe extern "C" fn get_ethtool_stats<T: VifOps>(dev: *mut net_device, stats: *mut ethtool_stats, data: *mut u64) {
    // SAFETY: the core's valid struct (or NULL).
    let Some(n) = (unsafe { stats.as_ref() }).map(|s| s.n_stats as usize) else { return };
    if let Some(p) = NonNull::new(data) {
        // SAFETY: the core's buffer of `n` values; entries the walk does not
        // reach (a count that shrank) read 0.
        unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), n) }.fill(0);
    }
    // SAFETY: as above.
    unsafe { walk_stats::<T>(dev, core::ptr::null_mut(), data, n) };
}

/// `ethtool -l`.
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T` and its struct to fill.
unsafe extern "C" fn get_channels<T: VifOps>(dev: *mut net_device, ch: *mut ethtool_channels) {
    // SAFETY: a device of `T`, in its callback.
    let Some((t, d)) = (unsafe { Vtable::<T>::ctx(dev, 0) }) else { return };
    // SAFETY: the core's valid, exclusively borrowed struct (or NULL).
    let Some(ch) = (unsafe { ch.as_mut() }) else { return };
    let max = d.allocated_queues();
    ch.max_combined = max;
    ch.combined_count = t.channels(&d).min(max);
}

/// `ethtool -L combined n` (the core refused counts above the maxima).
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T` and the request.
unsafe extern "C" fn set_channels<T: VifOps>(dev: *mut net_device, ch: *mut ethtool_channels) -> kernel::ffi::c_int {
    from_result(|| {
        // SAFETY: a device of `T`, in its callback.
        let (t, d) = unsafe { Vtable::<T>::ctx(dev, 0) }.ok_or(EINVAL)?;
        // SAFETY: the core's valid struct (or NULL).
        let ch = unsafe { ch.as_ref() }.ok_or(EINVAL)?;
        if ch.rx_count != 0 || ch.tx_count != 0 || ch.other_count != 0 {
            return Err(EINVAL);
        }
        t.set_queue_limit(&d, ch.combined_count)?;
        Ok(0)
    })
}

/// `ethtool -c`: the guest TX answer timing.
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T` and its struct to fill.
unsafe extern "C" fn get_coalesce<T: VifOps>(
    dev: *mut net_device,
    ec: *mut ethtool_coalesce,
    _kec: *mut kernel_ethtool_coalesce,
    _extack: *mut netlink_ext_ack,
) -> kernel::ffi::c_int {
    from_result(|| {
        // SAFETY: a device of `T`, in its callback.
        let (t, d) = unsafe { Vtable::<T>::ctx(dev, 0) }.ok_or(EINVAL)?;
        // SAFETY: the core's valid, exclusively borrowed struct (or NULL).
        let ec = unsafe { ec.as_mut() }.ok_or(EINVAL)?;
        let c = t.tx_coalesce(&d);
        ec.tx_coalesce_usecs = c.usecs();
        ec.tx_max_coalesced_frames = c.frames();
        ec.use_adaptive_tx_coalesce = u32::from(c.adaptive());
        Ok(0)
    })
}

/// `ethtool -C`: the core passes `get_coalesce`'s values with the user's
/// changes (only the supported fields can differ); out-of-range values get
/// -EINVAL with a message.
///
/// # Safety
///
/// Called by the ethtool core with a VIF of `T`, the request and its extack.
unsafe extern "C" fn set_coalesce<T: VifOps>(
    dev: *mut net_device,
    ec: *mut ethtool_coalesce,
    _kec: *mut kernel_ethtool_coalesce,
    extack: *mut netlink_ext_ack,
) -> kernel::ffi::c_int {
    from_result(|| {
        // SAFETY: a device of `T`, in its callback.
        let (t, d) = unsafe { Vtable::<T>::ctx(dev, 0) }.ok_or(EINVAL)?;
        // SAFETY: the core's valid struct (or NULL).
        let ec = unsafe { ec.as_ref() }.ok_or(EINVAL)?;
        let adaptive = ec.use_adaptive_tx_coalesce != 0;
        let c = TxCoalesce::new(ec.tx_coalesce_usecs, ec.tx_max_coalesced_frames, adaptive).map_err(|e| {
            let msg = match e {
                CoalesceError::UsecsTooLarge => c"tx-usecs is at most 1000",
                CoalesceError::FramesTooLarge => c"tx-frames is at most 256 (the ring size)",
            };
            // SAFETY: the core's extack (or NULL), exclusively ours for the
            // call; NL_SET_ERR_MSG stores a static message.
            if let Some(extack) = unsafe { extack.as_mut() } {
                extack._msg = msg.as_char_ptr();
            }
            EINVAL
        })?;
        t.set_tx_coalesce(&d, c)?;
        Ok(0)
    })
}

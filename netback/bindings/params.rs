// SPDX-License-Identifier: GPL-2.0
//! The module parameters' values. They are declared with `module_param()`
//! in params.c: xen-netback has bool and writable (0644) parameters, which
//! Rust's `module!` cannot express. Each is read here as C's `READ_ONCE()`
//! reads it: sysfs writes the writable ones at any time.

use super::ffi;

/// Applies xen-netback's load-time defaults and clamps.
pub(crate) fn init() {
    // SAFETY: no preconditions.
    unsafe { ffi::nbrs_params_init() }
}

/// Reads the variable of the parameter `$name` (`nbrs_param_$name` in params.c).
macro_rules! read_param {
    ($var:ident) => {
        // SAFETY: params.c defines the variable for the module's lifetime;
        // a volatile read of an aligned `bool` or `u32` is C's `READ_ONCE()`,
        // and the kernel writes only valid values into it (a `bool`
        // parameter holds 0 or 1).
        unsafe { core::ptr::read_volatile(&raw const ffi::$var) }
    };
}

/// `separate_tx_rx_irq`.
pub(crate) fn separate_tx_rx_irq() -> bool {
    read_param!(nbrs_param_separate_tx_rx_irq)
}

/// `rx_drain_timeout_msecs`.
pub(crate) fn rx_drain_timeout_msecs() -> u32 {
    read_param!(nbrs_param_rx_drain_timeout_msecs)
}

/// `rx_stall_timeout_msecs`.
pub(crate) fn rx_stall_timeout_msecs() -> u32 {
    read_param!(nbrs_param_rx_stall_timeout_msecs)
}

/// `max_queues`.
pub(crate) fn max_queues() -> u32 {
    read_param!(nbrs_param_max_queues)
}

/// `fatal_skb_slots`.
pub(crate) fn fatal_skb_slots() -> u32 {
    read_param!(nbrs_param_fatal_skb_slots)
}

/// `provides_xdp_headroom`.
pub(crate) fn provides_xdp_headroom() -> bool {
    read_param!(nbrs_param_provides_xdp_headroom)
}

/// `tx_zerocopy`: the index of its value name (off, on, auto, staged).
pub(crate) fn tx_zerocopy() -> u32 {
    read_param!(nbrs_param_tx_zerocopy)
}

/// `tx_zerocopy_threshold`, bytes.
pub(crate) fn tx_zerocopy_threshold() -> u32 {
    read_param!(nbrs_param_tx_zerocopy_threshold)
}

/// `staging_grants_per_queue`.
pub(crate) fn staging_grants_per_queue() -> u32 {
    read_param!(nbrs_param_staging_grants_per_queue)
}

/// `staging_grants_max`.
pub(crate) fn staging_grants_max() -> u32 {
    read_param!(nbrs_param_staging_grants_max)
}

/// `napi_threaded` (0, 1 or 2: the setter refuses anything else).
pub(crate) fn napi_threaded() -> u32 {
    read_param!(nbrs_param_napi_threaded)
}

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

/// One reader per parameter: `name: type = variable` (params.c's
/// `nbrs_param_<name>`), each a volatile read of the variable.
macro_rules! param_readers {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $var:ident;)*) => {$(
        $(#[$doc])*
        pub(crate) fn $name() -> $ty {
            // SAFETY: params.c defines the variable for the module's lifetime; a volatile read of
            // an aligned `bool` or `u32` is `READ_ONCE()`, and the kernel stores only valid values
            // (a `bool` parameter holds 0 or 1).
            unsafe { core::ptr::read_volatile(&raw const ffi::$var) }
        }
    )*};
}

param_readers! {
    /// `separate_tx_rx_irq`.
    separate_tx_rx_irq: bool = nbrs_param_separate_tx_rx_irq;
    /// `rx_drain_timeout_msecs`.
    rx_drain_timeout_msecs: u32 = nbrs_param_rx_drain_timeout_msecs;
    /// `rx_stall_timeout_msecs`.
    rx_stall_timeout_msecs: u32 = nbrs_param_rx_stall_timeout_msecs;
    /// `max_queues`.
    max_queues: u32 = nbrs_param_max_queues;
    /// `fatal_skb_slots`.
    fatal_skb_slots: u32 = nbrs_param_fatal_skb_slots;
    /// `provides_xdp_headroom`.
    provides_xdp_headroom: bool = nbrs_param_provides_xdp_headroom;
    /// `tx_zerocopy`: the index of its value name (off, on, auto, staged).
    tx_zerocopy: u32 = nbrs_param_tx_zerocopy;
    /// `tx_zerocopy_threshold`, bytes.
    tx_zerocopy_threshold: u32 = nbrs_param_tx_zerocopy_threshold;
    /// `staging_grants_per_queue`.
    staging_grants_per_queue: u32 = nbrs_param_staging_grants_per_queue;
    /// `staging_grants_max`.
    staging_grants_max: u32 = nbrs_param_staging_grants_max;
    /// `napi_threaded` (0, 1 or 2: the setter refuses anything else).
    napi_threaded: u32 = nbrs_param_napi_threaded;
}

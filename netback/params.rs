// SPDX-License-Identifier: GPL-2.0
//! Module parameters, with xen-netback's names, defaults and meaning.
//!
//! | name | default | meaning |
//! |---|---|---|
//! | `separate_tx_rx_irq` | true | offer `feature-split-event-channels` |
//! | `rx_drain_timeout_msecs` | 10000 | a packet queued for the guest longer than this is dropped |
//! | `rx_stall_timeout_msecs` | 60000 | no guest RX buffers for this long: carrier off |
//! | `max_queues` | min(8, CPUs) | queues of a new VIF and `multi-queue-max-queues` offered to its frontend |
//! | `fatal_skb_slots` | 20 (>= 18) | more slots in one packet than this is fatal |
//! | `hash_cache_size` | 64 | accepted, no effect (no hash cache: docs/tuning.md) |
//! | `provides_xdp_headroom` | true | offer `feature-xdp-headroom` |
//! | `tx_zerocopy` | off | `on`: guest TX grant-maps the data past the first 128 bytes (zero-copy, `grant-pool/`) instead of copying it; `auto`: only for packets with at least `tx_zerocopy_threshold` bytes past them; read when a frontend connects |
//! | `tx_zerocopy_threshold` | 2048 | bytes past the head from which `auto` maps a packet |
//! | `staging_grants_per_queue` | 512 | staging grants (`ADD_GREF_MAPPING`) one queue may keep mapped, 0: not offered; read when a control ring connects |
//! | `staging_grants_max` | 16384 | staging grants all VIFs together may keep mapped (dom0 maptrack entries) |
//! | `napi_threaded` | 2 | where the guest-TX NAPI polls run: 0 softirq (or as `/sys/class/net/<vif>/threaded` says), 1 threads, 2 threads while a queue is flooded (`netif::poll_mode`); read when a frontend connects |
//!
//! The parameters are declared in the binding layer's C helper because
//! `module!` has no bool type and no writable (0644) parameters
//! (`tx_zerocopy`, `tx_zerocopy_threshold`, `staging_grants_*` and `napi_threaded` are netback-rs' own;
//! `tx_zerocopy` is a named value: `off`, `on` or `auto`).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::params as raw;
use crate::netif::poll_mode::PollMode;
use crate::netif::tx::TxConfig;
use crate::netif::zerocopy::TxZeroCopyMode;

/// Applies load-time defaults (max_queues from the CPU count, the
/// fatal_skb_slots floor of 18).
pub(crate) fn init() {
    raw::init();
}

/// Whether to offer split TX/RX event channels.
pub(crate) fn separate_tx_rx_irq() -> bool {
    raw::separate_tx_rx_irq()
}

/// Drain timeout in milliseconds.
pub(crate) fn rx_drain_timeout_msecs() -> u32 {
    raw::rx_drain_timeout_msecs()
}

/// Stall timeout in milliseconds.
pub(crate) fn rx_stall_timeout_msecs() -> u32 {
    raw::rx_stall_timeout_msecs()
}

/// Queues a VIF created now gets (read at probe; the parameter is 0644).
pub(crate) fn max_queues() -> u32 {
    raw::max_queues()
}

/// Guest TX validation limits.
pub(crate) fn tx_config() -> TxConfig {
    TxConfig::new(raw::fatal_skb_slots())
}

/// Whether to offer XDP headroom to frontends.
pub(crate) fn provides_xdp_headroom() -> bool {
    raw::provides_xdp_headroom()
}

/// The module's zero-copy mode (a VIF may override it in sysfs).
pub(crate) fn tx_zerocopy() -> TxZeroCopyMode {
    TxZeroCopyMode::from_index(raw::tx_zerocopy())
}

/// Bytes past the head from which `auto` maps a packet.
pub(crate) fn tx_zerocopy_threshold() -> u32 {
    raw::tx_zerocopy_threshold()
}

/// Staging grants one queue may keep mapped (0: staging is not offered).
pub(crate) fn staging_grants_per_queue() -> u32 {
    raw::staging_grants_per_queue()
}

/// Staging grants all VIFs together may keep mapped.
pub(crate) fn staging_grants_max() -> u32 {
    raw::staging_grants_max()
}

/// Where a new connection's guest-TX polls run.
pub(crate) fn napi_threaded() -> PollMode {
    PollMode::from_param(raw::napi_threaded()).unwrap_or(PollMode::Auto)
}

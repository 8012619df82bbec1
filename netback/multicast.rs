// SPDX-License-Identifier: GPL-2.0
//! Multicast control for one VIF (`feature-multicast-control` and
//! `feature-dynamic-multicast-control`, xen-netback's `fe_mcast_addr`).
//!
//! The frontend turns filtering on with `request-multicast-control` in its
//! directory (read at connect, watched afterwards) and edits the list with
//! MCAST_ADD/DEL extras on its TX ring (NAPI). While on, multicast frames
//! for the guest whose address is not listed are dropped in
//! `ndo_start_xmit` (broadcast always passes). The list is cleared when the
//! frontend disconnects. Stock Linux netfront never asks for it.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::netif::mcast::{McastFilter, XEN_NETBK_MCAST_MAX};
use crate::netif::tx::McastOp;
use crate::netif::wire::{NETIF_RSP_ERROR, NETIF_RSP_OKAY};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// The multicast control state of one VIF.
#[pin_data]
pub(crate) struct McastControl {
    /// The frontend asked for filtering (`request-multicast-control`).
    enabled: AtomicBool,
    /// The list already overflowed once (logged once per connection).
    overflow_logged: AtomicBool,
    /// Written from NAPI, read from ndo_start_xmit (both with bottom halves
    /// off); other readers take it with bottom halves off too.
    #[pin]
    filter: SpinLockBh<McastFilter>,
}

impl McastControl {
    /// Off, empty list.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                enabled: AtomicBool::new(false),
                overflow_logged: AtomicBool::new(false),
                filter <- new_spinlock_bh!(McastFilter::new()),
            }),
            GFP_KERNEL,
        )
    }

    /// Whether the frontend asked for filtering.
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// The frontend's `request-multicast-control` (connect and its watch).
    pub(crate) fn set_enabled(&self, on: bool, vif: &str) {
        if self.enabled.swap(on, Ordering::AcqRel) != on {
            pr_info!("{}: multicast control {} by the frontend\n", vif, if on { "enabled" } else { "disabled" });
        }
    }

    /// An MCAST_ADD/DEL extra from the guest (NAPI); the status to answer.
    pub(crate) fn apply(&self, op: McastOp, addr: [u8; 6], vif: &str) -> i16 {
        let result = self.filter.lock().apply(op, addr);
        match result {
            Ok(()) => NETIF_RSP_OKAY,
            Err(_) => {
                if !self.overflow_logged.swap(true, Ordering::Relaxed) {
                    pr_err!("{}: too many multicast addresses (limit {}); refusing more\n", vif, XEN_NETBK_MCAST_MAX);
                }
                NETIF_RSP_ERROR
            }
        }
    }

    /// Whether a frame to `dst` may go to the guest (ndo_start_xmit).
    pub(crate) fn delivers(&self, dst: &[u8; 6]) -> bool {
        let enabled = self.is_enabled();
        // Fast path: no lock while the frontend does not filter.
        !enabled || self.filter.lock().delivers(enabled, dst)
    }

    /// Number of listed addresses (process context).
    pub(crate) fn len(&self) -> usize {
        self.filter.lock().len()
    }

    /// The frontend disconnected: forget its list and request (process
    /// context, NAPI already stopped).
    pub(crate) fn reset(&self) {
        self.filter.lock().clear();
        self.enabled.store(false, Ordering::Release);
        self.overflow_logged.store(false, Ordering::Relaxed);
    }
}

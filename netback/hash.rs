// SPDX-License-Identifier: GPL-2.0
//! The frontend's hash configuration (set over the control ring) as used on
//! the data path: `ndo_select_queue` (xenvif_select_queue +
//! xenvif_set_skb_hash) and the guest RX hash extras.
//!
//! The state itself and every decision (Toeplitz over the configured hash
//! types, the mapping table with its XSA-270 bounds) are the protocol
//! core's `netif::ctrl::CtrlState`; this file only owns it for the VIF and
//! applies it to skbs. The hash a guest gets in its RX hash extra is always
//! one computed here ([`VifHash::guest_hash`] in `ndo_start_xmit`).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::lock::{new_spinlock_bh, SpinLockBh};
use crate::bindings::net::skb::{GuestHash, SkBuff};
use crate::netif::ctrl::{CtrlState, HashAlgorithm};
use crate::netif::toeplitz::{Flow, HashCoverage};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;

/// The VIF's hash state.
///
/// `state` is taken in BH context by `select_queue`: a [`SpinLockBh`].
#[pin_data]
pub(crate) struct VifHash {
    /// A hash algorithm is set: the fast-path test before taking the lock.
    enabled: AtomicBool,
    /// `None` while no control ring is connected.
    #[pin]
    state: SpinLockBh<Option<CtrlState>>,
}

impl VifHash {
    /// No control ring, no hashing.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self { enabled: AtomicBool::new(false), state <- new_spinlock_bh!(None) })
    }

    /// Whether a hash algorithm is set (hash extras go to the guest).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Starts from the initial state for a frontend with `num_queues`
    /// queues (control ring connected).
    pub(crate) fn connect(&self, num_queues: u32) {
        *self.state.lock() = Some(CtrlState::new(num_queues));
        self.enabled.store(false, Ordering::Release);
    }

    /// Forgets the frontend's configuration (disconnect).
    pub(crate) fn reset(&self) {
        self.enabled.store(false, Ordering::Release);
        *self.state.lock() = None;
    }

    /// A copy of the current state (the control ring worker changes the
    /// copy, then [`VifHash::commit`]s it).
    pub(crate) fn snapshot(&self) -> Option<CtrlState> {
        self.state.lock().clone()
    }

    /// Makes `state` the one the data path uses.
    pub(crate) fn commit(&self, state: CtrlState) {
        let enabled = state.algorithm() != HashAlgorithm::None;
        let mut guard = self.state.lock();
        // A disconnect in between dropped the state: keep it dropped.
        if guard.is_some() {
            *guard = Some(state);
            self.enabled.store(enabled, Ordering::Release);
        }
    }

    /// `xenvif_select_queue` with a hash algorithm set: hashes the packet
    /// per the configured types (setting or clearing its software hash)
    /// and maps it; `None` when no algorithm is set (the caller uses the
    /// stack's pick). BH context.
    pub(crate) fn select_queue(&self, skb: &mut SkBuff, num_queues: u32) -> Option<u16> {
        if !self.enabled() {
            return None;
        }
        let guard = self.state.lock();
        let state = guard.as_ref().filter(|s| s.algorithm() != HashAlgorithm::None)?;
        let hash = Self::hash_with(state, skb);
        skb.set_sw_hash(hash.map(|h| (h.value, h.l4)));
        let q = state.select_queue(skb.hash_raw());
        // The mapping only names queues below the state's count, which is
        // the connection's; guard against a mismatch all the same.
        Some(if q < num_queues { q as u16 } else { 0 })
    }

    /// The hash for the packet's RX hash extra, computed here with the
    /// frontend's key and hash types (`None` while no algorithm is set, or
    /// for a packet of a type not configured). Called for every packet
    /// queued for the guest: with one queue the stack never calls
    /// `select_queue`, and `skb->hash` may then be the stack's own flow
    /// hash, which must not reach the guest labelled Toeplitz. BH context.
    pub(crate) fn guest_hash(&self, skb: &SkBuff) -> Option<GuestHash> {
        if !self.enabled() {
            return None;
        }
        let guard = self.state.lock();
        let state = guard.as_ref().filter(|s| s.algorithm() != HashAlgorithm::None)?;
        Self::hash_with(state, skb)
    }

    /// `xenvif_set_skb_hash`'s computation with `state`.
    fn hash_with(state: &CtrlState, skb: &SkBuff) -> Option<GuestHash> {
        let flow = skb.flow()?;
        let (value, coverage) = state.hash_flow(&flow)?;
        Some(GuestHash { value, ipv4: matches!(flow, Flow::V4 { .. }), l4: coverage == HashCoverage::L4 })
    }
}

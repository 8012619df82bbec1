// SPDX-License-Identifier: GPL-2.0
//! Buffer sources for guest TX data.
//!
//! Today every packet's data is grant-copied into fresh local pages that the
//! skb owns (memory is bounded because a packet is fully copied and its
//! slots answered within one NAPI poll: at most one ring's worth of data is
//! in flight). This is the seam where further sources plug in:
//!
//! * `PersistentGrants`: frontends that negotiate persistent grants hand
//!   over a pool of grefs once; the backend keeps them mapped (gref -> page)
//!   and copies out of those pages with memcpy instead of a hypercall.
//! * `Mapped`: zero-copy, grant-mapping the guest pages behind skb frag
//!   destructors (ubuf_info-style) and answering slots when the stack frees
//!   the skb.
//!
//! A new source gets a variant here and an arm in each method; `tx.rs` only
//! talks to [`TxBufferSource`].

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::netdev::NetDev;
use crate::bindings::skb::SkBuff;

/// Where the bytes of a guest TX packet end up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxBufferSource {
    /// Grant copy into freshly allocated pages (head + page frags).
    FreshPages,
}

impl TxBufferSource {
    /// An skb with room for `total` bytes, `linear` of them in the head.
    /// `None` under memory pressure: the packet is dropped with an error
    /// response, as xen-netback does.
    pub(crate) fn alloc_skb(&self, dev: &NetDev<'_>, linear: u32, total: u32) -> Option<SkBuff> {
        match self {
            TxBufferSource::FreshPages => dev.alloc_tx_skb(linear, total),
        }
    }

    /// Name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            TxBufferSource::FreshPages => "grant-copy",
        }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! Buffer sources for guest TX data.
//!
//! Today every packet's data is grant-copied into fresh local pages that the
//! skb owns (memory is bounded because a packet is fully copied and its
//! slots answered within one NAPI poll: at most one ring's worth of data is
//! in flight). This is the seam where further sources plug in:
//!
//! * Persistent ([`StagedGrants`], Xen's staging grants): a frontend hands
//!   each queue a pool of grants once on the control ring; the backend
//!   keeps them mapped and serves a request naming one with a memcpy to or
//!   from the mapped page instead of a grant copy. It sits beside the
//!   sources below (any request whose gref is not staged is grant-copied
//!   or mapped as usual), on both guest TX and guest RX.
//! * `Mapped` (module parameter `tx_zerocopy=on`, or `auto` for packets
//!   with at least `tx_zerocopy_threshold` bytes past the head: the core's
//!   `netif::zerocopy` decides per packet): zero-copy, the first
//!   `linear_len` (<= 128) bytes copied into the head as above, the rest
//!   grant-mapped read-only into the queue's pending slots and attached as
//!   frags behind a `ubuf_info` completion; each slot is answered when the
//!   stack gives its page back ([`MappedSource`]). Packets it cannot take
//!   (more mapped slots than an skb has frags, no free pending slot) are
//!   copied into fresh pages.
//! * `StagedLent` (`tx_zerocopy=staged`): the mapped source without pages
//!   of its own. A packet whose every slot past the head names a staged
//!   grant goes to the stack as frags of those pages (lent: nothing to
//!   map) while the stack forwards what it is lent (the core's
//!   `LendAdvisor`); every other packet is copied.
//!
//! A new source gets a variant here and an arm in each method; `tx.rs` only
//! talks to [`TxBufferSource`].
//!
//! Slots in flight: the core's `netif::pool::SlotPool` (generation-checked
//! handles, FIFO reuse, stale and double completions refused) is the
//! bookkeeping of the mapped source (and of persistent grants to come),
//! whose buffers outlive the poll that took them and come back out of order
//! (from skb completions). Fresh pages need none: every packet's slots are
//! answered within its poll, in ring order, and `tx.rs`'s pending list
//! bounds the packets in flight.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::NetDev;
use crate::bindings::net::skb::{FragPages, SkBuff};
use crate::netif::zerocopy::TxZeroCopyPolicy;
use kernel::page::PAGE_SIZE;

mod mapped;
mod persistent;
pub(crate) use mapped::{MappedFrags, MappedSlot, MappedSource};
pub(crate) use persistent::{StagedCopy, StagedGrants};

/// Order of the pages behind a fresh TX skb's frags: 16 KiB compound pages
/// cut the allocations (and frags) of a 64 KiB GSO packet by four.
const TX_PAGE_ORDER: u32 = 2;

/// Where the bytes of a guest TX packet end up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxBufferSource {
    /// Grant copy into freshly allocated pages (head + page frags).
    FreshPages,
    /// Head copied, the rest grant-mapped ([`MappedSource`]); the head
    /// (and packets copied after all) in fresh pages.
    Mapped,
    /// `tx_zerocopy=staged`: as `Mapped` for packets whose every slot past
    /// the head names a staged grant (those pages are lent, not mapped),
    /// all other packets copied into fresh pages.
    StagedLent,
}

impl TxBufferSource {
    /// The source of a queue with this zero-copy policy (`None`: the
    /// parameter is off, or the queue got no pages for it).
    pub(crate) fn of(zerocopy: Option<&TxZeroCopyPolicy>) -> Self {
        match zerocopy {
            None => TxBufferSource::FreshPages,
            Some(policy) if policy.maps_grants() => TxBufferSource::Mapped,
            Some(_) => TxBufferSource::StagedLent,
        }
    }

    /// An skb with room for `total` bytes, `linear` of them in the head.
    /// `None` under memory pressure: the packet is dropped with an error
    /// response, as xen-netback does.
    #[inline]
    pub(crate) fn alloc_skb(&self, dev: &NetDev<'_>, linear: u32, total: u32) -> Option<SkBuff> {
        match self {
            TxBufferSource::FreshPages | TxBufferSource::Mapped | TxBufferSource::StagedLent => {
                fresh_pages_skb(dev, linear, total)
            }
        }
    }

    /// Name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            TxBufferSource::FreshPages => "grant-copy",
            TxBufferSource::Mapped => "grant-map (zero-copy)",
            TxBufferSource::StagedLent => "grant-copy, staged pages lent",
        }
    }
}

/// [`TxBufferSource::FreshPages`]: the head from the queue's NAPI skb cache
/// (`napi_alloc_skb`), the rest in fresh [`TX_PAGE_ORDER`] pages, or single
/// pages when memory is too fragmented for those (or less than a page is
/// left). `None` when an allocation fails or the packet needs more frags
/// than an skb has.
#[inline]
fn fresh_pages_skb(dev: &NetDev<'_>, linear: u32, total: u32) -> Option<SkBuff> {
    if linear == 0 || linear > total {
        return None;
    }
    let mut skb = dev.napi_alloc_skb(linear)?;
    skb.put(linear).ok()?;
    let mut rest = total - linear;
    while rest > 0 {
        if skb.frag_room() == 0 {
            return None;
        }
        let large = if rest as usize > PAGE_SIZE { FragPages::alloc_atomic(TX_PAGE_ORDER) } else { None };
        let pages = large.or_else(|| FragPages::alloc_atomic(0))?;
        let chunk = rest.min(pages.size());
        skb.add_frag(pages, chunk).ok()?;
        rest -= chunk;
    }
    Some(skb)
}

// SPDX-License-Identifier: GPL-2.0
//! The VIF's counters, defined once: the list below makes each queue's
//! counters ([`VifStats`]), their values ([`StatValues`], summed over queues
//! for the VIF) and what `ethtool -S` shows (VIF-wide, then per queue).
//! `ndo_get_stats64` reads the standard interface counters ([`link_stats`]).
//!
//! rx = from the guest, tx = to the guest: the netdev's point of view, as
//! in xen-netback. `ethtool -S` starts with xen-netback's five names, in its
//! order (the zero-copy ones count with `tx_zerocopy=on`), then
//! netback-rs' own (docs/tuning.md); per queue it shows
//! `<dir>_queue_<N>_<what>` for the counter `<dir>_<what>`.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{EthtoolStats, LinkStats};
use crate::bindings::xen::grant::CopyCounts;
use core::sync::atomic::{AtomicU64, Ordering};

/// A relaxed event counter.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One counter of the list: its name, and whether `ethtool -S` shows it
/// for the VIF (summed) and for each queue.
struct CounterInfo {
    name: &'static str,
    vif: bool,
    queue: bool,
    value: fn(&StatValues) -> u64,
}

macro_rules! vif_counters {
    ($($(#[doc = $doc:literal])+ $field:ident(vif: $vif:literal, queue: $queue:literal),)+) => {
        /// Counters of one queue; the VIF's are their sums.
        #[derive(Default)]
        pub(crate) struct VifStats {
            $($(#[doc = $doc])+ pub(crate) $field: Counter,)+
        }

        /// The values of [`VifStats`] at one moment.
        #[derive(Clone, Copy, Default)]
        pub(crate) struct StatValues {
            $($(#[doc = $doc])+ pub(crate) $field: u64,)+
        }

        impl VifStats {
            /// Every counter's value.
            pub(crate) fn read(&self) -> StatValues {
                StatValues { $($field: self.$field.get(),)+ }
            }
        }

        impl core::ops::AddAssign for StatValues {
            fn add_assign(&mut self, other: Self) {
                $(self.$field = self.$field.wrapping_add(other.$field);)+
            }
        }

        /// Every counter, in `ethtool -S` order.
        const COUNTERS: &[CounterInfo] = &[
            $(CounterInfo {
                name: stringify!($field),
                vif: $vif,
                queue: $queue,
                value: |v: &StatValues| v.$field,
            },)+
        ];
    };
}

vif_counters! {
    /// GSO packets from the guest without csum_blank (checksum fixed up).
    rx_gso_checksum_fixup(vif: true, queue: false),
    /// Zero-copy guest TX: packets sent (xen-netback's name).
    tx_zerocopy_sent(vif: true, queue: false),
    /// Zero-copy guest TX: packets whose pages came back unused (xen-netback's name).
    tx_zerocopy_success(vif: true, queue: false),
    /// Zero-copy guest TX: packets that had to be copied after all (xen-netback's name).
    tx_zerocopy_fail(vif: true, queue: false),
    /// Guest packets with more frags than an skb takes (xen-netback's name).
    tx_frag_overflow(vif: true, queue: false),
    /// Packets for the guest dropped: VIF not connected, disabled or no carrier.
    tx_drop_not_connected(vif: true, queue: false),
    /// Packets for the guest dropped: its backlog was full.
    tx_drop_queue_full(vif: true, queue: false),
    /// Packets for the guest dropped after the drain timeout.
    tx_drop_expired(vif: true, queue: false),
    /// Multicast packets for the guest outside its filter list.
    tx_drop_mcast_filtered(vif: true, queue: false),
    /// Times guest TX stopped to wait for rate credit.
    rx_credit_waits(vif: true, queue: false),
    /// Fatal frontend errors (the VIF was disabled).
    fatal_errors(vif: true, queue: false),
    /// Guest TX answers held back by `ethtool -C tx-usecs` (holds started:
    /// polls that left their answers unpublished for a later poll).
    tx_answer_deferred(vif: true, queue: false),
    /// Packets from the guest into the stack.
    rx_packets(vif: false, queue: true),
    /// Bytes from the guest.
    rx_bytes(vif: false, queue: true),
    /// Guest packets dropped.
    rx_dropped(vif: false, queue: false),
    /// Malformed guest packets.
    rx_errors(vif: false, queue: false),
    /// Grant copy operations for guest TX.
    rx_copy_ops(vif: false, queue: true),
    /// Grant copy hypercalls for guest TX.
    rx_copy_batches(vif: false, queue: true),
    /// Packets delivered to the guest.
    tx_packets(vif: false, queue: true),
    /// Bytes delivered to the guest.
    tx_bytes(vif: false, queue: true),
    /// Packets for the guest dropped (any reason above).
    tx_dropped(vif: false, queue: true),
    /// Grant copy operations for guest RX.
    tx_copy_ops(vif: false, queue: true),
    /// Grant copy hypercalls for guest RX.
    tx_copy_batches(vif: false, queue: true),
    /// Packets written into the guest by their sender's own context
    /// (`rx_sender_writes`), not by the queue's thread.
    tx_sender_written(vif: true, queue: true),
    /// Times the stack's queue to the guest was stopped because the
    /// guest's backlog was full: its senders wait until the guest takes
    /// packets (a guest slower than its traffic).
    tx_stopped(vif: true, queue: true),
    /// Guest RX passes that left packets queued because the guest had not
    /// posted buffers for the next one: the queue waits for the guest.
    tx_ring_full(vif: true, queue: true),
    /// Grant copy operations for guest RX straight from another guest's
    /// grant (data in pages mapped by its zero-copy TX).
    tx_foreign_copy_ops(vif: true, queue: true),
    /// Guest TX slots served from a staged grant's page (memcpy, or lent
    /// to the stack: no grant copy, no map).
    rx_staging_hits(vif: true, queue: true),
    /// Guest TX slots naming a gref that is not staged, while the queue has
    /// staged grants (grant-copied or mapped).
    rx_staging_misses(vif: true, queue: true),
    /// Guest TX slots whose staged page went to the stack as an skb frag
    /// (zero-copy, `tx_zerocopy` on or auto; answered when the stack gives
    /// the page back).
    rx_staging_frags(vif: true, queue: true),
    /// Guest RX buffers (copies) written through a staged grant's page.
    tx_staging_hits(vif: true, queue: true),
    /// Guest RX copies into a gref that is not staged (or read-only), while
    /// the queue has staged grants (grant-copied).
    tx_staging_misses(vif: true, queue: true),
    /// Guest frames sent out of the bound SR-IOV VF (not the bridge).
    vf_tx_packets(vif: true, queue: false),
    /// Guest frames for the VF dropped: source MAC not the guest's.
    vf_tx_spoofed(vif: true, queue: false),
}

/// Why a packet for the guest was dropped (each also counts in
/// `tx_dropped`).
#[derive(Clone, Copy)]
pub(crate) enum TxDrop {
    /// VIF not connected, disabled or no carrier.
    NotConnected,
    /// The queue's backlog was full.
    QueueFull,
    /// Waited longer than the drain timeout.
    Expired,
    /// Multicast outside the frontend's filter list.
    McastFiltered,
}

impl VifStats {
    /// Counts a packet for the guest dropped for `why`.
    pub(crate) fn tx_drop(&self, why: TxDrop) {
        self.tx_dropped.add(1);
        match why {
            TxDrop::NotConnected => &self.tx_drop_not_connected,
            TxDrop::QueueFull => &self.tx_drop_queue_full,
            TxDrop::Expired => &self.tx_drop_expired,
            TxDrop::McastFiltered => &self.tx_drop_mcast_filtered,
        }
        .add(1);
    }

    /// Grant copies done for guest TX (from the guest).
    pub(crate) fn add_rx_copies(&self, c: CopyCounts) {
        self.rx_copy_ops.add(c.ops);
        self.rx_copy_batches.add(c.batches);
    }

    /// Grant copies done for guest RX (to the guest).
    pub(crate) fn add_tx_copies(&self, c: CopyCounts) {
        self.tx_copy_ops.add(c.ops);
        self.tx_copy_batches.add(c.batches);
        self.tx_foreign_copy_ops.add(c.foreign_ops);
    }
}

/// `ndo_get_stats64`: the standard interface counters of the VIF.
pub(crate) fn link_stats(v: &StatValues) -> LinkStats {
    LinkStats {
        rx_packets: v.rx_packets,
        rx_bytes: v.rx_bytes,
        tx_packets: v.tx_packets,
        tx_bytes: v.tx_bytes,
        rx_dropped: v.rx_dropped,
        tx_dropped: v.tx_dropped,
        rx_errors: v.rx_errors,
    }
}

/// One queue's values for `ethtool -S`: its counters, its backlog and its
/// staged grants.
pub(crate) struct QueueValues {
    pub(crate) counters: StatValues,
    /// Bytes queued for the guest right now.
    pub(crate) tx_backlog_bytes: u64,
    /// Staging grants mapped right now.
    pub(crate) staging_mapped: u64,
}

/// `ethtool -S`: the VIF-wide counters (`vif`, the sum of every queue),
/// then each queue's. The names and the values come from this one walk, so
/// they cannot disagree.
pub(crate) fn write_ethtool(
    vif: &StatValues,
    staging_mapped: u64,
    queues: impl Iterator<Item = QueueValues>,
    out: &mut EthtoolStats<'_>,
) {
    for c in COUNTERS.iter().filter(|c| c.vif) {
        out.push(format_args!("{}", c.name), (c.value)(vif));
    }
    out.push(format_args!("staging_mapped"), staging_mapped);
    for (q, values) in queues.enumerate() {
        for c in COUNTERS.iter().filter(|c| c.queue) {
            // "rx_packets" of queue 1 shows as "rx_queue_1_packets".
            let (dir, what) = c.name.split_once('_').unwrap_or(("", c.name));
            out.push(format_args!("{dir}_queue_{q}_{what}"), (c.value)(&values.counters));
        }
        out.push(format_args!("tx_queue_{q}_backlog_bytes"), values.tx_backlog_bytes);
        out.push(format_args!("staging_queue_{q}_mapped"), values.staging_mapped);
    }
}

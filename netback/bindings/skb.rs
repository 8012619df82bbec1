// SPDX-License-Identifier: GPL-2.0
//! An owned `struct sk_buff`.

use super::{ffi, xen::grant::LocalFrame};
use crate::netif::wire::GsoType;
use core::ptr::NonNull;
use kernel::prelude::*;

/// A packet's GSO state, as the netif ring can describe it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SkbGso {
    /// Not GSO.
    None,
    /// TCP segmentation of this kind, with this segment size.
    Tcp(GsoType, u16),
    /// A GSO type the ring cannot carry.
    Unsupported,
}

/// The kernel's `SKB_GSO_*` bit of a ring GSO type: the one mapping between
/// the two (the wire values are the core's [`GsoType`]).
fn skb_gso_bit(kind: GsoType) -> u32 {
    // The kernel's enum of (small, positive) bits.
    (match kind {
        GsoType::TcpV4 => kernel::bindings::SKB_GSO_TCPV4,
        GsoType::TcpV6 => kernel::bindings::SKB_GSO_TCPV6,
    }) as u32
}

/// The ring GSO type of the kernel's `SKB_GSO_*` bits, if it has one.
fn gso_type_of(bits: u32) -> Option<GsoType> {
    [GsoType::TcpV4, GsoType::TcpV6].into_iter().find(|k| bits & skb_gso_bit(*k) != 0)
}

/// What the guest RX path needs to know about a packet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SkbInfo {
    /// Total length.
    pub(crate) len: u32,
    /// GSO kind and segment size.
    pub(crate) gso: SkbGso,
    /// CHECKSUM_PARTIAL: the guest must fill in the checksum.
    pub(crate) csum_blank: bool,
    /// The checksum is known good (or will be filled in).
    pub(crate) data_validated: bool,
    /// The hash computed for the guest when the packet was queued
    /// ([`SkBuff::stamp_rx`]); `None` if none was (no algorithm set, or a
    /// packet of a type the frontend did not configure).
    pub(crate) guest_hash: Option<GuestHash>,
}

/// A hash the backend computed with the frontend's configuration, for its
/// RX hash extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GuestHash {
    /// The hash value.
    pub(crate) value: u32,
    /// An IPv4 packet (else IPv6).
    pub(crate) ipv4: bool,
    /// The hash covers the TCP ports.
    pub(crate) l4: bool,
}

/// An owned socket buffer; freed (counted as dropped) on drop.
///
/// # Invariants
///
/// `ptr` is a valid skb exclusively owned by this value.
pub(crate) struct SkBuff {
    ptr: NonNull<kernel::bindings::sk_buff>,
}

// SAFETY: an exclusively owned skb may move between contexts.
unsafe impl Send for SkBuff {}

impl SkBuff {
    /// Takes ownership of a raw skb.
    ///
    /// # Safety
    ///
    /// `ptr` is NULL or a valid skb whose ownership passes to the result.
    pub(super) unsafe fn from_raw(ptr: *mut kernel::bindings::sk_buff) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// Gives up ownership.
    pub(super) fn into_raw(self) -> *mut kernel::bindings::sk_buff {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    pub(super) fn as_raw(&self) -> *mut kernel::bindings::sk_buff {
        self.ptr.as_ptr()
    }

    /// Total length in bytes.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: valid skb.
        unsafe { ffi::nbrs_skb_len(self.as_raw().cast()) }
    }

    /// The destination Ethernet address (xmit path), if the header is there.
    pub(crate) fn dest_mac(&self) -> Option<[u8; 6]> {
        let mut addr = [0u8; 6];
        // SAFETY: valid skb; `addr` has room for ETH_ALEN bytes.
        unsafe { ffi::nbrs_skb_dest_mac(self.as_raw().cast(), addr.as_mut_ptr()) }.then_some(addr)
    }

    /// The memory holding byte `pos`: its frame and the number of bytes
    /// from there to the end of that Xen page (or of the data). `None` past
    /// the end.
    pub(crate) fn locate(&self, pos: u32) -> Option<(LocalFrame, u32)> {
        let mut gfn: u64 = 0;
        let mut offset: u16 = 0;
        // SAFETY: valid skb; valid out pointers.
        let n = unsafe { ffi::nbrs_skb_locate(self.as_raw().cast(), pos, &mut gfn, &mut offset) };
        if n == 0 {
            return None;
        }
        Some((LocalFrame { gfn, offset }, n))
    }

    /// `skb_get_queue_mapping()`: the TX queue the stack picked.
    pub(super) fn queue_mapping(&self) -> u16 {
        // SAFETY: valid skb (type invariant).
        unsafe { (*self.as_raw()).queue_mapping }
    }

    /// `skb_record_rx_queue()`: the queue a received packet came in on.
    pub(super) fn record_rx_queue(&mut self, queue: u32) {
        // As skb_record_rx_queue: the stored value is the queue plus one.
        let v = u16::try_from(queue.saturating_add(1)).unwrap_or(u16::MAX);
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { (*self.as_raw()).queue_mapping = v };
    }

    /// Length of the linear area.
    pub(super) fn headlen(&self) -> u32 {
        // SAFETY: valid skb (type invariant).
        unsafe { ffi::nbrs_skb_headlen(self.as_raw().cast()) }
    }

    /// Sets `skb->ip_summed` to `CHECKSUM_*` `v`.
    pub(super) fn set_ip_summed(&mut self, v: u32) {
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { ffi::nbrs_skb_set_ip_summed(self.as_raw().cast(), v as u8) }
    }

    /// The packet's GSO state.
    pub(crate) fn gso(&self) -> SkbGso {
        let mut size = 0u16;
        // SAFETY: valid skb (type invariant); valid out pointer.
        let bits = unsafe { ffi::nbrs_skb_gso(self.as_raw().cast(), &mut size) };
        match (bits, gso_type_of(bits)) {
            (0, _) => SkbGso::None,
            (_, Some(kind)) => SkbGso::Tcp(kind, size),
            (_, None) => SkbGso::Unsupported,
        }
    }

    /// Makes the packet GSO of `kind` with segments of `size` bytes.
    pub(super) fn set_gso(&mut self, kind: GsoType, size: u16) {
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { ffi::nbrs_skb_set_gso(self.as_raw().cast(), skb_gso_bit(kind), size) }
    }

    /// Sets the GSO segment count.
    pub(super) fn set_gso_segs(&mut self, segs: u16) {
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { ffi::nbrs_skb_set_gso_segs(self.as_raw().cast(), segs) }
    }

    /// `skb_checksum_setup`: finds the L4 checksum field of a
    /// CHECKSUM_PARTIAL packet, filling the pseudo-header sum if `recalculate`.
    pub(super) fn checksum_setup(&mut self, recalculate: bool) -> Result {
        // SAFETY: exclusively owned skb with its network header set.
        kernel::error::to_result(unsafe { kernel::bindings::skb_checksum_setup(self.as_raw(), recalculate) })
    }

    /// `skb_probe_transport_header`.
    pub(super) fn probe_transport(&mut self) {
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { ffi::nbrs_skb_probe_transport(self.as_raw().cast()) }
    }

    /// Length of the Ethernet to TCP headers (`skb_tcp_all_headers`);
    /// EPROTO when no transport header was found.
    pub(super) fn tcp_all_headers(&self) -> Result<u32> {
        // SAFETY: valid skb (type invariant).
        let n = unsafe { ffi::nbrs_skb_tcp_all_headers(self.as_raw().cast()) };
        kernel::error::to_result(n)?;
        Ok(n as u32)
    }

    /// Flattens a frag list if any, and reports length, checksum and GSO
    /// state.
    pub(crate) fn prepare_to_guest(&mut self) -> Result<SkbInfo> {
        // SAFETY: all-zero is valid for this plain C struct.
        let mut raw: ffi::nbrs_skb_info = unsafe { core::mem::zeroed() };
        // SAFETY: exclusively owned skb; valid out pointer.
        kernel::error::to_result(unsafe { ffi::nbrs_skb_prepare_to_guest(self.as_raw().cast(), &mut raw) })?;
        Ok(SkbInfo {
            len: raw.len,
            gso: self.gso(),
            csum_blank: raw.csum_partial != 0,
            data_validated: raw.data_validated != 0,
            guest_hash: (raw.guest_hash != 0).then_some(GuestHash {
                value: raw.hash,
                ipv4: raw.hash_ipv4 != 0,
                l4: raw.l4_hash != 0,
            }),
        })
    }

    /// The addresses and TCP ports Toeplitz hashing covers (flow
    /// dissection); `None` for packets that are not IPv4/IPv6 or do not
    /// dissect.
    pub(crate) fn flow(&self) -> Option<crate::netif::toeplitz::Flow> {
        use crate::netif::toeplitz::Flow;
        // SAFETY: all-zero is valid for this plain C struct.
        let mut raw: ffi::nbrs_flow = unsafe { core::mem::zeroed() };
        // SAFETY: valid skb (the stack's, borrowed for the call); valid out pointer.
        if unsafe { ffi::nbrs_skb_flow(self.as_raw().cast(), &mut raw) } != 0 {
            return None;
        }
        let ports = (raw.has_ports != 0).then_some((raw.sport, raw.dport));
        if raw.ipv4 != 0 {
            let [a, b, c, d, ..] = raw.src;
            let [e, f, g, h, ..] = raw.dst;
            Some(Flow::V4 { src: [a, b, c, d], dst: [e, f, g, h], ports })
        } else {
            Some(Flow::V6 { src: raw.src, dst: raw.dst, ports })
        }
    }

    /// Sets a software hash (`__skb_set_sw_hash`), or clears the hash.
    pub(crate) fn set_sw_hash(&mut self, hash: Option<(u32, bool)>) {
        // SAFETY: valid skb, not yet queued anywhere (ndo_select_queue).
        unsafe {
            match hash {
                Some((h, l4)) => ffi::nbrs_skb_set_sw_hash(self.as_raw().cast(), h, l4),
                None => ffi::nbrs_skb_clear_hash(self.as_raw().cast()),
            }
        }
    }

    /// `skb_set_hash()` with an L4 or L3 hash type (a frontend's TX hash
    /// extra).
    pub(crate) fn set_hash(&mut self, value: u32, l4: bool) {
        // SAFETY: exclusively owned skb, not yet handed to the stack.
        unsafe { ffi::nbrs_skb_set_hash(self.as_raw().cast(), value, l4) }
    }

    /// `skb_get_hash_raw()`.
    pub(crate) fn hash_raw(&self) -> u32 {
        // SAFETY: valid skb.
        unsafe { ffi::nbrs_skb_hash_raw(self.as_raw().cast()) }
    }

    /// Records the jiffy by which the packet must have left the RX queue
    /// and the hash its RX hash extra carries (if any).
    pub(crate) fn stamp_rx(&mut self, expires: u64, hash: Option<GuestHash>) {
        let h = hash.unwrap_or(GuestHash { value: 0, ipv4: false, l4: false });
        // SAFETY: exclusively owned skb; the driver owns skb->cb while the
        // packet is queued.
        unsafe {
            ffi::nbrs_skb_stamp_rx(
                self.as_raw().cast(),
                expires as kernel::ffi::c_ulong,
                hash.is_some(),
                h.value,
                h.l4,
                h.ipv4,
            )
        }
    }

    /// Frees the skb as successfully consumed (not a drop).
    pub(crate) fn consume(self) {
        // SAFETY: we own the skb and give it up.
        unsafe { ffi::nbrs_skb_consume(self.into_raw().cast()) }
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the skb.
        unsafe { ffi::nbrs_skb_free(self.as_raw().cast()) }
    }
}

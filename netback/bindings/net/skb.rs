// SPDX-License-Identifier: GPL-2.0
//! An owned `struct sk_buff`, read and written in place through the
//! kernel's bindgen'd layout (`kernel::bindings::sk_buff`,
//! `skb_shared_info`; bitfields through bindgen's raw accessors), with the
//! exported skb functions called directly. C (`helpers.c`) only wraps the
//! static inlines over netmem, Xen frame numbers and foreign pages.
//!
//! Also here: [`FragPages`], pages for an skb fragment, and the guest-RX
//! control block (`skb->cb`, [`RxCb`]).

use super::device::NetDev;
use crate::bindings::ffi;
use crate::bindings::xen::grant::{CopySource, ForeignGrant, LocalFrame};
use crate::bindings::xen::ring::XEN_PAGE_SIZE;
use crate::netif::toeplitz::Flow;
use crate::netif::wire::GsoType;
use core::ffi::c_void;
use core::ptr::{null, NonNull};
use kernel::bindings::{self as b, sk_buff, skb_frag, skb_shared_info};
use kernel::page::PAGE_SIZE;
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
        GsoType::TcpV4 => b::SKB_GSO_TCPV4,
        GsoType::TcpV6 => b::SKB_GSO_TCPV6,
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

impl SkbInfo {
    /// The checksum state as the rings carry it (`ip_summed`: PARTIAL,
    /// UNNECESSARY, or nothing known).
    pub(crate) fn csum(&self) -> crate::netif::rx::RxCsum {
        use crate::netif::rx::RxCsum;
        if self.csum_blank {
            RxCsum::Partial
        } else if self.data_validated {
            RxCsum::Unnecessary
        } else {
            RxCsum::None
        }
    }
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

/// `skb->cb` of a packet in a queue's guest-RX backlog: its drain deadline
/// and the hash computed for the guest's hash extra in `ndo_start_xmit`
/// (never `skb->hash`, which may be the stack's own flow hash).
///
/// Plain integers only, so that any bytes are a valid value. C's
/// `nbrs_vif_rxq_head_expires` reads `expires` as the first `unsigned long`
/// of `cb` (`NBRS_RX_CB_EXPIRES`).
#[repr(C)]
#[derive(Clone, Copy)]
struct RxCb {
    /// Drain deadline, jiffies.
    expires: kernel::ffi::c_ulong,
    hash: u32,
    hash_valid: u8,
    hash_l4: u8,
    hash_ipv4: u8,
}

/// Length of `sk_buff::cb`; [`SkBuff::cb`]'s pointer type ties it to the
/// kernel's field.
const SKB_CB_LEN: usize = 48;

const _: () = {
    assert!(size_of::<RxCb>() <= SKB_CB_LEN);
    assert!(core::mem::offset_of!(RxCb, expires) == 0);
    assert!(core::mem::offset_of!(sk_buff, cb) % align_of::<RxCb>() == 0);
};

/// Runs `copy` (an skb copy C function, or a memcpy) on the kernel address of byte
/// `offset` of `page`, mapped for the call, after checking that `offset +
/// len` stays in its 4 KiB.
///
/// # Safety
///
/// `page` is a live page with memory behind it for the call; `copy` reads
/// or writes at most `len` bytes at the address it gets.
pub(in crate::bindings) unsafe fn with_page_at(
    page: *mut b::page,
    offset: u32,
    len: u32,
    copy: impl FnOnce(*mut c_void) -> i32,
) -> Result {
    if offset.checked_add(len).is_none_or(|end| end as usize > XEN_PAGE_SIZE) {
        return Err(EINVAL);
    }
    // SAFETY: a live page (contract); kmap_local_page gives its address
    // (the direct map on x86-64), unmapped below on this CPU.
    let addr = unsafe { b::kmap_local_page(page) };
    // SAFETY: `offset` < 4096 (checked): inside the mapping.
    let ret = copy(unsafe { addr.cast::<u8>().add(offset as usize) }.cast());
    // SAFETY: mapped above on this CPU.
    unsafe { b::kunmap_local(addr) };
    kernel::error::to_result(ret)
}

/// Number of frag slots in `skb_shared_info` ([`SkBuff::frags`] ties it to
/// the kernel's array).
const MAX_SKB_FRAGS: usize = b::MAX_SKB_FRAGS as usize;

/// `EPROTO` (the kernel crate declares no constant for it).
fn eproto() -> Error {
    Error::from_errno(-(b::EPROTO as i32))
}

/// Byte of a TCP header whose high nibble is the data offset (`doff`, the
/// header length in 32-bit words).
const TCP_DOFF_BYTE: usize = 12;

/// The `headers` struct group of `struct sk_buff` (bindgen numbers the
/// anonymous struct; [`SkBuff::headers`] ties the name to the field).
type SkbHeaders = b::sk_buff__bindgen_ty_4__bindgen_ty_2;

/// The member behind a bindgen union field (at offset 0 of the union).
fn union_member<T>(field: *mut b::__BindgenUnionField<T>) -> *mut T {
    field.cast()
}

/// `2^order` contiguous pages for one skb fragment (compound when
/// `order > 0`, so the stack's page references cover the whole block);
/// freed on drop unless handed to an skb.
///
/// # Invariants
///
/// `page` is the first of `2^order` pages this value owns; when `pool` is
/// not null, an order-0 page of that page_pool (`nbrs_rx_page_pool_*`).
pub(crate) struct FragPages {
    page: NonNull<b::page>,
    order: u32,
    pool: *mut c_void,
}

impl FragPages {
    /// Allocates without sleeping or warning (softirq context; the caller
    /// handles failure). Above order 0 the allocator does not retry: the
    /// caller falls back to smaller pages instead.
    pub(crate) fn alloc_atomic(order: u32) -> Option<Self> {
        let mut gfp = b::GFP_ATOMIC | b::__GFP_NOWARN;
        if order > 0 {
            gfp |= ffi::NBRS_GFP_COMP | ffi::NBRS_GFP_NORETRY;
        }
        // SAFETY: no preconditions; GFP_ATOMIC does not sleep.
        let page = unsafe { b::alloc_pages(gfp, order) };
        NonNull::new(page).map(|page| Self { page, order, pool: core::ptr::null_mut() })
    }

    /// Takes ownership of one order-0 page: of the page_pool `pool`, to
    /// which it goes back when this value, or the skb it becomes a frag of,
    /// is freed; of the page allocator when `pool` is null.
    ///
    /// # Safety
    ///
    /// `page` is a page with one reference the caller owns and passes to
    /// the result, and no one else writes it any more; when `pool` is not
    /// null, `page` came from it (`nbrs_rx_page_pool_alloc`) and it
    /// outlives the page.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(in crate::bindings) unsafe fn from_page(page: NonNull<b::page>, pool: *mut c_void) -> Self {
        Self { page, order: 0, pool }
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u32 {
        (PAGE_SIZE << self.order) as u32
    }
}

impl Drop for FragPages {
    fn drop(&mut self) {
        if !self.pool.is_null() {
            // SAFETY: a page of `pool` we own (type invariant).
            unsafe { ffi::nbrs_rx_page_pool_put(self.pool, self.page.as_ptr()) };
            return;
        }
        // SAFETY: we own the block (type invariant).
        unsafe { b::__free_pages(self.page.as_ptr(), self.order) }
    }
}

/// An owned socket buffer; freed (counted as dropped) on drop.
///
/// # Invariants
///
/// `ptr` is a valid skb exclusively owned by this value.
pub(crate) struct SkBuff {
    ptr: NonNull<sk_buff>,
}

// SAFETY: an exclusively owned skb may move between contexts.
unsafe impl Send for SkBuff {}

impl SkBuff {
    /// Takes ownership of a raw skb.
    ///
    /// # Safety
    ///
    /// `ptr` is NULL or a valid skb whose ownership passes to the result.
    pub(in crate::bindings) unsafe fn from_raw(ptr: *mut sk_buff) -> Option<Self> {
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// Gives up ownership.
    pub(in crate::bindings) fn into_raw(self) -> *mut sk_buff {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    pub(in crate::bindings) fn as_raw(&self) -> *mut sk_buff {
        self.ptr.as_ptr()
    }

    /// The `headers` struct group (protocol, header offsets, hash, checksum
    /// bitfields).
    fn headers(&self) -> *mut SkbHeaders {
        // SAFETY: a place inside the valid skb (type invariant); nothing is read.
        union_member(unsafe { &raw mut (*self.as_raw()).__bindgen_anon_4.headers })
    }

    /// `skb_shinfo()`: the shared info at `head + end` (`end` is an offset:
    /// `sk_buff_data_t` is `unsigned int` on 64-bit, which the `u32` below
    /// checks at compile time).
    pub(in crate::bindings) fn shinfo(&self) -> *mut skb_shared_info {
        let skb = self.as_raw();
        // SAFETY: valid skb (type invariant): its shared info lies `end`
        // bytes into its head buffer.
        unsafe {
            let end: u32 = (*skb).end;
            (*skb).head.add(end as usize).cast()
        }
    }

    /// The frag array of the shared info.
    fn frags(&self) -> *mut [skb_frag; MAX_SKB_FRAGS] {
        // SAFETY: a place inside the valid shared info; nothing is read.
        unsafe { &raw mut (*self.shinfo()).frags }
    }

    /// The control block.
    fn cb(&self) -> *mut [kernel::ffi::c_char; SKB_CB_LEN] {
        // SAFETY: a place inside the valid skb; nothing is read.
        unsafe { &raw mut (*self.as_raw()).cb }
    }

    /// Offset of `data` from `head` (`skb_headroom()`).
    fn data_offset(&self) -> usize {
        let skb = self.as_raw();
        // SAFETY: valid skb: `data` points into its head buffer, at or
        // after `head`.
        unsafe { (*skb).data.offset_from((*skb).head) as usize }
    }

    /// Total length in bytes.
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: valid skb (type invariant).
        unsafe { (*self.as_raw()).len }
    }

    /// Length of the linear area (`skb_headlen()`).
    pub(in crate::bindings) fn headlen(&self) -> u32 {
        let skb = self.as_raw();
        // SAFETY: valid skb (type invariant).
        unsafe { (*skb).len.saturating_sub((*skb).data_len) }
    }

    /// The destination Ethernet address (xmit path, data at the Ethernet
    /// header), if the linear area holds one.
    pub(crate) fn dest_mac(&self) -> Option<[u8; 6]> {
        if self.headlen() < b::ETH_ALEN {
            return None;
        }
        // SAFETY: the linear area holds at least ETH_ALEN bytes at `data`.
        Some(unsafe { (*self.as_raw()).data.cast::<[u8; 6]>().read_unaligned() })
    }

    /// The source address of the Ethernet header at the MAC header
    /// (`eth_hdr(skb)->h_source`), if one was set (`eth_type_trans()`) and
    /// lies in the linear area.
    #[cfg(not(nbrs_frontend))]
    pub(in crate::bindings) fn eth_source(&self) -> Option<[u8; 6]> {
        let skb = self.as_raw();
        // SAFETY: valid skb (type invariant).
        let (mac, tail) = unsafe { ((*self.headers()).mac_header, (*skb).tail) };
        // `skb_mac_header_was_set()`, and the whole header before `tail`.
        if mac == u16::MAX || u32::from(mac) + b::ETH_HLEN > tail {
            return None;
        }
        let source = usize::from(mac) + b::ETH_ALEN as usize;
        // SAFETY: `head + mac + ETH_HLEN` is at most `head + tail`: the
        // source address (bytes 6 to 11 of the header) is linear data.
        Some(unsafe { (*skb).head.add(source).cast::<[u8; 6]>().read_unaligned() })
    }

    /// Sends the frame out of `dev` with the Ethernet header that
    /// `eth_type_trans()` pulled (the ETH_HLEN bytes before `data`) pushed
    /// back: `skb_push()`, then `dev_queue_xmit()`, which consumes it
    /// whatever becomes of it.
    ///
    /// # Safety
    ///
    /// `dev` is a live net_device for the whole call.
    #[cfg(not(nbrs_frontend))]
    pub(in crate::bindings) unsafe fn xmit_pushed(self, dev: NonNull<b::net_device>) {
        let skb = self.into_raw();
        // SAFETY: an skb we owned (`skb_push()` checks the headroom itself).
        unsafe { b::skb_push(skb, b::ETH_HLEN) };
        // SAFETY: an skb we owned, handed to the stack for good; `dev` is
        // live for the call (the caller's promise).
        unsafe {
            (*skb).__bindgen_anon_1.__bindgen_anon_1.__bindgen_anon_1.dev = dev.as_ptr();
            ffi::__dev_queue_xmit(skb, core::ptr::null_mut());
        }
    }

    /// The memory of our own holding byte `pos` (of an skb whose pages are
    /// all ours: one being built from guest TX): its frame and the number
    /// of bytes from there to the end of that Xen page (or of the data).
    /// `None` past the end or in a foreign page.
    pub(crate) fn locate(&self, pos: u32) -> Option<(LocalFrame, u32)> {
        match self.copy_source(pos)? {
            (CopySource::Local(frame), n) => Some((frame, n)),
            (CopySource::Foreign(_), _) => None,
        }
    }

    /// Where Xen can copy byte `pos` from, and the number of bytes from
    /// there to the end of that Xen page (or of the data), so a copy never
    /// crosses a page (one foreign page is one grant). The linear area is
    /// always ours; a frag page may be foreign. `None` past the end.
    pub(crate) fn copy_source(&self, pos: u32) -> Option<(CopySource, u32)> {
        let head = self.headlen();
        if pos < head {
            // SAFETY: pos < headlen: inside the linear data.
            let addr = unsafe { (*self.as_raw()).data.add(pos as usize) };
            let offset = addr as usize % PAGE_SIZE;
            // SAFETY: a direct-map address (the skb's head buffer).
            let gfn = unsafe { ffi::nbrs_virt_to_gfn(addr.cast()) };
            let n = (head - pos).min((XEN_PAGE_SIZE - offset) as u32);
            return Some((CopySource::Local(LocalFrame { gfn, offset: offset as u16 }), n));
        }
        let mut pos = pos - head;
        // SAFETY: valid shared info; `nr_frags` of its frags are in use.
        let nr = usize::from(unsafe { (*self.shinfo()).nr_frags });
        for i in 0..nr.min(MAX_SKB_FRAGS) {
            // SAFETY: i < MAX_SKB_FRAGS; an in-use frag, read by value.
            let frag = unsafe { self.frags().cast::<skb_frag>().add(i).read() };
            if pos < frag.len {
                let o = frag.offset.wrapping_add(pos);
                let mut src = ffi::nbrs_frag_source { gfn: 0, gref: 0, domid: 0, foreign: false };
                // SAFETY: the frag copy describes the skb's memory; `o` is
                // inside it.
                if !unsafe { ffi::nbrs_skb_frag_source(&frag, o, &mut src) } {
                    return None;
                }
                let offset = (o as usize % PAGE_SIZE) as u16;
                let n = (frag.len - pos).min((XEN_PAGE_SIZE - usize::from(offset)) as u32);
                let source = if src.foreign {
                    CopySource::Foreign(ForeignGrant { domid: src.domid, gref: src.gref, offset })
                } else {
                    CopySource::Local(LocalFrame { gfn: src.gfn, offset })
                };
                return Some((source, n));
            }
            pos -= frag.len;
        }
        None
    }

    /// Where the packet's private pages may start: the first byte past the
    /// linear area (which shares its page with other objects), when no frag
    /// can be written by anyone else (`SKBFL_SHARED_FRAG`: page cache pages
    /// of sendfile or splice; `SKBFL_ZEROCOPY_ENABLE`: user pages of
    /// `MSG_ZEROCOPY`); `None` otherwise. A private page is a whole 4 KiB
    /// page of ours from there on: it holds nothing but the packet's bytes
    /// and, held by the packet, is not reused, so it may be granted to an
    /// untrusted backend.
    #[cfg(nbrs_frontend)]
    pub(crate) fn private_pages_start(&self) -> Option<u32> {
        // SAFETY: valid shared info (type invariant); a plain byte read.
        let flags = u32::from(unsafe { (*self.shinfo()).flags });
        (flags & (b::SKBFL_SHARED_FRAG | b::SKBFL_ZEROCOPY_ENABLE) == 0).then(|| self.headlen())
    }

    /// `skb_get_queue_mapping()`: the TX queue the stack picked.
    pub(in crate::bindings) fn queue_mapping(&self) -> u16 {
        // SAFETY: valid skb (type invariant).
        unsafe { (*self.as_raw()).queue_mapping }
    }

    /// `skb_record_rx_queue()`: the queue a received packet came in on.
    pub(in crate::bindings) fn record_rx_queue(&mut self, queue: u32) {
        // As skb_record_rx_queue: the stored value is the queue plus one.
        let v = u16::try_from(queue.saturating_add(1)).unwrap_or(u16::MAX);
        // SAFETY: exclusively owned skb (type invariant).
        unsafe { (*self.as_raw()).queue_mapping = v };
    }

    /// Stores `len` bytes at byte `offset` of `page` into the skb at byte
    /// `pos` (`skb_store_bits`). EINVAL when the range leaves the 4 KiB page
    /// or the skb.
    ///
    /// # Safety
    ///
    /// `page` is a live page with memory behind it (ours, or a mapped
    /// grant) for the duration of the call.
    pub(in crate::bindings) unsafe fn store_from_page(
        &mut self,
        pos: u32,
        page: *mut b::page,
        offset: u32,
        len: u32,
    ) -> Result {
        // SAFETY: per the function's contract.
        unsafe { with_page_at(page, offset, len, |src| b::skb_store_bits(self.as_raw(), pos as i32, src, len as i32)) }
    }

    /// Copies `len` bytes of the skb from byte `pos` to byte `offset` of
    /// `page` (`skb_copy_bits`). EINVAL when the range leaves the 4 KiB page
    /// or the skb.
    ///
    /// # Safety
    ///
    /// `page` is a live page with writable memory behind it for the
    /// duration of the call.
    pub(in crate::bindings) unsafe fn copy_to_page(
        &self,
        pos: u32,
        page: *mut b::page,
        offset: u32,
        len: u32,
    ) -> Result {
        // SAFETY: per the function's contract.
        unsafe { with_page_at(page, offset, len, |dst| b::skb_copy_bits(self.as_raw(), pos as i32, dst, len as i32)) }
    }

    /// Appends `len` bytes to the linear data (`skb_put()`); EINVAL beyond
    /// the tailroom.
    pub(crate) fn put(&mut self, len: u32) -> Result {
        let skb = self.as_raw();
        // SAFETY: valid skb; `skb_tailroom()`: none once paged data exists.
        let (data_len, end, tail) = unsafe { ((*skb).data_len, (*skb).end, (*skb).tail) };
        let tailroom = if data_len != 0 { 0 } else { end.saturating_sub(tail) };
        if len > tailroom {
            return Err(EINVAL);
        }
        // SAFETY: exclusively owned skb with room for `len` more bytes
        // (skb_put would BUG otherwise).
        unsafe { b::skb_put(skb, len) };
        Ok(())
    }

    /// Frag slots still free.
    pub(crate) fn frag_room(&self) -> usize {
        // SAFETY: valid shared info.
        MAX_SKB_FRAGS.saturating_sub(usize::from(unsafe { (*self.shinfo()).nr_frags }))
    }

    /// Adds the first `len` bytes of `pages` as the next frag
    /// (`skb_add_rx_frag()`; the skb takes the pages' reference). Gives the
    /// pages back when no frag slot is free or `len` exceeds them.
    pub(crate) fn add_frag(&mut self, pages: FragPages, len: u32) -> core::result::Result<(), FragPages> {
        self.add_frag_at(pages, 0, len)
    }

    /// Adds `len` bytes at byte `offset` of `pages` as the next frag, as
    /// [`Self::add_frag`]; gives the pages back when the range leaves them.
    pub(crate) fn add_frag_at(
        &mut self,
        pages: FragPages,
        offset: u32,
        len: u32,
    ) -> core::result::Result<(), FragPages> {
        if self.frag_room() == 0 || offset.checked_add(len).is_none_or(|end| end > pages.size()) {
            return Err(pages);
        }
        // SAFETY: valid shared info.
        let i = unsafe { (*self.shinfo()).nr_frags };
        // SAFETY: exclusively owned skb; slot `i` is free (checked); the
        // range is inside the pages (checked); the reference we own goes to
        // the skb.
        unsafe {
            ffi::nbrs_skb_add_rx_frag(self.as_raw(), i32::from(i), pages.page.as_ptr(), offset, len, pages.size())
        };
        if !pages.pool.is_null() {
            // SAFETY: exclusively owned skb; its page_pool frag must go back
            // to its pool when the skb is freed, not to the page allocator
            // (the stack tells pool pages from others by the page itself).
            unsafe { ffi::nbrs_skb_mark_for_recycle(self.as_raw()) };
        }
        core::mem::forget(pages);
        Ok(())
    }

    /// Sets `skb->ip_summed` to `CHECKSUM_*` `v`.
    pub(in crate::bindings) fn set_ip_summed(&mut self, v: u32) {
        // SAFETY: exclusively owned skb (type invariant); a bitfield of the
        // headers group.
        unsafe { SkbHeaders::set_ip_summed_raw(self.headers(), v as u8) }
    }

    /// The packet's GSO state.
    pub(crate) fn gso(&self) -> SkbGso {
        let sh = self.shinfo();
        // SAFETY: valid shared info; `skb_is_gso()` is gso_size != 0.
        let (size, bits) = unsafe { ((*sh).gso_size, (*sh).gso_type) };
        let bits = if size == 0 { 0 } else { bits };
        match (bits, gso_type_of(bits)) {
            (0, _) => SkbGso::None,
            (_, Some(kind)) => SkbGso::Tcp(kind, size),
            (_, None) => SkbGso::Unsupported,
        }
    }

    /// Makes the packet GSO of `kind` with segments of `size` bytes.
    pub(in crate::bindings) fn set_gso(&mut self, kind: GsoType, size: u16) {
        let sh = self.shinfo();
        // SAFETY: exclusively owned skb; its fresh shared info is ours.
        unsafe {
            (*sh).gso_type = skb_gso_bit(kind);
            (*sh).gso_size = size;
        }
    }

    /// Sets the GSO segment count.
    pub(in crate::bindings) fn set_gso_segs(&mut self, segs: u16) {
        // SAFETY: exclusively owned skb; its fresh shared info is ours.
        unsafe { (*self.shinfo()).gso_segs = segs }
    }

    /// `eth_type_trans()` (sets `dev`, pulls the Ethernet header) into
    /// `protocol`, then `skb_reset_network_header()`; EINVAL when the
    /// linear area holds no Ethernet header.
    pub(in crate::bindings) fn set_eth_protocol(&mut self, dev: &NetDev<'_>) -> Result {
        if self.headlen() < b::ETH_HLEN {
            return Err(EINVAL);
        }
        let h = self.headers();
        // SAFETY: exclusively owned skb with an Ethernet header in its
        // linear area (checked); a live device.
        unsafe { (*h).protocol = ffi::eth_type_trans(self.as_raw(), dev.raw()) };
        let network = self.data_offset() as u16;
        // SAFETY: exclusively owned skb.
        unsafe { (*h).network_header = network };
        Ok(())
    }

    /// `skb_checksum_setup`: finds the L4 checksum field of a
    /// CHECKSUM_PARTIAL packet, filling the pseudo-header sum if `recalculate`.
    pub(in crate::bindings) fn checksum_setup(&mut self, recalculate: bool) -> Result {
        // SAFETY: exclusively owned skb with its network header set.
        kernel::error::to_result(unsafe { b::skb_checksum_setup(self.as_raw(), recalculate) })
    }

    /// `skb_probe_transport_header()`: unless set, the transport header
    /// where the basic flow dissector finds it.
    pub(in crate::bindings) fn probe_transport(&mut self) {
        let h = self.headers();
        // SAFETY: valid skb; `skb_transport_header_was_set()`.
        if unsafe { (*h).transport_header } != u16::MAX {
            return;
        }
        let mut keys = b::flow_keys_basic::default();
        // SAFETY: exclusively owned skb; the basic dissector fills a
        // zeroed `flow_keys_basic` (`skb_flow_dissect_flow_keys_basic()`).
        let found = unsafe {
            b::__skb_flow_dissect(
                null(),
                self.as_raw(),
                &raw mut b::flow_keys_basic_dissector,
                (&raw mut keys).cast::<c_void>(),
                null(),
                0,
                0,
                0,
                0,
            )
        };
        if found {
            // `skb_set_transport_header(skb, thoff)`.
            let transport = (self.data_offset() as u16).wrapping_add(keys.control.thoff);
            // SAFETY: exclusively owned skb.
            unsafe { (*h).transport_header = transport };
        }
    }

    /// Length of the Ethernet to TCP headers (`skb_tcp_all_headers()`);
    /// EPROTO when no transport header was found or its TCP data offset is
    /// not in the linear area.
    pub(in crate::bindings) fn tcp_all_headers(&self) -> Result<u32> {
        let skb = self.as_raw();
        // SAFETY: valid skb.
        let (transport, tail) = unsafe { (usize::from((*self.headers()).transport_header), (*skb).tail as usize) };
        if transport == usize::from(u16::MAX) || transport + TCP_DOFF_BYTE >= tail {
            return Err(eproto());
        }
        // SAFETY: `head + transport + 12` is before `head + tail`: linear data.
        let doff = unsafe { (*skb).head.add(transport + TCP_DOFF_BYTE).read() } >> 4;
        let all = (transport + usize::from(doff) * 4).checked_sub(self.data_offset()).ok_or_else(eproto)?;
        u32::try_from(all).map_err(|_| eproto())
    }

    /// Flattens a frag list if any (`__skb_linearize()`), and reports
    /// length, checksum and GSO state and the hash [`Self::stamp_rx`] stored.
    /// Frags grant-mapped from another guest (its zero-copy TX) stay: the
    /// copy to the guest reads them from their grant ([`Self::copy_source`])
    /// before the skb is freed, and only then does the sender get its pages
    /// back (a zero-copy success).
    pub(crate) fn prepare_to_guest(&mut self) -> Result<SkbInfo> {
        let skb = self.as_raw();
        // SAFETY: valid skb and shared info (`skb_has_frag_list()`).
        if !unsafe { (*self.shinfo()).frag_list }.is_null() {
            // SAFETY: valid skb.
            let data_len = kernel::ffi::c_int::try_from(unsafe { (*skb).data_len }).map_err(|_| ENOMEM)?;
            // SAFETY: exclusively owned skb; pulling all paged data into the
            // head is `__skb_linearize()`.
            if unsafe { b::__pskb_pull_tail(skb, data_len) }.is_null() {
                return Err(ENOMEM);
            }
        }
        // SAFETY: valid skb; a bitfield of the headers group.
        let ip_summed = u32::from(unsafe { SkbHeaders::ip_summed_raw(self.headers()) });
        let cb = self.rx_cb();
        Ok(SkbInfo {
            len: self.len(),
            gso: self.gso(),
            csum_blank: ip_summed == b::CHECKSUM_PARTIAL,
            data_validated: ip_summed == b::CHECKSUM_PARTIAL || ip_summed == b::CHECKSUM_UNNECESSARY,
            guest_hash: (cb.hash_valid != 0).then_some(GuestHash {
                value: cb.hash,
                ipv4: cb.hash_ipv4 != 0,
                l4: cb.hash_l4 != 0,
            }),
        })
    }

    /// The addresses and TCP ports Toeplitz hashing covers, as
    /// xen-netback's `xenvif_set_skb_hash`: IPv4/IPv6 packets only, ports
    /// only for TCP that is not a fragment; `None` for other packets or when
    /// the flow dissector finds no addresses of the packet's family.
    pub(crate) fn flow(&self) -> Option<Flow> {
        // SAFETY: valid skb.
        let protocol = u16::from_be(unsafe { (*self.headers()).protocol });
        let ipv4 = match u32::from(protocol) {
            b::ETH_P_IP => true,
            b::ETH_P_IPV6 => false,
            _ => return None,
        };
        let mut keys = b::flow_keys::default();
        // SAFETY: valid skb (the stack's, borrowed for the call); the full
        // dissector fills a zeroed `flow_keys` (`skb_flow_dissect_flow_keys()`).
        let found = unsafe {
            b::__skb_flow_dissect(
                null(),
                self.as_raw(),
                &raw mut b::flow_keys_dissector,
                (&raw mut keys).cast::<c_void>(),
                null(),
                0,
                0,
                0,
                0,
            )
        };
        if !found {
            return None;
        }
        let tcp = keys.basic.ip_proto == ffi::NBRS_IPPROTO_TCP;
        let fragment = keys.control.flags & b::flow_dissector_ctrl_flags_FLOW_DIS_IS_FRAGMENT != 0;
        // SAFETY: plain integers of a union the dissector wrote (or zeroed).
        let ports = unsafe { keys.ports.__bindgen_anon_1.__bindgen_anon_1 };
        let ports = (tcp && !fragment).then_some((u16::from_be(ports.src), u16::from_be(ports.dst)));
        let addr_type = u32::from(keys.control.addr_type);
        if ipv4 {
            if addr_type != b::flow_dissector_key_id_FLOW_DISSECTOR_KEY_IPV4_ADDRS {
                return None;
            }
            // SAFETY: addr_type says the IPv4 member is valid (plain integers).
            let a = unsafe { keys.addrs.__bindgen_anon_1.v4addrs };
            Some(Flow::V4 { src: a.src.to_ne_bytes(), dst: a.dst.to_ne_bytes(), ports })
        } else {
            if addr_type != b::flow_dissector_key_id_FLOW_DISSECTOR_KEY_IPV6_ADDRS {
                return None;
            }
            // SAFETY: addr_type says the IPv6 member is valid (plain bytes).
            let (src, dst) = unsafe {
                let a = keys.addrs.__bindgen_anon_1.v6addrs;
                (a.src.in6_u.u6_addr8, a.dst.in6_u.u6_addr8)
            };
            Some(Flow::V6 { src, dst, ports })
        }
    }

    /// `__skb_set_hash()`: hash value and its `sw_hash`/`l4_hash` bits.
    fn set_hash_bits(&mut self, value: u32, sw: bool, l4: bool) {
        let h = self.headers();
        // SAFETY: an skb we own, or the stack's in ndo_select_queue before
        // it is queued anywhere: nobody else writes these fields now.
        unsafe {
            SkbHeaders::set_l4_hash_raw(h, u8::from(l4));
            SkbHeaders::set_sw_hash_raw(h, u8::from(sw));
            (*h).hash = value;
        }
    }

    /// Sets a software hash (`__skb_set_sw_hash()`), or clears the hash
    /// (`skb_clear_hash()`).
    pub(crate) fn set_sw_hash(&mut self, hash: Option<(u32, bool)>) {
        match hash {
            Some((value, l4)) => self.set_hash_bits(value, true, l4),
            None => self.set_hash_bits(0, false, false),
        }
    }

    /// `skb_set_hash()` with an L4 or L3 hash type (a frontend's TX hash
    /// extra).
    pub(crate) fn set_hash(&mut self, value: u32, l4: bool) {
        self.set_hash_bits(value, false, l4);
    }

    /// `skb_get_hash_raw()`.
    pub(crate) fn hash_raw(&self) -> u32 {
        // SAFETY: valid skb.
        unsafe { (*self.headers()).hash }
    }

    /// Records the jiffy by which the packet must have left the RX queue
    /// and the hash its RX hash extra carries (if any).
    pub(crate) fn stamp_rx(&mut self, expires: u64, hash: Option<GuestHash>) {
        let h = hash.unwrap_or(GuestHash { value: 0, ipv4: false, l4: false });
        let cb = RxCb {
            expires: expires as kernel::ffi::c_ulong,
            hash: h.value,
            hash_valid: u8::from(hash.is_some()),
            hash_l4: u8::from(h.l4),
            hash_ipv4: u8::from(h.ipv4),
        };
        // SAFETY: exclusively owned skb: the driver owns `cb` until it gives
        // the packet up; size and alignment checked at compile time.
        unsafe { self.cb().cast::<RxCb>().write(cb) }
    }

    /// The control block [`Self::stamp_rx`] wrote.
    fn rx_cb(&self) -> RxCb {
        // SAFETY: valid skb; any bytes are a valid `RxCb`; size and
        // alignment checked at compile time.
        unsafe { self.cb().cast::<RxCb>().read() }
    }

    /// Frees the skb as successfully consumed (`dev_consume_skb_any()`).
    pub(crate) fn consume(self) {
        // SAFETY: we own the skb and give it up; any context.
        unsafe { ffi::dev_kfree_skb_any_reason(self.into_raw(), b::skb_drop_reason_SKB_CONSUMED) }
    }
}

impl Drop for SkBuff {
    fn drop(&mut self) {
        // SAFETY: we own the skb (`dev_kfree_skb_any()`); any context.
        unsafe { ffi::dev_kfree_skb_any_reason(self.as_raw(), b::skb_drop_reason_SKB_DROP_REASON_NOT_SPECIFIED) }
    }
}

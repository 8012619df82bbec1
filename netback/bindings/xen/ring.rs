// SPDX-License-Identifier: GPL-2.0
//! A shared ring page: the frontend's, mapped into the backend's address
//! space ([`MappedRing::map`]), or the frontend's own, granted to the
//! backend ([`MappedRing::grant`], netfront-rs).
//!
//! The other domain writes this memory concurrently. Every access is a volatile
//! copy of a small fixed-size value, bounds-checked against the page, so the
//! caller gets a private snapshot: code above never dereferences ring memory
//! and therefore cannot read a field twice.

use super::xenbus::XenbusDevice;
use crate::bindings::ffi;
use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Size of one Xen page (x86: equal to PAGE_SIZE).
pub(crate) const XEN_PAGE_SIZE: usize = 4096;

/// Who provides a ring page.
enum Owner {
    /// The frontend's grant, mapped here with `xenbus_map_ring_valloc`.
    Peer,
    /// Our page, granted to the backend as this reference
    /// (`xenbus_setup_ring`).
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    Own(u32),
}

/// One shared ring page, mapped from the frontend or granted to the
/// backend; unmapped, or its grant ended, on drop.
///
/// # Invariants
///
/// `vaddr` maps `XEN_PAGE_SIZE` bytes until `Drop` releases them.
pub(crate) struct MappedRing {
    dev: ARef<XenbusDevice>,
    vaddr: NonNull<u8>,
    owner: Owner,
}

// SAFETY: the mapping may be used and unmapped from any thread.
unsafe impl Send for MappedRing {}
// SAFETY: all accesses are volatile copies; concurrent accesses are races
// with the guest anyway, which the protocol tolerates by design.
unsafe impl Sync for MappedRing {}

impl MappedRing {
    /// Maps the frontend's grant `gref` (`xenbus_map_ring_valloc`).
    pub(crate) fn map(dev: &XenbusDevice, gref: u32) -> Result<Self> {
        let mut grefs: [ffi::grant_ref_t; 1] = [gref];
        let mut vaddr: *mut c_void = core::ptr::null_mut();
        // SAFETY: live device; an array of one grant reference and a valid
        // out pointer.
        to_result(unsafe { ffi::xenbus_map_ring_valloc(dev.as_raw(), grefs.as_mut_ptr(), 1, &mut vaddr) })?;
        let vaddr = NonNull::new(vaddr.cast::<u8>()).ok_or(ENOMEM)?;
        Ok(Self { dev: dev.into(), vaddr, owner: Owner::Peer })
    }

    /// A zeroed page of ours granted to the backend (`xenbus_setup_ring`),
    /// with the ring header's event indices at 1 (`SHARED_RING_INIT`).
    /// Returns the ring and the grant reference to publish.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn grant(dev: &XenbusDevice) -> Result<(Self, u32)> {
        let mut grefs: [ffi::grant_ref_t; 1] = [0];
        let mut vaddr: *mut c_void = core::ptr::null_mut();
        // SAFETY: live device; an array of one grant reference and a valid
        // out pointer. On failure nothing stays allocated or granted.
        to_result(unsafe {
            ffi::xenbus_setup_ring(dev.as_raw(), kernel::bindings::GFP_KERNEL, &mut vaddr, 1, grefs.as_mut_ptr())
        })?;
        let vaddr = NonNull::new(vaddr.cast::<u8>()).ok_or(ENOMEM)?;
        let ring = Self { dev: dev.into(), vaddr, owner: Owner::Own(grefs[0]) };
        ring.write_u32(SRING_REQ_EVENT_OFFSET, 1);
        ring.write_u32(SRING_RSP_EVENT_OFFSET, 1);
        Ok((ring, grefs[0]))
    }

    /// Copies `N` bytes at `offset` out of the page, one volatile 32-bit
    /// load per 4 bytes (a volatile `[u8; N]` read compiles to N byte
    /// loads: a ring entry is a few words, read once each). Every ring
    /// entry is a multiple of 4 bytes at a 4-byte aligned offset; other
    /// ranges, and ranges outside the page, read as zeros.
    pub(crate) fn read<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut out = [0; N];
        if N % 4 != 0 || offset % 4 != 0 || offset.checked_add(N).is_none_or(|end| end > XEN_PAGE_SIZE) {
            return out;
        }
        for (i, word) in out.chunks_exact_mut(4).enumerate() {
            // SAFETY: 4-byte aligned (page-aligned base, offset checked
            // above) and in bounds of the mapped page.
            let w = unsafe { self.vaddr.as_ptr().add(offset + 4 * i).cast::<u32>().read_volatile() };
            word.copy_from_slice(&w.to_ne_bytes());
        }
        out
    }

    /// Copies `bytes` into the page at `offset`, one volatile 32-bit store
    /// per 4 bytes (as [`MappedRing::read`]). Other ranges, and ranges
    /// outside the page, are ignored.
    pub(crate) fn write<const N: usize>(&self, offset: usize, bytes: [u8; N]) {
        if N % 4 != 0 || offset % 4 != 0 || offset.checked_add(N).is_none_or(|end| end > XEN_PAGE_SIZE) {
            return;
        }
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let w = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]);
            // SAFETY: 4-byte aligned and in bounds of the mapped page
            // (checked above).
            unsafe { self.vaddr.as_ptr().add(offset + 4 * i).cast::<u32>().write_volatile(w) }
        }
    }

    /// Reads a naturally aligned u32 (ring indices) in one load
    /// ([`MappedRing::read`] loads whole words: an index the guest bumps
    /// across a byte carry, 0x1ff -> 0x200, read byte by byte reads torn,
    /// 0x2ff, which once looked like an impossible request count and
    /// disabled healthy VIFs under load).
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.read::<4>(offset))
    }

    /// Writes a naturally aligned u32 (ring indices) in one store, so the
    /// guest never sees a torn index.
    pub(crate) fn write_u32(&self, offset: usize, v: u32) {
        self.write::<4>(offset, v.to_le_bytes())
    }
}

impl Drop for MappedRing {
    fn drop(&mut self) {
        match self.owner {
            Owner::Peer => {
                // SAFETY: mapped in `map` on this device, unmapped once. A
                // failure is logged by xenbus and leaves nothing to retry.
                let _ = unsafe { ffi::xenbus_unmap_ring_vfree(self.dev.as_raw(), self.vaddr.as_ptr().cast()) };
            }
            Owner::Own(gref) => {
                let mut grefs: [ffi::grant_ref_t; 1] = [gref];
                let mut vaddr: *mut c_void = self.vaddr.as_ptr().cast();
                // SAFETY: set up in `grant`, torn down once: ends the grant
                // (deferred while the backend still maps it) and frees the
                // page once it is unmapped.
                unsafe { ffi::xenbus_teardown_ring(&mut vaddr, 1, grefs.as_mut_ptr()) };
            }
        }
    }
}

use crate::netif::ring::SharedRing;
use crate::netif::wire::{
    CtrlRequest, CtrlResponse, RxRequest, RxResponse, TxRequest, TxResponse, CTRL_RING_ENTRY_SIZE, RX_RING_ENTRY_SIZE,
    SRING_HEADER_SIZE, SRING_REQ_EVENT_OFFSET, SRING_REQ_PROD_OFFSET, SRING_RSP_EVENT_OFFSET, SRING_RSP_PROD_OFFSET,
    TX_RING_ENTRY_SIZE, XEN_NETIF_CTRL_RING_SIZE, XEN_NETIF_RX_RING_SIZE, XEN_NETIF_TX_RING_SIZE,
};

impl MappedRing {
    fn entry_offset(entry_size: u32, slot: u32) -> usize {
        SRING_HEADER_SIZE as usize + entry_size as usize * slot as usize
    }

    fn req_prod_acquire(&self) -> u32 {
        let v = self.read_u32(SRING_REQ_PROD_OFFSET);
        // Requests below req_prod must be read after req_prod itself.
        crate::bindings::virt_rmb();
        v
    }

    fn publish_rsp_prod(&self, v: u32) {
        // Responses must be visible before the index that publishes them.
        crate::bindings::virt_wmb();
        self.write_u32(SRING_RSP_PROD_OFFSET, v);
    }

    fn rsp_prod_acquire(&self) -> u32 {
        let v = self.read_u32(SRING_RSP_PROD_OFFSET);
        // Responses below rsp_prod must be read after rsp_prod itself.
        crate::bindings::virt_rmb();
        v
    }

    fn publish_req_prod(&self, v: u32) {
        // Requests must be visible before the index that publishes them.
        crate::bindings::virt_wmb();
        self.write_u32(SRING_REQ_PROD_OFFSET, v);
    }
}

/// The layout of one kind of shared ring: entry count, entry size and how
/// an entry is read (request) and written (response). Each entry is copied
/// with one volatile access of its whole size.
pub(crate) trait RingLayout {
    /// Request type.
    type Request: Copy;
    /// Response type.
    type Response: Copy;
    /// Entries (`XEN_NETIF_*_RING_SIZE`).
    const SIZE: u32;
    /// Bytes per entry (union of request and response).
    const ENTRY_SIZE: u32;
    /// Reads the request at byte `offset` of the page.
    fn read_request(ring: &MappedRing, offset: usize) -> Self::Request;
    /// Writes the response at byte `offset` of the page.
    fn write_response(ring: &MappedRing, offset: usize, rsp: Self::Response);
    /// Reads the response at byte `offset` of the page (frontend side).
    fn read_response(ring: &MappedRing, offset: usize) -> Self::Response;
    /// Writes the request at byte `offset` of the page (frontend side).
    fn write_request(ring: &MappedRing, offset: usize, req: Self::Request);
}

/// A mapped shared ring of layout `L`, for the protocol core.
pub(crate) struct SharedRingOf<L: RingLayout> {
    page: MappedRing,
    _layout: core::marker::PhantomData<L>,
}

impl<L: RingLayout> SharedRingOf<L> {
    /// The ring on a mapped page.
    pub(crate) fn new(page: MappedRing) -> Self {
        Self { page, _layout: core::marker::PhantomData }
    }
}

impl<L: RingLayout> SharedRing for SharedRingOf<L> {
    type Request = L::Request;
    type Response = L::Response;

    fn size(&self) -> u32 {
        L::SIZE
    }

    fn req_prod_acquire(&self) -> u32 {
        self.page.req_prod_acquire()
    }

    fn copy_request(&self, slot: u32) -> L::Request {
        L::read_request(&self.page, MappedRing::entry_offset(L::ENTRY_SIZE, slot))
    }

    fn write_response(&mut self, slot: u32, rsp: L::Response) {
        L::write_response(&self.page, MappedRing::entry_offset(L::ENTRY_SIZE, slot), rsp)
    }

    fn rsp_prod(&self) -> u32 {
        self.page.read_u32(SRING_RSP_PROD_OFFSET)
    }

    fn publish_rsp_prod(&mut self, rsp_prod: u32) {
        self.page.publish_rsp_prod(rsp_prod)
    }

    fn rsp_event(&self) -> u32 {
        self.page.read_u32(SRING_RSP_EVENT_OFFSET)
    }

    fn set_req_event(&mut self, req_event: u32) {
        self.page.write_u32(SRING_REQ_EVENT_OFFSET, req_event)
    }

    fn full_barrier(&self) {
        crate::bindings::virt_mb()
    }
}

impl<L: RingLayout> crate::netif::front_ring::FrontSharedRing for SharedRingOf<L> {
    type Request = L::Request;
    type Response = L::Response;

    fn size(&self) -> u32 {
        L::SIZE
    }

    fn write_request(&mut self, slot: u32, req: L::Request) {
        L::write_request(&self.page, MappedRing::entry_offset(L::ENTRY_SIZE, slot), req)
    }

    fn publish_req_prod(&mut self, req_prod: u32) {
        self.page.publish_req_prod(req_prod)
    }

    fn req_event(&self) -> u32 {
        self.page.read_u32(SRING_REQ_EVENT_OFFSET)
    }

    fn rsp_prod_acquire(&self) -> u32 {
        self.page.rsp_prod_acquire()
    }

    fn copy_response(&self, slot: u32) -> L::Response {
        L::read_response(&self.page, MappedRing::entry_offset(L::ENTRY_SIZE, slot))
    }

    fn set_rsp_event(&mut self, rsp_event: u32) {
        self.page.write_u32(SRING_RSP_EVENT_OFFSET, rsp_event)
    }

    fn full_barrier(&self) {
        crate::bindings::virt_mb()
    }
}

/// `xen_netif_tx_sring`.
pub(crate) struct TxLayout;

impl RingLayout for TxLayout {
    type Request = TxRequest;
    type Response = TxResponse;
    const SIZE: u32 = XEN_NETIF_TX_RING_SIZE;
    const ENTRY_SIZE: u32 = TX_RING_ENTRY_SIZE;

    fn read_request(ring: &MappedRing, offset: usize) -> TxRequest {
        let b = ring.read::<12>(offset);
        TxRequest {
            gref: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            offset: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            id: u16::from_ne_bytes([b[8], b[9]]),
            size: u16::from_ne_bytes([b[10], b[11]]),
        }
    }

    fn write_response(ring: &MappedRing, offset: usize, rsp: TxResponse) {
        let id = rsp.id.to_ne_bytes();
        let st = rsp.status.to_ne_bytes();
        ring.write::<4>(offset, [id[0], id[1], st[0], st[1]]);
    }

    fn read_response(ring: &MappedRing, offset: usize) -> TxResponse {
        let b = ring.read::<4>(offset);
        TxResponse { id: u16::from_ne_bytes([b[0], b[1]]), status: i16::from_ne_bytes([b[2], b[3]]) }
    }

    fn write_request(ring: &MappedRing, offset: usize, req: TxRequest) {
        let g = req.gref.to_ne_bytes();
        let o = req.offset.to_ne_bytes();
        let f = req.flags.to_ne_bytes();
        let i = req.id.to_ne_bytes();
        let s = req.size.to_ne_bytes();
        ring.write::<12>(offset, [g[0], g[1], g[2], g[3], o[0], o[1], f[0], f[1], i[0], i[1], s[0], s[1]]);
    }
}

/// `xen_netif_rx_sring`.
pub(crate) struct RxLayout;

impl RingLayout for RxLayout {
    type Request = RxRequest;
    type Response = RxResponse;
    const SIZE: u32 = XEN_NETIF_RX_RING_SIZE;
    const ENTRY_SIZE: u32 = RX_RING_ENTRY_SIZE;

    fn read_request(ring: &MappedRing, offset: usize) -> RxRequest {
        let b = ring.read::<8>(offset);
        RxRequest {
            id: u16::from_ne_bytes([b[0], b[1]]),
            pad: u16::from_ne_bytes([b[2], b[3]]),
            gref: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn write_response(ring: &MappedRing, offset: usize, rsp: RxResponse) {
        let id = rsp.id.to_ne_bytes();
        let off = rsp.offset.to_ne_bytes();
        let fl = rsp.flags.to_ne_bytes();
        let st = rsp.status.to_ne_bytes();
        ring.write::<8>(offset, [id[0], id[1], off[0], off[1], fl[0], fl[1], st[0], st[1]]);
    }

    fn read_response(ring: &MappedRing, offset: usize) -> RxResponse {
        let b = ring.read::<8>(offset);
        RxResponse {
            id: u16::from_ne_bytes([b[0], b[1]]),
            offset: u16::from_ne_bytes([b[2], b[3]]),
            flags: u16::from_ne_bytes([b[4], b[5]]),
            status: i16::from_ne_bytes([b[6], b[7]]),
        }
    }

    fn write_request(ring: &MappedRing, offset: usize, req: RxRequest) {
        let id = req.id.to_ne_bytes();
        let p = req.pad.to_ne_bytes();
        let g = req.gref.to_ne_bytes();
        ring.write::<8>(offset, [id[0], id[1], p[0], p[1], g[0], g[1], g[2], g[3]]);
    }
}

/// `xen_netif_ctrl_sring`.
pub(crate) struct CtrlLayout;

impl RingLayout for CtrlLayout {
    type Request = CtrlRequest;
    type Response = CtrlResponse;
    const SIZE: u32 = XEN_NETIF_CTRL_RING_SIZE;
    const ENTRY_SIZE: u32 = CTRL_RING_ENTRY_SIZE;

    fn read_request(ring: &MappedRing, offset: usize) -> CtrlRequest {
        let b = ring.read::<16>(offset);
        CtrlRequest {
            id: u16::from_ne_bytes([b[0], b[1]]),
            kind: u16::from_ne_bytes([b[2], b[3]]),
            data: [
                u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
                u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
            ],
        }
    }

    fn write_response(ring: &MappedRing, offset: usize, rsp: CtrlResponse) {
        let id = rsp.id.to_ne_bytes();
        let k = rsp.kind.to_ne_bytes();
        let st = rsp.status.to_ne_bytes();
        let d = rsp.data.to_ne_bytes();
        ring.write::<12>(offset, [id[0], id[1], k[0], k[1], st[0], st[1], st[2], st[3], d[0], d[1], d[2], d[3]]);
    }

    fn read_response(ring: &MappedRing, offset: usize) -> CtrlResponse {
        let b = ring.read::<12>(offset);
        CtrlResponse {
            id: u16::from_ne_bytes([b[0], b[1]]),
            kind: u16::from_ne_bytes([b[2], b[3]]),
            status: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            data: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    fn write_request(ring: &MappedRing, offset: usize, req: CtrlRequest) {
        let id = req.id.to_ne_bytes();
        let k = req.kind.to_ne_bytes();
        let [d0, d1, d2] = req.data.map(u32::to_ne_bytes);
        ring.write::<16>(
            offset,
            [
                id[0], id[1], k[0], k[1], d0[0], d0[1], d0[2], d0[3], d1[0], d1[1], d1[2], d1[3], d2[0], d2[1], d2[2],
                d2[3],
            ],
        );
    }
}

/// The guest TX ring for the protocol core.
pub(crate) type TxSharedRing = SharedRingOf<TxLayout>;
/// The guest RX ring for the protocol core.
pub(crate) type RxSharedRing = SharedRingOf<RxLayout>;
/// The control ring for the protocol core.
pub(crate) type CtrlSharedRing = SharedRingOf<CtrlLayout>;

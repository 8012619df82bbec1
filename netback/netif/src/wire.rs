//! Wire layout of the netif protocol (`include/xen/interface/io/netif.h`).
//!
//! Every struct here is `#[repr(C)]` with exactly the layout of its C
//! counterpart so the driver shell can copy a ring slot into it with one
//! volatile read. Sizes and offsets are checked by `const` assertions at the
//! bottom of this file (they run at every build) and, when the kernel headers
//! are present, against bindgen's view of `netif.h` by `tests/bindgen_layout.rs`.
//!
//! Multi-byte fields are in the CPU's native byte order, as on the ring (both
//! ends of a Xen ring run on the same machine).

use core::mem::{offset_of, size_of};

/// Size of a Xen page: the unit of grants and of netif buffers.
pub const XEN_PAGE_SIZE: u32 = 4096;

/// Minimum number of slots a packet may use that every backend must accept.
pub const XEN_NETIF_NR_SLOTS_MIN: u32 = 18;

/// Largest guest-TX packet: the first slot's `size` field is 16 bits wide.
pub const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

/// Largest XDP headroom a frontend may request (larger values are clamped).
pub const XEN_NETIF_MAX_XDP_HEADROOM: u16 = 0x7FFF;

/// Ethernet header length: the smallest first-slot payload netback accepts.
pub const ETH_HLEN: u16 = 14;

// ---- TX request flags -------------------------------------------------------

/// TX: the protocol checksum field is blank (checksum offload requested).
pub const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// TX: the packet's checksum has been validated.
pub const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// TX: another continuation slot follows this one.
pub const NETTXF_MORE_DATA: u16 = 1 << 2;
/// TX: one or more `netif_extra_info` slots follow the first slot.
pub const NETTXF_EXTRA_INFO: u16 = 1 << 3;

// ---- RX response flags ------------------------------------------------------

/// RX: the packet's checksum has been validated.
pub const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// RX: the protocol checksum field is blank.
pub const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// RX: another data slot of this packet follows.
pub const NETRXF_MORE_DATA: u16 = 1 << 2;
/// RX: extra-info slots follow the first data slot.
pub const NETRXF_EXTRA_INFO: u16 = 1 << 3;
/// RX: GSO prefix descriptor (deprecated, never produced by netback).
pub const NETRXF_GSO_PREFIX: u16 = 1 << 4;

// ---- Response statuses ------------------------------------------------------

/// Response status: packet dropped.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// Response status: error.
pub const NETIF_RSP_ERROR: i16 = -1;
/// Response status: success.
pub const NETIF_RSP_OKAY: i16 = 0;
/// Response status for a slot that carried an extra-info segment.
pub const NETIF_RSP_NULL: i16 = 1;

// ---- Extra info -------------------------------------------------------------

/// Extra type 0: never valid on the wire.
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// Extra type: GSO parameters.
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// Extra type: add a multicast address to the filter.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// Extra type: remove a multicast address from the filter.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// Extra type: packet hash value.
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// Extra type: XDP headroom (Linux's copy of netif.h).
pub const XEN_NETIF_EXTRA_TYPE_XDP: u8 = 5;
/// One past the largest valid extra type.
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 6;

/// Extra-info flag: another extra-info slot follows.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;

/// GSO type: none.
pub const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
/// GSO type: TCP over IPv4.
pub const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
/// GSO type: TCP over IPv6.
pub const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

// ---- Control ring -----------------------------------------------------------

/// Control request type 0: invalid.
pub const XEN_NETIF_CTRL_TYPE_INVALID: u16 = 0;
/// Control request: get the supported hash types.
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS: u16 = 1;
/// Control request: set the enabled hash types.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS: u16 = 2;
/// Control request: set the hash key from a granted page.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY: u16 = 3;
/// Control request: get the largest supported mapping size.
pub const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE: u16 = 4;
/// Control request: set the mapping size (clears the mapping).
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE: u16 = 5;
/// Control request: set mapping entries from a granted page.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING: u16 = 6;
/// Control request: select the hash algorithm.
pub const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM: u16 = 7;
/// Control request: how many grefs a queue may keep staged (Xen's netif.h, not Linux's).
pub const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE: u16 = 8;
/// Control request: map a list of grefs for a queue (all or nothing).
pub const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING: u16 = 9;
/// Control request: unmap a list of grefs of a queue (a status per entry).
pub const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING: u16 = 10;
/// `struct xen_netif_gref` flag: map the page read-only.
pub const XEN_NETIF_CTRLF_GREF_READONLY: u16 = 1;

/// Control status: success.
pub const XEN_NETIF_CTRL_STATUS_SUCCESS: u32 = 0;
/// Control status: request type not supported.
pub const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED: u32 = 1;
/// Control status: a parameter is invalid.
pub const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER: u32 = 2;
/// Control status: the supplied buffer is too small.
pub const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW: u32 = 3;

/// Hash algorithm: none (queue selection left to the stack).
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE: u32 = 0;
/// Hash algorithm: Toeplitz.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ: u32 = 1;

/// Hash type bit number: IPv4 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT: u8 = 0;
/// Hash type bit number: IPv4 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT: u8 = 1;
/// Hash type bit number: IPv6 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT: u8 = 2;
/// Hash type bit number: IPv6 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT: u8 = 3;
/// Hash type flag: IPv4 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT;
/// Hash type flag: IPv4 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT;
/// Hash type flag: IPv6 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT;
/// Hash type flag: IPv6 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u32 = 1 << XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT;
/// All hash types netback supports.
pub const XEN_NETIF_CTRL_HASH_TYPES_ALL: u32 = XEN_NETIF_CTRL_HASH_TYPE_IPV4
    | XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP
    | XEN_NETIF_CTRL_HASH_TYPE_IPV6
    | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

// ---- Shared ring geometry ---------------------------------------------------

/// Bytes before the first entry of a shared ring page: `req_prod`,
/// `req_event`, `rsp_prod`, `rsp_event` and 48 bytes of padding.
pub const SRING_HEADER_SIZE: u32 = 64;

/// Offset of `req_prod` in the shared ring page.
pub const SRING_REQ_PROD_OFFSET: usize = 0;
/// Offset of `req_event` in the shared ring page.
pub const SRING_REQ_EVENT_OFFSET: usize = 4;
/// Offset of `rsp_prod` in the shared ring page.
pub const SRING_RSP_PROD_OFFSET: usize = 8;
/// Offset of `rsp_event` in the shared ring page.
pub const SRING_RSP_EVENT_OFFSET: usize = 12;

/// Number of entries of a one-page ring whose entries are `entry_size` bytes:
/// `__CONST_RING_SIZE`, i.e. what fits after the header rounded down to a
/// power of two.
pub const fn ring_entries(page_size: u32, entry_size: u32) -> u32 {
    let fit = match page_size.saturating_sub(SRING_HEADER_SIZE).checked_div(entry_size) {
        Some(f) => f,
        None => 0,
    };
    if fit == 0 {
        0
    } else {
        1 << (31 - fit.leading_zeros())
    }
}

/// Size of one guest-TX ring entry (union of request and response).
pub const TX_RING_ENTRY_SIZE: u32 = max_u32(size_of::<TxRequest>() as u32, size_of::<TxResponse>() as u32);
/// Size of one guest-RX ring entry (union of request and response).
pub const RX_RING_ENTRY_SIZE: u32 = max_u32(size_of::<RxRequest>() as u32, size_of::<RxResponse>() as u32);
/// Size of one control ring entry (union of request and response).
pub const CTRL_RING_ENTRY_SIZE: u32 = max_u32(size_of::<CtrlRequest>() as u32, size_of::<CtrlResponse>() as u32);

/// Entries of the guest-TX ring on a 4 KiB page (`XEN_NETIF_TX_RING_SIZE`).
pub const XEN_NETIF_TX_RING_SIZE: u32 = ring_entries(XEN_PAGE_SIZE, TX_RING_ENTRY_SIZE);
/// Entries of the guest-RX ring on a 4 KiB page (`XEN_NETIF_RX_RING_SIZE`).
pub const XEN_NETIF_RX_RING_SIZE: u32 = ring_entries(XEN_PAGE_SIZE, RX_RING_ENTRY_SIZE);
/// Entries of the control ring on a 4 KiB page (`XEN_NETIF_CTRL_RING_SIZE`).
pub const XEN_NETIF_CTRL_RING_SIZE: u32 = ring_entries(XEN_PAGE_SIZE, CTRL_RING_ENTRY_SIZE);

const fn max_u32(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

// ---- Ring entries -----------------------------------------------------------

/// `struct xen_netif_tx_request`: one guest-TX slot as posted by the frontend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// Grant reference of the page holding this slot's data.
    pub gref: u32,
    /// Offset of the data within the granted page.
    pub offset: u16,
    /// `NETTXF_*` flags.
    pub flags: u16,
    /// Echoed in the response.
    pub id: u16,
    /// Bytes in this slot; for the first slot of a packet, the whole packet.
    pub size: u16,
}

impl TxRequest {
    /// Whether `flag` (a `NETTXF_*` bit) is set.
    pub const fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// `struct xen_netif_tx_response`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxResponse {
    /// The `id` of the request answered.
    pub id: u16,
    /// A `NETIF_RSP_*` value.
    pub status: i16,
}

/// `struct xen_netif_rx_request`: a buffer posted by the frontend.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxRequest {
    /// Echoed in the response (Linux netfront ignores it and uses the index).
    pub id: u16,
    /// Padding.
    pub pad: u16,
    /// Grant reference of the receive buffer page.
    pub gref: u32,
}

/// `struct xen_netif_rx_response`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxResponse {
    /// The `id` of the request answered.
    pub id: u16,
    /// Offset of the data in the buffer page.
    pub offset: u16,
    /// `NETRXF_*` flags.
    pub flags: u16,
    /// Byte count when non-negative, else a negative `NETIF_RSP_*`/GNTST error.
    pub status: i16,
}

/// `struct xen_netif_extra_info` in raw form: 8 bytes that occupy a TX
/// request slot (guest TX) or an RX response slot (guest RX).
#[repr(C, align(2))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtraInfoRaw {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub kind: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The union `u`, as bytes in memory order.
    pub payload: [u8; 6],
}

/// GSO type carried by a GSO extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsoType {
    /// TCP over IPv4 (`XEN_NETIF_GSO_TYPE_TCPV4`).
    TcpV4,
    /// TCP over IPv6 (`XEN_NETIF_GSO_TYPE_TCPV6`).
    TcpV6,
}

impl GsoType {
    /// Parses a wire GSO type; `None` for NONE and unknown values.
    pub const fn from_wire(v: u8) -> Option<Self> {
        match v {
            XEN_NETIF_GSO_TYPE_TCPV4 => Some(GsoType::TcpV4),
            XEN_NETIF_GSO_TYPE_TCPV6 => Some(GsoType::TcpV6),
            _ => None,
        }
    }

    /// The wire value.
    pub const fn to_wire(self) -> u8 {
        match self {
            GsoType::TcpV4 => XEN_NETIF_GSO_TYPE_TCPV4,
            GsoType::TcpV6 => XEN_NETIF_GSO_TYPE_TCPV6,
        }
    }
}

/// A parsed `netif_extra_info` (without its MORE flag).
///
/// Parsing never fails for a valid type: field values (GSO size 0, unknown GSO
/// type, unknown hash type) are validated where they are used, as the C driver
/// does, so the exact failure can be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraInfo {
    /// GSO parameters: MSS, `XEN_NETIF_GSO_TYPE_*` (unvalidated) and features.
    Gso {
        /// Segment size (MSS).
        size: u16,
        /// Raw `XEN_NETIF_GSO_TYPE_*`.
        gso_type: u8,
        /// GSO feature bits (unused by Linux).
        features: u16,
    },
    /// Add a multicast MAC address.
    McastAdd {
        /// The MAC address.
        addr: [u8; 6],
    },
    /// Remove a multicast MAC address.
    McastDel {
        /// The MAC address.
        addr: [u8; 6],
    },
    /// Packet hash.
    Hash {
        /// Hash type bit number (`XEN_NETIF_CTRL_HASH_TYPE_*_BIT`), unvalidated.
        hash_type: u8,
        /// Hash algorithm (`XEN_NETIF_CTRL_HASH_ALGORITHM_*`).
        algorithm: u8,
        /// The 32-bit hash value.
        value: u32,
    },
    /// XDP headroom the backend leaves before RX data.
    Xdp {
        /// Headroom in bytes.
        headroom: u16,
    },
}

impl ExtraInfo {
    /// The `XEN_NETIF_EXTRA_TYPE_*` value of this extra.
    pub const fn kind(&self) -> u8 {
        match self {
            ExtraInfo::Gso { .. } => XEN_NETIF_EXTRA_TYPE_GSO,
            ExtraInfo::McastAdd { .. } => XEN_NETIF_EXTRA_TYPE_MCAST_ADD,
            ExtraInfo::McastDel { .. } => XEN_NETIF_EXTRA_TYPE_MCAST_DEL,
            ExtraInfo::Hash { .. } => XEN_NETIF_EXTRA_TYPE_HASH,
            ExtraInfo::Xdp { .. } => XEN_NETIF_EXTRA_TYPE_XDP,
        }
    }

    /// Encodes into the raw 8-byte form, setting the MORE flag if `more`.
    pub fn to_raw(self, more: bool) -> ExtraInfoRaw {
        let mut p = [0u8; 6];
        match self {
            ExtraInfo::Gso { size, gso_type, features } => {
                let s = size.to_ne_bytes();
                let f = features.to_ne_bytes();
                p = [s[0], s[1], gso_type, 0, f[0], f[1]];
            }
            ExtraInfo::McastAdd { addr } | ExtraInfo::McastDel { addr } => p = addr,
            ExtraInfo::Hash { hash_type, algorithm, value } => {
                let v = value.to_ne_bytes();
                p = [hash_type, algorithm, v[0], v[1], v[2], v[3]];
            }
            ExtraInfo::Xdp { headroom } => {
                let h = headroom.to_ne_bytes();
                p[0] = h[0];
                p[1] = h[1];
            }
        }
        ExtraInfoRaw { kind: self.kind(), flags: if more { XEN_NETIF_EXTRA_FLAG_MORE } else { 0 }, payload: p }
    }
}

impl ExtraInfoRaw {
    /// Whether another extra-info slot follows.
    pub const fn more(&self) -> bool {
        self.flags & XEN_NETIF_EXTRA_FLAG_MORE != 0
    }

    /// Parses the union; `None` when `kind` is NONE or beyond the known types.
    pub fn parse(&self) -> Option<ExtraInfo> {
        let p = self.payload;
        Some(match self.kind {
            XEN_NETIF_EXTRA_TYPE_GSO => ExtraInfo::Gso {
                size: u16::from_ne_bytes([p[0], p[1]]),
                gso_type: p[2],
                features: u16::from_ne_bytes([p[4], p[5]]),
            },
            XEN_NETIF_EXTRA_TYPE_MCAST_ADD => ExtraInfo::McastAdd { addr: p },
            XEN_NETIF_EXTRA_TYPE_MCAST_DEL => ExtraInfo::McastDel { addr: p },
            XEN_NETIF_EXTRA_TYPE_HASH => ExtraInfo::Hash {
                hash_type: p[0],
                algorithm: p[1],
                value: u32::from_ne_bytes([p[2], p[3], p[4], p[5]]),
            },
            XEN_NETIF_EXTRA_TYPE_XDP => ExtraInfo::Xdp { headroom: u16::from_ne_bytes([p[0], p[1]]) },
            _ => return None,
        })
    }

    /// Reinterprets a guest-TX ring slot as an extra-info segment (the ring
    /// entry is a union; extra info occupies its first 8 bytes).
    pub fn from_tx_slot(slot: &TxRequest) -> Self {
        let g = slot.gref.to_ne_bytes();
        let o = slot.offset.to_ne_bytes();
        let f = slot.flags.to_ne_bytes();
        ExtraInfoRaw { kind: g[0], flags: g[1], payload: [g[2], g[3], o[0], o[1], f[0], f[1]] }
    }

    /// The guest-TX slot whose first 8 bytes are this extra (for frontends,
    /// tests and fuzzers).
    pub fn to_tx_slot(self) -> TxRequest {
        let p = self.payload;
        TxRequest {
            gref: u32::from_ne_bytes([self.kind, self.flags, p[0], p[1]]),
            offset: u16::from_ne_bytes([p[2], p[3]]),
            flags: u16::from_ne_bytes([p[4], p[5]]),
            id: 0,
            size: 0,
        }
    }

    /// The guest-RX response slot holding this extra (the RX ring entry is a
    /// union; the backend writes extras where a response would go).
    pub fn to_rx_response(self) -> RxResponse {
        let p = self.payload;
        RxResponse {
            id: u16::from_ne_bytes([self.kind, self.flags]),
            offset: u16::from_ne_bytes([p[0], p[1]]),
            flags: u16::from_ne_bytes([p[2], p[3]]),
            status: i16::from_ne_bytes([p[4], p[5]]),
        }
    }

    /// Reads an extra back out of an RX response slot (frontend view).
    pub fn from_rx_response(rsp: &RxResponse) -> Self {
        let i = rsp.id.to_ne_bytes();
        let o = rsp.offset.to_ne_bytes();
        let f = rsp.flags.to_ne_bytes();
        let s = rsp.status.to_ne_bytes();
        ExtraInfoRaw { kind: i[0], flags: i[1], payload: [o[0], o[1], f[0], f[1], s[0], s[1]] }
    }
}

/// `struct xen_netif_ctrl_request`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlRequest {
    /// Echoed in the response.
    pub id: u16,
    /// `XEN_NETIF_CTRL_TYPE_*`.
    pub kind: u16,
    /// Type-specific arguments.
    pub data: [u32; 3],
}

/// `struct xen_netif_ctrl_response`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlResponse {
    /// The request's `id`.
    pub id: u16,
    /// The request's type.
    pub kind: u16,
    /// `XEN_NETIF_CTRL_STATUS_*`.
    pub status: u32,
    /// Type-specific result.
    pub data: u32,
}

// ---- Layout assertions (run at every build) ---------------------------------

const _: () = {
    assert!(size_of::<TxRequest>() == 12);
    assert!(offset_of!(TxRequest, gref) == 0);
    assert!(offset_of!(TxRequest, offset) == 4);
    assert!(offset_of!(TxRequest, flags) == 6);
    assert!(offset_of!(TxRequest, id) == 8);
    assert!(offset_of!(TxRequest, size) == 10);
    assert!(size_of::<TxResponse>() == 4);
    assert!(offset_of!(TxResponse, status) == 2);
    assert!(size_of::<RxRequest>() == 8);
    assert!(offset_of!(RxRequest, gref) == 4);
    assert!(size_of::<RxResponse>() == 8);
    assert!(offset_of!(RxResponse, offset) == 2);
    assert!(offset_of!(RxResponse, flags) == 4);
    assert!(offset_of!(RxResponse, status) == 6);
    assert!(size_of::<ExtraInfoRaw>() == 8);
    assert!(core::mem::align_of::<ExtraInfoRaw>() == 2);
    assert!(offset_of!(ExtraInfoRaw, flags) == 1);
    assert!(offset_of!(ExtraInfoRaw, payload) == 2);
    assert!(size_of::<CtrlRequest>() == 16);
    assert!(offset_of!(CtrlRequest, kind) == 2);
    assert!(offset_of!(CtrlRequest, data) == 4);
    assert!(size_of::<CtrlResponse>() == 12);
    assert!(offset_of!(CtrlResponse, status) == 4);
    assert!(offset_of!(CtrlResponse, data) == 8);
    assert!(XEN_NETIF_TX_RING_SIZE == 256);
    assert!(XEN_NETIF_RX_RING_SIZE == 256);
    assert!(XEN_NETIF_CTRL_RING_SIZE == 128);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_roundtrip_through_tx_slot_and_rx_response() {
        let extras = [
            ExtraInfo::Gso { size: 1448, gso_type: XEN_NETIF_GSO_TYPE_TCPV4, features: 0 },
            ExtraInfo::McastAdd { addr: [1, 0, 0x5e, 0, 0, 1] },
            ExtraInfo::McastDel { addr: [0x33, 0x33, 0, 0, 0, 1] },
            ExtraInfo::Hash { hash_type: 1, algorithm: 1, value: 0xdead_beef },
            ExtraInfo::Xdp { headroom: 256 },
        ];
        for e in extras {
            for more in [false, true] {
                let raw = e.to_raw(more);
                assert_eq!(raw.more(), more);
                assert_eq!(raw.parse(), Some(e));
                assert_eq!(ExtraInfoRaw::from_tx_slot(&raw.to_tx_slot()), raw);
                assert_eq!(ExtraInfoRaw::from_rx_response(&raw.to_rx_response()), raw);
            }
        }
    }

    #[test]
    fn invalid_extra_types_do_not_parse() {
        for kind in [0u8, 6, 7, 255] {
            assert_eq!(ExtraInfoRaw { kind, flags: 0, payload: [0; 6] }.parse(), None);
        }
    }

    #[test]
    fn ring_entry_counts() {
        assert_eq!(ring_entries(4096, 12), 256);
        assert_eq!(ring_entries(4096, 8), 256);
        assert_eq!(ring_entries(4096, 16), 128);
        assert_eq!(ring_entries(4096, 4096), 0);
        assert_eq!(ring_entries(10, 8), 0);
        assert_eq!(ring_entries(4096, 0), 0);
    }
}

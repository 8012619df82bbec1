//! The Toeplitz hash of netif.h (`xen_netif_toeplitz_hash`) and the flow
//! inputs netback hashes (`xenvif_set_skb_hash`).
//!
//! Inputs are in network byte order: source address, destination address,
//! then source and destination ports, as in the Microsoft RSS specification;
//! the tests check the published RSS verification-suite vectors.

/// Key length netback supports (`XEN_NETBK_MAX_HASH_KEY_SIZE`).
pub const TOEPLITZ_KEY_LEN: usize = 40;

/// The Microsoft RSS verification-suite key (also a common default key).
pub const MS_RSS_KEY: [u8; TOEPLITZ_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// Toeplitz hash of `input` under `key`, bit-exact with
/// `xen_netif_toeplitz_hash` (key bytes past the end of `key` count as 0).
pub fn toeplitz_hash(key: &[u8], input: &[u8]) -> u32 {
    let key_byte = |i: usize| -> u64 { u64::from(key.get(i).copied().unwrap_or(0)) };
    let mut prefix: u64 = 0;
    let mut keyi = 0usize;
    while keyi < 8 {
        prefix = (prefix << 8) | key_byte(keyi);
        keyi += 1;
    }
    let mut hash: u64 = 0;
    for &b in input {
        let mut byte = b;
        for _ in 0..8 {
            if byte & 0x80 != 0 {
                hash ^= prefix;
            }
            prefix <<= 1;
            byte <<= 1;
        }
        prefix |= key_byte(keyi);
        keyi = keyi.saturating_add(1);
    }
    (hash >> 32) as u32
}

/// The header fields of a flow, as the flow dissector provides them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// An IPv4 packet; `ports` is `Some((src, dst))` for a TCP packet that is
    /// not a fragment.
    V4 {
        /// Source address.
        src: [u8; 4],
        /// Destination address.
        dst: [u8; 4],
        /// TCP ports, host order.
        ports: Option<(u16, u16)>,
    },
    /// An IPv6 packet; `ports` as for IPv4.
    V6 {
        /// Source address.
        src: [u8; 16],
        /// Destination address.
        dst: [u8; 16],
        /// TCP ports, host order.
        ports: Option<(u16, u16)>,
    },
}

/// Which fields a computed hash covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashCoverage {
    /// Addresses (`PKT_HASH_TYPE_L3`).
    L3,
    /// Addresses and ports (`PKT_HASH_TYPE_L4`).
    L4,
}

/// Hash of IPv4 addresses.
pub fn hash_ipv4(key: &[u8], src: [u8; 4], dst: [u8; 4]) -> u32 {
    let mut d = [0u8; 8];
    d[..4].copy_from_slice(&src);
    d[4..].copy_from_slice(&dst);
    toeplitz_hash(key, &d)
}

/// Hash of IPv4 addresses and TCP ports (ports in host order).
pub fn hash_ipv4_tcp(key: &[u8], src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> u32 {
    let mut d = [0u8; 12];
    d[..4].copy_from_slice(&src);
    d[4..8].copy_from_slice(&dst);
    d[8..10].copy_from_slice(&sport.to_be_bytes());
    d[10..].copy_from_slice(&dport.to_be_bytes());
    toeplitz_hash(key, &d)
}

/// Hash of IPv6 addresses.
pub fn hash_ipv6(key: &[u8], src: [u8; 16], dst: [u8; 16]) -> u32 {
    let mut d = [0u8; 32];
    d[..16].copy_from_slice(&src);
    d[16..].copy_from_slice(&dst);
    toeplitz_hash(key, &d)
}

/// Hash of IPv6 addresses and TCP ports (ports in host order).
pub fn hash_ipv6_tcp(key: &[u8], src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> u32 {
    let mut d = [0u8; 36];
    d[..16].copy_from_slice(&src);
    d[16..32].copy_from_slice(&dst);
    d[32..34].copy_from_slice(&sport.to_be_bytes());
    d[34..].copy_from_slice(&dport.to_be_bytes());
    toeplitz_hash(key, &d)
}

/// `xenvif_set_skb_hash` after dissection: picks the widest hash type the
/// frontend enabled in `flags` (`XEN_NETIF_CTRL_HASH_TYPE_*`) for this flow;
/// `None` when no enabled type applies.
pub fn flow_hash(key: &[u8], flags: u32, flow: &Flow) -> Option<(u32, HashCoverage)> {
    use super::wire::{
        XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, XEN_NETIF_CTRL_HASH_TYPE_IPV6,
        XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP,
    };
    match *flow {
        Flow::V4 { src, dst, ports } => match ports {
            Some((sp, dp)) if flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP != 0 => {
                Some((hash_ipv4_tcp(key, src, dst, sp, dp), HashCoverage::L4))
            }
            _ if flags & XEN_NETIF_CTRL_HASH_TYPE_IPV4 != 0 => Some((hash_ipv4(key, src, dst), HashCoverage::L3)),
            _ => None,
        },
        Flow::V6 { src, dst, ports } => match ports {
            Some((sp, dp)) if flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP != 0 => {
                Some((hash_ipv6_tcp(key, src, dst, sp, dp), HashCoverage::L4))
            }
            _ if flags & XEN_NETIF_CTRL_HASH_TYPE_IPV6 != 0 => Some((hash_ipv6(key, src, dst), HashCoverage::L3)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    fn v4(s: &str) -> [u8; 4] {
        s.parse::<std::net::Ipv4Addr>().unwrap().octets()
    }

    // Microsoft "Verifying the RSS Hash Calculation" suite:
    // (destination, dst port, source, src port, IPv4-only hash, with-TCP hash).
    const V4: [(&str, u16, &str, u16, u32, u32); 5] = [
        ("161.142.100.80", 1766, "66.9.149.187", 2794, 0x323e8fc2, 0x51ccc178),
        ("65.69.140.83", 4739, "199.92.111.2", 14230, 0xd718262a, 0xc626b0ea),
        ("12.22.207.184", 38024, "24.19.198.95", 12898, 0xd2d0a5de, 0x5c2b394a),
        ("209.142.163.6", 2217, "38.27.205.30", 48228, 0x82989176, 0xafc7327f),
        ("202.188.127.2", 1303, "153.39.163.191", 44251, 0x5d1809c5, 0x10e828a2),
    ];

    const V6: [(&str, u16, &str, u16, u32, u32); 3] = [
        ("3ffe:2501:200:3::1", 1766, "3ffe:2501:200:1fff::7", 2794, 0x2cc18cd5, 0x40207d3d),
        ("ff02::1", 4739, "3ffe:501:8::260:97ff:fe40:efab", 14230, 0x0f0c461c, 0xdde51bbf),
        ("fe80::200:f8ff:fe21:67cf", 38024, "3ffe:1900:4545:3:200:f8ff:fe21:67cf", 44251, 0x4b61e985, 0x02d1feef),
    ];

    #[test]
    fn ms_rss_ipv4_vectors() {
        for (dst, dp, src, sp, l3, l4) in V4 {
            assert_eq!(hash_ipv4(&MS_RSS_KEY, v4(src), v4(dst)), l3, "{src} -> {dst}");
            assert_eq!(hash_ipv4_tcp(&MS_RSS_KEY, v4(src), v4(dst), sp, dp), l4, "{src}:{sp} -> {dst}:{dp}");
        }
    }

    #[test]
    fn ms_rss_ipv6_vectors() {
        for (dst, dp, src, sp, l3, l4) in V6 {
            assert_eq!(hash_ipv6(&MS_RSS_KEY, v6(src), v6(dst)), l3, "{src} -> {dst}");
            assert_eq!(hash_ipv6_tcp(&MS_RSS_KEY, v6(src), v6(dst), sp, dp), l4, "{src}:{sp} -> {dst}:{dp}");
        }
    }

    #[test]
    fn flow_hash_respects_flags() {
        use super::super::wire::*;
        let (dst, dp, src, sp, l3, l4) = V4[0];
        let f = Flow::V4 { src: v4(src), dst: v4(dst), ports: Some((sp, dp)) };
        assert_eq!(flow_hash(&MS_RSS_KEY, XEN_NETIF_CTRL_HASH_TYPES_ALL, &f), Some((l4, HashCoverage::L4)));
        assert_eq!(flow_hash(&MS_RSS_KEY, XEN_NETIF_CTRL_HASH_TYPE_IPV4, &f), Some((l3, HashCoverage::L3)));
        assert_eq!(flow_hash(&MS_RSS_KEY, XEN_NETIF_CTRL_HASH_TYPE_IPV6, &f), None);
        let g = Flow::V4 { src: v4(src), dst: v4(dst), ports: None };
        assert_eq!(flow_hash(&MS_RSS_KEY, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, &g), None);
    }

    #[test]
    fn short_key_pads_with_zero() {
        let mut k = [0u8; TOEPLITZ_KEY_LEN];
        k[..4].copy_from_slice(&MS_RSS_KEY[..4]);
        assert_eq!(
            toeplitz_hash(&MS_RSS_KEY[..4], &[1, 2, 3, 4, 5, 6, 7, 8]),
            toeplitz_hash(&k, &[1, 2, 3, 4, 5, 6, 7, 8])
        );
        assert_eq!(toeplitz_hash(&[], &[0xff; 64]), 0);
    }
}

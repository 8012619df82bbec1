//! SR-IOV VF steering: the decisions about what an administrator writes to a VIF's `vf`
//! file (`/sys/class/net/vifD.H/netback/vf`) and about the guest MAC the toolstack wrote
//! (the backend's `mac` key), before anything touches a NIC.
//!
//! A VF's filter is the guest's MAC: it must be a unicast address other than zero, or the
//! NIC's switch would hand the VF every frame of a group (or none).

use super::mcast::MacAddr;
use super::negotiate::IFNAMSIZ;
use super::rate::Rate;

/// What a write to `vf` asks.
#[derive(Debug, PartialEq, Eq)]
pub enum VfRequest<'a> {
    /// Bind the VF whose net_device has this name (validated as the kernel's
    /// `dev_valid_name` would), with the NIC tagging its traffic with this VLAN (1..=4094)
    /// when one is given ("VF vlan N").
    Bind(&'a [u8], Option<u16>),
    /// Give the VF back (`none`, or an empty write).
    Unbind,
}

/// Why a write to `vf` is refused (EINVAL, nothing changed).
#[derive(Debug, PartialEq, Eq)]
pub enum VfRequestError {
    /// Longer than an interface name can be.
    TooLong,
    /// A character no interface name has ('/', ':', whitespace, control), or `.`/`..`.
    BadName,
    /// Not "vlan N" with N in 1..=4094 after the name.
    BadVlan,
}

/// The largest VLAN id (4095 is reserved).
pub const VLAN_MAX: u16 = 4094;

/// Parses a write to `vf`: an interface name and optionally "vlan N", or `none`/nothing to
/// unbind; one trailing newline (what `echo` adds) is allowed.
pub fn parse_vf_request(value: &[u8]) -> Result<VfRequest<'_>, VfRequestError> {
    let value = value.strip_suffix(b"\n").unwrap_or(value);
    if value.is_empty() || value == b"none" {
        return Ok(VfRequest::Unbind);
    }
    let (value, vlan) = match value.iter().position(|c| *c == b' ') {
        None => (value, None),
        Some(at) => {
            let (name, rest) = value.split_at(at);
            let id = rest.strip_prefix(b" vlan ").ok_or(VfRequestError::BadVlan)?;
            (name, Some(parse_vlan(id).ok_or(VfRequestError::BadVlan)?))
        }
    };
    if value.len() >= IFNAMSIZ {
        return Err(VfRequestError::TooLong);
    }
    let bad = |c: &u8| *c == b'/' || *c == b':' || c.is_ascii_whitespace() || c.is_ascii_control() || *c == 0;
    if value == b"." || value == b".." || value.iter().any(bad) {
        return Err(VfRequestError::BadName);
    }
    Ok(VfRequest::Bind(value, vlan))
}

/// A VLAN id in decimal, 1..=[`VLAN_MAX`], no sign, no leading zero.
fn parse_vlan(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 4 || text.first() == Some(&b'0') || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let id = text.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    (1..=VLAN_MAX).contains(&id).then_some(id)
}

/// The VF transmit limit (Mbit/s, `ndo_set_vf_rate`'s max_tx_rate) for the vif's `rate`:
/// 0 (no limit) when unlimited, else the limit rounded up, at least 1, at most `u32::MAX`.
/// The NIC then enforces on the wire what the credit limiter enforces on the ring.
pub fn vf_max_tx_rate_mbps(rate: Rate) -> u32 {
    if rate.is_unlimited() || rate.usec == 0 {
        return 0;
    }
    // bytes per usec * 8 = Mbit/s (u64 only: the kernel has no 128-bit division).
    let Some(bits) = rate.bytes.checked_mul(8) else {
        return u32::MAX;
    };
    u32::try_from(bits.div_ceil(rate.usec).max(1)).unwrap_or(u32::MAX)
}

/// Parses the toolstack's `mac` key ("00:16:3e:12:34:56", either case, an optional trailing
/// NUL or newline): `None` unless it is six hex pairs making a unicast, non-zero address.
pub fn parse_guest_mac(text: &[u8]) -> Option<MacAddr> {
    let text = text.strip_suffix(b"\0").unwrap_or(text);
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.len() != 17 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let at = i * 3;
        let pair = text.get(at..at + 2)?;
        if i < 5 && text.get(at + 2) != Some(&b':') {
            return None;
        }
        let hex = |c: u8| (c as char).to_digit(16);
        *byte = u8::try_from(hex(*pair.first()?)? * 16 + hex(*pair.get(1)?)?).ok()?;
    }
    let multicast = mac[0] & 1 != 0;
    (!multicast && mac != [0; 6]).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn requests() {
        assert_eq!(parse_vf_request(b"eth1\n"), Ok(VfRequest::Bind(b"eth1", None)));
        assert_eq!(parse_vf_request(b"enp0s5v0"), Ok(VfRequest::Bind(b"enp0s5v0", None)));
        assert_eq!(parse_vf_request(b"eth1 vlan 10\n"), Ok(VfRequest::Bind(b"eth1", Some(10))));
        assert_eq!(parse_vf_request(b"eth1 vlan 4094"), Ok(VfRequest::Bind(b"eth1", Some(4094))));
        for bad in [
            &b"eth1 vlan 0"[..],
            b"eth1 vlan 4095",
            b"eth1 vlan 010",
            b"eth1 vlan",
            b"eth1 vlan -1",
            b"eth1 vlan 1 ",
            b"eth1 vlan 1x",
            b"eth1 vlan 99999",
        ] {
            assert_eq!(parse_vf_request(bad), Err(VfRequestError::BadVlan), "{:?}", bad);
        }
        assert_eq!(parse_vf_request(b"none\n"), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b"\n"), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b""), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b"a23456789012345"), Ok(VfRequest::Bind(b"a23456789012345", None)));
        assert_eq!(parse_vf_request(b"a234567890123456"), Err(VfRequestError::TooLong));
        for bad in [&b"eth/1"[..], b"eth:1", b".", b"..", b"eth1\n\n", b"\teth1", b"eth\x001"] {
            assert_eq!(parse_vf_request(bad), Err(VfRequestError::BadName), "{:?}", bad);
        }
    }

    #[test]
    fn vf_rates() {
        assert_eq!(vf_max_tx_rate_mbps(Rate::UNLIMITED), 0);
        assert_eq!(vf_max_tx_rate_mbps(Rate { bytes: 625_000, usec: 50_000 }), 100);
        assert_eq!(vf_max_tx_rate_mbps(Rate { bytes: 1, usec: 1_000_000 }), 1);
        assert_eq!(vf_max_tx_rate_mbps(Rate { bytes: 125_001, usec: 1_000_000 }), 2);
        assert_eq!(vf_max_tx_rate_mbps(Rate { bytes: u64::MAX - 1, usec: 1 }), u32::MAX);
    }

    #[test]
    fn guest_macs() {
        assert_eq!(parse_guest_mac(b"00:16:3e:00:00:01"), Some([0, 0x16, 0x3e, 0, 0, 1]));
        assert_eq!(parse_guest_mac(b"00:16:3E:AB:cd:Ef\0"), Some([0, 0x16, 0x3e, 0xab, 0xcd, 0xef]));
        for bad in [
            &b"01:00:5e:00:00:01"[..], // multicast
            b"ff:ff:ff:ff:ff:ff",
            b"00:00:00:00:00:00",
            b"00:16:3e:00:00",
            b"00:16:3e:00:00:0g",
            b"00-16-3e-00-00-01",
            b"00:16:3e:00:00:011",
            b"+0:16:3e:00:00:01",
            b"",
        ] {
            assert_eq!(parse_guest_mac(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn every_unicast_mac_round_trips() {
        let mut rng = super::super::test_rng::Lcg(7);
        for _ in 0..10_000 {
            let mut mac = [0u8; 6];
            for b in mac.iter_mut() {
                *b = rng.next() as u8;
            }
            let text =
                format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
            let want = (mac[0] & 1 == 0 && mac != [0; 6]).then_some(mac);
            assert_eq!(parse_guest_mac(text.as_bytes()), want, "{}", text);
        }
    }
}

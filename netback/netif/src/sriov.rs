//! SR-IOV VF steering: the decisions about what an administrator writes to a VIF's `vf`
//! file (`/sys/class/net/vifD.H/netback/vf`) and about the guest MAC the toolstack wrote
//! (the backend's `mac` key), before anything touches a NIC.
//!
//! A VF's filter is the guest's MAC: it must be a unicast address other than zero, or the
//! NIC's switch would hand the VF every frame of a group (or none).

use super::mcast::MacAddr;
use super::negotiate::IFNAMSIZ;

/// What a write to `vf` asks.
#[derive(Debug, PartialEq, Eq)]
pub enum VfRequest<'a> {
    /// Bind the VF whose net_device has this name (validated as the kernel's
    /// `dev_valid_name` would).
    Bind(&'a [u8]),
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
}

/// Parses a write to `vf`: an interface name, or `none`/nothing to unbind; one trailing
/// newline (what `echo` adds) is allowed.
pub fn parse_vf_request(value: &[u8]) -> Result<VfRequest<'_>, VfRequestError> {
    let value = value.strip_suffix(b"\n").unwrap_or(value);
    if value.is_empty() || value == b"none" {
        return Ok(VfRequest::Unbind);
    }
    if value.len() >= IFNAMSIZ {
        return Err(VfRequestError::TooLong);
    }
    let bad = |c: &u8| *c == b'/' || *c == b':' || c.is_ascii_whitespace() || c.is_ascii_control() || *c == 0;
    if value == b"." || value == b".." || value.iter().any(bad) {
        return Err(VfRequestError::BadName);
    }
    Ok(VfRequest::Bind(value))
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
        assert_eq!(parse_vf_request(b"eth1\n"), Ok(VfRequest::Bind(b"eth1")));
        assert_eq!(parse_vf_request(b"enp0s5v0"), Ok(VfRequest::Bind(b"enp0s5v0")));
        assert_eq!(parse_vf_request(b"none\n"), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b"\n"), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b""), Ok(VfRequest::Unbind));
        assert_eq!(parse_vf_request(b"a23456789012345"), Ok(VfRequest::Bind(b"a23456789012345")));
        assert_eq!(parse_vf_request(b"a234567890123456"), Err(VfRequestError::TooLong));
        for bad in [&b"eth 1"[..], b"eth/1", b"eth:1", b".", b"..", b"eth1\n\n", b"\teth1", b"eth\x001"] {
            assert_eq!(parse_vf_request(bad), Err(VfRequestError::BadName), "{:?}", bad);
        }
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

//! The few Ethernet frames the tool sends and recognises.

pub const DOM0_IP: [u8; 4] = [10, 99, 0, 1];

/// ARP who-has DOM0_IP from `mac`/`ip`, padded to the 60-byte minimum.
pub fn arp_request(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&DOM0_IP);
    f.resize(60, 0);
    f
}

/// Whether `f` is dom0's ARP reply.
pub fn is_arp_reply_from_dom0(f: &[u8]) -> bool {
    f.len() >= 32 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2] && f[28..32] == DOM0_IP
}

/// A frame of `len` bytes to `dst` with a local experimental ethertype (0x88b5): the bridge
/// hands it to dom0's stack, which drops it, so a flood of them loads only the backend.
pub fn filler(dst: [u8; 6], src: [u8; 6], len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(len.max(60), 0x5a);
    f
}

/// `aa:bb:cc:dd:ee:ff` (xenstore's `mac`, a command line's `--dst-mac`, sysfs's `address`).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v: Vec<u8> = s.trim().split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    v.try_into().map_err(|_| format!("bad mac '{s}'"))
}

/// The IPv4 header checksum of header `h` (its checksum field 0).
pub fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP frame from `src`/`src_ip` to `dst`/`dst_ip` (ports 9/9, discard) carrying
/// `payload` bytes of 0x5a: what `blast` sends. The IP header checksum is computed; the UDP
/// checksum is 0, "none", which IPv4 allows.
pub fn udp_frame(dst: [u8; 6], src: [u8; 6], src_ip: [u8; 4], dst_ip: [u8; 4], payload: usize) -> Vec<u8> {
    let udp_len = 8 + payload;
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src_ip);
    f.extend_from_slice(&dst_ip);
    let csum = ipv4_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&[0, 9, 0, 9, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.resize(14 + ip_len, 0x5a);
    f
}

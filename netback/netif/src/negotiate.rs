//! Feature negotiation over xenstore as a pure function of the frontend's
//! keys (`connect`, `read_xenbus_vif_flags`, `connect_data_rings`,
//! `connect_ctrl_ring` and `netback_probe` in xenbus.c).
//!
//! The shell implements [`FrontendKeys`] (a xenstore read into a caller
//! buffer); everything else — defaults, parsing, limits, which directory holds
//! the per-queue keys — is decided here. Values must be plain decimal
//! numbers: anything else is reported as [`NegotiateError::Unparsable`]
//! rather than silently read as a default.

use super::wire::XEN_NETIF_MAX_XDP_HEADROOM;

/// Default and upper bound of `max_queues` used by [`BackendParams::default`].
pub const MAX_QUEUES_DEFAULT: u32 = 8;

/// `IFNAMSIZ`: a network interface name and its NUL must fit in this many bytes.
pub const IFNAMSIZ: usize = 16;

/// Bytes of `vif{domid}.{handle}`, the name a VIF's netdev gets.
pub fn vif_name_len(domid: u16, handle: u64) -> usize {
    fn digits(mut n: u64) -> usize {
        let mut d = 1;
        while n >= 10 {
            n /= 10;
            d += 1;
        }
        d
    }
    "vif.".len() + digits(u64::from(domid)) + digits(handle)
}

/// The VIF handle from the toolstack's `handle` key, if `vif{domid}.{handle}`
/// fits in an interface name. xen-netback truncates the name silently (and
/// `alloc_netdev_mqs` BUG()s on a name that does not fit); a handle that
/// cannot name an interface is refused instead.
pub fn vif_handle(domid: u16, handle: u64) -> Option<u32> {
    let handle = u32::try_from(handle).ok()?;
    (vif_name_len(domid, u64::from(handle)) < IFNAMSIZ).then_some(handle)
}

/// A frontend key: `<frontend>/<name>` or `<frontend>/queue-<N>/<name>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    /// `Some(n)` for a key under `queue-n/`.
    pub queue: Option<u32>,
    /// The key name.
    pub name: &'a str,
}

/// Read access to the frontend's xenstore directory.
pub trait FrontendKeys {
    /// Reads `key` into `buf` and returns the value's bytes (without a
    /// terminating NUL), or `None` if the key does not exist. A value longer
    /// than `buf` may be truncated: it will then fail to parse.
    fn read<'a>(&mut self, key: &Key<'_>, buf: &'a mut [u8]) -> Option<&'a [u8]>;

    /// Reads and parses a decimal unsigned value: `Ok(None)` if absent.
    fn read_u64(&mut self, key: &Key<'_>) -> Result<Option<u64>, NegotiateError> {
        let mut buf = [0u8; 24];
        match self.read(key, &mut buf) {
            None => Ok(None),
            Some(v) => parse_decimal(v).map(Some).ok_or(NegotiateError::Unparsable { key: static_name(key.name) }),
        }
    }
}

/// Parses a plain decimal `u64` (digits only, optionally followed by NUL
/// padding or a single newline); `None` for anything else.
pub fn parse_decimal(v: &[u8]) -> Option<u64> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    let mut digits = v.get(..end)?;
    if let Some(stripped) = digits.strip_suffix(b"\n") {
        digits = stripped;
    }
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

// Error values carry `&'static str` key names; map the names we read back to
// their static spelling (unknown names cannot occur: we only read these).
/// Every key the backend reads from the frontend's directory at connect (at
/// the top or under `queue-N/`).
pub const FRONTEND_KEYS: [&str; 17] = [
    "multi-queue-num-queues",
    "request-rx-copy",
    "feature-rx-notify",
    "feature-sg",
    "feature-gso-tcpv4",
    "feature-gso-tcpv6",
    "feature-no-csum-offload",
    "feature-ipv6-csum-offload",
    "xdp-headroom",
    "request-multicast-control",
    "ctrl-ring-ref",
    "event-channel-ctrl",
    "tx-ring-ref",
    "rx-ring-ref",
    "event-channel-tx",
    "event-channel-rx",
    "event-channel",
];

/// Keys the backend reads from its own directory (the toolstack writes them).
const BACKEND_KEYS: [&str; 3] = ["rate", "mac", "handle"];

fn static_name(name: &str) -> &'static str {
    FRONTEND_KEYS.iter().chain(BACKEND_KEYS.iter()).copied().find(|n| *n == name).unwrap_or("?")
}

/// Why negotiation failed; the shell reports it with `xenbus_dev_fatal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NegotiateError {
    /// `multi-queue-num-queues` is 0 or above the backend's maximum.
    BadNumQueues {
        /// What the frontend asked for.
        requested: u64,
        /// The backend's `max_queues`.
        max: u32,
    },
    /// The frontend does not request rx-copy (the only RX mode).
    RxCopyRequired,
    /// A value is not a decimal number or is out of range.
    Unparsable {
        /// The key.
        key: &'static str,
    },
    /// A required key is absent.
    Missing {
        /// The key.
        key: &'static str,
        /// The queue directory, if per-queue.
        queue: Option<u32>,
    },
}

impl NegotiateError {
    /// The errno the C driver uses for this failure (negative).
    pub const fn errno(&self) -> i32 {
        const EINVAL: i32 = 22;
        const ENOENT: i32 = 2;
        const EOPNOTSUPP: i32 = 95;
        match self {
            NegotiateError::BadNumQueues { .. } | NegotiateError::Unparsable { .. } => -EINVAL,
            NegotiateError::RxCopyRequired => -EOPNOTSUPP,
            NegotiateError::Missing { .. } => -ENOENT,
        }
    }

    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            NegotiateError::BadNumQueues { .. } => "guest requested an invalid number of queues",
            NegotiateError::RxCopyRequired => "frontend does not support rx-copy",
            NegotiateError::Unparsable { .. } => "unparsable xenstore value",
            NegotiateError::Missing { .. } => "required xenstore key missing",
        }
    }
}

/// Backend-side parameters (module parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendParams {
    /// `max_queues`.
    pub max_queues: u32,
    /// `separate_tx_rx_irq`.
    pub separate_tx_rx_irq: bool,
    /// `provides_xdp_headroom`.
    pub provides_xdp_headroom: bool,
}

impl Default for BackendParams {
    fn default() -> Self {
        BackendParams { max_queues: MAX_QUEUES_DEFAULT, separate_tx_rx_irq: true, provides_xdp_headroom: true }
    }
}

/// The keys and values the backend writes under its own directory at probe,
/// in the C driver's order.
pub fn advertised_keys(p: &BackendParams) -> [(&'static str, u32); 12] {
    [
        ("feature-sg", 1),
        ("feature-gso-tcpv4", 1),
        ("feature-gso-tcpv6", 1),
        ("feature-ipv6-csum-offload", 1),
        ("feature-rx-copy", 1),
        ("feature-xdp-headroom", u32::from(p.provides_xdp_headroom)),
        ("feature-rx-flip", 0),
        ("feature-multicast-control", 1),
        ("feature-dynamic-multicast-control", 1),
        ("feature-split-event-channels", u32::from(p.separate_tx_rx_irq)),
        ("multi-queue-max-queues", p.max_queues),
        ("feature-ctrl-ring", 1),
    ]
}

/// The control ring's grant and event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlRingRefs {
    /// `ctrl-ring-ref`.
    pub ring_ref: u32,
    /// `event-channel-ctrl`.
    pub evtchn: u32,
}

/// The rings and event channels of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueRings {
    /// `tx-ring-ref`.
    pub tx_ring_ref: u32,
    /// `rx-ring-ref`.
    pub rx_ring_ref: u32,
    /// TX event channel (`event-channel-tx` or the shared `event-channel`).
    pub tx_evtchn: u32,
    /// RX event channel (same as TX when not split).
    pub rx_evtchn: u32,
    /// Whether separate TX/RX event channels were given.
    pub split_event_channels: bool,
}

/// What was negotiated with the frontend at connect time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegotiatedConfig {
    /// Number of queues (1..=max_queues).
    pub num_queues: u32,
    /// `feature-rx-notify` (absent: 30 ms drain, no stall detection).
    pub rx_notify: bool,
    /// `feature-sg`.
    pub sg: bool,
    /// `feature-gso-tcpv4`.
    pub gso_tcpv4: bool,
    /// `feature-gso-tcpv6`.
    pub gso_tcpv6: bool,
    /// IPv4 checksum offload (`!feature-no-csum-offload`).
    pub ip_csum: bool,
    /// `feature-ipv6-csum-offload`.
    pub ipv6_csum: bool,
    /// `request-multicast-control` (also watched: see [`read_multicast_control`]).
    pub multicast_control: bool,
    /// `xdp-headroom`, clamped to `XEN_NETIF_MAX_XDP_HEADROOM`.
    pub xdp_headroom: u16,
    /// The control ring, if the frontend provides one.
    pub ctrl_ring: Option<CtrlRingRefs>,
}

/// The offloads the VIF may use for packets it sends the guest: exactly what
/// the frontend said it takes (`ndo_fix_features` masks the rest off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestOffloads {
    /// Scatter-gather (`feature-sg`): a packet may span several buffers.
    pub sg: bool,
    /// TSO over IPv4 (`feature-gso-tcpv4`).
    pub tso_v4: bool,
    /// TSO over IPv6 (`feature-gso-tcpv6`).
    pub tso_v6: bool,
    /// IPv4 checksum offload.
    pub ip_csum: bool,
    /// IPv6 checksum offload.
    pub ipv6_csum: bool,
}

/// MTU of a VIF whose frontend cannot take a packet in several buffers.
pub const VIF_MTU_NO_SG: u32 = 1500;
/// The largest MTU of a VIF: the largest frame (`ETH_MAX_MTU`, 65535) less a
/// VLAN Ethernet header (18), as xen-netback.
pub const VIF_MTU_MAX: u32 = 65535 - 18;

impl GuestOffloads {
    /// A new VIF's, until a frontend connects: scatter-gather and IPv4
    /// checksum offload, as xen-netback's `xenvif_alloc`.
    pub const INITIAL: Self = GuestOffloads { sg: true, tso_v4: false, tso_v6: false, ip_csum: true, ipv6_csum: false };

    /// The largest MTU the frontend can take: without scatter-gather a
    /// packet must fit one 4 KiB buffer, so the Ethernet MTU.
    pub const fn max_mtu(&self) -> u32 {
        if self.sg {
            VIF_MTU_MAX
        } else {
            VIF_MTU_NO_SG
        }
    }

    /// As one byte, for an atomic store.
    pub const fn to_bits(self) -> u8 {
        (self.sg as u8)
            | (self.tso_v4 as u8) << 1
            | (self.tso_v6 as u8) << 2
            | (self.ip_csum as u8) << 3
            | (self.ipv6_csum as u8) << 4
    }

    /// The inverse of [`Self::to_bits`].
    pub const fn from_bits(b: u8) -> Self {
        GuestOffloads {
            sg: b & 1 != 0,
            tso_v4: b & 1 << 1 != 0,
            tso_v6: b & 1 << 2 != 0,
            ip_csum: b & 1 << 3 != 0,
            ipv6_csum: b & 1 << 4 != 0,
        }
    }
}

impl NegotiatedConfig {
    /// The offloads this frontend takes.
    pub const fn offloads(&self) -> GuestOffloads {
        GuestOffloads {
            sg: self.sg,
            tso_v4: self.gso_tcpv4,
            tso_v6: self.gso_tcpv6,
            ip_csum: self.ip_csum,
            ipv6_csum: self.ipv6_csum,
        }
    }
}

fn top(name: &str) -> Key<'_> {
    Key { queue: None, name }
}

fn read_bool<F: FrontendKeys + ?Sized>(fe: &mut F, name: &str) -> Result<bool, NegotiateError> {
    Ok(fe.read_u64(&top(name))?.unwrap_or(0) != 0)
}

fn to_u32(v: u64, name: &str) -> Result<u32, NegotiateError> {
    u32::try_from(v).map_err(|_| NegotiateError::Unparsable { key: static_name(name) })
}

/// `read_xenbus_frontend_xdp`: the frontend's `xdp-headroom`, clamped; 0 when
/// absent or unparsable (as C). Re-read on frontend Reconfiguring.
pub fn read_xdp_headroom<F: FrontendKeys + ?Sized>(fe: &mut F) -> u16 {
    match fe.read_u64(&top("xdp-headroom")) {
        Ok(Some(v)) if v <= u64::from(u16::MAX) => (v as u16).min(XEN_NETIF_MAX_XDP_HEADROOM),
        _ => 0,
    }
}

/// `request-multicast-control` (the shell watches it and re-reads).
pub fn read_multicast_control<F: FrontendKeys + ?Sized>(fe: &mut F) -> Result<bool, NegotiateError> {
    read_bool(fe, "request-multicast-control")
}

/// Negotiates the VIF-wide configuration at frontend Connected.
pub fn negotiate<F: FrontendKeys + ?Sized>(
    fe: &mut F,
    params: &BackendParams,
) -> Result<NegotiatedConfig, NegotiateError> {
    let requested = fe.read_u64(&top("multi-queue-num-queues"))?.unwrap_or(1);
    if requested == 0 || requested > u64::from(params.max_queues) {
        return Err(NegotiateError::BadNumQueues { requested, max: params.max_queues });
    }
    let num_queues = to_u32(requested, "multi-queue-num-queues")?;
    if !read_bool(fe, "request-rx-copy")? {
        return Err(NegotiateError::RxCopyRequired);
    }
    let rx_notify = read_bool(fe, "feature-rx-notify")?;
    let sg = read_bool(fe, "feature-sg")?;
    let gso_tcpv4 = read_bool(fe, "feature-gso-tcpv4")?;
    let gso_tcpv6 = read_bool(fe, "feature-gso-tcpv6")?;
    let ip_csum = !read_bool(fe, "feature-no-csum-offload")?;
    let ipv6_csum = read_bool(fe, "feature-ipv6-csum-offload")?;
    let xdp_headroom = read_xdp_headroom(fe);
    let multicast_control = read_multicast_control(fe)?;
    let ctrl_ring = match fe.read_u64(&top("ctrl-ring-ref"))? {
        None => None,
        Some(r) => {
            let ring_ref = to_u32(r, "ctrl-ring-ref")?;
            let ev = fe
                .read_u64(&top("event-channel-ctrl"))?
                .ok_or(NegotiateError::Missing { key: "event-channel-ctrl", queue: None })?;
            Some(CtrlRingRefs { ring_ref, evtchn: to_u32(ev, "event-channel-ctrl")? })
        }
    };
    Ok(NegotiatedConfig {
        num_queues,
        rx_notify,
        sg,
        gso_tcpv4,
        gso_tcpv6,
        ip_csum,
        ipv6_csum,
        multicast_control,
        xdp_headroom,
        ctrl_ring,
    })
}

/// `connect_data_rings` for queue `index`: keys at the top level when there
/// is one queue, else under `queue-<index>/`. Split event channels are tried
/// first, then the single `event-channel`.
pub fn negotiate_queue<F: FrontendKeys + ?Sized>(
    fe: &mut F,
    cfg: &NegotiatedConfig,
    index: u32,
) -> Result<QueueRings, NegotiateError> {
    let queue = if cfg.num_queues == 1 { None } else { Some(index) };
    let mut get = |name: &'static str| -> Result<Option<u32>, NegotiateError> {
        fe.read_u64(&Key { queue, name })?.map(|v| to_u32(v, name)).transpose()
    };
    let tx_ring_ref = get("tx-ring-ref")?.ok_or(NegotiateError::Missing { key: "tx-ring-ref", queue })?;
    let rx_ring_ref = get("rx-ring-ref")?.ok_or(NegotiateError::Missing { key: "rx-ring-ref", queue })?;
    let (tx_evtchn, rx_evtchn, split) = match (get("event-channel-tx")?, get("event-channel-rx")?) {
        (Some(t), Some(r)) => (t, r, true),
        _ => {
            let e = get("event-channel")?.ok_or(NegotiateError::Missing { key: "event-channel", queue })?;
            (e, e, false)
        }
    };
    Ok(QueueRings { tx_ring_ref, rx_ring_ref, tx_evtchn, rx_evtchn, split_event_channels: split })
}

/// Parses a xenstore `mac` value, `xx:xx:xx:xx:xx:xx` in hex (either
/// case), as netfront's `xen_net_read_mac`: exactly six two-digit groups.
pub fn parse_mac(s: &[u8]) -> Option<[u8; 6]> {
    fn hex(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if s.len() != 17 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let at = i * 3;
        let &[hi, lo] = s.get(at..at + 2)? else {
            return None;
        };
        if i < 5 && s.get(at + 2) != Some(&b':') {
            return None;
        }
        *byte = hex(hi)? << 4 | hex(lo)?;
    }
    Some(mac)
}

/// Queues a frontend connects: its own limit (the `max_queues` module
/// parameter, at least 1) and its CPUs, against the backend's
/// `multi-queue-max-queues` (`None`: absent, the backend has one queue),
/// as xen-netfront's `talk_to_netback`; never 0 nor more than
/// [`MAX_QUEUES_DEFAULT`].
pub fn frontend_queues(own_max: u32, cpus: u32, backend_max: Option<u64>) -> u32 {
    let backend = backend_max.map_or(1, |m| u32::try_from(m).unwrap_or(u32::MAX));
    own_max.min(cpus).min(backend).clamp(1, MAX_QUEUES_DEFAULT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn frontend_queue_count_takes_the_smallest_limit() {
        assert_eq!(frontend_queues(8, 2, Some(4)), 2);
        assert_eq!(frontend_queues(8, 4, Some(2)), 2);
        assert_eq!(frontend_queues(1, 4, Some(4)), 1);
        // No key: a single-queue backend.
        assert_eq!(frontend_queues(8, 4, None), 1);
        // Nonsense from either side never gives 0 or more than the cap.
        assert_eq!(frontend_queues(0, 4, Some(4)), 1);
        assert_eq!(frontend_queues(8, 4, Some(0)), 1);
        assert_eq!(frontend_queues(64, 64, Some(u64::MAX)), MAX_QUEUES_DEFAULT);
    }

    #[test]
    fn offloads_round_trip_and_bound_the_mtu() {
        for b in 0u8..32 {
            assert_eq!(GuestOffloads::from_bits(b).to_bits(), b);
        }
        let mut o = GuestOffloads::INITIAL;
        assert_eq!(o.max_mtu(), 65517);
        o.sg = false;
        assert_eq!(o.max_mtu(), 1500);
        assert_eq!(GuestOffloads::from_bits(o.to_bits()), o);
    }

    use super::*;
    use std::collections::HashMap;
    use std::string::{String, ToString};

    #[test]
    fn vif_handle_fits_an_interface_name() {
        assert_eq!(vif_handle(1, 0), Some(0));
        assert_eq!(vif_name_len(65535, 999_999), 15);
        assert_eq!(vif_handle(65535, 999_999), Some(999_999));
        assert_eq!(vif_handle(65535, 1_000_000), None);
        assert_eq!(vif_handle(1, 99_999_999_999), None);
        assert_eq!(vif_handle(1, 9_999_999_999), None, "does not fit u32");
        assert_eq!(vif_handle(1, 4_294_967_295), Some(u32::MAX), "vif1.4294967295: 15 bytes");
        assert_eq!(vif_handle(12, 4_294_967_295), None, "vif12.4294967295: 16 bytes");
        assert_eq!(vif_handle(12, 42_949_672), Some(42_949_672));
        assert_eq!(vif_handle(1, u64::MAX), None);
    }

    #[derive(Default)]
    struct Fe(HashMap<String, String>);

    impl Fe {
        fn with(pairs: &[(&str, &str)]) -> Self {
            Fe(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        }
    }

    impl FrontendKeys for Fe {
        fn read<'a>(&mut self, key: &Key<'_>, buf: &'a mut [u8]) -> Option<&'a [u8]> {
            let path = match key.queue {
                Some(q) => std::format!("queue-{q}/{}", key.name),
                None => key.name.to_string(),
            };
            let v = self.0.get(&path)?.as_bytes();
            let n = v.len().min(buf.len());
            buf[..n].copy_from_slice(&v[..n]);
            Some(&buf[..n])
        }
    }

    const BASIC: [(&str, &str); 4] =
        [("request-rx-copy", "1"), ("tx-ring-ref", "8"), ("rx-ring-ref", "9"), ("event-channel", "5")];

    #[test]
    fn minimal_frontend() {
        let mut fe = Fe::with(&BASIC);
        let c = negotiate(&mut fe, &BackendParams::default()).unwrap();
        assert_eq!(c.num_queues, 1);
        assert!(!c.rx_notify && !c.sg && c.ip_csum && !c.ipv6_csum && c.ctrl_ring.is_none());
        let q = negotiate_queue(&mut fe, &c, 0).unwrap();
        assert_eq!(
            q,
            QueueRings { tx_ring_ref: 8, rx_ring_ref: 9, tx_evtchn: 5, rx_evtchn: 5, split_event_channels: false }
        );
    }

    #[test]
    fn full_multiqueue_frontend() {
        let mut fe = Fe::with(&[
            ("request-rx-copy", "1"),
            ("multi-queue-num-queues", "2"),
            ("feature-rx-notify", "1"),
            ("feature-sg", "1"),
            ("feature-gso-tcpv4", "1"),
            ("feature-gso-tcpv6", "1"),
            ("feature-no-csum-offload", "1"),
            ("feature-ipv6-csum-offload", "1"),
            ("xdp-headroom", "40000"),
            ("request-multicast-control", "1"),
            ("ctrl-ring-ref", "77"),
            ("event-channel-ctrl", "12"),
            ("queue-1/tx-ring-ref", "100"),
            ("queue-1/rx-ring-ref", "101"),
            ("queue-1/event-channel-tx", "20"),
            ("queue-1/event-channel-rx", "21"),
        ]);
        let c = negotiate(&mut fe, &BackendParams::default()).unwrap();
        assert_eq!(c.num_queues, 2);
        assert!(c.rx_notify && c.sg && c.gso_tcpv4 && c.gso_tcpv6 && !c.ip_csum && c.ipv6_csum && c.multicast_control);
        assert_eq!(c.xdp_headroom, 0x7FFF);
        assert_eq!(c.ctrl_ring, Some(CtrlRingRefs { ring_ref: 77, evtchn: 12 }));
        let q = negotiate_queue(&mut fe, &c, 1).unwrap();
        assert_eq!((q.tx_evtchn, q.rx_evtchn, q.split_event_channels), (20, 21, true));
        assert_eq!(
            negotiate_queue(&mut fe, &c, 0),
            Err(NegotiateError::Missing { key: "tx-ring-ref", queue: Some(0) })
        );
    }

    #[test]
    fn errors() {
        let p = BackendParams::default();
        for (nq, ok) in [("0", false), ("9", false), ("8", true), ("18446744073709551616", false)] {
            let mut fe = Fe::with(&BASIC);
            fe.0.insert("multi-queue-num-queues".into(), nq.into());
            assert_eq!(negotiate(&mut fe, &p).is_ok(), ok, "{nq}");
        }
        let mut fe = Fe::with(&BASIC[1..]);
        assert_eq!(negotiate(&mut fe, &p), Err(NegotiateError::RxCopyRequired));
        assert_eq!(NegotiateError::RxCopyRequired.errno(), -95);
        let mut fe = Fe::with(&BASIC);
        fe.0.insert("request-rx-copy".into(), "0".into());
        assert_eq!(negotiate(&mut fe, &p), Err(NegotiateError::RxCopyRequired));
        let mut fe = Fe::with(&BASIC);
        fe.0.insert("feature-sg".into(), "yes".into());
        assert_eq!(negotiate(&mut fe, &p), Err(NegotiateError::Unparsable { key: "feature-sg" }));
        let mut fe = Fe::with(&BASIC);
        fe.0.insert("ctrl-ring-ref".into(), "3".into());
        assert_eq!(negotiate(&mut fe, &p), Err(NegotiateError::Missing { key: "event-channel-ctrl", queue: None }));
        let mut fe = Fe::with(&BASIC);
        fe.0.insert("tx-ring-ref".into(), "4294967296".into());
        let c = negotiate(&mut fe, &p).unwrap();
        assert_eq!(negotiate_queue(&mut fe, &c, 0), Err(NegotiateError::Unparsable { key: "tx-ring-ref" }));
    }

    #[test]
    fn decimal_parser() {
        assert_eq!(parse_decimal(b"42"), Some(42));
        assert_eq!(parse_decimal(b"42\0\0"), Some(42));
        assert_eq!(parse_decimal(b"42\n"), Some(42));
        for bad in [&b""[..], b"-1", b" 1", b"1a", b"0x10", b"99999999999999999999"] {
            assert_eq!(parse_decimal(bad), None);
        }
    }

    #[test]
    fn advertises_c_keys() {
        let k =
            advertised_keys(&BackendParams { max_queues: 4, separate_tx_rx_irq: false, provides_xdp_headroom: true });
        assert!(k.contains(&("feature-rx-flip", 0)));
        assert!(k.contains(&("multi-queue-max-queues", 4)));
        assert!(k.contains(&("feature-split-event-channels", 0)));
        assert!(k.contains(&("feature-ctrl-ring", 1)));
    }

    #[test]
    fn mac_values() {
        assert_eq!(parse_mac(b"00:16:3e:0A:bc:ff"), Some([0, 0x16, 0x3e, 0x0a, 0xbc, 0xff]));
        for bad in [
            &b""[..],
            b"00:16:3e:0a:bc",
            b"00:16:3e:0a:bc:ff:",
            b"00-16-3e-0a-bc-ff",
            b"00:16:3e:0g:bc:ff",
            b"0:016:3e:0a:bc:ff",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad:?}");
        }
    }
}

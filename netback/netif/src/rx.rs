//! Guest RX (backend -> guest): slot accounting, the XSA-392 availability and
//! stall logic, and response building.
//!
//! Flow per packet (see the crate docs for code):
//! 1. [`rx_slots_needed`] for the head packet;
//! 2. [`rx_slots_available`] reserves that many posted buffers from one
//!    read of `req_prod` (or arms `req_event` when not enough are posted, so
//!    the frontend's next post wakes us; a ring is never consumed partially
//!    for a packet that does not fit, the XSA-392 rule);
//! 3. [`RxPacketWriter`] consumes exactly the reserved requests, never
//!    reading `req_prod` again, tells the shell how many bytes to grant-copy
//!    into each buffer, and writes each response at the index of its
//!    request (Linux netfront ignores `id`);
//! 4. failed copies: [`rx_copy_failed_response`] + `BackRing::overwrite_unpublished`;
//! 5. `BackRing::push_responses_and_check_notify`.
//!
//! Timers (drain: drop packets queued too long; stall: carrier off when the
//! guest posts no buffers) are pure functions of a caller-supplied clock in
//! ticks (jiffies), with the kernel's wrapping `time_after` semantics.

use super::ring::{BackRing, RequestReservation, Reservation, RingError, SharedRing};
use super::wire::{
    ExtraInfo, GsoType, RxRequest, RxResponse, NETRXF_CSUM_BLANK, NETRXF_DATA_VALIDATED, NETRXF_EXTRA_INFO,
    NETRXF_MORE_DATA, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
    XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT,
    XEN_NETIF_RX_RING_SIZE, XEN_PAGE_SIZE,
};

/// Default `rx_drain_timeout_msecs`.
pub const RX_DRAIN_TIMEOUT_MS_DEFAULT: u32 = 10_000;
/// Default `rx_stall_timeout_msecs`.
pub const RX_STALL_TIMEOUT_MS_DEFAULT: u32 = 60_000;
/// Drain timeout used when the frontend lacks `feature-rx-notify`.
pub const RX_DRAIN_TIMEOUT_MS_NO_NOTIFY: u32 = 30;
/// Per-queue RX backlog cap in bytes (`XENVIF_RX_QUEUE_BYTES`: half a ring of pages).
pub const RX_QUEUE_MAX_BYTES: u32 = (XEN_NETIF_RX_RING_SIZE / 2) * XEN_PAGE_SIZE;
/// Packets processed per RX batch (`RX_BATCH_SIZE`).
pub const RX_BATCH_SIZE: u32 = 64;
/// Largest packet the sender's context writes to the guest itself
/// ([`rx_sender_writes`]): a TCP ACK, request or reply, a small datagram.
pub const RX_SENDER_MAX_BYTES: u32 = 256;

/// Whether `ndo_start_xmit` writes the packet of `len` bytes it was given
/// to the guest itself, without queueing it, `queued` being the packets
/// already in the backlog: only a small one that finds the backlog empty
/// (it would overtake them otherwise), and only while the VIF's
/// `rx_sender_writes` knob is on (`enabled`). Handing such a packet to the
/// queue's thread costs a wake-up, two context switches and often an IPI
/// for one copy op, and keeps the sender's and the thread's CPUs both busy
/// (measured: `benches/results/2026-12-03-rx-sender-icount/`). Bulk data
/// and a backlog stay with the thread, so their copies run beside the
/// sender rather than on its CPU. The knob is for a flood with CPU to
/// spare beside its sender (a packet generator, a NIC forwarding into
/// guests that drop or forward what they get): there each packet written
/// by the sender costs it one grant copy hypercall, where the thread
/// copies up to [`RX_BATCH_SIZE`] packets per hypercall on another CPU
/// (`benches/results/2026-12-06-ab-gen-pps-icount/`).
pub fn rx_sender_writes(enabled: bool, len: u32, queued: u32) -> bool {
    enabled && len <= RX_SENDER_MAX_BYTES && queued == 0
}

/// Parses an on/off knob written through sysfs: `1` or `0`, optionally
/// followed by one newline (what `echo` writes). `None` for anything else.
pub fn parse_switch(value: &[u8]) -> Option<bool> {
    match value.strip_suffix(b"\n").unwrap_or(value) {
        b"1" => Some(true),
        b"0" => Some(false),
        _ => None,
    }
}

/// Checksum state of a packet sent to the guest (`skb->ip_summed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RxCsum {
    /// CHECKSUM_NONE / COMPLETE: no flag.
    #[default]
    None,
    /// CHECKSUM_PARTIAL: csum_blank | data_validated.
    Partial,
    /// CHECKSUM_UNNECESSARY: data_validated.
    Unnecessary,
}

/// A software hash to pass to the guest in a HASH extra.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxHash {
    /// The hash value.
    pub value: u32,
    /// IPv4 (true) or IPv6 (false), from `skb->protocol`.
    pub ipv4: bool,
    /// Whether the hash covers L4 ports (`skb->l4_hash`).
    pub l4: bool,
}

/// What the RX path needs to know about one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RxPacketInfo {
    /// Packet length in bytes (`skb->len`).
    pub len: u32,
    /// GSO type and size, if the skb is GSO and the frontend negotiated that
    /// type (C: `(1 << gso_type) & vif->gso_mask`).
    pub gso: Option<(GsoType, u16)>,
    /// Software hash, if any (`skb->sw_hash`).
    pub hash: Option<RxHash>,
    /// Checksum state.
    pub csum: RxCsum,
}

/// Negotiated per-VIF RX parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RxConfig {
    /// XDP headroom, at most [`RX_MAX_XDP_HEADROOM`].
    pub xdp_headroom: u16,
}

/// The largest XDP headroom the backend applies: one byte short of a page.
/// The protocol lets a frontend ask for up to `XEN_NETIF_MAX_XDP_HEADROOM`
/// (0x7FFF), more than the page each buffer is. Honouring that would put
/// the copy destination outside the guest's page and make the response
/// status (headroom + length, an `int16_t`) overflow into a negative, i.e.
/// an error code. A frontend asking for more gets this headroom, which the
/// XDP extra reports, and one data byte per buffer.
pub const RX_MAX_XDP_HEADROOM: u16 = (XEN_PAGE_SIZE - 1) as u16;

impl RxConfig {
    /// A config with the headroom clamped to [`RX_MAX_XDP_HEADROOM`].
    pub const fn new(xdp_headroom: u16) -> Self {
        let h = if xdp_headroom > RX_MAX_XDP_HEADROOM { RX_MAX_XDP_HEADROOM } else { xdp_headroom };
        RxConfig { xdp_headroom: h }
    }

    /// Data bytes one guest buffer takes: a page minus the headroom (every
    /// data slot starts at `xdp_headroom`), at least 1. With a near-page
    /// headroom packets need more buffers than the ring has, so they are
    /// dropped (see [`rx_packet_fits_ring`]).
    pub const fn bytes_per_slot(&self) -> u32 {
        let room = XEN_PAGE_SIZE.saturating_sub(self.xdp_headroom as u32);
        if room == 0 {
            1
        } else {
            room
        }
    }
}

/// The extra-info segments a packet carries, as a set, so that counting them per packet
/// builds none: each is built only when its slot is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RxExtras(u8);

impl RxExtras {
    const GSO: u8 = 1 << 0;
    const HASH: u8 = 1 << 1;
    const XDP: u8 = 1 << 2;

    fn of(cfg: &RxConfig, pkt: &RxPacketInfo) -> Self {
        let mut set = 0;
        if pkt.gso.is_some() {
            set |= Self::GSO;
        }
        if pkt.hash.is_some() {
            set |= Self::HASH;
        }
        if cfg.xdp_headroom != 0 {
            set |= Self::XDP;
        }
        RxExtras(set)
    }

    const fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// Takes the next extra in ring order, the order of `pkt->extras[type - 1]` in
    /// `xenvif_rx_extra_slot`: GSO (1), HASH (4), XDP (5).
    fn take_next(&mut self, cfg: &RxConfig, pkt: &RxPacketInfo) -> Option<ExtraInfo> {
        if self.0 == 0 {
            return None;
        }
        let bit = self.0 & self.0.wrapping_neg();
        self.0 &= !bit;
        match bit {
            Self::GSO => pkt.gso.map(|(kind, size)| ExtraInfo::Gso { size, gso_type: kind.to_wire(), features: 0 }),
            Self::HASH => pkt.hash.map(|h| ExtraInfo::Hash {
                hash_type: match (h.ipv4, h.l4) {
                    (true, true) => XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP_BIT,
                    (true, false) => XEN_NETIF_CTRL_HASH_TYPE_IPV4_BIT,
                    (false, true) => XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP_BIT,
                    (false, false) => XEN_NETIF_CTRL_HASH_TYPE_IPV6_BIT,
                },
                algorithm: XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ as u8,
                value: h.value,
            }),
            _ => Some(ExtraInfo::Xdp { headroom: cfg.xdp_headroom }),
        }
    }
}

/// Data slots a packet of `len` bytes takes (at least one: an empty packet
/// still produces one data response).
pub fn rx_data_slots(cfg: &RxConfig, len: u32) -> u32 {
    let per = cfg.bytes_per_slot();
    let n = len.div_ceil(per.max(1));
    n.max(1)
}

/// Ring slots (guest buffers) a packet consumes: data slots, plus one each
/// for the GSO, HASH and XDP extras. This is the exact count
/// `xenvif_rx_skb` consumes. The C `xenvif_update_needed_slots` estimate
/// (`DIV_ROUND_UP(len, 4096) + gso + hash`) ignores the XDP headroom and
/// extra; with headroom it undercounts, so it is not reproduced.
pub fn rx_slots_needed(cfg: &RxConfig, pkt: &RxPacketInfo) -> u32 {
    rx_data_slots(cfg, pkt.len).saturating_add(RxExtras::of(cfg, pkt).count())
}

/// Whether a packet needing `needed` slots can ever be delivered on a ring
/// of `ring_size` entries; if not, drop it now rather than hold it until the
/// drain timeout.
pub const fn rx_packet_fits_ring(needed: u32, ring_size: u32) -> bool {
    needed <= ring_size
}

/// `xenvif_rx_ring_slots_available`: reserves `needed` posted buffers for
/// one packet (see [`BackRing::reserve_requests`]: one read of `req_prod`
/// both bounds-checks and counts). If fewer are posted, arms `req_event =
/// req_prod + 1` and re-checks, so that a buffer posted meanwhile is not
/// missed; `None` then. `needed == 0` (nothing queued) is `None`. A
/// `req_prod` more than a ring ahead is a fatal [`RingError`].
///
/// C re-checks for as long as `req_prod` keeps moving; a guest that moves
/// it without end would hold the RX worker here, so the re-checks stop after
/// [`RX_SLOTS_RECHECKS`]: the event stays armed at the last value seen, and
/// the worker's periodic recheck covers a post that raced with the last arm.
pub fn rx_slots_available<R>(ring: &mut BackRing<R>, needed: u32) -> Result<Option<RequestReservation>, RingError>
where
    R: SharedRing<Request = RxRequest, Response = RxResponse>,
{
    if needed == 0 {
        return Ok(None);
    }
    for _ in 0..RX_SLOTS_RECHECKS {
        let prod = match ring.reserve_requests(needed)? {
            Reservation::Granted(reservation) => return Ok(Some(reservation)),
            Reservation::Short { req_prod } => req_prod,
        };
        ring.arm_req_event_after(prod);
        if ring.ring().req_prod_acquire() == prod {
            return Ok(None);
        }
    }
    Ok(None)
}

/// How often [`rx_slots_available`] re-checks a `req_prod` that moved while
/// it armed the event.
pub const RX_SLOTS_RECHECKS: u32 = 16;

/// The data response of one guest buffer as `xenvif_rx_data_slot` builds it:
/// `offset` 0, `status` = bytes up to the end of the data in the buffer
/// (headroom + `len`), flags more_data / checksum / extra_info.
pub fn rx_data_response(
    id: u16,
    status_bytes: u16,
    first: bool,
    more: bool,
    csum: RxCsum,
    has_extras: bool,
) -> RxResponse {
    let mut flags = if more { NETRXF_MORE_DATA } else { 0 };
    if first {
        flags |= match csum {
            RxCsum::Partial => NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED,
            RxCsum::Unnecessary => NETRXF_DATA_VALIDATED,
            RxCsum::None => 0,
        };
        if has_extras {
            flags |= NETRXF_EXTRA_INFO;
        }
    }
    RxResponse { id, offset: 0, flags, status: i16::try_from(status_bytes).unwrap_or(i16::MAX) }
}

/// `rsp` with its status replaced by a failed grant copy's (negative GNTST_*)
/// status, as `xenvif_rx_copy_flush` does.
pub fn rx_copy_failed_response(rsp: RxResponse, gnttab_status: i16) -> RxResponse {
    RxResponse { status: gnttab_status, ..rsp }
}

/// What the shell does for one consumed guest buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxStep {
    /// Grant-copy the next `len` bytes of the packet into `request.gref` at
    /// `dest_offset`. The response is already written at `index`.
    Data {
        /// The guest's buffer.
        request: RxRequest,
        /// Ring index (for `overwrite_unpublished` if the copy fails).
        index: u32,
        /// Offset in the guest page (the XDP headroom).
        dest_offset: u16,
        /// Bytes to copy.
        len: u16,
        /// The response written (to rebuild it with an error status).
        response: RxResponse,
    },
    /// An extra-info segment was written at `index`; nothing to copy.
    Extra {
        /// Ring index.
        index: u32,
    },
}

/// Error while writing a packet to the guest (a shell bug, or a ring
/// violation; either way the VIF is disabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxError {
    /// Ring violation, including a reservation used up or used after other
    /// requests were consumed.
    Ring(RingError),
    /// The reservation does not cover exactly [`rx_slots_needed`] buffers.
    ReservationMismatch {
        /// Requests reserved.
        reserved: u32,
        /// Requests the packet takes.
        needed: u32,
    },
}

impl RxError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            RxError::Ring(e) => e.description(),
            RxError::ReservationMismatch { .. } => "RX reservation does not match the packet's slots",
        }
    }
}

/// Whether a packet takes one guest buffer and nothing else (no extra segment), the case
/// of every small packet: [`rx_write_lone_slot`] writes it in one step. The same as
/// `rx_slots_needed(cfg, pkt) == 1`, without its division.
pub fn rx_is_lone_slot(cfg: &RxConfig, pkt: &RxPacketInfo) -> bool {
    pkt.len <= cfg.bytes_per_slot() && RxExtras::of(cfg, pkt).count() == 0
}

/// Consumes the one buffer of `reservation` for a packet that takes no other
/// ([`rx_is_lone_slot`]) and writes its response: exactly what
/// [`RxPacketWriter`] does for such a packet, in one call instead of a
/// writer's state and a step per buffer, as most packets are small.
pub fn rx_write_lone_slot<R>(
    ring: &mut BackRing<R>,
    mut reservation: RequestReservation,
    cfg: &RxConfig,
    pkt: &RxPacketInfo,
) -> Result<RxStep, RxError>
where
    R: SharedRing<Request = RxRequest, Response = RxResponse>,
{
    if reservation.remaining() != 1 || !rx_is_lone_slot(cfg, pkt) {
        return Err(RxError::ReservationMismatch {
            reserved: reservation.remaining(),
            needed: rx_slots_needed(cfg, pkt),
        });
    }
    let index = ring.req_cons();
    let request = ring.take_reserved(&mut reservation).map_err(RxError::Ring)?;
    // The C driver reports headroom + length as the status; both fit a page.
    let end = u32::from(cfg.xdp_headroom) + pkt.len;
    let response = rx_data_response(request.id, u16::try_from(end).unwrap_or(u16::MAX), true, false, pkt.csum, false);
    ring.push_response(response).map_err(RxError::Ring)?;
    Ok(RxStep::Data {
        request,
        index,
        dest_offset: cfg.xdp_headroom,
        len: u16::try_from(pkt.len).unwrap_or(u16::MAX),
        response,
    })
}

/// Writes one packet's responses, one guest buffer per [`RxPacketWriter::next_step`]
/// (`xenvif_rx_skb`): first a data slot, then the extras, then more data
/// slots. It owns the packet's [`RequestReservation`] and takes requests
/// only from it, so it consumes exactly the buffers [`rx_slots_available`]
/// validated, whatever the frontend does to `req_prod` meanwhile.
#[derive(Debug)]
pub struct RxPacketWriter {
    reservation: RequestReservation,
    cfg: RxConfig,
    pkt: RxPacketInfo,
    /// The extras not yet written (all of them until the first slot is).
    extras: RxExtras,
    remaining: u32,
    slot: u32,
}

impl RxPacketWriter {
    /// Starts writing `pkt` into the buffers of `reservation`, which must
    /// cover exactly [`rx_slots_needed`] of them.
    pub fn new(cfg: &RxConfig, pkt: &RxPacketInfo, reservation: RequestReservation) -> Result<Self, RxError> {
        let needed = rx_slots_needed(cfg, pkt);
        if reservation.remaining() != needed {
            return Err(RxError::ReservationMismatch { reserved: reservation.remaining(), needed });
        }
        Ok(RxPacketWriter {
            reservation,
            cfg: *cfg,
            pkt: *pkt,
            extras: RxExtras::of(cfg, pkt),
            remaining: pkt.len,
            slot: 0,
        })
    }

    /// Whether every slot of the packet has been written.
    pub fn is_done(&self) -> bool {
        self.slot != 0 && self.remaining == 0 && self.extras.count() == 0
    }

    /// Consumes the next reserved guest buffer and writes its response;
    /// `Ok(None)` once the packet is complete.
    pub fn next_step<R>(&mut self, ring: &mut BackRing<R>) -> Result<Option<RxStep>, RxError>
    where
        R: SharedRing<Request = RxRequest, Response = RxResponse>,
    {
        if self.is_done() {
            return Ok(None);
        }
        let index = ring.req_cons();
        let request = ring.take_reserved(&mut self.reservation).map_err(RxError::Ring)?;
        let step = if self.slot != 0 && self.extras.count() != 0 {
            let rsp = match self.extras.take_next(&self.cfg, &self.pkt) {
                Some(e) => e.to_raw(self.extras.count() != 0).to_rx_response(),
                None => RxResponse::default(),
            };
            ring.push_response(rsp).map_err(RxError::Ring)?;
            RxStep::Extra { index }
        } else {
            let headroom = u32::from(self.cfg.xdp_headroom);
            let len = self.remaining.min(self.cfg.bytes_per_slot());
            self.remaining -= len;
            // The C driver reports headroom + length as the status.
            let end = headroom.saturating_add(len);
            let response = rx_data_response(
                request.id,
                u16::try_from(end).unwrap_or(u16::MAX),
                self.slot == 0,
                self.remaining > 0,
                self.pkt.csum,
                // Read for the first slot only, before any extra is taken.
                self.extras.count() != 0,
            );
            ring.push_response(response).map_err(RxError::Ring)?;
            RxStep::Data {
                request,
                index,
                dest_offset: self.cfg.xdp_headroom,
                len: u16::try_from(len).unwrap_or(u16::MAX),
                response,
            }
        };
        self.slot = self.slot.saturating_add(1);
        Ok(Some(step))
    }
}

/// `time_after(a, b)`: whether tick `a` is after tick `b`, modulo wrap.
pub const fn time_after(a: u64, b: u64) -> bool {
    (b.wrapping_sub(a) as i64) < 0
}

/// `time_before(a, b)`.
pub const fn time_before(a: u64, b: u64) -> bool {
    time_after(b, a)
}

/// RX timeouts in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxTimeouts {
    /// How long a queued packet may wait before it is dropped.
    pub drain: u64,
    /// How long without enough buffers before the carrier goes off; 0 disables
    /// stall detection.
    pub stall: u64,
}

impl RxTimeouts {
    /// The timeouts for a frontend: without `feature-rx-notify` the drain
    /// timeout is 30 ms and stall detection is off (`read_xenbus_vif_flags`).
    /// `ms_to_ticks` converts milliseconds to the caller's clock.
    pub fn for_frontend(rx_notify: bool, drain_ms: u32, stall_ms: u32, ms_to_ticks: impl Fn(u32) -> u64) -> Self {
        if rx_notify {
            RxTimeouts { drain: ms_to_ticks(drain_ms), stall: ms_to_ticks(stall_ms) }
        } else {
            RxTimeouts { drain: ms_to_ticks(RX_DRAIN_TIMEOUT_MS_NO_NOTIFY), stall: 0 }
        }
    }

    /// Expiry tick of a packet queued at `now`.
    pub fn expires(&self, now: u64) -> u64 {
        now.wrapping_add(self.drain)
    }
}

/// Largest per-VIF drain or stall timeout an administrator may set (one
/// hour); xen-netback's module parameters have no bound, but a larger value
/// only hides a dead guest.
pub const RX_TIMEOUT_MS_MAX: u32 = 3_600_000;

/// Parses a per-VIF timeout written through sysfs: decimal milliseconds in
/// `1..=RX_TIMEOUT_MS_MAX`, optionally followed by one newline (what `echo`
/// writes). `None` for anything else (0 would drop every queued packet at
/// once or flap the carrier).
pub fn parse_timeout_ms(value: &[u8]) -> Option<u32> {
    let value = value.strip_suffix(b"\n").unwrap_or(value);
    if value.is_empty() || value.len() > 7 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ms = value.iter().fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
    (1..=RX_TIMEOUT_MS_MAX).contains(&ms).then_some(ms)
}

/// Whether a packet with expiry `expires` must be dropped at `now`
/// (`xenvif_rx_queue_drop_expired`).
pub const fn rx_packet_expired(now: u64, expires: u64) -> bool {
    !time_before(now, expires)
}

/// A carrier change: of one queue, decided by [`RxStall::update`], or of
/// the device, decided from those by [`StalledQueues::apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarrierChange {
    /// Nothing to do.
    None,
    /// Off: the queue stalled / the first queue of the device stalled.
    Off,
    /// On: the queue recovered / the last stalled queue of the device recovered.
    On,
}

/// The device-wide carrier over all queues of a VIF (`vif->stalled_queues`
/// with `xenvif_queue_carrier_off/on`): off while any queue is stalled. A
/// connection starts with every queue stalled ([`RxStall::new`]), so the
/// carrier comes on once every queue is ready. The shell keeps one per VIF
/// under a lock and applies the device change while holding it, so that
/// two queues' decisions cannot be applied out of order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StalledQueues {
    stalled: u32,
}

impl StalledQueues {
    /// At connect: all `queues` queues stalled.
    pub const fn all(queues: u32) -> Self {
        StalledQueues { stalled: queues }
    }

    /// Queues currently stalled.
    pub const fn count(&self) -> u32 {
        self.stalled
    }

    /// Counts one queue's change; returns the device's.
    pub fn apply(&mut self, queue: CarrierChange) -> CarrierChange {
        match queue {
            CarrierChange::None => CarrierChange::None,
            CarrierChange::Off => {
                self.stalled = self.stalled.saturating_add(1);
                if self.stalled == 1 {
                    CarrierChange::Off
                } else {
                    CarrierChange::None
                }
            }
            // A recovery without a counted stall (a queue of an earlier
            // connection) changes nothing.
            CarrierChange::On if self.stalled == 0 => CarrierChange::None,
            CarrierChange::On => {
                self.stalled -= 1;
                if self.stalled == 0 {
                    CarrierChange::On
                } else {
                    CarrierChange::None
                }
            }
        }
    }
}

/// Per-queue stall detection state (`queue->stalled`, `last_rx_time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxStall {
    stalled: bool,
    last_rx: u64,
}

impl RxStall {
    /// Initial state: the C driver starts every queue as stalled and turns
    /// the carrier on from the RX thread (immediately when stall detection
    /// is disabled, otherwise once buffers are posted).
    pub const fn new(now: u64) -> Self {
        RxStall { stalled: true, last_rx: now }
    }

    /// Whether the queue is currently considered stalled.
    pub const fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Records that a packet was written to the guest at `now`.
    pub fn packet_sent(&mut self, now: u64) {
        self.last_rx = now;
    }

    /// Buffers a queue must have posted to count as ready: enough for the
    /// head packet and at least one. C's `xenvif_rx_queue_ready` compares
    /// with the head packet's count alone, which is 0 with nothing queued,
    /// so its carrier comes on before the guest posted any buffer.
    const fn buffers_wanted(needed: u32) -> u32 {
        if needed == 0 {
            1
        } else {
            needed
        }
    }

    /// `xenvif_rx_queue_stalled`.
    pub fn would_stall(&self, posted: u32, needed: u32, now: u64, stall_timeout: u64) -> bool {
        !self.stalled
            && posted < Self::buffers_wanted(needed)
            && time_after(now, self.last_rx.wrapping_add(stall_timeout))
    }

    /// `xenvif_rx_queue_ready`.
    pub fn would_recover(&self, posted: u32, needed: u32) -> bool {
        self.stalled && posted >= Self::buffers_wanted(needed)
    }

    /// One pass of the RX thread's stall logic. `posted` = `req_prod -
    /// req_cons`, `needed` = slots needed by the head packet (0 if none).
    /// The queue's change goes to the VIF's [`StalledQueues`].
    pub fn update(&mut self, posted: u32, needed: u32, now: u64, timeouts: &RxTimeouts) -> CarrierChange {
        if timeouts.stall == 0 {
            if self.stalled {
                self.stalled = false;
                self.last_rx = now;
                return CarrierChange::On;
            }
            return CarrierChange::None;
        }
        if self.would_stall(posted, needed, now, timeouts.stall) {
            self.stalled = true;
            CarrierChange::Off
        } else if self.would_recover(posted, needed) {
            self.stalled = false;
            self.last_rx = now;
            CarrierChange::On
        } else {
            CarrierChange::None
        }
    }

    /// Whether the RX thread has stall work (`xenvif_have_rx_work` terms).
    pub fn has_work(&self, posted: u32, needed: u32, now: u64, timeouts: &RxTimeouts) -> bool {
        timeouts.stall != 0
            && (self.would_stall(posted, needed, now, timeouts.stall) || self.would_recover(posted, needed))
    }
}

/// What `ndo_start_xmit` does with a packet for the guest ([`rx_backlog_admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxAdmit {
    /// Queue it; with `stop`, the packet fills the backlog: stop the netdev
    /// queue now, so the next packet waits in the qdisc.
    Queue {
        /// Stop the netdev queue after queuing.
        stop: bool,
    },
    /// The backlog is full although the netdev queue was stopped (a caller
    /// that ignores the stop, such as netpoll): drop it.
    Drop,
}

/// The per-queue guest-RX backlog's rule (`rx_queue_len` against
/// `rx_queue_max`), for a packet of `len` bytes arriving with `queued` bytes
/// in the backlog. xen-netback stops the netdev queue only when a packet
/// finds the backlog full, and drops that packet: a TCP sender then takes a
/// loss each time the guest falls behind. Here the packet that fills the
/// backlog stops the queue, as a NIC driver stops its queue when its ring
/// fills, so nothing is dropped while the stack honours the stop. The bound
/// is the same: at most `RX_QUEUE_MAX_BYTES` plus one packet.
pub fn rx_backlog_admit(queued: u32, len: u32) -> RxAdmit {
    if !rx_backlog_has_room(queued) {
        return RxAdmit::Drop;
    }
    RxAdmit::Queue { stop: !rx_backlog_has_room(queued.saturating_add(len)) }
}

/// Whether the netdev queue may run with `queued` bytes in the backlog
/// (`xenvif_rx_dequeue`'s wake condition).
pub const fn rx_backlog_has_room(queued: u32) -> bool {
    queued < RX_QUEUE_MAX_BYTES
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    #[test]
    fn timeouts_from_sysfs() {
        assert_eq!(parse_timeout_ms(b"10000\n"), Some(10_000));
        assert_eq!(parse_timeout_ms(b"1"), Some(1));
        assert_eq!(parse_timeout_ms(b"3600000"), Some(RX_TIMEOUT_MS_MAX));
        for bad in [&b"0"[..], b"3600001", b"", b"\n", b"-5", b"abc", b"10 ", b"1\n\n", b"99999999999", b"+5", b" 5"] {
            assert_eq!(parse_timeout_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn switches_from_sysfs() {
        assert_eq!(parse_switch(b"1\n"), Some(true));
        assert_eq!(parse_switch(b"1"), Some(true));
        assert_eq!(parse_switch(b"0\n"), Some(false));
        for bad in [&b""[..], b"\n", b"2", b"on", b"01", b"1\n\n", b" 1", b"-1", b"true"] {
            assert_eq!(parse_switch(bad), None, "{bad:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring::MemRing;
    use super::super::wire::{
        ExtraInfoRaw, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_XDP,
    };
    use super::*;

    type Ring = MemRing<RxRequest, RxResponse, 256>;

    fn post(r: &mut BackRing<Ring>, n: u16) {
        for i in 0..n {
            r.ring_mut().push_request(RxRequest { id: 100 + i, pad: 0, gref: u32::from(i) });
        }
    }

    #[test]
    fn sender_writes_only_a_lone_small_packet() {
        assert!(rx_sender_writes(true, 1, 0));
        assert!(rx_sender_writes(true, RX_SENDER_MAX_BYTES, 0));
        assert!(!rx_sender_writes(true, RX_SENDER_MAX_BYTES + 1, 0));
        assert!(!rx_sender_writes(true, 65_536, 0));
        // A backlog: the packet would overtake it.
        assert!(!rx_sender_writes(true, 60, 1));
        assert!(!rx_sender_writes(true, 60, 2));
        // The knob off: the thread writes everything.
        assert!(!rx_sender_writes(false, 1, 0));
        assert!(!rx_sender_writes(false, RX_SENDER_MAX_BYTES, 0));
    }

    #[test]
    fn slots_needed_counts_pages_and_extras() {
        let c = RxConfig::default();
        let mut p = RxPacketInfo { len: 60, ..Default::default() };
        assert_eq!(rx_slots_needed(&c, &p), 1);
        p.len = 0;
        assert_eq!(rx_slots_needed(&c, &p), 1);
        p.len = 4096;
        assert_eq!(rx_slots_needed(&c, &p), 1);
        p.len = 4097;
        assert_eq!(rx_slots_needed(&c, &p), 2);
        p.len = 65535;
        p.gso = Some((GsoType::TcpV4, 1448));
        assert_eq!(rx_slots_needed(&c, &p), 17);
        p.hash = Some(RxHash { value: 1, ipv4: true, l4: true });
        assert_eq!(rx_slots_needed(&c, &p), 18);
        let x = RxConfig::new(0xFFFF);
        assert_eq!(x.xdp_headroom, RX_MAX_XDP_HEADROOM);
        assert_eq!(rx_slots_needed(&RxConfig::new(96), &RxPacketInfo { len: 4096, ..Default::default() }), 3);
        let huge = RxConfig::new(0x7FFF);
        assert_eq!(huge.bytes_per_slot(), 1);
        let n = rx_slots_needed(&huge, &RxPacketInfo { len: 1500, ..Default::default() });
        assert!(!rx_packet_fits_ring(n, XEN_NETIF_RX_RING_SIZE));
    }

    #[test]
    fn writer_matches_c_layout() {
        let cfg = RxConfig::new(0);
        let pkt = RxPacketInfo {
            len: 5000,
            gso: Some((GsoType::TcpV4, 1448)),
            hash: Some(RxHash { value: 0xabcd, ipv4: true, l4: false }),
            csum: RxCsum::Partial,
        };
        let needed = rx_slots_needed(&cfg, &pkt);
        assert_eq!(needed, 4);
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 3);
        assert_eq!(rx_slots_available(&mut r, needed), Ok(None));
        assert_eq!(r.ring().req_event, 4);
        post(&mut r, 1);
        let res = rx_slots_available(&mut r, needed).unwrap().unwrap();
        let mut w = RxPacketWriter::new(&cfg, &pkt, res).unwrap();
        let mut steps = std::vec::Vec::new();
        while let Some(s) = w.next_step(&mut r).unwrap() {
            steps.push(s);
        }
        assert_eq!(steps.len(), 4);
        assert!(matches!(steps[0], RxStep::Data { len: 4096, index: 0, .. }));
        assert!(matches!(steps[1], RxStep::Extra { index: 1 }));
        assert!(matches!(steps[2], RxStep::Extra { index: 2 }));
        assert!(matches!(steps[3], RxStep::Data { len: 904, index: 3, .. }));
        assert!(r.push_responses_and_check_notify());
        let rsps: std::vec::Vec<_> = core::iter::from_fn(|| r.ring_mut().take_response()).collect();
        assert_eq!(rsps[0].id, 100);
        assert_eq!(rsps[0].status, 4096);
        assert_eq!(rsps[0].flags, NETRXF_MORE_DATA | NETRXF_CSUM_BLANK | NETRXF_DATA_VALIDATED | NETRXF_EXTRA_INFO);
        let e1 = ExtraInfoRaw::from_rx_response(&rsps[1]);
        assert_eq!(e1.kind, XEN_NETIF_EXTRA_TYPE_GSO);
        assert!(e1.more());
        let e2 = ExtraInfoRaw::from_rx_response(&rsps[2]);
        assert_eq!(e2.kind, XEN_NETIF_EXTRA_TYPE_HASH);
        assert!(!e2.more());
        assert_eq!(e2.parse(), Some(ExtraInfo::Hash { hash_type: 0, algorithm: 1, value: 0xabcd }));
        assert_eq!(rsps[3], RxResponse { id: 100, offset: 0, flags: 0, status: 904 });
        // 4th post reused id 100
    }

    #[test]
    fn all_three_extras_follow_the_first_slot_in_c_order() {
        // xenvif_rx_extra_slot walks pkt->extras[] by type: GSO (1), HASH (4), XDP (5).
        let cfg = RxConfig::new(64);
        let pkt = RxPacketInfo {
            len: 100,
            gso: Some((GsoType::TcpV6, 1440)),
            hash: Some(RxHash { value: 7, ipv4: false, l4: true }),
            csum: RxCsum::None,
        };
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 4);
        assert_eq!(rx_slots_needed(&cfg, &pkt), 4);
        let mut w = writer(&cfg, &pkt, &mut r);
        while w.next_step(&mut r).unwrap().is_some() {}
        assert!(w.is_done());
        r.push_responses_and_check_notify();
        let rsps: std::vec::Vec<_> = core::iter::from_fn(|| r.ring_mut().take_response()).collect();
        assert_eq!(rsps.len(), 4);
        assert_eq!(rsps[0].flags, NETRXF_EXTRA_INFO);
        assert_eq!(rsps[0].status, 164);
        let kinds: std::vec::Vec<_> = rsps[1..].iter().map(ExtraInfoRaw::from_rx_response).collect();
        assert_eq!(
            kinds.iter().map(|e| e.kind).collect::<std::vec::Vec<_>>(),
            [XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_XDP]
        );
        assert_eq!(kinds.iter().map(|e| e.more()).collect::<std::vec::Vec<_>>(), [true, true, false]);
        assert_eq!(kinds[1].parse(), Some(ExtraInfo::Hash { hash_type: 3, algorithm: 1, value: 7 }));
        assert_eq!(kinds[2].parse(), Some(ExtraInfo::Xdp { headroom: 64 }));
    }

    #[test]
    fn xdp_headroom_offsets_every_slot() {
        let cfg = RxConfig::new(256);
        let pkt = RxPacketInfo { len: 4000, ..Default::default() };
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 3);
        assert_eq!(rx_slots_needed(&cfg, &pkt), 3);
        let mut w = writer(&cfg, &pkt, &mut r);
        let s0 = w.next_step(&mut r).unwrap().unwrap();
        assert!(matches!(s0, RxStep::Data { dest_offset: 256, len: 3840, response, .. } if response.status == 4096));
        assert!(matches!(w.next_step(&mut r).unwrap(), Some(RxStep::Extra { .. })));
        assert!(matches!(w.next_step(&mut r).unwrap(), Some(RxStep::Data { len: 160, .. })));
        assert_eq!(w.next_step(&mut r).unwrap(), None);
        r.push_responses_and_check_notify();
        r.ring_mut().take_response();
        let x = ExtraInfoRaw::from_rx_response(&r.ring_mut().take_response().unwrap());
        assert_eq!(x.kind, XEN_NETIF_EXTRA_TYPE_XDP);
    }

    #[test]
    fn oversized_headroom_keeps_data_in_page_and_status_positive() {
        // 0x7FFF is allowed by the protocol; unclamped, the data would land
        // outside the page and status 0x7FFF + 1 would read as -32768.
        let cfg = RxConfig::new(0x7FFF);
        let pkt = RxPacketInfo { len: 1, ..Default::default() };
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 2);
        match w_first(&cfg, &pkt, &mut r) {
            RxStep::Data { dest_offset, len, response, .. } => {
                assert_eq!(u32::from(dest_offset) + u32::from(len), XEN_PAGE_SIZE);
                assert_eq!(response.status, XEN_PAGE_SIZE as i16);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A writer for `pkt` on the buffers posted in `r` (enough of them).
    fn writer(cfg: &RxConfig, pkt: &RxPacketInfo, r: &mut BackRing<Ring>) -> RxPacketWriter {
        let res = rx_slots_available(r, rx_slots_needed(cfg, pkt)).unwrap().unwrap();
        RxPacketWriter::new(cfg, pkt, res).unwrap()
    }

    fn w_first(cfg: &RxConfig, pkt: &RxPacketInfo, r: &mut BackRing<Ring>) -> RxStep {
        writer(cfg, pkt, r).next_step(r).unwrap().unwrap()
    }

    #[test]
    fn writer_never_reads_req_prod() {
        // 9000 bytes: 3 buffers. The frontend rewinds req_prod to req_cons
        // after the first one, then pushes it far ahead: the writer takes
        // exactly the three reserved buffers, no more, and never errs.
        let cfg = RxConfig::default();
        let pkt = RxPacketInfo { len: 9000, ..Default::default() };
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 3);
        let mut w = writer(&cfg, &pkt, &mut r);
        assert!(w.next_step(&mut r).unwrap().is_some());
        r.ring_mut().req_prod = r.req_cons();
        assert!(w.next_step(&mut r).unwrap().is_some());
        r.ring_mut().req_prod = r.req_cons().wrapping_add(100_000);
        assert!(matches!(w.next_step(&mut r), Ok(Some(RxStep::Data { len: 808, index: 2, .. }))));
        assert_eq!(w.next_step(&mut r), Ok(None));
        assert!(w.is_done());
        assert_eq!(r.req_cons(), 3);
        assert_eq!(r.ring().request_reads.get(), 3);
    }

    #[test]
    fn writer_refuses_wrong_or_stale_reservations() {
        let cfg = RxConfig::default();
        let pkt = RxPacketInfo { len: 9000, ..Default::default() };
        let mut r = BackRing::new(Ring::new()).unwrap();
        post(&mut r, 4);
        let short = rx_slots_available(&mut r, 2).unwrap().unwrap();
        assert_eq!(
            RxPacketWriter::new(&cfg, &pkt, short).err(),
            Some(RxError::ReservationMismatch { reserved: 2, needed: 3 })
        );
        let long = rx_slots_available(&mut r, 4).unwrap().unwrap();
        assert!(RxPacketWriter::new(&cfg, &pkt, long).is_err());
        let res = rx_slots_available(&mut r, 3).unwrap().unwrap();
        let mut w = RxPacketWriter::new(&cfg, &pkt, res).unwrap();
        // Something else consumed a buffer behind the writer's back.
        r.next_request().unwrap();
        assert!(matches!(
            w.next_step(&mut r),
            Err(RxError::Ring(RingError::ReservationStale { next: 0, req_cons: 1 }))
        ));
        assert_eq!(r.req_cons(), 1);
    }

    #[test]
    fn slots_available_checks_one_snapshot() {
        let mut r = BackRing::new(Ring::new()).unwrap();
        assert_eq!(rx_slots_available(&mut r, 0), Ok(None));
        r.ring_mut().req_prod = 257;
        assert!(matches!(rx_slots_available(&mut r, 1), Err(RingError::ImpossibleRequestCount { .. })));
        r.ring_mut().req_prod = 256;
        assert_eq!(rx_slots_available(&mut r, 256).map(|o| o.map(|res| res.remaining())), Ok(Some(256)));
        assert_eq!(rx_slots_available(&mut r, 257), Ok(None));
        assert_eq!(r.ring().req_event, 257);
        assert_eq!(r.req_cons(), 0, "nothing consumed");
    }

    #[test]
    fn copy_failure_overwrites_status() {
        let rsp = rx_data_response(5, 100, true, false, RxCsum::None, false);
        assert_eq!(rx_copy_failed_response(rsp, -3).status, -3);
    }

    #[test]
    fn stall_and_drain_timing() {
        let t = RxTimeouts::for_frontend(true, 10_000, 60_000, u64::from);
        let mut s = RxStall::new(0);
        assert_eq!(s.update(10, 1, 0, &t), CarrierChange::On);
        assert_eq!(s.update(0, 1, 60_000, &t), CarrierChange::None);
        assert_eq!(s.update(0, 1, 60_001, &t), CarrierChange::Off);
        assert_eq!(s.update(0, 1, 70_000, &t), CarrierChange::None);
        assert_eq!(s.update(1, 1, 70_001, &t), CarrierChange::On);
        let n = RxTimeouts::for_frontend(false, 10_000, 60_000, u64::from);
        assert_eq!(n, RxTimeouts { drain: 30, stall: 0 });
        let mut s2 = RxStall::new(0);
        assert_eq!(s2.update(0, 5, 1 << 40, &n), CarrierChange::On);
        assert_eq!(s2.update(0, 5, 1 << 41, &n), CarrierChange::None);
        // Nothing queued (needed 0): ready only once a buffer is posted, and
        // an empty ring stalls after the timeout like a short one.
        let mut s3 = RxStall::new(0);
        assert_eq!(s3.update(0, 0, 10, &t), CarrierChange::None);
        assert!(s3.is_stalled());
        assert!(!s3.has_work(0, 0, 10, &t));
        assert!(s3.has_work(1, 0, 11, &t));
        assert_eq!(s3.update(1, 0, 11, &t), CarrierChange::On);
        assert_eq!(s3.update(0, 0, 60_011, &t), CarrierChange::None);
        assert_eq!(s3.update(0, 0, 60_012, &t), CarrierChange::Off);
        let exp = t.expires(u64::MAX - 5);
        assert!(!rx_packet_expired(u64::MAX, exp));
        assert!(rx_packet_expired(exp, exp));
        assert!(time_after(3, u64::MAX));
    }

    #[test]
    fn carrier_follows_the_last_stalled_queue() {
        let mut v = StalledQueues::all(2);
        assert_eq!(v.apply(CarrierChange::None), CarrierChange::None);
        // Both queues start stalled: on only when both are ready.
        assert_eq!(v.apply(CarrierChange::On), CarrierChange::None);
        assert_eq!(v.apply(CarrierChange::On), CarrierChange::On);
        assert_eq!(v.count(), 0);
        // Queue 0 stalls: off. Queue 1 stays healthy, queue 1 cannot turn
        // it back on; queue 0 recovering does.
        assert_eq!(v.apply(CarrierChange::Off), CarrierChange::Off);
        assert_eq!(v.apply(CarrierChange::None), CarrierChange::None);
        assert_eq!(v.apply(CarrierChange::Off), CarrierChange::None);
        assert_eq!(v.apply(CarrierChange::On), CarrierChange::None);
        assert_eq!(v.apply(CarrierChange::On), CarrierChange::On);
        // An unbalanced recovery changes nothing and does not underflow.
        assert_eq!(v.apply(CarrierChange::On), CarrierChange::None);
        assert_eq!(v.count(), 0);
    }

    #[test]
    fn carrier_with_queues_driven_by_stall_logic() {
        // Two queues through RxStall into one StalledQueues, as the shell
        // runs them: a healthy queue 1 never turns on a carrier that queue
        // 0's stall turned off.
        let t = RxTimeouts::for_frontend(true, 10_000, 100, u64::from);
        let mut q = [RxStall::new(0), RxStall::new(0)];
        let mut vif = StalledQueues::all(2);
        let mut carrier = false;
        let mut step = |q: &mut RxStall, posted, needed, now, carrier: &mut bool| match vif
            .apply(q.update(posted, needed, now, &t))
        {
            CarrierChange::On => *carrier = true,
            CarrierChange::Off => *carrier = false,
            CarrierChange::None => {}
        };
        step(&mut q[0], 0, 0, 1, &mut carrier);
        step(&mut q[1], 5, 0, 1, &mut carrier);
        assert!(!carrier, "queue 0 has posted nothing yet");
        step(&mut q[0], 1, 0, 2, &mut carrier);
        assert!(carrier);
        step(&mut q[0], 0, 3, 200, &mut carrier);
        assert!(!carrier);
        for now in 200..400 {
            step(&mut q[1], 256, 1, now, &mut carrier);
            assert!(!carrier);
        }
        step(&mut q[0], 3, 3, 400, &mut carrier);
        assert!(carrier);
    }

    #[test]
    fn backlog_stops_at_the_packet_that_fills_it() {
        assert_eq!(rx_backlog_admit(0, 1500), RxAdmit::Queue { stop: false });
        assert_eq!(rx_backlog_admit(RX_QUEUE_MAX_BYTES - 1501, 1500), RxAdmit::Queue { stop: false });
        assert_eq!(rx_backlog_admit(RX_QUEUE_MAX_BYTES - 1500, 1500), RxAdmit::Queue { stop: true });
        assert_eq!(rx_backlog_admit(RX_QUEUE_MAX_BYTES - 1, 65535), RxAdmit::Queue { stop: true });
        assert_eq!(rx_backlog_admit(RX_QUEUE_MAX_BYTES, 1), RxAdmit::Drop);
        assert_eq!(rx_backlog_admit(u32::MAX, u32::MAX), RxAdmit::Drop);
        // Queued bytes stay bounded by the cap plus one packet.
        let mut queued = 0u32;
        while let RxAdmit::Queue { stop } = rx_backlog_admit(queued, 65535) {
            queued += 65535;
            if stop {
                break;
            }
        }
        assert!((RX_QUEUE_MAX_BYTES..RX_QUEUE_MAX_BYTES + 65535).contains(&queued));
        assert!(!rx_backlog_has_room(queued));
        assert!(rx_backlog_has_room(queued - 65535));
    }
}

//! One netfront connection played from userspace: rings and buffers granted to the backend
//! domain, one event channel, the frontend's xenstore keys written like xen-netfront's
//! talk_to_netback, and raw access to the rings so attacks can post whatever they like.

use crate::xen_dev::{Evtchn, Gntalloc, GrantedPage, PAGE_SIZE};
use crate::xenstore::Xenstore;
use netif::wire::{
    CtrlRequest, CtrlResponse, ExtraInfoRaw, RxRequest, RxResponse, TxRequest, TxResponse, CTRL_RING_ENTRY_SIZE,
    RX_RING_ENTRY_SIZE, SRING_HEADER_SIZE, SRING_REQ_EVENT_OFFSET, SRING_REQ_PROD_OFFSET, SRING_RSP_EVENT_OFFSET,
    SRING_RSP_PROD_OFFSET, TX_RING_ENTRY_SIZE, XEN_NETIF_CTRL_RING_SIZE, XEN_NETIF_RX_RING_SIZE,
    XEN_NETIF_TX_RING_SIZE,
};
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

pub const STATE_INIT_WAIT: u32 = 2;
pub const STATE_CONNECTED: u32 = 4;
pub const STATE_CLOSING: u32 = 5;
pub const STATE_CLOSED: u32 = 6;

/// What an attack changes in the connection handshake.
#[derive(Default)]
pub struct ConnectTweaks {
    /// Value for multi-queue-num-queues instead of what netfront writes.
    pub num_queues: Option<String>,
    /// tx-ring-ref instead of the real ring's grant.
    pub tx_ring_ref: Option<u32>,
    /// event-channel instead of the real port.
    pub event_channel: Option<u32>,
    /// req_prod already in the TX ring when the backend maps it.
    pub tx_req_prod: Option<u32>,
    /// `xdp-headroom` to ask for (netfront asks for none unless XDP is on).
    pub xdp_headroom: Option<u32>,
    /// More frontend keys (relative to the device directory: `queue-1/tx-ring-ref`,
    /// `ctrl-ring-ref`, ...), written before `state` (multi-queue, split channels, control ring).
    pub extra_keys: Vec<(String, String)>,
}

/// What the RX responses taken so far looked like.
#[derive(Default)]
pub struct RxStats {
    /// Data responses with a positive status (bytes, or headroom + bytes).
    pub data: u32,
    /// Data responses with a negative status.
    pub errors: u32,
    /// Largest data status seen.
    pub max_status: i16,
}

pub struct Frontend {
    pub xs: Xenstore,
    pub dir: String,
    pub backend: String,
    pub mac: [u8; 6],
    evtchn: Evtchn,
    pub port: u32,
    tx: GrantedPage,
    rx: GrantedPage,
    /// TX data pages (granted read/write; the backend only reads them).
    pub data: Vec<GrantedPage>,
    /// RX buffers, indexed by request id.
    rxbufs: Vec<GrantedPage>,
    pub tx_req_prod: u32,
    pub tx_rsp_cons: u32,
    pub rx_req_prod: u32,
    pub rx_rsp_cons: u32,
    pub rx_stats: RxStats,
    _gnt: Gntalloc,
}

pub const TX_RING: u32 = XEN_NETIF_TX_RING_SIZE;
pub const RX_RING: u32 = XEN_NETIF_RX_RING_SIZE;
const DATA_PAGES: usize = 8;
/// One per ring slot, as netfront: a frontend with a large XDP headroom gets
/// one byte per buffer, and an ARP reply must still fit.
const RX_BUFFERS: usize = RX_RING as usize;

pub(crate) fn tx_slot(idx: u32) -> usize {
    (SRING_HEADER_SIZE + (idx % TX_RING) * TX_RING_ENTRY_SIZE) as usize
}
pub(crate) fn rx_slot(idx: u32) -> usize {
    (SRING_HEADER_SIZE + (idx % RX_RING) * RX_RING_ENTRY_SIZE) as usize
}

pub(crate) fn init_sring(p: &GrantedPage) {
    // SHARED_RING_INIT: indices 0, events 1.
    p.word(SRING_REQ_PROD_OFFSET).store(0, Ordering::SeqCst);
    p.word(SRING_RSP_PROD_OFFSET).store(0, Ordering::SeqCst);
    p.word(SRING_REQ_EVENT_OFFSET).store(1, Ordering::SeqCst);
    p.word(SRING_RSP_EVENT_OFFSET).store(1, Ordering::SeqCst);
}

impl Frontend {
    /// Opens the devices, reads the toolstack's keys for vif `handle`, waits for the backend
    /// to offer a connection (InitWait) and allocates rings, buffers and the event channel.
    pub fn prepare(handle: u32) -> Result<Self, String> {
        let mut xs = Xenstore::open().map_err(|e| format!("open /dev/xen/xenbus: {e}"))?;
        let dir = format!("device/vif/{handle}");
        let backend = xs.read(&format!("{dir}/backend"))?;
        let backend_id: u16 =
            xs.read(&format!("{dir}/backend-id"))?.parse().map_err(|_| "bad backend-id".to_string())?;
        let mac = crate::frames::parse_mac(&xs.read(&format!("{dir}/mac"))?)?;
        let (ok, st) =
            xs.wait_for(&format!("{backend}/state"), Duration::from_secs(30), |s| s == Some(STATE_INIT_WAIT));
        if !ok {
            return Err(format!("backend {backend} never reached InitWait (state {st:?})"));
        }
        let gnt = Gntalloc::open().map_err(|e| format!("open /dev/xen/gntalloc: {e}"))?;
        let grant = |what: &str| gnt.grant_page(backend_id).map_err(|e| format!("granting {what}: {e}"));
        let tx = grant("TX ring")?;
        let rx = grant("RX ring")?;
        init_sring(&tx);
        init_sring(&rx);
        let data = (0..DATA_PAGES).map(|_| grant("TX data")).collect::<Result<Vec<_>, _>>()?;
        let rxbufs = (0..RX_BUFFERS).map(|_| grant("RX buffer")).collect::<Result<Vec<_>, _>>()?;
        let evtchn = Evtchn::open().map_err(|e| format!("open /dev/xen/evtchn: {e}"))?;
        let port = evtchn.bind_unbound(backend_id).map_err(|e| format!("binding an event channel: {e}"))?;
        Ok(Self {
            xs,
            dir,
            backend,
            mac,
            evtchn,
            port,
            tx,
            rx,
            data,
            rxbufs,
            tx_req_prod: 0,
            tx_rsp_cons: 0,
            rx_req_prod: 0,
            rx_rsp_cons: 0,
            rx_stats: RxStats::default(),
            _gnt: gnt,
        })
    }

    /// Writes the frontend keys (talk_to_netback) and Connected, then waits up to `wait` for
    /// the backend to be Connected. Returns the backend state seen last.
    pub fn connect(&mut self, tweaks: &ConnectTweaks, wait: Duration) -> Result<(bool, Option<u32>), String> {
        if let Some(p) = tweaks.tx_req_prod {
            self.tx.word(SRING_REQ_PROD_OFFSET).store(p, Ordering::SeqCst);
        }
        let d = self.dir.clone();
        let has_mq = self.xs.read(&format!("{}/multi-queue-max-queues", self.backend)).is_ok();
        match &tweaks.num_queues {
            Some(v) => self.xs.write(&format!("{d}/multi-queue-num-queues"), v)?,
            None if has_mq => self.xs.write(&format!("{d}/multi-queue-num-queues"), "1")?,
            None => {}
        }
        let tx_ref = tweaks.tx_ring_ref.unwrap_or(self.tx.gref);
        let evt = tweaks.event_channel.unwrap_or(self.port);
        let keys = [
            ("tx-ring-ref", tx_ref.to_string()),
            ("rx-ring-ref", self.rx.gref.to_string()),
            ("event-channel", evt.to_string()),
            ("request-rx-copy", "1".into()),
            ("feature-rx-notify", "1".into()),
            ("feature-sg", "1".into()),
            ("feature-gso-tcpv4", "1".into()),
            ("feature-gso-tcpv6", "1".into()),
            ("feature-ipv6-csum-offload", "1".into()),
        ];
        for (k, v) in keys {
            self.xs.write(&format!("{d}/{k}"), &v)?;
        }
        if let Some(h) = tweaks.xdp_headroom {
            self.xs.write(&format!("{d}/xdp-headroom"), &h.to_string())?;
        }
        for (k, v) in &tweaks.extra_keys {
            self.xs.write(&format!("{d}/{k}"), v)?;
        }
        self.xs.write(&format!("{d}/state"), &STATE_CONNECTED.to_string())?;
        let p = format!("{}/state", self.backend);
        Ok(self.xs.wait_for(&p, wait, |s| s == Some(STATE_CONNECTED)))
    }

    /// Closes like netfront's remove: Closing, wait for the backend, Closed.
    pub fn close(&mut self) -> Option<u32> {
        let d = self.dir.clone();
        let p = format!("{}/state", self.backend);
        let _ = self.xs.write(&format!("{d}/state"), &STATE_CLOSING.to_string());
        self.xs.wait_for(&p, Duration::from_secs(5), |s| matches!(s, Some(STATE_CLOSING | STATE_CLOSED) | None));
        let _ = self.xs.write(&format!("{d}/state"), &STATE_CLOSED.to_string());
        self.xs.wait_for(&p, Duration::from_secs(5), |s| matches!(s, Some(STATE_CLOSED) | None)).1
    }

    /// The shared TX ring page (attacks that write slots and indices themselves).
    pub fn tx_ring(&self) -> &GrantedPage {
        &self.tx
    }
    /// The shared RX ring page.
    pub fn rx_ring(&self) -> &GrantedPage {
        &self.rx
    }
    /// RX buffer `i` (request ids index them).
    pub fn rx_buffer(&self, i: usize) -> &GrantedPage {
        &self.rxbufs[i % self.rxbufs.len()]
    }
    /// Empty rings and zeroed private indices, as a netfront has them before it
    /// (re)connects: the backend attaches at the indices it finds.
    pub fn reset_rings(&mut self) {
        init_sring(&self.tx);
        init_sring(&self.rx);
        self.tx_req_prod = 0;
        self.tx_rsp_cons = 0;
        self.rx_req_prod = 0;
        self.rx_rsp_cons = 0;
    }

    pub fn notify(&self) {
        let _ = self.evtchn.notify(self.port);
    }

    // ---- guest TX ring ----

    /// Writes a TX request into the slot at the current producer index and advances it
    /// (privately: `push_tx` publishes).
    pub fn put_tx(&mut self, req: TxRequest) {
        self.tx.write_obj(tx_slot(self.tx_req_prod), req);
        self.tx_req_prod = self.tx_req_prod.wrapping_add(1);
    }
    pub fn put_tx_extra(&mut self, extra: ExtraInfoRaw) {
        self.tx.write_obj(tx_slot(self.tx_req_prod), extra);
        self.tx_req_prod = self.tx_req_prod.wrapping_add(1);
    }
    /// Publishes req_prod (any value an attack wants) and kicks the backend.
    pub fn push_tx_raw(&mut self, req_prod: u32) {
        self.tx.word(SRING_REQ_PROD_OFFSET).store(req_prod, Ordering::SeqCst);
        self.notify();
    }
    pub fn push_tx(&mut self) {
        self.push_tx_raw(self.tx_req_prod);
    }
    pub fn tx_rsp_prod(&self) -> u32 {
        self.tx.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst)
    }
    /// Takes the responses the backend has published.
    pub fn take_tx_responses(&mut self) -> Vec<TxResponse> {
        let prod = self.tx_rsp_prod();
        let mut out = Vec::new();
        // A hostile backend is not the subject here; still bound the loop to one ring.
        while self.tx_rsp_cons != prod && out.len() < TX_RING as usize {
            out.push(self.tx.read_obj::<TxResponse>(tx_slot(self.tx_rsp_cons)));
            self.tx_rsp_cons = self.tx_rsp_cons.wrapping_add(1);
        }
        self.tx.word(SRING_RSP_EVENT_OFFSET).store(self.tx_rsp_cons.wrapping_add(1), Ordering::SeqCst);
        out
    }
    /// Waits until every posted TX request is answered or `timeout` passes.
    pub fn wait_tx_responses(&mut self, timeout: Duration) -> Vec<TxResponse> {
        let t0 = Instant::now();
        let mut out = Vec::new();
        loop {
            out.extend(self.take_tx_responses());
            if self.tx_rsp_cons == self.tx_req_prod || t0.elapsed() > timeout {
                return out;
            }
            sleep(Duration::from_millis(10));
        }
    }
    /// Copies a frame into TX data page `page` at `offset` and posts it as one slot.
    pub fn send_frame(&mut self, page: usize, offset: u16, frame: &[u8], id: u16) {
        self.data[page].write_bytes(offset as usize, frame);
        let gref = self.data[page].gref;
        self.put_tx(TxRequest { gref, offset, flags: 0, id, size: frame.len() as u16 });
    }

    // ---- guest RX ring ----

    /// Posts every RX buffer not currently posted.
    pub fn post_rx_buffers(&mut self) {
        let outstanding = self.rx_req_prod.wrapping_sub(self.rx_rsp_cons) as usize;
        for _ in outstanding..self.rxbufs.len() {
            let id = (self.rx_req_prod % RX_RING) as usize % self.rxbufs.len();
            let req = RxRequest { id: id as u16, pad: 0, gref: self.rxbufs[id].gref };
            self.rx.write_obj(rx_slot(self.rx_req_prod), req);
            self.rx_req_prod = self.rx_req_prod.wrapping_add(1);
        }
        self.rx.word(SRING_REQ_PROD_OFFSET).store(self.rx_req_prod, Ordering::SeqCst);
        self.notify();
    }
    pub fn push_rx_raw(&mut self, req_prod: u32) {
        self.rx.word(SRING_REQ_PROD_OFFSET).store(req_prod, Ordering::SeqCst);
        self.notify();
    }
    pub fn rx_rsp_prod(&self) -> u32 {
        self.rx.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst)
    }
    /// Frames received so far (each from a single slot; multi-slot packets and extras are
    /// skipped), reposting the buffers; `rx_stats` counts every data response.
    pub fn take_rx_frames(&mut self) -> Vec<Vec<u8>> {
        let prod = self.rx_rsp_prod();
        let mut frames = Vec::new();
        let mut n = 0;
        while self.rx_rsp_cons != prod && n < RX_RING {
            let rsp: RxResponse = self.rx.read_obj(rx_slot(self.rx_rsp_cons));
            // Responses sit in their request's slot (netfront ignores `id` too).
            let id = (self.rx_rsp_cons % RX_RING) as usize % self.rxbufs.len();
            self.rx_rsp_cons = self.rx_rsp_cons.wrapping_add(1);
            n += 1;
            if rsp.status < 0 {
                self.rx_stats.errors += 1;
            } else if rsp.status > 0 {
                self.rx_stats.data += 1;
                self.rx_stats.max_status = self.rx_stats.max_status.max(rsp.status);
                let off = rsp.offset as usize;
                let len = (rsp.status as usize).min(PAGE_SIZE.saturating_sub(off));
                frames.push(self.rxbufs[id].read_bytes(off.min(PAGE_SIZE), len));
            }
            if rsp.flags & netif::wire::NETRXF_EXTRA_INFO != 0 && self.rx_rsp_cons != prod {
                self.rx_rsp_cons = self.rx_rsp_cons.wrapping_add(1);
                n += 1;
            }
        }
        self.rx.word(SRING_RSP_EVENT_OFFSET).store(self.rx_rsp_cons.wrapping_add(1), Ordering::SeqCst);
        self.post_rx_buffers();
        frames
    }
}

// ---- multi-queue, split event channels, control ring (netfront's full layout) ----

impl Frontend {
    /// Grant refs of queue 0's TX and RX rings (the connection's own rings).
    pub fn ring_grefs(&self) -> (u32, u32) {
        (self.tx.gref, self.rx.gref)
    }
    /// The backend's domain id (from the toolstack's `backend-id`).
    pub fn backend_id(&mut self) -> Result<u16, String> {
        let d = self.dir.clone();
        self.xs.read(&format!("{d}/backend-id"))?.parse().map_err(|_| "bad backend-id".to_string())
    }
}

/// One more TX/RX ring pair with its event channel(s).
pub struct ExtraQueue {
    pub tx: GrantedPage,
    pub rx: GrantedPage,
    /// `event-channel` (or `event-channel-tx` when split).
    pub port: u32,
    /// `event-channel-rx` when split.
    pub port_rx: Option<u32>,
}

/// A control ring (`ctrl-ring-ref`, `event-channel-ctrl`) and a data page for the requests
/// that name a grant (hash key, mapping).
pub struct CtrlRing {
    pub page: GrantedPage,
    pub data: GrantedPage,
    pub port: u32,
    evtchn: Evtchn,
}

impl CtrlRing {
    pub fn notify(&self) {
        let _ = self.evtchn.notify(self.port);
    }
    pub fn req_prod(&self) -> u32 {
        self.page.word(SRING_REQ_PROD_OFFSET).load(Ordering::SeqCst)
    }
    pub fn set_req_prod(&self, v: u32) {
        self.page.word(SRING_REQ_PROD_OFFSET).store(v, Ordering::SeqCst);
    }
    pub fn rsp_prod(&self) -> u32 {
        self.page.word(SRING_RSP_PROD_OFFSET).load(Ordering::SeqCst)
    }
    /// Writes request `req` into the slot of index `idx` (not published).
    pub fn put(&self, idx: u32, req: CtrlRequest) {
        self.page.write_obj(ctrl_slot(idx), req);
    }
    /// The response in the slot of index `idx`.
    pub fn response(&self, idx: u32) -> CtrlResponse {
        self.page.read_obj(ctrl_slot(idx))
    }
    /// Posts one request, kicks, and waits up to `timeout` for its response.
    pub fn request(&self, req: CtrlRequest, timeout: Duration) -> Option<CtrlResponse> {
        let idx = self.req_prod();
        self.put(idx, req);
        self.set_req_prod(idx.wrapping_add(1));
        self.notify();
        let t0 = Instant::now();
        while self.rsp_prod() != idx.wrapping_add(1) {
            if t0.elapsed() > timeout {
                return None;
            }
            sleep(Duration::from_millis(5));
        }
        Some(self.response(idx))
    }
}

pub fn ctrl_slot(idx: u32) -> usize {
    (SRING_HEADER_SIZE + (idx % XEN_NETIF_CTRL_RING_SIZE) * CTRL_RING_ENTRY_SIZE) as usize
}

/// What `MqRings::prepare` sets up beyond the connection's own queue 0.
#[derive(Default)]
pub struct MqLayout {
    /// Queues in all (1 = only the connection's own rings).
    pub num_queues: u32,
    /// Separate TX and RX event channels per queue (`feature-split-event-channels`).
    pub split: bool,
    /// A control ring.
    pub ctrl: bool,
}

/// The rings and channels of queues 1.. (and queue 0's RX channel when split), and the
/// control ring, on their own grant and event channel devices: ports are notified through
/// the device that bound them.
pub struct MqRings {
    pub queues: Vec<ExtraQueue>,
    /// Queue 0's `event-channel-rx` (its TX channel is the connection's own port).
    pub q0_port_rx: Option<u32>,
    pub ctrl: Option<CtrlRing>,
    evtchn: Evtchn,
    _gnt: Gntalloc,
}

impl MqRings {
    pub fn prepare(fe: &mut Frontend, layout: &MqLayout) -> Result<Self, String> {
        let backend_id = fe.backend_id()?;
        let gnt = Gntalloc::open().map_err(|e| format!("open /dev/xen/gntalloc: {e}"))?;
        let evtchn = Evtchn::open().map_err(|e| format!("open /dev/xen/evtchn: {e}"))?;
        let grant = |what: &str| gnt.grant_page(backend_id).map_err(|e| format!("granting {what}: {e}"));
        let bind = |ev: &Evtchn| ev.bind_unbound(backend_id).map_err(|e| format!("binding an event channel: {e}"));
        let q0_port_rx = if layout.split { Some(bind(&evtchn)?) } else { None };
        let mut queues = Vec::new();
        for _ in 1..layout.num_queues.max(1) {
            let (tx, rx) = (grant("TX ring")?, grant("RX ring")?);
            init_sring(&tx);
            init_sring(&rx);
            let port = bind(&evtchn)?;
            let port_rx = if layout.split { Some(bind(&evtchn)?) } else { None };
            queues.push(ExtraQueue { tx, rx, port, port_rx });
        }
        let ctrl = if layout.ctrl {
            let page = grant("control ring")?;
            init_sring(&page);
            let data = grant("control data")?;
            // Its own device, so that a feeder thread can kick it without the frontend.
            let ev = Evtchn::open().map_err(|e| format!("open /dev/xen/evtchn: {e}"))?;
            let port = bind(&ev)?;
            Some(CtrlRing { page, data, port, evtchn: ev })
        } else {
            None
        };
        Ok(Self { queues, q0_port_rx, ctrl, evtchn, _gnt: gnt })
    }

    /// The frontend keys netfront writes for this layout (`write_queue_xenstore_keys`),
    /// queue 0 being the connection's own rings and port: top-level keys for one queue,
    /// `queue-N/` keys for more.
    pub fn keys(&self, fe: &Frontend) -> Vec<(String, String)> {
        let (tx0, rx0) = fe.ring_grefs();
        let mut all = vec![(tx0, rx0, fe.port, self.q0_port_rx)];
        all.extend(self.queues.iter().map(|q| (q.tx.gref, q.rx.gref, q.port, q.port_rx)));
        let n = all.len();
        let mut keys = Vec::new();
        for (i, (tx, rx, port, port_rx)) in all.into_iter().enumerate() {
            let pre = if n == 1 { String::new() } else { format!("queue-{i}/") };
            keys.push((format!("{pre}tx-ring-ref"), tx.to_string()));
            keys.push((format!("{pre}rx-ring-ref"), rx.to_string()));
            match port_rx {
                Some(r) => {
                    keys.push((format!("{pre}event-channel-tx"), port.to_string()));
                    keys.push((format!("{pre}event-channel-rx"), r.to_string()));
                }
                None => keys.push((format!("{pre}event-channel"), port.to_string())),
            }
        }
        if let Some(c) = &self.ctrl {
            keys.push(("ctrl-ring-ref".into(), c.page.gref.to_string()));
            keys.push(("event-channel-ctrl".into(), c.port.to_string()));
        }
        keys
    }

    /// Kicks one of this set's ports (queues 1.., queue 0's RX channel).
    pub fn notify(&self, port: u32) {
        let _ = self.evtchn.notify(port);
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The frontend side of xenbus for devicetype "vif": probe (the `ethN`
//! device with the MAC the toolstack wrote), connecting when the backend
//! waits for us (InitWait: rings, buffers, event channel, our keys), the
//! carrier when it is Connected, and closing, as xen-netfront's
//! `netback_changed` and `xennet_remove`.

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::{Channel, NetDev, VifNetDevice};
use crate::bindings::xen::xenbus::{XenbusDevice, XenbusDriver, XenbusDriverOps};
use crate::bindings::{BhDisabled, Rtnl};
use crate::ctrl::CtrlClient;
use crate::device::Frontend;
use crate::netif::negotiate::{frontend_queues, parse_mac, GuestOffloads, MAX_QUEUES_DEFAULT};
use crate::netif::poll_mode::PollMode;
use crate::netif::xenbus_state::XenbusState;
use crate::queue::{Rings, TxGrants};
use core::sync::atomic::Ordering;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::aref::ARef;
use kernel::sync::{Arc, Mutex};
use kernel::time::Delta;

/// The driver, registered by the module.
pub(crate) static DRIVER: XenbusDriver = XenbusDriver::new::<NetFront>();

/// How long `remove` waits for each step of the backend's close.
const CLOSE_WAIT_MS: u32 = 5000;
/// The interval at which it looks.
const CLOSE_POLL_MS: u32 = 20;

/// One vif of this guest.
#[pin_data]
pub(crate) struct NetFront {
    xdev: ARef<XenbusDevice>,
    #[pin]
    inner: Mutex<Inner>,
}

struct Inner {
    netdev: Option<VifNetDevice<Frontend>>,
    /// NAPI is added and enabled (a connection is up).
    napi_on: bool,
    /// The connection's control ring, when the backend offers one.
    ctrl: Option<CtrlClient>,
    /// The data path of the connection runs (the backend was Connected).
    started: bool,
}

impl NetFront {
    /// The backend waits for us: tears down an old connection, grants new
    /// rings and buffers for each queue, binds their event channels, writes
    /// our keys and switches to Connected (`talk_to_netback`,
    /// `xennet_connect`).
    fn connect(&self, inner: &mut Inner) -> Result {
        self.disconnect(inner);
        let Some(netdev) = inner.netdev.as_ref() else { return Err(ENODEV) };
        let dev = netdev.dev();
        let front = netdev.data();
        let own_max = *crate::module_parameters::max_queues.value();
        let n =
            frontend_queues(own_max, front.queues.len(), self.xdev.read_otherend_ulong(c"multi-queue-max-queues").ok());
        if let Err(e) = dev.set_num_queues(n, &Rtnl::lock()) {
            self.xdev.dev_fatal(e, c"setting the queue count");
            return Err(e);
        }
        front.set_num_queues(n);
        // The control ring, if the backend has one: staging grants and the
        // hash go over it. Without it (or when it fails) the queues run
        // plain and the backend steers by its own hash.
        let mut ctrl_refs = None;
        if self.xdev.read_otherend_ulong(c"feature-ctrl-ring").unwrap_or(0) == 1 {
            match CtrlClient::new(&self.xdev) {
                Ok((ctrl, refs)) => {
                    inner.ctrl = Some(ctrl);
                    ctrl_refs = Some(refs);
                }
                Err(e) => pr_warn!("{}: no control ring ({:?}): staging grants off\n", dev.name(), e),
            }
        }
        let written = self.connect_queues(front, dev, n).and_then(|()| {
            // We take packets in several RX slots (feature-sg) and TCP GSO
            // ones (up to 64 KiB, as page frags of the skb).
            let multi = (n > 1).then_some((c"multi-queue-num-queues", u64::from(n)));
            let keys: [(&CStr, u64); 5] = [
                (c"request-rx-copy", 1),
                (c"feature-rx-notify", 1),
                (c"feature-sg", 1),
                (c"feature-gso-tcpv4", 1),
                (c"feature-gso-tcpv6", 1),
            ];
            let ctrl_keys = ctrl_refs
                .as_ref()
                .map(|c| [(c"ctrl-ring-ref", u64::from(c.ring)), (c"event-channel-ctrl", u64::from(c.port))]);
            let all = Iterator::chain(Iterator::chain(keys.into_iter(), multi), ctrl_keys.into_iter().flatten());
            all.into_iter().try_for_each(|(key, value)| self.xdev.write_own_ulong(key, value))
        });
        if let Err(e) = written {
            self.disconnect(inner);
            self.xdev.dev_fatal(e, c"setting up the queues and writing their keys");
            return Err(e);
        }
        if let Err(e) = front.start_polls(dev) {
            pr_warn!("{}: NAPI polls stay in softirq ({:?})\n", dev.name(), e);
        }
        for i in 0..n {
            let q = dev.on_queue(i);
            q.napi_add();
            q.napi_enable();
            q.enable_irqs();
        }
        inner.napi_on = true;
        // What the backend takes from us, from its keys: packets in several
        // slots, TCP segmentation (needs them), checksums it completes.
        let feature = |key: &CStr| self.xdev.read_otherend_ulong(key).unwrap_or(0) == 1;
        let sg = feature(c"feature-sg");
        let offloads = GuestOffloads {
            sg,
            tso_v4: sg && feature(c"feature-gso-tcpv4"),
            tso_v6: sg && feature(c"feature-gso-tcpv6"),
            ip_csum: true,
            ipv6_csum: feature(c"feature-ipv6-csum-offload"),
        };
        front.set_offloads(offloads);
        dev.apply_guest_offloads(offloads, &Rtnl::lock());
        self.xdev.switch_state(XenbusState::Connected);
        pr_info!("{}: connected to backend domain {} with {} queue(s)\n", dev.name(), self.xdev.otherend_id(), n);
        Ok(())
    }

    /// Grants the rings and buffers of queues `0..n`, binds their event
    /// channels and writes their keys: at the top level for one queue, in
    /// `queue-N/` for several (`write_queue_xenstore_keys`).
    fn connect_queues(&self, front: &Frontend, dev: &NetDev<'_>, n: u32) -> Result {
        // As xen-netfront: the module's word and the toolstack's `trusted`
        // key (default 1) must both allow it.
        let trusted =
            *crate::module_parameters::trusted.value() != 0 && self.xdev.read_own_ulong(c"trusted").unwrap_or(1) != 0;
        let tx_grants = if trusted {
            pr_info!(
                "{}: trusted backend: packets over 4096 bytes go by per-packet grants of their pages\n",
                dev.name()
            );
            TxGrants::All
        } else if grant_private_pages() == Some(true) {
            TxGrants::PrivatePages
        } else {
            TxGrants::None
        };
        // One event channel per ring when the backend takes them, as
        // xen-netfront. With one channel per queue, stock xen-netback can lose
        // the first event's EOI: Xen raises the port when the backend binds
        // it, and the shared handler defers that EOI to the RX thread, which
        // can end it before the backend has stored the IRQ number, leaving
        // the channel masked (the queue's TX then never runs).
        let split = self.xdev.read_otherend_ulong(c"feature-split-event-channels").unwrap_or(0) == 1;
        for i in 0..n {
            let queue = front.queues.get(i).ok_or(EINVAL)?;
            let (rings, refs) = Rings::new(&self.xdev, tx_grants)?;
            let (tx_port, rx_port) = dev.on_queue(i).bind_local_evtchns(&self.xdev, split)?;
            *queue.rings.lock() = Some(rings);
            queue.live.store(true, Ordering::Release);
            let (tx_key, rx_key) = if split { ("event-channel-tx", "event-channel-rx") } else { ("event-channel", "") };
            let keys = [
                ("tx-ring-ref", u64::from(refs.tx)),
                ("rx-ring-ref", u64::from(refs.rx)),
                (tx_key, u64::from(tx_port)),
                (rx_key, u64::from(rx_port)),
            ];
            // One channel: its port is written once (`event-channel`).
            for (key, value) in keys.into_iter().filter(|(key, _)| !key.is_empty()) {
                let node = if n == 1 {
                    CString::try_from_fmt(fmt!("{}", key))?
                } else {
                    CString::try_from_fmt(fmt!("queue-{}/{}", i, key))?
                };
                self.xdev.write_own_ulong(&node, value)?;
            }
        }
        Ok(())
    }

    /// The backend is Connected: each queue's pages it takes are registered
    /// as staging grants and, with several queues, the Toeplitz hash is set
    /// up (over the control ring, now mapped by the backend); then the data
    /// path starts (RX buffers published, the backend told) and the carrier
    /// comes on.
    fn backend_connected(&self, inner: &mut Inner) {
        let Some(netdev) = inner.netdev.as_ref() else { return };
        let dev = netdev.dev();
        let front = netdev.data();
        let n = front.num_queues();
        let live = (0..n).all(|i| front.queues.get(i).is_some_and(|q| q.live.load(Ordering::Acquire)));
        if !live || inner.started {
            return;
        }
        if let Some(ctrl) = inner.ctrl.as_mut() {
            let want = *crate::module_parameters::staging_pages.value();
            for (i, queue) in (0..n).zip(front.queues.iter()) {
                let s = ctrl.setup_staging(queue, i, want);
                match s.stopped {
                    Some(why) => {
                        pr_info!("{}: queue {}: {} pages as staging grants ({})\n", dev.name(), i, s.registered, why)
                    }
                    None => pr_info!("{}: queue {}: {} pages as staging grants\n", dev.name(), i, s.registered),
                }
            }
            if n > 1 {
                match ctrl.setup_hash(n) {
                    Ok(h) => pr_info!(
                        "{}: Toeplitz hash over {} queues (types {:#x}, {} buckets)\n",
                        dev.name(),
                        n,
                        h.flags(),
                        h.mapping_size()
                    ),
                    Err(why) => pr_info!("{}: no hash steering ({}): the backend steers\n", dev.name(), why),
                }
            }
        }
        for (i, queue) in (0..n).zip(front.queues.iter()) {
            let started = (*queue.rings.lock()).as_mut().is_some_and(|r| r.start().is_ok());
            if !started {
                self.xdev.dev_fatal(EINVAL, c"starting the rings");
                return;
            }
            dev.on_queue(i).notify(Channel::Rx);
        }
        inner.started = true;
        front.connected.store(true, Ordering::Release);
        dev.carrier_on();
        if dev.running() {
            dev.wake_all_queues();
        }
        // Process context (xenwatch): the polls run when BHs come back on.
        let bh = BhDisabled::new();
        for i in 0..n {
            dev.on_queue(i).napi_schedule();
        }
        drop(bh);
    }

    /// Stops the queues and gives the rings, buffers and event channels
    /// back (the grants end at once, or once the backend unmaps them).
    fn disconnect(&self, inner: &mut Inner) {
        let Some(netdev) = inner.netdev.as_ref() else { return };
        let dev = netdev.dev();
        let front = netdev.data();
        front.connected.store(false, Ordering::Release);
        dev.carrier_off();
        for i in 0..front.queues.len() {
            let q = dev.on_queue(i);
            q.stop_queue();
            q.disable_irqs();
            if inner.napi_on {
                q.napi_disable();
                q.napi_del();
            }
            q.unbind_evtchns();
        }
        inner.napi_on = false;
        inner.ctrl = None;
        inner.started = false;
        for (i, q) in front.queues.iter().enumerate() {
            q.live.store(false, Ordering::Release);
            let rings = q.rings.lock().take();
            drop(rings);
            let granted = q.stats.tx_granted.get();
            if granted > 0 {
                pr_info!("{}: queue {}: {} packets sent by per-packet grants so far\n", dev.name(), i, granted);
            }
            let lent = q.stats.rx_pages_lent.get();
            if lent > 0 {
                pr_info!("{}: queue {}: {} received pages lent to the stack so far\n", dev.name(), i, lent);
            }
        }
    }

    /// Reads the backend's state.
    fn backend_state(&self) -> Option<XenbusState> {
        let v = self.xdev.read_otherend_ulong(c"state").ok()?;
        XenbusState::from_u32(u32::try_from(v).ok()?)
    }

    /// Switches to `ours` and waits until the backend reaches one of
    /// `until` (or is gone), at most [`CLOSE_WAIT_MS`].
    fn close_step(&self, ours: XenbusState, until: &[XenbusState]) {
        self.xdev.switch_state(ours);
        let mut waited = 0;
        while waited < CLOSE_WAIT_MS {
            match self.backend_state() {
                None | Some(XenbusState::Unknown) => return,
                Some(s) if until.contains(&s) => return,
                Some(_) => {}
            }
            kernel::time::delay::fsleep(Delta::from_millis(i64::from(CLOSE_POLL_MS)));
            waited += CLOSE_POLL_MS;
        }
        pr_warn!("xen_netfront_rs: {}: backend did not follow to {:?} in {} ms\n", self.xdev.nodename(), ours, waited);
    }
}

impl XenbusDriverOps for NetFront {
    const DEVICE_TYPE: &'static CStr = c"vif";
    const FRONTEND: bool = true;

    fn probe(xdev: ARef<XenbusDevice>) -> Result<Arc<Self>> {
        let mut buf = [0u8; 32];
        let mac = xdev.read_own_str(c"mac", &mut buf).ok().and_then(|n| parse_mac(buf.get(..n)?));
        let Some(mac) = mac else {
            xdev.dev_fatal(EINVAL, c"reading a valid mac (xx:xx:xx:xx:xx:xx)");
            return Err(EINVAL);
        };
        // Queues allocated: what we may ever connect (the backend's offer
        // is read at each connection).
        let max_queues =
            (*crate::module_parameters::max_queues.value()).min(kernel::cpu::nr_cpu_ids()).clamp(1, MAX_QUEUES_DEFAULT);
        // Checked at module load: never the fallback.
        let poll_mode = poll_mode().unwrap_or(PollMode::Softirq);
        let state = Arc::pin_init(Frontend::new(max_queues, poll_mode)?, GFP_KERNEL)?;
        let netdev = VifNetDevice::new(c"eth%d", &xdev, max_queues, state)?;
        netdev.set_mac(&mac)?;
        if let Err(e) = netdev.register() {
            xdev.dev_fatal(e, c"registering the net device");
            return Err(e);
        }
        pr_info!("{}: netfront-rs on {}\n", netdev.dev().name(), xdev.nodename());
        Arc::pin_init(
            pin_init!(NetFront { xdev, inner <- new_mutex!(Inner { netdev: Some(netdev), napi_on: false, ctrl: None, started: false }) }),
            GFP_KERNEL,
        )
    }

    fn otherend_changed(self: &Arc<Self>, state: u32) {
        let mut inner = self.inner.lock();
        let ours = self.xdev.state();
        match XenbusState::from_u32(state) {
            Some(XenbusState::InitWait) => {
                if ours == Some(XenbusState::Initialising) {
                    let _ = self.connect(&mut inner);
                }
            }
            Some(XenbusState::Connected) => self.backend_connected(&mut inner),
            Some(XenbusState::Closed) if ours == Some(XenbusState::Closed) => {}
            Some(s @ (XenbusState::Closing | XenbusState::Closed)) => {
                // The backend goes (or is gone): stop using the rings, then
                // follow it to Closed (`xenbus_frontend_closed`). Said in
                // our log: the guest sees nothing else of it.
                pr_info!("xen_netfront_rs: {}: backend is {:?}: closing\n", self.xdev.nodename(), s);
                self.disconnect(&mut inner);
                self.xdev.frontend_closed();
            }
            _ => {}
        }
    }

    fn remove(self: Arc<Self>) {
        // `xennet_bus_close`: Closing until the backend follows, then
        // Closed until it is Closed too, so it unmaps our rings first.
        if self.backend_state() != Some(XenbusState::Closed) {
            self.close_step(XenbusState::Closing, &[XenbusState::Closing, XenbusState::Closed]);
            if self.backend_state() != Some(XenbusState::Closed) {
                self.close_step(XenbusState::Closed, &[XenbusState::Closed]);
            }
        }
        let mut inner = self.inner.lock();
        self.disconnect(&mut inner);
        // Unregisters and frees the device.
        inner.netdev = None;
    }
}

/// The `napi_threaded` module parameter; `None` for a value it does not take.
pub(crate) fn poll_mode() -> Option<PollMode> {
    PollMode::from_param(*crate::module_parameters::napi_threaded.value())
}

/// The module's `grant_private_pages` as a switch; `None` for a value other
/// than 0 or 1 (the module refuses to load).
pub(crate) fn grant_private_pages() -> Option<bool> {
    match *crate::module_parameters::grant_private_pages.value() {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

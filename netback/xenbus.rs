// SPDX-License-Identifier: GPL-2.0
//! The backend side of xenbus: probe, the state machine, the hotplug-status
//! deferral, connect/disconnect of the data path and removal.
//!
//! Every decision comes from the protocol core (`netif::xenbus_state`,
//! `netif::negotiate`); this file executes its actions. Serialization: the
//! xenbus core calls `otherend_changed` and the hotplug watch from the single
//! xenwatch thread; `inner` is additionally locked against `remove`.
//! Lock order: `inner` -> `hotplug_watch` -> RTNL. `remove` drops the watch
//! before taking `inner` (unregistering waits for a running callback, which
//! may be waiting for `inner`).

// Driver logic: every unsafe operation goes through `crate::bindings`.
#![forbid(unsafe_code)]

use crate::bindings::net::device::VifNetDevice;
use crate::bindings::timer::NapiTimer;
use crate::bindings::xen::ring::{MappedRing, RxSharedRing, TxSharedRing};
use crate::bindings::xen::xenbus::{Watch, WatchHandler, XenbusDevice, XenbusDriver, XenbusDriverOps};
use crate::bindings::{jiffies, msecs_to_jiffies};
use crate::controls::VifControls;
use crate::ctrl::CtrlConnection;
use crate::interface::{Attachment, Vif};
use crate::knobs::{RxTimeout, VifKnobs};
use crate::multicast::McastControl;
use crate::netif::negotiate::{
    advertised_keys, negotiate, negotiate_queue, read_multicast_control, read_xdp_headroom, vif_handle, BackendParams,
    FrontendKeys, Key, NegotiateError,
};
use crate::netif::ring::BackRing;
use crate::netif::rx::{RxConfig, RxTimeouts, RX_MAX_XDP_HEADROOM};
use crate::netif::xenbus_state::{Action, Actions, BackendStateMachine};
use crate::netif::zerocopy::TxZeroCopyPolicy;
use crate::params;
use crate::rate::{TxCredit, VifRate};
use crate::rx::{RxFrontendCaps, RxQueue};
use crate::tx::TxQueue;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::aref::ARef;
use kernel::sync::{Arc, Mutex};

/// The xenbus backend driver for devicetype "vif" (registered by the
/// module).
pub(crate) static DRIVER: XenbusDriver = XenbusDriver::new::<Backend>();

/// `max_queues` as the number of queues a new VIF gets (at least one).
fn queues_for_new_vif() -> u32 {
    params::max_queues().max(1)
}

struct Inner {
    sm: BackendStateMachine,
    vif: Option<VifNetDevice<Vif>>,
    /// The frontend's control ring, while connected.
    ctrl: Option<CtrlConnection>,
    /// sysfs/debugfs of `vif`; dropped before it.
    controls: Option<VifControls>,
}

/// Tells the administrator when the frontend's `xdp-headroom` is more than
/// a buffer page can hold, so the RX path applies [`RX_MAX_XDP_HEADROOM`].
fn warn_if_headroom_clamped(domid: u16, requested: u16) {
    if requested > RX_MAX_XDP_HEADROOM {
        pr_warn!("vif{}: xdp-headroom {} exceeds a page; using {}\n", domid, requested, RX_MAX_XDP_HEADROOM);
    }
}

/// One `backend/vif/<domid>/<handle>` device.
#[pin_data]
pub(crate) struct Backend {
    xdev: ARef<XenbusDevice>,
    #[pin]
    inner: Mutex<Inner>,
    #[pin]
    hotplug_watch: Mutex<Option<Watch<Backend>>>,
    /// The backend's `rate` key, watched while connected (from connect to
    /// disconnect, as xen-netback).
    #[pin]
    rate_watch: Mutex<Option<Watch<RateWatch>>>,
    /// The frontend's `request-multicast-control`, watched while connected.
    #[pin]
    mcast_watch: Mutex<Option<Watch<McastWatch>>>,
}

/// The `request-multicast-control` watch (`xen_mcast_ctrl_changed`).
struct McastWatch(Arc<Backend>);

impl WatchHandler for McastWatch {
    fn watch_fired(&self) {
        let be = &self.0;
        let inner = be.inner.lock();
        if let Some(vif) = inner.vif.as_ref() {
            // A missing or unreadable key is "off", as in C.
            let on = read_multicast_control(&mut FrontendDir(&be.xdev)).unwrap_or(false);
            vif.data().knobs.mcast.set_enabled(on, vif.dev().name().as_str());
        }
    }
}

/// The `rate` watch (`xen_net_rate_changed`): applies a changed limit live.
struct RateWatch(Arc<Backend>);

impl WatchHandler for RateWatch {
    fn watch_fired(&self) {
        let be = &self.0;
        let inner = be.inner.lock();
        if let Some(vif) = inner.vif.as_ref() {
            vif.data().knobs.rate.update_from_xenstore(&be.xdev, vif.dev().name().as_str());
            vif.data().rate_changed(vif.dev());
        }
    }
}

/// What every queue of a connection is built with from the VIF's knobs.
struct ConnectKnobs {
    /// RX timeouts (module parameters or the VIF's sysfs overrides).
    timeouts: RxTimeouts,
    /// The VIF's multicast filter, edited from any queue's TX ring.
    mcast: Arc<McastControl>,
    /// Guest TX zero-copy (module parameters or the VIF's sysfs override).
    zerocopy: Option<TxZeroCopyPolicy>,
}

/// The frontend's xenstore directory, for the negotiation.
struct FrontendDir<'a>(&'a XenbusDevice);

impl FrontendKeys for FrontendDir<'_> {
    fn read<'b>(&mut self, key: &Key<'_>, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let n = self.0.read_frontend_key(key.queue, key.name, buf).ok()?;
        buf.get(..n)
    }
}

/// The module parameters, with the VIF's own queue limit.
fn backend_params(max_queues: u32) -> BackendParams {
    BackendParams {
        max_queues,
        separate_tx_rx_irq: params::separate_tx_rx_irq(),
        provides_xdp_headroom: params::provides_xdp_headroom(),
    }
}

impl Backend {
    /// Writes the feature keys of `netback_probe`.
    fn advertise(xdev: &XenbusDevice, max_queues: u32) -> Result {
        for (key, value) in advertised_keys(&backend_params(max_queues)).iter() {
            let node = CString::try_from_fmt(fmt!("{}", key))?;
            if let Err(e) = xdev.write_own_ulong(&node, u64::from(*value)) {
                xdev.dev_fatal(e, c"writing feature keys");
                return Err(e);
            }
        }
        Ok(())
    }

    /// Executes state machine actions. Returns whether the device must be
    /// unregistered (after `inner` is released).
    fn run(self: &Arc<Self>, inner: &mut Inner, actions: Actions) -> bool {
        let mut unregister = false;
        for action in actions.iter() {
            match action {
                Action::Publish(s) => self.xdev.switch_state(s),
                Action::Connect => {
                    let watching = self.connect(inner);
                    let more = inner.sm.connect_done(watching);
                    unregister |= self.run(inner, more);
                }
                Action::Disconnect => {
                    // As `xen_unregister_watchers` in C's backend_disconnect:
                    // nothing to apply a change to until the next connect,
                    // which reads both keys again. (We are the xenwatch
                    // thread: unregistering does not wait.)
                    self.unwatch_knobs();
                    if let Some(controls) = inner.controls.as_mut() {
                        controls.disconnected();
                    }
                    if let Some(vif) = inner.vif.as_ref() {
                        vif.data().detach(vif.dev());
                    }
                    inner.ctrl = None;
                }
                Action::ReadXdpHeadroom => {
                    if let Some(vif) = inner.vif.as_ref() {
                        let headroom = read_xdp_headroom(&mut FrontendDir(&self.xdev));
                        warn_if_headroom_clamped(self.xdev.otherend_id(), headroom);
                        vif.data().set_xdp_headroom(headroom);
                    }
                }
                Action::Unregister => unregister = true,
                Action::FatalBadFrontendState(_) => self.xdev.dev_fatal(EINVAL, c"saw bad state at frontend"),
            }
        }
        unregister
    }

    /// `connect()`: negotiate, map every queue's rings, bind the event
    /// channels, start the queues, then watch hotplug-status. Returns
    /// whether the watch is registered (Connected is then published once
    /// the script is done).
    fn connect(self: &Arc<Self>, inner: &mut Inner) -> bool {
        let Some(vif) = inner.vif.as_ref() else {
            return false;
        };
        let xdev = &self.xdev;
        let domid = xdev.otherend_id();
        let mut fe = FrontendDir(xdev);
        let cfg = match negotiate(&mut fe, &backend_params(vif.data().queue_limit())) {
            Ok(c) => c,
            Err(e) => {
                Self::negotiation_failed(xdev, domid, &e);
                return false;
            }
        };
        let mut queues = match KVec::with_capacity(cfg.num_queues as usize, GFP_KERNEL) {
            Ok(v) => v,
            Err(_) => {
                xdev.dev_fatal(ENOMEM, c"allocating queues");
                return false;
            }
        };
        warn_if_headroom_clamped(domid, cfg.xdp_headroom);
        let knobs = Self::connect_knobs(xdev, vif, &cfg);
        for index in 0..cfg.num_queues {
            let rings = match negotiate_queue(&mut fe, &cfg, index) {
                Ok(r) => r,
                Err(e) => {
                    Self::negotiation_failed(xdev, domid, &e);
                    return false;
                }
            };
            // Each queue runs its own credit scheduler (and timer) on the
            // VIF's rate, as xen-netback's per-queue credit.
            let credit = match TxCredit::new(&vif.dev().on_queue(index), vif.data().knobs.rate.clone()) {
                Ok(c) => c,
                Err(e) => {
                    xdev.dev_fatal(e, c"allocating the credit timer");
                    return false;
                }
            };
            // Polls the queue at a held guest TX answer's deadline.
            let answer_timer = match NapiTimer::new(&vif.dev().on_queue(index)) {
                Ok(t) => t,
                Err(e) => {
                    xdev.dev_fatal(e, c"allocating the answer timer");
                    return false;
                }
            };
            // On failure the queues mapped so far are dropped (unmapped).
            let attachment = match Self::map_queue(xdev, &cfg, &rings, domid, credit, answer_timer, &knobs) {
                Ok(a) => a,
                Err(e) => {
                    pr_err!("vif{}: mapping the rings of queue {} failed\n", domid, index);
                    xdev.dev_fatal(e, c"mapping shared-frames");
                    return false;
                }
            };
            if queues.push(attachment, GFP_KERNEL).is_err() {
                xdev.dev_fatal(ENOMEM, c"allocating queues");
                return false;
            }
        }
        // As xen-netback: the control ring before the data rings start.
        let ctrl = match cfg.ctrl_ring {
            None => None,
            Some(refs) => match CtrlConnection::connect(xdev, &refs, vif.data(), cfg.num_queues) {
                Ok(c) => Some(c),
                Err(e) => {
                    xdev.dev_fatal(e, c"connecting control ring");
                    return false;
                }
            },
        };
        vif.data().set_guest_offloads(cfg.offloads());
        if let Err(e) = vif.data().attach(vif.dev(), xdev, queues) {
            drop(ctrl);
            vif.data().hash.reset();
            xdev.dev_fatal(e, c"binding event channels");
            return false;
        }
        inner.ctrl = ctrl;
        if let Some(controls) = inner.controls.as_mut() {
            controls.connected(vif, cfg.num_queues, inner.ctrl.is_some());
        }
        self.watch_knobs(domid);
        match Watch::register(xdev, c"hotplug-status", self.clone()) {
            Ok(w) => {
                // Replacing drops (unregisters) a watch of an earlier
                // connection; we are the xenwatch thread, so no waiting.
                *self.hotplug_watch.lock() = Some(w);
                true
            }
            Err(_) => false,
        }
    }

    /// Logs a negotiation failure and reports it in xenstore (the VIF stays
    /// disconnected).
    fn negotiation_failed(xdev: &XenbusDevice, domid: u16, e: &NegotiateError) {
        let msg = match *e {
            NegotiateError::BadNumQueues { requested, max } => {
                CString::try_from_fmt(fmt!("guest requested {} queues, but valid range is 1 - {}.", requested, max))
            }
            NegotiateError::Missing { key, queue: Some(q) } => {
                CString::try_from_fmt(fmt!("reading queue-{}/{}: {}", q, key, e.description()))
            }
            NegotiateError::Missing { key, queue: None } | NegotiateError::Unparsable { key } => {
                CString::try_from_fmt(fmt!("reading {}: {}", key, e.description()))
            }
            NegotiateError::RxCopyRequired => CString::try_from_fmt(fmt!("{}", e.description())),
        };
        match msg {
            Ok(m) => {
                pr_err!("vif{}: negotiation failed: {}\n", domid, m.to_str().unwrap_or("?"));
                xdev.dev_fatal(Error::from_errno(e.errno()), &m);
            }
            Err(_) => xdev.dev_fatal(Error::from_errno(e.errno()), c"negotiating with the frontend"),
        }
    }

    /// The knobs a connection starts with (`rate`, RX timeouts and zero-copy with the
    /// per-VIF overrides, `request-multicast-control`): applies the rate
    /// and the multicast request to the VIF, returns what every queue is
    /// built with.
    fn connect_knobs(
        xdev: &XenbusDevice,
        vif: &VifNetDevice<Vif>,
        cfg: &crate::netif::negotiate::NegotiatedConfig,
    ) -> ConnectKnobs {
        let knobs = &vif.data().knobs;
        let name = vif.dev().name();
        knobs.rate.update_from_xenstore(xdev, name.as_str());
        knobs.mcast.set_enabled(cfg.multicast_control, name.as_str());
        let timeouts = RxTimeouts::for_frontend(
            cfg.rx_notify,
            knobs.rx_timeout_ms(RxTimeout::Drain),
            knobs.rx_timeout_ms(RxTimeout::Stall),
            msecs_to_jiffies,
        );
        // Under `staged`, a frontend without a control ring never stages a
        // grant: its queues need no pending slots.
        let zerocopy = knobs.tx_zerocopy_policy().filter(|p| p.maps_grants() || cfg.ctrl_ring.is_some());
        ConnectKnobs { timeouts, mcast: knobs.mcast.clone(), zerocopy }
    }

    /// Watches `rate` (ours) and `request-multicast-control` (the
    /// frontend's) while connected. Replacing drops the watches of an
    /// earlier connection (no waiting: we are the xenwatch thread). Without
    /// a watch, changes apply at the next connect.
    fn watch_knobs(self: &Arc<Self>, domid: u16) {
        let rate = Arc::new(RateWatch(self.clone()), GFP_KERNEL)
            .map_err(Error::from)
            .and_then(|w| Watch::register(&self.xdev, c"rate", w));
        match rate {
            Ok(w) => *self.rate_watch.lock() = Some(w),
            Err(e) => pr_warn!("vif{}: cannot watch rate (error {})\n", domid, e.to_errno()),
        }
        let mcast = Arc::new(McastWatch(self.clone()), GFP_KERNEL)
            .map_err(Error::from)
            .and_then(|w| Watch::register_frontend(&self.xdev, c"request-multicast-control", w));
        match mcast {
            Ok(w) => *self.mcast_watch.lock() = Some(w),
            Err(e) => pr_warn!("vif{}: cannot watch request-multicast-control (error {})\n", domid, e.to_errno()),
        }
    }

    /// Drops the watches of [`Backend::watch_knobs`].
    fn unwatch_knobs(&self) {
        let rate = self.rate_watch.lock().take();
        drop(rate);
        let mcast = self.mcast_watch.lock().take();
        drop(mcast);
    }

    fn map_queue(
        xdev: &XenbusDevice,
        cfg: &crate::netif::negotiate::NegotiatedConfig,
        rings: &crate::netif::negotiate::QueueRings,
        domid: u16,
        credit: TxCredit,
        answer_timer: NapiTimer,
        knobs: &ConnectKnobs,
    ) -> Result<Attachment> {
        let tx_map = MappedRing::map(xdev, rings.tx_ring_ref)?;
        let rx_map = MappedRing::map(xdev, rings.rx_ring_ref)?;
        let tx_ring = BackRing::attach_checked(TxSharedRing::new(tx_map)).map_err(|e| {
            pr_err!("vif{}: TX ring: {}\n", domid, e.description());
            EIO
        })?;
        let rx_ring = BackRing::attach_checked(RxSharedRing::new(rx_map)).map_err(|e| {
            pr_err!("vif{}: RX ring: {}\n", domid, e.description());
            EIO
        })?;
        let tx = TxQueue::new(
            tx_ring,
            params::tx_config(),
            domid,
            credit,
            knobs.mcast.clone(),
            knobs.zerocopy,
            answer_timer,
        )?;
        let rx = RxQueue::new(
            rx_ring,
            RxConfig::new(cfg.xdp_headroom),
            RxFrontendCaps { gso_v4: cfg.gso_tcpv4, gso_v6: cfg.gso_tcpv6 },
            knobs.timeouts,
            jiffies(),
            domid,
        )?;
        Ok(Attachment { tx, rx, tx_evtchn: rings.tx_evtchn, rx_evtchn: rings.rx_evtchn })
    }
}

impl XenbusDriverOps for Backend {
    const DEVICE_TYPE: &'static CStr = c"vif";

    fn probe(xdev: ARef<XenbusDevice>) -> Result<Arc<Self>> {
        // Read once: the netdev gets this many queues and frontends are
        // offered as many (the parameter is writable).
        let nr_queues = queues_for_new_vif();
        Self::advertise(&xdev, nr_queues)?;
        let handle = match xdev.read_own_ulong(c"handle") {
            Ok(h) => h,
            Err(e) => {
                xdev.dev_fatal(e, c"reading handle");
                return Err(e);
            }
        };
        let domid = xdev.otherend_id();
        let Some(handle) = vif_handle(domid, handle) else {
            xdev.dev_fatal(EINVAL, c"handle does not fit an interface name (vifD.H must be < 16 bytes)");
            return Err(EINVAL);
        };
        let handle_dev = xdev.clone();
        let be = Arc::pin_init(
            pin_init!(Backend {
                xdev: handle_dev,
                inner <- new_mutex!(Inner { sm: BackendStateMachine::new(), vif: None, ctrl: None, controls: None }),
                hotplug_watch <- new_mutex!(None),
                rate_watch <- new_mutex!(None),
                mcast_watch <- new_mutex!(None),
            }),
            GFP_KERNEL,
        )?;
        // The net_device exists before InitWait is published: the toolstack
        // runs the hotplug script (which bridges vifD.H) once it sees it.
        let name = CString::try_from_fmt(fmt!("vif{}.{}", domid, handle))?;
        let knobs = VifKnobs::new(handle, VifRate::new()?, McastControl::new()?);
        let state = Arc::pin_init(Vif::new(domid, nr_queues, xdev.clone(), knobs)?, GFP_KERNEL)?;
        let netdev = VifNetDevice::new(&name, &xdev, nr_queues, state)?;
        if let Err(e) = netdev.register() {
            xdev.dev_fatal(e, c"creating interface");
            return Err(e);
        }
        {
            let mut inner = be.inner.lock();
            inner.controls = Some(VifControls::create(&netdev));
            inner.vif = Some(netdev);
            let actions = inner.sm.probe();
            be.run(&mut inner, actions);
        }
        xdev.uevent_online(true);
        Ok(be)
    }

    fn otherend_changed(self: &Arc<Self>, state: u32) {
        let unregister = {
            let mut inner = self.inner.lock();
            let actions = inner.sm.frontend_changed(state, self.xdev.is_online());
            self.run(&mut inner, actions)
        };
        if unregister {
            // Calls our remove; `inner` must not be held.
            self.xdev.unregister();
        }
    }

    fn remove(self: Arc<Self>) {
        let watch = self.hotplug_watch.lock().take();
        drop(watch);
        self.unwatch_knobs();
        self.xdev.rm_own(c"hotplug-status");
        let vif = {
            let mut inner = self.inner.lock();
            // No sysfs/debugfs callback runs after this.
            let controls = inner.controls.take();
            drop(controls);
            if let Some(vif) = inner.vif.as_ref() {
                self.xdev.uevent_online(false);
                vif.data().detach(vif.dev());
            }
            inner.ctrl = None;
            inner.vif.take()
        };
        // Unregisters and frees the net_device.
        drop(vif);
    }
}

impl WatchHandler for Backend {
    /// hotplug-status changed: publish the deferred state once the hotplug
    /// script reports `connected`.
    fn watch_fired(&self) {
        let mut buf = [0u8; 32];
        let Ok(n) = self.xdev.read_own_str(c"hotplug-status", &mut buf) else {
            return;
        };
        let mut inner = self.inner.lock();
        let actions = inner.sm.hotplug_status(buf.get(..n).unwrap_or(&[]));
        for action in actions.iter() {
            if let Action::Publish(s) = action {
                self.xdev.switch_state(s);
            }
        }
    }
}

//! The xenbus state machine of the backend (`frontend_changed`,
//! `set_backend_state`, `backend_switch_state` and the hotplug-status
//! deferral in xenbus.c) as a pure function from events to actions. The shell
//! executes the actions in order.

/// `enum xenbus_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenbusState {
    /// 0.
    Unknown,
    /// 1.
    Initialising,
    /// 2: backend waiting for the frontend's details.
    InitWait,
    /// 3.
    Initialised,
    /// 4.
    Connected,
    /// 5.
    Closing,
    /// 6.
    Closed,
    /// 7.
    Reconfiguring,
    /// 8.
    Reconfigured,
}

impl XenbusState {
    /// Parses the numeric state from xenstore.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => XenbusState::Unknown,
            1 => XenbusState::Initialising,
            2 => XenbusState::InitWait,
            3 => XenbusState::Initialised,
            4 => XenbusState::Connected,
            5 => XenbusState::Closing,
            6 => XenbusState::Closed,
            7 => XenbusState::Reconfiguring,
            8 => XenbusState::Reconfigured,
            _ => return None,
        })
    }

    /// The numeric value.
    pub const fn to_u32(self) -> u32 {
        self as u32
    }
}

/// What the shell must do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Negotiate and connect the data path (`connect()`): afterwards, report
    /// [`BackendStateMachine::connect_done`].
    Connect,
    /// Tear down the data path (`backend_disconnect()`).
    Disconnect,
    /// Write our state to xenstore (`xenbus_switch_state`).
    Publish(XenbusState),
    /// Re-read the frontend's `xdp-headroom` (Reconfiguring).
    ReadXdpHeadroom,
    /// Unregister the xenbus device (frontend gone).
    Unregister,
    /// `xenbus_dev_fatal(-EINVAL, "saw state %d at frontend")`.
    FatalBadFrontendState(u32),
}

/// Up to eight actions, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actions {
    items: [Option<Action>; 8],
    len: usize,
}

impl Actions {
    fn new() -> Self {
        Actions { items: [None; 8], len: 0 }
    }

    fn push(&mut self, a: Action) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(a);
            self.len = self.len.saturating_add(1);
        }
    }

    /// The actions in order.
    pub fn iter(&self) -> impl Iterator<Item = Action> + '_ {
        self.items.iter().take(self.len).filter_map(|a| *a)
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The backend's xenbus state (`be->state`, `be->frontend_state`, whether a
/// hotplug-status watch defers publication).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendStateMachine {
    state: XenbusState,
    frontend: XenbusState,
    hotplug_deferred: bool,
}

impl Default for BackendStateMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendStateMachine {
    /// Initial state: Initialising.
    pub const fn new() -> Self {
        BackendStateMachine {
            state: XenbusState::Initialising,
            frontend: XenbusState::Unknown,
            hotplug_deferred: false,
        }
    }

    /// Our (possibly not yet published) state.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// Last frontend state seen.
    pub fn frontend_state(&self) -> XenbusState {
        self.frontend
    }

    /// Whether state publication waits for the hotplug script.
    pub fn hotplug_deferred(&self) -> bool {
        self.hotplug_deferred
    }

    /// `netback_probe` done: switch to InitWait.
    pub fn probe(&mut self) -> Actions {
        let mut out = Actions::new();
        self.switch(XenbusState::InitWait, &mut out);
        out
    }

    fn switch(&mut self, s: XenbusState, out: &mut Actions) {
        self.state = s;
        if !self.hotplug_deferred {
            out.push(Action::Publish(s));
        }
    }

    /// `set_backend_state`: walk the shortest path to `target`.
    fn set_state(&mut self, target: XenbusState, out: &mut Actions) {
        use XenbusState::*;
        // Each step changes state; the graph has no path longer than 3.
        for _ in 0..4 {
            if self.state == target {
                return;
            }
            match (self.state, target) {
                (Initialising, InitWait | Connected | Closing) => self.switch(InitWait, out),
                (Initialising, Closed) => self.switch(Closed, out),
                (Closed, InitWait | Connected) => self.switch(InitWait, out),
                (Closed, Closing) => self.switch(Closing, out),
                (InitWait, Connected) => {
                    out.push(Action::Connect);
                    // connect() registers the hotplug-status watch, so the
                    // Connected publication waits for the hotplug script.
                    self.hotplug_deferred = true;
                    self.switch(Connected, out);
                }
                (InitWait, Closing | Closed) => self.switch(Closing, out),
                (Connected, InitWait | Closing | Closed) => {
                    out.push(Action::Disconnect);
                    self.switch(Closing, out);
                }
                (Closing, InitWait | Connected | Closed) => self.switch(Closed, out),
                // C BUG()s on anything else; those pairs are unreachable
                // from frontend_changed. Stop instead.
                _ => return,
            }
        }
    }

    /// `frontend_changed`: the frontend's state node changed to `state`
    /// (raw value); `online` is `xenbus_dev_is_online`.
    pub fn frontend_changed(&mut self, state: u32, online: bool) -> Actions {
        use XenbusState::*;
        let mut out = Actions::new();
        let Some(fe) = XenbusState::from_u32(state) else {
            out.push(Action::FatalBadFrontendState(state));
            return out;
        };
        self.frontend = fe;
        match fe {
            Initialising => self.set_state(InitWait, &mut out),
            Initialised => {}
            Connected => self.set_state(Connected, &mut out),
            Reconfiguring => {
                out.push(Action::ReadXdpHeadroom);
                // Direct xenbus_switch_state: not deferred, be->state unchanged.
                out.push(Action::Publish(Reconfigured));
            }
            Closing => self.set_state(Closing, &mut out),
            Closed => {
                self.set_state(Closed, &mut out);
                if !online {
                    out.push(Action::Unregister);
                }
            }
            Unknown => {
                self.set_state(Closed, &mut out);
                out.push(Action::Unregister);
            }
            InitWait | Reconfigured => out.push(Action::FatalBadFrontendState(state)),
        }
        out
    }

    /// Result of [`Action::Connect`]: if `hotplug_watch` is false (connect
    /// failed before registering the watch, or registration failed) the
    /// deferred state is published now.
    pub fn connect_done(&mut self, hotplug_watch: bool) -> Actions {
        let mut out = Actions::new();
        if !hotplug_watch && self.hotplug_deferred {
            self.hotplug_deferred = false;
            out.push(Action::Publish(self.state));
        }
        out
    }

    /// `hotplug_status_changed`: once the script writes `connected`, publish
    /// the current state and stop deferring.
    pub fn hotplug_status(&mut self, value: &[u8]) -> Actions {
        let mut out = Actions::new();
        let v = value.strip_suffix(b"\0").unwrap_or(value);
        if v == b"connected" && self.hotplug_deferred {
            self.hotplug_deferred = false;
            out.push(Action::Publish(self.state));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::XenbusState::*;
    use super::*;

    fn v(a: Actions) -> std::vec::Vec<Action> {
        a.iter().collect()
    }

    #[test]
    fn normal_lifecycle() {
        let mut m = BackendStateMachine::new();
        assert_eq!(v(m.probe()), [Publish(InitWait)]);
        assert_eq!(v(m.frontend_changed(1, true)), []);
        assert_eq!(v(m.frontend_changed(3, true)), []);
        assert_eq!(v(m.frontend_changed(4, true)), [Connect]);
        assert_eq!(m.state(), Connected);
        assert_eq!(v(m.hotplug_status(b"connected")), [Publish(Connected)]);
        assert_eq!(v(m.frontend_changed(7, true)), [ReadXdpHeadroom, Publish(Reconfigured)]);
        assert_eq!(v(m.frontend_changed(5, true)), [Disconnect, Publish(Closing)]);
        assert_eq!(v(m.frontend_changed(6, true)), [Publish(Closed)]);
        assert_eq!(v(m.frontend_changed(1, true)), [Publish(InitWait)]);
    }

    #[test]
    fn connect_failure_publishes() {
        let mut m = BackendStateMachine::new();
        m.probe();
        assert_eq!(v(m.frontend_changed(4, true)), [Connect]);
        assert_eq!(v(m.connect_done(false)), [Publish(Connected)]);
    }

    #[test]
    fn frontend_vanishes_while_connected() {
        let mut m = BackendStateMachine::new();
        m.probe();
        m.frontend_changed(4, true);
        m.hotplug_status(b"connected");
        assert_eq!(v(m.frontend_changed(0, true)), [Disconnect, Publish(Closing), Publish(Closed), Unregister]);
        let mut m2 = BackendStateMachine::new();
        m2.probe();
        assert_eq!(v(m2.frontend_changed(6, false)), [Publish(Closing), Publish(Closed), Unregister]);
    }

    #[test]
    fn bad_states_are_fatal() {
        let mut m = BackendStateMachine::new();
        assert_eq!(v(m.frontend_changed(9, true)), [FatalBadFrontendState(9)]);
        assert_eq!(v(m.frontend_changed(2, true)), [FatalBadFrontendState(2)]);
    }

    #[test]
    fn every_event_sequence_terminates() {
        for a in 0..10u32 {
            for b in 0..10u32 {
                for c in 0..10u32 {
                    let mut m = BackendStateMachine::new();
                    m.probe();
                    for s in [a, b, c] {
                        assert!(m.frontend_changed(s, s % 2 == 0).len() <= 8);
                    }
                }
            }
        }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! [`DevTimer`]: a kernel `timer_list` bound to one queue of a VIF
//! net_device whose callback (softirq context) gets that queue's device
//! view, e.g. to reschedule its NAPI. Used for the guest-TX credit timer
//! (xen-netback's per-queue `credit_timeout`).
//!
//! A `timer_list` rather than the kernel crate's `hrtimer`: the expiry is a
//! jiffy (the core's credit scheduler counts in jiffies, and a timer-wheel
//! timer runs only once `jiffies` has reached it, so the poll it schedules
//! always finds its window due), it is re-armed from the NAPI poll with one
//! `mod_timer` (the hrtimer handles cancel the old arming on replacement),
//! and debugfs shows whether it is pending, which the hrtimer abstraction
//! does not expose.
//!
//! [`NapiTimer`]: the kernel crate's `hrtimer` bound to one queue, whose
//! expiry schedules that queue's NAPI (the guest-TX answer deadline, in
//! microseconds).

use super::net::device::NetDev;
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::{static_lock_class, Arc, ArcBorrow};
use kernel::time::hrtimer::{
    AbsoluteMode, ArcHrTimerHandle, HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart,
};
use kernel::time::{Delta, Instant, Monotonic};
use kernel::types::Opaque;

/// Receiver of [`DevTimer`] expiries.
pub(crate) trait DevTimerHandler: Send + Sync + 'static {
    /// The timer expired (softirq context: must not sleep); `dev` is the
    /// view of the timer's queue.
    fn timer_fired(&self, dev: &NetDev<'_>);
}

/// The pinned state behind a [`DevTimer`]; the kernel's callback finds it
/// from the `timer_list` with `container_of`.
#[pin_data]
struct TimerState<T: DevTimerHandler> {
    #[pin]
    timer: Opaque<bindings::timer_list>,
    /// The device the timer belongs to (outlives the timer, see
    /// [`DevTimer`]'s invariants).
    dev: *mut bindings::net_device,
    queue: u32,
    handler: T,
}

/// An owned kernel timer; shut down (waiting for a running callback) on
/// drop.
///
/// # Invariants
///
/// `state.timer` was initialised by `timer_init_key` with
/// [`DevTimer::fired`] as its callback and is shut down only in `Drop`.
/// `state.dev` is the device the timer was created for, which outlives it
/// (owners drop the timer before the device is freed: it lives in the VIF's
/// queue, which is dropped at detach).
pub(crate) struct DevTimer<T: DevTimerHandler> {
    state: Pin<KBox<TimerState<T>>>,
}

// SAFETY: the timer functions may be called from any thread; the device
// pointer is only used by the callback; `T` is Send.
unsafe impl<T: DevTimerHandler> Send for DevTimer<T> {}
// SAFETY: `&self` methods only call timer functions that are thread-safe
// (the timer base lock serialises them); `T` is Sync.
unsafe impl<T: DevTimerHandler> Sync for DevTimer<T> {}

impl<T: DevTimerHandler> DevTimer<T> {
    /// A new, unarmed timer for `dev`'s queue (process context).
    pub(crate) fn new(dev: &NetDev<'_>, handler: T) -> Result<Self> {
        let (raw_dev, queue) = (dev.raw(), dev.queue());
        let state = KBox::pin_init(
            pin_init!(TimerState::<T> {
                timer <- Opaque::ffi_init(|slot: *mut bindings::timer_list| {
                    // `timer_init_key` is the `timer_setup` macro; the callback
                    // gets this `timer_list`, the `timer` field of a
                    // `TimerState<T>`; the lock class key is static.
                    // SAFETY: `slot` is valid for writes and pinned (never
                    // moved out of the box); the call initialises it fully.
                    unsafe {
                        bindings::timer_init_key(
                            slot,
                            Some(Self::fired),
                            0,
                            c"netback-rs DevTimer".as_char_ptr(),
                            static_lock_class!().as_ptr(),
                        )
                    }
                }),
                dev: raw_dev,
                queue,
                handler,
            }),
            GFP_KERNEL,
        )?;
        Ok(Self { state })
    }

    fn raw(&self) -> *mut bindings::timer_list {
        self.state.timer.get()
    }

    /// Arms (or moves) the timer to fire at jiffy `expires` (`mod_timer`).
    pub(crate) fn arm(&self, expires: u64) {
        // SAFETY: initialised timer (type invariant).
        unsafe { bindings::mod_timer(self.raw(), expires as kernel::ffi::c_ulong) };
    }

    /// Whether the timer is armed (`timer_pending`).
    pub(crate) fn pending(&self) -> bool {
        // `timer_pending()` is a static inline: a timer is queued while its
        // list entry is hashed, i.e. `entry.pprev` is set; read once, as its
        // lockless C helper does.
        // SAFETY: initialised timer (type invariant); a racy read of one
        // pointer-sized field, like READ_ONCE.
        let pprev = unsafe { core::ptr::read_volatile(&raw const (*self.raw()).entry.pprev) };
        !pprev.is_null()
    }

    /// The kernel's callback.
    ///
    /// # Safety
    ///
    /// Called by the timer core with the `timer_list` of a live
    /// `TimerState<T>` (the only timers with this callback are made in
    /// `new`, and `Drop` shuts them down before the state goes).
    unsafe extern "C" fn fired(timer: *mut bindings::timer_list) {
        let timer = Opaque::cast_from(timer).cast_mut();
        // SAFETY: per the function's contract `timer` is the `timer` field
        // of a live `TimerState<T>`.
        let state = unsafe { &*kernel::container_of!(timer, TimerState<T>, timer) };
        // SAFETY: the device outlives the timer (type invariant of
        // `DevTimer`), so it is live during the callback.
        let Some(dev) = (unsafe { NetDev::from_raw(state.dev, state.queue) }) else {
            return;
        };
        state.handler.timer_fired(&dev);
    }
}

impl<T: DevTimerHandler> Drop for DevTimer<T> {
    fn drop(&mut self) {
        // SAFETY: initialised timer (type invariant), shut down once, here:
        // this waits for a running callback and keeps the timer from being
        // armed again, after which the state may be freed.
        unsafe { bindings::timer_shutdown_sync(self.raw()) };
    }
}

/// A high-resolution timer bound to one queue of a VIF whose expiry only
/// schedules that queue's NAPI poll: the guest-TX answer deadline, tens to
/// hundreds of microseconds away, which a jiffy timer cannot express. Built
/// on the kernel crate's `hrtimer` (an `Arc` holding the `HrTimer`, expiring
/// in hard-IRQ context as NAPI's own watchdog timer does: the callback only
/// raises NAPI, like an event channel IRQ). Times are nanoseconds since the
/// timer was made, on the monotonic clock ([`NapiTimer::now`]).
///
/// Owned by the queue's NAPI side: `arm`/`cancel` take `&mut self`. Drop
/// cancels it, waiting for a callback still running.
pub(crate) struct NapiTimer {
    wake: Arc<NapiWake>,
    /// The clock's zero for this timer's nanoseconds.
    epoch: Instant<Monotonic>,
    /// The arming in effect (its handle cancels it when dropped) and when
    /// it expires (ns since `epoch`).
    armed: Option<(ArcHrTimerHandle<NapiWake>, u64)>,
}

/// The `Arc`-shared state the hrtimer callback gets.
///
/// # Invariants
///
/// `dev` is the device the timer was made for; it outlives every arming
/// (the [`NapiTimer`] lives in the VIF's queue, dropped at detach before
/// the device is freed, and its drop cancels the timer and waits for the
/// callback).
#[pin_data]
struct NapiWake {
    #[pin]
    timer: HrTimer<NapiWake>,
    dev: *mut bindings::net_device,
    queue: u32,
}

// SAFETY: the device pointer is only used by the callback, to schedule
// NAPI, which may run on any CPU.
unsafe impl Send for NapiWake {}
// SAFETY: nothing but the timer (locked on the C side) is shared.
unsafe impl Sync for NapiWake {}

impl HrTimerCallback for NapiWake {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        // SAFETY: the device outlives every arming (type invariant).
        if let Some(dev) = unsafe { NetDev::from_raw(this.dev, this.queue) } {
            dev.napi_schedule();
        }
        HrTimerRestart::NoRestart
    }
}

kernel::impl_has_hr_timer! {
    impl HasHrTimer<Self> for NapiWake { mode: AbsoluteMode<Monotonic>, field: self.timer }
}

impl NapiTimer {
    /// A new, unarmed timer for `dev`'s queue (process context).
    pub(crate) fn new(dev: &NetDev<'_>) -> Result<Self> {
        let (raw_dev, queue) = (dev.raw(), dev.queue());
        let wake = Arc::pin_init(pin_init!(NapiWake { timer <- HrTimer::new(), dev: raw_dev, queue }), GFP_KERNEL)?;
        Ok(Self { wake, epoch: Instant::now(), armed: None })
    }

    /// Nanoseconds since the timer was made.
    pub(crate) fn now(&self) -> u64 {
        u64::try_from((Instant::<Monotonic>::now() - self.epoch).as_nanos()).unwrap_or(0)
    }

    /// Makes sure the queue's NAPI is scheduled by `at` (ns, as
    /// [`Self::now`]): keeps an arming still ahead of `now` that expires by
    /// then (it polls early; that poll arms again), else arms at `at`.
    pub(crate) fn arm_by(&mut self, at: u64, now: u64) {
        if self.armed.as_ref().is_some_and(|&(_, t)| t > now && t <= at) {
            return;
        }
        // Cancel the old arming first: its handle's drop would cancel the
        // new one.
        self.armed = None;
        let expires = self.epoch + Delta::from_nanos(i64::try_from(at).unwrap_or(i64::MAX));
        self.armed = Some((self.wake.clone().start(expires), at));
    }

    /// Disarms the timer (waits for a callback still running elsewhere: it
    /// only schedules NAPI).
    pub(crate) fn cancel(&mut self) {
        self.armed = None;
    }

    /// When the timer is armed to expire (ns), if armed and not cancelled
    /// (it may have expired since).
    pub(crate) fn armed_at(&self) -> Option<u64> {
        self.armed.as_ref().map(|&(_, t)| t)
    }
}

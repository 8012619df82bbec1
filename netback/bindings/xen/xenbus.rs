// SPDX-License-Identifier: GPL-2.0
//! xenbus: the driver (a backend's or a frontend's), the device handle and
//! xenstore watches.
//!
//! The driver is a `static` [`XenbusDriver`]: a `struct xenbus_driver` built
//! at compile time from a [`XenbusDriverOps`] (as `rust/kernel/net/phy.rs`
//! builds `phy_driver`), whose callbacks are the `extern "C"` adapters of
//! [`Adapter`]; the xenbus core calls them, they call the driver's methods.
//! [`XenbusDevice`] is the C `struct xenbus_device` itself, refcounted
//! through [`ARef`]; its fields are read here, and the exported xenbus
//! functions are called directly.

use crate::bindings::ffi;
use core::marker::PhantomData;
use core::ptr::{addr_of_mut, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use kernel::prelude::*;
use kernel::str::{CStrExt, CString};
use kernel::sync::aref::{ARef, AlwaysRefCounted};
use kernel::sync::Arc;
use kernel::types::Opaque;

// The protocol core's `XenbusState` is the one state type: its discriminants are the C
// `enum xenbus_state` values.
use crate::netif::xenbus_state::XenbusState;

/// `XBT_NIL`: no transaction, each xenstore access stands alone.
const XBT_NIL: ffi::xenbus_transaction = ffi::xenbus_transaction { id: 0 };

/// A xenbus device (`struct xenbus_device`); handles are `ARef<XenbusDevice>`.
///
/// # Invariants
///
/// A `&XenbusDevice` refers to a live, registered-or-once-registered xenbus
/// device: an `ARef` holds a `get_device()` reference on `&dev->dev`, and the
/// adapters borrow the device the xenbus core passes for the call's duration.
#[repr(transparent)]
pub(crate) struct XenbusDevice(Opaque<ffi::xenbus_device>);

// SAFETY: the xenbus/xenstore functions used through the handle may be
// called from any thread; the reference count is atomic.
unsafe impl Send for XenbusDevice {}
// SAFETY: see `Send`; all methods take `&self` and are thread-safe in C.
unsafe impl Sync for XenbusDevice {}

// SAFETY: `get_device`/`put_device` on the embedded `struct device` are the
// xenbus device's reference count: it is freed (xenbus_dev_release) only
// when the last one is put.
unsafe impl AlwaysRefCounted for XenbusDevice {
    fn inc_ref(&self) {
        // SAFETY: live device by the type invariant.
        unsafe { kernel::bindings::get_device(self.as_device()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference on this live device and gives
        // it up here.
        unsafe { kernel::bindings::put_device(obj.as_ref().as_device()) }
    }
}

impl XenbusDevice {
    /// Borrows the device the xenbus core passed to a callback.
    ///
    /// # Safety
    ///
    /// `ptr` points to a live `struct xenbus_device` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut ffi::xenbus_device) -> &'a Self {
        // SAFETY: `XenbusDevice` is a transparent wrapper of the C struct;
        // live for 'a per the caller.
        unsafe { &*ptr.cast::<Self>() }
    }

    pub(in crate::bindings) fn as_raw(&self) -> *mut ffi::xenbus_device {
        self.0.get()
    }

    /// `&dev->dev`, for parenting the net_device and refcounting.
    pub(in crate::bindings) fn as_device(&self) -> *mut kernel::bindings::device {
        // SAFETY: a field projection within the live device; no reference
        // to the C-owned memory is made.
        unsafe { addr_of_mut!((*self.as_raw()).dev) }
    }

    /// Our xenstore directory (`backend/vif/<domid>/<handle>`).
    pub(crate) fn nodename(&self) -> &CStr {
        // SAFETY: nodename is a NUL-terminated string the xenbus core sets
        // before registering the device and frees only with it.
        unsafe { CStr::from_char_ptr((*self.as_raw()).nodename) }
    }

    /// The frontend's xenstore directory.
    pub(crate) fn otherend(&self) -> &CStr {
        // SAFETY: otherend is set before probe (talk_to_otherend) and freed
        // after remove (free_otherend_details); between the two it is only
        // replaced on resume, which backends do not implement.
        unsafe { CStr::from_char_ptr((*self.as_raw()).otherend) }
    }

    /// The frontend's domain id.
    pub(crate) fn otherend_id(&self) -> u16 {
        // SAFETY: live device; the id is set before probe.
        unsafe { (*self.as_raw()).otherend_id as u16 }
    }

    /// `dev_get_drvdata(&dev->dev)`.
    fn drvdata(&self) -> *mut c_void {
        // SAFETY: live device; the driver core's own accessor is this plain
        // read, ordered against `set_drvdata` by the xenbus core (probe and
        // remove bracket the other callbacks).
        unsafe { (*self.as_device()).driver_data }
    }

    /// `dev_set_drvdata(&dev->dev, data)`.
    fn set_drvdata(&self, data: *mut c_void) {
        // SAFETY: live device; see `drvdata`.
        unsafe { (*self.as_device()).driver_data = data }
    }

    fn read_ulong_in(dir: &CStr, node: &CStr) -> Result<u64> {
        let mut v: c_ulong = 0;
        // SAFETY: NUL-terminated strings; "%lu" stores one `unsigned long`
        // through the one pointer passed, which is `v`.
        let n = unsafe {
            ffi::xenbus_scanf(XBT_NIL, dir.as_char_ptr(), node.as_char_ptr(), c"%lu".as_char_ptr(), &raw mut v)
        };
        // -errno, or how many conversions matched (one: "%lu").
        match n {
            1 => Ok(v as u64),
            n if n < 0 => Err(Error::from_errno(n)),
            _ => Err(EINVAL),
        }
    }

    /// Reads an unsigned number from the other end's directory.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn read_otherend_ulong(&self, node: &CStr) -> Result<u64> {
        Self::read_ulong_in(self.otherend(), node)
    }

    /// Reads an unsigned number from our own directory.
    pub(crate) fn read_own_ulong(&self, node: &CStr) -> Result<u64> {
        Self::read_ulong_in(self.nodename(), node)
    }

    /// Reads `<frontend>/<name>` (or `<frontend>/queue-<q>/<name>`) into
    /// `buf` as a NUL-terminated string; returns its length.
    pub(crate) fn read_frontend_key(&self, queue: Option<u32>, name: &str, buf: &mut [u8]) -> Result<usize> {
        let otherend = self.otherend().to_str().map_err(|_| EINVAL)?;
        let node = CString::try_from_fmt(fmt!("{}", name))?;
        match queue {
            None => Self::read_str_in(self.otherend(), &node, buf),
            Some(q) => {
                let dir = CString::try_from_fmt(fmt!("{}/queue-{}", otherend, q))?;
                Self::read_str_in(&dir, &node, buf)
            }
        }
    }

    /// Copies `<dir>/<node>` into `buf` with a NUL as `strscpy` does: its
    /// length, or E2BIG when it does not fit.
    fn read_str_in(dir: &CStr, node: &CStr, buf: &mut [u8]) -> Result<usize> {
        let mut len: c_uint = 0;
        // SAFETY: NUL-terminated strings; `len` is a valid out pointer.
        let value = crate::bindings::from_err_ptr(unsafe {
            ffi::xenbus_read(XBT_NIL, dir.as_char_ptr(), node.as_char_ptr(), &mut len)
        })?;
        // SAFETY: xenbus_read returns a NUL-terminated kmalloc'd string that
        // we own until the kfree below.
        let text = unsafe { CStr::from_char_ptr(value.as_ptr().cast::<c_char>()) }.to_bytes();
        let copied = buf.get_mut(..=text.len()).and_then(|b| b.split_last_mut()).map(|(nul, dst)| {
            dst.copy_from_slice(text);
            *nul = 0;
            text.len()
        });
        // SAFETY: allocated by xenbus_read; `text` is not used after this.
        unsafe { kernel::bindings::kfree(value.as_ptr()) };
        copied.ok_or(E2BIG)
    }

    /// Reads a string from our own directory into `buf`; returns its length.
    pub(crate) fn read_own_str(&self, node: &CStr, buf: &mut [u8]) -> Result<usize> {
        Self::read_str_in(self.nodename(), node, buf)
    }

    /// Writes an unsigned number (decimal) into our own directory.
    pub(crate) fn write_own_ulong(&self, node: &CStr, val: u64) -> Result {
        let value = CString::try_from_fmt(fmt!("{}", val))?;
        // SAFETY: NUL-terminated strings.
        to_result(unsafe {
            ffi::xenbus_write(XBT_NIL, self.nodename().as_char_ptr(), node.as_char_ptr(), value.as_char_ptr())
        })
    }

    /// Removes a node from our own directory.
    pub(crate) fn rm_own(&self, node: &CStr) {
        // SAFETY: NUL-terminated strings. The result does not matter: the
        // node may simply not exist.
        let _ = unsafe { ffi::xenbus_rm(XBT_NIL, self.nodename().as_char_ptr(), node.as_char_ptr()) };
    }

    /// Our own state, as last switched.
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn state(&self) -> Option<XenbusState> {
        // SAFETY: live device; a plain enum field the xenbus core writes in
        // `xenbus_switch_state`, which our own callers serialise.
        XenbusState::from_u32(unsafe { (*self.as_raw()).state })
    }

    /// `xenbus_switch_state()`.
    pub(crate) fn switch_state(&self, state: XenbusState) {
        // SAFETY: live device. Failures are reported by xenbus itself
        // (xenbus_switch_state calls xenbus_dev_fatal).
        let _ = unsafe { ffi::xenbus_switch_state(self.as_raw(), state.to_u32()) };
    }

    /// `xenbus_frontend_closed()`: a frontend follows its backend to
    /// Closed (and tells a waiting shutdown it is down).
    #[cfg_attr(not(nbrs_frontend), allow(dead_code))] // netfront-rs' alone
    pub(crate) fn frontend_closed(&self) {
        // SAFETY: live device.
        let _ = unsafe { ffi::xenbus_frontend_closed(self.as_raw()) };
    }

    /// `xenbus_dev_fatal()`: logs, records `error` in xenstore and moves the
    /// device to Closing.
    pub(crate) fn dev_fatal(&self, err: Error, msg: &CStr) {
        // SAFETY: live device; "%s" takes the one NUL-terminated string
        // passed.
        unsafe { ffi::xenbus_dev_fatal(self.as_raw(), err.to_errno(), c"%s".as_char_ptr(), msg.as_char_ptr()) }
    }

    /// `xenbus_dev_is_online()`.
    pub(crate) fn is_online(&self) -> bool {
        // SAFETY: live device.
        unsafe { ffi::xenbus_dev_is_online(self.as_raw()) != 0 }
    }

    /// Sends the ONLINE/OFFLINE uevent (udev-driven hotplug setups).
    pub(crate) fn uevent_online(&self, online: bool) {
        let action = if online {
            kernel::bindings::kobject_action_KOBJ_ONLINE
        } else {
            kernel::bindings::kobject_action_KOBJ_OFFLINE
        };
        // SAFETY: the live device's kobject. A failed uevent only means no
        // udev event, as in C.
        let _ = unsafe { kernel::bindings::kobject_uevent(addr_of_mut!((*self.as_device()).kobj), action) };
    }

    /// `device_unregister(&dev->dev)`: the frontend is gone for good. Must
    /// not be called with locks held that `remove` takes.
    pub(crate) fn unregister(&self) {
        // SAFETY: live device; our own reference keeps the memory alive
        // after the driver core drops its references.
        unsafe { kernel::bindings::device_unregister(self.as_device()) }
    }
}

/// A xenbus driver: a backend's (netback-rs) or a frontend's
/// (netfront-rs).
pub(crate) trait XenbusDriverOps: Send + Sync + Sized + 'static {
    /// The devicetype served (`backend/<type>/...` or `device/<type>/...`);
    /// also the driver's name. At most 31 bytes (`xenbus_device_id`).
    const DEVICE_TYPE: &'static CStr;
    /// Registered on the frontend bus (a guest's driver) instead of the
    /// backend bus.
    const FRONTEND: bool = false;
    /// A new device appeared.
    fn probe(dev: ARef<XenbusDevice>) -> Result<Arc<Self>>;
    /// The other end's state changed to `state` (raw `enum xenbus_state`;
    /// xenwatch thread).
    fn otherend_changed(self: &Arc<Self>, state: u32);
    /// The device goes away; tear everything down.
    fn remove(self: Arc<Self>);
}

/// A `struct xenbus_device_id` for `devicetype` (const: a type longer than
/// 31 bytes fails the build).
const fn device_id(devicetype: &CStr) -> ffi::xenbus_device_id {
    let src = devicetype.to_bytes();
    let mut id = ffi::xenbus_device_id { devicetype: [0; 32] };
    // One byte stays for the NUL.
    assert!(src.len() < id.devicetype.len());
    let mut i = 0;
    while i < src.len() {
        id.devicetype[i] = src[i];
        i += 1;
    }
    id
}

/// The `struct xenbus_driver` of a [`XenbusDriverOps`], to be put in a
/// `static` (the kernel writes its `driver` part when registering) and
/// registered with [`Registration::register`].
///
/// # Invariants
///
/// `raw` was built by [`XenbusDriver::new`]: static ids, the adapters of
/// one backend type; `registered` is set while it is registered.
pub(crate) struct XenbusDriver {
    raw: Opaque<ffi::xenbus_driver>,
    registered: AtomicBool,
    frontend: bool,
}

// SAFETY: Rust never reads or writes `raw` after construction; it only
// passes its address to the xenbus core, which serialises its own accesses.
unsafe impl Sync for XenbusDriver {}

impl XenbusDriver {
    /// The driver table for `T`: probe, remove, otherend_changed;
    /// `allow_rebind` for a backend (xenstore is not set Closed when the
    /// driver goes), not for a frontend (the backend then sees it close).
    pub(crate) const fn new<T: XenbusDriverOps>() -> Self {
        Self {
            raw: Opaque::new(ffi::xenbus_driver {
                // No name: xenbus names the driver after ids[0].
                ids: Adapter::<T>::ids().as_ptr(),
                allow_rebind: !T::FRONTEND,
                probe: Some(Adapter::<T>::probe_callback),
                remove: Some(Adapter::<T>::remove_callback),
                otherend_changed: Some(Adapter::<T>::otherend_changed_callback),
                // SAFETY: all other fields are pointers, optional callbacks
                // and flags, for which zero is NULL/None/false, as in a C
                // static initializer.
                ..unsafe { core::mem::MaybeUninit::<ffi::xenbus_driver>::zeroed().assume_init() }
            }),
            registered: AtomicBool::new(false),
            frontend: T::FRONTEND,
        }
    }
}

/// The `extern "C"` callbacks of [`XenbusDriver::new`] for driver `T`.
struct Adapter<T: XenbusDriverOps>(PhantomData<T>);

impl<T: XenbusDriverOps> Adapter<T> {
    /// The id table: `T`'s devicetype and the empty terminator.
    const IDS: [ffi::xenbus_device_id; 2] = [device_id(T::DEVICE_TYPE), device_id(c"")];

    const fn ids() -> &'static [ffi::xenbus_device_id; 2] {
        &Self::IDS
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live device.
    unsafe extern "C" fn probe_callback(dev: *mut ffi::xenbus_device, _id: *const ffi::xenbus_device_id) -> c_int {
        // SAFETY: live for this call per the xenbus core.
        let dev = unsafe { XenbusDevice::from_raw(dev) };
        kernel::error::from_result(|| {
            let be = T::probe(dev.into())?;
            // drvdata owns this reference until `remove_callback` takes it
            // back.
            dev.set_drvdata(Arc::into_raw(be).cast_mut().cast());
            Ok(0)
        })
    }

    /// Borrows the backend stored in drvdata.
    ///
    /// # Safety
    ///
    /// The device's drvdata is either NULL or an `Arc<T>` pointer set by
    /// `probe_callback` and not yet taken by `remove_callback`.
    unsafe fn backend(dev: &XenbusDevice) -> Option<Arc<T>> {
        let p = dev.drvdata().cast_const().cast::<T>();
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` and drvdata still owns that
        // reference, so the count is > 0: take an extra one for the caller.
        let borrowed = core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(p) });
        Some((*borrowed).clone())
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live, probed device.
    unsafe extern "C" fn otherend_changed_callback(dev: *mut ffi::xenbus_device, state: ffi::xenbus_state) {
        // SAFETY: live for this call per the xenbus core; drvdata follows
        // the contract of `backend` (only the adapters write it).
        if let Some(be) = unsafe { Self::backend(XenbusDevice::from_raw(dev)) } {
            be.otherend_changed(state);
        }
    }

    /// # Safety
    ///
    /// Called by the xenbus core with a live, probed device.
    unsafe extern "C" fn remove_callback(dev: *mut ffi::xenbus_device) {
        // SAFETY: live for this call per the xenbus core.
        let dev = unsafe { XenbusDevice::from_raw(dev) };
        let p = dev.drvdata().cast_const().cast::<T>();
        if p.is_null() {
            return;
        }
        // Cleared first so nothing borrows the pointer we take back.
        dev.set_drvdata(core::ptr::null_mut());
        // SAFETY: takes back the reference `probe_callback` stored.
        let be = unsafe { Arc::from_raw(p) };
        be.remove();
    }
}

/// A registered [`XenbusDriver`]. Unregisters on drop.
///
/// # Invariants
///
/// `driver` is registered with the xenbus core (and its flag set).
pub(crate) struct Registration {
    driver: &'static XenbusDriver,
}

impl Registration {
    /// Registers `driver` as a backend or frontend driver of `module`.
    pub(crate) fn register(driver: &'static XenbusDriver, module: &'static ThisModule) -> Result<Self> {
        // The driver core owns a registered table: one registration at a time.
        if driver.registered.swap(true, Ordering::AcqRel) {
            return Err(EBUSY);
        }
        // `xenbus_register_backend`/`_frontend` are these calls in macros.
        // The module name is `KBUILD_MODNAME`, NUL-terminated and 'static
        // (module! generates it; the print macros use it too). Drop
        // unregisters the driver.
        // SAFETY: `driver.raw` is a valid, 'static xenbus_driver (type
        // invariant) registered by no one else (the flag).
        let r = to_result(unsafe {
            let name = crate::__LOG_PREFIX.as_ptr();
            if driver.frontend {
                ffi::__xenbus_register_frontend(driver.raw.get(), module.as_ptr(), name)
            } else {
                ffi::__xenbus_register_backend(driver.raw.get(), module.as_ptr(), name)
            }
        });
        if let Err(e) = r {
            driver.registered.store(false, Ordering::Release);
            return Err(e);
        }
        Ok(Self { driver })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); this removes all devices
        // first, so no callback runs afterwards.
        unsafe { ffi::xenbus_unregister_driver(self.driver.raw.get()) };
        self.driver.registered.store(false, Ordering::Release);
    }
}

/// Receiver of xenstore watch events.
pub(crate) trait WatchHandler: Send + Sync + 'static {
    /// The watched node changed (xenwatch thread, no locks held).
    fn watch_fired(&self);
}

/// What the xenbus core links into its watch list: the C `xenbus_watch`
/// and the handler its callback finds through `container_of`.
struct WatchSlot<T: WatchHandler> {
    watch: Opaque<ffi::xenbus_watch>,
    handler: Arc<T>,
}

/// A registered watch on `<dir>/<node>`; unregistered on drop (which waits
/// for a running callback unless called from the xenwatch thread).
///
/// # Invariants
///
/// `slot.watch` is registered with xenbus, its `node` allocated by
/// `xenbus_watch_pathfmt`.
pub(crate) struct Watch<T: WatchHandler> {
    slot: Pin<KBox<WatchSlot<T>>>,
}

// SAFETY: unregistering works from any thread; the handler is Send + Sync.
unsafe impl<T: WatchHandler> Send for Watch<T> {}
// SAFETY: no `&self` methods.
unsafe impl<T: WatchHandler> Sync for Watch<T> {}

impl<T: WatchHandler> Watch<T> {
    /// Registers a watch on `<nodename>/<node>`; xenstore fires it once
    /// right away.
    pub(crate) fn register(dev: &XenbusDevice, node: &CStr, handler: Arc<T>) -> Result<Self> {
        Self::register_in(dev, dev.nodename(), node, handler)
    }

    /// Registers a watch on `<frontend dir>/<node>`; fires once right away.
    pub(crate) fn register_frontend(dev: &XenbusDevice, node: &CStr, handler: Arc<T>) -> Result<Self> {
        Self::register_in(dev, dev.otherend(), node, handler)
    }

    /// On failure xenbus has already reported it with `xenbus_dev_fatal`.
    fn register_in(dev: &XenbusDevice, dir: &CStr, node: &CStr, handler: Arc<T>) -> Result<Self> {
        let slot = KBox::pin(WatchSlot { watch: Opaque::zeroed(), handler }, GFP_KERNEL)?;
        // `fired` matches the callback type and only ever gets this slot's
        // watch; "%s/%s" takes the two NUL-terminated strings passed; on
        // failure nothing stays registered or allocated.
        // SAFETY: the watch is zeroed (as kzalloc'd in C) and pinned in its
        // box, which outlives the registration (Drop unregisters first).
        to_result(unsafe {
            ffi::xenbus_watch_pathfmt(
                dev.as_raw(),
                slot.watch.get(),
                None,
                Some(Self::fired),
                c"%s/%s".as_char_ptr(),
                dir.as_char_ptr(),
                node.as_char_ptr(),
            )
        })?;
        Ok(Self { slot })
    }

    /// # Safety
    ///
    /// `watch` is the `watch` of a registered `WatchSlot<T>`.
    unsafe extern "C" fn fired(watch: *mut ffi::xenbus_watch, _path: *const c_char, _token: *const c_char) {
        // SAFETY: per the function's contract the field belongs to a live
        // `WatchSlot<T>` (unregistering waits for this callback to end).
        let slot = unsafe { &*kernel::container_of!(Opaque::cast_from(watch).cast_mut(), WatchSlot<T>, watch) };
        slot.handler.watch_fired();
    }
}

impl<T: WatchHandler> Drop for Watch<T> {
    fn drop(&mut self) {
        let watch = self.slot.watch.get();
        // SAFETY: registered (type invariant), unregistered exactly once.
        unsafe { ffi::unregister_xenbus_watch(watch) };
        // SAFETY: the path xenbus_watch_pathfmt allocated; xenbus no longer
        // uses it once the watch is unregistered.
        unsafe { kernel::bindings::kfree((*watch).node.cast()) };
    }
}

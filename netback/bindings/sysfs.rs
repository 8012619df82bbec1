// SPDX-License-Identifier: GPL-2.0
//! [`SysfsGroup`]: a named sysfs attribute group on a VIF net_device
//! (`/sys/class/net/vifD.H/<group>/`) whose attributes are served by the
//! device's driver state through [`SysfsAttrs`].
//!
//! The `attribute_group` and its `device_attribute`s are constants built
//! from the trait at compile time (promoted to `'static`, as
//! `kernel::miscdevice` builds its `file_operations`); their `show`/`store`
//! are the `extern "C"` adapters below, which find the attribute's index
//! with `container_of` and the driver state from the device
//! ([`VifNetDevice::data_of`]).

use super::ffi;
use super::net::device::{NetDev, VifNetDevice, VifOps};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::as_char_ptr_in_const_context;

/// Most attributes a group can have.
const MAX_ATTRS: usize = 16;

/// The attributes of a VIF's group and their handlers, implemented by the
/// VIF's driver state.
pub(crate) trait SysfsAttrs: VifOps {
    /// The group's directory name.
    const GROUP: &'static CStr;
    /// Attribute names and whether each is writable (mode 0644, else
    /// 0444); index = position. At most 16.
    const ATTRS: &'static [(&'static CStr, bool)];
    /// Writes attribute `index`'s value (process context; `dev` is the
    /// VIF's device).
    fn show(&self, dev: &NetDev<'_>, index: usize, out: &mut SysfsText<'_>) -> fmt::Result;
    /// Sets attribute `index` from `value` (the raw write, usually ending
    /// in a newline). `Err` fails the write with that error and must
    /// change nothing.
    fn store(&self, dev: &NetDev<'_>, index: usize, value: &[u8]) -> Result;
}

/// A sysfs page being filled; output beyond it is an error.
pub(crate) struct SysfsText<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for SysfsText<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A `device_attribute` with its index in [`SysfsAttrs::ATTRS`].
#[repr(C)]
struct SysfsAttr {
    dev_attr: bindings::device_attribute,
    index: usize,
}

/// The constant tables of `T`'s group.
struct AttrTable<T>(core::marker::PhantomData<T>);

impl<T: SysfsAttrs> AttrTable<T> {
    /// The attributes; entries past `T::ATTRS.len()` stay unused.
    const ATTRS: [SysfsAttr; MAX_ATTRS] = {
        assert!(T::ATTRS.len() <= MAX_ATTRS, "too many sysfs attributes");
        let mut out = [const { SysfsAttr { dev_attr: pin_init::zeroed(), index: 0 } }; MAX_ATTRS];
        let mut i = 0;
        while i < T::ATTRS.len() {
            let (name, writable) = T::ATTRS[i];
            let a = &mut out[i];
            a.index = i;
            a.dev_attr.attr.name = as_char_ptr_in_const_context(name);
            a.dev_attr.attr.mode = if writable { 0o644 } else { 0o444 };
            a.dev_attr.__bindgen_anon_1.show = Some(show_cb::<T>);
            if writable {
                a.dev_attr.__bindgen_anon_2.store = Some(store_cb::<T>);
            }
            i += 1;
        }
        out
    };

    /// The group's NULL-terminated attribute list (the unused entries are
    /// NULL too).
    const LIST: [*const bindings::attribute; MAX_ATTRS + 1] = {
        let attrs: &'static [SysfsAttr; MAX_ATTRS] = &Self::ATTRS;
        let mut out = [core::ptr::null(); MAX_ATTRS + 1];
        let mut i = 0;
        while i < T::ATTRS.len() {
            out[i] = &raw const attrs[i].dev_attr.attr;
            i += 1;
        }
        out
    };

    const GROUP: bindings::attribute_group = {
        let list: &'static [*const bindings::attribute; MAX_ATTRS + 1] = &Self::LIST;
        let mut g: bindings::attribute_group = pin_init::zeroed();
        g.name = as_char_ptr_in_const_context(T::GROUP);
        g.__bindgen_anon_2.attrs_const = list.as_ptr();
        g
    };
}

/// The driver state, the device and the attribute index of a callback.
///
/// # Safety
///
/// `dev` is the `struct device` of a live VIF net_device allocated by
/// [`VifNetDevice<T>`]; `attr` is an attribute of `AttrTable<T>`. The
/// returned reference is used only during the callback.
unsafe fn callback_ctx<'a, T: SysfsAttrs>(
    dev: *mut bindings::device,
    attr: *const bindings::device_attribute,
) -> Option<(&'a T, NetDev<'a>, usize)> {
    if dev.is_null() || attr.is_null() {
        return None;
    }
    // SAFETY: per the function's contract `attr` is the `dev_attr` field of
    // a `SysfsAttr` (in a constant table, never written).
    let index = unsafe { (*kernel::container_of!(attr.cast_mut(), SysfsAttr, dev_attr)).index };
    // SAFETY: per the function's contract `dev` is embedded in a live
    // net_device.
    let netdev = unsafe { ffi::nbrs_device_netdev(dev.cast()) };
    // SAFETY: a live device of `VifNetDevice<T>` (function's contract).
    let (t, view) = unsafe { VifNetDevice::<T>::data_of(netdev) }?;
    Some((t, view, index))
}

/// `show` of every attribute of `T`'s group.
///
/// # Safety
///
/// Called by sysfs for an attribute of `AttrTable<T>` on a VIF device of
/// `VifNetDevice<T>` (the only place its group is created; removal waits
/// for running calls), with a buffer of `PAGE_SIZE` bytes.
unsafe extern "C" fn show_cb<T: SysfsAttrs>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut kernel::ffi::c_char,
) -> isize {
    // SAFETY: per the function's contract.
    let Some((t, view, index)) = (unsafe { callback_ctx::<T>(dev, attr) }) else {
        return EINVAL.to_errno() as isize;
    };
    let Some(buf) = NonNull::new(buf.cast::<u8>()) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: sysfs hands show a zeroed page of its own (per the function's
    // contract), not aliased during the call.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.as_ptr(), kernel::page::PAGE_SIZE) };
    let mut out = SysfsText { buf, len: 0 };
    match t.show(&view, index, &mut out) {
        Ok(()) => out.len as isize,
        Err(_) => EINVAL.to_errno() as isize,
    }
}

/// `store` of the writable attributes of `T`'s group.
///
/// # Safety
///
/// As for [`show_cb`], with `count` readable bytes at `buf`.
unsafe extern "C" fn store_cb<T: SysfsAttrs>(
    dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const kernel::ffi::c_char,
    count: usize,
) -> isize {
    // SAFETY: per the function's contract.
    let Some((t, view, index)) = (unsafe { callback_ctx::<T>(dev, attr) }) else {
        return EINVAL.to_errno() as isize;
    };
    let Some(buf) = NonNull::new(buf.cast_mut().cast::<u8>()) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: per the function's contract.
    let value = unsafe { core::slice::from_raw_parts(buf.as_ptr(), count) };
    match t.store(&view, index, value) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// A created attribute group; removed on drop (which waits for running
/// show/store calls).
///
/// # Invariants
///
/// `group` was created on `kobj` (the kobject of a VIF net_device) and is
/// removed only in `Drop`, which runs before the device is unregistered.
pub(crate) struct SysfsGroup {
    kobj: NonNull<bindings::kobject>,
    group: &'static bindings::attribute_group,
}

// SAFETY: removal works from any process context.
unsafe impl Send for SysfsGroup {}
// SAFETY: no `&self` methods.
unsafe impl Sync for SysfsGroup {}

impl SysfsGroup {
    /// Creates `/sys/class/net/<dev>/<T::GROUP>/` (the device is
    /// registered). The owner drops the group before the device is
    /// unregistered.
    pub(crate) fn create<T: SysfsAttrs>(vif: &VifNetDevice<T>) -> Result<Self> {
        let group: &'static bindings::attribute_group = &AttrTable::<T>::GROUP;
        // SAFETY: the device is live (borrowed from its owner).
        let dev = unsafe { ffi::nbrs_netdev_device(vif.dev().raw().cast()) }.cast::<bindings::device>();
        // SAFETY: `dev` is the net_device's embedded device, live with it;
        // only the address of its kobject is taken.
        let kobj = NonNull::new(unsafe { &raw mut (*dev).kobj }).ok_or(EINVAL)?;
        // SAFETY: a registered device's kobject; the group and its
        // attributes are 'static; their callbacks reach `T` through the
        // device, which `VifNetDevice<T>` allocated.
        kernel::error::to_result(unsafe { bindings::sysfs_create_group(kobj.as_ptr(), group) })?;
        Ok(Self { kobj, group })
    }
}

impl Drop for SysfsGroup {
    fn drop(&mut self) {
        // SAFETY: created in `create` on this kobject, removed exactly once
        // here, before the device is unregistered (type invariant); this
        // waits for running callbacks (kernfs active references).
        unsafe { bindings::sysfs_remove_group(self.kobj.as_ptr(), self.group) }
    }
}

// SPDX-License-Identifier: GPL-2.0
//! The binding layer: the only place in netback-rs with `unsafe`.
//!
//! It wraps the kernel in small safe types, calling exported functions
//! directly (through the module's single bindgen run, `ffi_generated.rs`,
//! or `kernel::bindings`) and C (`helpers.c`, `params.c`, `lower.c`) only
//! for what Rust cannot call: static inlines, macros, the module
//! parameters, and the SR-IOV VF's rx_handler.
//!
//! * [`xen`]: Xen's own interfaces: [`xen::xenbus`] (the backend driver,
//!   the device, xenstore and watches), [`xen::ring`] (frontend ring pages),
//!   [`xen::grant`] (grant copies, maps and unmaps), [`xen::evtchn`] (a ring pair's event
//!   channels, lateeoi) and [`xen::ctrl_irq`] (the control ring's channel).
//! * [`net`]: the networking stack's side: [`net::device`] (the VIF
//!   `net_device` and `net_device_ops`, and [`net::device::VifQueue`]: a
//!   queue in one allocation, its NAPI, backlog, worker and event channels
//!   next to the driver's state), [`net::ethtool`], [`net::skb`] and
//!   [`net::zerocopy`] (zero-copy guest TX: mapped pages behind an skb's
//!   `ubuf_info` completion).
//! * [`params`]: the backend's module parameters (declared in C,
//!   `params.c`; not in netfront-rs).
//! * [`sysfs`]: [`sysfs::SysfsGroup`], a VIF's sysfs attribute group: a
//!   constant `attribute_group` built from the [`sysfs::SysfsAttrs`] trait,
//!   whose show/store adapters reach the VIF's state through its device.
//! * [`debugfs`]: the module's debugfs root and per-VIF directories of
//!   seq_file files (a Rust `file_operations` table).
//! * [`lock`]: [`lock::SpinLockBh`], a spinlock that disables bottom halves.
//! * [`timer`]: [`timer::DevTimer`], a `timer_list` in Rust whose callback
//!   gets the VIF device (the guest-TX credit timer), and
//!   [`timer::NapiTimer`], the kernel crate's hrtimer whose expiry schedules
//!   one queue's NAPI (the guest-TX answer deadline).

pub(crate) mod debugfs;
pub(crate) mod lock;
pub(crate) mod net;
#[cfg(not(nbrs_frontend))]
pub(crate) mod params;
pub(crate) mod sysfs;
pub(crate) mod timer;
pub(crate) mod xen;

use core::sync::atomic::{fence, Ordering};

/// Raw items of the bindgen run; only this directory touches them.
#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unused_imports,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unreachable_pub,
    missing_docs,
    unnecessary_transmutes,
    clippy::all,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr
)]
mod ffi {
    // Types the Xen items mention but bindgen did not allowlist come from
    // the kernel's own bindings.
    use kernel::bindings::*;
    include!("ffi_generated.rs");
}

/// A pointer a C function returned that may be an `ERR_PTR(-errno)` or
/// NULL (out of memory).
pub(crate) fn from_err_ptr<T>(p: *mut T) -> kernel::error::Result<core::ptr::NonNull<T>> {
    core::ptr::NonNull::new(kernel::error::from_err_ptr(p)?).ok_or(kernel::error::code::ENOMEM)
}

/// Takes a reference on this module, held while a VIF is registered (as
/// xen-netback does).
fn module_get() {
    // SAFETY: `THIS_MODULE` is this module's (`module!`), live: we run in it.
    unsafe { kernel::bindings::__module_get(crate::THIS_MODULE.as_ptr()) }
}

/// Drops a reference [`module_get`] took.
fn module_put() {
    // SAFETY: pairs with a `module_get` of this module, so it is live.
    unsafe { kernel::bindings::module_put(crate::THIS_MODULE.as_ptr()) }
}

/// Writes `args` into `buf` as a NUL-terminated C string, cut to fit (the
/// fixed-size name buffers of the kernel: IRQ names, ethtool strings).
fn write_cstr(buf: &mut [u8], args: core::fmt::Arguments<'_>) {
    struct Cursor<'a>(&'a mut [u8], usize);
    impl core::fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for b in s.bytes() {
                // Keep the last byte for the NUL.
                if self.1 + 1 < self.0.len() {
                    if let Some(slot) = self.0.get_mut(self.1) {
                        *slot = b;
                    }
                    self.1 += 1;
                }
            }
            Ok(())
        }
    }
    buf.fill(0);
    let _ = core::fmt::write(&mut Cursor(buf, 0), args);
}

/// A heap slice the protocol core can keep its tables in (it takes any
/// `AsRef<[T]> + AsMut<[T]>`; a `KVec` is neither).
pub(crate) struct HeapSlice<T>(pub(crate) kernel::alloc::KVec<T>);

impl<T> AsRef<[T]> for HeapSlice<T> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

impl<T> AsMut<[T]> for HeapSlice<T> {
    fn as_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

// The `virt_*` barriers order accesses to memory shared with another
// domain, on UP kernels too (unlike `kernel::sync::barrier`'s `smp_*`, which
// are also out-of-line C calls). Rust's fences are at least as strong on
// every architecture and inline: on x86 `virt_rmb`/`virt_wmb` are compiler
// barriers (TSO) and `virt_mb` one locked instruction, as in C. The shared
// ring is accessed with volatile loads and stores, which the compiler keeps
// in order with these fences (the C macros' READ_ONCE/WRITE_ONCE contract).

/// Full memory barrier for memory shared with another domain (`virt_mb`).
#[inline(always)]
pub(crate) fn virt_mb() {
    fence(Ordering::SeqCst)
}

/// Read barrier for memory shared with another domain (`virt_rmb`).
#[inline(always)]
pub(crate) fn virt_rmb() {
    fence(Ordering::Acquire)
}

/// Write barrier for memory shared with another domain (`virt_wmb`).
#[inline(always)]
pub(crate) fn virt_wmb() {
    fence(Ordering::Release)
}

/// The current time in jiffies (`READ_ONCE(jiffies)`, inline).
#[inline(always)]
pub(crate) fn jiffies() -> u64 {
    // SAFETY: `jiffies` is a valid, aligned, always-initialised kernel
    // variable; one volatile word load reads it untorn, as C's `jiffies`
    // (declared volatile) does.
    unsafe { core::ptr::read_volatile(&raw const kernel::bindings::jiffies) as u64 }
}

/// Whether this context may take a bottom-half-disabling lock: not in a
/// hard IRQ and not with IRQs off (netpoll calls `ndo_start_xmit` so), where
/// re-enabling bottom halves is not allowed.
pub(crate) fn bh_lock_allowed() -> bool {
    // SAFETY: reads the preempt count and the IRQ flag; no preconditions.
    unsafe { ffi::nbrs_bh_lock_allowed() }
}

/// Whether a task waits for this CPU while the caller (a NAPI poll) holds
/// it: the scheduler wants the running context to yield, or the softirq
/// interrupted a user task. A flood polled here starves that task.
pub(crate) fn cpu_wanted() -> bool {
    // SAFETY: reads this CPU's flags, preempt count and current task; no
    // preconditions.
    unsafe { ffi::nbrs_cpu_wanted() }
}

/// `msecs_to_jiffies()`, through the kernel crate.
pub(crate) fn msecs_to_jiffies(ms: u32) -> u64 {
    kernel::time::msecs_to_jiffies(ms) as u64
}

/// Whether we run in a Xen domain at all.
pub(crate) fn xen_domain() -> bool {
    // SAFETY: no preconditions.
    unsafe { ffi::nbrs_xen_domain() != 0 }
}

/// Waits until every CPU has left its net RCU read-side sections (and
/// thereby `ndo_start_xmit`).
pub(crate) fn synchronize_net() {
    // SAFETY: no preconditions; may sleep, callers are in process context.
    unsafe { ffi::synchronize_net() }
}

/// Holder of the RTNL lock; released on drop. A `&Rtnl` witnesses that this
/// thread holds RTNL (data under RTNL relies on it): not Send, as the mutex
/// is released by the thread that took it, and not Sync.
pub(crate) struct Rtnl(core::marker::PhantomData<*mut ()>);

impl Rtnl {
    /// Takes the RTNL lock (sleeps).
    pub(crate) fn lock() -> Rtnl {
        // SAFETY: process context; released in Drop.
        unsafe { ffi::rtnl_lock() };
        Rtnl(core::marker::PhantomData)
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: taken in `Rtnl::lock`.
        unsafe { ffi::rtnl_unlock() }
    }
}

impl Rtnl {
    /// A witness for code that the kernel calls with RTNL held (ndo_open,
    /// ndo_stop); dropping it does not unlock.
    ///
    /// # Safety
    ///
    /// The caller holds RTNL for as long as the witness lives.
    pub(super) unsafe fn assume_held() -> core::mem::ManuallyDrop<Rtnl> {
        core::mem::ManuallyDrop::new(Rtnl(core::marker::PhantomData))
    }
}

/// Bottom halves (softirqs) disabled on this CPU until drop: lets process
/// context take a lock that softirq context also takes, and runs what
/// process context raised meanwhile (`napi_schedule`'s NET_RX softirq) on
/// drop, where it would otherwise wait for this CPU's next interrupt.
pub(crate) struct BhDisabled {
    /// `local_bh_disable` pairs with an enable on the same CPU: not Send.
    _not_send: core::marker::PhantomData<*mut ()>,
}

impl BhDisabled {
    /// `local_bh_disable()`.
    pub(crate) fn new() -> Self {
        // SAFETY: paired with the enable in Drop; the guard cannot leave
        // this thread (not Send).
        unsafe { ffi::nbrs_local_bh_disable() };
        Self { _not_send: core::marker::PhantomData }
    }
}

impl Drop for BhDisabled {
    fn drop(&mut self) {
        // SAFETY: disabled in `new` on this thread.
        unsafe { ffi::nbrs_local_bh_enable() }
    }
}

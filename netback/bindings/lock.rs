// SPDX-License-Identifier: GPL-2.0
//! [`SpinLockBh`]: a spinlock that keeps bottom halves (softirqs) disabled
//! while held, the kernel's `spin_lock_bh()`.
//!
//! A lock that NAPI polls or `ndo_select_queue` take in softirq context must
//! be taken with softirqs disabled everywhere else, or a softirq arriving on
//! the same CPU while process context holds it deadlocks (lockdep reports
//! "inconsistent lock state"). With this type that rule holds by
//! construction: every `lock()` disables bottom halves, whatever the context.
//! The kernel crate has no such backend in 7.2.

use super::ffi;
use kernel::bindings;
use kernel::sync::lock::{Backend, Guard, Lock};

/// A spinlock taken with bottom halves disabled.
pub(crate) type SpinLockBh<T> = Lock<T, SpinLockBhBackend>;

/// A held [`SpinLockBh`].
pub(crate) type SpinLockBhGuard<'a, T> = Guard<'a, T, SpinLockBhBackend>;

/// Creates a [`SpinLockBh`] initialiser with a lock class of its own.
macro_rules! new_spinlock_bh {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::bindings::lock::SpinLockBh::new(
            $inner,
            ::kernel::optional_name!($($name)?),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_bh;

/// The `spinlock_t` backend of [`SpinLockBh`].
pub(crate) struct SpinLockBhBackend;

// SAFETY: `spinlock_t` gives mutual exclusion; bottom halves are disabled
// before the lock is taken and enabled after it is released, on the same CPU
// (the guard is not Send), which is what spin_lock_bh/spin_unlock_bh do.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(ptr: *mut Self::State, name: *const kernel::ffi::c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: the caller guarantees `ptr` is valid for writes and `name`
        // and `key` live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: no preconditions; re-enabled in `unlock` on this CPU.
        unsafe { ffi::nbrs_local_bh_disable() };
        // SAFETY: the caller guarantees `ptr` is an initialised lock.
        unsafe { bindings::spin_lock(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: no preconditions; re-enabled below or in `unlock`.
        unsafe { ffi::nbrs_local_bh_disable() };
        // SAFETY: the caller guarantees `ptr` is an initialised lock.
        if unsafe { bindings::spin_trylock(ptr) } != 0 {
            Some(())
        } else {
            // SAFETY: disabled above on this CPU.
            unsafe { ffi::nbrs_local_bh_enable() };
            None
        }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: the caller owns the lock.
        unsafe { bindings::spin_unlock(ptr) };
        // SAFETY: disabled in `lock`/`try_lock` on this CPU (the guard is
        // not Send).
        unsafe { ffi::nbrs_local_bh_enable() }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: the caller guarantees `ptr` is an initialised lock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

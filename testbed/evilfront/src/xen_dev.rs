//! The Xen devices: in the guest /dev/xen/gntalloc (pages granted to another domain) and
//! /dev/xen/evtchn (event channels); in dom0 /dev/xen/gntdev (a guest's granted page mapped
//! here, for `ctrl-feed`), through their ioctls. The tool's unsafe code is here and in packet_socket.rs.

use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU32;

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
}
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_FAILED: *mut c_void = !0usize as *mut c_void;
pub const PAGE_SIZE: usize = 4096;

/// `_IOC(_IOC_NONE, type, nr, size)`.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> c_ulong {
    ((size as c_ulong) << 16) | ((ty as c_ulong) << 8) | nr as c_ulong
}

/// `struct ioctl_gntalloc_alloc_gref` for one page (the tool grants pages one at a time).
#[repr(C)]
struct AllocGref {
    domid: u16,
    flags: u16,
    count: u32,
    index: u64,
    gref_ids: [u32; 1],
}
/// The ioctl number encodes the size of the struct with one gref (24 bytes, padded).
const IOCTL_GNTALLOC_ALLOC_GREF: c_ulong = ioc_none(b'G', 5, 24);
const GNTALLOC_FLAG_WRITABLE: u16 = 1;

/// One page of ours, granted (writable) to a remote domain and mapped here (or, from
/// [`Gntdev::map`], a remote domain's page granted to us and mapped here).
pub struct GrantedPage {
    pub gref: u32,
    ptr: *mut u8,
}

// SAFETY: the page is a shared mapping that stays mapped while this struct lives (only
// `Gntdev::unmap`, which consumes it, unmaps it), and every access goes through volatile or
// atomic operations (the remote domain writes it concurrently anyway), so another thread of
// ours adds no new kind of race.
unsafe impl Send for GrantedPage {}
// SAFETY: as for Send: all methods take &self and access the page volatilely or atomically.
unsafe impl Sync for GrantedPage {}

impl GrantedPage {
    /// A 32-bit word of the page, accessed as one atomic load/store (ring indices).
    pub fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= PAGE_SIZE);
        // The page stays mapped while this struct lives (gntalloc pages until the process
        // exits; gntdev pages until `Gntdev::unmap` consumes the struct).
        // SAFETY: mapped page, offset aligned and inside it; AtomicU32 tolerates the remote.
        unsafe { &*(self.ptr.add(offset) as *const AtomicU32) }
    }
    pub fn write_bytes(&self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= PAGE_SIZE);
        for (i, b) in data.iter().enumerate() {
            // SAFETY: inside the mapped page (checked above); volatile because the remote reads it.
            unsafe { self.ptr.add(offset + i).write_volatile(*b) }
        }
    }
    pub fn read_bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset + len <= PAGE_SIZE);
        // SAFETY: inside the mapped page (checked above); volatile because the remote writes it.
        (0..len).map(|i| unsafe { self.ptr.add(offset + i).read_volatile() }).collect()
    }
    /// Writes a plain-old-data value at `offset` (a ring slot).
    pub fn write_obj<T: Copy>(&self, offset: usize, v: T) {
        assert!(offset + std::mem::size_of::<T>() <= PAGE_SIZE && offset.is_multiple_of(std::mem::align_of::<T>()));
        // SAFETY: inside the mapped page and aligned (checked above); T is Copy (plain data).
        unsafe { (self.ptr.add(offset) as *mut T).write_volatile(v) }
    }
    /// Reads a plain-old-data value at `offset`; every bit pattern must be valid for T.
    pub fn read_obj<T: Copy>(&self, offset: usize) -> T {
        assert!(offset + std::mem::size_of::<T>() <= PAGE_SIZE && offset.is_multiple_of(std::mem::align_of::<T>()));
        // SAFETY: inside the mapped page and aligned; callers only use integer-only wire structs.
        unsafe { (self.ptr.add(offset) as *const T).read_volatile() }
    }
}

/// Maps, shared and writable, the one page a gntalloc/gntdev ioctl just registered at
/// `index` of `file`.
fn map_page(file: &File, index: u64) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping of one page of the device at an offset the driver handed out;
    // the kernel checks the range.
    let ptr = unsafe {
        mmap(std::ptr::null_mut(), PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, file.as_raw_fd(), index as i64)
    };
    if ptr == MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(ptr as *mut u8)
}

/// /dev/xen/gntalloc. Pages stay mapped until the process exits; closing the device ends
/// the grants (gntalloc defers the free of a page the remote still maps).
pub struct Gntalloc {
    file: File,
}

impl Gntalloc {
    pub fn open() -> io::Result<Self> {
        Ok(Self { file: OpenOptions::new().read(true).write(true).open("/dev/xen/gntalloc")? })
    }

    /// Grants one fresh zeroed page to `domid`, writable.
    pub fn grant_page(&self, domid: u16) -> io::Result<GrantedPage> {
        let mut arg = AllocGref { domid, flags: GNTALLOC_FLAG_WRITABLE, count: 1, index: 0, gref_ids: [0; 1] };
        // SAFETY: `arg` is a valid ioctl_gntalloc_alloc_gref with room for `count` grefs.
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_GNTALLOC_ALLOC_GREF, &mut arg as *mut AllocGref) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(GrantedPage { gref: arg.gref_ids[0], ptr: map_page(&self.file, arg.index)? })
    }
}

const IOCTL_EVTCHN_BIND_UNBOUND_PORT: c_ulong = ioc_none(b'E', 2, 4);
const IOCTL_EVTCHN_NOTIFY: c_ulong = ioc_none(b'E', 4, 4);

/// /dev/xen/evtchn: event channels of this process.
pub struct Evtchn {
    file: File,
}

impl Evtchn {
    pub fn open() -> io::Result<Self> {
        Ok(Self { file: OpenOptions::new().read(true).write(true).open("/dev/xen/evtchn")? })
    }
    /// A new port that `remote` may bind to.
    pub fn bind_unbound(&self, remote: u16) -> io::Result<u32> {
        let mut arg: u32 = u32::from(remote);
        // SAFETY: the argument is a struct ioctl_evtchn_bind_unbound_port (one unsigned int).
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_EVTCHN_BIND_UNBOUND_PORT, &mut arg as *mut u32) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(rc as u32)
    }
    pub fn notify(&self, port: u32) -> io::Result<()> {
        let mut arg = port;
        // SAFETY: the argument is a struct ioctl_evtchn_notify (one unsigned int).
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_EVTCHN_NOTIFY, &mut arg as *mut u32) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// `struct ioctl_gntdev_map_grant_ref` for one grant.
#[repr(C)]
struct MapGrantRef {
    count: u32,
    pad: u32,
    index: u64,
    domid: u32,
    gref: u32,
}
const IOCTL_GNTDEV_MAP_GRANT_REF: c_ulong = ioc_none(b'G', 0, 24);

/// /dev/xen/gntdev in dom0: maps pages other domains granted to dom0. A mapping lasts until
/// [`Gntdev::unmap`] (or the process exits: closing the device unmaps everything).
pub struct Gntdev {
    file: File,
}

impl Gntdev {
    pub fn open() -> io::Result<Self> {
        Ok(Self { file: OpenOptions::new().read(true).write(true).open("/dev/xen/gntdev")? })
    }

    /// Maps page `gref` of domain `domid` here, writable.
    pub fn map(&self, domid: u16, gref: u32) -> io::Result<GrantedPage> {
        let mut arg = MapGrantRef { count: 1, pad: 0, index: 0, domid: u32::from(domid), gref };
        // SAFETY: `arg` is a valid ioctl_gntdev_map_grant_ref holding `count` (1) grant refs.
        let rc = unsafe { ioctl(self.file.as_raw_fd(), IOCTL_GNTDEV_MAP_GRANT_REF, &mut arg as *mut MapGrantRef) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // The hypervisor maps the grant at mmap time and checks it.
        Ok(GrantedPage { gref, ptr: map_page(&self.file, arg.index)? })
    }

    /// Unmaps a page from [`Gntdev::map`] (the grant is released when the device closes).
    pub fn unmap(&self, page: GrantedPage) {
        // SAFETY: `page` came from `map` (one page at `ptr`) and is consumed here, so no
        // reference into it outlives the mapping.
        unsafe { munmap(page.ptr as *mut c_void, PAGE_SIZE) };
    }
}

//! A packet socket (`AF_PACKET`, `SOCK_RAW`) that writes whole Ethernet frames to one device,
//! many per system call (`sendmmsg`): what `blast` sends with. Unsafe FFI, like xen_dev.rs.

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

extern "C" {
    fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    fn if_nametoindex(name: *const c_char) -> c_uint;
    fn sendmmsg(fd: c_int, msgvec: *mut MmsgHdr, vlen: c_uint, flags: c_int) -> c_int;
    fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, len: u32) -> c_int;
}
const AF_PACKET: c_int = 17;
const SOCK_RAW: c_int = 3;
const ETH_P_IP: u16 = 0x0800;
const SOL_PACKET: c_int = 263;
const PACKET_QDISC_BYPASS: c_int = 20;
/// The most frames one `send` hands the kernel.
pub const BATCH: usize = 64;

/// `struct sockaddr_ll`.
#[repr(C)]
struct SockaddrLl {
    family: u16,
    protocol: u16,
    ifindex: c_int,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: [u8; 8],
}
/// `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *const c_void,
    len: usize,
}
/// `struct msghdr` (x86-64 layout: repr(C) pads as the C compiler does).
#[repr(C)]
struct MsgHdr {
    name: *const c_void,
    namelen: u32,
    iov: *const IoVec,
    iovlen: usize,
    control: *mut c_void,
    controllen: usize,
    flags: c_int,
}
/// `struct mmsghdr`.
#[repr(C)]
struct MmsgHdr {
    hdr: MsgHdr,
    len: c_uint,
}

pub struct PacketSocket {
    fd: OwnedFd,
    to: SockaddrLl,
}

impl PacketSocket {
    /// A socket that sends IPv4 frames out of `dev`, addressed to `dst_mac`, as pktgen does:
    /// straight to the driver, past the device's queueing discipline (a driver whose queue
    /// is stopped refuses the frame). Protocol 0: it receives nothing, so the device's
    /// incoming traffic is not copied to it.
    pub fn open(dev: &str, dst_mac: [u8; 6]) -> io::Result<Self> {
        let name = CString::new(dev).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        let ifindex = unsafe { if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain system call; a non-negative result is a descriptor we now own.
        let fd = unsafe { socket(AF_PACKET, SOCK_RAW, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket() and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let on: c_int = 1;
        // SAFETY: `on` is an int that outlives the call, and its size is passed.
        let r = unsafe { setsockopt(fd.as_raw_fd(), SOL_PACKET, PACKET_QDISC_BYPASS, (&on as *const c_int).cast(), 4) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut addr = [0u8; 8];
        addr[..6].copy_from_slice(&dst_mac);
        let to = SockaddrLl {
            family: AF_PACKET as u16,
            protocol: ETH_P_IP.to_be(),
            ifindex: ifindex as c_int,
            hatype: 0,
            pkttype: 0,
            halen: 6,
            addr,
        };
        Ok(Self { fd, to })
    }

    /// Sends `frame` `count` times (at most BATCH) in one call; returns how many the device
    /// took. The kernel stops at the first refused frame: a stopped queue is `ENOBUFS` when
    /// it refused the first.
    pub fn send(&self, frame: &[u8], count: usize) -> io::Result<usize> {
        let iov = IoVec { base: frame.as_ptr().cast(), len: frame.len() };
        let msg = || MmsgHdr {
            hdr: MsgHdr {
                name: (&self.to as *const SockaddrLl).cast(),
                namelen: std::mem::size_of::<SockaddrLl>() as u32,
                iov: &iov,
                iovlen: 1,
                control: std::ptr::null_mut(),
                controllen: 0,
                flags: 0,
            },
            len: 0,
        };
        let mut msgs: [MmsgHdr; BATCH] = std::array::from_fn(|_| msg());
        let n = count.min(BATCH) as c_uint;
        // SAFETY: `msgs[..n]` are valid mmsghdrs whose name, iovec and frame pointers all
        // point at `self.to`, `iov` and `frame`, which live until the call returns; the
        // kernel only reads them (and writes each `len`).
        let sent = unsafe { sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), n, 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }
}

//! A minimal xenstore client over /dev/xen/xenbus: the wire protocol is a 16-byte header
//! {type, req_id, tx_id, len} followed by `len` bytes of payload; the reply has the same form.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::thread::sleep;
use std::time::{Duration, Instant};

const XS_READ: u32 = 2;
const XS_WRITE: u32 = 11;
const XS_ERROR: u32 = 16;

pub struct Xenstore {
    dev: File,
    req_id: u32,
}

impl Xenstore {
    pub fn open() -> io::Result<Self> {
        Ok(Self { dev: OpenOptions::new().read(true).write(true).open("/dev/xen/xenbus")?, req_id: 0 })
    }

    fn request(&mut self, ty: u32, payload: &[u8]) -> Result<Vec<u8>, String> {
        self.req_id = self.req_id.wrapping_add(1);
        let mut msg = Vec::with_capacity(16 + payload.len());
        for w in [ty, self.req_id, 0, payload.len() as u32] {
            msg.extend_from_slice(&w.to_le_bytes());
        }
        msg.extend_from_slice(payload);
        // The device takes one whole message per write.
        self.dev.write_all(&msg).map_err(|e| format!("xenbus write: {e}"))?;
        loop {
            let mut hdr = [0u8; 16];
            self.dev.read_exact(&mut hdr).map_err(|e| format!("xenbus read: {e}"))?;
            let word = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
            let mut body = vec![0u8; word(12) as usize];
            self.dev.read_exact(&mut body).map_err(|e| format!("xenbus read: {e}"))?;
            if word(4) != self.req_id {
                continue; // not ours (no watches are set, so this does not happen)
            }
            if word(0) == XS_ERROR {
                return Err(String::from_utf8_lossy(&body).trim_end_matches('\0').to_string());
            }
            return Ok(body);
        }
    }

    pub fn read(&mut self, path: &str) -> Result<String, String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        let v = self.request(XS_READ, &p).map_err(|e| format!("read {path}: {e}"))?;
        Ok(String::from_utf8_lossy(&v).trim_end_matches('\0').to_string())
    }

    pub fn write(&mut self, path: &str, value: &str) -> Result<(), String> {
        let mut p = path.as_bytes().to_vec();
        p.push(0);
        p.extend_from_slice(value.as_bytes());
        self.request(XS_WRITE, &p).map(|_| ()).map_err(|e| format!("write {path}={value}: {e}"))
    }

    /// The integer at `path`, or None when absent or not a number.
    pub fn read_u32(&mut self, path: &str) -> Option<u32> {
        self.read(path).ok().and_then(|s| s.trim().parse().ok())
    }

    /// Polls `path` until `pred` holds on its value; returns the last value seen.
    pub fn wait_for(
        &mut self,
        path: &str,
        timeout: Duration,
        pred: impl Fn(Option<u32>) -> bool,
    ) -> (bool, Option<u32>) {
        let t0 = Instant::now();
        loop {
            let v = self.read_u32(path);
            if pred(v) {
                return (true, v);
            }
            if t0.elapsed() > timeout {
                return (false, v);
            }
            sleep(Duration::from_millis(50));
        }
    }
}

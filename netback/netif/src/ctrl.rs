//! The control ring: hash algorithm, flags, key and queue mapping
//! (`process_ctrl_request` in netback.c, `hash.c`), with the exact statuses
//! of the C driver.
//!
//! Grant copies from the frontend go through [`GrantSource`], implemented by
//! the shell with `GNTTABOP_copy`; the core validates every length and offset
//! before asking for a copy, and validates the copied-out mapping before
//! committing it (XSA-270: mapping entries must be below `num_queues`, offset
//! plus length must not overflow).

use super::ring::{BackRing, RingError, SharedRing};
use super::toeplitz::{flow_hash, Flow, HashCoverage, TOEPLITZ_KEY_LEN};
use super::wire::{
    CtrlRequest, CtrlResponse, XEN_NETIF_CTRL_HASH_ALGORITHM_NONE, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    XEN_NETIF_CTRL_HASH_TYPES_ALL, XEN_NETIF_CTRL_HASH_TYPE_IPV4, XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
    XEN_NETIF_CTRL_HASH_TYPE_IPV6, XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
    XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
    XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, XEN_PAGE_SIZE,
};
use super::wire::{
    XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
    XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE,
};
use core::fmt;

/// Largest hash key (`XEN_NETBK_MAX_HASH_KEY_SIZE`).
pub const XEN_NETBK_MAX_HASH_KEY_SIZE: u32 = TOEPLITZ_KEY_LEN as u32;
/// Largest mapping table (`XEN_NETBK_MAX_HASH_MAPPING_SIZE`).
pub const XEN_NETBK_MAX_HASH_MAPPING_SIZE: u32 = 128;
const MAP_LEN: usize = XEN_NETBK_MAX_HASH_MAPPING_SIZE as usize;

/// Copies bytes out of a page granted by the frontend (the shell's
/// `GNTTABOP_copy` with `GNTCOPY_source_gref`, source offset 0).
pub trait GrantSource {
    /// Fills `dst` from the start of the page granted as `gref`; returns
    /// whether the copy succeeded (`GNTST_okay`).
    fn copy_from_grant(&mut self, gref: u32, dst: &mut [u8]) -> bool;

    /// The shell's staging-grant tables (requests 8, 9 and 10), if it has
    /// them; `None` answers those requests NOT_SUPPORTED.
    fn staging(&mut self) -> Option<&mut dyn StagingControl> {
        None
    }
}

/// The staging-grant requests (`GET`/`ADD`/`DEL_GREF_MAPPING`, see
/// [`super::staging`]) on a queue index the core has checked against the
/// VIF's queues. The shell validates each list with
/// [`super::staging::StagingTable`], maps and unmaps.
pub trait StagingControl {
    /// Entries one queue may stage (`GET_GREF_MAPPING_SIZE`); 0 when staging
    /// is off (the requests are then NOT_SUPPORTED).
    fn max_entries(&self) -> u32;
    /// `ADD_GREF_MAPPING` of the `count` entries listed in the page granted as
    /// `list`: the response status (all or nothing).
    fn add(&mut self, queue: u32, list: u32, count: u32) -> u32;
    /// `DEL_GREF_MAPPING`: the response status and the number of entries
    /// unmapped (each entry's status is written back into the list page).
    fn delete(&mut self, queue: u32, list: u32, count: u32) -> (u32, u32);
}

/// Selected hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// No hashing: the stack picks the queue.
    None,
    /// Toeplitz.
    Toeplitz,
}

/// The VIF's hash state (`struct xenvif_hash`, without the cache).
#[derive(Clone, Debug)]
pub struct CtrlState {
    alg: HashAlgorithm,
    flags: u32,
    key: [u8; TOEPLITZ_KEY_LEN],
    mapping: [[u32; MAP_LEN]; 2],
    sel: bool,
    size: u32,
    num_queues: u32,
}

impl CtrlState {
    /// Initial state for a VIF with `num_queues` queues: no algorithm, no
    /// flags, zero key, empty mapping.
    pub fn new(num_queues: u32) -> Self {
        CtrlState {
            alg: HashAlgorithm::None,
            flags: 0,
            key: [0; TOEPLITZ_KEY_LEN],
            mapping: [[0; MAP_LEN]; 2],
            sel: false,
            size: 0,
            num_queues,
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.alg
    }

    /// Enabled `XEN_NETIF_CTRL_HASH_TYPE_*` flags.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The key (zero-padded to 40 bytes).
    pub fn key(&self) -> &[u8; TOEPLITZ_KEY_LEN] {
        &self.key
    }

    /// The active mapping table (`size` entries).
    pub fn mapping(&self) -> &[u32] {
        let [a, b] = &self.mapping;
        let table = if self.sel { b } else { a };
        table.get(..self.size as usize).unwrap_or(table)
    }

    /// (active, shadow) tables: the C driver's `mapping[mapping_sel]` and
    /// `mapping[!mapping_sel]`; an update fills the shadow and flips.
    fn tables_mut(&mut self) -> (&mut [u32; MAP_LEN], &mut [u32; MAP_LEN]) {
        let [a, b] = &mut self.mapping;
        if self.sel {
            (b, a)
        } else {
            (a, b)
        }
    }

    /// Number of queues the mapping may name.
    pub fn num_queues(&self) -> u32 {
        self.num_queues
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM`.
    pub fn set_hash_alg(&mut self, alg: u32) -> u32 {
        self.alg = match alg {
            XEN_NETIF_CTRL_HASH_ALGORITHM_NONE => HashAlgorithm::None,
            XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ => HashAlgorithm::Toeplitz,
            _ => return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
        };
        XEN_NETIF_CTRL_STATUS_SUCCESS
    }

    /// `XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS`: (status, supported flags).
    pub fn get_hash_flags(&self) -> (u32, u32) {
        if self.alg == HashAlgorithm::None {
            return (XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, 0);
        }
        (XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_HASH_TYPES_ALL)
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS`.
    pub fn set_hash_flags(&mut self, flags: u32) -> u32 {
        if flags & !XEN_NETIF_CTRL_HASH_TYPES_ALL != 0 {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        if self.alg == HashAlgorithm::None {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        self.flags = flags;
        XEN_NETIF_CTRL_STATUS_SUCCESS
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_KEY` from bytes already copied out:
    /// `len > 40` is refused, shorter keys are zero-padded.
    pub fn set_hash_key_bytes(&mut self, key: &[u8]) -> u32 {
        if key.len() > TOEPLITZ_KEY_LEN {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        let mut k = [0u8; TOEPLITZ_KEY_LEN];
        for (d, s) in k.iter_mut().zip(key) {
            *d = *s;
        }
        self.key = k;
        XEN_NETIF_CTRL_STATUS_SUCCESS
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_KEY`: copies `len` bytes from `gref`.
    /// Unlike C, a failed copy leaves the previous key intact.
    pub fn set_hash_key<G: GrantSource + ?Sized>(&mut self, gref: u32, len: u32, grants: &mut G) -> u32 {
        if len > XEN_NETBK_MAX_HASH_KEY_SIZE {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        let mut buf = [0u8; TOEPLITZ_KEY_LEN];
        let Some(dst) = buf.get_mut(..len as usize) else {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        };
        if !dst.is_empty() && !grants.copy_from_grant(gref, dst) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        self.set_hash_key_bytes(dst)
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE`: sets the size and clears
    /// the active table.
    pub fn set_hash_mapping_size(&mut self, size: u32) -> u32 {
        if size > XEN_NETBK_MAX_HASH_MAPPING_SIZE {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        self.size = size;
        let (table, _) = self.tables_mut();
        for e in table.iter_mut().take(size as usize) {
            *e = 0;
        }
        XEN_NETIF_CTRL_STATUS_SUCCESS
    }

    /// The argument checks of `SET_HASH_MAPPING` (XSA-270): `off + len` must
    /// not overflow nor exceed the mapping size, `len` must fit a page.
    pub fn check_hash_mapping(&self, len: u32, off: u32) -> Result<(), u32> {
        match off.checked_add(len) {
            Some(end) if end <= self.size && len <= XEN_PAGE_SIZE / 4 => Ok(()),
            _ => Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER),
        }
    }

    /// `SET_HASH_MAPPING` with the entries already copied out of the granted
    /// page: checks the arguments, then that every entry is below
    /// `num_queues`, and only then makes the new table active.
    pub fn apply_hash_mapping(&mut self, off: u32, values: &[u32]) -> u32 {
        let Ok(len) = u32::try_from(values.len()) else {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        };
        if let Err(st) = self.check_hash_mapping(len, off) {
            return st;
        }
        if values.iter().any(|&q| q >= self.num_queues) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        let (active, shadow) = self.tables_mut();
        *shadow = *active;
        for (d, s) in shadow.iter_mut().skip(off as usize).zip(values) {
            *d = *s;
        }
        self.sel = !self.sel;
        XEN_NETIF_CTRL_STATUS_SUCCESS
    }

    /// `XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING`: copies `len` u32 entries from
    /// `gref` into position `off`.
    pub fn set_hash_mapping<G: GrantSource + ?Sized>(&mut self, gref: u32, len: u32, off: u32, grants: &mut G) -> u32 {
        if let Err(st) = self.check_hash_mapping(len, off) {
            return st;
        }
        // len <= size <= 128 after the check.
        let mut bytes = [0u8; MAP_LEN * 4];
        let Some(dst) = bytes.get_mut(..(len as usize).saturating_mul(4)) else {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        };
        if !dst.is_empty() && !grants.copy_from_grant(gref, dst) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        let mut values = [0u32; MAP_LEN];
        for (v, c) in values.iter_mut().zip(dst.chunks_exact(4)) {
            if let [a, b, c, d] = *c {
                *v = u32::from_ne_bytes([a, b, c, d]);
            }
        }
        match values.get(..len as usize) {
            Some(v) => self.apply_hash_mapping(off, v),
            None => XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
        }
    }

    /// Handles one control request exactly as `process_ctrl_request`.
    pub fn handle<G: GrantSource + ?Sized>(&mut self, req: &CtrlRequest, grants: &mut G) -> CtrlResponse {
        let [d0, d1, d2] = req.data;
        let mut data = 0;
        let status = match req.kind {
            XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM => self.set_hash_alg(d0),
            XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS => {
                let (st, flags) = self.get_hash_flags();
                data = flags;
                st
            }
            XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS => self.set_hash_flags(d0),
            XEN_NETIF_CTRL_TYPE_SET_HASH_KEY => self.set_hash_key(d0, d1, grants),
            XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE => {
                data = XEN_NETBK_MAX_HASH_MAPPING_SIZE;
                XEN_NETIF_CTRL_STATUS_SUCCESS
            }
            XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE => self.set_hash_mapping_size(d0),
            XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING => self.set_hash_mapping(d0, d1, d2, grants),
            XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE
            | XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING
            | XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING => {
                let (st, d) = self.staging_request(req, grants);
                data = d;
                st
            }
            _ => XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
        };
        CtrlResponse { id: req.id, kind: req.kind, status, data }
    }

    /// Requests 8, 9 and 10: NOT_SUPPORTED without staging, INVALID_PARAMETER
    /// for a queue the VIF does not have, else the shell's answer.
    fn staging_request<G: GrantSource + ?Sized>(&self, req: &CtrlRequest, grants: &mut G) -> (u32, u32) {
        let [queue, list, count] = req.data;
        let Some(staging) = grants.staging().filter(|s| s.max_entries() > 0) else {
            return (XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, 0);
        };
        if queue >= self.num_queues {
            return (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0);
        }
        match req.kind {
            XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE => (XEN_NETIF_CTRL_STATUS_SUCCESS, staging.max_entries()),
            XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING => (staging.add(queue, list, count), 0),
            _ => staging.delete(queue, list, count),
        }
    }

    /// The hash of a flow under the current algorithm, key and flags
    /// (`None` when the algorithm is NONE or no enabled type applies).
    pub fn hash_flow(&self, flow: &Flow) -> Option<(u32, HashCoverage)> {
        match self.alg {
            HashAlgorithm::None => None,
            HashAlgorithm::Toeplitz => flow_hash(&self.key, self.flags, flow),
        }
    }

    /// `xenvif_select_queue` once a hash is known: `mapping[hash % size]`, or
    /// `hash % num_queues` while no mapping size is set. Always `< num_queues`
    /// (0 when there are no queues).
    pub fn select_queue(&self, hash: u32) -> u32 {
        if self.num_queues == 0 {
            return 0;
        }
        let table = self.mapping();
        match u32::try_from(table.len()).ok().filter(|&n| n != 0) {
            None => hash % self.num_queues,
            Some(n) => table.get((hash % n) as usize).copied().unwrap_or(0),
        }
    }

    /// `xenvif_dump_hash_info`: the debugfs `ctrl` file, in the C driver's
    /// format (algorithm; flags, key and mapping only with Toeplitz set).
    pub fn write_dump<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        match self.alg {
            HashAlgorithm::Toeplitz => out.write_str("Hash Algorithm: TOEPLITZ\n")?,
            HashAlgorithm::None => return out.write_str("Hash Algorithm: NONE\n"),
        }
        if self.flags != 0 {
            out.write_str("\nHash Flags:\n")?;
            for (bit, name) in [
                (XEN_NETIF_CTRL_HASH_TYPE_IPV4, "IPv4"),
                (XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, "IPv4 + TCP"),
                (XEN_NETIF_CTRL_HASH_TYPE_IPV6, "IPv6"),
                (XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP, "IPv6 + TCP"),
            ] {
                if self.flags & bit != 0 {
                    writeln!(out, "- {}", name)?;
                }
            }
        }
        out.write_str("\nHash Key:\n")?;
        for (row, bytes) in self.key.chunks(8).enumerate() {
            let first = row * 8;
            write!(out, "[{:2} - {:2}]: ", first, first + bytes.len() - 1)?;
            for b in bytes {
                write!(out, "{:02x} ", b)?;
            }
            out.write_str("\n")?;
        }
        let mapping = self.mapping();
        if !mapping.is_empty() {
            out.write_str("\nHash Mapping:\n")?;
            for (row, queues) in mapping.chunks(8).enumerate() {
                let first = row * 8;
                write!(out, "[{:4} - {:4}]: ", first, first + queues.len() - 1)?;
                for q in queues {
                    write!(out, "{:4} ", q)?;
                }
                out.write_str("\n")?;
            }
        }
        Ok(())
    }
}

/// What one run of [`ctrl_action`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlRun {
    /// Requests answered.
    pub answered: u32,
    /// The frontend asked to be notified of the responses.
    pub notify: bool,
    /// The run reached its bound with requests still pending: run again
    /// (without ending the event's EOI, so the guest gains nothing from
    /// notifying meanwhile).
    pub more: bool,
    /// The run was told to stop (the ring is being disconnected).
    pub stopped: bool,
}

/// `xenvif_ctrl_action`, bounded: answers pending control requests,
/// publishing after each one as the C driver does, at most `max_requests`
/// of them (a ring's worth: a frontend that keeps `req_prod` ahead cannot
/// keep one run going), and re-arms `req_event` when the ring is idle.
/// `stop` is asked before each request; when it says so the run ends at
/// once (disconnect must not wait for a busy frontend).
pub fn ctrl_action<R, G, S>(
    ring: &mut BackRing<R>,
    state: &mut CtrlState,
    grants: &mut G,
    max_requests: u32,
    mut stop: S,
) -> Result<CtrlRun, RingError>
where
    R: SharedRing<Request = CtrlRequest, Response = CtrlResponse>,
    G: GrantSource + ?Sized,
    S: FnMut() -> bool,
{
    let mut run = CtrlRun::default();
    loop {
        while run.answered < max_requests {
            if stop() {
                run.stopped = true;
                return Ok(run);
            }
            let Some(req) = ring.next_request()? else {
                break;
            };
            let rsp = state.handle(&req, grants);
            ring.push_response(rsp)?;
            run.notify |= ring.push_responses_and_check_notify();
            run.answered += 1;
        }
        if !ring.final_check_for_requests()? {
            return Ok(run);
        }
        if run.answered >= max_requests {
            run.more = true;
            return Ok(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ring::MemRing;
    use super::super::wire::*;
    use super::*;

    /// `fmt::Write` into a fixed buffer (the core has no `String`).
    struct Text {
        buf: [u8; 2048],
        len: usize,
    }
    impl fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.buf.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    fn dump(state: &CtrlState) -> Text {
        let mut t = Text { buf: [0; 2048], len: 0 };
        state.write_dump(&mut t).unwrap();
        t
    }
    fn text(t: &Text) -> &str {
        core::str::from_utf8(&t.buf[..t.len]).unwrap()
    }

    #[test]
    fn dump_matches_c_format() {
        let mut s = CtrlState::new(4);
        assert_eq!(text(&dump(&s)), "Hash Algorithm: NONE\n");
        assert_eq!(s.set_hash_alg(XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(
            s.set_hash_flags(XEN_NETIF_CTRL_HASH_TYPE_IPV4 | XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP),
            XEN_NETIF_CTRL_STATUS_SUCCESS
        );
        let key: [u8; 40] = core::array::from_fn(|i| i as u8 * 3);
        assert_eq!(s.set_hash_key_bytes(&key), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.set_hash_mapping_size(10), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.apply_hash_mapping(0, &[0, 1, 2, 3, 0, 1, 2, 3, 3, 2]), XEN_NETIF_CTRL_STATUS_SUCCESS);
        let t = dump(&s);
        let want = "Hash Algorithm: TOEPLITZ\n\
\nHash Flags:\n- IPv4\n- IPv6 + TCP\n\
\nHash Key:\n\
[ 0 -  7]: 00 03 06 09 0c 0f 12 15 \n\
[ 8 - 15]: 18 1b 1e 21 24 27 2a 2d \n\
[16 - 23]: 30 33 36 39 3c 3f 42 45 \n\
[24 - 31]: 48 4b 4e 51 54 57 5a 5d \n\
[32 - 39]: 60 63 66 69 6c 6f 72 75 \n\
\nHash Mapping:\n\
[   0 -    7]:    0    1    2    3    0    1    2    3 \n\
[   8 -    9]:    3    2 \n";
        assert_eq!(text(&t), want);
    }

    /// A frontend page of bytes; `ok == false` simulates a bad gref.
    struct Page {
        bytes: [u8; 4096],
        ok: bool,
        copies: u32,
    }

    impl GrantSource for Page {
        fn copy_from_grant(&mut self, gref: u32, dst: &mut [u8]) -> bool {
            self.copies += 1;
            if !self.ok || gref != 7 {
                return false;
            }
            let n = dst.len();
            dst.copy_from_slice(&self.bytes[..n]);
            true
        }
    }

    fn page_of_u32(vals: &[u32]) -> Page {
        let mut bytes = [0u8; 4096];
        for (i, v) in vals.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        Page { bytes, ok: true, copies: 0 }
    }

    fn req(kind: u16, data: [u32; 3]) -> CtrlRequest {
        CtrlRequest { id: 9, kind, data }
    }

    /// A shell with staging: records what reached it.
    struct Staging {
        cap: u32,
        calls: std::vec::Vec<(u32, u32, u32)>,
    }
    impl StagingControl for Staging {
        fn max_entries(&self) -> u32 {
            self.cap
        }
        fn add(&mut self, queue: u32, list: u32, count: u32) -> u32 {
            self.calls.push((queue, list, count));
            XEN_NETIF_CTRL_STATUS_SUCCESS
        }
        fn delete(&mut self, queue: u32, list: u32, count: u32) -> (u32, u32) {
            self.calls.push((queue, list, count));
            (XEN_NETIF_CTRL_STATUS_SUCCESS, count)
        }
    }
    impl GrantSource for Staging {
        fn copy_from_grant(&mut self, _gref: u32, _dst: &mut [u8]) -> bool {
            false
        }
        fn staging(&mut self) -> Option<&mut dyn StagingControl> {
            Some(self)
        }
    }

    #[test]
    fn staging_requests_reach_the_shell_for_valid_queues_only() {
        let s = CtrlState::new(2);
        let ask = |g: &mut Staging, kind, d| {
            let r = s.clone().handle(&req(kind, d), g);
            (r.status, r.data)
        };
        let mut off = Staging { cap: 0, calls: std::vec::Vec::new() };
        for kind in [8, 9, 10] {
            assert_eq!(ask(&mut off, kind, [0, 1, 1]), (XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, 0));
        }
        let mut on = Staging { cap: 64, calls: std::vec::Vec::new() };
        assert_eq!(ask(&mut on, 8, [1, 0, 0]), (XEN_NETIF_CTRL_STATUS_SUCCESS, 64));
        assert_eq!(ask(&mut on, 9, [1, 7, 3]), (XEN_NETIF_CTRL_STATUS_SUCCESS, 0));
        assert_eq!(ask(&mut on, 10, [0, 7, 3]), (XEN_NETIF_CTRL_STATUS_SUCCESS, 3));
        for kind in [8, 9, 10] {
            assert_eq!(ask(&mut on, kind, [2, 7, 3]), (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0));
            assert_eq!(ask(&mut on, kind, [u32::MAX, 7, 3]), (XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 0));
        }
        assert_eq!(on.calls, [(1, 7, 3), (0, 7, 3)]);
        assert!(off.calls.is_empty());
    }

    #[test]
    fn statuses_match_c() {
        let mut s = CtrlState::new(4);
        let mut g = page_of_u32(&[]);
        let r = s.handle(&req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]), &mut g);
        assert_eq!((r.status, r.data), (XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, 0));
        assert_eq!(s.set_hash_flags(1), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_alg(2), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_alg(1), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.set_hash_flags(16), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_flags(15), XEN_NETIF_CTRL_STATUS_SUCCESS);
        let r = s.handle(&req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]), &mut g);
        assert_eq!((r.id, r.kind, r.status, r.data), (9, 1, 0, 15));
        let r = s.handle(&req(XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, [0; 3]), &mut g);
        assert_eq!((r.status, r.data), (0, 128));
        for kind in [0u16, 8, 11, 0xffff] {
            assert_eq!(s.handle(&req(kind, [0; 3]), &mut g).status, XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
        }
    }

    #[test]
    fn key_set_and_padding() {
        let mut s = CtrlState::new(1);
        let mut g = Page { bytes: [0xaa; 4096], ok: true, copies: 0 };
        assert_eq!(s.set_hash_key(7, 41, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_key(7, 4, &mut g), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(&s.key()[..5], &[0xaa, 0xaa, 0xaa, 0xaa, 0]);
        assert_eq!(s.set_hash_key(8, 4, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        let copies = g.copies;
        assert_eq!(s.set_hash_key(8, 0, &mut g), XEN_NETIF_CTRL_STATUS_SUCCESS, "len 0: no copy, key cleared");
        assert_eq!(g.copies, copies);
        assert_eq!(s.key(), &[0; 40]);
    }

    #[test]
    fn mapping_bounds_xsa270() {
        let mut s = CtrlState::new(4);
        let mut g = page_of_u32(&[3, 2, 1, 0, 4]);
        assert_eq!(s.set_hash_mapping_size(129), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_mapping_size(8), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.set_hash_mapping(7, 4, 5, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, "off+len > size");
        assert_eq!(s.set_hash_mapping(7, 2, u32::MAX, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, "wraps");
        assert_eq!(s.set_hash_mapping(7, u32::MAX, 2, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_mapping(7, 5, 0, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, "entry 4 >= queues");
        assert_eq!(s.mapping(), &[0; 8], "failed update leaves the table");
        assert_eq!(s.set_hash_mapping(7, 4, 2, &mut g), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.mapping(), &[0, 0, 3, 2, 1, 0, 0, 0]);
        assert_eq!(s.select_queue(2), 3);
        assert_eq!(s.select_queue(8 + 3), 2);
        g.ok = false;
        assert_eq!(s.set_hash_mapping(7, 1, 0, &mut g), XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        assert_eq!(s.set_hash_mapping_size(0), XEN_NETIF_CTRL_STATUS_SUCCESS);
        assert_eq!(s.select_queue(7), 3, "no mapping: hash % num_queues");
        assert_eq!(CtrlState::new(0).select_queue(7), 0);
    }

    #[test]
    fn ctrl_action_answers_everything() {
        let mut r = BackRing::new(MemRing::<CtrlRequest, CtrlResponse, 128>::new()).unwrap();
        r.ring_mut().push_request(req(XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, [1, 0, 0]));
        r.ring_mut().push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
        let mut s = CtrlState::new(2);
        let mut g = page_of_u32(&[]);
        let run = ctrl_action(&mut r, &mut s, &mut g, 128, || false).unwrap();
        assert_eq!(run, CtrlRun { answered: 2, notify: true, more: false, stopped: false });
        assert_eq!(r.ring_mut().take_response().map(|x| x.status), Some(0));
        assert_eq!(r.ring_mut().take_response().map(|x| x.data), Some(15));
        assert_eq!(r.ring().req_event, 3);
    }

    /// A frontend that posts a new request for every response it sees, so
    /// `req_prod` never falls behind (the `ctrl-endless` attack).
    struct Endless {
        ring: MemRing<CtrlRequest, CtrlResponse, 8>,
        posting: bool,
    }

    impl SharedRing for Endless {
        type Request = CtrlRequest;
        type Response = CtrlResponse;
        fn size(&self) -> u32 {
            self.ring.size()
        }
        fn req_prod_acquire(&self) -> u32 {
            self.ring.req_prod_acquire()
        }
        fn copy_request(&self, slot: u32) -> CtrlRequest {
            self.ring.copy_request(slot)
        }
        fn write_response(&mut self, slot: u32, rsp: CtrlResponse) {
            self.ring.write_response(slot, rsp)
        }
        fn rsp_prod(&self) -> u32 {
            self.ring.rsp_prod()
        }
        fn publish_rsp_prod(&mut self, rsp_prod: u32) {
            self.ring.publish_rsp_prod(rsp_prod);
            while self.ring.take_response().is_some() {
                if self.posting {
                    self.ring.push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
                }
            }
        }
        fn rsp_event(&self) -> u32 {
            self.ring.rsp_event()
        }
        fn set_req_event(&mut self, req_event: u32) {
            self.ring.set_req_event(req_event)
        }
        fn full_barrier(&self) {}
    }

    #[test]
    fn ctrl_action_is_bounded_against_an_endless_frontend() {
        let mut ring = Endless { ring: MemRing::new(), posting: true };
        for _ in 0..8 {
            ring.ring.push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
        }
        let mut r = BackRing::new(ring).unwrap();
        let mut s = CtrlState::new(2);
        let mut g = page_of_u32(&[]);
        for _ in 0..10 {
            let run = ctrl_action(&mut r, &mut s, &mut g, 8, || false).unwrap();
            assert_eq!(run.answered, 8, "a ring's worth per run");
            assert!(run.more, "requests remain: the caller runs again");
            assert!(!run.stopped);
        }
        assert_eq!(r.req_cons(), 80);
        // Once the frontend stops posting, a run drains the ring and goes
        // idle with req_event armed.
        r.ring_mut().posting = false;
        let run = ctrl_action(&mut r, &mut s, &mut g, 8, || false).unwrap();
        assert_eq!((run.answered, run.more), (8, false));
        assert_eq!(r.ring().ring.req_event, r.req_cons().wrapping_add(1));
        // Disconnect while the frontend floods: the run stops at once.
        r.ring_mut().posting = true;
        r.ring_mut().ring.push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
        let run = ctrl_action(&mut r, &mut s, &mut g, 8, || true).unwrap();
        assert_eq!((run.answered, run.more, run.stopped), (0, false, true));
    }

    #[test]
    fn ctrl_action_bound_exactly_reached_goes_idle() {
        let mut r = BackRing::new(MemRing::<CtrlRequest, CtrlResponse, 8>::new()).unwrap();
        let mut s = CtrlState::new(2);
        let mut g = page_of_u32(&[]);
        for _ in 0..4 {
            r.ring_mut().push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
        }
        let run = ctrl_action(&mut r, &mut s, &mut g, 4, || false).unwrap();
        assert_eq!((run.answered, run.more), (4, false));
        assert_eq!(r.ring().req_event, 5, "idle: the next request raises an event");
    }

    #[test]
    fn ctrl_action_stops_when_told() {
        let mut r = BackRing::new(MemRing::<CtrlRequest, CtrlResponse, 8>::new()).unwrap();
        let mut s = CtrlState::new(2);
        let mut g = page_of_u32(&[]);
        for _ in 0..6 {
            r.ring_mut().push_request(req(XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]));
        }
        let mut asked = 0;
        let run = ctrl_action(&mut r, &mut s, &mut g, 8, || {
            asked += 1;
            asked > 2
        })
        .unwrap();
        assert_eq!(run, CtrlRun { answered: 2, notify: true, more: false, stopped: true });
        assert_eq!(r.req_cons(), 2, "nothing consumed after the stop");
    }
}

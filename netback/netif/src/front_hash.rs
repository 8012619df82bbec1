//! The frontend's Toeplitz hash setup on the control ring (netif.h's hash
//! requests, types 1-7), as a sequence decided here and driven by the
//! shell: it sends [`HashSetup::request`], writes [`HashSetup::page`]
//! into its list page first when that says so, and feeds the answer to
//! [`HashSetup::answer`] until the setup is done or off.
//!
//! The order is the one the backends require: the algorithm first (both
//! xen-netback and netback-rs answer `GET_HASH_FLAGS` with NOT_SUPPORTED
//! while it is NONE, and refuse `SET_HASH_FLAGS`), then the flags the
//! backend supports, the key, the mapping size (which clears the table)
//! and the table: bucket `i` goes to queue `i % queues`.
//!
//! A frontend with several queues runs this so that the backend steers
//! each flow to one guest RX queue and hands the hash along (the HASH
//! extra, which the RX reader parses); any refusal leaves the backend's
//! default steering in place, which works too.

use super::toeplitz::{MS_RSS_KEY, TOEPLITZ_KEY_LEN};
use super::wire::{
    CtrlRequest, CtrlResponse, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, XEN_NETIF_CTRL_HASH_TYPES_ALL,
    XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
    XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
    XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING,
    XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE,
};

/// Buckets of the frontend's mapping table at most (fewer if the backend
/// offers fewer): 64 spreads flows evenly over up to 8 queues.
pub const FRONT_HASH_MAPPING_SIZE: u32 = 64;

/// Bytes of one mapping entry in the list page (a `uint32_t` queue index).
const MAPPING_ENTRY_SIZE: usize = 4;

/// Why the frontend runs without its hash setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashOff {
    /// One queue: nothing to steer.
    OneQueue,
    /// The backend does not do Toeplitz hashing (NOT_SUPPORTED).
    NotSupported,
    /// The backend refused a step with this status.
    Refused {
        /// The request type refused.
        kind: u16,
        /// Its status.
        status: u32,
    },
    /// The backend supports none of the hash types.
    NoTypes,
    /// The backend offers no mapping table.
    NoMapping,
    /// The answer is for another request type (a broken backend).
    WrongResponse {
        /// The answer's type.
        kind: u16,
    },
    /// The shell's page is too small for the step's data.
    PageTooSmall,
}

impl HashOff {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            HashOff::OneQueue => "one queue",
            HashOff::NotSupported => "backend does not support Toeplitz hashing",
            HashOff::Refused { .. } => "backend refused a hash request",
            HashOff::NoTypes => "backend hashes no packet type",
            HashOff::NoMapping => "backend offers no mapping table",
            HashOff::WrongResponse { .. } => "control response of the wrong type",
            HashOff::PageTooSmall => "list page too small",
        }
    }
}

/// The steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Algorithm,
    GetFlags,
    SetFlags,
    Key,
    GetMappingSize,
    SetMappingSize,
    Mapping,
    Done,
}

/// One frontend's hash setup over its control ring.
#[derive(Clone, Debug)]
pub struct HashSetup {
    queues: u32,
    step: Step,
    /// Hash types the backend supports (from `GET_HASH_FLAGS`), all set.
    flags: u32,
    /// The mapping table's size (from `GET_HASH_MAPPING_SIZE`).
    size: u32,
}

impl HashSetup {
    /// The setup for a frontend with `queues` connected queues; with one
    /// queue there is nothing to do ([`Self::request`] is `None`).
    pub fn new(queues: u32) -> Self {
        let step = if queues > 1 { Step::Algorithm } else { Step::Done };
        HashSetup { queues, step, flags: 0, size: 0 }
    }

    /// Whether every step succeeded.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done && self.queues > 1
    }

    /// The hash types enabled (valid once done).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The mapping table's size (valid once done).
    pub fn mapping_size(&self) -> u32 {
        self.size
    }

    /// The next request (its `id` is the shell's), naming `page_gref` when
    /// it carries data in the list page; `None` when the setup is over.
    pub fn request(&self, page_gref: u32) -> Option<CtrlRequest> {
        let (kind, data) = match self.step {
            Step::Algorithm => (XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, [XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0]),
            Step::GetFlags => (XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS, [0; 3]),
            Step::SetFlags => (XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, [self.flags, 0, 0]),
            Step::Key => (XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, [page_gref, TOEPLITZ_KEY_LEN as u32, 0]),
            Step::GetMappingSize => (XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, [0; 3]),
            Step::SetMappingSize => (XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, [self.size, 0, 0]),
            Step::Mapping => (XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING, [page_gref, self.size, 0]),
            Step::Done => return None,
        };
        Some(CtrlRequest { id: 0, kind, data })
    }

    /// Writes what the next request needs in the list page (the key, or the
    /// mapping table as native-endian `u32` queue indices) into `page`;
    /// returns the bytes written (0: the request carries no page).
    pub fn page(&self, page: &mut [u8]) -> Result<usize, HashOff> {
        match self.step {
            Step::Key => {
                let dst = page.get_mut(..TOEPLITZ_KEY_LEN).ok_or(HashOff::PageTooSmall)?;
                dst.copy_from_slice(&MS_RSS_KEY);
                Ok(TOEPLITZ_KEY_LEN)
            }
            Step::Mapping => {
                let bytes = self.size as usize * MAPPING_ENTRY_SIZE;
                let dst = page.get_mut(..bytes).ok_or(HashOff::PageTooSmall)?;
                for (bucket, entry) in (0u32..).zip(dst.chunks_exact_mut(MAPPING_ENTRY_SIZE)) {
                    entry.copy_from_slice(&(bucket % self.queues).to_ne_bytes());
                }
                Ok(bytes)
            }
            _ => Ok(0),
        }
    }

    /// The backend's answer to [`Self::request`]: moves to the next step,
    /// or says why the setup stops (the backend keeps whatever it took).
    pub fn answer(&mut self, rsp: &CtrlResponse) -> Result<(), HashOff> {
        let Some(req) = self.request(0) else { return Ok(()) };
        if rsp.kind != req.kind {
            return Err(HashOff::WrongResponse { kind: rsp.kind });
        }
        if rsp.status == XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED {
            return Err(HashOff::NotSupported);
        }
        if rsp.status != XEN_NETIF_CTRL_STATUS_SUCCESS {
            return Err(HashOff::Refused { kind: rsp.kind, status: rsp.status });
        }
        self.step = match self.step {
            Step::Algorithm => Step::GetFlags,
            Step::GetFlags => {
                self.flags = rsp.data & XEN_NETIF_CTRL_HASH_TYPES_ALL;
                if self.flags == 0 {
                    return Err(HashOff::NoTypes);
                }
                Step::SetFlags
            }
            Step::SetFlags => Step::Key,
            Step::Key => Step::GetMappingSize,
            Step::GetMappingSize => {
                self.size = rsp.data.min(FRONT_HASH_MAPPING_SIZE);
                if self.size == 0 {
                    return Err(HashOff::NoMapping);
                }
                Step::SetMappingSize
            }
            Step::SetMappingSize => Step::Mapping,
            Step::Mapping | Step::Done => Step::Done,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ctrl::{CtrlState, GrantSource};
    use super::super::toeplitz::Flow;
    use super::super::wire::{XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER};
    use super::*;

    /// The frontend's one list page, as the backend's grant copies see it.
    struct Page(std::vec::Vec<u8>);

    impl GrantSource for Page {
        fn copy_from_grant(&mut self, _gref: u32, dst: &mut [u8]) -> bool {
            match self.0.get(..dst.len()) {
                Some(src) => {
                    dst.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    /// Runs the setup against netback-rs' own control-ring core.
    fn run(setup: &mut HashSetup, backend: &mut CtrlState) -> Result<usize, HashOff> {
        let mut page = Page(vec![0u8; 4096]);
        let mut sent = 0;
        while let Some(req) = setup.request(7) {
            setup.page(&mut page.0)?;
            let rsp = backend.handle(&req, &mut page);
            setup.answer(&rsp)?;
            sent += 1;
            assert!(sent <= 7, "the setup never ends");
        }
        Ok(sent)
    }

    #[test]
    fn one_queue_sends_nothing() {
        let mut s = HashSetup::new(1);
        assert_eq!(s.request(1), None);
        assert!(!s.is_done());
        assert_eq!(run(&mut s, &mut CtrlState::new(1)), Ok(0));
    }

    #[test]
    fn the_backend_core_takes_the_whole_setup() {
        for queues in 2..=8u32 {
            let mut s = HashSetup::new(queues);
            let mut backend = CtrlState::new(queues);
            assert_eq!(run(&mut s, &mut backend), Ok(7));
            assert!(s.is_done());
            assert_eq!(backend.flags(), XEN_NETIF_CTRL_HASH_TYPES_ALL);
            assert_eq!(backend.key(), &MS_RSS_KEY);
            let mapping = backend.mapping();
            assert_eq!(mapping.len(), FRONT_HASH_MAPPING_SIZE as usize);
            for (i, &q) in mapping.iter().enumerate() {
                assert_eq!(q, i as u32 % queues);
            }
            // Every flow now lands on one of our queues, and they all get some.
            let mut seen = vec![false; queues as usize];
            for port in 0..512u16 {
                let flow = Flow::V4 { src: [10, 0, 0, 1], dst: [10, 0, 0, 2], ports: Some((port, 80)) };
                let (hash, _) = backend.hash_flow(&flow).unwrap();
                let q = backend.select_queue(hash);
                assert!(q < queues);
                seen[q as usize] = true;
            }
            assert!(seen.iter().all(|&s| s), "{queues} queues: {seen:?}");
        }
    }

    #[test]
    fn the_table_follows_a_smaller_backend_size() {
        let mut s = HashSetup::new(3);
        for rsp in [
            CtrlResponse { id: 0, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, status: 0, data: 0 },
            CtrlResponse {
                id: 0,
                kind: XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS,
                status: 0,
                data: XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP | 0x100,
            },
            CtrlResponse { id: 0, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, status: 0, data: 0 },
            CtrlResponse { id: 0, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_KEY, status: 0, data: 0 },
            CtrlResponse { id: 0, kind: XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, status: 0, data: 5 },
        ] {
            s.answer(&rsp).unwrap();
        }
        // Unknown type bits the backend reports are not asked for.
        assert_eq!(s.flags(), XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
        assert_eq!(s.mapping_size(), 5);
        s.answer(&CtrlResponse { id: 0, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE, status: 0, data: 0 }).unwrap();
        let mut page = [0xAAu8; 32];
        assert_eq!(s.page(&mut page), Ok(20));
        let entries: std::vec::Vec<u32> =
            page[..20].chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(entries, [0, 1, 2, 0, 1]);
        assert_eq!(page[20], 0xAA, "nothing written past the table");
        assert_eq!(s.page(&mut [0u8; 19]), Err(HashOff::PageTooSmall));
        assert_eq!(s.request(9).map(|r| r.data), Some([9, 5, 0]));
    }

    #[test]
    fn refusals_and_broken_answers_stop_it() {
        let alg = |status, kind| CtrlResponse { id: 0, kind, status, data: 0 };
        let mut s = HashSetup::new(2);
        assert_eq!(
            s.answer(&alg(XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM)),
            Err(HashOff::NotSupported)
        );
        let mut s = HashSetup::new(2);
        assert_eq!(
            s.answer(&alg(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM)),
            Err(HashOff::Refused {
                kind: XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
                status: XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER
            })
        );
        let mut s = HashSetup::new(2);
        assert_eq!(
            s.answer(&alg(XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY)),
            Err(HashOff::WrongResponse { kind: XEN_NETIF_CTRL_TYPE_SET_HASH_KEY })
        );
        let mut s = HashSetup::new(2);
        s.answer(&alg(0, XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM)).unwrap();
        assert_eq!(s.answer(&alg(0, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS)), Err(HashOff::NoTypes));
        let mut s = HashSetup::new(2);
        for kind in [XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM, XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS] {
            s.answer(&CtrlResponse { id: 0, kind, status: 0, data: XEN_NETIF_CTRL_HASH_TYPES_ALL }).unwrap();
        }
        for kind in [XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS, XEN_NETIF_CTRL_TYPE_SET_HASH_KEY] {
            s.answer(&alg(0, kind)).unwrap();
        }
        assert_eq!(s.answer(&alg(0, XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE)), Err(HashOff::NoMapping));
    }

    #[test]
    fn a_backend_without_hashing_turns_it_off_at_once() {
        // A backend that knows no hash request (NOT_SUPPORTED for all).
        let mut s = HashSetup::new(4);
        let req = s.request(1).unwrap();
        let rsp = CtrlResponse { id: req.id, kind: req.kind, status: XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED, data: 0 };
        assert_eq!(s.answer(&rsp), Err(HashOff::NotSupported));
    }
}

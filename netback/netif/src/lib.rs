//! `netif`: the pure protocol core of netback-rs, Xen's network backend.
//!
//! Everything here is safe, allocation-free `no_std` Rust with no
//! dependencies. The kernel driver ("the shell") does the unsafe work —
//! mapping rings, reading slots with volatile copies, grant operations, skbs,
//! xenstore — and calls these functions for every decision. The crate is
//! compiled into the kernel module as a plain module
//! (`#[path = "netif/src/lib.rs"] mod netif;`), so nothing in `src/` names
//! the crate root by path.
//!
//! One file per concept, like the C driver's split by responsibility:
//! [`wire`] (layouts and constants), [`ring`] (shared ring model), [`tx`]
//! (guest TX assembly and validation), [`rx`] (guest RX accounting and
//! responses), [`ctrl`] (control ring and hash state), [`toeplitz`],
//! [`rate`] (credit scheduler), [`mcast`] (multicast filter list), [`negotiate`] (xenstore feature negotiation),
//! [`xenbus_state`] (xenbus state machine), [`zerocopy`] (when guest TX maps
//! instead of copying), [`coalesce`] (when guest TX answers are published)
//! and [`pool`] (grant-pool
//! bookkeeping).
//!
//! Frontend (netfront-rs) logic lives here too: [`front_tx`] (splitting a
//! packet into TX slots, request ids and grants) and [`front_staging`] (the
//! staging-grant pool a frontend registers with the backend).
//! [`front_ring`] is the frontend side of the shared-ring model (hostile
//! `rsp_prod` checks, XSA-403), and [`front_rx`] posts RX buffers and turns
//! the backend's RX responses into validated packets. [`poll_mode`], for
//! both sides, says when a device's polls move to their own threads
//! (threaded NAPI).
//!
//! # Guest TX (ring -> assembler -> verdict -> responses)
//!
//! ```
//! use netif::ring::{BackRing, MemRing};
//! use netif::tx::{TxAssembler, TxConfig, TxPoll, TxVerdict, Unlimited};
//! use netif::wire::*;
//!
//! // The shell's `SharedRing` impl wraps the mapped page; MemRing stands in.
//! let mut ring = BackRing::new(MemRing::<TxRequest, TxResponse, 256>::new()).unwrap();
//! ring.ring_mut().push_request(TxRequest { gref: 9, offset: 0, flags: 0, id: 1, size: 60 });
//! let mut tx = TxAssembler::new(TxConfig::new(20)); // fatal_skb_slots
//! loop {
//!     match tx.poll(&mut ring, &mut Unlimited) {       // or a rate::CreditGate
//!         TxPoll::Verdict(TxVerdict::Accept) => {
//!             // The packet is read in place, until the next poll.
//!             let pkt = tx.packet();
//!             // grant-copy pkt.linear_plan() (pkt.linear_len bytes), map pkt.frag_plan(),
//!             // later answer each slot (first slot also owes pkt.extra_count NULLs):
//!             for rsp in pkt.response_plan().responses(NETIF_RSP_OKAY) {
//!                 ring.push_response(rsp).unwrap();
//!             }
//!         }
//!         TxPoll::Verdict(TxVerdict::Drop(d)) => {
//!             for rsp in d.responses.responses(NETIF_RSP_ERROR) {
//!                 ring.push_response(rsp).unwrap();
//!             }
//!         }
//!         TxPoll::Verdict(TxVerdict::Multicast(m)) => {
//!             for rsp in m.responses.responses(NETIF_RSP_OKAY) {
//!                 ring.push_response(rsp).unwrap();
//!             }
//!         }
//!         TxPoll::Verdict(TxVerdict::Fatal(why)) => { let _ = why.description(); break } // disable VIF
//!         TxPoll::Empty | TxPoll::Incomplete | TxPoll::RateLimited => break,
//!     }
//! }
//! let notify = ring.push_responses_and_check_notify();   // notify_remote_via_irq if true
//! let more = ring.final_check_for_requests().unwrap();    // reschedule NAPI if true
//! # assert!(notify && !more);
//! ```
//!
//! # Guest RX (slots needed -> requests -> responses)
//!
//! ```
//! use netif::ring::{BackRing, MemRing};
//! use netif::rx::*;
//! use netif::wire::*;
//!
//! let mut ring = BackRing::new(MemRing::<RxRequest, RxResponse, 256>::new()).unwrap();
//! ring.ring_mut().push_request(RxRequest { id: 0, pad: 0, gref: 77 });
//! let cfg = RxConfig::new(0);                      // negotiated xdp headroom
//! let pkt = RxPacketInfo { len: 1500, csum: RxCsum::Partial, ..Default::default() };
//! // Reserves the buffers from one read of req_prod; the writer takes only those.
//! if let Some(reservation) = rx_slots_available(&mut ring, rx_slots_needed(&cfg, &pkt)).unwrap() {
//!     let mut w = RxPacketWriter::new(&cfg, &pkt, reservation).unwrap();
//!     while let Some(step) = w.next_step(&mut ring).unwrap() {
//!         if let RxStep::Data { request, dest_offset, len, .. } = step {
//!             // queue a grant copy of the next `len` bytes into request.gref @ dest_offset;
//!             // on failure: ring.overwrite_unpublished(index, rx_copy_failed_response(response, st))
//!             # let _ = (request, dest_offset, len);
//!         }
//!     }
//!     let _notify = ring.push_responses_and_check_notify();
//! }
//! ```
//!
//! # Control ring
//!
//! ```
//! use netif::ctrl::{CtrlState, GrantSource};
//! use netif::wire::*;
//!
//! struct NoGrants; // the shell grant-copies from the frontend here
//! impl GrantSource for NoGrants {
//!     fn copy_from_grant(&mut self, _gref: u32, _dst: &mut [u8]) -> bool { false }
//! }
//! let mut st = CtrlState::new(4);                  // num_queues
//! let req = CtrlRequest { id: 1, kind: XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM,
//!                         data: [XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ, 0, 0] };
//! let rsp = st.handle(&req, &mut NoGrants);       // push rsp on the ctrl BackRing
//! assert_eq!(rsp.status, XEN_NETIF_CTRL_STATUS_SUCCESS);
//! let queue = st.select_queue(0x1234_5678);       // ndo_select_queue with a hash
//! # let _ = queue;
//! ```
//!
//! # Negotiation
//!
//! ```
//! use netif::negotiate::{negotiate, BackendParams, FrontendKeys, Key};
//!
//! struct Fe; // the shell reads `<frontend>/<key>` from xenstore into `buf`
//! impl FrontendKeys for Fe {
//!     fn read<'a>(&mut self, key: &Key<'_>, buf: &'a mut [u8]) -> Option<&'a [u8]> {
//!         let v: &[u8] = match key.name { "request-rx-copy" => b"1", "tx-ring-ref" => b"8",
//!             "rx-ring-ref" => b"9", "event-channel" => b"5", _ => return None };
//!         let out = buf.get_mut(..v.len())?; out.copy_from_slice(v); Some(out)
//!     }
//! }
//! let cfg = negotiate(&mut Fe, &BackendParams::default()).unwrap();
//! assert_eq!(cfg.num_queues, 1);
//! for (key, value) in netif::negotiate::advertised_keys(&BackendParams::default()).iter() {
//!     let _ = (key, value); // xenbus_printf(backend, key, value)
//! }
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod coalesce;
pub mod ctrl;
pub mod front_hash;
pub mod front_ring;
pub mod front_rx;
pub mod front_staging;
pub mod front_tx;
pub mod mcast;
pub mod negotiate;
pub mod poll_mode;
pub mod pool;
pub mod rate;
pub mod ring;
pub mod rx;
pub mod sriov;
pub mod staging;
pub mod toeplitz;
pub mod tx;
pub mod wire;
pub mod xenbus_state;
pub mod zerocopy;

#[cfg(test)]
mod test_rng;

#[cfg(test)]
mod source_rules {
    use std::fs;
    use std::path::Path;

    fn sources() -> std::vec::Vec<(std::string::String, std::string::String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out = std::vec::Vec::new();
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().and_then(|x| x.to_str()) == Some("rs") {
                out.push((p.display().to_string(), fs::read_to_string(&p).unwrap()));
            }
        }
        assert!(out.len() >= 10, "expected the module files in {}", dir.display());
        out
    }

    /// The kernel includes this crate as a module: a path from the crate root would name the
    /// kernel crate, so it must not appear in src/.
    #[test]
    fn no_crate_paths_in_src() {
        let needle = ["crate", "::"].concat();
        for (path, text) in sources() {
            for (n, line) in text.lines().enumerate() {
                assert!(!line.contains(&needle), "{path}:{}: `{needle}` path found: {line}", n + 1);
            }
        }
    }

    /// Same reason: no extern-crate items, no exported macros, no unsafe.
    #[test]
    fn kernel_module_rules() {
        let rules = [
            ["extern", " crate"].concat(),
            ["macro", "_export"].concat(),
            ["unsafe", " {"].concat(),
            ["unsafe", " fn"].concat(),
            ["unsafe", " impl"].concat(),
        ];
        for (path, text) in sources() {
            for rule in &rules {
                assert!(!text.contains(rule.as_str()), "{path}: `{rule}` is not allowed");
            }
        }
    }
}

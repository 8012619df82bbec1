//! Staging grants, frontend side (netfront-rs): one queue's pool of pages
//! that the frontend grants once and registers with the backend
//! (`ADD_GREF_MAPPING`), so that TX and RX requests naming them cost the
//! backend a memcpy instead of a grant copy. The backend's half is
//! [`staging`](super::staging); the protocol is in `docs/persistent-grants.md`.
//!
//! The setup, per queue, on the control ring:
//!
//! 1. `GET_GREF_MAPPING_SIZE` ([`gref_mapping_size_request`]): the answer
//!    gives [`pages_to_register`] = `min(wanted, S)`, or staging is off
//!    ([`StagingOff`]: NOT_SUPPORTED, another status, S = 0, a response of
//!    the wrong type). Off means plain per-packet grants, which every backend
//!    takes.
//! 2. The shell grants that many pages (read-only ones for TX only, writable
//!    ones for RX or TX) and [`StagingPool::add_page`]s them.
//! 3. `ADD_GREF_MAPPING` ([`add_gref_mapping_request`]) with lists written by
//!    [`StagingPool::write_add_list`], at most 512 entries each, one list in
//!    flight at a time, until it writes 0 entries. [`StagingPool::add_response`]
//!    registers the list's pages, or on any failure (BUFFER_OVERFLOW
//!    included) returns them to unregistered and says stop: the queue runs
//!    with the pages registered so far (none: plain grant copy), and the
//!    shell revokes the rest ([`StagingPool::remove_unregistered`]). There
//!    is no retry with a shorter list: BUFFER_OVERFLOW means the backend's
//!    budget for all VIFs is spent, so a retry mostly costs control round
//!    trips for a fraction of a pool; the next connection tries again.
//!
//! Then a TX packet of at most `stage_max` bytes that fits one page is copied
//! into a free staged page ([`StagingPool::choose_tx`], threshold
//! [`TX_STAGE_MAX_DEFAULT`]); larger packets, or any packet when no staged
//! page is free, are granted per packet as usual. RX buffers come from
//! [`StagingPool::take_rx`]. Answered pages come back with
//! [`StagingPool::give_back`].
//!
//! Teardown: `DEL_GREF_MAPPING` lists of free pages
//! ([`StagingPool::write_del_list`], [`StagingPool::del_response`]); only an
//! entry the backend answered with SUCCESS, in a response with SUCCESS, is
//! taken as unmapped. Anything else stays registered: keeping a page that is
//! not mapped any more is harmless (the backend grant-copies it, it is still
//! granted), while freeing one still mapped is not. On disconnect
//! [`StagingPool::drain`] hands every page back. Whatever the backend says,
//! the shell ends access with the deferred `gnttab_end_foreign_access`,
//! which copes with a backend that still maps the page.
//!
//! List entries are `struct xen_netif_gref { u32 ref; u16 flags; u16 status }`
//! in little-endian order, as the backend's
//! [`read_gref_list`](super::staging::read_gref_list) reads them.

use super::staging::{GREF_ENTRY_SIZE, GREF_LIST_MAX};
use super::wire::{
    CtrlRequest, CtrlResponse, XEN_NETIF_CTRLF_GREF_READONLY, XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED,
    XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING,
    XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE, XEN_PAGE_SIZE,
};

/// Default [`StagingPool::choose_tx`] threshold: any packet that fits one
/// page. Copying it is one memcpy into a page the backend has mapped
/// already; granting it costs a grant and an end of access per slot here
/// and a grant-copy hypercall in the backend.
pub const TX_STAGE_MAX_DEFAULT: u32 = XEN_PAGE_SIZE;

/// The `status` a `DEL_GREF_MAPPING` list entry is written with: not a
/// `XEN_NETIF_CTRL_STATUS_*`, so an entry the backend did not answer is never
/// read as SUCCESS (0). `ADD_GREF_MAPPING` entries are written with 0.
pub const GREF_STATUS_UNANSWERED: u16 = 0xFFFF;

/// `GET_GREF_MAPPING_SIZE` for `queue`.
pub const fn gref_mapping_size_request(id: u16, queue: u32) -> CtrlRequest {
    CtrlRequest { id, kind: XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE, data: [queue, 0, 0] }
}

/// `ADD_GREF_MAPPING` of the `count` entries written in the list page granted as `list_gref`.
pub const fn add_gref_mapping_request(id: u16, queue: u32, list_gref: u32, count: u32) -> CtrlRequest {
    CtrlRequest { id, kind: XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, data: [queue, list_gref, count] }
}

/// `DEL_GREF_MAPPING` of the `count` entries written in the list page granted
/// (writable: the backend writes each entry's status) as `list_gref`.
pub const fn del_gref_mapping_request(id: u16, queue: u32, list_gref: u32, count: u32) -> CtrlRequest {
    CtrlRequest { id, kind: XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, data: [queue, list_gref, count] }
}

/// Why the queue does not stage (more) pages: it runs with plain grants for
/// what is not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StagingOff {
    /// The backend does not offer staging (NOT_SUPPORTED).
    NotSupported,
    /// The backend refused with this status (INVALID_PARAMETER,
    /// BUFFER_OVERFLOW, or a value it should not send).
    Refused(u32),
    /// The backend offers room for no pages.
    NoRoom,
    /// The response is for another request type (a broken backend).
    WrongResponse {
        /// The response's type.
        kind: u16,
    },
}

impl StagingOff {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            StagingOff::NotSupported => "backend does not support staging grants",
            StagingOff::Refused(_) => "backend refused the staging request",
            StagingOff::NoRoom => "backend offers no staging room",
            StagingOff::WrongResponse { .. } => "control response of the wrong type",
        }
    }
}

fn check(rsp: &CtrlResponse, kind: u16) -> Result<(), StagingOff> {
    if rsp.kind != kind {
        Err(StagingOff::WrongResponse { kind: rsp.kind })
    } else if rsp.status == XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED {
        Err(StagingOff::NotSupported)
    } else if rsp.status != XEN_NETIF_CTRL_STATUS_SUCCESS {
        Err(StagingOff::Refused(rsp.status))
    } else {
        Ok(())
    }
}

/// The answer to `GET_GREF_MAPPING_SIZE`: how many pages to grant and
/// register (`min(wanted, S)`, at least 1), or why not to stage.
pub fn pages_to_register(wanted: u32, rsp: &CtrlResponse) -> Result<u32, StagingOff> {
    check(rsp, XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE)?;
    match wanted.min(rsp.data) {
        0 => Err(StagingOff::NoRoom),
        n => Ok(n),
    }
}

/// The outcome of an `ADD_GREF_MAPPING` response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddOutcome {
    /// The list's pages are registered; write the next list (if
    /// [`StagingPool::write_add_list`] writes 0 entries, the setup is done).
    Registered {
        /// Pages the list registered.
        pages: u32,
    },
    /// Nothing of the list is registered: stop adding, revoke the
    /// unregistered pages; the queue stages with what is registered.
    Stop(StagingOff),
}

/// What a staged page is used for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageUse {
    /// Carries a TX packet's copy until the request is answered.
    Tx,
    /// Posted as an RX buffer.
    Rx,
}

/// A page the pool handed out ([`StagingPool::take_tx`],
/// [`StagingPool::take_rx`]): its grant reference and its place in the pool,
/// so that [`StagingPool::give_back_page`] finds it without a search. TX
/// request ids ([`TxGrant`]) and posted RX buffers
/// ([`RxBuffers`](super::front_rx::RxBuffers)) keep it for as long as the
/// page is out.
///
/// The pool keeps its pages sorted by gref, so while the shell keeps a table
/// of the same grants sorted the same way, `index` addresses that table's
/// entry too. A place goes stale when pages are added or removed while the
/// page is out; the gref still names the page, and the pool looks it up
/// then.
///
/// Packed to 2-byte alignment (6 bytes, not 8): a [`TxGrant`] holding one
/// then stays 8 bytes, and a TX queue's id table within one page.
///
/// [`TxGrant`]: super::front_tx::TxGrant
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(2))]
pub struct TakenPage {
    /// The page's grant reference.
    pub gref: u32,
    /// Where the pool (and the shell's gref-sorted table) keeps it.
    pub index: u16,
}

impl TakenPage {
    /// Where this page is in a table sorted by gref, as the pool and the
    /// shell's table of granted pages are: at its place when that still
    /// holds its gref (no search; pages move only when the pool shrinks),
    /// else found by gref. `None` for a gref the table lacks.
    pub fn position_in<T>(self, table: &[T], gref_of: impl Fn(&T) -> u32) -> Option<usize> {
        let (gref, at) = (self.gref, usize::from(self.index));
        if table.get(at).is_some_and(|entry| gref_of(entry) == gref) {
            return Some(at);
        }
        table.binary_search_by_key(&gref, gref_of).ok()
    }
}

/// The buffer [`StagingPool::choose_tx`] picked for a TX packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxBuffer {
    /// Copy the packet to offset 0 of this staged page (now in use by TX);
    /// the request names it and is granted nothing new.
    Staged(TakenPage),
    /// Grant the packet's own pages, per packet.
    Granted,
}

/// A bookkeeping call that does not fit the pool's state (a shell bug; the
/// pool is unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The pool's storage is full.
    Full,
    /// The gref is in the pool already.
    Duplicate(u32),
    /// The gref is not in the pool.
    UnknownGref(u32),
    /// The page is not in the state the call needs (e.g. given back twice).
    WrongState(u32),
    /// A list is in flight: one control request at a time.
    ListPending,
    /// No list of that kind is in flight.
    NoListPending,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageState {
    /// Granted, in no list yet (or its ADD was refused).
    Unregistered,
    /// In the ADD list in flight.
    Adding,
    /// Registered and free.
    Free,
    /// Registered, in use.
    InUse(PageUse),
    /// In the DEL list in flight, at this entry.
    Deleting(u16),
}

const NO_PAGE: u16 = u16::MAX;

/// One page of a [`StagingPool`] (storage element; its fields are private).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPage {
    gref: u32,
    readonly: bool,
    /// Registered with the backend (an ADD answered SUCCESS), as opposed to
    /// put to use unregistered ([`StagingPool::use_unregistered`]).
    staged: bool,
    /// Never put in an ADD list ([`StagingPool::add_lendable_page`]).
    keep_unregistered: bool,
    state: PageState,
    /// Next free page of the same kind (free lists are linked through the pages).
    next: u16,
}

impl PoolPage {
    /// An unused storage element.
    pub const EMPTY: PoolPage = PoolPage {
        gref: 0,
        readonly: false,
        staged: false,
        keep_unregistered: false,
        state: PageState::Unregistered,
        next: NO_PAGE,
    };

    /// Which free list the page is on while free.
    const fn kind(&self) -> FreeKind {
        if self.readonly {
            FreeKind::ReadOnly
        } else if self.staged {
            FreeKind::Staged
        } else {
            FreeKind::Lendable
        }
    }
}

/// The pool's free lists: pages of one kind each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreeKind {
    /// Read-only pages (TX only).
    ReadOnly = 0,
    /// Writable pages the backend maps (registered): RX into them is a
    /// memcpy in the backend, and a copy out here.
    Staged = 1,
    /// Writable pages in use unregistered: the backend grant-copies into
    /// them, cannot map them without the frontend seeing it (ending access
    /// fails), so a received page may go to the stack as it is
    /// ([`StagingPool::is_lendable`]).
    Lendable = 2,
}

const FREE_KINDS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    Add,
    Del,
}

/// One queue's staging pages, sorted by gref (a give-back by gref alone is
/// a binary search; by [`TakenPage`], a look at one entry), in `S`: an array ([`StagingPool::new`]) or the shell's heap
/// buffer ([`StagingPool::with_storage`]), at most 65535 pages.
#[derive(Clone, Debug)]
pub struct StagingPool<S> {
    pages: S,
    len: usize,
    /// Free pages by [`FreeKind`]: list heads and lengths (LIFO: the most
    /// recently used page is the one likely in cache).
    free: [u16; FREE_KINDS],
    nr_free: [usize; FREE_KINDS],
    pending: Pending,
}

impl<const N: usize> StagingPool<[PoolPage; N]> {
    /// An empty pool of at most `N` pages.
    pub fn new() -> Self {
        Self::with_storage([PoolPage::EMPTY; N])
    }
}

impl<const N: usize> Default for StagingPool<[PoolPage; N]> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: AsRef<[PoolPage]> + AsMut<[PoolPage]>> StagingPool<S> {
    /// An empty pool in `pages`.
    pub fn with_storage(pages: S) -> Self {
        StagingPool { pages, len: 0, free: [NO_PAGE; FREE_KINDS], nr_free: [0; FREE_KINDS], pending: Pending::None }
    }

    /// Pages the pool can hold.
    pub fn capacity(&self) -> usize {
        self.pages.as_ref().len().min(usize::from(NO_PAGE))
    }

    /// Pages in the pool (registered or not).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool has no pages.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn live(&self) -> &[PoolPage] {
        self.pages.as_ref().get(..self.len).unwrap_or(&[])
    }

    fn live_mut(&mut self) -> &mut [PoolPage] {
        let len = self.len;
        self.pages.as_mut().get_mut(..len).unwrap_or(&mut [])
    }

    fn count(&self, f: impl Fn(&PoolPage) -> bool) -> usize {
        self.live().iter().filter(|p| f(p)).count()
    }

    /// Pages registered with the backend (free, in use or in a DEL list).
    pub fn registered(&self) -> usize {
        self.count(|p| p.staged)
    }

    /// Pages not registered (waiting for, or in, an ADD list).
    pub fn unregistered(&self) -> usize {
        self.count(|p| matches!(p.state, PageState::Unregistered | PageState::Adding))
    }

    /// Pages [`Self::take_tx`] can hand out now (free, any kind).
    pub fn free_tx(&self) -> usize {
        self.nr_free.iter().sum()
    }

    /// Pages [`Self::take_rx`] can hand out now (free and writable).
    pub fn free_rx(&self) -> usize {
        self.nr(FreeKind::Staged).saturating_add(self.nr(FreeKind::Lendable))
    }

    fn nr(&self, kind: FreeKind) -> usize {
        self.nr_free.get(kind as usize).copied().unwrap_or(0)
    }

    /// Pages carrying TX packets now.
    pub fn in_tx(&self) -> usize {
        self.count(|p| p.state == PageState::InUse(PageUse::Tx))
    }

    /// Pages posted as RX buffers now.
    pub fn in_rx(&self) -> usize {
        self.count(|p| p.state == PageState::InUse(PageUse::Rx))
    }

    fn find(&self, gref: u32) -> Result<usize, usize> {
        self.live().binary_search_by_key(&gref, |p| p.gref)
    }

    /// Relinks the free lists from the pages' states (after pages moved).
    fn relink(&mut self) {
        let (mut free, mut nr_free) = ([NO_PAGE; FREE_KINDS], [0; FREE_KINDS]);
        for (i, p) in (0..NO_PAGE).zip(self.live_mut().iter_mut()) {
            p.next = NO_PAGE;
            if p.state != PageState::Free {
                continue;
            }
            let k = p.kind() as usize;
            if let (Some(head), Some(nr)) = (free.get_mut(k), nr_free.get_mut(k)) {
                p.next = *head;
                *head = i;
                *nr += 1;
            }
        }
        (self.free, self.nr_free) = (free, nr_free);
    }

    /// Adds a page the shell has granted (read-only: TX only), not yet
    /// registered.
    pub fn add_page(&mut self, gref: u32, readonly: bool) -> Result<(), PoolError> {
        self.insert(gref, readonly, false)
    }

    /// Adds a writable page the shell has granted that is never registered:
    /// an RX buffer the backend grant-copies into, which the shell may lend
    /// to the stack ([`Self::is_lendable`]) once
    /// [`Self::use_unregistered`] has put it to use.
    pub fn add_lendable_page(&mut self, gref: u32) -> Result<(), PoolError> {
        self.insert(gref, false, true)
    }

    fn insert(&mut self, gref: u32, readonly: bool, keep_unregistered: bool) -> Result<(), PoolError> {
        let Err(at) = self.find(gref) else {
            return Err(PoolError::Duplicate(gref));
        };
        if self.len >= self.capacity() {
            return Err(PoolError::Full);
        }
        let end = self.len;
        if let Some(tail) = self.pages.as_mut().get_mut(at..=end) {
            tail.rotate_right(1);
        }
        if let Some(p) = self.pages.as_mut().get_mut(at) {
            *p = PoolPage {
                gref,
                readonly,
                staged: false,
                keep_unregistered,
                state: PageState::Unregistered,
                next: NO_PAGE,
            };
        }
        self.len += 1;
        self.relink();
        Ok(())
    }

    /// Removes every page for which `remove` says so, calling `removed(gref)`.
    fn remove_where(&mut self, mut remove: impl FnMut(&PoolPage) -> bool, mut removed: impl FnMut(u32)) -> usize {
        let mut kept = 0;
        for i in 0..self.len {
            let Some(p) = self.pages.as_ref().get(i).copied() else { break };
            if remove(&p) {
                removed(p.gref);
            } else {
                if let Some(dst) = self.pages.as_mut().get_mut(kept) {
                    *dst = p;
                }
                kept += 1;
            }
        }
        let gone = self.len - kept;
        self.len = kept;
        self.relink();
        gone
    }

    fn write_list(
        &mut self,
        list: &mut [u8],
        pick: impl Fn(&PoolPage) -> bool,
        mark: impl Fn(u16) -> PageState,
        status: u16,
    ) -> Result<u32, PoolError> {
        if self.pending != Pending::None {
            return Err(PoolError::ListPending);
        }
        let room = (list.len() / GREF_ENTRY_SIZE).min(GREF_LIST_MAX as usize);
        let mut n = 0u16;
        let mut entries = list.chunks_exact_mut(GREF_ENTRY_SIZE).take(room);
        for p in self.live_mut().iter_mut().filter(|p| pick(p)) {
            let Some(e) = entries.next() else { break };
            let flags = if p.readonly { XEN_NETIF_CTRLF_GREF_READONLY } else { 0 };
            let g = p.gref.to_le_bytes();
            let f = flags.to_le_bytes();
            let s = status.to_le_bytes();
            e.copy_from_slice(&[g[0], g[1], g[2], g[3], f[0], f[1], s[0], s[1]]);
            p.state = mark(n);
            n += 1;
        }
        Ok(u32::from(n))
    }

    /// Writes the next `ADD_GREF_MAPPING` list into `list` (a copy of the
    /// list page): up to 512 unregistered pages (fewer if `list` is
    /// shorter), each `{ref, flags (readonly), status 0}`. Returns the entry
    /// count for the request; 0 when every page is registered (nothing is
    /// in flight then). Refused while a list is in flight.
    pub fn write_add_list(&mut self, list: &mut [u8]) -> Result<u32, PoolError> {
        let n = self.write_list(
            list,
            |p| p.state == PageState::Unregistered && !p.keep_unregistered,
            |_| PageState::Adding,
            0,
        )?;
        if n > 0 {
            self.pending = Pending::Add;
        }
        Ok(n)
    }

    /// The backend answered the ADD list in flight: on SUCCESS its pages are
    /// registered and free; otherwise (nothing was mapped: the backend's ADD
    /// is all or nothing) they are unregistered again and the setup stops.
    pub fn add_response(&mut self, rsp: &CtrlResponse) -> Result<AddOutcome, PoolError> {
        if self.pending != Pending::Add {
            return Err(PoolError::NoListPending);
        }
        self.pending = Pending::None;
        let outcome = check(rsp, XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING);
        let mut pages = 0u32;
        for p in self.live_mut().iter_mut().filter(|p| p.state == PageState::Adding) {
            p.state = if outcome.is_ok() { PageState::Free } else { PageState::Unregistered };
            p.staged = outcome.is_ok();
            pages += 1;
        }
        self.relink();
        Ok(match outcome {
            Ok(()) => AddOutcome::Registered { pages },
            Err(why) => AddOutcome::Stop(why),
        })
    }

    /// Takes every unregistered page out of the pool (after
    /// [`AddOutcome::Stop`], or when staging is off): `revoke(gref)` for
    /// each, to end access and free it. Refused while a list is in flight.
    pub fn remove_unregistered(&mut self, revoke: impl FnMut(u32)) -> Result<usize, PoolError> {
        if self.pending != Pending::None {
            return Err(PoolError::ListPending);
        }
        Ok(self.remove_where(|p| p.state == PageState::Unregistered, revoke))
    }

    /// Puts every unregistered page to use as it is (plain mode: staging
    /// off, or for the pages the backend did not register). Such a page is
    /// still granted, so a request naming it is served by the backend's
    /// fallback, a grant copy; from here on the pool hands it out like a
    /// registered one. Returns how many pages that were. Refused while a
    /// list is in flight.
    pub fn use_unregistered(&mut self) -> Result<usize, PoolError> {
        if self.pending != Pending::None {
            return Err(PoolError::ListPending);
        }
        let mut n = 0;
        for p in self.live_mut().iter_mut().filter(|p| p.state == PageState::Unregistered) {
            p.state = PageState::Free;
            n += 1;
        }
        self.relink();
        Ok(n)
    }

    fn pop(&mut self, kind: FreeKind, used: PageUse) -> Option<TakenPage> {
        let k = kind as usize;
        let index = *self.free.get(k)?;
        // NO_PAGE ends a list; with more storage than 65535 pages it would
        // still index an element.
        let p = self.live_mut().get_mut(usize::from(index))?;
        let (gref, next) = (p.gref, p.next);
        p.next = NO_PAGE;
        p.state = PageState::InUse(used);
        if let (Some(head), Some(nr)) = (self.free.get_mut(k), self.nr_free.get_mut(k)) {
            *head = next;
            *nr = nr.saturating_sub(1);
        }
        Some(TakenPage { gref, index })
    }

    /// A free page to carry a TX packet: a read-only one if any, else a
    /// writable one (which RX then lacks until it comes back), staged first.
    pub fn take_tx(&mut self) -> Option<TakenPage> {
        self.pop(FreeKind::ReadOnly, PageUse::Tx)
            .or_else(|| self.pop(FreeKind::Staged, PageUse::Tx))
            .or_else(|| self.pop(FreeKind::Lendable, PageUse::Tx))
    }

    /// A free writable page to post as an RX buffer: a staged one if any
    /// (the backend's copy into it is a memcpy), else a lendable one.
    pub fn take_rx(&mut self) -> Option<TakenPage> {
        self.take_rx_preferring(false)
    }

    /// [`Self::take_rx`], preferring a lendable page when `lendable`: for
    /// bulk traffic, where handing the received page to the stack saves
    /// copying it out, which costs more than the backend's grant copy
    /// saves as a memcpy.
    pub fn take_rx_preferring(&mut self, lendable: bool) -> Option<TakenPage> {
        let (first, then) =
            if lendable { (FreeKind::Lendable, FreeKind::Staged) } else { (FreeKind::Staged, FreeKind::Lendable) };
        self.pop(first, PageUse::Rx).or_else(|| self.pop(then, PageUse::Rx))
    }

    /// Whether `page` is writable and in use unregistered: the backend
    /// reaches it by grant copy only, so once access to it is ended its
    /// page may go to the stack and a fresh page take its place under the
    /// same grant reference. False for staged pages (the backend keeps
    /// them mapped) and for grefs not in the pool.
    pub fn is_lendable(&self, page: TakenPage) -> bool {
        page.position_in(self.live(), |p| p.gref)
            .and_then(|i| self.live().get(i))
            .is_some_and(|p| p.kind() == FreeKind::Lendable && matches!(p.state, PageState::InUse(_)))
    }

    /// The copy-or-grant rule for a TX packet of `len` bytes: copy into a
    /// free staged page when `0 < len <= min(stage_max, 4096)` (the packet
    /// then is one slot at offset 0) and a page is free; grant per packet
    /// otherwise (larger packets, staging off, all pages busy).
    pub fn choose_tx(&mut self, len: u32, stage_max: u32) -> TxBuffer {
        if len == 0 || len > stage_max.min(XEN_PAGE_SIZE) {
            return TxBuffer::Granted;
        }
        match self.take_tx() {
            Some(page) => TxBuffer::Staged(page),
            None => TxBuffer::Granted,
        }
    }

    /// A page's TX request was answered, or its RX buffer consumed and not
    /// reposted: it is free again. Returns what it was used for.
    pub fn give_back(&mut self, gref: u32) -> Result<PageUse, PoolError> {
        let i = self.find(gref).map_err(|_| PoolError::UnknownGref(gref))?;
        self.free_at(i, gref)
    }

    /// [`Self::give_back`] of a page as it was handed out
    /// ([`TakenPage::position_in`]: mostly no search).
    pub fn give_back_page(&mut self, page: TakenPage) -> Result<PageUse, PoolError> {
        let i = page.position_in(self.live(), |p| p.gref).ok_or(PoolError::UnknownGref(page.gref))?;
        self.free_at(i, page.gref)
    }

    /// Frees the in-use page at `i`, which holds `gref`.
    fn free_at(&mut self, i: usize, gref: u32) -> Result<PageUse, PoolError> {
        let len = self.len;
        let page = self.pages.as_mut().get_mut(..len).and_then(|live| live.get_mut(i));
        let (Ok(index), Some(p)) = (u16::try_from(i), page) else {
            return Err(PoolError::UnknownGref(gref));
        };
        let PageState::InUse(used) = p.state else {
            return Err(PoolError::WrongState(gref));
        };
        p.state = PageState::Free;
        let k = p.kind() as usize;
        if let (Some(head), Some(nr)) = (self.free.get_mut(k), self.nr_free.get_mut(k)) {
            p.next = *head;
            *head = index;
            *nr += 1;
        }
        Ok(used)
    }

    /// An RX buffer's data has been copied out and the same page is posted
    /// again: it stays in use by RX. Refused for a page not posted for RX.
    pub fn recycle_rx(&mut self, gref: u32) -> Result<(), PoolError> {
        let i = self.find(gref).map_err(|_| PoolError::UnknownGref(gref))?;
        match self.live().get(i).map(|p| p.state) {
            Some(PageState::InUse(PageUse::Rx)) => Ok(()),
            _ => Err(PoolError::WrongState(gref)),
        }
    }

    /// Writes a `DEL_GREF_MAPPING` list of up to 512 free registered pages
    /// into `list`, each `{ref, flags, GREF_STATUS_UNANSWERED}`; they are
    /// out of use until [`Self::del_response`]. Returns the entry count, 0
    /// when no registered page is free (pages in use: give them back and
    /// call again). Refused while a list is in flight.
    pub fn write_del_list(&mut self, list: &mut [u8]) -> Result<u32, PoolError> {
        let n = self.write_list(
            list,
            |p| p.staged && p.state == PageState::Free,
            PageState::Deleting,
            GREF_STATUS_UNANSWERED,
        )?;
        if n > 0 {
            self.pending = Pending::Del;
            self.relink();
        }
        Ok(n)
    }

    /// The backend answered the DEL list in flight; `list` is a copy of the
    /// list page read back after the response. A page whose entry status is
    /// SUCCESS, in a SUCCESS response, is unmapped: it leaves the pool and
    /// `unmapped(gref)` is called for it (end access, free it). Every other
    /// page stays registered and free. The grefs in `list` are not read
    /// back: the backend can write the page, so each page's entry is found by
    /// the position it was written at. Returns the pages removed.
    pub fn del_response(
        &mut self,
        rsp: &CtrlResponse,
        list: &[u8],
        unmapped: impl FnMut(u32),
    ) -> Result<usize, PoolError> {
        if self.pending != Pending::Del {
            return Err(PoolError::NoListPending);
        }
        self.pending = Pending::None;
        let ok = check(rsp, XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING).is_ok();
        let gone = self.remove_where(
            |p| match p.state {
                PageState::Deleting(pos) => {
                    ok && gref_list_status(list, pos) == Some(XEN_NETIF_CTRL_STATUS_SUCCESS as u16)
                }
                _ => false,
            },
            unmapped,
        );
        for p in self.live_mut().iter_mut() {
            if let PageState::Deleting(_) = p.state {
                p.state = PageState::Free;
            }
        }
        self.relink();
        Ok(gone)
    }

    /// Disconnect: every page leaves the pool, whatever its state;
    /// `release(gref)` for each (end access deferred: the backend may map it
    /// until its control ring is gone). A list in flight is forgotten.
    pub fn drain(&mut self, release: impl FnMut(u32)) -> usize {
        self.pending = Pending::None;
        self.remove_where(|_| true, release)
    }
}

/// The `status` of entry `index` of a list page copy (`None` past its end).
pub fn gref_list_status(list: &[u8], index: u16) -> Option<u16> {
    let at = usize::from(index).checked_mul(GREF_ENTRY_SIZE)?;
    let e = list.get(at..at.checked_add(GREF_ENTRY_SIZE)?)?;
    Some(u16::from_le_bytes([*e.get(6)?, *e.get(7)?]))
}

#[cfg(test)]
mod tests {
    use super::super::staging::{read_gref_list, GrefEntry, Staged, StagingTable};
    use super::super::test_rng::Lcg;
    use super::super::wire::*;
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    fn rsp(kind: u16, status: u32, data: u32) -> CtrlResponse {
        CtrlResponse { id: 0, kind, status, data }
    }

    fn add_ok() -> CtrlResponse {
        rsp(XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, 0, 0)
    }

    fn del_ok(n: u32) -> CtrlResponse {
        rsp(XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, 0, n)
    }

    /// A pool with `ro` read-only and `rw` writable pages, all registered.
    fn registered(ro: u32, rw: u32) -> StagingPool<[PoolPage; 64]> {
        let mut p = StagingPool::<[PoolPage; 64]>::new();
        for g in 0..ro {
            p.add_page(100 + g, true).unwrap();
        }
        for g in 0..rw {
            p.add_page(200 + g, false).unwrap();
        }
        let mut list = [0u8; 4096];
        assert_eq!(p.write_add_list(&mut list).unwrap(), ro + rw);
        assert_eq!(p.add_response(&add_ok()), Ok(AddOutcome::Registered { pages: ro + rw }));
        p
    }

    #[test]
    fn requests_and_size_decision() {
        assert_eq!(gref_mapping_size_request(3, 1), CtrlRequest { id: 3, kind: 8, data: [1, 0, 0] });
        assert_eq!(add_gref_mapping_request(4, 1, 77, 12), CtrlRequest { id: 4, kind: 9, data: [1, 77, 12] });
        assert_eq!(del_gref_mapping_request(5, 0, 78, 2), CtrlRequest { id: 5, kind: 10, data: [0, 78, 2] });
        let size = |status, data| rsp(XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE, status, data);
        assert_eq!(pages_to_register(512, &size(0, 100)), Ok(100));
        assert_eq!(pages_to_register(64, &size(0, 512)), Ok(64));
        assert_eq!(pages_to_register(64, &size(0, 0)), Err(StagingOff::NoRoom));
        assert_eq!(pages_to_register(0, &size(0, 512)), Err(StagingOff::NoRoom));
        assert_eq!(pages_to_register(64, &size(1, 0)), Err(StagingOff::NotSupported));
        assert_eq!(pages_to_register(64, &size(2, 9)), Err(StagingOff::Refused(2)));
        assert_eq!(pages_to_register(64, &size(77, 9)), Err(StagingOff::Refused(77)));
        assert_eq!(
            pages_to_register(64, &rsp(XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, 0, 9)),
            Err(StagingOff::WrongResponse { kind: 9 })
        );
        assert_eq!(StagingOff::NoRoom.description(), "backend offers no staging room");
    }

    /// The lists are what the backend's parser reads, chunked at 512 entries;
    /// the backend's table accepts them.
    #[test]
    fn add_lists_are_chunked_and_parse_in_the_backend() {
        let mut pool = StagingPool::with_storage(std::vec![PoolPage::EMPTY; 1100]);
        for g in (0..1100u32).rev() {
            pool.add_page(5000 + g, g % 3 == 0).unwrap();
        }
        assert_eq!(pool.add_page(5000, false), Err(PoolError::Duplicate(5000)));
        let mut backend = StagingTable::<[Staged; 2048]>::new(2048);
        let mut list = [0xAAu8; 4096];
        let mut counts = Vec::new();
        loop {
            let n = pool.write_add_list(&mut list).unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(pool.write_add_list(&mut list), Err(PoolError::ListPending));
            counts.push(n);
            let entries: Vec<GrefEntry> = backend.plan_add(&list, n).unwrap().collect();
            assert!(entries.iter().all(|e| e.readonly() == ((e.gref - 5000) % 3 == 0)));
            assert!((0..n as u16).all(|i| gref_list_status(&list, i) == Some(0)));
            let mapped: Vec<_> = entries.iter().map(|e| (*e, 0u16)).collect();
            backend.commit_add(&mapped).unwrap();
            assert_eq!(pool.add_response(&add_ok()), Ok(AddOutcome::Registered { pages: n }));
        }
        assert_eq!(counts, [512, 512, 76]);
        assert_eq!((pool.registered(), pool.unregistered(), backend.len()), (1100, 0, 1100));
        assert_eq!(pool.add_response(&add_ok()), Err(PoolError::NoListPending));
        // A shorter buffer takes fewer entries.
        let mut p = StagingPool::<[PoolPage; 8]>::new();
        (0..5).for_each(|g| p.add_page(g, false).unwrap());
        assert_eq!(p.write_add_list(&mut [0u8; 20]), Ok(2));
    }

    #[test]
    fn refused_add_stops_and_keeps_what_is_registered() {
        let mut pool = StagingPool::with_storage(std::vec![PoolPage::EMPTY; 600]);
        (0..600).for_each(|g| pool.add_page(g, false).unwrap());
        let mut list = [0u8; 4096];
        assert_eq!(pool.write_add_list(&mut list), Ok(512));
        assert_eq!(pool.add_response(&add_ok()), Ok(AddOutcome::Registered { pages: 512 }));
        assert_eq!(pool.write_add_list(&mut list), Ok(88));
        let overflow = rsp(XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, 0);
        assert_eq!(pool.add_response(&overflow), Ok(AddOutcome::Stop(StagingOff::Refused(3))));
        assert_eq!((pool.registered(), pool.unregistered()), (512, 88));
        let mut revoked = Vec::new();
        assert_eq!(pool.remove_unregistered(|g| revoked.push(g)), Ok(88));
        assert_eq!(revoked, (512..600).collect::<Vec<_>>());
        assert_eq!((pool.len(), pool.free_rx()), (512, 512));
        // A first list refused: no staging at all, every TX packet granted.
        let mut p = StagingPool::<[PoolPage; 4]>::new();
        p.add_page(1, true).unwrap();
        p.write_add_list(&mut list).unwrap();
        let wrong = rsp(XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, 0, 0);
        assert_eq!(p.add_response(&wrong), Ok(AddOutcome::Stop(StagingOff::WrongResponse { kind: 10 })));
        assert_eq!(p.choose_tx(60, TX_STAGE_MAX_DEFAULT), TxBuffer::Granted);
        assert_eq!(p.remove_unregistered(|_| {}), Ok(1));
        assert!(p.is_empty());
    }

    /// The gref of the page taken (its place is checked where it matters).
    fn gref(page: Option<TakenPage>) -> Option<u32> {
        page.map(|p| p.gref)
    }

    #[test]
    fn tx_and_rx_pages() {
        let mut p = registered(2, 2);
        assert_eq!((p.free_tx(), p.free_rx()), (4, 2));
        // RX never gets a read-only page; TX prefers them.
        assert_eq!(p.take_rx(), Some(TakenPage { gref: 201, index: 3 }));
        assert_eq!(p.take_tx(), Some(TakenPage { gref: 101, index: 1 }));
        assert_eq!(gref(p.take_tx()), Some(100));
        assert_eq!(gref(p.take_tx()), Some(200), "TX falls back to a writable page");
        assert_eq!((p.take_tx(), p.take_rx()), (None, None));
        assert_eq!((p.in_tx(), p.in_rx()), (3, 1));
        assert_eq!(p.recycle_rx(201), Ok(()));
        assert_eq!(p.recycle_rx(200), Err(PoolError::WrongState(200)));
        assert_eq!(p.give_back(200), Ok(PageUse::Tx));
        assert_eq!(p.give_back(200), Err(PoolError::WrongState(200)));
        assert_eq!(p.give_back(201), Ok(PageUse::Rx));
        assert_eq!(p.give_back(999), Err(PoolError::UnknownGref(999)));
        assert_eq!(p.recycle_rx(999), Err(PoolError::UnknownGref(999)));
        assert_eq!(gref(p.take_rx()), Some(201), "LIFO: the page given back last");
        assert_eq!((p.free_tx(), p.free_rx(), p.in_tx(), p.in_rx()), (1, 1, 2, 1));
    }

    #[test]
    fn copy_or_grant_rule() {
        let mut p = registered(1, 0);
        assert_eq!(p.choose_tx(0, 4096), TxBuffer::Granted);
        assert_eq!(p.choose_tx(1515, 1514), TxBuffer::Granted);
        assert_eq!(p.choose_tx(4097, 100_000), TxBuffer::Granted, "one page at most");
        assert_eq!(p.choose_tx(4096, TX_STAGE_MAX_DEFAULT), TxBuffer::Staged(TakenPage { gref: 100, index: 0 }));
        assert_eq!(p.choose_tx(60, TX_STAGE_MAX_DEFAULT), TxBuffer::Granted, "no page free");
        p.give_back(100).unwrap();
        assert_eq!(p.choose_tx(60, 1514), TxBuffer::Staged(TakenPage { gref: 100, index: 0 }));
        assert_eq!(StagingPool::<[PoolPage; 0]>::new().choose_tx(60, 4096), TxBuffer::Granted);
    }

    /// DEL lists through the backend's own table: busy and unknown entries
    /// come back INVALID_PARAMETER and stay; a failed response keeps all.
    #[test]
    fn del_lists_read_back_statuses() {
        let mut p = registered(2, 2);
        let mut backend = StagingTable::<[Staged; 8]>::new(8);
        let mut slot = 0;
        let all: Vec<_> = [100u32, 101, 200, 201].iter().map(|g| (GrefEntry { gref: *g, flags: 0 }, 0u16)).collect();
        backend.commit_add(&all).unwrap();
        assert_eq!(gref(p.take_tx()), Some(101));
        assert!(backend.acquire(100)); // the backend still reads 100: DEL of it fails
        let mut list = [0u8; 4096];
        assert_eq!(p.write_del_list(&mut list), Ok(3));
        assert_eq!((p.free_tx(), p.registered()), (0, 4));
        assert!((0..3).all(|i| gref_list_status(&list, i) == Some(GREF_STATUS_UNANSWERED)));
        assert_eq!(p.write_add_list(&mut list), Err(PoolError::ListPending));
        let mut statuses = [0u16; 3];
        let removed = backend.delete(&list, 3, &mut statuses, |_| slot += 1).unwrap();
        for (i, st) in statuses.iter().enumerate() {
            list[i * 8 + 6..i * 8 + 8].copy_from_slice(&st.to_le_bytes());
        }
        let mut gone = Vec::new();
        assert_eq!(p.del_response(&del_ok(removed), &list, |g| gone.push(g)), Ok(2));
        assert_eq!(gone, [200, 201]);
        assert_eq!(slot, 2);
        assert_eq!((p.len(), p.free_tx(), p.in_tx()), (2, 1, 1));
        // A failed DEL response: every entry stays, whatever the statuses say.
        assert_eq!(p.write_del_list(&mut list), Ok(1));
        list[6..8].copy_from_slice(&0u16.to_le_bytes());
        let failed = rsp(XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER, 1);
        assert_eq!(p.del_response(&failed, &list, |_| panic!("freed a page that may be mapped")), Ok(0));
        // An entry the backend did not answer, or a list cut short, stays too.
        assert_eq!(p.write_del_list(&mut list), Ok(1));
        assert_eq!(p.del_response(&del_ok(1), &list, |_| panic!("unanswered")), Ok(0));
        assert_eq!(p.write_del_list(&mut list), Ok(1));
        assert_eq!(p.del_response(&del_ok(1), &list[..4], |_| panic!("short list")), Ok(0));
        assert_eq!(p.del_response(&del_ok(1), &list, |_| {}), Err(PoolError::NoListPending));
        assert_eq!(p.len(), 2);
        let mut released = Vec::new();
        assert_eq!(p.drain(|g| released.push(g)), 2);
        assert_eq!(released, [100, 101]);
        assert!(p.is_empty() && p.free_tx() == 0);
    }

    /// Storage beyond 65535 pages is not used, and the end-of-list marker
    /// never reads as a free page.
    #[test]
    fn oversized_storage() {
        let mut p = StagingPool::with_storage(std::vec![PoolPage::EMPTY; 70_000]);
        assert_eq!(p.capacity(), 65_535);
        p.add_page(1, false).unwrap();
        assert_eq!((p.take_tx(), p.take_rx()), (None, None));
    }

    #[test]
    fn full_pool_and_status_reader_bounds() {
        let mut p = StagingPool::<[PoolPage; 2]>::new();
        p.add_page(5, false).unwrap();
        p.add_page(3, false).unwrap();
        assert_eq!(p.add_page(4, false), Err(PoolError::Full));
        assert_eq!(p.capacity(), 2);
        assert_eq!(gref_list_status(&[0; 16], 1), Some(0));
        assert_eq!(gref_list_status(&[0; 16], 2), None);
        assert_eq!(gref_list_status(&[0; 15], 1), None);
        assert_eq!(gref_list_status(&[], u16::MAX), None);
        let list: Vec<_> = read_gref_list(&[1, 0, 0, 0, 1, 0, 0, 0], 1).unwrap().collect();
        assert_eq!(list, [GrefEntry { gref: 1, flags: 1 }]);
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum M {
        Unregistered,
        Free,
        Tx,
        Rx,
    }

    /// Random setup, traffic and teardown against a model, with the real
    /// backend table answering the lists (and sometimes refusing, or failing
    /// to write statuses back). Invariants: pool and model agree on every
    /// page; a page the pool frees is never mapped in the backend; pages the
    /// pool uses as staged are mapped or (after a lost DEL answer) harmless.
    /// Pages are given back by gref or as they were taken, whose place may
    /// have moved since (pages added or removed meanwhile) or be forged:
    /// the outcome is the same.
    #[test]
    fn random_operations_match_a_model() {
        let mut rng = Lcg(4242);
        // Paths taken: ADD ok, ADD refused, pages unmapped by DEL, DEL
        // entries kept, DEL answers lost, RX and TX takes, give-backs at the
        // place taken, give-backs at a place moved or forged.
        let mut seen = [0u32; 8];
        for _ in 0..150 {
            let cap = 1 + (rng.next() % 40) as usize;
            let mut pool = StagingPool::with_storage(std::vec![PoolPage::EMPTY; cap]);
            let mut backend = StagingTable::<[Staged; 64]>::new((rng.next() % 48) as u32);
            let mut model: BTreeMap<u32, (bool, M)> = BTreeMap::new();
            // The last handle each gref was taken with.
            let mut taken: BTreeMap<u32, TakenPage> = BTreeMap::new();
            let mut lost = std::collections::BTreeSet::new();
            // Pages added lendable: never registered, so never free here
            // (no use_unregistered in this model).
            let mut lendable = std::collections::BTreeSet::new();
            let mut list = std::vec![0u8; 8 * (1 + (rng.next() % 40) as usize)];
            for _ in 0..300 {
                match rng.next() % 9 {
                    0 => {
                        let g = (rng.next() % 64) as u32;
                        let ro = rng.next().is_multiple_of(2);
                        let lend = !ro && rng.next().is_multiple_of(4);
                        let want = if model.contains_key(&g) {
                            Err(PoolError::Duplicate(g))
                        } else if model.len() >= cap {
                            Err(PoolError::Full)
                        } else {
                            Ok(())
                        };
                        let got = if lend { pool.add_lendable_page(g) } else { pool.add_page(g, ro) };
                        assert_eq!(got, want);
                        if want.is_ok() {
                            model.insert(g, (ro, M::Unregistered));
                            if lend {
                                lendable.insert(g);
                            }
                        }
                    }
                    1 => {
                        let n = pool.write_add_list(&mut list).unwrap();
                        let unreg: Vec<u32> = model
                            .iter()
                            .filter(|(g, v)| v.1 == M::Unregistered && !lendable.contains(*g))
                            .map(|(g, _)| *g)
                            .collect();
                        assert_eq!(n as usize, unreg.len().min(list.len() / 8));
                        if n == 0 {
                            continue;
                        }
                        let status = match backend.plan_add(&list, n) {
                            Ok(entries) => {
                                let e: Vec<_> = entries.map(|e| (e, 0u16)).collect();
                                backend.commit_add(&e).unwrap();
                                XEN_NETIF_CTRL_STATUS_SUCCESS
                            }
                            Err(st) => st,
                        };
                        let out = pool.add_response(&rsp(XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING, status, 0)).unwrap();
                        assert_eq!(out == (AddOutcome::Registered { pages: n }), status == 0, "{out:?}");
                        seen[usize::from(status != 0)] += 1;
                        if status == 0 {
                            for g in unreg.iter().take(n as usize) {
                                model.get_mut(g).unwrap().1 = M::Free;
                            }
                        }
                    }
                    2 => {
                        let want = model.iter().filter(|(_, v)| v.1 == M::Unregistered).count();
                        let mut revoked = Vec::new();
                        assert_eq!(pool.remove_unregistered(|g| revoked.push(g)), Ok(want));
                        for g in revoked {
                            assert_eq!(backend.lookup(g), None, "revoked a mapped page");
                            assert_eq!(model.remove(&g).map(|v| v.1), Some(M::Unregistered));
                            lost.remove(&g);
                            lendable.remove(&g);
                        }
                    }
                    3 | 4 => {
                        let rx = rng.next().is_multiple_of(2);
                        let ro_free = model.values().any(|w| w.0 && w.1 == M::Free);
                        let got = if rx { pool.take_rx() } else { pool.take_tx() };
                        let can = model.values().any(|v| v.1 == M::Free && (!rx || !v.0));
                        assert_eq!(got.is_some(), can);
                        if let Some(page) = got {
                            let g = page.gref;
                            assert_eq!(pool.live()[usize::from(page.index)].gref, g, "taken at another place");
                            taken.insert(g, page);
                            let v = model.get_mut(&g).unwrap();
                            assert_eq!(v.1, M::Free);
                            assert!(!(rx && v.0), "read-only page posted for RX");
                            assert!(rx || v.0 || !ro_free, "TX skipped a read-only page");
                            v.1 = if rx { M::Rx } else { M::Tx };
                            seen[5] += 1;
                        }
                    }
                    5 | 6 => {
                        let g = if rng.next().is_multiple_of(8) {
                            (rng.next() % 64) as u32
                        } else {
                            model.keys().nth((rng.next() as usize) % model.len().max(1)).copied().unwrap_or(0)
                        };
                        let r = match rng.next() % 3 {
                            0 => pool.give_back(g),
                            way => {
                                let index = match taken.get(&g) {
                                    Some(page) if way == 1 => page.index,
                                    _ => (rng.next() % 48) as u16,
                                };
                                let exact = pool.live().get(usize::from(index)).is_some_and(|p| p.gref == g);
                                seen[if exact { 6 } else { 7 }] += 1;
                                pool.give_back_page(TakenPage { gref: g, index })
                            }
                        };
                        match model.get_mut(&g) {
                            None => assert_eq!(r, Err(PoolError::UnknownGref(g))),
                            Some(v) if matches!(v.1, M::Tx | M::Rx) => {
                                assert_eq!(r, Ok(if v.1 == M::Tx { PageUse::Tx } else { PageUse::Rx }));
                                v.1 = M::Free;
                            }
                            Some(_) => assert_eq!(r, Err(PoolError::WrongState(g))),
                        }
                    }
                    7 => {
                        let n = pool.write_del_list(&mut list).unwrap();
                        let free: Vec<u32> = model.iter().filter(|(_, v)| v.1 == M::Free).map(|(g, _)| *g).collect();
                        assert_eq!(n as usize, free.len().min(list.len() / 8));
                        if n == 0 {
                            continue;
                        }
                        // Sometimes the backend makes some pages busy, or the
                        // status write-back fails (INVALID_PARAMETER, nothing
                        // written), as our backend can.
                        for g in &free {
                            if rng.next().is_multiple_of(6) {
                                backend.acquire(*g);
                            }
                        }
                        let mut st = std::vec![0u16; n as usize];
                        let removed = backend.delete(&list, n, &mut st, |_| {}).unwrap();
                        let status = if rng.next().is_multiple_of(5) {
                            XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER
                        } else {
                            for (i, s) in st.iter().enumerate() {
                                list[i * 8 + 6..i * 8 + 8].copy_from_slice(&s.to_le_bytes());
                            }
                            0
                        };
                        let mut gone = Vec::new();
                        let done = rsp(XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING, status, removed);
                        let r = pool.del_response(&done, &list, |g| gone.push(g));
                        assert_eq!(r, Ok(gone.len()));
                        if status == 0 {
                            assert_eq!(gone.len() as u32, removed);
                        } else {
                            assert!(gone.is_empty());
                            seen[4] += removed;
                        }
                        seen[2] += gone.len() as u32;
                        seen[3] += n - gone.len() as u32;
                        for g in &gone {
                            assert_eq!(backend.lookup(*g), None, "freed a mapped page");
                            model.remove(g);
                        }
                        for g in &free {
                            if model.contains_key(g) && backend.lookup(*g).is_none() {
                                lost.insert(*g); // unmapped, but the answer was lost
                            }
                        }
                        for g in &free {
                            while backend.release(*g) {}
                        }
                    }
                    _ => {
                        if rng.next().is_multiple_of(10) {
                            let mut released = Vec::new();
                            assert_eq!(pool.drain(|g| released.push(g)), model.len());
                            assert_eq!(released, model.keys().copied().collect::<Vec<_>>());
                            model.clear();
                            lost.clear();
                            lendable.clear();
                            backend.drain(|_| {}).unwrap();
                        }
                    }
                }
                // Pool and model agree.
                assert_eq!(pool.len(), model.len());
                let count = |m: M| model.values().filter(|v| v.1 == m).count();
                assert_eq!(pool.unregistered(), count(M::Unregistered));
                assert_eq!(pool.registered(), model.len() - count(M::Unregistered));
                assert_eq!((pool.in_tx(), pool.in_rx()), (count(M::Tx), count(M::Rx)));
                assert_eq!(pool.free_tx(), count(M::Free));
                assert_eq!(pool.free_rx(), model.values().filter(|v| v.1 == M::Free && !v.0).count());
                assert!(pool.live().windows(2).all(|w| w[0].gref < w[1].gref));
                // The pool never forgets a page the backend maps, and every
                // page it takes as registered is mapped, unless a DEL's
                // answer was lost (harmless: it is still granted).
                for g in 0..64 {
                    let pooled = model.get(&g).map(|v| v.1);
                    if backend.lookup(g).is_some() {
                        assert!(matches!(pooled, Some(M::Free | M::Tx | M::Rx)), "{g}: {pooled:?}");
                    } else if matches!(pooled, Some(M::Free | M::Tx | M::Rx)) {
                        assert!(lost.contains(&g), "{g} registered but not mapped");
                    }
                }
            }
        }
        assert!(seen.iter().all(|n| *n > 10), "{seen:?}");
    }

    /// Lendable pages stay out of ADD lists; RX takes them first only
    /// when asked to, and they alone may go to the stack.
    #[test]
    fn lendable_pages_for_bulk_rx() {
        let mut pool = StagingPool::<[PoolPage; 8]>::new();
        pool.add_page(10, true).unwrap();
        pool.add_page(11, false).unwrap();
        pool.add_lendable_page(12).unwrap();
        pool.add_lendable_page(13).unwrap();
        assert_eq!(pool.add_lendable_page(11), Err(PoolError::Duplicate(11)));
        let mut list = [0u8; 4096];
        assert_eq!(pool.write_add_list(&mut list), Ok(2), "only the read-only and the staged page");
        assert_eq!(pool.add_response(&add_ok()), Ok(AddOutcome::Registered { pages: 2 }));
        assert_eq!(pool.free_rx(), 1, "lendable pages wait for use_unregistered");
        assert_eq!(pool.use_unregistered(), Ok(2));
        assert_eq!((pool.registered(), pool.free_rx(), pool.free_tx()), (2, 3, 4));
        let staged = pool.take_rx().unwrap();
        assert_eq!(gref(Some(staged)), Some(11), "small traffic: the staged page first");
        assert!(!pool.is_lendable(staged), "the backend maps it");
        let lent = pool.take_rx_preferring(true).unwrap();
        assert!({ lent.gref } >= 12 && pool.is_lendable(lent));
        assert_eq!(gref(pool.take_rx()), Some(25 - { lent.gref }), "falls back to the other kind");
        assert_eq!(pool.take_rx_preferring(true), None);
        pool.give_back_page(lent).unwrap();
        assert!(!pool.is_lendable(lent), "a free page is not out to lend");
        pool.give_back_page(staged).unwrap();
        assert_eq!(pool.take_rx_preferring(true), Some(lent));
        assert_eq!(gref(pool.take_tx()), Some(10));
        assert_eq!(gref(pool.take_tx()), Some(11), "TX: read-only, then staged pages");
        assert!(!pool.is_lendable(TakenPage { gref: 99, index: 0 }));
        let mut list = [0u8; 64];
        assert_eq!(pool.write_add_list(&mut list), Ok(0), "lendable pages are never registered");
    }

    #[test]
    fn unregistered_pages_serve_plain_mode() {
        let mut pool = StagingPool::<[PoolPage; 8]>::new();
        for g in 10..14 {
            pool.add_page(g, g < 12).unwrap();
        }
        assert_eq!(pool.take_tx(), None);
        assert_eq!(pool.use_unregistered(), Ok(4));
        assert_eq!((pool.free_tx(), pool.free_rx()), (4, 2));
        let tx = pool.take_tx().unwrap().gref;
        assert!(tx < 12, "read-only pages go to TX first");
        let rx = pool.take_rx().unwrap().gref;
        assert!(rx >= 12);
        assert_eq!(pool.give_back(tx), Ok(PageUse::Tx));
        assert_eq!(pool.give_back(rx), Ok(PageUse::Rx));
        assert_eq!(pool.use_unregistered(), Ok(0));
        assert_eq!(pool.registered(), 0, "pages in plain use are not registered");
        let mut list = [0u8; 64];
        assert_eq!(pool.write_add_list(&mut list), Ok(0), "nothing is left to register");
        assert_eq!(pool.write_del_list(&mut list), Ok(0), "nothing registered to delete");
        assert_eq!(pool.drain(|_| {}), 4);
    }
}

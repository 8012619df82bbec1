//! Staging grants: the frontend's pool of pages that the backend keeps mapped (Xen's
//! `io/netif.h` control requests `GET_GREF_MAPPING_SIZE` = 8, `ADD_GREF_MAPPING` = 9,
//! `DEL_GREF_MAPPING` = 10, and Xen's `docs/misc/netif-staging-grants.pandoc`).
//!
//! This is the bookkeeping of one queue's table, with no mapping in it: the shell maps what
//! [`StagingTable::plan_add`] accepts (in one batch), reports back with
//! [`StagingTable::commit_add`] (or nothing, when a map failed: all or nothing), unmaps what
//! [`StagingTable::delete`] released, and looks grefs up per request
//! ([`StagingTable::lookup`]). Every list is validated before anything changes: bounds, the
//! size against the cap, duplicates within the list and against the table, the flags.
//! Entries in use (a packet still reads or writes the page) cannot be deleted; a
//! disconnecting queue waits for `in_use() == 0` before it unmaps [`StagingTable::drain`].

use super::wire::{
    XEN_NETIF_CTRLF_GREF_READONLY, XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER,
    XEN_NETIF_CTRL_STATUS_SUCCESS, XEN_PAGE_SIZE,
};

/// Bytes of one `struct xen_netif_gref` (ref u32, flags u16, status u16).
pub const GREF_ENTRY_SIZE: usize = 8;
/// Entries of a list page (the list is one granted page).
pub const GREF_LIST_MAX: u32 = XEN_PAGE_SIZE / GREF_ENTRY_SIZE as u32;

/// One `struct xen_netif_gref` as read from the list page (a local copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrefEntry {
    /// The grant reference.
    pub gref: u32,
    /// `XEN_NETIF_CTRLF_GREF_*`.
    pub flags: u16,
}

impl GrefEntry {
    /// Whether the frontend asks for a read-only mapping.
    pub fn readonly(&self) -> bool {
        self.flags & XEN_NETIF_CTRLF_GREF_READONLY != 0
    }
}

/// Reads `count` entries from a copy of the list page: `None` if they do not fit in it.
pub fn read_gref_list(page: &[u8], count: u32) -> Option<impl Iterator<Item = GrefEntry> + '_> {
    let bytes = usize::try_from(count).ok()?.checked_mul(GREF_ENTRY_SIZE)?;
    let list = page.get(..bytes)?;
    Some(list.chunks_exact(GREF_ENTRY_SIZE).map(|e| {
        let b = |i: usize| e.get(i).copied().unwrap_or(0);
        GrefEntry { gref: u32::from_le_bytes([b(0), b(1), b(2), b(3)]), flags: u16::from_le_bytes([b(4), b(5)]) }
    }))
}

/// A staged grant: mapped by the shell into its slot `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged {
    /// The frontend's grant reference.
    pub gref: u32,
    /// Mapped read-only.
    pub readonly: bool,
    /// Where the shell keeps the mapping (its array index).
    pub slot: u16,
    /// Packets using the page now.
    in_use: u32,
}

impl Staged {
    /// Packets using the page now.
    pub fn users(&self) -> u32 {
        self.in_use
    }
}

impl Staged {
    /// An unused storage entry.
    pub const EMPTY: Staged = Staged { gref: 0, readonly: false, slot: 0, in_use: 0 };
}

/// One queue's staged grants, sorted by gref (lookups are binary searches), in `S`: an
/// array (`[Staged; N]`, [`StagingTable::new`]) or the shell's heap buffer
/// ([`StagingTable::with_storage`]); at most as many as it holds.
#[derive(Clone, Debug)]
pub struct StagingTable<S> {
    entries: S,
    len: usize,
    /// The most entries this queue may hold (module parameter and the global budget).
    cap: u32,
}

/// Why a list is refused: the control response's status.
pub type CtrlStatus = u32;

impl<const N: usize> StagingTable<[Staged; N]> {
    /// An empty table of at most `N` entries that accepts at most `cap` (clamped to `N`).
    pub fn new(cap: u32) -> Self {
        Self::with_storage([Staged::EMPTY; N], cap)
    }
}

impl<S: AsRef<[Staged]> + AsMut<[Staged]>> StagingTable<S> {
    /// An empty table in `entries` that accepts at most `cap` entries (clamped to its length).
    pub fn with_storage(entries: S, cap: u32) -> Self {
        let cap = cap.min(u32::try_from(entries.as_ref().len()).unwrap_or(u32::MAX));
        Self { entries, len: 0, cap }
    }

    /// `GET_GREF_MAPPING_SIZE`: how many entries may be staged in all.
    pub fn max_entries(&self) -> u32 {
        self.cap
    }

    /// Entries staged now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn live(&self) -> &[Staged] {
        self.entries.as_ref().get(..self.len).unwrap_or(&[])
    }

    fn find(&self, gref: u32) -> Result<usize, usize> {
        self.live().binary_search_by_key(&gref, |s| s.gref)
    }

    /// `ADD_GREF_MAPPING`, first half: validates the whole list (all or nothing) and returns
    /// it as accepted; the shell maps every entry, then calls [`Self::commit_add`]. Refused
    /// (INVALID_PARAMETER): empty, past the list page, past the cap, a gref twice, a gref
    /// already staged, unknown flags.
    pub fn plan_add<'a>(&self, page: &'a [u8], count: u32) -> Result<impl Iterator<Item = GrefEntry> + 'a, CtrlStatus> {
        if count == 0 || count > GREF_LIST_MAX {
            return Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        }
        let room = self.cap.saturating_sub(u32::try_from(self.len).unwrap_or(u32::MAX));
        if count > room {
            return Err(XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
        }
        let list = read_gref_list(page, count).ok_or(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER)?;
        // Duplicates within the list: each entry against the ones before it (count <= 512).
        for (i, e) in list.enumerate() {
            if e.flags & !XEN_NETIF_CTRLF_GREF_READONLY != 0 || self.find(e.gref).is_ok() {
                return Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
            }
            let earlier =
                read_gref_list(page, u32::try_from(i).unwrap_or(0)).ok_or(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER)?;
            if earlier.into_iter().any(|p| p.gref == e.gref) {
                return Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
            }
        }
        read_gref_list(page, count).ok_or(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER)
    }

    /// `ADD_GREF_MAPPING`, second half: the entries [`Self::plan_add`] accepted, each mapped
    /// into `slot`. Refuses (and changes nothing) when they would not fit or a gref is
    /// staged already: the shell then unmaps them and answers INVALID_PARAMETER.
    pub fn commit_add(&mut self, mapped: &[(GrefEntry, u16)]) -> Result<(), CtrlStatus> {
        let fits = self
            .len
            .checked_add(mapped.len())
            .is_some_and(|n| n <= self.entries.as_ref().len() && n as u64 <= u64::from(self.cap));
        let twice = mapped
            .iter()
            .enumerate()
            .any(|(i, (e, _))| mapped.get(..i).is_some_and(|b| b.iter().any(|(p, _)| p.gref == e.gref)));
        if !fits || twice || mapped.iter().any(|(e, _)| self.find(e.gref).is_ok()) {
            return Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        }
        for (e, slot) in mapped {
            // Checked above: neither staged nor twice in `mapped`.
            let Err(at) = self.find(e.gref) else { continue };
            let end = self.len;
            if let Some(tail) = self.entries.as_mut().get_mut(at..=end) {
                tail.rotate_right(1);
            }
            if let Some(s) = self.entries.as_mut().get_mut(at) {
                *s = Staged { gref: e.gref, readonly: e.readonly(), slot: *slot, in_use: 0 };
            }
            self.len += 1;
        }
        Ok(())
    }

    /// The staged grant `gref`, if any (a request naming it uses the mapped page).
    pub fn lookup(&self, gref: u32) -> Option<Staged> {
        self.find(gref).ok().and_then(|i| self.live().get(i).copied())
    }

    /// A packet starts using `gref`'s page; false if it is not staged.
    pub fn acquire(&mut self, gref: u32) -> bool {
        match self.find(gref).ok().and_then(|i| self.entries.as_mut().get_mut(i)) {
            Some(s) => {
                s.in_use = s.in_use.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// A packet is done with `gref`'s page; false if it was not in use (a bookkeeping bug
    /// the shell logs).
    pub fn release(&mut self, gref: u32) -> bool {
        match self.find(gref).ok().and_then(|i| self.entries.as_mut().get_mut(i)) {
            Some(s) if s.in_use > 0 => {
                s.in_use -= 1;
                true
            }
            _ => false,
        }
    }

    /// Packets using staged pages now.
    pub fn in_use(&self) -> u64 {
        self.live().iter().map(|s| u64::from(s.in_use)).sum()
    }

    /// `DEL_GREF_MAPPING`: removes each listed gref that is staged and not in use, calls
    /// `unmapped(staged)` for it (the shell unmaps its slot) and writes each entry's status
    /// into `statuses` (SUCCESS, or INVALID_PARAMETER for a gref never added or still in
    /// use). Returns the number removed, or INVALID_PARAMETER (nothing changed) for a list
    /// that does not fit its page or `statuses`.
    pub fn delete(
        &mut self,
        page: &[u8],
        count: u32,
        statuses: &mut [u16],
        mut unmapped: impl FnMut(Staged),
    ) -> Result<u32, CtrlStatus> {
        if count > GREF_LIST_MAX || statuses.len() < count as usize {
            return Err(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER);
        }
        let list = read_gref_list(page, count).ok_or(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER)?;
        let mut removed = 0;
        for (e, status) in list.zip(statuses.iter_mut()) {
            let ok = match self.find(e.gref) {
                Ok(i) if self.live().get(i).is_some_and(|s| s.in_use == 0) => {
                    if let Some(s) = self.live().get(i).copied() {
                        unmapped(s);
                    }
                    let end = self.len;
                    if let Some(tail) = self.entries.as_mut().get_mut(i..end) {
                        tail.rotate_left(1);
                    }
                    self.len -= 1;
                    removed += 1;
                    true
                }
                _ => false,
            };
            *status =
                if ok { XEN_NETIF_CTRL_STATUS_SUCCESS as u16 } else { XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER as u16 };
        }
        Ok(removed)
    }

    /// Disconnect: every entry, for the shell to unmap, once nothing is in use (`Err` with
    /// the packets still using pages otherwise: wait and try again). Empties the table.
    pub fn drain(&mut self, mut unmapped: impl FnMut(Staged)) -> Result<(), u64> {
        let busy = self.in_use();
        if busy > 0 {
            return Err(busy);
        }
        for s in self.live() {
            unmapped(*s);
        }
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Lcg;
    use super::*;
    use std::vec::Vec;

    fn page(list: &[(u32, u16)]) -> Vec<u8> {
        let mut p = std::vec![0u8; 4096];
        for (i, (g, f)) in list.iter().enumerate() {
            p[i * 8..i * 8 + 4].copy_from_slice(&g.to_le_bytes());
            p[i * 8 + 4..i * 8 + 6].copy_from_slice(&f.to_le_bytes());
        }
        p
    }

    fn add<const N: usize>(
        t: &mut StagingTable<[Staged; N]>,
        list: &[(u32, u16)],
        next_slot: &mut u16,
    ) -> Result<(), CtrlStatus> {
        let p = page(list);
        let planned: Vec<GrefEntry> = t.plan_add(&p, list.len() as u32)?.collect();
        let mapped: Vec<(GrefEntry, u16)> = planned
            .into_iter()
            .map(|e| {
                *next_slot += 1;
                (e, *next_slot)
            })
            .collect();
        t.commit_add(&mapped)
    }

    #[test]
    fn add_lookup_delete() {
        let mut t = StagingTable::<[Staged; 16]>::new(8);
        let mut slot = 0;
        assert_eq!(t.max_entries(), 8);
        add(&mut t, &[(30, 0), (10, 1), (20, 0)], &mut slot).unwrap();
        assert_eq!(t.len(), 3);
        assert!(t.lookup(10).unwrap().readonly);
        assert!(!t.lookup(20).unwrap().readonly);
        assert_eq!(t.lookup(15), None);
        // Busy entries cannot go; unknown ones are refused per entry.
        assert!(t.acquire(20));
        let mut st = [9u16; 3];
        let mut gone = Vec::new();
        let p = page(&[(20, 0), (30, 0), (99, 0)]);
        assert_eq!(t.delete(&p, 3, &mut st, |s| gone.push(s.gref)), Ok(1));
        assert_eq!(st, [2, 0, 2]);
        assert_eq!(gone, [30]);
        assert!(t.release(20));
        assert!(!t.release(20));
        assert_eq!(t.drain(|_| {}), Ok(()));
        assert!(t.is_empty());
    }

    #[test]
    fn bad_lists_change_nothing() {
        let mut t = StagingTable::<[Staged; 16]>::new(4);
        let mut slot = 0;
        add(&mut t, &[(1, 0)], &mut slot).unwrap();
        let before = t.clone();
        for (list, count, want) in [
            (std::vec![(2u32, 0u16), (2, 0)], 2u32, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER), // twice
            (std::vec![(1, 0)], 1, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER),                  // staged
            (std::vec![(3, 2)], 1, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER),                  // flags
            (std::vec![(3, 0), (4, 0), (5, 0), (6, 0)], 4, XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW), // cap
            (std::vec![], 0, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER),
            (std::vec![(3, 0)], GREF_LIST_MAX + 1, XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER),
        ] {
            let p = page(&list);
            assert_eq!(t.plan_add(&p, count).err(), Some(want), "{:?}", list);
        }
        assert_eq!(t.plan_add(&[0u8; 8], 2).err(), Some(XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER));
        let e = |gref| GrefEntry { gref, flags: 0 };
        assert!(t.commit_add(&[(e(5), 1), (e(5), 2)]).is_err());
        assert!(t.commit_add(&[(e(1), 1)]).is_err());
        assert_eq!(t.len(), before.len());
        assert_eq!(t.lookup(1), before.lookup(1));
    }

    #[test]
    fn drain_waits_for_users() {
        let mut t = StagingTable::<[Staged; 4]>::new(4);
        let mut slot = 0;
        add(&mut t, &[(7, 0), (8, 0)], &mut slot).unwrap();
        assert!(t.acquire(7));
        assert_eq!(t.drain(|_| panic!("unmapped while in use")), Err(1));
        t.release(7);
        let mut n = 0;
        assert_eq!(t.drain(|_| n += 1), Ok(()));
        assert_eq!(n, 2);
    }

    /// Random adds, uses and deletes against a plain model: the table stays sorted, within
    /// its cap, and agrees with the model on every lookup.
    #[test]
    fn random_operations_match_a_model() {
        let mut rng = Lcg(11);
        for _ in 0..200 {
            let cap = (rng.next() % 24) as u32;
            let mut t = StagingTable::<[Staged; 32]>::new(cap);
            let mut model: std::collections::BTreeMap<u32, u32> = Default::default();
            let mut slot = 0;
            for _ in 0..60 {
                let n = (rng.next() % 5) as usize;
                let list: Vec<(u32, u16)> =
                    (0..n).map(|_| ((rng.next() % 40) as u32, (rng.next() % 3) as u16)).collect();
                match rng.next() % 4 {
                    0 | 1 => {
                        let distinct = list.iter().map(|e| e.0).collect::<std::collections::BTreeSet<_>>().len() == n;
                        let fresh = list.iter().all(|e| !model.contains_key(&e.0));
                        let good = n > 0
                            && distinct
                            && fresh
                            && list.iter().all(|e| e.1 <= 1)
                            && model.len() + n <= cap as usize;
                        assert_eq!(add(&mut t, &list, &mut slot).is_ok(), good, "{:?} into {:?}", list, model);
                        if good {
                            model.extend(list.iter().map(|e| (e.0, 0)));
                        }
                    }
                    2 => {
                        if let Some((&g, u)) = model.iter_mut().nth((rng.next() % 8) as usize) {
                            if rng.next().is_multiple_of(2) {
                                assert!(t.acquire(g));
                                *u += 1;
                            } else {
                                assert_eq!(t.release(g), *u > 0);
                                *u = u.saturating_sub(1);
                            }
                        }
                    }
                    _ => {
                        let p = page(&list);
                        let mut st = std::vec![0u16; n];
                        let removed = t.delete(&p, n as u32, &mut st, |_| {}).unwrap();
                        let mut want = 0;
                        for (i, e) in list.iter().enumerate() {
                            let ok = model.get(&e.0) == Some(&0);
                            if ok {
                                model.remove(&e.0);
                                want += 1;
                            }
                            assert_eq!(st[i], if ok { 0 } else { 2 });
                        }
                        assert_eq!(removed, want);
                    }
                }
                assert_eq!(t.len(), model.len());
                assert!(t.len() <= cap as usize);
                assert!(t.live().windows(2).all(|w| w[0].gref < w[1].gref));
                for g in 0..40 {
                    assert_eq!(t.lookup(g).is_some(), model.contains_key(&g));
                }
                assert_eq!(t.in_use(), model.values().map(|u| u64::from(*u)).sum::<u64>());
            }
        }
    }
}

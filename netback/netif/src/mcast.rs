//! Multicast control (`feature-multicast-control`): the filter list a
//! frontend builds with `XEN_NETIF_EXTRA_TYPE_MCAST_ADD/DEL` extras and the
//! delivery decision for frames to the guest (`xenvif_mcast_add/del/match`
//! and the check in `xenvif_start_xmit`).

use super::tx::McastOp;

/// Most addresses one VIF may hold (`XEN_NETBK_MCAST_MAX`).
pub const XEN_NETBK_MCAST_MAX: usize = 64;

/// An Ethernet address.
pub type MacAddr = [u8; 6];

const BROADCAST: MacAddr = [0xff; 6];

/// Whether `addr` is a group (multicast or broadcast) address.
pub const fn is_group(addr: &MacAddr) -> bool {
    addr[0] & 1 != 0
}

/// The frontend's multicast filter list. As in C, an address may appear
/// more than once (each ADD takes a slot; each DEL removes one copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McastFilter {
    addrs: [MacAddr; XEN_NETBK_MCAST_MAX],
    len: usize,
}

/// Why an ADD was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McastError {
    /// Already [`XEN_NETBK_MCAST_MAX`] addresses ("Too many multicast
    /// addresses"; the request is answered with `NETIF_RSP_ERROR`).
    Full,
}

impl Default for McastFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl McastFilter {
    /// An empty list.
    pub const fn new() -> Self {
        McastFilter { addrs: [[0; 6]; XEN_NETBK_MCAST_MAX], len: 0 }
    }

    /// Number of entries.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries, oldest first.
    pub fn addrs(&self) -> &[MacAddr] {
        self.addrs.get(..self.len).unwrap_or(&[])
    }

    /// `xenvif_mcast_add`.
    pub fn add(&mut self, addr: MacAddr) -> Result<(), McastError> {
        let slot = self.addrs.get_mut(self.len).ok_or(McastError::Full)?;
        *slot = addr;
        self.len += 1;
        Ok(())
    }

    /// `xenvif_mcast_del`: removes the oldest copy of `addr`, if any.
    pub fn del(&mut self, addr: &MacAddr) {
        if let Some(i) = self.addrs().iter().position(|a| a == addr) {
            self.addrs.copy_within(i + 1..self.len, i);
            self.len -= 1;
        }
    }

    /// Applies one extra (ADD or DEL). DEL always succeeds.
    pub fn apply(&mut self, op: McastOp, addr: MacAddr) -> Result<(), McastError> {
        match op {
            McastOp::Add => self.add(addr),
            McastOp::Del => {
                self.del(&addr);
                Ok(())
            }
        }
    }

    /// `xenvif_mcast_match`.
    pub fn contains(&self, addr: &MacAddr) -> bool {
        self.addrs().contains(addr)
    }

    /// Forgets every entry (the frontend disconnected).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Whether a frame to `dst` goes to the guest: always, unless the
    /// frontend requested multicast control (`enabled`) and `dst` is a
    /// multicast (not broadcast) address missing from the list.
    pub fn delivers(&self, enabled: bool, dst: &MacAddr) -> bool {
        !enabled || !is_group(dst) || *dst == BROADCAST || self.contains(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: MacAddr = [0x01, 0x00, 0x5e, 0, 0, 1];
    const M2: MacAddr = [0x33, 0x33, 0, 0, 0, 1];
    const UNICAST: MacAddr = [0x00, 0x16, 0x3e, 0, 0, 1];

    #[test]
    fn add_del_match() {
        let mut f = McastFilter::new();
        assert!(f.is_empty());
        assert_eq!(f.apply(McastOp::Add, M1), Ok(()));
        assert!(f.contains(&M1) && !f.contains(&M2));
        f.del(&M2);
        assert_eq!(f.len(), 1);
        assert_eq!(f.apply(McastOp::Del, M1), Ok(()));
        assert!(f.is_empty());
    }

    #[test]
    fn duplicates_count_and_delete_one_at_a_time() {
        let mut f = McastFilter::new();
        f.add(M1).unwrap();
        f.add(M2).unwrap();
        f.add(M1).unwrap();
        f.del(&M1);
        assert_eq!(f.addrs(), &[M2, M1]);
        f.del(&M1);
        assert_eq!(f.addrs(), &[M2]);
    }

    #[test]
    fn bounded_at_64() {
        let mut f = McastFilter::new();
        for i in 0..XEN_NETBK_MCAST_MAX {
            assert_eq!(f.add([1, 0, 0, 0, 0, i as u8]), Ok(()));
        }
        assert_eq!(f.add(M1), Err(McastError::Full));
        assert_eq!(f.apply(McastOp::Add, M1), Err(McastError::Full));
        assert!(!f.contains(&M1));
        f.del(&[1, 0, 0, 0, 0, 7]);
        assert_eq!(f.add(M1), Ok(()), "a DEL frees a slot");
        assert_eq!(f.len(), XEN_NETBK_MCAST_MAX);
    }

    #[test]
    fn delivery() {
        let mut f = McastFilter::new();
        f.add(M1).unwrap();
        for dst in [M1, M2, UNICAST, BROADCAST] {
            assert!(f.delivers(false, &dst), "control off delivers everything");
        }
        assert!(f.delivers(true, &M1));
        assert!(!f.delivers(true, &M2), "unlisted multicast is filtered");
        assert!(f.delivers(true, &UNICAST));
        assert!(f.delivers(true, &BROADCAST), "broadcast always passes");
        f.clear();
        assert!(!f.delivers(true, &M1));
    }
}

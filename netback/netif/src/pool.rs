//! Bookkeeping for a fixed pool of slots (the grant pool's pending slots, C's
//! `pending_ring` / `pending_tx_info`): a FIFO free list, per-slot data while
//! in flight, and a generation counter per slot.
//!
//! A [`SlotHandle`] names a slot *and* the allocation it belongs to. When the
//! stack's completion callback hands a handle back, a handle from an earlier
//! allocation (stale) or a second completion of the same allocation (double
//! free) is detected and reported as a [`PoolError`]; the pool is left
//! untouched, so a bug elsewhere cannot make two packets share a page.

/// A reference to one allocation of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotHandle {
    index: u16,
    generation: u32,
}

impl SlotHandle {
    /// The slot index (`pending_idx`): indexes the shell's page and grant
    /// handle arrays.
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// The allocation generation.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// Packs into a `u64` (for a callback context word).
    pub const fn to_u64(self) -> u64 {
        ((self.generation as u64) << 16) | self.index as u64
    }

    /// Unpacks [`SlotHandle::to_u64`]; validity is checked by the pool.
    pub const fn from_u64(v: u64) -> Self {
        SlotHandle { index: v as u16, generation: (v >> 16) as u32 }
    }
}

/// A refused pool operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// No free slot.
    Exhausted,
    /// The index is outside the pool.
    OutOfRange {
        /// The index.
        index: u16,
    },
    /// The slot is not in flight (already completed: a double completion).
    NotInFlight {
        /// The index.
        index: u16,
    },
    /// The slot is in flight for a newer allocation (a stale handle).
    Stale {
        /// The index.
        index: u16,
        /// The slot's current generation.
        current: u32,
        /// The handle's generation.
        got: u32,
    },
}

impl PoolError {
    /// A fixed description for logging.
    pub const fn description(&self) -> &'static str {
        match self {
            PoolError::Exhausted => "no free pool slot",
            PoolError::OutOfRange { .. } => "pool slot index out of range",
            PoolError::NotInFlight { .. } => "pool slot completed twice",
            PoolError::Stale { .. } => "stale pool slot handle",
        }
    }
}

/// A pool of `N` slots (`N <= 65536`), each holding a `T` while in flight.
#[derive(Clone, Debug)]
pub struct SlotPool<T, const N: usize> {
    free: [u16; N],
    free_head: usize,
    free_len: usize,
    generation: [u32; N],
    in_flight: [bool; N],
    data: [T; N],
}

impl<T: Copy + Default, const N: usize> Default for SlotPool<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> SlotPool<T, N> {
    const CAPACITY_FITS_U16: () = assert!(N <= 65536, "SlotPool indices are u16");

    /// All slots free, in index order.
    pub fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CAPACITY_FITS_U16;
        let mut free = [0u16; N];
        for (i, f) in free.iter_mut().enumerate() {
            *f = i as u16;
        }
        SlotPool { free, free_head: 0, free_len: N, generation: [0; N], in_flight: [false; N], data: [T::default(); N] }
    }

    /// Frees every slot, in index order, as [`SlotPool::new`] leaves them;
    /// allocations in flight end (their handles become stale). Also turns an
    /// all-zero pool (built in place on the heap: a large pool must not pass
    /// through the kernel stack) into a usable one.
    pub fn reset(&mut self) {
        for (i, f) in self.free.iter_mut().enumerate() {
            *f = i as u16;
        }
        for (g, flight) in self.generation.iter_mut().zip(self.in_flight.iter_mut()) {
            if *flight {
                *g = g.wrapping_add(1);
            }
            *flight = false;
        }
        self.free_head = 0;
        self.free_len = N;
    }

    /// Number of slots.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Free slots.
    pub fn available(&self) -> usize {
        self.free_len
    }

    /// Slots in flight.
    pub fn in_flight(&self) -> usize {
        N - self.free_len
    }

    /// Takes the least recently freed slot and stores `value` in it.
    pub fn alloc(&mut self, value: T) -> Result<SlotHandle, PoolError> {
        if self.free_len == 0 || N == 0 {
            return Err(PoolError::Exhausted);
        }
        let index = *self.free.get(self.free_head).ok_or(PoolError::Exhausted)?;
        let i = usize::from(index);
        let (Some(flight), Some(data), Some(generation)) =
            (self.in_flight.get_mut(i), self.data.get_mut(i), self.generation.get(i))
        else {
            return Err(PoolError::OutOfRange { index });
        };
        *flight = true;
        *data = value;
        let generation = *generation;
        self.free_head = (self.free_head + 1).checked_rem(N).unwrap_or(0);
        self.free_len -= 1;
        Ok(SlotHandle { index, generation })
    }

    fn check(&self, h: SlotHandle) -> Result<usize, PoolError> {
        let i = usize::from(h.index);
        let current = *self.generation.get(i).ok_or(PoolError::OutOfRange { index: h.index })?;
        let flying = self.in_flight.get(i).copied().unwrap_or(false);
        if current != h.generation {
            return Err(if flying {
                PoolError::Stale { index: h.index, current, got: h.generation }
            } else {
                PoolError::NotInFlight { index: h.index }
            });
        }
        if !flying {
            return Err(PoolError::NotInFlight { index: h.index });
        }
        Ok(i)
    }

    /// Whether `h` names a live allocation.
    pub fn is_live(&self, h: SlotHandle) -> bool {
        self.check(h).is_ok()
    }

    /// The value of a live allocation.
    pub fn get(&self, h: SlotHandle) -> Result<&T, PoolError> {
        let i = self.check(h)?;
        self.data.get(i).ok_or(PoolError::OutOfRange { index: h.index })
    }

    /// The value of a live allocation, mutably.
    pub fn get_mut(&mut self, h: SlotHandle) -> Result<&mut T, PoolError> {
        let i = self.check(h)?;
        self.data.get_mut(i).ok_or(PoolError::OutOfRange { index: h.index })
    }

    /// Ends an allocation: returns its value and puts the slot at the tail of
    /// the free list with a new generation. A stale or repeated handle is
    /// refused without changing anything.
    pub fn complete(&mut self, h: SlotHandle) -> Result<T, PoolError> {
        let i = self.check(h)?;
        let value = self.data.get(i).copied().ok_or(PoolError::OutOfRange { index: h.index })?;
        if let Some(f) = self.in_flight.get_mut(i) {
            *f = false;
        }
        if let Some(g) = self.generation.get_mut(i) {
            *g = g.wrapping_add(1);
        }
        let tail = (self.free_head + self.free_len).checked_rem(N).unwrap_or(0);
        if let Some(slot) = self.free.get_mut(tail) {
            *slot = h.index;
        }
        self.free_len += 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_until_exhausted_then_fifo_reuse() {
        let mut p: SlotPool<u32, 4> = SlotPool::new();
        let hs: std::vec::Vec<_> = (0..4).map(|v| p.alloc(v).unwrap()).collect();
        assert_eq!(p.alloc(9), Err(PoolError::Exhausted));
        assert_eq!(p.in_flight(), 4);
        assert_eq!(p.complete(hs[2]), Ok(2));
        assert_eq!(p.complete(hs[0]), Ok(0));
        let a = p.alloc(10).unwrap();
        assert_eq!(a.index(), 2, "least recently freed first");
        assert_eq!(a.generation(), 1);
        assert_eq!(p.get(a), Ok(&10));
    }

    #[test]
    fn reset_frees_all_and_makes_old_handles_stale() {
        let mut p: SlotPool<u32, 3> = SlotPool::new();
        let h = p.alloc(7).unwrap();
        let _ = p.alloc(8).unwrap();
        p.reset();
        assert_eq!(p.available(), 3);
        assert_eq!(p.complete(h), Err(PoolError::NotInFlight { index: 0 }));
        let a = p.alloc(9).unwrap();
        assert_eq!((a.index(), a.generation()), (0, 1));
        assert_eq!(p.complete(h), Err(PoolError::Stale { index: 0, current: 1, got: 0 }));
    }

    #[test]
    fn double_and_stale_completions_are_reported() {
        let mut p: SlotPool<u8, 1> = SlotPool::new();
        let h = p.alloc(1).unwrap();
        assert_eq!(p.complete(h), Ok(1));
        assert_eq!(p.complete(h), Err(PoolError::NotInFlight { index: 0 }));
        let h2 = p.alloc(2).unwrap();
        assert_eq!(p.complete(h), Err(PoolError::Stale { index: 0, current: 1, got: 0 }));
        assert_eq!(p.get(h2), Ok(&2), "stale completion did not touch the live allocation");
        assert_eq!(p.complete(SlotHandle::from_u64(5)), Err(PoolError::OutOfRange { index: 5 }));
        assert_eq!(SlotHandle::from_u64(h2.to_u64()), h2);
        assert_eq!(p.complete(h2), Ok(2));
        assert_eq!(p.available(), 1);
    }

    #[test]
    fn zero_capacity() {
        let mut p: SlotPool<u8, 0> = SlotPool::new();
        assert_eq!(p.alloc(0), Err(PoolError::Exhausted));
    }
}

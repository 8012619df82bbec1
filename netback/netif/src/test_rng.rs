//! A small deterministic generator for the randomized host tests (the core
//! has no dependencies, so no `rand`): a seed replays a failing case.

/// Knuth's MMIX linear congruential generator; the high bits are returned.
pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

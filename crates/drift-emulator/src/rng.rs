//! The emulator's one source of randomness: splitmix64 over a seed, so every generated value and
//! every injected fault is the same in every run. No I/O.

/// One splitmix64 step: a well-mixed 64-bit value from any input.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic random source for one record (or one decision).
pub struct Rng(u64);

impl Rng {
    /// The source for record `index` of collection `kind` under `seed`.
    pub fn new(seed: u64, kind: u64, index: u32) -> Rng {
        Rng(mix(seed ^ mix(kind) ^ (u64::from(index) << 20)))
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    /// A number in `lo..hi` (or `lo` when the range is empty).
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(1) as u64) as i64
    }
}

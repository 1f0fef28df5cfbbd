//! The workspace's one seeded PRNG (xoshiro256** seeded by SplitMix64): splits, synthetic data,
//! forests, folds and searches all draw from it. Written here rather than pulled in so that the
//! stream for a given seed never shifts with the version of an external crate.

/// Deterministic pseudo-random generator: xoshiro256** seeded through SplitMix64.
///
/// ```
/// use finbeh_data::Rng;
/// let mut a = Rng::seed_from_u64(7);
/// let mut b = Rng::seed_from_u64(7);
/// assert_eq!(a.next_u64(), b.next_u64());
/// let x = a.gen_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

/// One SplitMix64 step: expands seeds and derives independent streams.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let state = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { state }
    }

    /// An independent stream derived from `(seed, stream)` only, e.g. tree `i` of a forest.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        let mut sm = seed ^ 0x6A09_E667_F3BC_C909;
        let a = splitmix64(&mut sm);
        let mut sm2 = stream.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ a;
        Self::seed_from_u64(splitmix64(&mut sm2))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn gen_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's multiply-shift with rejection, so unbiased);
    /// returns 0 when `n == 0`.
    pub fn gen_below(&mut self, n: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            // Draws whose low half falls below 2^64 mod n would over-represent some results.
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// [`Rng::gen_below`] for indices: uniform in `0..bound` (0 when `bound == 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        // usize is at most 64 bits on supported targets, so both conversions are lossless.
        self.gen_below(bound as u64) as usize
    }

    /// Uniform integer in `low..=high` (`low` when `high < low`).
    pub fn range_inclusive(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high.saturating_sub(low).saturating_add(1))
    }

    /// Uniform in `[low, high)`.
    pub fn gen_range_f64(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.gen_f64()
    }

    /// Standard normal (Box–Muller).
    pub fn gen_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.gen_f64(); // (0, 1]
        let u2 = self.gen_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..4).map(|_| Rng::seed_from_u64(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut s0 = Rng::for_stream(42, 0);
        let mut s1 = Rng::for_stream(42, 1);
        assert_ne!(s0.next_u64(), s1.next_u64());
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = Rng::seed_from_u64(1);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[rng.below(5)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.range_inclusive(3, 3), 3);
    }

    /// With n = 3·2^62 the plain multiply-shift maps draw x to floor(3x/4): results ≡ 0 (mod 3)
    /// come from two draws, the others from one, so half of all results are multiples of 3
    /// instead of a third. Rejection removes that bias.
    #[test]
    fn gen_below_is_unbiased_for_a_large_bound() {
        let n: u64 = 3 << 62;
        let mut rng = Rng::seed_from_u64(3);
        let draws = 200_000u32;
        let multiples_of_3 = (0..draws)
            .filter(|_| rng.gen_below(n).is_multiple_of(3))
            .count();
        // Unbiased: 1/3 (± 0.0032 at 3 sigma); biased: 1/2.
        let share = multiples_of_3 as f64 / f64::from(draws);
        assert!(
            (share - 1.0 / 3.0).abs() < 0.005,
            "share of multiples of 3 = {share}"
        );
    }
}

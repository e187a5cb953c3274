//! Keys, values and the request distributions of the YCSB core workloads.

/// A small, fast, seedable generator (SplitMix64): every thread gets its own.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The key of record `i`: `len` bytes (at least 8) that look random but are
/// unique per `i` (a bijective mix of `i` in the first 8 bytes).
pub(crate) fn key(i: u64, len: usize) -> Vec<u8> {
    let mut k = vec![0u8; len.max(8)];
    key_into(i, &mut k);
    k
}

/// Writes the key of record `i` into `k` (its length is the key length):
/// computed, not looked up, so a request costs no memory access before it
/// reaches the store.
#[inline]
pub(crate) fn key_into(i: u64, k: &mut [u8]) {
    let mut x = i;
    x = (x ^ (x >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    x = (x ^ (x >> 33)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    k[..8].copy_from_slice(&x.to_be_bytes());
    for (j, b) in k[8..].iter_mut().enumerate() {
        *b = (i >> ((j % 8) * 8)) as u8 ^ 0x5a;
    }
}

/// A value of `len` random bytes drawn from `seed`.
pub(crate) fn value(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) + 1);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// YCSB's Zipfian generator over `0..items` (Gray et al., "Quickly
/// generating billion-record synthetic databases"), constant `theta`.
#[derive(Debug, Clone)]
pub(crate) struct Zipfian {
    items: u64,
    theta: f64,
    zeta_n: f64,
    alpha: f64,
    eta: f64,
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipfian {
    pub(crate) fn new(items: u64, theta: f64) -> Self {
        let zeta_n = zeta(items, theta);
        let zeta_2 = zeta(2, theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / items as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Self {
            items,
            theta,
            zeta_n,
            alpha,
            eta,
        }
    }

    /// The next rank (0 is the most popular).
    pub(crate) fn next(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        ((self.items as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64)
            .min(self.items - 1)
    }

    /// YCSB's scrambled Zipfian: the popular items are spread over the key
    /// space instead of being the first ones.
    pub(crate) fn next_scrambled(&self, rng: &mut Rng) -> u64 {
        fnv64(self.next(rng)) % self.items
    }
}

fn fnv64(mut x: u64) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for _ in 0..8 {
        h ^= x & 0xff;
        h = h.wrapping_mul(0x0100_0000_01B3);
        x >>= 8;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_unique_and_sized() {
        let ks: Vec<Vec<u8>> = (0..100_000).map(|i| key(i, 16)).collect();
        assert!(ks.iter().all(|k| k.len() == 16));
        let set: HashSet<_> = ks.iter().collect();
        assert_eq!(set.len(), 100_000);
    }

    #[test]
    fn zipfian_is_skewed_towards_low_ranks() {
        let z = Zipfian::new(100_000, 0.99);
        let mut rng = Rng::new(7);
        let draws = 200_000;
        let mut top10 = 0;
        for _ in 0..draws {
            let r = z.next(&mut rng);
            assert!(r < 100_000);
            if r < 10 {
                top10 += 1;
            }
        }
        // With theta 0.99 the ten most popular of 100k items draw ~24%.
        let share = top10 as f64 / draws as f64;
        assert!((0.15..0.35).contains(&share), "top-10 share {share}");
        let s = z.next_scrambled(&mut rng);
        assert!(s < 100_000);
    }

    #[test]
    fn uniform_draws_stay_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..10_000).all(|_| rng.below(17) < 17));
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&rng.unit())));
    }
}

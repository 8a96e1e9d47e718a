//! Cryptographically secure randomness from the operating system, via `ring`.
//!
//! Only the error type is public; generation stays inside the crate.

use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

/// The operating system's random number generator failed.
///
/// This is rare and not recoverable by retrying in a tight loop; callers fail
/// closed (no token, no key) rather than fall back to weaker randomness.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error(
    "the system random number generator failed; refusing to continue without secure randomness"
)]
pub struct RandomError;

/// Fills `buf` with bytes from [`SystemRandom`].
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(buf).map_err(|_| RandomError)
}

/// Returns `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut out = [0u8; N];
    fill(&mut out)?;
    Ok(out)
}

/// A uniformly random index in `0..n`, without modulo bias (rejection sampling).
///
/// `n` must be between 1 and 256; it returns 0 for `n <= 1`.
pub(crate) fn index_below(n: usize) -> Result<usize, RandomError> {
    if n <= 1 {
        return Ok(0);
    }
    let n = n.min(256);
    // Largest multiple of n that fits in a byte's range; bytes at or above it are rejected.
    let limit = 256 - (256 % n);
    loop {
        let [b] = bytes::<1>()?;
        let b = usize::from(b);
        if b < limit {
            return Ok(b % n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_below_stays_in_range_and_covers_it() {
        let mut seen = [false; 10];
        for _ in 0..2000 {
            let i = index_below(10).unwrap();
            assert!(i < 10);
            seen[i] = true;
        }
        assert!(
            seen.iter().all(|s| *s),
            "every value in 0..10 appears in 2000 draws"
        );
        assert_eq!(index_below(1).unwrap(), 0);
    }

    #[test]
    fn bytes_are_not_constant() {
        assert_ne!(bytes::<32>().unwrap(), bytes::<32>().unwrap());
    }
}

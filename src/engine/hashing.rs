//! Deterministic hashing of users: the same user lands in the same bucket on every instance,
//! across restarts, without any shared state.

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed, xxh3_128};

/// Identifies a user in the in-memory user cache (128 bits: collisions are out of reach).
pub fn user_key(user_id: &str) -> u128 {
    xxh3_128(user_id.as_bytes())
}

/// How the audit log names an erased user: `user-sha256:` and the SHA-256 of the id (hex),
/// never the id itself. The append-only log thus keeps the proof that an erasure happened
/// without keeping whom it was about; whoever knows the id can hash it and find the entry.
pub fn audit_user(user_id: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let mut out = String::from("user-sha256:");
    for byte in Sha256::digest(user_id.as_bytes()) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A per-experiment seed for one purpose, so that enrolment and variant choice are independent.
pub fn seed(experiment_key: &str, purpose: &str) -> u64 {
    xxh3_64(format!("{experiment_key}/{purpose}").as_bytes())
}

/// A uniform number in [0, 1) from the user id and a seed.
pub fn unit_interval(seed: u64, user_id: &str) -> f64 {
    let h = xxh3_64_with_seed(user_id.as_bytes(), seed);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Picks the index whose cumulative weight first exceeds `u`.
pub fn pick(weights: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    for (i, w) in weights.iter().enumerate() {
        cumulative += w;
        if u < cumulative {
            return i;
        }
    }
    // Rounding can leave the sum a hair under 1: the last arm with weight takes the rest.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_uniform_and_stable() {
        let seed = seed("exp", "variant");
        let n = 100_000;
        let mut counts = [0u32; 4];
        for i in 0..n {
            let u = unit_interval(seed, &format!("user-{i}"));
            assert!((0.0..1.0).contains(&u));
            counts[pick(&[0.25; 4], u)] += 1;
        }
        for c in counts {
            // 4 sigma for a binomial(100000, 0.25)
            assert!(
                (c as f64 - 25_000.0).abs() < 4.0 * (n as f64 * 0.25 * 0.75).sqrt(),
                "{counts:?}"
            );
        }
        assert_eq!(unit_interval(seed, "u-1"), unit_interval(seed, "u-1"));
    }

    #[test]
    fn pick_respects_zero_weights() {
        assert_eq!(pick(&[0.0, 1.0], 0.0), 1);
        assert_eq!(pick(&[0.5, 0.5, 0.0], 0.999_999_999_999), 1);
    }
}

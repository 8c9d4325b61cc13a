//! API keys: generated with a scope prefix, known to the server only by their SHA-256.

use crate::domain::Scope;
use rand::RngExt;
use sha2::{Digest, Sha256};

pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// A new random key, e.g. `pst_admin_` followed by 32 base-62 characters (190 bits).
pub fn generate_key(scope: Scope) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let secret: String = (0..32)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("pst_{}_{secret}", scope.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        // sha256("abc"), FIPS 180-2 test vector
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_keys_differ() {
        let a = generate_key(Scope::Admin);
        assert!(a.starts_with("pst_admin_") && a.len() == 42);
        assert_ne!(a, generate_key(Scope::Admin));
    }
}

//! API keys: `kobo_sk_<prefix>_<secret>`.
//!
//! The prefix (12 lower-case alphanumerics) is public and indexes the key; the secret
//! is 32 bytes from the OS CSPRNG (256 bits), base64url without padding. Only
//! SHA-256(secret) is stored: the secret already has full entropy, so a slow hash
//! would add nothing but latency on the hot path. Comparison is constant-time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_MARKER: &str = "kobo_sk_";
pub const PREFIX_LEN: usize = 12;
const SECRET_BYTES: usize = 32;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A freshly minted key: the full text is shown once, the rest is stored.
#[derive(Debug, Clone)]
pub struct MintedKey {
    pub full: String,
    pub prefix: String,
    pub secret_hash: [u8; 32],
}

/// A key as presented by a client, split but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey<'a> {
    pub prefix: &'a str,
    pub secret: &'a str,
}

pub fn mint() -> MintedKey {
    let mut rng = OsRng;
    let prefix: String = (0..PREFIX_LEN)
        .map(|_| PREFIX_ALPHABET[rng.gen_range(0..PREFIX_ALPHABET.len())] as char)
        .collect();
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let secret_hash = hash_secret(&secret);
    MintedKey {
        full: format!("{KEY_MARKER}{prefix}_{secret}"),
        prefix,
        secret_hash,
    }
}

/// Splits `kobo_sk_<prefix>_<secret>`; `None` for anything else.
pub fn parse(raw: &str) -> Option<PresentedKey<'_>> {
    let rest = raw.strip_prefix(KEY_MARKER)?;
    let (prefix, secret) = rest.split_at_checked(PREFIX_LEN)?;
    let secret = secret.strip_prefix('_')?;
    let prefix_ok = prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !prefix_ok || secret.len() < 40 || secret.len() > 64 {
        return None;
    }
    Some(PresentedKey { prefix, secret })
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored hash.
pub fn secret_matches(secret: &str, stored_hash: &[u8]) -> bool {
    let h = hash_secret(secret);
    stored_hash.len() == h.len() && bool::from(h.ct_eq(stored_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_parse_verify() {
        let k = mint();
        let p = parse(&k.full).expect("parses");
        assert_eq!(p.prefix, k.prefix);
        assert!(secret_matches(p.secret, &k.secret_hash));
        assert!(!secret_matches("nope", &k.secret_hash));
        assert_ne!(mint().full, k.full);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "kobo_sk_",
            "sk-abc",
            "kobo_sk_short_x",
            "kobo_sk_ABCDEFGHIJKL_0123456789012345678901234567890123456789",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}

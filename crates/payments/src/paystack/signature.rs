//! `x-paystack-signature`: the hex HMAC-SHA512 of the raw request body, keyed with the
//! secret key.

use hmac::{Hmac, Mac};
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// The header Paystack puts the signature in.
pub const SIGNATURE_HEADER: &str = "x-paystack-signature";

/// The signature of `body` under `secret`: lower-case hex HMAC-SHA512, as Paystack sends
/// it. Used by the simulator and by tests.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match HmacSha512::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length, so this cannot happen; an empty signature
        // never verifies.
        Err(_) => String::new(),
    }
}

/// True when `header_hex` is the HMAC-SHA512 of exactly `raw_body` under `secret`.
///
/// Hash the bytes as received: a body that was parsed and re-serialised will not
/// verify. The comparison is constant-time (`verify_slice`). An empty secret, an empty
/// or non-hex header, or a header of the wrong length never verifies. Upper- and
/// lower-case hex are both accepted; surrounding whitespace is ignored.
pub fn verify_signature(secret: &[u8], raw_body: &[u8], header_hex: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    let Ok(expected) = hex::decode(header_hex.trim()) else {
        return false;
    };
    let Ok(mut mac) = HmacSha512::new_from_slice(secret) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"sk_test_0123456789abcdef";
    const BODY: &[u8] =
        br#"{"event":"charge.success","data":{"id":1,"reference":"r1","amount":10000}}"#;

    #[test]
    fn a_signature_made_by_sign_verifies() {
        let signature = sign(SECRET, BODY);
        assert_eq!(signature.len(), 128, "SHA-512 is 64 bytes, 128 hex digits");
        assert!(verify_signature(SECRET, BODY, &signature));
        assert!(verify_signature(SECRET, BODY, &signature.to_uppercase()));
        assert!(verify_signature(SECRET, BODY, &format!(" {signature}\n")));
    }

    #[test]
    fn matches_a_known_hmac_sha512_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn a_wrong_secret_does_not_verify() {
        let signature = sign(b"sk_test_other", BODY);
        assert!(!verify_signature(SECRET, BODY, &signature));
    }

    #[test]
    fn an_altered_body_does_not_verify() {
        let signature = sign(SECRET, BODY);
        let altered =
            br#"{"event":"charge.success","data":{"id":1,"reference":"r1","amount":99999}}"#;
        assert!(!verify_signature(SECRET, altered, &signature));
        // Re-serialising the same JSON changes the bytes, so it does not verify either.
        let reserialised =
            br#"{"data":{"amount":10000,"id":1,"reference":"r1"},"event":"charge.success"}"#;
        assert!(!verify_signature(SECRET, reserialised, &signature));
        let with_space =
            br#"{"event":"charge.success", "data":{"id":1,"reference":"r1","amount":10000}}"#;
        assert!(!verify_signature(SECRET, with_space, &signature));
    }

    #[test]
    fn missing_malformed_or_truncated_headers_do_not_verify() {
        let signature = sign(SECRET, BODY);
        assert!(!verify_signature(SECRET, BODY, ""));
        assert!(!verify_signature(SECRET, BODY, "   "));
        assert!(!verify_signature(SECRET, BODY, "not hex at all"));
        assert!(!verify_signature(SECRET, BODY, &signature[..126]));
        assert!(
            !verify_signature(SECRET, BODY, &signature[..127]),
            "odd length"
        );
        assert!(!verify_signature(SECRET, BODY, &format!("{signature}00")));
        let mut flipped = signature.into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        assert!(!verify_signature(
            SECRET,
            BODY,
            &String::from_utf8(flipped).unwrap()
        ));
    }

    #[test]
    fn an_empty_secret_never_verifies() {
        let signature = sign(b"", BODY);
        assert!(!verify_signature(b"", BODY, &signature));
    }
}

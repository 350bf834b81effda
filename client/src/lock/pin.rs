//! PINs and passwords as the lock keeps them: argon2id hashes (so unlocking works offline and
//! the profile never holds the secret), and the rule that refuses guessable PINs.

use crate::error::{ClientError, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest and longest PIN, in digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;

/// PINs people pick most (beyond the patterns [`check_pin`] refuses anyway).
const COMMON: &[&str] = &[
    "1004", "2000", "2580", "0852", "1122", "1313", "6969", "1010", "2001", "1984", "0007",
    "112233", "696969", "159753", "147258", "147852", "11223344", "12344321",
];

/// Refuses what is not 4-8 digits or is easy to guess: one digit repeated, a run up or down,
/// a repeated pair (1212), a well-known choice. The sentence says why.
pub fn check_pin(pin: &str) -> Result<()> {
    if !PIN_DIGITS.contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClientError::Invalid(format!(
            "a PIN is {} to {} digits",
            PIN_DIGITS.start(),
            PIN_DIGITS.end()
        )));
    }
    let digits: Vec<i8> = pin.bytes().map(|b| (b - b'0') as i8).collect();
    let steps: Vec<i8> = digits.windows(2).map(|w| w[1] - w[0]).collect();
    let same_step = steps.windows(2).all(|w| w[0] == w[1]);
    let weak = (same_step && matches!(steps.first(), Some(-1..=1)))
        || digits.iter().enumerate().all(|(i, d)| *d == digits[i % 2])
        || COMMON.contains(&pin);
    if weak {
        return Err(ClientError::Invalid(
            "this PIN is too easy to guess (no repeated digits, runs like 1234, or common \
             choices); pick another"
                .into(),
        ));
    }
    Ok(())
}

/// An argon2id hash (PHC string, random salt) of `secret`.
pub fn hash(secret: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ClientError::Invalid(format!("could not protect the secret: {e}")))
}

/// Whether `secret` matches `hash` (a damaged hash matches nothing).
pub fn verify(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_malformed_pins_are_refused() {
        for pin in [
            "1234",
            "0000",
            "1111",
            "4321",
            "9876",
            "0123",
            "12345678",
            "1212",
            "2580",
            "123",
            "123456789",
            "12a4",
            "",
            "676767",
        ] {
            assert!(check_pin(pin).is_err(), "{pin} should be refused");
        }
        for pin in ["1357", "2468", "8203", "7391", "40726", "91827364"] {
            assert!(check_pin(pin).is_ok(), "{pin} should be accepted");
        }
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_secret() {
        let h = hash("8203").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("8203"));
        assert!(verify("8203", &h));
        assert!(!verify("8204", &h));
        assert!(!verify("8203", "not a hash"));
        assert_ne!(hash("8203").unwrap(), h, "salted");
    }
}

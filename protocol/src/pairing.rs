//! The pairing code: how a person compares the clinic's certificate authority (CA) on the server
//! with the one a client is about to trust. It is the SHA-256 of the CA certificate (DER) in
//! base32, cut into four parts of 13 characters, each followed by a check character (Luhn mod
//! 32), and shown as eight groups of seven: `ABCDEFG-HIJKLMN-...`. The server prints it
//! (`clinic-server tls fingerprint`), clients check what their user typed against it.
//!
//! Typing is forgiving: case, spaces and dashes do not matter, and `0`, `1`, `8` are read as
//! `O`, `I`, `B` (base32 has no such digits). A typo is caught by the check characters before
//! any comparison, so "you mistyped" and "this is another server" are told apart.

use sha2::{Digest, Sha256};
use std::fmt;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Base32 characters per part; four parts carry the 52 characters of a SHA-256.
const PART: usize = 13;
const PARTS: usize = 4;
/// Characters of a whole code without separators: four parts, each with its check character.
pub const CODE_CHARS: usize = PARTS * (PART + 1);
const GROUP: usize = 7;

/// A well-formed pairing code (check characters verified).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairingCode(String);

/// Why a typed code is not a pairing code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error(
        "A pairing code has {CODE_CHARS} letters and digits (eight groups of seven); this one has {0}."
    )]
    Length(usize),
    #[error("A pairing code has only letters A-Z and digits 2-7; {0:?} is not one of them.")]
    Character(char),
    #[error("The pairing code has a typo in group {first} or {last}; please check them.")]
    Typo { first: usize, last: usize },
}

impl PairingCode {
    /// The code of a CA certificate given as DER bytes.
    pub fn of_certificate(der: &[u8]) -> Self {
        let digest = Sha256::digest(der);
        let base32 = base32(&digest);
        let mut code = String::with_capacity(CODE_CHARS);
        for part in base32.as_bytes().chunks(PART) {
            code.extend(part.iter().map(|&b| char::from(b)));
            code.push(char::from(ALPHABET[luhn32(part)]));
        }
        Self(code)
    }

    /// Reads what a person typed or pasted.
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let mut code = String::with_capacity(CODE_CHARS);
        for c in text.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                '0' => 'O',
                '1' => 'I',
                '8' => 'B',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(CodeError::Character(c));
            }
            code.push(c);
        }
        if code.len() != CODE_CHARS {
            return Err(CodeError::Length(code.len()));
        }
        for (index, part) in code.as_bytes().chunks(PART + 1).enumerate() {
            let (body, check) = part.split_at(PART);
            if ALPHABET[luhn32(body)] != check[0] {
                // Part `index` spans the groups `2 * index + 1` and `2 * index + 2`.
                return Err(CodeError::Typo {
                    first: 2 * index + 1,
                    last: 2 * index + 2,
                });
            }
        }
        Ok(Self(code))
    }

    /// The code without separators.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Eight groups of seven, separated by dashes.
impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.0.as_bytes().chunks(GROUP).enumerate() {
            if index > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The Luhn mod 32 check character (as an alphabet index) of base32 characters.
fn luhn32(part: &[u8]) -> usize {
    let mut factor = 1;
    let mut sum = 0;
    for &c in part {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap_or(0);
        let addend = factor * value;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    (32 - sum % 32) % 32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn codes_round_trip_and_forgive_typing() {
        let code = PairingCode::of_certificate(b"a certificate");
        let shown = code.to_string();
        assert_eq!(shown.len(), CODE_CHARS + 7);
        assert_eq!(shown.split('-').count(), 8);
        assert_eq!(PairingCode::parse(&shown).unwrap(), code);
        let sloppy = shown.to_lowercase().replace('-', " ").replace('O', "0");
        assert_eq!(PairingCode::parse(&sloppy).unwrap(), code);
    }

    #[test]
    fn typos_and_wrong_lengths_are_caught() {
        let code = PairingCode::of_certificate(b"a certificate").to_string();
        let mut chars: Vec<char> = code.chars().collect();
        // Change one character of the second group.
        chars[9] = if chars[9] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(
            PairingCode::parse(&typo),
            Err(CodeError::Typo { first: 1, last: 2 })
        );
        assert_eq!(PairingCode::parse("ABC"), Err(CodeError::Length(3)));
        assert_eq!(PairingCode::parse("AB9"), Err(CodeError::Character('9')));
    }

    #[test]
    fn swapped_neighbours_are_caught() {
        let code = PairingCode::of_certificate(b"another certificate").to_string();
        let mut chars: Vec<char> = code.chars().collect();
        let i = chars
            .windows(2)
            .position(|w| w[0] != w[1] && w[0] != '-' && w[1] != '-')
            .unwrap();
        chars.swap(i, i + 1);
        let swapped: String = chars.into_iter().collect();
        assert!(PairingCode::parse(&swapped).is_err());
    }
}

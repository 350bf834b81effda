//! Attachments at rest: the copies of files sent and received are kept sealed under a key
//! derived from the cache's (XChaCha20-Poly1305 in the STREAM construction: chunks of 64 KiB,
//! each authenticated, the last one marked so a cut file is told from a whole one). A file is
//! read back only through here: for an upload, a preview, or a copy handed to a viewer.

use crate::error::{ClientError, Result};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use rand::RngCore;
use std::io::{Read, Write};
use std::path::Path;

/// What a sealed file starts with (the format's version is its last byte).
const MAGIC: &[u8; 8] = b"clinicF1";
/// The random nonce of a file's stream: XChaCha's 24 bytes less the STREAM counter's 5.
const NONCE: usize = 19;
/// A sealed file's header: [`MAGIC`] then its nonce.
pub(crate) const HEADER: usize = MAGIC.len() + NONCE;
/// Plaintext bytes per chunk.
pub(crate) const CHUNK: usize = 64 * 1024;
/// What each chunk gains sealed (its Poly1305 tag).
const TAG: usize = 16;

/// The key of a cache's attachments. Never printed.
#[derive(Clone)]
pub struct FilesKey(chacha20poly1305::Key);

impl FilesKey {
    /// Derived from the cache's key (HKDF-SHA256), so the one key in the credential store
    /// opens both and losing it loses both; a separate purpose, so neither use weakens the other.
    pub(crate) fn derive(cache_key: &[u8; 32]) -> Self {
        let mut key = chacha20poly1305::Key::default();
        hkdf::Hkdf::<sha2::Sha256>::new(None, cache_key)
            .expand(b"clinic: attachments at rest, v1", &mut key)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        Self(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0)
    }
}

impl std::fmt::Debug for FilesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FilesKey(..)")
    }
}

/// A local copy that does not open: damaged, cut, or sealed under another key (another
/// account's, or this account's before its cache was reset).
fn unreadable() -> ClientError {
    ClientError::Invalid(
        "this computer's copy of the file cannot be read (it is damaged or was kept under \
         another key)"
            .into(),
    )
}

/// Seals bytes as they come: [`Sealer::header`] first, then what [`Sealer::push`] and
/// [`Sealer::finish`] return, in that order.
pub(crate) struct Sealer {
    stream: EncryptorBE32<XChaCha20Poly1305>,
    header: [u8; HEADER],
    pending: Vec<u8>,
}

impl Sealer {
    pub(crate) fn new(key: &FilesKey) -> Self {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut header = [0u8; HEADER];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()..].copy_from_slice(&nonce);
        Self {
            stream: EncryptorBE32::from_aead(key.cipher(), (&nonce).into()),
            header,
            pending: Vec::with_capacity(CHUNK),
        }
    }

    pub(crate) fn header(&self) -> &[u8] {
        &self.header
    }

    /// The sealed chunks `bytes` completes (none until more than a chunk is waiting: the last
    /// chunk is sealed as the last, by `finish`).
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            if self.pending.len() == CHUNK {
                let sealed = self
                    .stream
                    .encrypt_next(self.pending.as_slice())
                    .map_err(|_| ClientError::Invalid("a file could not be sealed".into()))?;
                out.extend_from_slice(&sealed);
                self.pending.clear();
            }
            let take = bytes.len().min(CHUNK - self.pending.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        Ok(out)
    }

    /// The last chunk (possibly empty).
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        self.stream
            .encrypt_last(self.pending.as_slice())
            .map_err(|_| ClientError::Invalid("a file could not be sealed".into()))
    }
}

/// Writes what `source` holds sealed into `out`.
pub(crate) fn seal(key: &FilesKey, source: &mut impl Read, out: &mut impl Write) -> Result<()> {
    let mut sealer = Sealer::new(key);
    out.write_all(sealer.header())?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        out.write_all(&sealer.push(&buf[..n])?)?;
    }
    out.write_all(&sealer.finish()?)?;
    Ok(())
}

/// The plaintext's length of a sealed file of `sealed` bytes; `None` when no sealed file has
/// that length.
pub(crate) fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER as u64)?;
    let whole = (CHUNK + TAG) as u64;
    let chunks = body.div_ceil(whole).max(1);
    body.checked_sub(chunks * TAG as u64)
}

/// Opens a sealed file's chunks in order, given its header and its length.
pub(crate) struct Opener {
    stream: Option<DecryptorBE32<XChaCha20Poly1305>>,
    /// Sealed bytes not yet opened.
    left: u64,
}

impl Opener {
    pub(crate) fn new(key: &FilesKey, header: &[u8; HEADER], sealed_len: u64) -> Result<Self> {
        if &header[..MAGIC.len()] != MAGIC || plain_len(sealed_len).is_none() {
            return Err(unreadable());
        }
        let nonce: &[u8; NONCE] = header[MAGIC.len()..].try_into().map_err(|_| unreadable())?;
        Ok(Self {
            stream: Some(DecryptorBE32::from_aead(key.cipher(), nonce.into())),
            left: sealed_len - HEADER as u64,
        })
    }

    /// How many bytes the next sealed chunk has; `None` after the last.
    pub(crate) fn next_len(&self) -> Option<usize> {
        self.stream.as_ref()?;
        Some(usize::try_from(self.left.min((CHUNK + TAG) as u64)).unwrap_or(CHUNK + TAG))
    }

    /// The plaintext of the next chunk (`sealed` being [`Opener::next_len`] bytes). One that
    /// does not open ends the stream.
    pub(crate) fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        let last = self.left <= (CHUNK + TAG) as u64;
        self.left = self.left.saturating_sub(sealed.len() as u64);
        let mut stream = self.stream.take().ok_or_else(unreadable)?;
        let opened = if last {
            stream.decrypt_last(sealed)
        } else {
            let opened = stream.decrypt_next(sealed);
            if opened.is_ok() {
                self.stream = Some(stream);
            }
            opened
        };
        opened.map_err(|_| unreadable())
    }

    /// Ends the stream (a chunk could not be read).
    pub(crate) fn stop(&mut self) {
        self.stream = None;
    }
}

fn opener_of(key: &FilesKey, file: &mut std::fs::File) -> Result<Opener> {
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER];
    match file.read_exact(&mut header) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(unreadable()),
        other => other.map_err(ClientError::from),
    }?;
    Opener::new(key, &header, len)
}

/// Streams the plaintext of the sealed file at `path` into `out`, chunk by chunk (a chunk that
/// does not open stops it with an error: `out` then holds a part and is the caller's to drop).
pub(crate) fn open_into(key: &FilesKey, path: &Path, out: &mut impl Write) -> Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut opener = opener_of(key, &mut file)?;
    let mut buf = vec![0u8; CHUNK + TAG];
    while let Some(n) = opener.next_len() {
        file.read_exact(&mut buf[..n]).map_err(|_| unreadable())?;
        out.write_all(&opener.open(&buf[..n])?)?;
    }
    Ok(())
}

/// The whole plaintext of the sealed file at `path`, if it has at most `at_most` bytes.
pub(crate) fn read(key: &FilesKey, path: &Path, at_most: u64) -> Result<Option<Vec<u8>>> {
    let len = std::fs::metadata(path)?.len();
    if plain_len(len).is_none_or(|n| n > at_most) {
        return Ok(None);
    }
    let mut out = Vec::new();
    open_into(key, path, &mut out)?;
    Ok(Some(out))
}

/// True when the file at `path` starts as a file sealed under `key` does (its first chunk
/// opens): a copy worth keeping. Not a check of the whole file (each chunk is checked as it is
/// read).
pub(crate) fn opens(key: &FilesKey, path: &Path) -> bool {
    let first = || -> Result<()> {
        let mut file = std::fs::File::open(path)?;
        let mut opener = opener_of(key, &mut file)?;
        let n = opener.next_len().ok_or_else(unreadable)?;
        let mut buf = vec![0u8; n];
        file.read_exact(&mut buf).map_err(|_| unreadable())?;
        opener.open(&buf).map(drop)
    };
    first().is_ok()
}

/// True when the file at `path` begins as a sealed file does (an older version's copies are
/// plain files).
pub(crate) fn looks_sealed(path: &Path) -> std::io::Result<bool> {
    let mut start = [0u8; MAGIC.len()];
    match std::fs::File::open(path)?.read_exact(&mut start) {
        Ok(()) => Ok(&start == MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> FilesKey {
        FilesKey::derive(&[byte; 32])
    }

    fn sealed(key: &FilesKey, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal(key, &mut &plain[..], &mut out).expect("seal");
        out
    }

    fn opened(key: &FilesKey, sealed: &[u8]) -> Result<Vec<u8>> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        std::fs::write(&path, sealed).expect("write");
        let mut out = Vec::new();
        open_into(key, &path, &mut out).map(|()| out)
    }

    #[test]
    fn files_of_every_length_come_back_as_they_were() {
        let k = key(1);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let s = sealed(&k, &plain);
            assert_eq!(plain_len(s.len() as u64), Some(len as u64), "{len}");
            assert_eq!(opened(&k, &s).expect("opens"), plain, "{len}");
            if len >= 16 {
                let on_disk = s.windows(16).any(|w| w == &plain[..16]);
                assert!(!on_disk, "{len}: the plaintext is on disk");
            }
        }
    }

    #[test]
    fn the_same_file_sealed_twice_differs() {
        let k = key(1);
        assert_ne!(sealed(&k, b"scan"), sealed(&k, b"scan"));
    }

    /// What does not open is refused, never returned in part as if whole.
    #[test]
    fn cut_altered_or_foreign_files_do_not_open() {
        let k = key(1);
        let plain = vec![7u8; 2 * CHUNK + 5];
        let s = sealed(&k, &plain);
        assert!(opened(&key(2), &s).is_err(), "another key");
        let whole_chunks = HEADER + 2 * (CHUNK + TAG);
        assert!(
            opened(&k, &s[..whole_chunks]).is_err(),
            "the last chunk cut off"
        );
        assert!(opened(&k, &s[..s.len() - 1]).is_err(), "one byte short");
        let mut flipped = s.clone();
        flipped[HEADER + CHUNK + TAG + 3] ^= 1;
        assert!(opened(&k, &flipped).is_err(), "a bit changed");
        let mut swapped = s.clone();
        swapped.copy_within(HEADER..HEADER + CHUNK + TAG, HEADER + CHUNK + TAG);
        assert!(opened(&k, &swapped).is_err(), "chunks reordered");
        assert!(opened(&k, b"%PDF-1.4 plain").is_err(), "a plain file");
        assert!(opened(&k, b"").is_err(), "empty");
    }

    #[test]
    fn a_copy_opens_with_its_own_key_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        std::fs::write(&path, sealed(&key(1), b"lab results")).expect("write");
        assert!(opens(&key(1), &path) && !opens(&key(2), &path));
        assert!(looks_sealed(&path).expect("read"));
        assert_eq!(
            read(&key(1), &path, 100).expect("read"),
            Some(b"lab results".to_vec())
        );
        assert_eq!(
            read(&key(1), &path, 3).expect("read"),
            None,
            "over the limit"
        );
        std::fs::write(&path, b"plain").expect("write");
        assert!(!looks_sealed(&path).expect("read") && !opens(&key(1), &path));
    }
}

//! Attachments at rest: the copies of files sent and received are kept sealed under a key
//! derived from the cache's (XChaCha20-Poly1305 in the STREAM construction: chunks of 64 KiB,
//! each authenticated, the last one marked so a cut file is told from a whole one, and bound to
//! the copy's place in the profile so one copy cannot pass for another). A file is read back
//! only through here: for an upload, a preview, or a copy handed to a viewer.

use crate::error::{ClientError, Result};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::KeyInit;
use chacha20poly1305::aead::Payload;
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

/// The key of a cache's attachments. Never printed; zeroed in memory when dropped (as the
/// cipher made from it zeroes its own copy).
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct FilesKey([u8; 32]);

impl FilesKey {
    /// Derived from the cache's key (HKDF-SHA256), so the one key in the credential store
    /// opens both and losing it loses both; a separate purpose, so neither use weakens the other.
    pub(crate) fn derive(cache_key: &[u8; 32]) -> Self {
        let mut key = Self([0; 32]);
        hkdf::Hkdf::<sha2::Sha256>::new(None, cache_key)
            .expand(b"clinic: attachments at rest, v1", &mut key.0)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
        key
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0))
    }
}

impl std::fmt::Debug for FilesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FilesKey(..)")
    }
}

fn unreadable() -> ClientError {
    ClientError::CopyUnreadable
}

/// What binds a sealed copy to its place: the last three parts of its path (`sent/<clientId>/
/// <name>`, `received/<hash>/<name>`), authenticated with every chunk, so a copy moved or
/// swapped into another's place does not open there.
pub(crate) fn place_of(path: &Path) -> Vec<u8> {
    let parts: Vec<_> = path.components().rev().take(3).collect();
    let mut place = Vec::new();
    for part in parts.iter().rev() {
        if !place.is_empty() {
            place.push(b'/');
        }
        place.extend_from_slice(part.as_os_str().as_encoded_bytes());
    }
    place
}

/// Seals bytes as they come: [`Sealer::header`] first, then what [`Sealer::push`] and
/// [`Sealer::finish`] return, in that order.
pub(crate) struct Sealer {
    stream: EncryptorBE32<XChaCha20Poly1305>,
    header: [u8; HEADER],
    pending: Vec<u8>,
    place: Vec<u8>,
}

impl Sealer {
    /// A sealer for the copy that will be kept at `place` ([`place_of`] its path).
    pub(crate) fn new(key: &FilesKey, place: Vec<u8>) -> Self {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut header = [0u8; HEADER];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()..].copy_from_slice(&nonce);
        Self {
            stream: EncryptorBE32::from_aead(key.cipher(), (&nonce).into()),
            header,
            pending: Vec::with_capacity(CHUNK),
            place,
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
                let chunk = Payload {
                    msg: &self.pending,
                    aad: &self.place,
                };
                let sealed = self
                    .stream
                    .encrypt_next(chunk)
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
        let chunk = Payload {
            msg: &self.pending,
            aad: &self.place,
        };
        self.stream
            .encrypt_last(chunk)
            .map_err(|_| ClientError::Invalid("a file could not be sealed".into()))
    }
}

/// Writes what `source` holds into `out`, sealed for the copy at `place` ([`place_of`]).
pub(crate) fn seal(
    key: &FilesKey,
    place: Vec<u8>,
    source: &mut impl Read,
    out: &mut impl Write,
) -> Result<()> {
    let mut sealer = Sealer::new(key, place);
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
/// that length (its last chunk would be shorter than a tag).
pub(crate) fn plain_len(sealed: u64) -> Option<u64> {
    let body = sealed.checked_sub(HEADER as u64)?;
    let whole = (CHUNK + TAG) as u64;
    if body == 0 || (1..TAG as u64).contains(&(body % whole)) {
        return None;
    }
    let chunks = body.div_ceil(whole);
    Some(body - chunks * TAG as u64)
}

/// Opens a sealed file's chunks in order, given its header and its length.
pub(crate) struct Opener {
    stream: Option<DecryptorBE32<XChaCha20Poly1305>>,
    /// Sealed bytes not yet opened.
    left: u64,
    place: Vec<u8>,
}

impl Opener {
    /// An opener of the copy at `path`, given its header and length.
    pub(crate) fn new(
        key: &FilesKey,
        path: &Path,
        header: &[u8; HEADER],
        sealed_len: u64,
    ) -> Result<Self> {
        if &header[..MAGIC.len()] != MAGIC || plain_len(sealed_len).is_none() {
            return Err(unreadable());
        }
        let nonce: &[u8; NONCE] = header[MAGIC.len()..].try_into().map_err(|_| unreadable())?;
        Ok(Self {
            stream: Some(DecryptorBE32::from_aead(key.cipher(), nonce.into())),
            left: sealed_len - HEADER as u64,
            place: place_of(path),
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
        let chunk = Payload {
            msg: sealed,
            aad: &self.place,
        };
        let opened = if last {
            stream.decrypt_last(chunk)
        } else {
            let opened = stream.decrypt_next(chunk);
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

/// Opens the copy at `path` for reading if it is a regular file: a link (planted, or left by
/// anything but this app) is never followed to a file elsewhere.
pub(crate) fn open_copy(path: &Path) -> Result<std::fs::File> {
    if !std::fs::symlink_metadata(path)?.is_file() {
        return Err(unreadable());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Also a link swapped in after the look above.
        options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    Ok(options.open(path)?)
}

fn opener_of(key: &FilesKey, path: &Path, file: &mut std::fs::File) -> Result<Opener> {
    let len = file.metadata()?.len();
    let mut header = [0u8; HEADER];
    match file.read_exact(&mut header) {
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(unreadable()),
        other => other.map_err(ClientError::from),
    }?;
    Opener::new(key, path, &header, len)
}

/// Streams the plaintext of the sealed file at `path` into `out`, chunk by chunk (a chunk that
/// does not open stops it with an error: `out` then holds a part and is the caller's to drop).
pub(crate) fn open_into(key: &FilesKey, path: &Path, out: &mut impl Write) -> Result<()> {
    let mut file = open_copy(path)?;
    let mut opener = opener_of(key, path, &mut file)?;
    let mut buf = vec![0u8; CHUNK + TAG];
    while let Some(n) = opener.next_len() {
        file.read_exact(&mut buf[..n]).map_err(|_| unreadable())?;
        out.write_all(&opener.open(&buf[..n])?)?;
    }
    Ok(())
}

/// The whole plaintext of the sealed file at `path`, if it has at most `at_most` bytes.
pub(crate) fn read(key: &FilesKey, path: &Path, at_most: u64) -> Result<Option<Vec<u8>>> {
    let len = open_copy(path)?.metadata()?.len();
    if plain_len(len).ok_or_else(unreadable)? > at_most {
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
        let mut file = open_copy(path)?;
        let mut opener = opener_of(key, path, &mut file)?;
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

    #[test]
    fn keys_are_zeroed_in_memory_when_dropped() {
        // Checked by the compiler: each zeroes itself in its `Drop`.
        fn zeroed_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroed_on_drop::<FilesKey>();
        zeroed_on_drop::<crate::cache::CacheKey>();
        zeroed_on_drop::<XChaCha20Poly1305>();
        // And the zeroing reaches the key's bytes.
        let mut files = key(7);
        assert_ne!(files.0, [0; 32]);
        zeroize::Zeroize::zeroize(&mut files);
        assert_eq!(files.0, [0; 32]);
    }

    /// Where the tests' copies are kept (the place they are sealed for).
    const PLACE: &str = "received/ab12/scan.pdf";

    fn sealed(key: &FilesKey, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        seal(key, PLACE.as_bytes().to_vec(), &mut &plain[..], &mut out).expect("seal");
        out
    }

    /// `bytes` kept at `place` under a fresh folder.
    fn kept(place: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(place);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(&path, bytes).expect("write");
        (dir, path)
    }

    fn opened(key: &FilesKey, sealed: &[u8]) -> Result<Vec<u8>> {
        let (_dir, path) = kept(PLACE, sealed);
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

    /// No length a sealed file cannot have passes for one.
    #[test]
    fn lengths_no_sealed_file_has_are_refused() {
        let whole = CHUNK + TAG;
        for len in [0, HEADER, HEADER + 1, HEADER + TAG - 1, HEADER + whole + 5] {
            assert_eq!(plain_len(len as u64), None, "{len}");
            assert!(opened(&key(1), &vec![0u8; len]).is_err(), "{len}");
        }
        assert_eq!(plain_len((HEADER + TAG) as u64), Some(0));
        assert_eq!(plain_len((HEADER + whole) as u64), Some(CHUNK as u64));
        assert_eq!(plain_len((HEADER + whole + TAG) as u64), Some(CHUNK as u64));
    }

    /// What does not open is refused, never returned in part as if whole.
    #[test]
    fn cut_altered_reordered_or_foreign_files_do_not_open() {
        let k = key(1);
        let plain: Vec<u8> = (0..2 * CHUNK + 5).map(|i| (i / CHUNK) as u8).collect();
        let s = sealed(&k, &plain);
        let whole = CHUNK + TAG;
        assert!(opened(&key(2), &s).is_err(), "another key");
        assert!(
            opened(&k, &s[..HEADER + 2 * whole]).is_err(),
            "the last chunk cut off"
        );
        assert!(
            opened(&k, &s[..HEADER + whole]).is_err(),
            "cut after the first chunk"
        );
        assert!(opened(&k, &s[..s.len() - 1]).is_err(), "one byte short");
        let mut longer = s.clone();
        longer.extend_from_slice(&s[HEADER..HEADER + whole]);
        assert!(opened(&k, &longer).is_err(), "a chunk added");
        let mut flipped = s.clone();
        flipped[HEADER + whole + 3] ^= 1;
        assert!(opened(&k, &flipped).is_err(), "a bit changed");
        let mut swapped = s[..HEADER].to_vec();
        swapped.extend_from_slice(&s[HEADER + whole..HEADER + 2 * whole]);
        swapped.extend_from_slice(&s[HEADER..HEADER + whole]);
        swapped.extend_from_slice(&s[HEADER + 2 * whole..]);
        assert_eq!(swapped.len(), s.len());
        assert!(opened(&k, &swapped).is_err(), "two chunks swapped");
        assert!(opened(&k, b"%PDF-1.4 plain").is_err(), "a plain file");
        assert!(opened(&k, b"").is_err(), "empty");
    }

    /// A copy moved into another's place does not open there.
    #[test]
    fn a_copy_opens_in_its_own_place_only() {
        let s = sealed(&key(1), b"lab results");
        let (_dir, moved) = kept("received/cd34/scan.pdf", &s);
        assert!(!opens(&key(1), &moved));
        let (_dir, home) = kept(PLACE, &s);
        assert!(opens(&key(1), &home));
    }

    /// A link in a copy's place is not followed to a sealed file elsewhere.
    #[cfg(unix)]
    #[test]
    fn a_link_in_a_copys_place_is_not_followed() {
        let (_dir, elsewhere) = kept(PLACE, &sealed(&key(1), b"lab results"));
        let profile = tempfile::tempdir().expect("dir");
        let link = profile.path().join(PLACE);
        std::fs::create_dir_all(link.parent().expect("parent")).expect("dirs");
        std::os::unix::fs::symlink(&elsewhere, &link).expect("link");
        assert!(opens(&key(1), &elsewhere) && !opens(&key(1), &link));
        assert!(matches!(
            read(&key(1), &link, 100),
            Err(ClientError::CopyUnreadable)
        ));
    }

    #[test]
    fn a_copy_opens_with_its_own_key_only() {
        let (_dir, path) = kept(PLACE, &sealed(&key(1), b"lab results"));
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
        assert!(
            read(&key(1), &path, 100).is_err(),
            "not a sealed file's length"
        );
    }
}

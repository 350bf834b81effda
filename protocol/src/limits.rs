//! Bounds every peer enforces, shared so that a client can refuse bad input before sending it.

/// Largest WebSocket text frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest message `content`, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024;
/// Largest `clientId`, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// Largest id a peer accepts, in bytes: the server's (a user's, a message's, an emergency's, a
/// file's, a notification's: 32 to 34) and a `clientId` (`MAX_CLIENT_ID_BYTES`) alike.
pub const MAX_ID_BYTES: usize = MAX_CLIENT_ID_BYTES;
/// Largest `fileName`, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// A message that waited on its sender's device for longer than this before the server took
/// it carries `writtenAt`, the time it was written; a shorter wait is a send's ordinary delay.
pub const WRITTEN_APART_MS: u64 = 60 * 1000;
/// The longest wait a `heldMs` may say (a year); a larger one is ignored as no clock's.
pub const MAX_HELD_MS: u64 = 366 * 24 * 3600 * 1000;
/// Largest resolution note of an emergency, in bytes.
pub const MAX_NOTE_BYTES: usize = 2 * 1024;
/// Largest JSON body of a REST request (uploads have their own limit), in bytes.
pub const MAX_JSON_BODY_BYTES: usize = 256 * 1024;
/// Default page size of `GET /api/chat/messages`.
pub const DEFAULT_PAGE: u32 = 50;
/// Largest page of `GET /api/chat/messages`.
pub const MAX_PAGE: u32 = 500;
/// Most message ids in one mark-read or delivered request.
pub const MAX_IDS_PER_REQUEST: usize = 1_000;
/// Default size limit of an uploaded file, in bytes.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 25 * 1024 * 1024;
/// The largest attachment an app sends or fetches, whatever a server announces (a broken or
/// hostile one must not fill a computer's disk with one file).
pub const MAX_ATTACHMENT_BYTES: u64 = 1024 * 1024 * 1024;
/// Default page of `GET /api/sync` and of a `sync` frame.
pub const DEFAULT_SYNC_PAGE: u32 = 200;
/// About the most bytes of messages in one page of `GET /api/sync`, `sync:batch` or `GET
/// /api/chat/messages`: a page of large messages holds fewer than its `limit` (at least one)
/// and says there is more (`hasMore`; a `Link` header with `rel="next"` on history pages).
pub const PAGE_BYTES: usize = 1024 * 1024;
/// Most bytes of a message's `content` carried by an `emergency:alert` (a preview).
pub const ALERT_PREVIEW_BYTES: usize = 1024;
/// Largest reason given for a retraction, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;
/// Defaults of [`crate::MessageWindows`]: patients unsend within 24 h, doctors retract within
/// 15 minutes, edits within 24 h, at most 10 edits per message.
pub const DEFAULT_UNSEND_SECS: u32 = 24 * 3600;
pub const DEFAULT_RETRACT_SECS: u32 = 15 * 60;
pub const DEFAULT_EDIT_SECS: u32 = 24 * 3600;
pub const DEFAULT_MAX_EDITS: u32 = 10;

/// A size in words, in the unit it fills: whole GiB or MiB, or KiB or bytes below one (never
/// "0 MiB"), as the server's refusals and the apps' checks say it.
pub fn size_text(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    // Whole units, or one decimal, cut (10,000,000 bytes is "9.5 MiB", not the "9 MiB" that
    // reads as a tenth less).
    let units = |b: u64, unit: u64, name: &str| {
        if b.is_multiple_of(unit) {
            format!("{} {name}", b / unit)
        } else {
            format!("{:.1} {name}", (b / (unit / 10)) as f64 / 10.0)
        }
    };
    match bytes {
        b if b >= GIB && b.is_multiple_of(GIB) => units(b, GIB, "GiB"),
        b if b >= MIB => units(b, MIB, "MiB"),
        b if b >= KIB => units(b, KIB, "KiB"),
        1 => "1 byte".to_owned(),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::size_text;

    #[test]
    fn a_size_is_said_in_the_unit_it_fills() {
        assert_eq!(size_text(500 * 1024 * 1024), "500 MiB");
        assert_eq!(size_text(1024 * 1024 * 1024), "1 GiB");
        assert_eq!(size_text(1536 * 1024 * 1024), "1536 MiB");
        assert_eq!(size_text(10_000_000), "9.5 MiB");
        assert_eq!(size_text(1500), "1.4 KiB");
        assert_eq!(size_text(64 * 1024), "64 KiB");
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(1000), "1000 bytes");
    }
}

//! Parsing client frames: size first, then JSON, telling unknown events from malformed ones.

use crate::error::ApiError;
use clinic_protocol::{ClientFrame, ErrorCode};

/// Parses one text frame, or says precisely what is wrong with it.
pub(super) fn parse(text: &str, max_bytes: usize) -> Result<ClientFrame, ApiError> {
    if text.len() > max_bytes {
        return Err(ApiError::too_large(format!(
            "frame is over {max_bytes} bytes"
        )));
    }
    serde_json::from_str(text).map_err(|err| {
        let detail = err.to_string();
        // serde's message for a `type` that names no frame; everything else is a bad frame.
        if detail.starts_with("unknown variant") {
            ApiError::new(ErrorCode::UnknownEvent, format!("unknown event: {detail}"))
        } else {
            ApiError::bad_request(format!("malformed frame: {detail}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_unknown_events_from_bad_frames() {
        let unknown = parse(r#"{"type":"nope"}"#, 1000).expect_err("unknown");
        assert_eq!(unknown.code, ErrorCode::UnknownEvent);
        let missing = parse(r#"{"type":"typing:start"}"#, 1000).expect_err("missing fields");
        assert_eq!(missing.code, ErrorCode::BadRequest);
        let junk = parse("{not json", 1000).expect_err("junk");
        assert_eq!(junk.code, ErrorCode::BadRequest);
        let big = parse(&"x".repeat(2000), 1000).expect_err("too large");
        assert_eq!(big.code, ErrorCode::TooLarge);
        assert!(parse(r#"{"type":"sync","since":0}"#, 1000).is_ok());
    }
}

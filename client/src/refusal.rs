//! Why a send is parked, said twice: a stable code for programs (the protocol's error code, or
//! the client's own `file_missing` / `disk_full` / `network`) and a sentence for people. Never a Debug string.

use crate::error::ClientError;
use clinic_protocol::ErrorCode;

/// A parked send's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: String,
    pub sentence: String,
    /// Trying the same thing again later may work (counted, then parked after the limit).
    pub transient: bool,
}

impl Refusal {
    /// The server answered a `message:send` with an `error` frame.
    pub(crate) fn of_send(code: ErrorCode, server_says: &str) -> Self {
        let sentence = match code {
            ErrorCode::Forbidden => {
                format!(
                    "The server does not allow this message ({}).",
                    tidy(server_says)
                )
            }
            ErrorCode::TooLarge => "The message is too long for the server.".to_owned(),
            ErrorCode::NotFound => {
                "The person or the attached file is no longer known to the server.".to_owned()
            }
            ErrorCode::RateLimited => "The server asked us to slow down.".to_owned(),
            ErrorCode::Internal => "The server could not store the message.".to_owned(),
            ErrorCode::Unavailable => "The server is busy or restarting.".to_owned(),
            _ => format!("The server refused the message: {}.", tidy(server_says)),
        };
        Self {
            code: code.as_str().to_owned(),
            sentence,
            transient: code.is_transient(),
        }
    }

    /// An attachment's upload failed.
    pub(crate) fn of_upload(error: &ClientError) -> Self {
        match error {
            ClientError::Server { code, message, .. }
                if !code.is_transient() && *code != ErrorCode::Unauthorized =>
            {
                let sentence = match code {
                    ErrorCode::TooLarge => "The file is larger than the server accepts.".to_owned(),
                    ErrorCode::UnsupportedMediaType => {
                        "The server does not accept this kind of file.".to_owned()
                    }
                    _ => format!("The server refused the file: {}.", tidy(message)),
                };
                Self {
                    code: code.as_str().to_owned(),
                    sentence,
                    transient: false,
                }
            }
            // This computer's disk, not the file: its copy is intact and is sent once there is
            // room (sealing an earlier version's plain copy writes a new one first).
            ClientError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => Self {
                code: "disk_full".to_owned(),
                sentence: "This computer's disk is full, so the file could not be prepared for \
                           sending."
                    .to_owned(),
                transient: true,
            },
            ClientError::Io(_) | ClientError::Invalid(_) | ClientError::CopyUnreadable => Self {
                code: "file_missing".to_owned(),
                sentence: "The file to send can no longer be read on this computer.".to_owned(),
                transient: false,
            },
            ClientError::Server { code, message, .. } => Self {
                code: code.as_str().to_owned(),
                sentence: match code {
                    ErrorCode::RequestTimeout => "The file did not reach the server in time: the \
                                                  connection is slow or keeps stopping."
                        .to_owned(),
                    // Its own words say which limit (the day's allowance, uploads too close
                    // together) and when to try again.
                    ErrorCode::RateLimited => {
                        format!("The server takes no more files for now: {}.", tidy(message))
                    }
                    _ => "The server could not take the file.".to_owned(),
                },
                transient: true,
            },
            _ => Self {
                code: "network".to_owned(),
                sentence: "The file could not be uploaded: the connection failed.".to_owned(),
                transient: true,
            },
        }
    }

    /// The sentence stored on a parked message: what happened and what the user can do.
    pub(crate) fn parked_sentence(&self, attempts: u32) -> String {
        if self.transient && attempts > 1 {
            format!(
                "{} Tried {attempts} times; press Retry to try again.",
                self.sentence
            )
        } else {
            format!("{} Not sent.", self.sentence)
        }
    }
}

/// A server's message, trimmed for a sentence of ours.
fn tidy(text: &str) -> String {
    let trimmed: String = text
        .trim()
        .trim_end_matches('.')
        .chars()
        .take(200)
        .collect();
    if trimmed.is_empty() {
        "no reason given".to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_a_code_and_a_sentence() {
        let r = Refusal::of_send(ErrorCode::Internal, "database is locked");
        assert_eq!(r.code, "internal");
        assert!(r.transient);
        assert_eq!(
            r.parked_sentence(5),
            "The server could not store the message. Tried 5 times; press Retry to try again."
        );
        let r = Refusal::of_send(ErrorCode::Forbidden, "only patients raise emergencies.");
        assert_eq!((r.code.as_str(), r.transient), ("forbidden", false));
        assert_eq!(
            r.parked_sentence(1),
            "The server does not allow this message (only patients raise emergencies). Not sent."
        );
        let quiet = Refusal::of_upload(&ClientError::Server {
            status: 408,
            code: ErrorCode::RequestTimeout,
            message: "the request body did not arrive in time; send it again".into(),
        });
        assert_eq!(
            (quiet.code.as_str(), quiet.transient),
            ("request_timeout", true)
        );
        assert_eq!(
            quiet.parked_sentence(5),
            "The file did not reach the server in time: the connection is slow or keeps \
             stopping. Tried 5 times; press Retry to try again."
        );
        let spent = Refusal::of_upload(&ClientError::Server {
            status: 429,
            code: ErrorCode::RateLimited,
            message: "over your upload allowance of 500 MiB a day; try again later".into(),
        });
        assert_eq!(
            spent.parked_sentence(5),
            "The server takes no more files for now: over your upload allowance of 500 MiB a \
             day; try again later. Tried 5 times; press Retry to try again."
        );
        let missing = Refusal::of_upload(&ClientError::Io(std::io::Error::other("gone")));
        assert_eq!(missing.code, "file_missing");
        assert!(!missing.sentence.contains("Io"), "never Debug output");
        let damaged = Refusal::of_upload(&ClientError::CopyUnreadable);
        assert_eq!(
            (damaged.code.as_str(), damaged.transient),
            ("file_missing", false)
        );
        let full = Refusal::of_upload(&ClientError::Io(std::io::ErrorKind::StorageFull.into()));
        assert_eq!((full.code.as_str(), full.transient), ("disk_full", true));
        assert_eq!(
            full.parked_sentence(5),
            "This computer's disk is full, so the file could not be prepared for sending. Tried \
             5 times; press Retry to try again."
        );
    }
}

//! Snapshot tests of every wire type: a change to the JSON contract shows up as a snapshot diff.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use clinic_protocol::rest::{
    AvailabilityBody, EmergenciesQuery, EmergencyDetail, Health, LoginRequest, LoginResponse,
    MarkNotificationsReadRequest, MarkReadRequest, MarkReadResponse, MessagesQuery,
    NotificationsQuery, Purge, Ready, ResolveRequest, SearchHit, SearchPage, SearchParams, Snippet,
    SyncPage, SyncQuery, UploadResponse,
};
use clinic_protocol::ws::Availability;
use clinic_protocol::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

fn key() -> ConversationKey {
    ConversationKey::new("u-pat-1", "u-doc-1")
}

fn user() -> User {
    User {
        id: "u-pat-1".into(),
        username: "alice".into(),
        name: "Alice Patient".into(),
        role: Role::Patient,
    }
}

fn message() -> Message {
    Message {
        id: "m-1".into(),
        seq: Seq(42),
        client_id: "c-1".into(),
        patient_id: "u-pat-1".into(),
        doctor_id: "u-doc-1".into(),
        sender_id: "u-pat-1".into(),
        content: "My chest hurts".into(),
        message_type: MessageType::Emergency,
        status: MessageStatus::Delivered,
        file_url: Some("/api/files/f-1".into()),
        file_name: Some("ecg.pdf".into()),
        file_size: Some(1234),
        file_type: Some("application/pdf".into()),
        is_emergency: true,
        resolved_at: None,
        created_at: t(0),
        updated_at: t(5),
        delivered_at: Some(t(5)),
        read_at: None,
        retracted: None,
        edited: None,
        written_at: None,
    }
}

fn emergency() -> Emergency {
    Emergency {
        id: "e-1".into(),
        message_id: "m-1".into(),
        patient_id: "u-pat-1".into(),
        patient_name: "Alice Patient".into(),
        doctor_id: "u-doc-1".into(),
        state: EmergencyState::Acknowledged,
        raised_at: t(0),
        written_at: None,
        reopened_at: None,
        escalated_at: None,
        alerted_at: Some(t(1)),
        alerted_doctors: 2,
        acknowledged_by: Some("u-doc-2".into()),
        acknowledged_by_name: Some("Dr. Bob".into()),
        acknowledged_at: Some(t(30)),
        resolved_by: None,
        resolved_by_name: None,
        resolved_at: None,
        resolution_note: None,
    }
}

fn notification() -> Notification {
    Notification {
        id: "n-1".into(),
        user_id: "u-doc-1".into(),
        kind: NotificationKind::NewMessage,
        title: "New message from Alice Patient".into(),
        body: "My chest hurts".into(),
        message_id: Some("m-1".into()),
        patient_id: Some("u-pat-1".into()),
        doctor_id: Some("u-doc-1".into()),
        read: false,
        created_at: t(0),
    }
}

fn contact() -> Contact {
    Contact {
        id: "u-pat-1".into(),
        username: "alice".into(),
        name: "Alice Patient".into(),
        role: Role::Patient,
        date_of_birth: NaiveDate::from_ymd_opt(1980, 5, 17),
        age: Some(46),
        blood_group: Some("A+".into()),
        online: true,
        availability: None,
    }
}

fn new_message() -> NewMessage {
    NewMessage {
        client_id: Some("c-1".into()),
        patient_id: "u-pat-1".into(),
        doctor_id: "u-doc-1".into(),
        content: "Hello doctor".into(),
        is_emergency: false,
        file_url: None,
        file_name: None,
        held_ms: None,
    }
}

fn sync_page() -> SyncPage {
    SyncPage {
        messages: vec![message()],
        emergencies: vec![emergency()],
        purges: vec![Purge {
            patient_id: "u-pat-2".into(),
            doctor_id: "u-doc-1".into(),
            up_to_seq: Seq(12),
            purged_at: t(1_900_000_000),
            emergency_ids: vec!["e-7".into()],
        }],
        cursor: Seq(43),
        has_more: false,
    }
}

#[test]
fn client_frames() {
    let frames = vec![
        ClientFrame::Authenticate {
            token: "tok".into(),
        },
        ClientFrame::JoinChat(key()),
        ClientFrame::LeaveChat(key()),
        ClientFrame::MessageSend(new_message()),
        ClientFrame::TypingStart(key()),
        ClientFrame::TypingStop(key()),
        ClientFrame::MessageRead {
            message_id: "m-1".into(),
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
        },
        ClientFrame::MessageDelivered {
            message_ids: vec!["m-1".into()],
        },
        ClientFrame::Sync {
            since: Seq(41),
            limit: None,
        },
        ClientFrame::Sync {
            since: Seq(41),
            limit: Some(100),
        },
        ClientFrame::EmergencyAcknowledge {
            emergency_id: "e-1".into(),
        },
        ClientFrame::EmergencyResolve {
            emergency_id: "e-1".into(),
            note: Some("Called an ambulance".into()),
        },
        ClientFrame::PresenceSet {
            availability: Availability::DoNotDisturb,
        },
    ];
    for frame in &frames {
        let json = serde_json::to_string(frame).expect("serialize");
        let back: ClientFrame = serde_json::from_str(&json).expect("round trip");
        assert_eq!(&back, frame);
    }
    insta::assert_json_snapshot!(frames);
}

#[test]
fn server_frames() {
    let frames = vec![
        ServerFrame::Authenticated {
            user: user(),
            online_users: vec!["u-doc-1".into()],
            availability: None,
            clinic: None,
            lock_policy: None,
        },
        ServerFrame::Authenticated {
            user: user(),
            online_users: vec![],
            availability: Some(Availability::DoNotDisturb),
            clinic: Some(clinic_protocol::ClinicInfo {
                emergency_phone: Some("+44 20 7946 0000".into()),
                emergency_repeat_secs: 30,
                message_windows: None,
                max_upload_bytes: Some(25 * 1024 * 1024),
            }),
            lock_policy: Some(clinic_protocol::LockPolicy {
                shared_idle_secs: 300,
                personal_idle_secs: 900,
            }),
        },
        ServerFrame::AvailabilityChanged {
            availability: Availability::Available,
        },
        ServerFrame::ChatJoined(key()),
        ServerFrame::ChatLeft(key()),
        ServerFrame::MessageReceived { message: message() },
        ServerFrame::MessageAck {
            client_id: "c-1".into(),
            message: message(),
        },
        ServerFrame::TypingStarted {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            user_id: "u-doc-1".into(),
        },
        ServerFrame::TypingStopped {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            user_id: "u-doc-1".into(),
        },
        ServerFrame::MessageReadConfirmed {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            message_ids: vec!["m-1".into()],
            reader_id: "u-doc-1".into(),
            read_at: t(60),
        },
        ServerFrame::MessageDeliveredConfirmed {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            message_ids: vec!["m-1".into()],
            recipient_id: "u-doc-1".into(),
            delivered_at: t(5),
        },
        ServerFrame::UserOnline {
            user_id: "u-doc-1".into(),
        },
        ServerFrame::UserOffline {
            user_id: "u-doc-1".into(),
        },
        ServerFrame::UserAvailability {
            user_id: "u-doc-1".into(),
            availability: Availability::DoNotDisturb,
        },
        ServerFrame::EmergencyAlert {
            emergency: emergency(),
            message: message(),
            repeat: 2,
            escalated: true,
            truncated: false,
        },
        ServerFrame::EmergencyAlert {
            emergency: emergency(),
            message: message(),
            repeat: 0,
            escalated: false,
            truncated: true,
        },
        ServerFrame::EmergencyUpdated {
            emergency: emergency(),
        },
        ServerFrame::Notification {
            notification: notification(),
        },
        ServerFrame::SyncBatch(sync_page()),
        ServerFrame::ConversationPurged(sync_page().purges.remove(0)),
        ServerFrame::error(
            ErrorCode::Forbidden,
            "not a participant of this conversation",
        ),
        ServerFrame::Error {
            code: ErrorCode::TooLarge,
            message: "content over 16384 bytes".into(),
            client_id: Some("c-2".into()),
        },
    ];
    for frame in &frames {
        let json = serde_json::to_string(frame).expect("serialize");
        let back: ServerFrame = serde_json::from_str(&json).expect("round trip");
        assert_eq!(&back, frame);
    }
    insta::assert_json_snapshot!(frames);
}

#[test]
fn rest_bodies() {
    insta::assert_json_snapshot!(
        "patients_query",
        rest::PatientsQuery {
            q: "alice".into(),
            limit: Some(20),
        }
    );
    insta::assert_json_snapshot!(
        "start_conversation_request",
        rest::StartConversationRequest {
            patient_id: "u-pat-1".into(),
        }
    );
    insta::assert_json_snapshot!("contact_on_do_not_disturb", {
        let mut doctor = contact();
        doctor.role = Role::Doctor;
        doctor.date_of_birth = None;
        doctor.age = None;
        doctor.blood_group = None;
        doctor.availability = Some(Availability::DoNotDisturb);
        doctor
    });
    insta::assert_json_snapshot!(
        "search_params",
        SearchParams {
            q: "amox from:me".into(),
            patient_id: Some("u-pat-1".into()),
            doctor_id: Some("u-doc-1".into()),
            limit: Some(20),
            cursor: Some("41".into()),
            tz_offset_minutes: Some(60),
            order: None,
        }
    );
    insta::assert_json_snapshot!(
        "search_params_by_rank",
        SearchParams {
            q: "amox".into(),
            order: Some(rest::SearchOrder::Rank),
            ..SearchParams::default()
        }
    );
    insta::assert_json_snapshot!(
        "search_page",
        SearchPage {
            results: vec![SearchHit {
                message: message(),
                snippet: Snippet {
                    text: "…the rash is worse".into(),
                    highlights: vec![rest::Highlight { start: 5, end: 9 }],
                },
            }],
            next_cursor: Some("40".into()),
        }
    );
    insta::assert_json_snapshot!(
        "mark_notifications_read_request",
        MarkNotificationsReadRequest {
            ids: vec!["n-1".into()]
        }
    );
    insta::assert_json_snapshot!(
        "notifications_query",
        NotificationsQuery {
            unread_only: Some(true),
            limit: Some(20)
        }
    );
    insta::assert_json_snapshot!("emergencies_query", EmergenciesQuery { open: Some(true) });
    insta::assert_json_snapshot!(
        "emergency_detail",
        EmergencyDetail {
            emergency: emergency(),
            transitions: vec![
                EmergencyTransition {
                    kind: TransitionKind::Raised,
                    actor_id: Some("u-pat-1".into()),
                    actor_name: Some("Alice Patient".into()),
                    devices: None,
                    note: None,
                    at: t(0),
                },
                EmergencyTransition {
                    kind: TransitionKind::Alerted,
                    actor_id: Some("u-doc-2".into()),
                    actor_name: Some("Dr. Bob".into()),
                    devices: Some(2),
                    note: None,
                    at: t(1),
                },
                EmergencyTransition {
                    kind: TransitionKind::Escalated,
                    actor_id: None,
                    actor_name: None,
                    devices: None,
                    note: None,
                    at: t(20),
                },
                EmergencyTransition {
                    kind: TransitionKind::Resolved,
                    actor_id: Some("u-doc-2".into()),
                    actor_name: Some("Dr. Bob".into()),
                    devices: None,
                    note: Some("inhaler, fine now".into()),
                    at: t(60),
                },
            ],
        }
    );
    insta::assert_json_snapshot!(
        "login_request",
        LoginRequest {
            username: "alice".into(),
            password: "secret".into()
        }
    );
    insta::assert_json_snapshot!(
        "login_response",
        LoginResponse {
            token: "tok".into(),
            user: user(),
            expires_at: t(86_400)
        }
    );
    insta::assert_json_snapshot!(
        "messages_query",
        MessagesQuery {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            limit: Some(50),
            before: Some("m-9".into())
        }
    );
    insta::assert_json_snapshot!("new_message", new_message());
    insta::assert_json_snapshot!(
        "mark_read_request",
        MarkReadRequest {
            message_ids: vec!["m-1".into(), "m-2".into()]
        }
    );
    insta::assert_json_snapshot!(
        "mark_read_response",
        MarkReadResponse {
            success: true,
            message_ids: vec!["m-1".into()]
        }
    );
    insta::assert_json_snapshot!(
        "upload_response",
        UploadResponse {
            file_url: "/api/files/f-1".into(),
            file_name: "ecg.pdf".into(),
            size: 1234,
            content_type: "application/pdf".into()
        }
    );
    insta::assert_json_snapshot!(
        "sync_query",
        SyncQuery {
            since: Seq(41),
            limit: Some(500)
        }
    );
    insta::assert_json_snapshot!("sync_page", sync_page());
    insta::assert_json_snapshot!(
        "resolve_request",
        ResolveRequest {
            note: Some("Seen in clinic".into())
        }
    );
    insta::assert_json_snapshot!(
        "health",
        Health {
            status: "ok".into(),
            version: "0.1.0".into()
        }
    );
    insta::assert_json_snapshot!(
        "ready",
        Ready {
            status: "ready".into(),
            version: "0.1.0".into(),
            free_bytes: Some(52_428_800)
        }
    );
    insta::assert_json_snapshot!(
        "error_body",
        ErrorBody::new(ErrorCode::Unauthorized, "invalid username or password")
    );
    insta::assert_json_snapshot!(
        "conversation",
        Conversation {
            patient_id: "u-pat-1".into(),
            doctor_id: "u-doc-1".into(),
            other_party: contact(),
            last_message: Some(message()),
            unread_count: 3,
            has_emergency: true,
            emergency: Some(emergency()),
        }
    );
}

/// A message written offline: the send says how long it waited, the message when it was written.
#[test]
fn a_message_written_offline() {
    insta::assert_json_snapshot!(
        "new_message_held",
        NewMessage {
            held_ms: Some(7_200_000),
            ..new_message()
        }
    );
    insta::assert_json_snapshot!(
        "message_written",
        Message {
            written_at: Some(t(-7_200)),
            ..message()
        }
    );
    insta::assert_json_snapshot!(
        "emergency_written",
        Emergency {
            written_at: Some(t(-120)),
            ..emergency()
        }
    );
    insta::assert_json_snapshot!(
        "emergency_resolved",
        Emergency {
            state: EmergencyState::Resolved,
            resolved_by: Some("u-doc-3".into()),
            resolved_by_name: Some("Dr. Carol".into()),
            resolved_at: Some(t(600)),
            resolution_note: Some("Called her; ambulance not needed.".into()),
            ..emergency()
        }
    );
    insta::assert_json_snapshot!(
        "ready_to_anyone",
        Ready {
            status: "ready".into(),
            version: "0.1.0".into(),
            free_bytes: None
        }
    );
}

#[test]
fn seed_shapes_are_accepted() {
    // A seed-style send without the optional fields, and a lower-case role.
    let frame: ClientFrame = serde_json::from_str(
        r#"{"type":"message:send","clientId":"c-9","patientId":"p","doctorId":"d","content":"hi"}"#,
    )
    .expect("minimal send parses");
    let ClientFrame::MessageSend(m) = frame else {
        panic!("wrong variant")
    };
    assert!(!m.is_emergency);
    assert_eq!(m.file_url, None);
    let role: Role = serde_json::from_str(r#""doctor""#).expect("lower-case role");
    assert_eq!(role, Role::Doctor);
}

#[test]
fn unknown_and_bad_frames_are_errors_not_panics() {
    for bad in [
        r#"{"type":"no:such:event"}"#,
        r#"{"type":"message:send"}"#,
        r#"{"content":"no type"}"#,
        r#"[1,2,3]"#,
        "not json",
    ] {
        assert!(
            serde_json::from_str::<ClientFrame>(bad).is_err(),
            "{bad} should not parse"
        );
    }
    let code: ErrorCode =
        serde_json::from_str(r#""some_future_code""#).expect("unknown code tolerated");
    assert_eq!(code, ErrorCode::Unknown);
}

#[test]
fn availability_body() {
    insta::assert_json_snapshot!(AvailabilityBody {
        availability: Availability::DoNotDisturb,
    });
}

#[test]
fn error_code_names_are_the_wire_names() {
    for code in [
        ErrorCode::BadRequest,
        ErrorCode::UnknownEvent,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::TooLarge,
        ErrorCode::TooLate,
        ErrorCode::StaleVersion,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RequestTimeout,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ] {
        assert_eq!(
            serde_json::to_value(code).expect("json"),
            serde_json::json!(code.as_str())
        );
    }
}

/// Unsend / retract and edit: the frames, bodies, the new message fields and the windows.
#[test]
fn unsend_and_edit() {
    let regular = Message {
        message_type: MessageType::Regular,
        is_emergency: false,
        file_url: None,
        file_name: None,
        file_size: None,
        file_type: None,
        ..message()
    };
    let tombstone = Message {
        content: String::new(),
        retracted: Some(Tombstone {
            by: "u-pat-1".into(),
            at: t(90),
        }),
        updated_at: t(90),
        ..regular.clone()
    };
    let edited = Message {
        content: "My chest hurts a little".into(),
        edited: Some(Edited {
            at: t(80),
            version: 2,
        }),
        updated_at: t(80),
        ..regular
    };
    let client = vec![
        ClientFrame::MessageRetract {
            client_id: "c-r1".into(),
            message_id: "m-1".into(),
            reason: None,
            misdirected: false,
        },
        ClientFrame::MessageRetract {
            client_id: "c-r2".into(),
            message_id: "m-1".into(),
            reason: Some("Sent to the wrong doctor".into()),
            misdirected: true,
        },
        ClientFrame::MessageEdit {
            client_id: "c-e1".into(),
            message_id: "m-1".into(),
            content: "My chest hurts a little".into(),
            base_version: 1,
        },
    ];
    for frame in &client {
        let json = serde_json::to_string(frame).expect("serialize");
        let back: ClientFrame = serde_json::from_str(&json).expect("round trip");
        assert_eq!(&back, frame);
    }
    let server = vec![
        ServerFrame::MessageUpdated {
            message: tombstone.clone(),
            client_id: None,
        },
        ServerFrame::MessageUpdated {
            message: edited.clone(),
            client_id: Some("c-e1".into()),
        },
        ServerFrame::Error {
            code: ErrorCode::TooLate,
            message: "Too late to unsend: that ended at 2026-09-22 14:13 UTC, 24 hours after \
                      it was sent."
                .into(),
            client_id: Some("c-r1".into()),
        },
        ServerFrame::Authenticated {
            user: user(),
            online_users: vec![],
            availability: None,
            clinic: Some(ClinicInfo {
                emergency_phone: None,
                emergency_repeat_secs: 30,
                message_windows: Some(MessageWindows {
                    unsend_secs: 86_400,
                    retract_secs: 900,
                    edit_secs: 86_400,
                    max_edits: 10,
                }),
                max_upload_bytes: None,
            }),
            lock_policy: None,
        },
    ];
    for frame in &server {
        let json = serde_json::to_string(frame).expect("serialize");
        let back: ServerFrame = serde_json::from_str(&json).expect("round trip");
        assert_eq!(&back, frame);
    }
    insta::assert_json_snapshot!("unsend_client_frames", client);
    insta::assert_json_snapshot!("unsend_server_frames", server);
    insta::assert_json_snapshot!(
        "retract_request",
        vec![
            rest::RetractRequest::default(),
            rest::RetractRequest {
                reason: Some("Sent to the wrong patient".into()),
                misdirected: true,
            },
        ]
    );
    insta::assert_json_snapshot!(
        "edit_request",
        rest::EditRequest {
            content: "My chest hurts a little".into(),
            base_version: 1,
        }
    );
    insta::assert_json_snapshot!(
        "message_versions",
        rest::MessageVersions {
            message_id: "m-1".into(),
            versions: vec![
                MessageVersion {
                    version: 1,
                    content: "My chest hurts".into(),
                    at: t(0),
                },
                MessageVersion {
                    version: 2,
                    content: "My chest hurts a little".into(),
                    at: t(80),
                },
            ],
        }
    );
    // A message from an older server (no new fields) is version 1 and stands.
    let old: Message =
        serde_json::from_value(serde_json::to_value(message()).expect("json")).expect("parses");
    assert_eq!((old.version(), old.is_retracted()), (1, false));
    assert_eq!((edited.version(), tombstone.is_retracted()), (2, true));
}

/// The upload limit apps use: the server's, the default from an older server that says none,
/// and never past the apps' own ceiling, whatever a server says.
#[test]
fn the_upload_limit_is_the_servers_within_the_apps_ceiling() {
    use clinic_protocol::limits::{DEFAULT_MAX_UPLOAD_BYTES, MAX_ATTACHMENT_BYTES};
    let older: ClinicInfo =
        serde_json::from_str(r#"{"emergencyPhone":null,"emergencyRepeatSecs":30}"#).expect("parse");
    assert_eq!(older.max_upload_bytes, None);
    assert_eq!(
        ClinicInfo::upload_limit(Some(&older)),
        DEFAULT_MAX_UPLOAD_BYTES
    );
    assert_eq!(ClinicInfo::upload_limit(None), DEFAULT_MAX_UPLOAD_BYTES);
    let with = |bytes| ClinicInfo {
        max_upload_bytes: Some(bytes),
        ..older.clone()
    };
    assert_eq!(ClinicInfo::upload_limit(Some(&with(100 << 20))), 100 << 20);
    assert_eq!(
        ClinicInfo::upload_limit(Some(&with(u64::MAX))),
        MAX_ATTACHMENT_BYTES
    );
}

//! Emergencies raised (schema v27), taken (v28) and resolved (v29) in a batch that logs, against the same
//! commands written directly: the answers, and the rows, transitions, counters, notifications
//! and audit the move leaves.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::config::Synchronous;
use crate::store::messages::{self, Sent};
use crate::store::{projection, users, versions};
use clinic_protocol::rest::EditRequest;
use clinic_protocol::{ClientId, MessageType, MessageWindows, NewMessage};

fn message(patient: &User, doctor: &User, content: &str, is_emergency: bool) -> NewMessage {
    NewMessage {
        client_id: None,
        patient_id: patient.id.clone(),
        doctor_id: doctor.id.clone(),
        content: content.to_owned(),
        is_emergency,
        file_url: None,
        file_name: None,
        held_ms: None,
    }
}

/// A clinic's database in a temporary folder (`clinic.db`) with its writer, whose idle step
/// comes after `idle`; the patient and the first doctor.
fn writing(
    idle: std::time::Duration,
) -> (
    tempfile::TempDir,
    User,
    User,
    crate::store::Writer,
    std::thread::JoinHandle<()>,
) {
    let (dir, conn, patient, doctor, _) = clinic();
    drop(conn);
    let conn = crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
    let (writer, thread) = crate::store::Writer::start_moving_after(conn, 64, 64, idle).unwrap();
    (dir, patient, doctor, writer, thread)
}

/// The patient presses emergency in the doctor's conversation, through the writer (a command
/// that may log): the emergency it raised or joined.
async fn press(
    writer: &crate::store::Writer,
    patient: &User,
    doctor: &User,
    content: &str,
) -> Raised {
    let (patient, new) = (patient.clone(), message(patient, doctor, content, true));
    let id = ClientId::from(format!("c-{content}"));
    writer
        .run_append(move |conn, seqs| {
            let sent = messages::send(conn, seqs, &patient, &new, &id)?;
            Ok::<_, StoreError>(sent.emergency.unwrap())
        })
        .await
        .unwrap()
}

/// The patient presses emergency ("help", clientId "c-1") in the doctor's conversation, in the
/// caller's transaction: the emergency it raised.
fn pressed(conn: &Connection, seqs: &mut Seqs, patient: &User, doctor: &User) -> EmergencyId {
    let help = message(patient, doctor, "help", true);
    let sent = messages::send(conn, seqs, patient, &help, &ClientId::from("c-1")).unwrap();
    sent.emergency.unwrap().emergency.id
}

/// A database with a patient and three doctors (the third, `doc3`, not returned).
fn clinic() -> (tempfile::TempDir, Connection, User, User, User) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
    let patient = users::for_test(&conn, "pat", Role::Patient);
    let doctor = users::for_test(&conn, "doc", Role::Doctor);
    let other = users::for_test(&conn, "doc2", Role::Doctor);
    users::for_test(&conn, "doc3", Role::Doctor);
    (dir, conn, patient, doctor, other)
}

fn user(conn: &Connection, username: &str) -> User {
    users::by_username(conn, username).unwrap().unwrap().user
}

fn lines(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The log's rows in seq order: each one's kind and emergency.
fn log_rows(conn: &Connection) -> Vec<String> {
    lines(
        conn,
        "SELECT concat_ws(' ', kind, coalesce(emergency_id, '-')) FROM event_log ORDER BY seq",
    )
}

/// What a run leaves, without ids and times (each run makes its own; people by username): the
/// messages, the emergencies with the seq of their message, their transitions, the
/// conversations' counters, the stored notifications, the audit trail's actions.
fn left(conn: &Connection) -> Vec<String> {
    let name =
        |column: &str| format!("coalesce((SELECT username FROM users WHERE id = {column}), '-')");
    let mut all = lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', seq, {}, message_type, is_emergency, status, {}, \
             coalesce(notice, '-'), change_seq, resolved_at IS NOT NULL, \
             updated_at = coalesce(resolved_at, created_at)) FROM messages ORDER BY seq",
            name("sender_id"),
            name("recipient_id")
        ),
    );
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', m.seq, e.state, {}, {}, e.change_seq, \
             e.raised_at = m.created_at, coalesce(e.resolution_note, '-'), \
             e.resolved_at IS NOT NULL, e.acknowledged_at IS NOT NULL, \
             e.escalated_at IS NOT NULL, e.alerted_doctors, e.alerted_at IS NOT NULL) \
             FROM emergencies e JOIN messages m ON m.id = e.message_id ORDER BY e.change_seq",
            name("e.acknowledged_by"),
            name("e.resolved_by")
        ),
    ));
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', t.kind, {}, coalesce(t.note, '-'), coalesce(t.devices, '-')) \
             FROM emergency_transitions t ORDER BY t.id",
            name("t.actor_id")
        ),
    ));
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', {}, {}, patient_unread, doctor_unread, patient_notices, \
             doctor_notices) FROM conversations ORDER BY 1",
            name("patient_id"),
            name("doctor_id")
        ),
    ));
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', {}, kind, title, body, read, \
             (SELECT seq FROM messages WHERE id = message_id), {}, {}) \
             FROM notifications ORDER BY 1",
            name("user_id"),
            name("patient_id"),
            name("doctor_id")
        ),
    ));
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', action, {}, {}) FROM audit ORDER BY id",
            name("actor"),
            name("doctor_id")
        ),
    ));
    all
}

/// One step of a script.
enum Step<'a> {
    /// Who sends what in which doctor's conversation, whether an emergency.
    Send(&'a User, &'a User, &'a str, bool),
    /// A doctor takes the patient's emergency (the first one raised), or is refused.
    Take(&'a User),
    /// A doctor resolves the patient's newest emergency (the one the last press raised or
    /// joined), with a note or none, or is refused.
    Resolve(&'a User, Option<&'a str>),
    /// The alert watch escalates the emergency the first press raised (`false`) or the
    /// patient's newest (`true`).
    Escalate(bool),
    /// The alert of the emergency the first press raised (`false`) or the patient's newest
    /// (`true`) reached these doctors, on this many devices each.
    Alert(bool, &'a [(&'a User, usize)]),
}

/// What a script's steps answered.
#[derive(Default)]
struct Answers {
    /// The sends that raised or joined an emergency.
    sent: Vec<Sent>,
    /// The takes: the emergency as it then was, the patient's notification and whether the
    /// doctor was new to the patient; or the refusal.
    taken: Vec<Result<Transition, StoreError>>,
    /// The resolutions, the same way.
    resolved: Vec<Result<Transition, StoreError>>,
    /// The escalations: what each found, and the emergency as it left it if it waited.
    escalated: Vec<String>,
    /// The alert records: how many doctors the alert had reached, if any was new.
    alerted: Vec<Option<u32>>,
}

/// Runs `steps` in one transaction, logged (a batch of nothing but sends, takes and
/// resolutions) or written directly, then moves the log.
fn phase(conn: &mut Connection, log: bool, patient: &User, steps: &[Step<'_>]) -> Answers {
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, log);
    let mut answers = Answers::default();
    for step in steps {
        match step {
            Step::Send(sender, doctor, content, emergency) => {
                let mut new = message(patient, doctor, content, *emergency);
                if *content == FIRST_PRESS {
                    // It waited two hours on the patient's device: its emergency says so.
                    new.held_ms = Some(2 * 3_600_000);
                }
                let id = ClientId::from(format!("c-{content}"));
                let sent = messages::send(&tx, &mut seqs, sender, &new, &id).unwrap();
                if sent.emergency.is_some() {
                    answers.sent.push(sent);
                }
            }
            Step::Take(doctor) => {
                let id = answers.sent[0]
                    .emergency
                    .as_ref()
                    .unwrap()
                    .emergency
                    .id
                    .clone();
                answers.taken.push(acknowledge(&tx, &mut seqs, doctor, &id));
            }
            Step::Resolve(doctor, note) => {
                let raised = answers.sent.last().unwrap().emergency.as_ref().unwrap();
                let id = raised.emergency.id.clone();
                answers
                    .resolved
                    .push(resolve(&tx, &mut seqs, doctor, &id, *note));
            }
            Step::Alert(newest, doctors) => {
                let id = pick(&answers, *newest);
                let doctors: Vec<(UserId, usize)> =
                    doctors.iter().map(|(d, n)| (d.id.clone(), *n)).collect();
                let reach = transitions::record_alerted(&tx, &mut seqs, &id, &doctors).unwrap();
                answers.alerted.push(reach.map(|r| r.doctors));
            }
            Step::Escalate(newest) => {
                let id = pick(&answers, *newest);
                answers
                    .escalated
                    .push(match escalate(&tx, &mut seqs, &id).unwrap() {
                        Escalation::Waiting(e, newly) => {
                            format!("waiting {newly} {:?} {}", e.state, e.escalated_at.is_some())
                        }
                        other => format!("{other:?}"),
                    });
            }
        }
    }
    seqs.save(&tx).unwrap();
    projection::apply_all(&tx).unwrap();
    tx.commit().unwrap();
    answers
}

/// The script's first press, written two hours before it reached the server.
const FIRST_PRESS: &str = "help";

/// The emergency the first press raised (`newest` false) or the patient's newest.
fn pick(answers: &Answers, newest: bool) -> EmergencyId {
    let sent = if newest {
        answers.sent.last()
    } else {
        answers.sent.first()
    };
    sent.unwrap()
        .emergency
        .as_ref()
        .unwrap()
        .emergency
        .id
        .clone()
}

/// The script both runs follow, in one batch: the patient presses emergency twice (the second
/// time in the conversation with another doctor), the watch escalates it, and asks again (it
/// is escalated already), a doctor takes it, the watch asks again (taken), the other doctor
/// tries to take it (refused), the patient presses again twice (first to the other doctor: the
/// emergency stays the first doctor's), the watch asks again (waiting, escalated already), a
/// third doctor, new to the patient, takes it, the first answers and tries to take it again
/// (refused); the third resolves it with a note, the first tries to (refused), the watch asks
/// again (resolved), the patient presses twice more (a new emergency, which the watch
/// escalates, then joining it), the second doctor tries to take the first emergency (refused:
/// resolved) and resolves the new one nobody took, and the patient writes a plain message.
/// `log` says whether the batch logs or writes directly.
fn script(conn: &mut Connection, log: bool, patient: &User, doctor: &User) -> Answers {
    let other = user(conn, "doc2");
    let third = user(conn, "doc3");
    let fourth = users::for_test(conn, "doc4", Role::Doctor);
    phase(
        conn,
        log,
        patient,
        &[
            Step::Send(patient, doctor, FIRST_PRESS, true),
            Step::Alert(false, &[(doctor, 2), (&other, 1)]),
            Step::Alert(false, &[(doctor, 1)]),
            Step::Send(patient, &other, "still need help", true),
            Step::Alert(false, &[(doctor, 3), (&third, 1), (&third, 2)]),
            Step::Escalate(false),
            Step::Escalate(false),
            Step::Take(doctor),
            Step::Escalate(false),
            Step::Take(&other),
            Step::Send(patient, &other, "again", true),
            Step::Send(patient, doctor, "hello?", true),
            Step::Escalate(false),
            Step::Take(&third),
            Step::Send(doctor, doctor, "on my way", false),
            Step::Take(doctor),
            Step::Resolve(&third, Some("settled at home")),
            Step::Resolve(doctor, None),
            Step::Escalate(false),
            Step::Send(patient, doctor, "help again", true),
            Step::Alert(false, &[(&fourth, 1)]),
            Step::Alert(true, &[(doctor, 1)]),
            Step::Escalate(true),
            Step::Take(&other),
            Step::Send(patient, &other, "please", true),
            Step::Resolve(&other, None),
            Step::Send(patient, doctor, "thank you", false),
        ],
    )
}

/// Logged raises, alert records, escalations, takes and resolutions answer what direct ones
/// answer, and the move leaves what the direct writes leave: the same messages (an emergency
/// message without a notification of its own, each closed by its emergency's resolution with a
/// change seq of its own), the same emergency opened, alerted (each doctor recorded once, with
/// the devices of the first record), escalated once, taken, reopened, taken by another doctor
/// and resolved, then alerted to one more doctor while the next one waits, that one opened,
/// alerted, escalated and resolved untaken, the same transitions, counters, care relations,
/// notifications and audit, and every answer with the alert's reach as it then was.
#[test]
fn logged_raises_alerts_escalations_takes_and_resolutions_leave_what_direct_ones_write() {
    let (_d1, mut direct_conn, patient, doctor, _) = clinic();
    let direct = script(&mut direct_conn, false, &patient, &doctor);
    let (_d2, mut logged_conn, patient, doctor, _) = clinic();
    let logged = script(&mut logged_conn, true, &patient, &doctor);
    let hows = |answers: &Answers| -> Vec<Raise> {
        answers
            .sent
            .iter()
            .map(|s| s.emergency.as_ref().unwrap().how)
            .collect()
    };
    let expected = [
        Raise::New,
        Raise::Joined,
        Raise::Reopened,
        Raise::Joined,
        Raise::New,
        Raise::Joined,
    ];
    assert_eq!(hows(&direct), expected);
    assert_eq!(hows(&logged), expected);
    // The takes: who took it and whether the doctor was new, or the refusal's words.
    let takes = |answers: &Answers| -> Vec<String> {
        answers
            .taken
            .iter()
            .chain(&answers.resolved)
            .map(|t| match t {
                Ok(t) => format!(
                    "{:?} {} {} {}",
                    t.emergency.state,
                    t.emergency.acknowledged_by_name.clone().unwrap_or_default(),
                    t.new_care,
                    t.notification.title
                ),
                Err(e) => e.to_string(),
            })
            .collect()
    };
    assert_eq!(takes(&logged), takes(&direct));
    assert_eq!(logged.escalated, direct.escalated);
    assert_eq!(logged.alerted, direct.alerted);
    assert_eq!(logged.alerted, [Some(2), None, Some(3), Some(4), Some(1)]);
    // Every answer carries the alert's reach as it then was.
    let reach = |answers: &Answers| -> Vec<u32> {
        let sent = answers
            .sent
            .iter()
            .map(|s| &s.emergency.as_ref().unwrap().emergency);
        let done = answers
            .taken
            .iter()
            .chain(&answers.resolved)
            .filter_map(|t| t.as_ref().ok())
            .map(|t| &t.emergency);
        sent.chain(done).map(|e| e.alerted_doctors).collect()
    };
    assert_eq!(reach(&logged), reach(&direct));
    assert_eq!(reach(&logged), [0, 2, 3, 3, 0, 1, 3, 3, 3, 1]);
    assert_eq!(
        logged.escalated,
        [
            "waiting true Raised true",
            "waiting false Raised true",
            "Taken",
            "waiting false Raised true",
            "Taken",
            "waiting true Raised true",
        ]
    );
    assert_eq!(
        takes(&logged),
        [
            "Acknowledged doc false doc is on it",
            "the emergency is already acknowledged",
            "Acknowledged doc3 true doc3 is on it",
            "the emergency is already acknowledged",
            "the emergency is already resolved",
            "Resolved doc3 false Resolved by doc3",
            "the emergency is already resolved",
            "Resolved doc2 false Resolved by doc2",
        ]
    );
    assert_eq!(left(&logged_conn), left(&direct_conn));
    let rows = left(&logged_conn);
    let transitions: Vec<&String> = rows
        .iter()
        .filter(|r| {
            [
                "RAISED ",
                "ALERTED ",
                "ESCALATED ",
                "ACKNOWLEDGED ",
                "RESOLVED ",
            ]
            .iter()
            .any(|k| r.starts_with(k))
        })
        .collect();
    assert_eq!(
        transitions,
        [
            "RAISED pat - -",
            "ALERTED doc - 2",
            "ALERTED doc2 - 1",
            "ALERTED doc3 - 1",
            "ESCALATED - - -",
            "ACKNOWLEDGED doc - -",
            "RAISED pat - -",
            "ACKNOWLEDGED doc3 - -",
            "RESOLVED doc3 settled at home -",
            "RAISED pat - -",
            "ALERTED doc4 - 1",
            "ALERTED doc - 1",
            "ESCALATED - - -",
            "ACKNOWLEDGED doc2 - -",
            "RESOLVED doc2 - -"
        ],
        "{rows:?}"
    );
    // Every change has a seq of its own (a sync cursor never splits one).
    let distinct: i64 = logged_conn
        .query_row(
            "SELECT count(DISTINCT change_seq) - count(*) FROM (SELECT change_seq FROM messages \
             UNION ALL SELECT change_seq FROM emergencies)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(distinct, 0);
    // Every emergency message is closed, the plain ones are not.
    let closed: Vec<&String> = rows.iter().filter(|r| r.contains(" EMERGENCY ")).collect();
    assert_eq!(closed.len(), 6, "{rows:?}");
    assert!(closed.iter().all(|r| r.ends_with(" 1 1")), "{rows:?}");
    // Each resolution's answer is the emergency as the move left it, but for the doctor the
    // first one's alert was recorded as reaching after it was resolved.
    for (sent, resolved, later) in [(0, 0, 1), (4, 2, 0)] {
        let id = &logged.sent[sent].emergency.as_ref().unwrap().emergency.id;
        let mut resolved = logged.resolved[resolved]
            .as_ref()
            .unwrap()
            .emergency
            .clone();
        resolved.alerted_doctors += later;
        assert_eq!(get(&logged_conn, id).unwrap().unwrap(), resolved);
    }
    // Every answer says when the message that raised its emergency was written: the first
    // press's time, through joins, takes, a reopening and the resolution; none for the next.
    let first = &logged.sent[0];
    let first_id = &first.emergency.as_ref().unwrap().emergency.id;
    assert!(first.message.written_at.is_some());
    let answered = logged
        .sent
        .iter()
        .map(|s| &s.emergency.as_ref().unwrap().emergency)
        .chain(
            logged
                .taken
                .iter()
                .chain(&logged.resolved)
                .filter_map(|t| t.as_ref().ok())
                .map(|t| &t.emergency),
        );
    for emergency in answered {
        let expected = if &emergency.id == first_id {
            first.message.written_at
        } else {
            None
        };
        assert_eq!(emergency.written_at, expected, "{emergency:?}");
    }
    // Each raise's answer is the emergency as it then was: the reopened one waits again.
    for sent in &logged.sent {
        let emergency = &sent.emergency.as_ref().unwrap().emergency;
        assert_eq!(emergency.state, EmergencyState::Raised);
        assert_eq!(emergency.acknowledged_by, None);
        assert!(sent.message.is_emergency);
        assert_eq!(sent.message.message_type, MessageType::Emergency);
    }
}

/// In the log: the emergency message is a send with `mark` 1 and its raise follows at the next
/// seq; a second press joins without a row; its clientId again answers the emergency message;
/// an edit of it is refused as for a stored one; nothing reaches `emergencies` before the move,
/// and the raise's audit row is written with the send.
#[test]
fn a_raise_waits_in_the_log_until_the_move() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let help = message(&patient, &doctor, "help", true);
    let first = messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    let raised = first.emergency.clone().unwrap();
    assert_eq!(raised.how, Raise::New);
    let again = message(&patient, &doctor, "again", true);
    let second = messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    assert_eq!(second.emergency.unwrap().emergency, raised.emergency);
    assert_eq!(
        lines(
            &tx,
            "SELECT concat_ws(' ', kind, mark, coalesce(emergency_id, '-')) FROM event_log \
             ORDER BY seq"
        ),
        [
            "SEND 1 -".to_owned(),
            format!("RAISE 0 {}", raised.emergency.id),
            "SEND 1 -".to_owned()
        ]
    );
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(open_counts(&tx).unwrap(), (1, 1), "counted from the log");
    assert_eq!(
        count("SELECT count(*) FROM audit WHERE action = 'EMERGENCY_RAISE'"),
        1
    );
    let repeat = messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    assert!(!repeat.created && repeat.emergency.is_none());
    assert_eq!(repeat.message, first.message);
    assert!(repeat.message.is_emergency);
    let windows = MessageWindows {
        unsend_secs: 86_400,
        retract_secs: 86_400,
        edit_secs: 86_400,
        max_edits: 10,
    };
    let edit = EditRequest {
        content: "fine now".to_owned(),
        base_version: 1,
    };
    let refused = versions::edit(
        &tx,
        &mut seqs,
        &patient,
        &first.message.id,
        &edit,
        None,
        windows,
    );
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    // A step that ends between the message and its raise: the message is stored, the raise
    // still waits (and still counts), and the next step opens the emergency.
    projection::apply(&tx, 1).unwrap();
    assert!(messages::by_id(&tx, &first.message.id).unwrap().is_some());
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(open_counts(&tx).unwrap(), (1, 1));
    projection::apply_all(&tx).unwrap();
    assert_eq!(open_counts(&tx).unwrap(), (1, 1), "counted once");
    assert_eq!(
        get(&tx, &raised.emergency.id).unwrap().unwrap(),
        raised.emergency
    );
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    assert_eq!(
        count("SELECT count(*) FROM emergency_transitions WHERE kind = 'RAISED'"),
        1
    );
    let stored = messages::by_id(&tx, &first.message.id).unwrap().unwrap();
    assert_eq!(stored, first.message);
}

/// In the log: a doctor's take follows the raise as a 'TAKE' row, with its audit row, the
/// patient's notification and the care relation written at once and nothing in `emergencies`
/// before the move; a second take is refused on the emergency as it will be; `/metrics` counts
/// it as taken. A step that ends between the raise and the take opens the emergency waiting,
/// the next one takes it. A take of a stored emergency, reopened since, is judged on that.
#[test]
fn a_take_waits_in_the_log_until_the_move() {
    let (_dir, mut conn, patient, doctor, other) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    let third = user(&tx, "doc3");
    let taken = acknowledge(&tx, &mut seqs, &third, &id).unwrap();
    assert_eq!(taken.emergency.state, EmergencyState::Acknowledged);
    assert!(taken.new_care);
    let refused = acknowledge(&tx, &mut seqs, &other, &id);
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(
        log_rows(&tx),
        [
            "SEND -".to_owned(),
            format!("RAISE {id}"),
            format!("TAKE {id}")
        ]
    );
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(open_counts(&tx).unwrap(), (1, 0), "counted from the log");
    assert_eq!(
        count("SELECT count(*) FROM audit WHERE action = 'EMERGENCY_ACKNOWLEDGE'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM notifications WHERE kind = 'EMERGENCY_UPDATE'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM conversations"),
        2,
        "the third doctor's care relation"
    );
    projection::apply(&tx, 2).unwrap();
    assert_eq!(
        get(&tx, &id).unwrap().unwrap().state,
        EmergencyState::Raised
    );
    assert_eq!(open_counts(&tx).unwrap(), (1, 0));
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), taken.emergency);
    assert_eq!(open_counts(&tx).unwrap(), (1, 0), "counted once");
    // Pressed again and moved: the stored emergency waits again, and a logged take takes it.
    let mut seqs = Seqs::loaded(&tx, true);
    let again = message(&patient, &doctor, "again", true);
    let reopened =
        messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    assert_eq!(reopened.emergency.unwrap().how, Raise::Reopened);
    projection::apply_all(&tx).unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let second = acknowledge(&tx, &mut seqs, &doctor, &id).unwrap();
    assert!(!second.new_care);
    assert_eq!(
        count("SELECT count(*) FROM event_log WHERE kind = 'TAKE'"),
        1
    );
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), second.emergency);
    assert_eq!(
        lines(
            &tx,
            "SELECT kind FROM emergency_transitions WHERE kind != 'ALERTED' ORDER BY id"
        ),
        ["RAISED", "ACKNOWLEDGED", "RAISED", "ACKNOWLEDGED"]
    );
}

/// In the log: the watch's escalation follows the raise as an 'ESCALATE' row, with its audit
/// row written at once and nothing in `emergencies` before the move; asked again it answers
/// the emergency escalated already (the writer's memory), with no second row. A step that ends
/// between the raise and the escalation opens the emergency unescalated; the next one
/// escalates it, with the escalation's change seq. A take logged after it is applied after it,
/// and the watch then finds the emergency taken; an emergency nowhere is gone (in a batch that
/// logs or not). The direct path's answers are the script's above.
#[test]
fn an_escalation_waits_in_the_log_until_the_move() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    let Escalation::Waiting(escalated, true) = escalate(&tx, &mut seqs, &id).unwrap() else {
        panic!("the first escalation escalates");
    };
    assert!(escalated.escalated_at.is_some());
    let Escalation::Waiting(again, false) = escalate(&tx, &mut seqs, &id).unwrap() else {
        panic!("asked again, it answers the emergency escalated already");
    };
    assert_eq!(again, escalated);
    assert_eq!(
        log_rows(&tx),
        [
            "SEND -".to_owned(),
            format!("RAISE {id}"),
            format!("ESCALATE {id}")
        ]
    );
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(
        count("SELECT count(*) FROM audit WHERE action = 'EMERGENCY_ESCALATE'"),
        1
    );
    projection::apply(&tx, 2).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap().escalated_at, None);
    let seq_of = |kind: &str| {
        tx.query_row("SELECT seq FROM event_log WHERE kind = ?1", [kind], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    let escalation_seq = seq_of("ESCALATE");
    let taken = acknowledge(&tx, &mut seqs, &doctor, &id).unwrap();
    assert!(taken.emergency.escalated_at.is_some(), "a take keeps it");
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), taken.emergency);
    assert_eq!(
        lines(
            &tx,
            "SELECT kind FROM emergency_transitions WHERE kind != 'ALERTED' ORDER BY id"
        ),
        ["RAISED", "ESCALATED", "ACKNOWLEDGED"]
    );
    assert!(
        count(&format!(
            "SELECT count(*) FROM emergencies WHERE change_seq > {escalation_seq}"
        )) == 1,
        "the take's seq is the emergency's last"
    );
    assert!(matches!(
        escalate(&tx, &mut seqs, &id).unwrap(),
        Escalation::Taken
    ));
    let nowhere = EmergencyId::from("e-nowhere");
    for log in [true, false] {
        let mut seqs = Seqs::loaded(&tx, log);
        assert!(matches!(
            escalate(&tx, &mut seqs, &nowhere).unwrap(),
            Escalation::Gone
        ));
    }
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
}

/// An escalation asked after a resolution waiting in the log finds the emergency taken, with
/// nothing logged, even once the patient's next emergency is the one the writer remembers.
#[test]
fn an_escalation_after_a_logged_resolution_finds_it_taken() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    resolve(&tx, &mut seqs, &doctor, &id, None).unwrap();
    assert!(matches!(
        escalate(&tx, &mut seqs, &id).unwrap(),
        Escalation::Taken
    ));
    let next = message(&patient, &doctor, "help again", true);
    messages::send(&tx, &mut seqs, &patient, &next, &ClientId::from("c-2")).unwrap();
    assert!(matches!(
        escalate(&tx, &mut seqs, &id).unwrap(),
        Escalation::Taken
    ));
    let escalations: i64 = tx
        .query_row(
            "SELECT count(*) FROM event_log WHERE kind = 'ESCALATE'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(escalations, 0);
}

/// In the log: the record of whom an alert reached follows the raise as an 'ALERT' row naming
/// only the doctors reached first (judged on those stored and those logged), nothing stored
/// before the move; what the writer remembers of the emergency and what is stored, with the
/// records waiting counted, carry the new reach, so a take or a reopening answers it. A record
/// for an emergency whose raise waits in the log behind the patient's next one is logged too;
/// one for an emergency nowhere is not; one while the log is empty is written at once.
#[test]
fn an_alert_record_waits_in_the_log_until_the_move() {
    let (_dir, mut conn, patient, doctor, other) = clinic();
    let third = user(&conn, "doc3");
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    let reached = |seqs: &mut Seqs, doctors: &[(&User, usize)]| {
        let doctors: Vec<(UserId, usize)> =
            doctors.iter().map(|(d, n)| (d.id.clone(), *n)).collect();
        transitions::record_alerted(&tx, seqs, &id, &doctors).unwrap()
    };
    let first = reached(&mut seqs, &[(&doctor, 2), (&other, 1)]).unwrap();
    assert_eq!(first.doctors, 2);
    assert_eq!(reached(&mut seqs, &[(&other, 5)]), None, "recorded already");
    assert_eq!(
        log_rows(&tx),
        [
            "SEND -".to_owned(),
            format!("RAISE {id}"),
            format!("ALERT {id}")
        ]
    );
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergency_transitions"), 0);
    let taken = acknowledge(&tx, &mut seqs, &doctor, &id).unwrap();
    assert_eq!(taken.emergency.alerted_doctors, 2);
    assert_eq!(taken.emergency.alerted_at, Some(first.at));
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), taken.emergency);
    // The writer's memory moved on: what is stored, and the records waiting in the log (with
    // something else there: in an empty log it would be written at once, below).
    let mut seqs = Seqs::loaded(&tx, true);
    let note = message(&patient, &doctor, "still there?", false);
    messages::send(&tx, &mut seqs, &patient, &note, &ClientId::from("c-note")).unwrap();
    let later = reached(&mut seqs, &[(&doctor, 1), (&third, 1)]).unwrap();
    assert_eq!(log_rows(&tx), ["SEND -".to_owned(), format!("ALERT {id}")]);
    assert_eq!(
        later,
        Reach {
            at: first.at,
            doctors: 3
        }
    );
    let again = message(&patient, &doctor, "again", true);
    let reopened =
        messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    let reopened = reopened.emergency.unwrap();
    assert_eq!(reopened.how, Raise::Reopened);
    assert_eq!(reopened.emergency.alerted_doctors, 3);
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), reopened.emergency);
    assert_eq!(
        lines(
            &tx,
            "SELECT concat_ws(' ', (SELECT username FROM users WHERE id = actor_id), devices) \
             FROM emergency_transitions WHERE kind = 'ALERTED' ORDER BY id"
        ),
        ["doc 2", "doc2 1", "doc3 1"]
    );
    // Resolved and pressed again in the log: the first emergency's raise is not remembered.
    let mut seqs = Seqs::loaded(&tx, true);
    resolve(&tx, &mut seqs, &doctor, &id, None).unwrap();
    let next = message(&patient, &doctor, "help again", true);
    let next = messages::send(&tx, &mut seqs, &patient, &next, &ClientId::from("c-3")).unwrap();
    let next = next.emergency.unwrap().emergency;
    let late = reached(&mut seqs, &[(&other, 1), (&user(&tx, "doc3"), 2)]);
    assert_eq!(late, None, "both recorded for the first");
    let doctors = [(next.doctor_id.clone(), 1)];
    let fresh = transitions::record_alerted(&tx, &mut seqs, &next.id, &doctors).unwrap();
    assert_eq!(fresh.map(|r| r.doctors), Some(1));
    let nowhere = EmergencyId::from("e-nowhere");
    assert_eq!(
        transitions::record_alerted(&tx, &mut seqs, &nowhere, &doctors).unwrap(),
        None
    );
    projection::apply_all(&tx).unwrap();
    assert_eq!(get(&tx, &next.id).unwrap().unwrap().alerted_doctors, 1);
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    // With the log empty, a record is written at once: moving an empty log changes nothing.
    let mut seqs = Seqs::loaded(&tx, true);
    let more = [(other.id.clone(), 1)];
    let now = transitions::record_alerted(&tx, &mut seqs, &next.id, &more).unwrap();
    assert_eq!(now.map(|r| r.doctors), Some(2));
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    assert_eq!(get(&tx, &next.id).unwrap().unwrap().alerted_doctors, 2);
    assert_eq!(
        count("SELECT count(*) FROM emergency_transitions WHERE emergency_id = 'e-nowhere'"),
        0
    );
}

/// An alert record for an emergency whose raise waits in the log behind the patient's next
/// emergency (resolved, then pressed again, all in the log) is logged and moved with it.
#[test]
fn an_alert_record_of_an_emergency_only_in_the_log_is_kept() {
    let (_dir, mut conn, patient, doctor, other) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    resolve(&tx, &mut seqs, &doctor, &id, None).unwrap();
    let next = message(&patient, &doctor, "help again", true);
    messages::send(&tx, &mut seqs, &patient, &next, &ClientId::from("c-2")).unwrap();
    let doctors = [(other.id.clone(), 1)];
    let reach = transitions::record_alerted(&tx, &mut seqs, &id, &doctors).unwrap();
    assert_eq!(reach.map(|r| r.doctors), Some(1));
    projection::apply_all(&tx).unwrap();
    let stored = get(&tx, &id).unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.alerted_doctors),
        (EmergencyState::Resolved, 1)
    );
}

/// A logged emergency send that repeats a stored message's key (only if the writer's keys were
/// incomplete) is left out of the move with its raise, its escalation, the record of whom its
/// alert reached, a doctor's take of it and its resolution with its stamps (a stamp of the stored message too): no emergency names a
/// message that was never stored, no message is closed by one never stored, and the move goes
/// on.
#[test]
fn a_raise_of_a_repeat_left_out_goes_with_it() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let help = message(&patient, &doctor, "help", true);
    messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    projection::apply_all(&tx).unwrap();
    // The same key again, as a writer that had lost its keys would log it.
    let mut seqs = Seqs::loaded(&tx, true);
    tx.execute("DELETE FROM emergency_transitions", []).unwrap();
    tx.execute("DELETE FROM emergencies", []).unwrap();
    let repeat = messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    assert!(
        !repeat.created,
        "the writer's own check finds the stored one"
    );
    let seq = seqs.next().0;
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, client_id, patient_id, doctor_id, sender_id, \
         recipient_id, content, mark) VALUES (?1, 'SEND', 'm-again', 0, 'c-1', ?2, ?3, ?2, ?3, \
         'help', 1)",
        params![seq, patient.id.as_str(), doctor.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, doctor_id, emergency_id) \
         VALUES (?1, 'RAISE', 'm-again', 0, ?2, ?3, 'e-again')",
        params![seq + 1, patient.id.as_str(), doctor.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, emergency_id) \
         VALUES (?1, 'ESCALATE', 'e-again', 0, ?2, 'e-again')",
        params![seq + 2, patient.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id) \
         VALUES (?1, 'TAKE', 'e-again', 0, ?2, ?3, 'e-again')",
        params![seq + 3, patient.id.as_str(), doctor.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, content, emergency_id) \
         VALUES (?1, 'ALERT', 'e-again', 0, json_array(json_array(?2, 1)), 'e-again')",
        params![seq + 6, doctor.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, patient_id, sender_id, emergency_id) \
         VALUES (?1, 'RESOLVE', 'e-again', 0, ?2, ?3, 'e-again')",
        params![seq + 4, patient.id.as_str(), doctor.id.as_str()],
    )
    .unwrap();
    tx.execute(
        "INSERT INTO event_log (seq, kind, id, at, emergency_id) \
         SELECT ?1, 'STAMP', id, 0, 'e-again' FROM messages",
        [seq + 5],
    )
    .unwrap();
    projection::apply_all(&tx).unwrap();
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(count("SELECT count(*) FROM emergency_transitions"), 0);
    assert_eq!(count("SELECT count(*) FROM messages"), 1);
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE resolved_at IS NULL"),
        1
    );
}

/// Through the writer: the emergency a logged raise opened is forgotten with a batch that
/// rolls back (the next press opens a new one, not a join of one never stored) and with any
/// command that moves the log (here a doctor's take run as a command that moves the log, as
/// it was before schema v28: the next press reopens it).
#[tokio::test]
async fn the_writer_forgets_a_raise_rolled_back_and_one_a_command_moved() {
    // Idle steps never come: the log moves only when a command below makes it.
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let press = |content: &str, fail: bool| {
        let (patient, new) = (patient.clone(), message(&patient, &doctor, content, true));
        let id = ClientId::from(format!("c-{content}"));
        let writer = writer.clone();
        async move {
            writer
                .run_append(move |conn, seqs| {
                    let sent = messages::send(conn, seqs, &patient, &new, &id)?;
                    if fail {
                        return Err(StoreError::bad_input("refused after logging"));
                    }
                    Ok::<_, StoreError>(sent.emergency.unwrap())
                })
                .await
        }
    };
    assert!(press("doomed", true).await.is_err());
    let first = press("help", false).await.unwrap();
    assert_eq!(first.how, Raise::New, "not a join of the rolled-back one");
    let joined = press("again", false).await.unwrap();
    assert_eq!(
        (joined.how, &joined.emergency),
        (Raise::Joined, &first.emergency)
    );
    let (taker, id) = (doctor.clone(), first.emergency.id.clone());
    writer
        .run(move |conn, seqs| acknowledge(conn, seqs, &taker, &id))
        .await
        .unwrap();
    let reopened = press("still here", false).await.unwrap();
    assert_eq!(reopened.how, Raise::Reopened);
    assert_eq!(reopened.emergency.id, first.emergency.id);
    // A read moves the log first: the row is what the answer said.
    let id = first.emergency.id.clone();
    let stored = writer
        .run(move |conn, _| get(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, reopened.emergency);
    drop(writer);
    thread.join().unwrap();
    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 1);
    assert_eq!(count("SELECT count(*) FROM messages WHERE is_emergency"), 3);
}

/// Through the writer: a logged take whose batch rolls back is not stored (the batch after a
/// failure moves the log first, and the next press joins the emergency still waiting; the
/// writer's memory of it is tested below); a logged take that commits makes the next press,
/// logged too, reopen it.
#[tokio::test]
async fn a_take_rolled_back_through_the_writer_is_not_stored() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let take = |id: &EmergencyId, fail: bool| {
        let (taker, id, writer) = (doctor.clone(), id.clone(), writer.clone());
        async move {
            writer
                .run_append(move |conn, seqs| {
                    let taken = acknowledge(conn, seqs, &taker, &id)?;
                    if fail {
                        return Err(StoreError::bad_input("refused after logging"));
                    }
                    Ok(taken)
                })
                .await
        }
    };
    let first = press(&writer, &patient, &doctor, "help").await;
    assert_eq!(first.how, Raise::New);
    assert!(take(&first.emergency.id, true).await.is_err());
    let joined = press(&writer, &patient, &doctor, "again").await;
    assert_eq!(
        (joined.how, &joined.emergency),
        (Raise::Joined, &first.emergency),
        "not a second emergency, nor a reopening of a take never stored"
    );
    let taken = take(&first.emergency.id, false).await.unwrap();
    assert_eq!(taken.emergency.state, EmergencyState::Acknowledged);
    let reopened = press(&writer, &patient, &doctor, "still here").await;
    assert_eq!(
        (reopened.how, &reopened.emergency.id),
        (Raise::Reopened, &first.emergency.id)
    );
    let outside = Connection::open(&path).unwrap();
    assert_eq!(
        lines(
            &outside,
            "SELECT kind FROM event_log WHERE kind != 'SEND' ORDER BY seq"
        ),
        ["TAKE", "RAISE"],
        "the take and the reopening in the log"
    );
    drop(writer);
    thread.join().unwrap();
    let count = |sql: &str| outside.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 1);
    assert_eq!(
        get(&outside, &first.emergency.id).unwrap().unwrap(),
        reopened.emergency
    );
}

/// The writer's memory of a patient's emergency follows batches: a take in a batch that rolls
/// back gives back the raise an earlier batch logged, so the next press joins that emergency
/// (still only in the log) instead of opening a second one.
#[test]
fn a_take_rolled_back_gives_back_the_raise_it_replaced() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let help = message(&patient, &doctor, "help", true);
    let sent = messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    let raised = sent.emergency.unwrap().emergency;
    seqs.logged_mut().committed();
    tx.execute_batch("SAVEPOINT batch").unwrap();
    acknowledge(&tx, &mut seqs, &doctor, &raised.id).unwrap();
    tx.execute_batch("ROLLBACK TO batch; RELEASE batch")
        .unwrap();
    seqs.logged_mut().rolled_back();
    let again = message(&patient, &doctor, "again", true);
    let joined = messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    let joined = joined.emergency.unwrap();
    assert_eq!((joined.how, &joined.emergency), (Raise::Joined, &raised));
}

/// The same for a resolution: rolled back, it gives back the take it replaced, so the next
/// press reopens the emergency (still only in the log) instead of opening a new one.
#[test]
fn a_resolution_rolled_back_gives_back_the_take_it_replaced() {
    let (_dir, mut conn, patient, doctor, _) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let id = pressed(&tx, &mut seqs, &patient, &doctor);
    acknowledge(&tx, &mut seqs, &doctor, &id).unwrap();
    seqs.logged_mut().committed();
    tx.execute_batch("SAVEPOINT batch").unwrap();
    resolve(&tx, &mut seqs, &doctor, &id, None).unwrap();
    tx.execute_batch("ROLLBACK TO batch; RELEASE batch")
        .unwrap();
    seqs.logged_mut().rolled_back();
    let again = message(&patient, &doctor, "again", true);
    let reopened =
        messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    let reopened = reopened.emergency.unwrap();
    assert_eq!(
        (reopened.how, &reopened.emergency.id),
        (Raise::Reopened, &id)
    );
}

/// A resolution does not stamp a message a resolution waiting in the log stamps already, even
/// one that looks younger than its emergency (the clock stepped back between the presses):
/// neither a logged message nor a stored one.
#[test]
fn a_message_stamped_in_the_log_is_not_stamped_again() {
    for moved in [false, true] {
        let (_dir, mut conn, patient, doctor, _) = clinic();
        let tx = conn.transaction().unwrap();
        let mut seqs = Seqs::loaded(&tx, true);
        let help = message(&patient, &doctor, "help", true);
        let first =
            messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
        let e1 = first.emergency.unwrap().emergency.id;
        if moved {
            projection::apply_all(&tx).unwrap();
            seqs = Seqs::loaded(&tx, true);
        }
        resolve(&tx, &mut seqs, &doctor, &e1, None).unwrap();
        let again = message(&patient, &doctor, "again", true);
        let second =
            messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
        let e2 = second.emergency.unwrap();
        assert_eq!(e2.how, Raise::New);
        // The first message's time a minute after the second emergency's raise.
        let later = e2.emergency.raised_at.timestamp_millis() + 60_000;
        let table = if moved {
            "messages SET created_at = ?1 WHERE id = ?2"
        } else {
            "event_log SET at = ?1 WHERE id = ?2 AND kind = 'SEND'"
        };
        let changed = tx
            .execute(
                &format!("UPDATE {table}"),
                params![later, first.message.id.as_str()],
            )
            .unwrap();
        assert_eq!(changed, 1);
        resolve(&tx, &mut seqs, &doctor, &e2.emergency.id, None).unwrap();
        let stamps = lines(
            &tx,
            "SELECT concat_ws(' ', id, emergency_id) FROM event_log WHERE kind = 'STAMP' \
             ORDER BY seq",
        );
        assert_eq!(
            stamps,
            [
                format!("{} {e1}", first.message.id),
                format!("{} {}", second.message.id, e2.emergency.id)
            ],
            "moved: {moved}"
        );
    }
}

/// A raise the writer remembers but another process moved (the CLI opens the database and
/// moves the log): the next press is judged on the stored emergency, which may have changed
/// meanwhile, not on the remembered one. A raise that reopens counts as waiting again in
/// `/metrics` before its move.
#[tokio::test]
async fn a_raise_moved_by_another_process_is_judged_on_the_stored_emergency() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let first = press(&writer, &patient, &doctor, "help").await;
    assert_eq!(first.how, Raise::New);
    // Another process moves the log, and the emergency is taken meanwhile.
    let mut outside = Connection::open(&path).unwrap();
    let tx = outside.transaction().unwrap();
    projection::apply_all(&tx).unwrap();
    let mut seqs = Seqs::loaded(&tx, false);
    acknowledge(&tx, &mut seqs, &doctor, &first.emergency.id).unwrap();
    seqs.save(&tx).unwrap();
    tx.commit().unwrap();
    assert_eq!(open_counts(&outside).unwrap(), (1, 0));
    let again = press(&writer, &patient, &doctor, "again").await;
    assert_eq!(
        (again.how, &again.emergency.id),
        (Raise::Reopened, &first.emergency.id),
        "not a join of the remembered one"
    );
    assert_eq!(open_counts(&outside).unwrap(), (1, 1), "waiting again");
    drop(writer);
    thread.join().unwrap();
    let stored = get(&outside, &first.emergency.id).unwrap().unwrap();
    assert_eq!(stored, again.emergency);
}

/// A take the writer would judge on its memory, but another process (the CLI) moved the log and
/// resolved the emergency meanwhile: refused on the stored row, with nothing logged.
#[tokio::test]
async fn a_take_after_another_process_resolved_it_is_refused() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let first = press(&writer, &patient, &doctor, "help").await;
    let mut outside = Connection::open(&path).unwrap();
    let tx = outside.transaction().unwrap();
    projection::apply_all(&tx).unwrap();
    let mut seqs = Seqs::loaded(&tx, false);
    resolve(&tx, &mut seqs, &doctor, &first.emergency.id, None).unwrap();
    seqs.save(&tx).unwrap();
    tx.commit().unwrap();
    let (taker, id) = (doctor.clone(), first.emergency.id.clone());
    let refused = writer
        .run_append(move |conn, seqs| acknowledge(conn, seqs, &taker, &id))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let count = |sql: &str| outside.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(
        count("SELECT count(*) FROM event_log WHERE kind = 'TAKE'"),
        0
    );
    drop(writer);
    thread.join().unwrap();
    assert_eq!(
        get(&outside, &first.emergency.id).unwrap().unwrap().state,
        EmergencyState::Resolved
    );
}

/// Through the writer: a logged take, then a logged resolution: the resolution sees the
/// emergency taken, so its history is raised, taken once, resolved.
#[tokio::test]
async fn a_logged_take_then_a_resolution() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let first = press(&writer, &patient, &doctor, "help").await;
    let (taker, id) = (doctor.clone(), first.emergency.id.clone());
    writer
        .run_append(move |conn, seqs| acknowledge(conn, seqs, &taker, &id))
        .await
        .unwrap();
    let outside = Connection::open(&path).unwrap();
    assert_eq!(
        lines(
            &outside,
            "SELECT kind FROM event_log WHERE kind != 'SEND' ORDER BY seq"
        ),
        ["RAISE", "TAKE"]
    );
    let (resolver, id) = (doctor.clone(), first.emergency.id.clone());
    let resolved = writer
        .run_append(move |conn, seqs| resolve(conn, seqs, &resolver, &id, Some("fine")))
        .await
        .unwrap();
    assert_eq!(resolved.emergency.state, EmergencyState::Resolved);
    assert_eq!(
        lines(
            &outside,
            "SELECT concat_ws(' ', kind, mark) FROM event_log WHERE kind != 'SEND' ORDER BY seq"
        ),
        ["RAISE 0", "TAKE 0", "RESOLVE 0", "STAMP 0"]
    );
    drop(writer);
    thread.join().unwrap();
    assert_eq!(
        lines(
            &outside,
            "SELECT kind FROM emergency_transitions WHERE kind != 'ALERTED' ORDER BY id"
        ),
        ["RAISED", "ACKNOWLEDGED", "RESOLVED"]
    );
}

/// While the writer's last step failed, nothing is logged: a patient's press moves the log
/// first and is refused with it ("retry"), not acknowledged into a log no doctor could take it
/// from. Once the log moves again, the press is stored and answered.
#[tokio::test]
async fn no_raise_is_logged_while_the_log_cannot_move() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_millis(1));
    let path = dir.path().join("clinic.db");
    let outside = Connection::open(&path).unwrap();
    let count = |sql: &str| outside.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let send = |content: &str, emergency: bool| {
        let (patient, new) = (
            patient.clone(),
            message(&patient, &doctor, content, emergency),
        );
        let id = ClientId::from(format!("c-{content}"));
        let writer = writer.clone();
        async move {
            writer
                .run_append(move |conn, seqs| messages::send(conn, seqs, &patient, &new, &id))
                .await
        }
    };
    // The move's insert into `messages` fails while this trigger is there.
    outside
        .execute_batch(
            "CREATE TRIGGER refuse_moves BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    // Plain sends are logged until the idle step comes and fails; then they are refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut logged = 0;
    loop {
        match send(&format!("hello {logged}"), false).await {
            Ok(_) => logged += 1,
            Err(StoreError::Unavailable(_)) => break,
            Err(other) => panic!("{other:?}"),
        }
        assert!(std::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(logged > 0);
    let refused = send("help", true).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        count("SELECT count(*) FROM event_log WHERE kind = 'RAISE'"),
        0,
        "nothing logged while the log cannot move"
    );
    outside.execute_batch("DROP TRIGGER refuse_moves").unwrap();
    let sent = send("help", true).await.unwrap();
    assert_eq!(sent.emergency.unwrap().how, Raise::New);
    drop(writer);
    thread.join().unwrap();
    assert_eq!(count("SELECT count(*) FROM emergencies"), 1);
    assert_eq!(count("SELECT count(*) FROM messages"), logged + 1);
}

/// In the log: a resolution is a 'RESOLVE' row (`mark` 1: nobody had taken it) followed by a
/// 'STAMP' per emergency message it closes (a stored one and a logged one that joined), with
/// its audit rows, the patient's notification and the care relation written at once and
/// nothing stored changed before the move; the messages read in the writer show it; a take, a
/// second resolution are refused and the next press opens a new emergency, judged on it;
/// `/metrics` counts from the log. A step that ends between the resolution and its stamps
/// closes the emergency, the next one its messages, each with its own change seq.
#[test]
fn a_resolution_waits_in_the_log_until_the_move() {
    let (_dir, mut conn, patient, doctor, other) = clinic();
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let help = message(&patient, &doctor, "help", true);
    let first = messages::send(&tx, &mut seqs, &patient, &help, &ClientId::from("c-1")).unwrap();
    let id = first.emergency.unwrap().emergency.id;
    projection::apply_all(&tx).unwrap();
    let mut seqs = Seqs::loaded(&tx, true);
    let again = message(&patient, &doctor, "again", true);
    let joined = messages::send(&tx, &mut seqs, &patient, &again, &ClientId::from("c-2")).unwrap();
    assert_eq!(joined.emergency.unwrap().how, Raise::Joined);
    let third = user(&tx, "doc3");
    let resolved = resolve(&tx, &mut seqs, &third, &id, Some("called back")).unwrap();
    assert_eq!(resolved.emergency.state, EmergencyState::Resolved);
    assert_eq!(resolved.emergency.acknowledged_by, Some(third.id.clone()));
    assert!(resolved.new_care);
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    let log = lines(
        &tx,
        "SELECT concat_ws(' ', kind, id, mark, coalesce(content, '-')) FROM event_log \
         ORDER BY seq",
    );
    let seq = resolved.seq.0;
    assert_eq!(
        log,
        [
            format!("SEND {} 1 again", joined.message.id),
            format!("RESOLVE {id} 1 called back"),
            format!("STAMP {} 0 -", first.message.id),
            format!("STAMP {} 0 -", joined.message.id),
        ]
    );
    assert_eq!(
        count(
            "SELECT max(seq) - min(seq) FROM event_log WHERE seq >= (SELECT seq FROM event_log WHERE kind = 'RESOLVE')"
        ),
        2,
        "the stamps follow the resolution"
    );
    assert_eq!(
        get(&tx, &id).unwrap().unwrap().state,
        EmergencyState::Raised,
        "nothing stored before the move"
    );
    assert_eq!(open_counts(&tx).unwrap(), (0, 0), "counted from the log");
    for action in ["EMERGENCY_ACKNOWLEDGE", "EMERGENCY_RESOLVE"] {
        assert_eq!(
            count(&format!(
                "SELECT count(*) FROM audit WHERE action = '{action}'"
            )),
            1,
            "{action}"
        );
    }
    assert_eq!(
        count("SELECT count(*) FROM notifications WHERE kind = 'EMERGENCY_UPDATE'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM conversations"),
        2,
        "the third doctor's care relation"
    );
    // A repeated send answers either message as closed (one stored, one logged).
    for (m, new, key) in [
        (&first.message, &help, "c-1"),
        (&joined.message, &again, "c-2"),
    ] {
        let key = ClientId::from(key);
        let repeat = messages::send(&tx, &mut seqs, &patient, new, &key).unwrap();
        assert!(!repeat.created);
        assert_eq!(repeat.message.id, m.id);
        let at = resolved.emergency.resolved_at;
        assert_eq!(repeat.message.resolved_at, at, "{}", m.content);
        assert_eq!(Some(repeat.message.updated_at), at, "{}", m.content);
    }
    let take = acknowledge(&tx, &mut seqs, &other, &id);
    assert!(matches!(take, Err(StoreError::Conflict(_))), "{take:?}");
    let twice = resolve(&tx, &mut seqs, &other, &id, None);
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    let next = message(&patient, &doctor, "help again", true);
    let next = messages::send(&tx, &mut seqs, &patient, &next, &ClientId::from("c-3")).unwrap();
    let next = next.emergency.unwrap();
    assert_eq!(next.how, Raise::New);
    assert_ne!(next.emergency.id, id);
    assert_eq!(open_counts(&tx).unwrap(), (1, 1));
    // The first emergency is not the patient's newest any more: still refused.
    let take = acknowledge(&tx, &mut seqs, &other, &id);
    assert!(matches!(take, Err(StoreError::Conflict(_))), "{take:?}");
    assert_eq!(
        count("SELECT count(*) FROM event_log WHERE kind = 'TAKE'"),
        0
    );
    seqs.save(&tx).unwrap();
    // A step that ends between the resolution and its stamps.
    projection::apply(&tx, 2).unwrap();
    assert_eq!(get(&tx, &id).unwrap().unwrap(), resolved.emergency);
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE resolved_at IS NOT NULL"),
        0
    );
    assert_eq!(open_counts(&tx).unwrap(), (1, 1), "counted once");
    projection::apply_all(&tx).unwrap();
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    assert_eq!(open_counts(&tx).unwrap(), (1, 1));
    assert_eq!(
        lines(
            &tx,
            "SELECT concat_ws(' ', content, resolved_at IS NOT NULL, change_seq) FROM messages \
             ORDER BY rowid"
        ),
        [
            format!("help 1 {}", seq + 1),
            format!("again 1 {}", seq + 2),
            format!("help again 0 {}", next.seq.0 - 1),
        ]
    );
    for m in [&first.message, &joined.message] {
        let stored = messages::by_id(&tx, &m.id).unwrap().unwrap();
        assert_eq!(stored.resolved_at, resolved.emergency.resolved_at);
    }
    assert_eq!(
        lines(
            &tx,
            "SELECT concat_ws(' ', kind, coalesce(note, '-')) FROM emergency_transitions \
             WHERE kind != 'ALERTED' ORDER BY id"
        ),
        [
            "RAISED -",
            "ACKNOWLEDGED -",
            "RESOLVED called back",
            "RAISED -"
        ]
    );
    // A stamp never takes a row's change seq back (the move applies receipts first).
    tx.execute(
        "UPDATE messages SET change_seq = 1000000 WHERE id = ?1",
        [first.message.id.as_str()],
    )
    .unwrap();
    write_stamp(
        &tx,
        &LoggedStamp {
            seq: 5,
            message: first.message.id.clone(),
            emergency: id.clone(),
            at: 0,
        },
    )
    .unwrap();
    assert_eq!(
        count(&format!(
            "SELECT change_seq FROM messages WHERE id = '{}'",
            first.message.id
        )),
        1_000_000
    );
}

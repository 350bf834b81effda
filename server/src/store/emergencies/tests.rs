//! Emergencies raised in a batch that logs (schema v27), against the same commands written
//! directly: the answers, and the rows, transitions, counters and audit the move leaves.
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

/// A database with a patient and two doctors.
fn clinic() -> (tempfile::TempDir, Connection, User, User, User) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::store::open_write(&dir.path().join("clinic.db"), Synchronous::Full).unwrap();
    let patient = users::for_test(&conn, "pat", Role::Patient);
    let doctor = users::for_test(&conn, "doc", Role::Doctor);
    let other = users::for_test(&conn, "doc2", Role::Doctor);
    (dir, conn, patient, doctor, other)
}

fn lines(conn: &Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// What a run leaves, without ids and times (each run makes its own; people by username): the
/// messages, the emergencies with the seq of their message, their transitions, the
/// conversation's counters, the audit trail's actions.
fn left(conn: &Connection) -> Vec<String> {
    let name =
        |column: &str| format!("coalesce((SELECT username FROM users WHERE id = {column}), '-')");
    let mut all = lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', seq, {}, message_type, is_emergency, status, {}, \
             coalesce(notice, '-'), change_seq, created_at = updated_at) \
             FROM messages ORDER BY seq",
            name("sender_id"),
            name("recipient_id")
        ),
    );
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', m.seq, e.state, {}, e.change_seq, e.raised_at = m.created_at) \
             FROM emergencies e JOIN messages m ON m.id = e.message_id ORDER BY e.change_seq",
            name("e.acknowledged_by")
        ),
    ));
    all.extend(lines(
        conn,
        &format!(
            "SELECT concat_ws(' ', t.kind, {}) FROM emergency_transitions t ORDER BY t.id",
            name("t.actor_id")
        ),
    ));
    all.extend(lines(
        conn,
        "SELECT concat_ws(' ', patient_unread, doctor_unread, patient_notices, doctor_notices) \
         FROM conversations",
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

/// Runs `steps` (who sends what to which doctor's conversation, whether an emergency) in one
/// transaction, logged or written directly, then moves the log; the answers that raised or
/// joined an emergency.
fn phase(
    conn: &mut Connection,
    log: bool,
    patient: &User,
    steps: &[(&User, &User, &str, bool)],
) -> Vec<Sent> {
    let tx = conn.transaction().unwrap();
    let mut seqs = Seqs::loaded(&tx, log);
    let mut answers = Vec::new();
    for (sender, doctor, content, emergency) in steps {
        let new = message(patient, doctor, content, *emergency);
        let id = ClientId::from(format!("c-{content}"));
        let sent = messages::send(&tx, &mut seqs, sender, &new, &id).unwrap();
        if sent.emergency.is_some() {
            answers.push(sent);
        }
    }
    seqs.save(&tx).unwrap();
    projection::apply_all(&tx).unwrap();
    tx.commit().unwrap();
    answers
}

/// The script both runs follow: the patient presses emergency twice (the second time in the
/// conversation with another doctor), a doctor takes it, the patient presses again twice (first
/// to the other doctor: the emergency stays the first doctor's), the doctor answers. `log` says
/// whether the sends are logged (a batch of nothing but sends) or written directly; the log
/// moves where a direct command would move it (before the doctor takes it) and at the end.
/// Returns the answers.
fn script(conn: &mut Connection, log: bool, patient: &User, doctor: &User) -> Vec<Sent> {
    let other = users::by_username(conn, "doc2").unwrap().unwrap().user;
    let mut answers = phase(
        conn,
        log,
        patient,
        &[
            (patient, doctor, "help", true),
            (patient, &other, "still need help", true),
        ],
    );
    let tx = conn.transaction().unwrap();
    let id = answers[0].emergency.as_ref().unwrap().emergency.id.clone();
    let mut seqs = Seqs::loaded(&tx, false);
    acknowledge(&tx, &mut seqs, doctor, &id).unwrap();
    seqs.save(&tx).unwrap();
    tx.commit().unwrap();
    answers.extend(phase(
        conn,
        log,
        patient,
        &[
            (patient, &other, "again", true),
            (patient, doctor, "hello?", true),
            (doctor, doctor, "on my way", false),
        ],
    ));
    answers
}

/// A logged raise answers what a direct one answers, and the move leaves what the direct
/// writes leave: the same messages (an emergency message without a notification of its own),
/// the same emergency opened, taken and reopened, the same transitions, counters and audit.
#[test]
fn a_logged_raise_leaves_what_a_direct_one_writes() {
    let (_d1, mut direct_conn, patient, doctor, _) = clinic();
    let direct = script(&mut direct_conn, false, &patient, &doctor);
    let (_d2, mut logged_conn, patient, doctor, _) = clinic();
    let logged = script(&mut logged_conn, true, &patient, &doctor);
    let hows = |answers: &[Sent]| -> Vec<Raise> {
        answers
            .iter()
            .map(|s| s.emergency.as_ref().unwrap().how)
            .collect()
    };
    let expected = [Raise::New, Raise::Joined, Raise::Reopened, Raise::Joined];
    assert_eq!(hows(&direct), expected);
    assert_eq!(hows(&logged), expected);
    assert_eq!(left(&logged_conn), left(&direct_conn));
    let rows = left(&logged_conn);
    let transitions: Vec<&String> = rows
        .iter()
        .filter(|r| r.starts_with("RAISED ") || r.starts_with("ACKNOWLEDGED "))
        .collect();
    assert_eq!(
        transitions,
        ["RAISED pat", "ACKNOWLEDGED doc", "RAISED pat"],
        "{rows:?}"
    );
    // Each answer is the emergency as it then was: the reopened one waits again, untaken.
    for sent in &logged {
        let emergency = &sent.emergency.as_ref().unwrap().emergency;
        assert_eq!(emergency.state, EmergencyState::Raised);
        assert_eq!(emergency.acknowledged_by, None);
        assert!(sent.message.is_emergency);
        assert_eq!(sent.message.message_type, MessageType::Emergency);
    }
    let last = &logged[3].emergency.as_ref().unwrap().emergency;
    let now = get(&logged_conn, &last.id).unwrap().unwrap();
    assert_eq!(&now, last, "the last answer is the row after the move");
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

/// A logged emergency send that repeats a stored message's key (only if the writer's keys were
/// incomplete) is left out of the move with its raise: no emergency names a message that was
/// never stored, and the move goes on.
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
    projection::apply_all(&tx).unwrap();
    let count = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM event_log"), 0);
    assert_eq!(count("SELECT count(*) FROM emergencies"), 0);
    assert_eq!(count("SELECT count(*) FROM messages"), 1);
}

/// Through the writer: the emergency a logged raise opened is forgotten with a batch that
/// rolls back (the next press opens a new one, not a join of one never stored) and with any
/// command that moves the log (a doctor taking it: the next press reopens it).
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

/// A raise the writer remembers but another process moved (the CLI opens the database and
/// moves the log): the next press is judged on the stored emergency, which may have changed
/// meanwhile, not on the remembered one. A raise that reopens counts as waiting again in
/// `/metrics` before its move.
#[tokio::test]
async fn a_raise_moved_by_another_process_is_judged_on_the_stored_emergency() {
    let (dir, patient, doctor, writer, thread) = writing(std::time::Duration::from_secs(3600));
    let path = dir.path().join("clinic.db");
    let press = |content: &str| {
        let (patient, new) = (patient.clone(), message(&patient, &doctor, content, true));
        let id = ClientId::from(format!("c-{content}"));
        let writer = writer.clone();
        async move {
            writer
                .run_append(move |conn, seqs| {
                    let sent = messages::send(conn, seqs, &patient, &new, &id)?;
                    Ok::<_, StoreError>(sent.emergency.unwrap())
                })
                .await
                .unwrap()
        }
    };
    let first = press("help").await;
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
    let again = press("again").await;
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

//! The demo clinic: three doctors, three patients, an admin and a little history, so that one
//! command shows a working system. Every account's password is [`DEMO_PASSWORD`].

use crate::accounts::{AccountError, NewAccount, create_user, list_users};
use crate::config::db_path;
use crate::store::{self, messages, receipts};
use chrono::NaiveDate;
use clinic_protocol::{ClientId, NewMessage, Role, User};
use std::path::Path;

pub const DEMO_PASSWORD: &str = "clinic-demo";

/// What `seed` made.
#[derive(Debug, Clone)]
pub struct DemoClinic {
    /// False when the data folder already had accounts (nothing was changed).
    pub created: bool,
    pub users: Vec<User>,
}

struct Person {
    username: &'static str,
    name: &'static str,
    role: Role,
    born: Option<(i32, u32, u32)>,
    blood: Option<&'static str>,
}

const PEOPLE: &[Person] = &[
    Person {
        username: "dr.patel",
        name: "Dr. Asha Patel",
        role: Role::Doctor,
        born: None,
        blood: None,
    },
    Person {
        username: "dr.nguyen",
        name: "Dr. Minh Nguyen",
        role: Role::Doctor,
        born: None,
        blood: None,
    },
    Person {
        username: "dr.okafor",
        name: "Dr. Chidi Okafor",
        role: Role::Doctor,
        born: None,
        blood: None,
    },
    Person {
        username: "alice",
        name: "Alice Martin",
        role: Role::Patient,
        born: Some((1958, 3, 14)),
        blood: Some("A+"),
    },
    Person {
        username: "bob",
        name: "Bob Kowalski",
        role: Role::Patient,
        born: Some((1990, 11, 2)),
        blood: Some("O-"),
    },
    Person {
        username: "carol",
        name: "Carol Diaz",
        role: Role::Patient,
        born: Some((2001, 7, 23)),
        blood: Some("B+"),
    },
    Person {
        username: "admin",
        name: "Clinic Admin",
        role: Role::Admin,
        born: None,
        blood: None,
    },
];

/// (sender, patient, doctor, text)
const HISTORY: &[(&str, &str, &str, &str)] = &[
    (
        "alice",
        "alice",
        "dr.patel",
        "Good morning doctor, my blood pressure was 150/95 today.",
    ),
    (
        "dr.patel",
        "alice",
        "dr.patel",
        "Thanks Alice. Did you take your evening dose yesterday?",
    ),
    ("alice", "alice", "dr.patel", "Yes, at 8 pm as usual."),
    (
        "dr.patel",
        "alice",
        "dr.patel",
        "Please measure again tonight and send me the reading.",
    ),
    (
        "bob",
        "bob",
        "dr.patel",
        "Hi, can I move my check-up to Friday?",
    ),
    (
        "dr.patel",
        "bob",
        "dr.patel",
        "Friday 10:30 works. See you then.",
    ),
    (
        "carol",
        "carol",
        "dr.nguyen",
        "Is it normal to feel dizzy after the new prescription?",
    ),
];

/// Creates the demo clinic in `data_dir` unless it already has accounts.
pub fn seed(data_dir: &Path) -> Result<DemoClinic, AccountError> {
    let existing = list_users(data_dir)?;
    if !existing.is_empty() {
        return Ok(DemoClinic {
            created: false,
            users: existing.into_iter().map(|a| a.user).collect(),
        });
    }
    let mut users = Vec::new();
    for person in PEOPLE {
        users.push(create_user(
            data_dir,
            NewAccount {
                username: person.username.into(),
                name: person.name.into(),
                role: person.role,
                password: DEMO_PASSWORD.into(),
                date_of_birth: person
                    .born
                    .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)),
                blood_group: person.blood.map(Into::into),
            },
        )?);
    }
    let find = |username: &str| users.iter().find(|u| u.username == username).cloned();
    let mut conn = store::open_write(&db_path(data_dir), crate::Synchronous::Full)?;
    for (index, (sender, patient_name, doctor_name, text)) in HISTORY.iter().enumerate() {
        let (Some(sender), Some(patient), Some(doctor)) =
            (find(sender), find(patient_name), find(doctor_name))
        else {
            continue;
        };
        let client_id = ClientId::new(format!("demo-{index}"));
        let new = NewMessage {
            client_id: Some(client_id.clone()),
            patient_id: patient.id,
            doctor_id: doctor.id,
            content: (*text).into(),
            is_emergency: false,
            file_url: None,
            file_name: None,
            held_ms: None,
        };
        // Everything but the last message of each conversation has been read: the history
        // looks lived-in and the unread badges show one new message.
        let answered = HISTORY[index + 1..]
            .iter()
            .any(|(_, p, d, _)| (*p, *d) == (*patient_name, *doctor_name));
        // The history happened over the last few hours, twenty minutes apart, ending an hour ago.
        let steps_back = i64::try_from(HISTORY.len() - index).unwrap_or(0);
        let sent_at = crate::time::now_ms() - 3_600_000 - steps_back * 1_200_000;
        // Alice wrote her first reading on the way in, offline, and it went 40 minutes later;
        // Carol's question (the last message of the history) waited 25 minutes.
        let offline = match index {
            0 => Some(sent_at - 40 * 60_000),
            last if last + 1 == HISTORY.len() => Some(sent_at - 25 * 60_000),
            _ => None,
        };
        store::writer::run_direct(&mut conn, |conn, seqs| {
            let sent = messages::send(conn, seqs, &sender, &new, &client_id)?;
            conn.execute(
                "UPDATE messages SET created_at = ?1, updated_at = ?1, written_at = ?3,
                 delivered_at = CASE WHEN delivered_at IS NULL THEN NULL ELSE ?1 END
                 WHERE id = ?2",
                rusqlite::params![sent_at, sent.message.id.as_str(), offline],
            )?;
            if answered {
                let recipient = new.patient_id.clone();
                let reader = if sender.id == recipient {
                    &new.doctor_id
                } else {
                    &recipient
                };
                receipts::mark_read(conn, seqs, reader, &[sent.message.id])?;
            }
            Ok::<_, crate::error::ApiError>(())
        })?;
    }
    Ok(DemoClinic {
        created: true,
        users,
    })
}

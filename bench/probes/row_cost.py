"""What each of a message row's b-trees costs the move and a receipt, schema v22 and later.

(The log is `event_log` from schema v25, `send_log` before: both are handled.)

A probe, not a benchmark scenario ("Larger moves: fewer bytes, the same CPU" in
docs/benchmarks.md found the writer's time in each row's entries, not in the pages they share).
It copies a real, empty clinic database (made by `clinic-server --data-dir DIR init`),
prefills it with messages across many conversations, then, in rounds, logs a slice of sends,
moves it into `messages` with the server's own statement (`store/projection.rs`), and applies a
read receipt (or, in two variants, a delivered one) to every message of the slice as the next
move would (`APPLY_READ`'s effect: the status, the times, a new change sequence). The column
"read" is that receipt. It prints the process CPU and the write-ahead log
bytes per row of each, medians of three runs, for variants of the message table:

- now: the table as the server makes it (a rowid, then unique indexes on `id`, `seq` and
  `change_seq`, the idempotency key, the conversation index, two partial change indexes);
- seq-rowid: `seq` is the rowid (`INTEGER PRIMARY KEY`), `id` a unique key: one b-tree fewer;
- no-change-unique: `change_seq` without its unique index (no query reads through it);
- both: the two together;
- and, for reference only, foreign keys off, no search queue trigger, no per-user change
  indexes (what those parts of a row cost; none is a candidate as it stands), and the table
  as it is with a page cache of 64 MiB instead of SQLite's default 2 MiB;
- conversation-changes: one change index keyed by conversation instead of the two keyed by
  user (a candidate that was not taken);
- read-up-to: the table as it is, each read made as schema v23's "read up to" makes it (it
  also sets `read_seq`, which keeps the row out of the per-user change indexes; needs a
  database made by a server of schema v23 or later);
- delivered, delivered-up-to: the receipt is a delivery instead of a read, by id (as every
  delivery was before schema v24) or "up to" as v24 makes it (it also sets `delivered_seq`,
  which keeps the row out of the per-user change indexes; needs a database of v24 or later).

`VARIANTS=now,read-up-to` runs only those.

Each variant that changes the table rebuilds it on a copy of the prefilled database (foreign
keys off, every index and trigger of the table made again). Debian 12's python3 and its SQLite 3.40 suffice:
    python3 bench/probes/row_cost.py /path/to/clinic.db
"""

import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import sqlite3

PATIENTS = 1000
DOCTORS = 100
PREFILL = 200_000
SLICE = int(os.environ.get("SLICE", "200"))
ROUNDS = 40
RUNS = 3
WORDS = (
    "pain fever cough dose tablet morning evening appointment blood pressure test result "
    "headache nausea better worse thanks please call tomorrow today week clinic nurse rash "
    "allergy insulin sugar heart rate sleep tired dizzy prescription refill pharmacy x-ray"
).split()

# The server's move (projection.rs, without the counters, which every variant pays alike), from
# the one log of schema v25 (`event_log`) or the send log before it.
MOVE_ROWS = {
    "event_log": (
        "INSERT INTO messages (id, seq, client_id, patient_id, doctor_id, sender_id, content, "
        "message_type, status, is_emergency, created_at, updated_at, change_seq, version, "
        "recipient_id, notice) "
        "SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, 'REGULAR', "
        "'SENT', 0, at, at, seq, 1, recipient_id, 0 FROM event_log "
        "WHERE seq <= ?1 AND kind = 'SEND' ORDER BY seq"
    ),
    "send_log": (
        "INSERT INTO messages (id, seq, client_id, patient_id, doctor_id, sender_id, content, "
        "message_type, status, is_emergency, created_at, updated_at, change_seq, version, "
        "recipient_id, notice) "
        "SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, 'REGULAR', "
        "'SENT', 0, created_at, created_at, seq, 1, recipient_id, 0 FROM send_log "
        "WHERE seq <= ?1 ORDER BY seq"
    ),
}
LOG_SEND = {
    "event_log": "INSERT INTO event_log (seq, id, client_id, patient_id, doctor_id, sender_id, "
    "recipient_id, content, at, kind) VALUES (?,?,?,?,?,?,?,?,?,'SEND')",
    "send_log": "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, "
    "recipient_id, content, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
}


def log_table(conn):
    """The log a database of this schema has: `event_log` from v25, `send_log` before."""
    found = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'event_log'").fetchone()
    return "event_log" if found else "send_log"
# A read receipt applied by id, as APPLY_READ leaves the row.
READ = (
    "UPDATE messages SET status = 'READ', read_at = ?2, delivered_at = coalesce(delivered_at, ?2), "
    "updated_at = ?2, change_seq = ?3 WHERE id = ?1"
)

TABLE_CHANGES = {
    "now": [],
    "seq-rowid": [
        ("id           TEXT PRIMARY KEY", "id           TEXT NOT NULL UNIQUE"),
        ("seq          INTEGER NOT NULL UNIQUE", "seq          INTEGER PRIMARY KEY"),
    ],
    "no-change-unique": [
        ("change_seq   INTEGER NOT NULL UNIQUE", "change_seq   INTEGER NOT NULL"),
    ],
}
TABLE_CHANGES["both"] = TABLE_CHANGES["seq-rowid"] + TABLE_CHANGES["no-change-unique"]
# For reference, what other parts of a row cost (not candidates as they are: the search index
# needs its queue, and sync its indexes).
TABLE_CHANGES["fk-off"] = []
TABLE_CHANGES["no-search-queue"] = []
TABLE_CHANGES["no-change-indexes"] = []
TABLE_CHANGES["cache-64mib"] = []
TABLE_CHANGES["conversation-changes"] = []
# Schema v23's "read up to": the read also sets `read_seq`, which keeps the row out of the
# per-user change indexes (the database must be v23 or later).
TABLE_CHANGES["read-up-to"] = []
READ_UP_TO = READ.replace("change_seq = ?3", "change_seq = ?3, read_seq = ?3")
# A delivered receipt, as APPLY_DELIVERED leaves the row: by id, and "up to" (schema v24).
TABLE_CHANGES["delivered"] = []
TABLE_CHANGES["delivered-up-to"] = []
DELIVERED = (
    "UPDATE messages SET status = 'DELIVERED', delivered_at = ?2, updated_at = ?2, "
    "change_seq = ?3 WHERE id = ?1"
)
DELIVERED_UP_TO = DELIVERED.replace("change_seq = ?3", "change_seq = ?3, delivered_seq = ?3")
RECEIPTS = {
    "read-up-to": READ_UP_TO,
    "delivered": DELIVERED,
    "delivered-up-to": DELIVERED_UP_TO,
}
AFTER_REBUILD = {
    "fk-off": ["PRAGMA foreign_keys=OFF"],
    "no-search-queue": ["DROP TRIGGER search_new"],
    "no-change-indexes": ["DROP INDEX messages_patient_change",
                          "DROP INDEX messages_doctor_change"],
    # The table as it is, with a page cache that holds the whole prefilled database (the
    # server's connections keep SQLite's default of about 2 MiB).
    "cache-64mib": ["PRAGMA cache_size=-65536"],
    # One change index keyed by conversation instead of the two keyed by user: a change writes
    # one entry, and sync seeks each of the user's conversations instead of one range.
    "conversation-changes": ["DROP INDEX messages_patient_change",
                             "DROP INDEX messages_doctor_change",
                             "CREATE INDEX messages_conversation_change ON messages(patient_id, "
                             "doctor_id, change_seq) WHERE change_seq != seq"],
}


def text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16)))


class Clinic:
    def __init__(self, conn):
        self.conn = conn
        row = conn.execute("SELECT value FROM counters WHERE name = 'change_seq'").fetchone()
        self.seq = row[0] if row else 0
        self.pairs = [(f"p{i}", f"d{i % DOCTORS}") for i in range(PATIENTS)]
        self.moved = []
        self.log_name = log_table(conn)

    def log(self, rng, n):
        rows = []
        for _ in range(n):
            self.seq += 1
            patient, doctor = rng.choice(self.pairs)
            sender, recipient = (patient, doctor) if rng.random() < 0.5 else (doctor, patient)
            # Time-ordered ids, as the server's UUIDv7 ones are.
            rows.append((self.seq, f"m-{self.seq:012d}", f"c-{self.seq:012d}", patient, doctor,
                         sender, recipient, text(rng), 1_700_000_000_000 + self.seq))
        self.conn.executemany(LOG_SEND[self.log_name], rows)
        self.moved = [r[1] for r in rows]
        self.conn.execute("UPDATE counters SET value = ? WHERE name = 'change_seq'", (self.seq,))

    def move(self):
        self.conn.execute(MOVE_ROWS[self.log_name], (self.seq,))
        self.conn.execute(f"DELETE FROM {self.log_name} WHERE seq <= ?1", (self.seq,))

    def read_all(self, statement=READ):
        for message_id in self.moved:
            self.seq += 1
            self.conn.execute(statement, (message_id, 1_700_000_000_000 + self.seq, self.seq))
        self.conn.execute("UPDATE counters SET value = ? WHERE name = 'change_seq'", (self.seq,))


def connect(path, synchronous):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def prefilled(schema_db, folder):
    path = os.path.join(folder, "prefilled.db")
    shutil.copy(schema_db, path)
    conn = connect(path, "OFF")
    conn.execute("BEGIN")
    for prefix, count, role in (("p", PATIENTS, "PATIENT"), ("d", DOCTORS, "DOCTOR")):
        for i in range(count):
            conn.execute("INSERT INTO users (id, username, name, role, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, 'x', 0)", (f"{prefix}{i}", f"{prefix}{i}",
                                                       f"{prefix} {i}", role))
    for i in range(PATIENTS):
        conn.execute("INSERT INTO conversations (patient_id, doctor_id, created_at) "
                     "VALUES (?, ?, 0)", (f"p{i}", f"d{i % DOCTORS}"))
    clinic = Clinic(conn)
    rng = random.Random(1)
    for _ in range(PREFILL // 5000):
        clinic.log(rng, 5000)
        clinic.move()
        # Half of them read, so the change indexes hold what a running clinic's do.
        clinic.moved = clinic.moved[::2]
        clinic.read_all()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def rebuild(conn, variant):
    """The message table made again with the variant's definition, every row kept."""
    changes = TABLE_CHANGES[variant]
    if not changes:
        return
    table = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'").fetchone()[0]
    for old, new in changes:
        assert old in table, f"{variant}: {old!r} not in the table's definition"
        table = table.replace(old, new)
    table = table.replace('CREATE TABLE "messages"', "CREATE TABLE messages_new", 1)
    table = table.replace("CREATE TABLE messages ", "CREATE TABLE messages_new ", 1)
    others = [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND type IN ('index', "
        "'trigger') AND sql IS NOT NULL")]
    columns = ", ".join(name for (_, name, *_rest) in conn.execute("PRAGMA table_info(messages)"))
    conn.execute("PRAGMA foreign_keys=OFF")
    # Other tables' triggers name `messages`: the rename must not parse them while it is gone.
    conn.execute("PRAGMA legacy_alter_table=ON")
    conn.execute("BEGIN")
    conn.execute(table)
    conn.execute(f"INSERT INTO messages_new ({columns}) SELECT {columns} FROM messages ORDER BY seq")
    conn.execute("DROP TABLE messages")
    conn.execute("ALTER TABLE messages_new RENAME TO messages")
    for sql in others:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA legacy_alter_table=OFF")
    conn.execute("PRAGMA foreign_keys=ON")
    problems = conn.execute("PRAGMA foreign_key_check").fetchall()
    assert not problems, problems


def run(prefilled_db, folder, variant, seed):
    path = os.path.join(folder, f"{variant}.db")
    shutil.copy(prefilled_db, path)
    conn = connect(path, "NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    rebuild(conn, variant)
    for sql in AFTER_REBUILD.get(variant, []):
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    clinic = Clinic(conn)
    rng = random.Random(seed)
    cpu = {"move": 0.0, "read": 0.0}
    wal = {"move": 0, "read": 0}
    for _ in range(ROUNDS):
        conn.execute("BEGIN IMMEDIATE")
        clinic.log(rng, SLICE)
        conn.execute("COMMIT")
        statement = RECEIPTS.get(variant, READ)
        for what, step in (("move", clinic.move), ("read", lambda: clinic.read_all(statement))):
            before = os.path.getsize(path + "-wal")
            started = time.process_time()
            conn.execute("BEGIN IMMEDIATE")
            step()
            conn.execute("COMMIT")
            cpu[what] += time.process_time() - started
            wal[what] += os.path.getsize(path + "-wal") - before
    conn.close()
    os.remove(path)
    rows = ROUNDS * SLICE
    return {what: (cpu[what] / rows * 1e6, wal[what] / rows / 1024) for what in cpu}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as folder:
        base = prefilled(sys.argv[1], folder)
        only = os.environ.get("VARIANTS")
        variants = only.split(",") if only else list(TABLE_CHANGES)
        results = {variant: [] for variant in variants}
        for seed in range(RUNS):
            for variant in variants:
                results[variant].append(run(base, folder, variant, seed + 2))
        print(f"per row, medians of {RUNS} runs of {ROUNDS} slices of {SLICE}; SQLite "
              f"{sqlite3.sqlite_version}")
        print(f"{'variant':18} {'move CPU':>10} {'move WAL':>10} {'read CPU':>10} {'read WAL':>10}")
        for variant, runs in results.items():
            med = {what: (statistics.median(r[what][0] for r in runs),
                          statistics.median(r[what][1] for r in runs)) for what in runs[0]}
            print(f"{variant:18} {med['move'][0]:8.1f}us {med['move'][1]:8.2f}KB "
                  f"{med['read'][0]:8.1f}us {med['read'][1]:8.2f}KB")


if __name__ == "__main__":
    main()

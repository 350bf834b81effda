"""What moving logged sends into `messages` costs per row, and what each candidate change saves.

A probe, not a benchmark scenario, written for schemas v15 to v18: since v19 the search indexes
are in `search.db` and the variants that touch them (automerge-8, no-search, v16, v16-no-search)
fail on a newer database; run it against a database made by a v18 server (`ed849c1`) to repeat
those measurements. It copies the schema of a real, empty clinic database (made
by `clinic-server --data-dir DIR serve --init`), prefills it with messages across many
conversations, then times the writer's move step (`store/projection.rs`, the same statements)
over slices of logged sends, for variants of the schema or the connection:

- baseline: the schema as the server makes it;
- fk-off: foreign keys off while the slice moves (the log rows were checked when logged);
- partial-change: the two per-user change-ordered indexes hold only rows changed after they were
  written (`WHERE change_seq != seq`), so a new message writes no entry there;
- automerge-8: FTS5 `automerge` 8 instead of 4 on both search indexes;
- no-search: the search triggers dropped (what the two search indexes cost, for reference);
- v16: partial-change and automerge-8 together (what schema v16 does);
- v16-no-notice, v16-no-search: v16 without the derived notifications' index, or without the
  search indexes (what each still costs).

It prints the process CPU per moved row and the write-ahead log bytes per moved row (the WAL is
not checkpointed during the timed part), medians of three runs per variant.

Needs an SQLite with FTS5 trigram options (3.44+); Debian 12's is older:
    python3 -m venv .venv && .venv/bin/pip install pysqlite3-binary
    .venv/bin/python bench/probes/move_cost.py /path/to/clinic.db
"""

import os
import random
import shutil
import statistics
import sys
import tempfile
import time

try:
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

PATIENTS = 1000
DOCTORS = 100
PREFILL = 200_000
SLICE = int(os.environ.get("SLICE", "200"))
ROUNDS = 40
WORDS = (
    "pain fever cough dose tablet morning evening appointment blood pressure test result "
    "headache nausea better worse thanks please call tomorrow today week clinic nurse rash "
    "allergy insulin sugar heart rate sleep tired dizzy prescription refill pharmacy x-ray"
).split()

MOVE_COUNTERS = (
    "UPDATE conversations SET patient_unread = patient_unread + n.to_patient, "
    "doctor_unread = doctor_unread + n.to_doctor "
    "FROM (SELECT patient_id, doctor_id, sum(sender_id != patient_id) AS to_patient, "
    "sum(sender_id != doctor_id) AS to_doctor FROM send_log WHERE seq <= ?1 "
    "GROUP BY patient_id, doctor_id) AS n "
    "WHERE conversations.patient_id = n.patient_id AND conversations.doctor_id = n.doctor_id"
)
MOVE_ROWS = (
    "INSERT INTO messages (id, seq, client_id, patient_id, doctor_id, sender_id, content, "
    "message_type, status, is_emergency, created_at, updated_at, change_seq, version, "
    "recipient_id, notice) "
    "SELECT id, seq, client_id, patient_id, doctor_id, sender_id, content, 'REGULAR', "
    "'SENT', 0, created_at, created_at, seq, 1, recipient_id, 0 FROM send_log "
    "WHERE seq <= ?1 ORDER BY seq"
)
MOVE_DELETE = "DELETE FROM send_log WHERE seq <= ?1"

VARIANTS = {
    "baseline": [],
    "fk-off": [],
    "partial-change": [
        "DROP INDEX messages_patient_change",
        "DROP INDEX messages_doctor_change",
        "CREATE INDEX messages_patient_change ON messages(patient_id, change_seq) "
        "WHERE change_seq != seq",
        "CREATE INDEX messages_doctor_change ON messages(doctor_id, change_seq) "
        "WHERE change_seq != seq",
    ],
    "automerge-8": [
        "INSERT INTO messages_words (messages_words, rank) VALUES ('automerge', 8)",
        "INSERT INTO messages_parts (messages_parts, rank) VALUES ('automerge', 8)",
    ],
    "no-search": ["DROP TRIGGER messages_search_insert"],
}
# Schema v16 is the last two together.
VARIANTS["v16"] = VARIANTS["partial-change"] + VARIANTS["automerge-8"]
# What is left in v16, one part at a time: the derived notifications' index, the search indexes.
# (Schema v18 dropped that index: on a database made by a v18 server this variant is v16.)
VARIANTS["v16-no-notice"] = VARIANTS["v16"] + ["DROP INDEX IF EXISTS messages_notice"]
VARIANTS["v16-no-search"] = VARIANTS["v16"] + ["DROP TRIGGER messages_search_insert"]


def text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16)))


class Clinic:
    def __init__(self, conn):
        self.conn = conn
        self.seq = conn.execute("SELECT value FROM counters WHERE name = 'change_seq'").fetchone()
        self.seq = self.seq[0] if self.seq else 0
        self.pairs = [(f"p{i}", f"d{i % DOCTORS}") for i in range(PATIENTS)]

    def log(self, rng, n):
        rows = []
        for _ in range(n):
            self.seq += 1
            patient, doctor = rng.choice(self.pairs)
            sender, recipient = (patient, doctor) if rng.random() < 0.5 else (doctor, patient)
            rows.append((self.seq, f"m-{self.seq:012d}", f"c{self.seq}", patient, doctor, sender,
                         recipient, text(rng), 1_700_000_000_000 + self.seq))
        self.conn.executemany(
            "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, "
            "recipient_id, content, created_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)
        self.conn.execute("INSERT OR REPLACE INTO counters (name, value) VALUES "
                          "('change_seq', ?)", (self.seq,))

    def move(self):
        upto = self.seq
        self.conn.execute(MOVE_COUNTERS, (upto,))
        self.conn.execute(MOVE_ROWS, (upto,))
        self.conn.execute(MOVE_DELETE, (upto,))


def connect(path, synchronous):
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def add_people(conn):
    """PATIENTS patients and DOCTORS doctors, each patient in a conversation with a doctor."""
    for prefix, count, role in (("p", PATIENTS, "PATIENT"), ("d", DOCTORS, "DOCTOR")):
        for i in range(count):
            conn.execute("INSERT INTO users (id, username, name, role, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, 'x', 0)", (f"{prefix}{i}", f"{prefix}{i}", f"{prefix} {i}", role))
    for i in range(PATIENTS):
        conn.execute("INSERT INTO conversations (patient_id, doctor_id, created_at) "
                     "VALUES (?, ?, 0)", (f"p{i}", f"d{i % DOCTORS}"))


def prefilled(schema_db, folder):
    path = os.path.join(folder, "prefilled.db")
    shutil.copy(schema_db, path)
    conn = connect(path, "OFF")
    conn.execute("BEGIN")
    add_people(conn)
    clinic = Clinic(conn)
    rng = random.Random(1)
    for _ in range(PREFILL // 5000):
        clinic.log(rng, 5000)
        clinic.move()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def copy_for_timing(prefilled_db, folder, variant):
    """A copy of the prefilled database, opened as the writer would, the WAL not checkpointed."""
    path = os.path.join(folder, f"{variant}.db")
    shutil.copy(prefilled_db, path)
    conn = connect(path, "NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return path, conn


def run(prefilled_db, folder, variant, seed):
    path, conn = copy_for_timing(prefilled_db, folder, variant)
    for sql in VARIANTS[variant]:
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    clinic = Clinic(conn)
    rng = random.Random(seed)
    fk_off = variant == "fk-off"
    measured = timed_moves(conn, path, lambda: clinic.log(rng, SLICE), clinic.move, fk_off)
    conn.close()
    os.remove(path)
    return measured


def timed_moves(conn, path, log, move, fk_off=False):
    """Logs a slice and times its move, ROUNDS times: CPU seconds and WAL bytes per moved row."""
    cpu = 0.0
    wal = 0
    for _ in range(ROUNDS):
        conn.execute("BEGIN IMMEDIATE")
        log()
        conn.execute("COMMIT")
        before = os.path.getsize(path + "-wal")
        if fk_off:
            conn.execute("PRAGMA foreign_keys=OFF")
        started = time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        move()
        conn.execute("COMMIT")
        cpu += time.process_time() - started
        if fk_off:
            conn.execute("PRAGMA foreign_keys=ON")
        wal += os.path.getsize(path + "-wal") - before
    rows = ROUNDS * SLICE
    return cpu * 1e6 / rows, wal / rows


def report(results):
    """Prints each variant's medians and its runs."""
    width = max(16, max(len(v) for v in results))
    print(f"{'variant':{width}} {'CPU us/row':>11} {'WAL KB/row':>11}   runs (us)")
    for variant, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wal = statistics.median(r[1] for r in runs)
        listed = ", ".join(f"{r[0]:.0f}" for r in runs)
        print(f"{variant:{width}} {cpu:11.1f} {wal / 1024:11.1f}   {listed}")


def header():
    """The line saying what was measured."""
    print(f"SQLite {sqlite3.sqlite_version}; {PREFILL} messages prefilled over {PATIENTS} "
          f"conversations; {ROUNDS} slices of {SLICE}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    header()
    with tempfile.TemporaryDirectory() as folder:
        base = prefilled(sys.argv[1], folder)
        results = {v: [] for v in VARIANTS}
        for seed in range(3):
            for variant in VARIANTS:
                results[variant].append(run(base, folder, variant, seed))
        report(results)


if __name__ == "__main__":
    main()

"""What the `messages` table's own keys cost the send log's move, per moved row (schema v19).

A probe, not a benchmark scenario. The move (`store/projection.rs`) inserts logged sends into
`messages`; every row then enters, besides the table itself, the unique indexes on `id`, `seq`,
`change_seq` and `(sender_id, client_id)`, and `messages_conversation`. The sender-first
idempotency key puts each row on a random leaf (one region per sender), and `seq` is a unique
index beside the rowid. Changing either needs the table rebuilt, so this measures first. Variants:

- v19: the schema as the server makes it, client ids time-ordered (UUIDv7, as the desktop app
  makes them, each device's clock a few seconds off);
- client-first: the idempotency key as `UNIQUE (client_id, sender_id)`: with time-ordered ids
  the entry lands near the right edge instead of on a random leaf;
- client-first-seq-rowid: and `seq INTEGER PRIMARY KEY` (the rowid is the seq: one index less).

It copies the schema of a real, empty clinic database made by a v19 server (`clinic-server
--data-dir DIR init` of `75d5aa0`; it refuses a newer one, whose table is already rebuilt), rebuilds `messages` for the variants (before anything is timed), prefills messages across
many conversations, then times the move over slices of logged sends. It prints the process CPU
and the write-ahead log bytes per moved row, medians of three runs per variant.

    python3 bench/probes/message_keys.py /path/to/clinic.db
"""

import os
import random
import re
import shutil
import sys
import tempfile
import uuid

from move_cost import (
    DOCTORS, MOVE_COUNTERS, MOVE_DELETE, MOVE_ROWS, PATIENTS, PREFILL, SLICE, add_people, connect,
    copy_for_timing, header, report, text, timed_moves,
)

SKEW_MS = 5_000


def v7(ms, rng):
    """A UUIDv7 string for the time `ms` (the desktop app's `Uuid::now_v7()`)."""
    value = (ms << 80) | (7 << 76) | (rng.getrandbits(12) << 64) | (2 << 62) | rng.getrandbits(62)
    return str(uuid.UUID(int=value))


def rebuild(conn, client_first, seq_rowid):
    """Rebuilds `messages` with other keys, keeping its indexes and triggers (an empty table)."""
    (table,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'messages'").fetchone()
    others = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND sql IS NOT NULL "
        "AND name != 'messages'")]
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version != 19 or table.count("UNIQUE (sender_id, client_id)") != 1:
        sys.exit(f"needs an empty database made by a v19 server (`75d5aa0`); this is v{version}")
    if client_first:
        table = table.replace("UNIQUE (sender_id, client_id)", "UNIQUE (client_id, sender_id)")
    if seq_rowid:
        table = re.sub(r"id\s+TEXT PRIMARY KEY", "id TEXT NOT NULL UNIQUE", table, count=1)
        table = re.sub(r"seq\s+INTEGER NOT NULL UNIQUE", "seq INTEGER PRIMARY KEY", table, count=1)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("DROP TABLE messages")
    conn.execute(table)
    for sql in others:
        conn.execute(sql)
    conn.execute("PRAGMA foreign_keys=ON")


class Clinic:
    def __init__(self, conn, rng):
        self.conn = conn
        self.rng = rng
        self.seq = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0]
        self.pairs = [(f"p{i}", f"d{i % DOCTORS}") for i in range(PATIENTS)]
        self.skew = {}

    def client_id(self, sender, ms):
        skew = self.skew.setdefault(sender, self.rng.randint(-SKEW_MS, SKEW_MS))
        return v7(ms + skew, self.rng)

    def log(self, n):
        rows = []
        for _ in range(n):
            self.seq += 1
            patient, doctor = self.rng.choice(self.pairs)
            sender, recipient = (patient, doctor) if self.rng.random() < 0.5 else (doctor, patient)
            ms = 1_700_000_000_000 + self.seq
            rows.append((self.seq, "m-" + v7(ms, self.rng).replace("-", ""),
                         self.client_id(sender, ms), patient, doctor, sender, recipient,
                         text(self.rng), ms))
        self.conn.executemany(
            "INSERT INTO send_log (seq, id, client_id, patient_id, doctor_id, sender_id, "
            "recipient_id, content, created_at) VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def move(self):
        upto = self.seq
        self.conn.execute(MOVE_COUNTERS, (upto,))
        self.conn.execute(MOVE_ROWS, (upto,))
        self.conn.execute(MOVE_DELETE, (upto,))


VARIANTS = {
    "v19": (False, False),
    "client-first": (True, False),
    "client-first-seq-rowid": (True, True),
}


def prefilled(schema_db, folder, variant):
    path = os.path.join(folder, f"prefilled-{variant}.db")
    shutil.copy(schema_db, path)
    conn = connect(path, "OFF")
    rebuild(conn, *VARIANTS[variant])
    conn.execute("BEGIN")
    add_people(conn)
    clinic = Clinic(conn, random.Random(1))
    for _ in range(PREFILL // 5000):
        clinic.log(5000)
        clinic.move()
    conn.execute("DELETE FROM search_changes")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def run(prefilled_db, folder, variant, seed):
    path, conn = copy_for_timing(prefilled_db, folder, variant)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    clinic = Clinic(conn, random.Random(100 + seed))
    measured = timed_moves(conn, path, lambda: clinic.log(SLICE), clinic.move)
    conn.close()
    os.remove(path)
    return measured


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    header()
    with tempfile.TemporaryDirectory() as folder:
        bases = {v: prefilled(sys.argv[1], folder, v) for v in VARIANTS}
        results = {v: [] for v in VARIANTS}
        for seed in range(3):
            for variant in VARIANTS:
                results[variant].append(run(bases[variant], folder, variant, seed))
        report(results)


if __name__ == "__main__":
    main()

"""What the two search indexes cost per message, by how many messages one flush indexes.

A probe, not a benchmark scenario: it indexes synthetic 14-word messages into the server's two
FTS5 tables (words with prefixes, trigrams; secure-delete on, as schema v10 sets), `batch`
messages per transaction, and prints the process CPU per message (the message row included),
the index's segment rows and the time of 400 searches; and, for comparison, the same rows
without the indexes. It answers one question for issue 15's
"search index outside the writer": how much a larger flush saves, and what FTS5's `automerge`
setting changes.

Needs an SQLite of at least 3.44 (secure-delete, trigram options); Debian 12's is older:
    python3 -m venv .venv && .venv/bin/pip install pysqlite3-binary
    .venv/bin/python bench/probes/fts_batch.py
"""

import os
import random
import sys
import tempfile
import time

try:
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

SCHEMA = """
CREATE TABLE m(seq INTEGER PRIMARY KEY, content TEXT, file_name TEXT);
CREATE VIRTUAL TABLE w USING fts5(content, file_name, content='m', content_rowid='seq',
    tokenize='unicode61 remove_diacritics 2', prefix='2 3');
CREATE VIRTUAL TABLE p USING fts5(content, file_name, content='m', content_rowid='seq',
    tokenize='trigram remove_diacritics 1');
INSERT INTO w(w, rank) VALUES('secure-delete', 1);
INSERT INTO p(p, rank) VALUES('secure-delete', 1);
"""


def run(folder, words, messages, batch, automerge, index=True):
    path = os.path.join(folder, f"probe-{batch}-{automerge}-{index}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("PRAGMA synchronous=normal")
    conn.executescript(SCHEMA)
    if automerge is not None:
        for table in ("w", "p"):
            conn.execute(f"INSERT INTO {table}({table}, rank) VALUES('automerge', {automerge})")
    began = time.process_time()
    seq = 0
    for start in range(0, len(messages), batch):
        conn.execute("BEGIN")
        for text in messages[start : start + batch]:
            seq += 1
            conn.execute("INSERT INTO m VALUES (?, ?, NULL)", (seq, text))
        for table in ("w", "p") if index else ():
            conn.execute(
                f"INSERT INTO {table}(rowid, content, file_name) "
                "SELECT seq, content, file_name FROM m WHERE seq > ?",
                (start,),
            )
        conn.execute("COMMIT")
    per_message = (time.process_time() - began) / len(messages) * 1e6
    if not index:
        print(f"batch {batch:4}, no search index: {per_message:6.1f} us per message", flush=True)
        conn.close()
        return
    segments = conn.execute("SELECT count(*) FROM w_data").fetchone()[0]
    searching = time.perf_counter()
    for word in words[:200]:
        conn.execute("SELECT count(*) FROM w WHERE w MATCH ?", (word,)).fetchone()
        conn.execute("SELECT count(*) FROM p WHERE p MATCH ?", (f'"{word[:4]}"',)).fetchone()
    searched = (time.perf_counter() - searching) * 1000
    conn.close()
    print(
        f"batch {batch:4}, automerge {automerge or 'default (4)'}: {per_message:6.1f} us per "
        f"message, {segments} index rows, 400 searches {searched:.0f} ms",
        flush=True,
    )


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40000
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyzéè"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(5000)]
    messages = [" ".join(rng.choice(words) for _ in range(14)) for _ in range(count)]
    print(f"SQLite {sqlite3.sqlite_version}, {count} messages")
    with tempfile.TemporaryDirectory() as folder:
        run(folder, words, messages, 100, None, index=False)
        for batch in (20, 100, 500):
            for automerge in (None, 8):
                run(folder, words, messages, batch, automerge)


if __name__ == "__main__":
    main()

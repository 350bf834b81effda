"""What a CHECK with a list of constants costs an INSERT, against the same CHECK without one.

A probe, not a benchmark scenario ("Store v2, step: CHECKs without `IN` lists (schema v32)" in
docs/benchmarks.md). SQLite checks `x IN (a, b, c, ...)` with more than two constants against a
temporary b-tree it builds at every execution of the statement (`OpenEphemeral` in its plan);
written as a `CASE` or as `x = a OR x = b ...` it compares in place. Until schema v32 the log's
`kind` (eleven kinds) and the audit's `outcome` (three) were such lists, and every send
inserts a row of each. This times single-row inserts into an in-memory table with each form,
in rounds, and prints microseconds an insert (Python's own overhead is in every figure alike).

Usage: python3 bench/probes/check_lists.py [rows] [rounds]
"""

import sqlite3
import sys
import time

KINDS = ["SEND", "DELIVERED", "READ", "EDIT", "RETRACT", "RAISE", "TAKE", "RESOLVE", "STAMP",
         "ESCALATE", "ALERT"]
OUTCOMES = ["OK", "DENIED", "FAILED"]


def forms(values):
    listed = ", ".join(f"'{v}'" for v in values)
    case = " ".join(f"WHEN '{v}' THEN 1" for v in values)
    ors = " OR ".join(f"x = '{v}'" for v in values)
    return {
        "IN list": f"x IN ({listed})",
        "CASE": f"CASE x {case} ELSE 0 END",
        "= and OR": ors,
    }


def per_insert(check, value, rows):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t (seq INTEGER PRIMARY KEY, x TEXT NOT NULL CHECK ({check}))")
    plan = [r[1] for r in conn.execute("EXPLAIN INSERT INTO t (x) VALUES (?)", (value,))]
    start = time.perf_counter()
    for _ in range(rows):
        conn.execute("INSERT INTO t (x) VALUES (?)", (value,))
    elapsed = time.perf_counter() - start
    return elapsed / rows * 1e6, "OpenEphemeral" in plan


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"SQLite {sqlite3.sqlite_version}, {rows} inserts a round, {rounds} rounds")
    for name, values in (("eleven kinds", KINDS), ("three outcomes", OUTCOMES)):
        times = {form: [] for form in forms(values)}
        ephemeral = {}
        for _ in range(rounds):
            for form, check in forms(values).items():
                us, eph = per_insert(check, values[0], rows)
                times[form].append(us)
                ephemeral[form] = eph
        for form, series in times.items():
            series.sort()
            print(f"{name:15s} {form:9s} median {series[len(series) // 2]:5.2f} us an insert"
                  f" (temporary b-tree: {'yes' if ephemeral[form] else 'no'})")


if __name__ == "__main__":
    main()

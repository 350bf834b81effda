#!/usr/bin/env bash
# Runs benchmark scenarios against a release server and appends their JSON lines to
# docs/bench/results.jsonl.
#
#   bench/run.sh SCENARIO [RUNS] [extra clinic-bench args...]
#
# SCENARIO is one of
#   s1..s7, s3n (S3 with synchronous=NORMAL), all (s1..s7 and s3n)
#   versus    the S3 ramp against clinic-server and the reference server (the seed's Node stack,
#             bench/reference, installed here with `npm ci` on first use); prints the ratio
#   cost      CPU and bytes written per message at 1,000 and 3,000 msg/s (from /proc)
#   cpu-path  the send path's CPU steps outside the database, before and after the CPU-path
#             work, timed in-process (no server)
#   restart   restart after SIGKILL with 1,000,000 messages (RUNS kill-and-restart cycles after
#             one seeding)
#   store     versus, cost and restart RUNS times each: the store's before/after numbers
# The server is pinned to core 0 and the generator to core 1 (see `clinic-bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/run.sh s1|s2|s3|s3n|s4|s5|s6|s7|all|versus|cost|cpu-path|restart|store [runs] [args...]"
scenario=${1:?$usage}
runs=${2:-1}
shift $(($# < 2 ? $# : 2))

# The reference server's dependencies, from its lockfile (better-sqlite3 compiles SQLite from
# source the first time: about two minutes).
reference() {
    local dir=bench/reference
    command -v node >/dev/null || { echo "versus needs node (20+) and npm" >&2; exit 1; }
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund)
    fi
}

# The generator first, then the server alone, as scripts/package builds it: built in one
# command, cargo unifies their dependencies' features and the server links the client's
# SQLCipher instead of SQLite (docs/benchmarks.md, "How to run").
cargo build --release -p clinic-bench
cargo build --release -p clinic-server
# 10,000 connections need more descriptors than the usual 1024 (server and generator each).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bin=${CARGO_TARGET_DIR:-target}/release/clinic-bench

case $scenario in
    all) list=(s1 s2 s3 s3n s4 s5 s6 s7) ;;
    store) list=(versus cost) ;;
    s1 | s2 | s3 | s3n | s4 | s5 | s6 | s7 | versus | cost | cpu-path | restart) list=("$scenario") ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
case $scenario in versus | store) reference ;; esac
if [ "$scenario" = store ] && [ $# -gt 0 ]; then
    echo "store takes no extra arguments (run versus, cost and restart on their own for that)" >&2
    exit 2
fi

if [ "$scenario" = restart ]; then
    exec "$bin" restart --runs "$runs" "$@"
fi
for _ in $(seq 1 "$runs"); do
    for s in "${list[@]}"; do
        case $s in
            s3n) "$bin" --synchronous normal s3 "$@" ;;
            *) "$bin" "$s" "$@" ;;
        esac
    done
done
if [ "$scenario" = store ]; then
    "$bin" restart --runs "$runs" "$@"
fi

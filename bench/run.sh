#!/usr/bin/env bash
# Runs benchmark scenarios against a release server and appends their JSON lines to
# docs/bench/results.jsonl.
#
#   bench/run.sh SCENARIO [RUNS] [extra clinic-bench args...]
#
# SCENARIO is s1..s7, s3n (S3 with synchronous=NORMAL) or all. The server is pinned to core 0
# and the generator to core 1 (see `clinic-bench --help` to change that).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: bench/run.sh s1|s2|s3|s3n|s4|s5|s6|s7|all [runs] [args...]}
runs=${2:-1}
shift $(($# < 2 ? $# : 2))

cargo build --release -p clinic-server -p clinic-bench
# 10,000 connections need more descriptors than the usual 1024 (server and generator each).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bin=${CARGO_TARGET_DIR:-target}/release/clinic-bench

if [ "$scenario" = all ]; then
    list=(s1 s2 s3 s3n s4 s5 s6 s7)
else
    list=("$scenario")
fi
for _ in $(seq 1 "$runs"); do
    for s in "${list[@]}"; do
        case $s in
            s3n) "$bin" --synchronous normal s3 "$@" ;;
            *) "$bin" "$s" "$@" ;;
        esac
    done
done

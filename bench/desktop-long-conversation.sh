#!/usr/bin/env bash
# The release desktop app on a long conversation (default 10,000 messages, written into the
# server's data folder by `clinic-bench seed`): for three launches with a saved session, the cold
# start (launch to the conversation list in the DOM), then the CPU share of a core and the
# RSS/PSS of all the app's processes with the conversation open. Prints "long" lines.
# Usage: bench/desktop-long-conversation.sh [MESSAGES]
# WEBKIT_DISABLE_COMPOSITING_MODE=0 bench/desktop-long-conversation.sh measures with WebKit's
# accelerated compositing back on (the app's behaviour before it turned it off itself).
# Build first: scripts/ui-build && cargo build --release -p clinic-desktop &&
#   cargo build -p clinic-server -p clinic-client -p clinic-bench
set -euo pipefail
cd "$(dirname "$0")/.."
# The app's own default (it sets 1 itself when the variable is unset); the desktop scenarios'
# harness sets 0 when unset, so say it here. WEBKIT_DISABLE_COMPOSITING_MODE=0 measures with
# compositing on.
export WEBKIT_DISABLE_COMPOSITING_MODE="${WEBKIT_DISABLE_COMPOSITING_MODE:-1}"
export CLINIC_LONG_MESSAGES="${1:-10000}"
export CLINIC_E2E_APP="$PWD/target/release/clinic-desktop"
scripts/headless cargo test -q -p clinic-e2e --test desktop -- --ignored --exact \
  bench_desktop_long_conversation --nocapture 2>&1 | grep -E '^long|FAILED|failed|panicked'

#!/usr/bin/env bash
# The desktop app at rest: CPU share of a core and RSS of all its processes with a long
# conversation open (composer focused, then not, then alerting for an emergency), in a headless
# session. Prints "at-rest" lines.
# Usage: bench/desktop-at-rest.sh [MESSAGES]   (default 300; each is one `clinic send`)
# Build first: scripts/ui-build && cargo build -p clinic-desktop -p clinic-client -p clinic-server
set -euo pipefail
cd "$(dirname "$0")/.."
# The app's own default (it sets 1 itself when the variable is unset); the desktop scenarios'
# harness sets 0 when unset, so say it here. WEBKIT_DISABLE_COMPOSITING_MODE=0 measures with
# compositing on.
export WEBKIT_DISABLE_COMPOSITING_MODE="${WEBKIT_DISABLE_COMPOSITING_MODE:-1}"
export CLINIC_AT_REST_MESSAGES="${1:-300}"
scripts/headless cargo test -q -p clinic-e2e --test desktop -- --ignored --exact bench_desktop_at_rest \
  --nocapture 2>/dev/null | grep '^at-rest'

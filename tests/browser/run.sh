#!/usr/bin/env bash
# Runs the browser tests against a fresh `zeroboard serve --demo` on a free port over a
# temporary SQLite database: the playground with the demo employee's token, then the web
# page with the demo's sign-in links (screenshots under $OUT, default
# ${CARGO_TARGET_DIR:-target}/browser).
#
#   tests/browser/run.sh [PATH_TO_ZEROBOARD]    (default: target/debug/zeroboard)
#
# Needs `chromium` (Debian's package) and `npm ci` done in tests/browser.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/zeroboard}")"

work=$(mktemp -d)
server=""
cleanup() {
  if [[ -n "$server" ]]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

: >"$work/out"
(cd "$work" && exec env -u ZEROBOARD_CONFIG ZEROBOARD_DATABASE_URL="sqlite://$work/zb.db?mode=rwc" \
  "$bin" serve --demo --bind 127.0.0.1:0 >"$work/out" 2>"$work/err") &
server=$!

url="" token=""
for _ in $(seq 1 300); do
  url=$(grep -o 'http://[^ ]*/' "$work/out" | head -n 1 || true)
  token=$(awk '$1 == "employee" && $2 ~ /^zb_/ { print $2; exit }' "$work/out")
  [[ -n "$url" && -n "$token" ]] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "zeroboard serve --demo exited:" >&2
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$url" || -z "$token" ]]; then
  echo "zeroboard serve --demo printed no URL and employee token in 30 s:" >&2
  cat "$work/out" "$work/err" >&2
  exit 1
fi
# The start-up tick done, so timings measure the page, not the scheduler's first run.
for _ in $(seq 1 300); do
  curl -sf "${url}readyz" >/dev/null && break
  sleep 0.1
done
link() { awk -v role="$1" '$1 == role && $2 ~ /\/login\// { print $2; exit }' "$work/out"; }
status=0
node "$here/playground.mjs" "$url" "$token" || status=$?
OUT="${OUT:-$(realpath -m "${CARGO_TARGET_DIR:-target}")/browser}" \
  node "$here/board.mjs" "$url" "$(link employee)" "$(link manager)" "$(link admin)" "$(link payroll)" || status=$?
exit "$status"

#!/usr/bin/env bash
# Runs the playground's browser test against a fresh `zeroboard serve --demo` on a free
# port over a temporary SQLite database, with the demo employee's token.
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
  token=$(awk '$1 == "employee" { print $2; exit }' "$work/out")
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
node "$here/playground.mjs" "$url" "$token"

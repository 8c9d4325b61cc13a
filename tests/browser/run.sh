#!/usr/bin/env bash
# The browser test: builds the server, starts `posterior serve` on a free port over a fresh
# database, drives Debian's chromium through the dashboard (tests/browser/dashboard.test.mjs,
# playwright-core from npm, pinned by package-lock.json), then stops the server and drops the
# database. Screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

if [ ! -x /usr/bin/chromium ]; then
    echo "Debian's chromium is missing: apt-get install -y chromium" >&2
    exit 1
fi

cargo build --locked --bin posterior
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

db="posterior_browser_$(date +%s)_$$"
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
admin_key="browser-admin-$(date +%s%N)"
client_key="browser-client-$(date +%s%N)"
log="$root/target/browser-server.log"

DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
POSTERIOR_BIND="127.0.0.1:$port" \
POSTERIOR_ADMIN_KEY="$admin_key" \
POSTERIOR_CLIENT_KEY="$client_key" \
POSTERIOR_WORKERS=2 \
    "$root/target/debug/posterior" serve >"$log" 2>&1 &
server=$!

cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    if ! kill -0 "$server" 2>/dev/null; then
        echo "the server died; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null

cd tests/browser
BASE_URL="http://127.0.0.1:$port" \
ADMIN_KEY="$admin_key" \
CLIENT_KEY="$client_key" \
SCREENSHOT_DIR="$root/target/screenshots" \
    node --test dashboard.test.mjs

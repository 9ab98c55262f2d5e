#!/usr/bin/env bash
# fal's official clients against fal-mock: installs the pinned Python client (fal-client, in a
# virtual environment) and JS client (@fal-ai/client, in a scratch npm folder), starts
# fal-mock, and runs conformance/python/conformance.py and conformance/js/conformance.mjs for
# the twelve seed endpoints (conformance/endpoints.txt), or for every endpoint under schemas/
# with CONFORMANCE_ALL=1; the JS client a second time through FalProxy (examples/proxy_server.rs,
# with those endpoints as its allow-list and a caller secret as its hook). Fails on any error.
#
#   conformance/run.sh                  # scratch folder: target/conformance
#   CONFORMANCE_DIR=/tmp/c conformance/run.sh
#   CONFORMANCE_ALL=1 conformance/run.sh   # the whole catalogue (slow)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${CONFORMANCE_DIR:-target/conformance}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "conformance: $tool is required" >&2; exit 1; }
done

echo "installing fal-client (pip, $work/venv) and @fal-ai/client (npm, $work/js)"
# A venv records its own path: one moved or copied from elsewhere is made again.
"$work/venv/bin/python" -c '' 2>/dev/null && "$work/venv/bin/pip" --version >/dev/null 2>&1 \
  || { rm -rf "$work/venv" && python3 -m venv "$work/venv"; }
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r conformance/python/requirements.txt
mkdir -p "$work/js"
# ES modules resolve packages next to the script, so the script runs from the npm folder.
cp conformance/js/package.json conformance/js/package-lock.json conformance/js/conformance.mjs "$work/js/"
(cd "$work/js" && npm ci --silent --no-audit --no-fund)

# The documents the mock serves: the seed endpoints (a scratch copy), or the whole catalogue.
if [ "${CONFORMANCE_ALL:-0}" = 1 ]; then
  served=schemas
else
  served="$work/schemas"
  rm -rf "$served"
  while read -r id; do
    case "$id" in ''|'#'*) continue ;; esac
    [ -f "schemas/$id.json" ] || { echo "conformance: no schemas/$id.json" >&2; exit 1; }
    mkdir -p "$served/$(dirname "$id")"
    cp "schemas/$id.json" "$served/$id.json"
  done < conformance/endpoints.txt
fi

cargo build --quiet -p fal-models --features mock --bin fal-mock
mock_out="$work/fal-mock.out"
target/debug/fal-mock --schemas "$served" --stream-interval-ms 5 >"$mock_out" 2>&1 &
mock_pid=$!
trap 'kill "$mock_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^# fal-mock ready' "$mock_out" && break
  kill -0 "$mock_pid" 2>/dev/null || { cat "$mock_out" >&2; exit 1; }
  sleep 0.1
done
grep -q '^# fal-mock ready' "$mock_out" || { echo "fal-mock did not start" >&2; cat "$mock_out" >&2; exit 1; }
eval "$(grep '^export ' "$mock_out")"

# fal's JS client also runs through FalProxy (examples/proxy_server.rs): the served endpoints
# as its allow-list, a caller secret as its hook.
cargo build --quiet -p fal-models --no-default-features --features proxy --example proxy_server
proxy_out="$work/proxy.out"
if [ "${CONFORMANCE_ALL:-0}" = 1 ]; then allowed='**'; else
  allowed="$(grep -v -e '^#' -e '^$' conformance/endpoints.txt | paste -sd, -)"; fi
FAL_PROXY_ENDPOINTS="$allowed" \
FAL_PROXY_CALLER_SECRET=conformance-caller \
FAL_PROXY_ORIGINS="$FAL_QUEUE_URL,$FAL_RUN_URL,$FAL_REST_URL" \
FAL_PROXY_ADDR=127.0.0.1:0 \
  target/debug/examples/proxy_server >"$proxy_out" 2>&1 &
proxy_pid=$!
trap 'kill "$mock_pid" "$proxy_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '^proxy on ' "$proxy_out" && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$proxy_out" >&2; exit 1; }
  sleep 0.1
done
grep -q '^proxy on ' "$proxy_out" || { echo "the proxy did not start" >&2; cat "$proxy_out" >&2; exit 1; }
export FAL_PROXY_URL="$(sed -n 's/^proxy on //p' "$proxy_out" | head -1)"
export FAL_PROXY_CALLER_SECRET=conformance-caller

expected="$(find "$served" -name '*.json' | wc -l | tr -d ' ')"
"$work/venv/bin/python" conformance/python/conformance.py "$expected"
(cd "$work/js" && node conformance.mjs "$expected")

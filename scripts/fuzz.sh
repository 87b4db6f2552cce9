#!/usr/bin/env bash
# The API fuzzer: schemathesis against the real server's own OpenAPI document
# (`/api/v2/openapi.json`), every check on, with credentials. Fails on any server error, any
# answer the document does not describe (status, content type, headers, body schema), any
# invalid request accepted or valid one refused.
#
#   bash scripts/fuzz.sh            # a 600 s run
#   bash scripts/fuzz.sh 90         # a 90 s run (what CI does)
#   SEED=7 bash scripts/fuzz.sh 60  # a reproducible one
#   bash scripts/fuzz.sh 60 --mode negative   # further arguments go to `schemathesis run`
#
# The server and schemathesis run in a network namespace of their own that has only loopback
# (`unshare -n`): the `image_file` URLs schemathesis invents are refused by the SSRF guard, but
# a host name it invents would otherwise still be looked up, and nothing here may reach beyond
# this machine. Needs root (or user namespaces), python3 with venv, and iproute2's `ip`.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_TIME=${1:-600}
SCHEMATHESIS_VERSION=4.32.5
TOKEN=fuzz-token

if [ -z "${IMAGEDESK_FUZZ_INSIDE:-}" ]; then
  # Outside the namespace: the tools and the binary, which need the registries and the disk.
  VENV=${IMAGEDESK_FUZZ_VENV:-/var/cache/imagedesk-ci/venv}
  if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/imagedesk-ci/target}"
  cargo build --locked --bin imagedesk >&2
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  # A copy: the shared build directory's binary may be rebuilt by another build meanwhile.
  cp "$CARGO_TARGET_DIR/debug/imagedesk" "$WORK/imagedesk"
  if ! unshare -n true 2>/dev/null; then
    echo "fuzz: cannot make a network namespace (unshare -n needs root or user namespaces);" \
      "refusing to run a server that may reach beyond loopback" >&2
    exit 1
  fi
  status=0
  IMAGEDESK_FUZZ_INSIDE=1 IMAGEDESK_FUZZ_VENV="$VENV" IMAGEDESK_FUZZ_WORK="$WORK" \
    unshare -n -- bash "$0" "$@" || status=$?
  exit "$status"
fi

# Inside the namespace: loopback only.
ip link set lo up
WORK=$IMAGEDESK_FUZZ_WORK
"$WORK/imagedesk" serve --listen 127.0.0.1:0 --data-dir "$WORK/data" --token "$TOKEN" \
  --seed-demo >"$WORK/server.out" 2>"$WORK/server.err" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
addr=
for _ in $(seq 1 300); do
  addr=$(sed -n 's|^listening on http://\([^ ]*\).*$|\1|p' "$WORK/server.out" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "the server did not start:" >&2
  cat "$WORK/server.err" >&2
  exit 1
fi
echo "server at http://$addr, fuzzing for $MAX_TIME s" >&2

seed_args=()
[ -n "${SEED:-}" ] && seed_args=(--seed "$SEED")
config=$(pwd)/scripts/fuzz.toml
export SCHEMATHESIS_HOOKS=$(pwd)/scripts/fuzz_hooks.py
started=$(date +%s)
status=0
# From the work folder, where schemathesis leaves its cache.
cd "$WORK"
"$IMAGEDESK_FUZZ_VENV/bin/schemathesis" --config-file "$config" --no-color run \
  "http://$addr/api/v2/openapi.json" \
  --checks all \
  --auth "fuzz:$TOKEN" \
  --max-time "$MAX_TIME" \
  --request-timeout 30 \
  --workers 2 \
  --suppress-health-check all \
  "${seed_args[@]}" "${@:2}" || status=$?
elapsed=$(($(date +%s) - started))

# The server counts every request it answered, whatever schemathesis says it sent.
requests=$("$IMAGEDESK_FUZZ_VENV/bin/python" - "http://$addr/metrics" <<'EOF'
import sys, urllib.request
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("imagedesk_http_requests_total{"))))
EOF
)
echo "fuzz: $requests requests in $elapsed s (schemathesis exit status $status)"
if ! kill -0 "$server" 2>/dev/null; then
  echo "fuzz: the server died" >&2
  cat "$WORK/server.err" >&2
  exit 1
fi
if grep -q "panicked" "$WORK/server.err"; then
  echo "fuzz: the server panicked" >&2
  grep -A5 "panicked" "$WORK/server.err" >&2
  exit 1
fi
exit "$status"

#!/usr/bin/env bash
# Worst-case resident memory of `imagedesk serve` while it decodes uploads, one per imaging
# permit (one per core). For each worst-case file (50 MP PNG 8- and 16-bit, 50 MP progressive
# 4:4:4 and baseline JPEG, 50 MP GIF and WebP, the GIF-frame, iCCP and JPEG-scan bombs), a
# fresh server gets PARALLEL copies of it at once (each made distinct by a trailing byte, so
# that content addressing cannot share the work), and its peak RSS (VmHWM) is printed.
#
#   bash scripts/upload_rss.sh                       # builds the release binary and the files
#   IMAGEDESK_BIN=/path/to/imagedesk bash scripts/upload_rss.sh   # another build (e.g. an older one)
#   PARALLEL=4 UPLOAD_RSS_FILES=/tmp/rss-files bash scripts/upload_rss.sh
#
# Prints one Markdown row per file: name, size, HTTP statuses, VmHWM in MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
PARALLEL=${PARALLEL:-$(nproc)}
FILES=${UPLOAD_RSS_FILES:-$target/upload-rss-files}
BIN=${IMAGEDESK_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release --bin imagedesk >&2
  BIN=$target/release/imagedesk
fi
if [ ! -e "$FILES/png-rgba8.png" ]; then
  mkdir -p "$FILES"
  UPLOAD_RSS_FILES=$(realpath "$FILES") cargo bench --bench upload_limits >&2
fi

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "| file | bytes | statuses | VmHWM (MiB) |"
echo "|---|---:|---|---:|"
for file in "$FILES"/*; do
  name=$(basename "$file")
  data="$work/data-$name"
  "$BIN" serve --listen 127.0.0.1:0 --data-dir "$data" --token T >"$work/log" 2>&1 &
  server=$!
  url=""
  for _ in $(seq 100); do
    url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -n1 || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "the server did not start:" >&2; cat "$work/log" >&2; exit 1; }
  product=$(curl -sf -H 'X-Auth-Token: T' -H 'Content-Type: application/json' \
    -d '{"name":"rss"}' "$url/api/v2/products" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  pids=()
  for i in $(seq "$PARALLEL"); do
    copy="$work/$i-$name"
    # One more byte after the end of the image: a new hash, the same decoding work.
    { cat "$file"; printf '%s' "$i"; } >"$copy"
    curl -s -o /dev/null -w '%{http_code}\n' -H 'X-Auth-Token: T' -F "image_file=@$copy" \
      "$url/api/v3/catalog/products/$product/images" >"$work/status-$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  statuses=$(cat "$work"/status-* | sort | uniq -c | awk '{printf "%s×%s ", $1, $2}')
  hwm=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server/status")
  echo "| $name | $(stat -c %s "$file") | ${statuses% } | $hwm |"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=""
  rm -rf "$data" "$work"/status-* "$work"/*-"$name"
done

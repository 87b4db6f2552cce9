#!/usr/bin/env bash
# Every benchmark of BENCHMARKS.md, each beside its reference measured in the same run.
# Installs its tools from Debian's packages (as root), prints the results as Markdown and writes
# them into BENCHMARKS.md between the "results" markers (the prose around them stays).
#
#   bash scripts/bench.sh              # 15 hyperfine runs per command
#   RUNS=30 bash scripts/bench.sh
#   NO_WRITE=1 bash scripts/bench.sh   # print only, leave BENCHMARKS.md alone
#   ONLY=imaging bash scripts/bench.sh # the thumbnail and in-process imaging tables only
#                                      # (printed, not written: the other tables stay)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
target=${CARGO_TARGET_DIR:-target}
if [ "${ONLY:-}" = imaging ]; then NO_WRITE=1; fi

need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
command -v cjpeg >/dev/null || need+=(libjpeg-turbo-progs)
command -v nasm >/dev/null || need+=(nasm)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libturbojpeg 2>/dev/null || need+=(libturbojpeg0-dev)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --example thumbnail --example gen_bench_images >&2
if [ "${ONLY:-}" = imaging ]; then cargo bench --no-run --bench imaging >&2; else cargo bench --no-run >&2; fi
dir=$target/bench-images
[ -f "$dir/photo-2000.png" ] || "$target/release/examples/gen_bench_images" "$dir" >&2
# The second, independent set: real encoders' layouts (scripts/photo_set.sh).
bash scripts/photo_set.sh "$dir" 2>/dev/null
ours=$target/release/examples/thumbnail
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
results="$out/results.md"

emit() { echo "$@" | tee -a "$results"; }

# Prints "median_ours median_reference" in ms for one pair of commands. The runs are taken in
# blocks of 5 whose order alternates (A B, B A, ...), so that the machine's drift over a minute
# hits both commands alike; the medians are over all runs of each.
pair() {
  local a=$1 b=$2 blocks=$(( (RUNS + 4) / 5 ))
  rm -f "$out"/h-*.json
  for i in $(seq 1 "$blocks"); do
    if (( i % 2 )); then
      hyperfine -N -w 1 -r 5 --export-json "$out/h-$i.json" "$a" "$b" >&2
    else
      hyperfine -N -w 1 -r 5 --export-json "$out/h-$i.json" "$b" "$a" >&2
    fi
  done
  python3 - "$a" "$b" "$out"/h-*.json <<'PY'
import json, statistics, sys
a, b, files = sys.argv[1], sys.argv[2], sys.argv[3:]
times = {a: [], b: []}
for f in files:
    for r in json.load(open(f))["results"]:
        times[r["command"]].extend(r["times"])
print(" ".join("%.1f" % (statistics.median(times[c]) * 1000) for c in (a, b)))
PY
}
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
ratio() { python3 -c "print('%.2f' % ($1/$2))"; }

emit "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), \`bash scripts/bench.sh\`."
emit
emit "### Thumbnails, whole process (hyperfine, median of $(( (RUNS + 4) / 5 * 5 )) runs each, in alternating blocks of 5)"
emit
emit "| figure | imagedesk median | vipsthumbnail median | ratio | target |"
emit "|---|---|---|---|---|"
row() { # label input size ext target
  read -r a b < <(pair "$ours $dir/$2 $out/o.$4 $3" "vipsthumbnail $dir/$2 -s $3 -o $out/v.$4")
  emit "| $1 | $a ms | $b ms | $(ratio "$a" "$b")× | $5 |"
}
row "6000×4000 JPEG → 256 px" photo-24mp.jpg 256 jpg "≤ 0.6×"
row "6000×4000 JPEG → 1280 px" photo-24mp.jpg 1280 jpg "≤ 0.7×"
row "6000×4000 progressive JPEG → 256 px" photo-24mp-progressive.jpg 256 jpg "–"
row "6000×4000 JPEG, EXIF orientation 6 → 256 px" photo-24mp-exif6.jpg 256 jpg "–"
row "2000×2000 PNG → 256 px" photo-2000.png 256 png "≤ 0.3×"
read -r a b < <(pair "$ours $dir/photo-24mp.jpg $out/all.jpg all" "vipsthumbnail $dir/photo-24mp.jpg -s 1280 -o $out/v.jpg")
emit "| all four variants of the 6000×4000 JPEG, as an upload makes them (reference: one \`vipsthumbnail -s 1280\`) | $a ms | $b ms | $(ratio "$a" "$b")× | ≤ 0.5× |"
row "set 2: 6000×4000 4:2:0 q90 → 256 px" set2-landscape-420.jpg 256 jpg "≤ 0.6×"
row "set 2: 4000×6000 (portrait) 4:2:0 q90 → 256 px" set2-portrait-420.jpg 256 jpg "≤ 0.6×"
row "set 2: 6000×4000 4:4:4 q88 → 256 px" set2-landscape-444.jpg 256 jpg "≤ 0.6×"
row "set 2: 6000×4000 4:2:0, restart every MCU row → 256 px" set2-landscape-420-restart.jpg 256 jpg "≤ 0.6×"
row "set 2: 4000×6000 4:4:4, restart every 64 blocks → 256 px" set2-portrait-444-restart.jpg 256 jpg "≤ 0.6×"
row "set 2: 6000×4000 progressive 4:2:0 q85 → 256 px" set2-landscape-progressive.jpg 256 jpg "≤ 0.6×"
read -r a b < <(pair "$ours $dir/set2-landscape-420.jpg $out/all.jpg all" "vipsthumbnail $dir/set2-landscape-420.jpg -s 1280 -o $out/v.jpg")
emit "| set 2: all four variants of the 6000×4000 4:2:0 JPEG (reference: one \`vipsthumbnail -s 1280\`) | $a ms | $b ms | $(ratio "$a" "$b")× | ≤ 0.5× |"
emit
emit "| peak memory (max RSS) → 256 px | imagedesk | vipsthumbnail | target |"
emit "|---|---|---|---|"
peak_row() { # label input target
  emit "| $1 | $(( $(peak_kib $ours "$dir/$2" "$out/o.jpg" 256) / 1024 )) MiB | $(( $(peak_kib vipsthumbnail "$dir/$2" -s 256 -o "$out/v.jpg") / 1024 )) MiB | $3 |"
}
peak_row "6000×4000 JPEG" photo-24mp.jpg "≤ 16 MiB"
peak_row "6000×4000 progressive JPEG" photo-24mp-progressive.jpg "–"
peak_row "set 2: 6000×4000 4:2:0" set2-landscape-420.jpg "≤ 16 MiB"
peak_row "set 2: 4000×6000 4:4:4, restart markers" set2-portrait-444-restart.jpg "≤ 16 MiB"
peak_row "set 2: 6000×4000 progressive" set2-landscape-progressive.jpg "–"

emit
emit "### In-process image work (\`cargo bench --bench imaging\`, paired interleaved rounds; criterion's own runs are in target/criterion/)"
emit
cargo bench --bench imaging | tee "$out/imaging.log" >&2
# The tile figures come from the bench's interleaved, paired rounds (drift hits both decoders
# alike); criterion's separate runs of each are in target/criterion/tile_decode/.
# Prints the three numbers of the bench's line that matches the regular expression $1.
interleaved_line() {
  python3 -c 'import re, sys; print(*re.search(sys.argv[1], open(sys.argv[2]).read()).groups())' \
    "$1" "$out/imaging.log"
}
read -r ours_tile turbo_tile tile_ratio < <(interleaved_line \
  'imagedesk ([0-9.]+) µs, libjpeg-turbo ([0-9.]+) µs, median ratio ([0-9.]+)')
read -r all_four zoom_only variants_ratio < <(interleaved_line \
  'all four ([0-9.]+) ms, zoom only ([0-9.]+) ms, median ratio ([0-9.]+)')
emit "| figure | imagedesk | reference (same run) | ratio | target |"
emit "|---|---|---|---|---|"
emit "| decode of a 256×171 JPEG tile to RGBA (medians of 201 interleaved rounds of 50) | $ours_tile µs | libjpeg-turbo (TurboJPEG): $turbo_tile µs | ${tile_ratio}× | ≤ 1.0× |"
emit "| all four variants of the 6000×4000 JPEG, in-process (medians of 21 interleaved rounds) | $all_four ms | the zoom variant alone: $zoom_only ms | ${variants_ratio}× | – |"
# One bench binary that prints its own Markdown table.
section() { # title bench
  emit
  emit "### $1 (\`cargo bench --bench $2\`)"
  emit
  cargo bench --quiet --bench "$2" | tee -a "$results"
}
if [ "${ONLY:-}" = imaging ]; then exit 0; fi
section "HTTP: GET images.json" http_list
section "Server at catalogue scale: 100,000 products, 1,000,000 images (uncached reads)" server_scale
section "Reordering: PUTs per reorder" reorder_puts
section "Sync engine: replay of 1,000 offline edits" sync_replay
section "import-folder of 100 photographs of 12 MP vs curl one by one" import_folder
section "Sync engine: keeping a 100,000-product / 1,000,000-image store in sync" sync_catalogue
section "UI: frame CPU time scrolling 5,000 images" ui_frames
section "UI: a catalogue of 100,000 products and 1,000,000 images" catalogue

if [ -z "${NO_WRITE:-}" ]; then
  python3 - "$results" <<'EOF'
import re, sys
results = open(sys.argv[1]).read().strip()
doc = open("BENCHMARKS.md").read()
begin, end = "<!-- results:begin -->", "<!-- results:end -->"
if begin not in doc or end not in doc:
    sys.exit("BENCHMARKS.md has lost its results markers; put them back to write results")
head, rest = doc.split(begin, 1)
_, tail = rest.split(end, 1)
open("BENCHMARKS.md", "w").write(f"{head}{begin}\n{results}\n{end}{tail}")
print("wrote the results into BENCHMARKS.md", file=sys.stderr)
EOF
fi

#!/usr/bin/env bash
# Thumbnail benchmarks against vipsthumbnail, measured in the same run (ratios of medians).
# Installs its tools from Debian's packages; prints a Markdown table to stdout.
#
#   bash scripts/bench.sh            # 15 runs per command
#   RUNS=30 bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}

need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo build --release --example thumbnail --example gen_bench_images >&2
dir=target/bench-images
[ -f "$dir/photo-2000.png" ] || ./target/release/examples/gen_bench_images "$dir" >&2
ours=./target/release/examples/thumbnail
out=$(mktemp -d)

# Prints "median_ours median_vips" in ms for one pair of commands.
pair() {
  hyperfine -N -w 3 -r "$RUNS" --export-json "$out/h.json" "$1" "$2" >&2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"]*1000) for x in r))' "$out/h.json"
}
peak_kib() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

echo "| figure | imagedesk median | vipsthumbnail median | ratio | target |"
echo "|---|---|---|---|---|"
row() { # label input size ext target
  read -r a b < <(pair "$ours $dir/$2 $out/o.$4 $3" "vipsthumbnail $dir/$2 -s $3 -o $out/v.$4")
  ratio=$(python3 -c "print('%.2f' % ($a/$b))")
  echo "| $1 | $a ms | $b ms | ${ratio}× | $5 |"
}
row "6000×4000 JPEG → 256 px" photo-24mp.jpg 256 jpg "≤ 0.7×"
row "6000×4000 JPEG → 1280 px" photo-24mp.jpg 1280 jpg "≤ 0.7×"
row "6000×4000 progressive JPEG → 256 px" photo-24mp-progressive.jpg 256 jpg "–"
row "6000×4000 JPEG, EXIF orientation 6 → 256 px" photo-24mp-exif6.jpg 256 jpg "–"
row "2000×2000 PNG → 256 px" photo-2000.png 256 png "≤ 0.3×"
echo
echo "| peak memory (max RSS) → 256 px | imagedesk | vipsthumbnail | target |"
echo "|---|---|---|---|"
peak_row() { # label input target
  echo "| $1 | $(( $(peak_kib $ours $dir/$2 $out/o.jpg 256) / 1024 )) MiB | $(( $(peak_kib vipsthumbnail $dir/$2 -s 256 -o $out/v.jpg) / 1024 )) MiB | $3 |"
}
peak_row "6000×4000 JPEG" photo-24mp.jpg "≤ 16 MiB"
peak_row "6000×4000 progressive JPEG" photo-24mp-progressive.jpg "–"
rm -rf "$out"

echo
echo "Sync engine (cargo bench --bench sync_replay):"
echo
cargo bench --quiet --bench sync_replay

echo
echo "UI frame time scrolling 5,000 images (cargo bench --bench ui_frames):"
cargo bench --quiet --bench ui_frames

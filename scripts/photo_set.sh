#!/usr/bin/env bash
# A second set of benchmark JPEGs, independent of src/imaging/synthetic.rs (which makes the
# first set through the crate's own encoder): photograph-like pictures built by libvips from
# smooth colour fields (sky, light falloff), mid-frequency texture (foliage, fabric), hard-edged
# shapes thresholded out of that texture, and per-pixel sensor noise, then encoded by
# libjpeg-turbo's `cjpeg` in the layouts cameras and editors write.
#
#   bash scripts/photo_set.sh DIR      # needs libvips-tools and libjpeg-turbo-progs
#
# Writes into DIR (skipping files that exist):
#   set2-landscape-420.jpg          6000×4000, 4:2:0, q90, baseline (a camera's default)
#   set2-portrait-420.jpg           4000×6000, 4:2:0, q90, baseline
#   set2-landscape-444.jpg          6000×4000, 4:4:4, q92, baseline
#   set2-landscape-420-restart.jpg  6000×4000, 4:2:0, q90, a restart marker every MCU row
#   set2-portrait-444-restart.jpg   4000×6000, 4:4:4, q90, restart markers every 64 blocks
#   set2-landscape-progressive.jpg  6000×4000, 4:2:0, q85, progressive (libjpeg's scan script)
set -euo pipefail
dir=${1:?usage: photo_set.sh DIR}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# photo W H SEED OUT.ppm
photo() {
  local w=$1 h=$2 seed=$3 out=$4 b bands=()
  # Shared by the three bands, as light and texture are in a photograph: mid-frequency texture
  # (noise at 1/4 of the size upscaled: blotches 4–12 px across), large objects with hard
  # edges (coarse noise thresholded), and light falling off from top to bottom.
  vips gaussnoise "$work/mid.v" $((w / 4 + 2)) $((h / 4 + 2)) --sigma 16 --mean 0 --seed "$seed"
  vips resize "$work/mid.v" "$work/midbig.v" 4 --kernel cubic
  vips crop "$work/midbig.v" "$work/texture.v" 0 0 "$w" "$h"
  vips gaussnoise "$work/coarse.v" $((w / 250 + 2)) $((h / 250 + 2)) --sigma 30 --mean 0 --seed $((seed + 1))
  vips resize "$work/coarse.v" "$work/coarsebig.v" 250 --kernel cubic
  vips crop "$work/coarsebig.v" "$work/coarse2.v" 0 0 "$w" "$h"
  vips relational_const "$work/coarse2.v" "$work/objects.v" more 12
  vips xyz "$work/xy.v" "$w" "$h"
  vips extract_band "$work/xy.v" "$work/y.v" 1
  vips linear "$work/y.v" "$work/light.v" -- "$(python3 -c "print(-70 / $h)")" 35
  local gains=(-0.12 -0.2 -0.3) means=(150 135 120)
  for b in 0 1 2; do
    local s=$((seed * 10 + b))
    # Colour: a smooth field, a few random values per 600 px upscaled with a cubic kernel.
    vips gaussnoise "$work/low.v" $((w / 600 + 2)) $((h / 600 + 2)) --sigma 22 --mean "${means[$b]}" --seed "$s"
    vips resize "$work/low.v" "$work/lowbig.v" 600 --kernel cubic
    vips crop "$work/lowbig.v" "$work/colour.v" 0 0 "$w" "$h"
    vips linear "$work/objects.v" "$work/shade.v" -- "${gains[$b]}" 0
    # Sensor noise, per pixel and per band.
    vips gaussnoise "$work/fine.v" "$w" "$h" --sigma 2.5 --mean 0 --seed $((s + 2000))
    vips sum "$work/colour.v $work/texture.v $work/shade.v $work/light.v $work/fine.v" "$work/sum.v"
    vips cast "$work/sum.v" "$work/band$b.v" uchar
    bands+=("$work/band$b.v")
  done
  vips bandjoin "${bands[*]}" "$work/rgb.v"
  vips copy "$work/rgb.v" "$out"
}

encode() { # OUT source.ppm cjpeg-options...
  local out=$1 src=$2
  shift 2
  [ -f "$dir/$out" ] && return
  cjpeg "$@" -outfile "$dir/$out" "$src"
}

missing() { local f; for f in "$@"; do [ -f "$dir/$f" ] || return 0; done; return 1; }

landscape=(set2-landscape-420.jpg set2-landscape-444.jpg set2-landscape-420-restart.jpg
  set2-landscape-progressive.jpg)
if missing "${landscape[@]}"; then
  photo 6000 4000 11 "$work/landscape.ppm"
  encode set2-landscape-420.jpg "$work/landscape.ppm" -quality 90 -sample 2x2
  encode set2-landscape-444.jpg "$work/landscape.ppm" -quality 88 -sample 1x1
  encode set2-landscape-420-restart.jpg "$work/landscape.ppm" -quality 90 -sample 2x2 -restart 1
  encode set2-landscape-progressive.jpg "$work/landscape.ppm" -quality 85 -sample 2x2 -progressive
fi
if missing set2-portrait-420.jpg set2-portrait-444-restart.jpg; then
  photo 4000 6000 23 "$work/portrait.ppm"
  encode set2-portrait-420.jpg "$work/portrait.ppm" -quality 90 -sample 2x2
  encode set2-portrait-444-restart.jpg "$work/portrait.ppm" -quality 88 -sample 1x1 -restart 64B
fi
ls -l "$dir"/set2-*.jpg >&2

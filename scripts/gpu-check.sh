#!/usr/bin/env bash
# The CUDA check: mc-dropout on a real GPU against the CPU, node placement, speed, end to end.
#   scripts/gpu-check.sh unpack    unpack .device/a.tar.xz (scripts/gpu-pack.sh) and report the machine
#   scripts/gpu-check.sh check     unpack .device/b.tar.xz (the CUDA provider) and run every check
# On a machine where `npm ci && npm run build` ran and onnxruntime-node's CUDA provider is installed,
# `check` runs from the checkout itself (no .device/ bundle needed). Results go to $OUT (default
# gpu-check-out/): one log per step, summary.txt with the lines that matter.
set -u
cd "$(dirname "$0")/.."
repo=$PWD
OUT=${OUT:-$repo/gpu-check-out}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
say() { echo "$*" | tee -a "$summary"; }
untar() { # FILE DIR: with xz if the machine has it, else Python's lzma
  mkdir -p "$2"
  if command -v xz >/dev/null; then tar -xJf "$1" -C "$2"; else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}

# the bundle, or the checkout
root=$repo
if [ -f .device/a.tar.xz ] || [ -x .device/root/node ]; then
  root=$repo/.device/root
  [ -x "$root/node" ] || untar .device/a.tar.xz "$root"
  ln -sfn "$repo/fixtures" "$root/fixtures"
  export PATH="$root:$PATH"
fi
ortbin=$root/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [ "${1:-}" = check ] && [ -f .device/b.tar.xz ] && [ ! -f "$ortbin/libonnxruntime_providers_cuda.so" ]; then untar .device/b.tar.xz "$ortbin"; fi

# CUDA libraries: the ones the machine's Python CUDA wheels carry (torch's), plus unversioned names
# for libraries the provider opens by those (libcudnn.so)
links=/tmp/mc-dropout-cuda-links
mkdir -p "$links"
for dir in $(python3 -c 'import nvidia, sys; print("\n".join(nvidia.__path__))' 2>/dev/null); do
  for lib in $(find "$dir" -name 'lib*.so*' 2>/dev/null); do
    base=$(basename "$lib"); stem=${base%%.so*}.so
    [ -e "$links/$base" ] || ln -s "$lib" "$links/$base"
    [ -e "$links/$stem" ] || ln -s "$lib" "$links/$stem"
  done
done
export LD_LIBRARY_PATH="$links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cd "$root"
mc() { node bin/mc-dropout.js "$@"; }

if [ "${1:-}" = unpack ]; then
  say "node $(node --version), $(ldd --version | head -1)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"
  python3 -m pip list 2>/dev/null | grep -i -E '^(onnxruntime|torch|nvidia-(cudnn|cublas|cuda-runtime|curand|cufft))' | tee -a "$summary"
  ls "$links" | tr '\n' ' ' > "$OUT/cuda-links.txt"
  mc predict fixtures/samples --device cpu --seed 1 -q | head -3 | tee -a "$summary"
  exit 0
fi

say "== doctor"
mc doctor > "$OUT/doctor.txt" 2>&1; say "doctor exit $?"
cat "$OUT/doctor.txt"
mc doctor --json > "$OUT/doctor.json" 2>&1

work=/tmp/mc-dropout-gpu-work
mkdir -p "$work"
node dist/bench/gpu.js models "$work"
[ -d "$work/photos" ] || node dist/bench/gpu.js photos "$work/photos" "${PHOTOS:-1000}"
mkdir -p "$work/photos64" && ls "$work/photos" | head -64 | while read -r f; do ln -sf "$work/photos/$f" "$work/photos64/$f"; done

# cuda against cpu: the same seed draws the same masks, so every pass should agree to float tolerance
say "== cuda vs cpu (seed 1, --save-passes; largest difference of any pass probability)"
while read -r name model images extra; do
  for device in cuda cpu; do
    timeout 300 node bin/mc-dropout.js predict "$images" -m "$model" --device "$device" --seed 1 -f jsonl --per-class \
      --save-passes "$work/$name.$device.npy" -o "$work/$name.$device.jsonl" $extra > "$OUT/predict-$name-$device.log" 2>&1
    say "$name $device: exit $? $(tail -1 "$OUT/predict-$name-$device.log")"
  done
  node dist/bench/gpu.js compare "$work/$name.cuda.npy" "$work/$name.cpu.npy" | tee -a "$summary"
done <<EOF
bundled models/fashion-mnist-mc.onnx fixtures/samples -t 10
bundled-adaptive models/fashion-mnist-mc.onnx fixtures/samples -t auto
mnv2-head $work/mnv2-head.onnx $work/photos64 -t 10
mnv2-droppath $work/mnv2-droppath.onnx $work/photos64 -t 10
effnet-droppath fixtures/modern/effnet_droppath.onnx fixtures/samples -t 10
effnet-droppath-fp16 fixtures/modern/effnet_droppath_fp16.onnx fixtures/samples -t 10
mnv3-dropout fixtures/modern/mnv3_dropout.onnx fixtures/samples -t 10
vit-droppath fixtures/modern/vit_droppath.onnx fixtures/samples -t 10
EOF
say "== node placement (onnxruntime verbose log: nodes on each provider, copies added)"
for model in models/fashion-mnist-mc.onnx "$work/mnv2-head.onnx" "$work/mnv2-droppath.onnx" fixtures/modern/effnet_droppath.onnx fixtures/modern/effnet_droppath_fp16.onnx fixtures/modern/mnv3_dropout.onnx fixtures/modern/vit_droppath.onnx; do
  name=$(basename "$model" .onnx)
  timeout 120 node dist/bench/gpu.js placement "$model" > "$OUT/placement-$name.json" 2> "$OUT/placement-$name.log"
  say "$name: exit $? $(cat "$OUT/placement-$name.json")"
  grep -E "placed on \[|Memcpy|were not assigned|nodes are added" "$OUT/placement-$name.log" | sed 's/^/  /' | head -20 | tee -a "$summary"
  grep -A40 "placed on \[CPUExecutionProvider\]" "$OUT/placement-$name.log" | grep -E "^ +[A-Za-z]+ \(" | head -40 > "$OUT/placement-$name-cpu-nodes.txt"
done

say "== speed (library, synthetic 224x224 images, seed 1)"
timeout 400 node dist/bench/gpu.js speed "$work/mnv2-head.onnx" cuda 2> "$OUT/speed.log" | tee -a "$summary"
timeout 200 node dist/bench/gpu.js speed "$work/mnv2-droppath.onnx" cuda 2>> "$OUT/speed.log" | tee -a "$summary"

say "== end to end: 1000 JPEGs 640x480, MobileNetV2-size head dropout (files in, CSV out, process start included)"
node dist/bench/gpu.js decode "$work/photos" "$work/mnv2-head.onnx" 2> "$OUT/decode.log" | tee -a "$summary"
while IFS='|' read -r label args; do
  start=$(date +%s.%N)
  rm -f "$work/e2e.csv"
  timeout 300 node bin/mc-dropout.js predict "$work/photos" -m "$work/mnv2-head.onnx" --no-progress -o "$work/e2e.csv" --seed 1 $args > "$OUT/e2e.log" 2>&1
  code=$?
  end=$(date +%s.%N)
  say "$label: exit $code $(tail -1 "$OUT/e2e.log"), $(awk -v a="$start" -v b="$end" -v n="${PHOTOS:-1000}" 'BEGIN { s = b - a; printf "%.2f s, %.1f images/s", s, n / s }'), rows $(($(wc -l < "$work/e2e.csv") - 1))"
done <<EOF
cuda deterministic|--device cuda --deterministic -b 64
cuda T=10|--device cuda -t 10 -b 64
cuda T=100|--device cuda -t 100 -b 64
cpu T=10|--device cpu -t 10 -b 64
EOF
gzip -f "$OUT"/placement-*.log
say "== done"

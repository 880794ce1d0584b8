#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that reaches no package registry, into
# .device/ (ignored by git): run here, where npm works, after `npm ci && npm run build`.
#   a.tar.xz  node, the built project (dist/), its run-time node_modules with onnxruntime-node 1.29.0
#   b.tar.xz  the CUDA 13 provider for onnxruntime 1.29 (npm: com.github.asus4.onnxruntime.linux-x64-gpu
#             0.4.9, Microsoft's build), its GPU code cut to one architecture (SM, default 90: H100/H200)
# Each stays under the device tool's 64 MiB a call. onnxruntime-node's own install script would
# download the CUDA 12 provider from outside npm; this uses only the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
SM=${SM:-90}
out=.device
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$out" "$stage/a/node_modules" "$stage/b" "$stage/npm"
[ -d dist/src ] && [ -d dist/cli ] || { echo "gpu-pack: build first (npm ci && npm run build)" >&2; exit 1; }

(cd "$stage/npm" && npm pack --silent onnxruntime-node@1.29.0 onnxruntime-common@1.29.0 com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 >/dev/null)

# node itself, without debug symbols
cp "$(command -v node)" "$stage/a/node" && strip "$stage/a/node"
cp -r dist bin package.json models "$stage/a/"
# run-time dependencies only (the build tools, test browser and other platforms' binaries stay here)
for dir in node_modules/*; do
  case "$(basename "$dir")" in
    typescript|esbuild|@esbuild|playwright-core|wabt|@types|yaml|onnxruntime-node|onnxruntime-common|.bin|.package-lock.json) ;;
    *) cp -r "$dir" "$stage/a/node_modules/" ;;
  esac
done
for pkg in onnxruntime-node onnxruntime-common; do
  mkdir -p "$stage/a/node_modules/$pkg"
  tar xzf "$stage/npm/$pkg-1.29.0.tgz" -C "$stage/a/node_modules/$pkg" --strip-components=1 \
    --exclude='package/bin/napi-v6/darwin' --exclude='package/bin/napi-v6/win32' --exclude='package/bin/napi-v6/linux/arm64'
done
tar xzf "$stage/npm/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz" -C "$stage/npm" \
  package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
node scripts/fatbin-keep.mjs "$stage/npm/package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so" "$stage/b/libonnxruntime_providers_cuda.so" "$SM"
cp "$stage/npm/package/Plugins/Linux/x64/libonnxruntime_providers_shared.so" "$stage/b/"

tar -C "$stage/a" -cf - . | xz -T2 -9 > "$out/a.tar.xz"
# the provider takes two minutes to compress: kept while its source package is the same
if [ ! -f "$out/b.tar.xz" ] || [ "$(cat "$out/b.source" 2>/dev/null)" != "$SM $(sha256sum < "$stage/npm/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz")" ]; then
  tar -C "$stage/b" -cf - . | xz -T2 -9 > "$out/b.tar.xz"
  echo "$SM $(sha256sum < "$stage/npm/com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz")" > "$out/b.source"
fi
ls -l "$out"/a.tar.xz "$out"/b.tar.xz

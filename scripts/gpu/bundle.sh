#!/usr/bin/env bash
# Packs what the GPU test machine needs to run a build made here (see docs/gpu.md and ../shared/GPU.md):
# the given binaries, the Debian shared libraries they use that the GPU machine lacks, and the given model files,
# into .gpu-bundle/bundle.tar.xz (git-ignored; name `.gpu-bundle` in the device tool's `carry`).
# Usage: scripts/gpu/bundle.sh BINARY... [-- MODEL_FILE...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.gpu-bundle"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/models" "$out"

binaries=()
models=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; models=("$@"); break; fi
  binaries+=("$1"); shift
done
[ ${#binaries[@]} -gt 0 ] || { echo "usage: $0 BINARY... [-- MODEL...]" >&2; exit 2; }

# The GPU machine (Ubuntu 24.04) has a newer glibc and libstdc++ than Debian 12: use its own for those.
# cuDNN and cuBLAS are there too (PyTorch's copies, which run.sh puts on the loader path), and far too large to carry;
# our binaries dlopen them when the cuda backend is first used (src/backends/cuda/cuda_libs.h), so ldd does not list
# them and they need no entry here.
system_lib='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+\.|libgcc_s\.|libcuda\.|libnvidia|libcudnn|libcublas)'
# STUB_LIBS="libdnnl.so.2 ...": sonames the run will not call into, replaced by empty stand-ins to fit the 64 MiB
# the device tool carries. This works only for libraries our own binaries link, since they bind lazily (no -z now);
# Debian's FFmpeg binds at load time, so its dependencies cannot be stubbed.
stubs=" ${STUB_LIBS:-} "
for bin in "${binaries[@]}"; do
  cp "$bin" "$stage/bin/"
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $system_lib ]] && continue
    if [[ "$stubs" == *" $name "* ]]; then
      echo "" | gcc -x c -shared -fPIC -o "$stage/lib/$name" -Wl,-soname,"$name" -
    else
      cp -L "$path" "$stage/lib/"
    fi
  done
done
for m in "${models[@]}"; do cp -L "$m" "$stage/models/"; done
# -9e: the device tool carries at most 64 MiB, and the FFmpeg closure alone is most of it.
XZ_OPT="${XZ_OPT:--9e -T2}" tar -C "$stage" -cJf "$out/bundle.tar.xz" .
echo "bundle: $(du -h "$out/bundle.tar.xz" | cut -f1) in $out/bundle.tar.xz ($(ls "$stage/lib" | wc -l) libraries, ${#models[@]} models)"

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
# STUB_LIBS="libdnnl.so.2 ...": sonames the run will not call into, replaced by stand-ins to fit the 64 MiB the device
# tool carries. A stand-in defines what the bundle imports from the real library: functions that say so on stderr and
# return 0 (FFmpeg probes its encoders at start-up and reads 0 as "not available") and zeroed objects, so that libraries that bind at
# load time (Debian's FFmpeg links with -z now) still load. Only strong, unversioned symbols: a weak one (a C++
# template instance) would take the place of other libraries' own copies. So only unversioned libraries can be
# stubbed; FFmpeg's encoders are (libx265, libSvtAv1Enc, librav1e, libaom, libcodec2).
stubs=" ${STUB_LIBS:-} "
declare -A stubbed=()  # soname -> path of the real library
for bin in "${binaries[@]}"; do
  cp "$bin" "$stage/bin/"
  while read -r name path; do
    [[ "$name" =~ $system_lib ]] && continue
    if [[ "$stubs" == *" $name "* ]]; then stubbed[$name]=$path; else cp -L "$path" "$stage/lib/"; fi
  done < <(ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}')
done
if ((${#stubbed[@]})); then
  nm -D --undefined-only "$stage"/bin/* "$stage"/lib/* 2>/dev/null | awk '$1 == "U" {print $2}' | sort -u >"$stage/imports"
  for name in "${!stubbed[@]}"; do
    nm -D --defined-only -S "${stubbed[$name]}" | awk -v imports="$stage/imports" '
      BEGIN { while ((getline line < imports) > 0) wanted[line] = 1; print "int dprintf(int, const char*, ...);" }
      $NF ~ /@/ || !($NF in wanted) { next }
      NF == 4 && $3 == "T" { printf "long %s(void) { dprintf(2, \"bundle stub: %s\\n\"); return 0; }\n", $4, $4 }
      NF == 4 && $3 ~ /^[DBR]$/ { printf "char %s[0x%s];\n", $4, $2 }' |
      gcc -x c -w -shared -fPIC -o "$stage/lib/$name" -Wl,-soname,"$name" -
  done
  rm "$stage/imports"
fi
for m in "${models[@]}"; do cp -L "$m" "$stage/models/"; done
# -9e: the device tool carries at most 64 MiB, and the FFmpeg closure alone is most of it.
XZ_OPT="${XZ_OPT:--9e -T2}" tar -C "$stage" -cJf "$out/bundle.tar.xz" .
echo "bundle: $(du -h "$out/bundle.tar.xz" | cut -f1) in $out/bundle.tar.xz ($(ls "$stage/lib" | wc -l) libraries, ${#models[@]} models)"

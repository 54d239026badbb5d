#!/usr/bin/env bash
# On the GPU machine: unpacks .gpu-bundle/bundle.tar.xz into /tmp/fovea, points the loader at its libraries and at
# PyTorch's cuDNN (the one matching our headers), then runs the given command with bin/ on PATH.
# Usage (through the device tool, carry [".gpu-bundle"]): bash scripts/gpu/run.sh fovea bench /tmp/fovea/models/x.onnx
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest=/tmp/fovea
mkdir -p "$dest"
tar -C "$dest" -xJf "$root/.gpu-bundle/bundle.tar.xz"
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
export LD_LIBRARY_PATH="$dest/lib:${site:+$site/nvidia/cudnn/lib:$site/nvidia/cu13/lib:}${LD_LIBRARY_PATH:-}"
export PATH="$dest/bin:$PATH"
"$@"

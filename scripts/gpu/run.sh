#!/usr/bin/env bash
# On the GPU machine: unpacks the bundle into /tmp/fovea (once per bundle file: a warm machine keeps it between
# calls), points the loader at its libraries and at PyTorch's cuDNN (the one matching our headers), then runs the
# given command with bin/ on PATH.
# Usage (through the device tool, carry [".gpu-bundle"]): bash scripts/gpu/run.sh fovea bench /tmp/fovea/models/x.onnx
# FOVEA_BUNDLE names another bundle folder (a second bundle unpacks over the first: binaries, libraries, models add up).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest=/tmp/fovea
bundle="$root/${FOVEA_BUNDLE:-.gpu-bundle}/bundle.tar.xz"
mkdir -p "$dest"
stamp="$dest/.unpacked-$(cksum <"$bundle" | tr ' ' -)"
[ -f "$stamp" ] || { tar -C "$dest" -xJf "$bundle" && touch "$stamp"; }
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
export LD_LIBRARY_PATH="$dest/lib:${site:+$site/nvidia/cudnn/lib:$site/nvidia/cu13/lib:}${LD_LIBRARY_PATH:-}"
export PATH="$dest/bin:$PATH"
"$@"

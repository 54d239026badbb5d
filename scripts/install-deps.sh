#!/usr/bin/env bash
# Installs every Debian 12 package fovea needs. Idempotent; when all are present it only checks (no apt-get update).
# docs/dependencies.md says why each one is here.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries the engine links
  libonnx-dev libprotobuf-dev protobuf-compiler nlohmann-json3-dev libcli11-dev libdnnl-dev
  # Debian's dnnl-config.cmake looks for OpenCL (its GPU runtime), so its headers and loader must be there
  ocl-icd-opencl-dev opencl-headers
  # media, vision and the pipeline: FFmpeg's libav*, OpenCV imgproc, yaml-cpp
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev
  libopencv-core-dev libopencv-imgproc-dev libyaml-cpp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libonnx-testdata
  # real video in the media and pipeline tests: the ffmpeg CLI makes clips and serves streams; opencv-doc ships
  # vtest.avi (a street scene) and Megamind_bugy.avi (a damaged file)
  ffmpeg opencv-doc
  # a real RTSP server on loopback for the RTSP source tests (tests/media/rtsp_server.py): GStreamer's RTSP server
  # library through Python; plugins-base/good demux MP4/MKV and payload RTP (rtph264pay, udpsink, rtpbin),
  # plugins-bad parses H.264 (h264parse)
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  # the demo's clips: FFmpeg's drawtext writes lot labels in DejaVu Sans
  fonts-dejavu-core
  # model export and peer runs (zoo): Debian's PyTorch, torchvision, ONNX and NumPy; Node.js for onnxruntime-node
  python3 python3-numpy python3-onnx python3-torch python3-torchvision
  # CPU benchmark peers (bench/cpu_peers.py): OpenCV DNN
  python3-opencv
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js: any installed node >= 18 will do (Debian 12 ships 18); install Debian's if there is none.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The two set-up commands of the README: `make demo` and `make test`. Everything else here serves them.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
FOVEA := $(BUILD_DIR)/apps/fovea/fovea
CMAKE_FLAGS := $(if $(CI),-DFOVEA_WERROR=ON,)
JOBS ?= $(shell nproc)
# Models, npm packages and the zoo live outside the clone, so that fresh clones (and CI) reuse them.
export FOVEA_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/fovea
DET := $(FOVEA_CACHE_DIR)/models/ppocr/det.onnx

.PHONY: all deps build models zoo demo test conformance-report zoo-report clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake --preset $(PRESET) $(CMAKE_FLAGS) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS)

models: deps
	@scripts/fetch-models.sh

zoo: deps
	@scripts/make-zoo.sh

# The main job: 16 camera streams through PP-OCRv4 text detection and recognition on the CPU (examples/demo.yaml).
DEMO_CLIP := $(FOVEA_CACHE_DIR)/demo/lots_720p.mp4
DEMO_FONT := /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
demo: build models $(DEMO_CLIP)
	$(FOVEA) validate examples/demo.yaml
	$(FOVEA) run examples/demo.yaml --stats-json out/demo/stats.json

# What the demo's cameras show: lot labels ("LOT 1000", "LOT 1001", ... a new one every 2 s) sliding across a
# conveyor, 20 s of 720p15 H.264 made by FFmpeg's drawtext.
$(DEMO_CLIP): | deps
	@mkdir -p $(dir $@)
	ffmpeg -hide_banner -loglevel error -y -f lavfi -i "color=c=0x404850:s=1280x720:r=15:d=20" \
	  -vf "drawtext=fontfile=$(DEMO_FONT):text='LOT %{eif\:1000+floor(t/2)\:d}':fontsize=64:fontcolor=black:box=1:boxcolor=0xd0d0c8:boxborderw=40:x='mod(t*160\,1780)-500':y=300" \
	  -c:v libx264 -preset veryfast -pix_fmt yuv420p $@.tmp.mp4 && mv $@.tmp.mp4 $@

test: build zoo
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

conformance-report: build
	FOVEA_CONFORMANCE_REPORT=$(CURDIR)/docs/conformance.md $(BUILD_DIR)/tests/fovea_conformance --gtest_brief=1

zoo-report: build zoo
	FOVEA_ZOO_REPORT=$(CURDIR)/docs/zoo.md $(BUILD_DIR)/tests/zoo/fovea_zoo

clean:
	rm -rf build

# fovea's CPU backend against ONNX Runtime, PyTorch and OpenCV DNN on the zoo; rewrites its section of
# docs/benchmarks.md. Options go in BENCH_ARGS, e.g. `make bench-cpu BENCH_ARGS=--quick` (bench/cpu_peers.py --help).
.PHONY: bench-cpu
bench-cpu: build models zoo
	/usr/bin/python3 bench/cpu_peers.py --fovea $(FOVEA) --peak $(BUILD_DIR)/bench/peak_gflops $(BENCH_ARGS)

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

# The main job: factory-line inspection (examples/factory.yaml) on 16 cameras, on the CPU: the bundled defect detector,
# PP-OCRv4 reading each part's serial label, alarms on defective parts that carry the serial. The footage is rendered
# once by `fovea synth` (with ground truth, so `fovea eval examples/factory.yaml --data ...` can score the same run).
FACTORY_DATA := $(FOVEA_CACHE_DIR)/factory
# Footage from an older `fovea synth` (the stamp names its drawing version: src/synth/scene.cc) is rendered again.
FACTORY_STAMP := $(FACTORY_DATA)/.synth-v2
demo: build models $(FACTORY_STAMP)
	$(FOVEA) validate examples/factory.yaml
	$(FOVEA) run examples/factory.yaml --stats-json out/factory/stats.json

$(FACTORY_STAMP): | build
	$(FOVEA) synth --out $(FACTORY_DATA).tmp --streams 16 --duration 20 --seed 1 2>/dev/null
	touch $(FACTORY_DATA).tmp/$(notdir $(FACTORY_STAMP))
	rm -rf $(FACTORY_DATA) && mv $(FACTORY_DATA).tmp $(FACTORY_DATA)

# Another pipeline: 16 cameras reading lot labels with PP-OCRv4 text detection + recognition (examples/lots.yaml).
DEMO_CLIP := $(FOVEA_CACHE_DIR)/demo/lots_720p.mp4
DEMO_FONT := /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
.PHONY: demo-lots
demo-lots: build models $(DEMO_CLIP)
	$(FOVEA) run examples/lots.yaml --stats-json out/lots/stats.json

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

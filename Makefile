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

# Until the pipeline lands, the main job is a benchmark of the bundled PP-OCRv4 text detector on the CPU.
demo: build models
	$(FOVEA) inspect $(DET) --shape x=1,3,640,640
	$(FOVEA) bench $(DET) --backend ref --shape x=1,3,640,640 --warmup 1 --iterations 3

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

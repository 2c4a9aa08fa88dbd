# Entry points for people and CI. The build itself is CMake (presets in CMakePresets.json); this file
# only strings the steps together. `make build` leaves the command-line program at build/retain.
JOBS ?= 2
RETAIN := build/retain
MODEL := tests/fixtures/models/llama_gqa

.PHONY: all build test demo deps clean format

all: build

deps:
	scripts/install-deps.sh

build:
	@test -f build/build.ninja || cmake --preset release
	cmake --build --preset release --parallel $(JOBS)

test: deps
	$(MAKE) build
	ctest --preset release

# The smallest end-to-end run that exists today: describe a tiny Llama checkpoint, then generate from it.
demo: deps
	$(MAKE) build
	$(RETAIN) --version
	$(RETAIN) inspect $(MODEL)
	$(RETAIN) generate --model $(MODEL) --prompt "Hello world" --prompt "The quick brown fox" --max-new-tokens 12 --jsonl

clean:
	rm -rf build build-debug build-asan build-cuda

format:
	@command -v clang-format >/dev/null || { echo "make format needs clang-format (apt-get install clang-format)"; exit 1; }
	git ls-files -z -- '*.h' '*.cpp' | xargs -0 clang-format -i

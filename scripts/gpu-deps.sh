#!/usr/bin/env bash
# Prepares .deps/root: Debian 12 packages of retain's libraries unpacked into a prefix, for the GPU
# machine, which reaches no package registry. Run here (Debian), then carry .deps to that machine and
# configure with the `cuda` preset (CMAKE_PREFIX_PATH includes .deps/root/usr); `--portable DIR` also
# writes the build-only copy a GPU call carries (.cache/retain-small/deps).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="liblzma-dev liblzma5 zlib1g-dev zlib1g libbz2-dev libbz2-1.0 libgumbo-dev libgumbo1 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2 nlohmann-json3-dev libfmt-dev libfmt9 libcli11-dev googletest libtomlplusplus-dev libtomlplusplus3 libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev libbrotli1"
mkdir -p .deps/debs .deps/root
(cd .deps/debs && apt-get download $pkgs >/dev/null)
for f in .deps/debs/*.deb; do dpkg -x "$f" .deps/root; done
rm -rf .deps/root/usr/share/doc .deps/root/usr/share/man
echo ".deps/root ready: $(du -sh .deps/root | cut -f1)"

# `gpu-deps.sh --portable DIR [--tests]`: also a build-only copy in DIR (what a GPU call carries): no
# googletest sources (kept with --tests, for scripts/gpu-parity.sh), no static libraries, and Debian's
# lib*.so links to /lib/... replaced by the files they name.
if [ "${1:-}" = "--portable" ]; then
  dir=${2:?"gpu-deps.sh --portable DIR: DIR missing"}
  rm -rf "$dir" && mkdir -p "$dir"
  cp -a .deps/root/usr "$dir/"
  find "$dir/usr/lib" -type l -lname '/lib/*' | while read -r link; do
    cp -L ".deps/root$(readlink "$link")" "$link.tmp" && mv "$link.tmp" "$link"
  done
  [ -d .deps/root/lib/x86_64-linux-gnu ] && cp -a .deps/root/lib/x86_64-linux-gnu/. "$dir/usr/lib/x86_64-linux-gnu/"
  [ "${3:-}" = "--tests" ] || rm -rf "$dir/usr/src"
  find "$dir" -name '*.a' -delete
  echo "$dir ready: $(du -sh "$dir" | cut -f1)"
fi

#!/usr/bin/env bash
# Prepares .deps/root: Debian 12 packages of retain's libraries unpacked into a prefix, for the GPU
# machine, which reaches no package registry. Run here (Debian), then carry .deps to that machine and
# configure with the `cuda` preset (CMAKE_PREFIX_PATH includes .deps/root/usr).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="liblzma-dev liblzma5 zlib1g-dev zlib1g libbz2-dev libbz2-1.0 libgumbo-dev libgumbo1 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2 nlohmann-json3-dev libfmt-dev libfmt9 libcli11-dev googletest libtomlplusplus-dev libtomlplusplus3"
mkdir -p .deps/debs .deps/root
(cd .deps/debs && apt-get download $pkgs >/dev/null)
for f in .deps/debs/*.deb; do dpkg -x "$f" .deps/root; done
rm -rf .deps/root/usr/share/doc .deps/root/usr/share/man
echo ".deps/root ready: $(du -sh .deps/root | cut -f1)"

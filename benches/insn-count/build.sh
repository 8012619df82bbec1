#!/bin/bash
# Builds the nbt_insn QEMU plugin (nbt_insn.c) against the plugin header of the QEMU the
# testbed runs (Debian's, whose build loads plugins but ships none), into the cache:
# prints the path of the .so. Needs libglib2.0-dev; the header comes from Debian's source
# tarball of the same QEMU version, fetched once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${NETBACK_RS_CACHE:-/var/cache/netback-rs}/qemu-plugin
ver=$(dpkg-query -W -f '${Version}' qemu-system-x86)   # 1:10.0.2+ds-2+deb13u1~bpo12+1
up=${ver#*:}; up=${up%%-*}                              # 10.0.2+ds
mkdir -p "$CACHE"
hdr=$CACHE/$up/qemu-plugin.h
if [ ! -s "$hdr" ]; then
    dpkg -s libglib2.0-dev >/dev/null 2>&1 || apt-get install -y -q libglib2.0-dev >&2
    tmp=$(mktemp -d)
    curl -fsSL -o "$tmp/src.tar.xz" "http://deb.debian.org/debian/pool/main/q/qemu/qemu_${up/+/%2B}.orig.tar.xz"
    tar -xJf "$tmp/src.tar.xz" -C "$tmp" --wildcards '*/include/qemu/qemu-plugin.h'
    mkdir -p "$CACHE/$up" && mv "$tmp"/*/include/qemu/qemu-plugin.h "$hdr"
    rm -rf "$tmp"
fi
so=$CACHE/$up/nbt_insn.so
if [ ! -s "$so" ] || [ "$HERE/nbt_insn.c" -nt "$so" ]; then
    # A new file moved over the old: a QEMU running with the old one keeps its mapping.
    gcc -O2 -Wall -Werror -shared -fPIC -I"$CACHE/$up" $(pkg-config --cflags glib-2.0) \
        -o "$so.new" "$HERE/nbt_insn.c" >&2
    mv "$so.new" "$so"
fi
echo "$so"

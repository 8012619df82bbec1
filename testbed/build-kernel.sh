#!/usr/bin/env bash
# Build the Rust-enabled Linux kernel that the testbed boots as dom0 and domU, and that
# our module builds against (KDIR). Idempotent: every step is skipped when its output is
# already in $NETBACK_RS_CACHE and up to date.
#   testbed/build-kernel.sh            fetch, configure, build, stage
# Prints the kernel tree (KDIR) on stdout when done.
set -euo pipefail
. "$(dirname "$0")/common.sh"

FRAGMENT=$TESTBED_DIR/kernel.config
mkdir -p "$NETBACK_RS_CACHE" "$LOGS"
if [ -n "$NBT_KERNEL" ]; then  # a variant: the base fragment plus the variant's own lines
    cat "$FRAGMENT" "$TESTBED_DIR/kernel-$NBT_KERNEL.config" > "$NETBACK_RS_CACHE/kernel$KSFX.config"
    FRAGMENT=$NETBACK_RS_CACHE/kernel$KSFX.config
fi

# 1. Host tools.
host_apt_install flex bison bc libelf-dev libssl-dev cpio xz-utils kmod rsync pahole file \
    libclang-$LLVM_VERSION-dev clang-$LLVM_VERSION llvm-$LLVM_VERSION lld-$LLVM_VERSION
rustup component list --installed 2>/dev/null | grep -q '^rust-src' || { log "adding rust-src"; rustup component add rust-src >&2; }
if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
    log "installing bindgen-cli $BINDGEN_VERSION into $CARGO_TOOLS (about 3 minutes)"
    CARGO_HOME=$CARGO_TOOLS cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION" >&2
fi

# 2. Kernel source: Debian's linux-source-$KERNEL_SERIES, newest suite that still has it.
if [ ! -f "$KERNEL_TREE/Makefile" ]; then
    alt_apt_update_once
    mkdir -p "$DEBS"
    deb=""
    for suite in $KERNEL_SUITES; do
        ver=$(alt_apt -qq -t "$suite" --print-uris download "linux-source-$KERNEL_SERIES" 2>/dev/null | awk '{print $2}' | head -n1) || true
        [ -n "$ver" ] || continue
        log "linux-source-$KERNEL_SERIES from $suite: $ver"
        (cd "$DEBS" && alt_apt -qq -t "$suite" download "linux-source-$KERNEL_SERIES" >&2) && deb=$DEBS/$ver && break
    done
    [ -n "$deb" ] && [ -f "$deb" ] || die "linux-source-$KERNEL_SERIES is in none of: $KERNEL_SUITES"
    tmp=$(mktemp -d "$NETBACK_RS_CACHE/src.XXXX")
    dpkg -x "$deb" "$tmp"
    tar -C "$tmp" -xf "$tmp"/usr/src/linux-source-$KERNEL_SERIES.tar.xz
    rm -rf "$KERNEL_TREE"
    mv "$tmp/linux-source-$KERNEL_SERIES" "$KERNEL_TREE"
    rm -rf "$tmp"
fi

# 3. Configure: allnoconfig plus our fragment; every fragment line must reach .config.
cd "$KERNEL_TREE"
# A variant's source patch (testbed/kernel-VARIANT.patch), applied once.
patchfile=$TESTBED_DIR/kernel-$NBT_KERNEL.patch
if [ -n "$NBT_KERNEL" ] && [ -f "$patchfile" ] && ! patch -p1 -R -s -f --dry-run < "$patchfile" >/dev/null 2>&1; then
    log "applying $patchfile"
    patch -p1 -s -f < "$patchfile" >&2 || die "$patchfile does not apply"
fi
make -s rustavailable >/dev/null || die "the Rust toolchain does not satisfy this kernel (make rustavailable)"
# Reconfigure when the fragment's content changed (a fresh checkout's mtime says nothing).
fragment_sum=$(sha1sum < "$FRAGMENT")
if [ ! -f .config ] || [ "$(cat .netback-rs-fragment 2>/dev/null)" != "$fragment_sum" ]; then
    log "configuring (allnoconfig + $FRAGMENT)"
    make -s KCONFIG_ALLCONFIG="$FRAGMENT" allnoconfig >&2
    missing=$(grep -E '^CONFIG_' "$FRAGMENT" | while IFS= read -r l; do grep -qxF "$l" .config || echo "$l"; done)
    [ -z "$missing" ] || die "fragment lines that did not reach .config (a dependency forbids them): $missing"
    echo "$fragment_sum" > .netback-rs-fragment
fi

# 4. Build and stage (bzImage for Xen's multiboot, vmlinux ELF for xl, modules).
[ -f vmlinux ] || log "building bzImage and modules (about 16 minutes on 2 cores); log: $LOGS/kernel-build$KSFX.log"
make -j"$(nproc)" bzImage modules > "$LOGS/kernel-build$KSFX.log" 2>&1 || { tail -n 40 "$LOGS/kernel-build$KSFX.log" >&2; die "kernel build failed"; }
krel=$(make -s kernelrelease)
if [ ! -f "$KERNEL_STAGE/.stamp" ] || [ vmlinux -nt "$KERNEL_STAGE/.stamp" ] || [ "$(cat "$KERNEL_STAGE/.stamp")" != "$krel" ]; then
    rm -rf "$KERNEL_STAGE"; mkdir -p "$KERNEL_STAGE"
    make -s INSTALL_MOD_PATH="$KERNEL_STAGE" modules_install >&2
    depmod -b "$KERNEL_STAGE" "$krel"
    cp arch/x86/boot/bzImage vmlinux .config System.map "$KERNEL_STAGE/"
    echo "$krel" > "$KERNEL_STAGE/.stamp"
fi
log "kernel $krel ready in $KERNEL_TREE"
echo "$KERNEL_TREE"

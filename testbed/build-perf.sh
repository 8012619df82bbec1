#!/usr/bin/env bash
# perf for dom0, for run.sh --profile: trixie's linux-perf and the libraries it needs beyond
# the dom0 userspace, as an initramfs piece ($IMAGES/perf.cpio.zst) that run.sh appends to
# dom0's initrd only when asked, so the images every other run boots stay as they are.
# Installed into a copy of the dom0 rootfs (the same suite, so the libraries match), cached
# until the rootfs changes.
set -euo pipefail
. "$(dirname "$0")/common.sh"

OUTF=$IMAGES/perf.cpio.zst
[ -d "$ROOTFS" ] && [ -s "$IMAGES/dom0-initrd.cpio.zst" ] || "$TESTBED_DIR/build-images.sh"
if [ -s "$OUTF" ] && [ "$OUTF" -nt "$ROOTFS/.netback-rs-pkgs" ]; then
    log "perf for dom0 up to date in $OUTF"; exit 0
fi
W=$NETBACK_RS_CACHE/perf-root
log "installing linux-perf into a copy of the dom0 userspace (about 2 minutes)"
rm -rf "$W"; cp -a "$ROOTFS" "$W"
cp /etc/resolv.conf "$W/etc/resolv.conf"
mount -t proc proc "$W/proc"
trap 'umount "$W/proc" 2>/dev/null || true' EXIT
{ chroot "$W" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive chroot "$W" apt-get install -y -qq --no-install-recommends linux-perf; } \
    > "$LOGS/perf-install.log" 2>&1 || { tail -n 20 "$LOGS/perf-install.log" >&2; die "installing linux-perf failed"; }
perf=$(chroot "$W" sh -c 'command -v perf')
chroot "$W" "$perf" --version >&2 || die "perf does not run in the dom0 userspace"
# perf itself and every library it loads that the dom0 userspace lacks or has otherwise.
{ echo "${perf#/}"
  chroot "$W" ldd "$perf" | grep -o '/[^ ]*' | while read -r lib; do
      real=$(chroot "$W" readlink -f "$lib")
      for f in "$lib" "$real"; do cmp -s "$W$f" "$ROOTFS$f" || echo "${f#/}"; done
  done; } | sort -u > "$W/.perf-files"
umount "$W/proc"; trap - EXIT
(cd "$W" && cpio -o -H newc --quiet < .perf-files) | zstd -q -19 -T0 > "$OUTF.tmp"
mv "$OUTF.tmp" "$OUTF"
log "perf for dom0: $(wc -l < "$W/.perf-files") files, $(du -h "$OUTF" | cut -f1) in $OUTF"
rm -rf "$W"

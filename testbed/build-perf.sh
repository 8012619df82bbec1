#!/usr/bin/env bash
# perf for run.sh --profile: trixie's linux-perf as two initramfs pieces, appended only when
# asked, so the images every other run boots stay as they are:
#   $IMAGES/perf.cpio.zst       perf and the libraries it needs beyond the dom0 userspace
#                               (run.sh appends it to dom0's initrd);
#   $IMAGES/perf-domu.cpio.zst  perf and every library it loads, for the busybox guests
#                               (lib.sh's domu_create appends it to a guest's ramdisk).
# Installed into a copy of the dom0 rootfs (the same suite, so the libraries match), cached
# until the rootfs changes.
set -euo pipefail
. "$(dirname "$0")/common.sh"

OUTF=$IMAGES/perf.cpio.zst OUTF_DOMU=$IMAGES/perf-domu.cpio.zst
[ -d "$ROOTFS" ] && [ -s "$IMAGES/dom0-initrd.cpio.zst" ] || "$TESTBED_DIR/build-images.sh"
if [ -s "$OUTF" ] && [ "$OUTF" -nt "$ROOTFS/.netback-rs-pkgs" ] && [ -s "$OUTF_DOMU" ] && [ "$OUTF_DOMU" -nt "$ROOTFS/.netback-rs-pkgs" ]; then
    log "perf for dom0 and the guests up to date in $OUTF, $OUTF_DOMU"; exit 0
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
# perf itself and every library it loads, as paths in $W: for the guests, the names the
# loader asks for (.perf-domu); for dom0, those and the files they link to (.perf-files),
# where the dom0 userspace lacks them or has them otherwise.
{ echo "${perf#/}"; chroot "$W" ldd "$perf" | grep -o '/[^ ]*' | sed 's|^/||'; } | sort -u > "$W/.perf-domu"
while read -r f; do echo "$f"; real=$(chroot "$W" readlink -f "/$f"); echo "${real#/}"; done < "$W/.perf-domu" |
    sort -u | while read -r f; do cmp -s "$W/$f" "$ROOTFS/$f" || echo "$f"; done > "$W/.perf-files"
umount "$W/proc"; trap - EXIT
(cd "$W" && cpio -o -H newc --quiet < .perf-files) | zstd -q -19 -T0 > "$OUTF.tmp"
# The guests' piece is a tree of plain files (cp -L): a guest's /lib is a directory, where
# trixie's is a link to usr/lib that the piece must not bring along.
G=$W.domu; rm -rf "$G"
while read -r f; do mkdir -p "$G/$(dirname "$f")" && cp -L "$W/$f" "$G/$f"; done < "$W/.perf-domu"
(cd "$G" && find . | cpio -o -H newc --quiet) | zstd -q -19 -T0 > "$OUTF_DOMU.tmp"
mv "$OUTF.tmp" "$OUTF"; mv "$OUTF_DOMU.tmp" "$OUTF_DOMU"
log "perf for dom0: $(wc -l < "$W/.perf-files") files, $(du -h "$OUTF" | cut -f1) in $OUTF"
log "perf for the guests: $(wc -l < "$W/.perf-domu") files, $(du -sh "$G" | cut -f1) unpacked, $(du -h "$OUTF_DOMU" | cut -f1) in $OUTF_DOMU"
rm -rf "$W" "$G"

#!/usr/bin/env bash
# Build what QEMU boots for the Xen testbed, from cached parts where present:
#   $IMAGES/xen                      Xen hypervisor (32-bit ELF for QEMU's multiboot loader)
#   $IMAGES/vmlinuz                  our kernel (dom0; the same kernel runs the domUs)
#   $IMAGES/dom0-initrd.cpio.zst     trixie userspace + Xen toolstack + netperf/iperf3 + modules
#   $IMAGES/domu-initrd.cpio.gz      busybox + netperf/iperf3 + xen-netfront (stock)
#   $IMAGES/drvdom-initrd.cpio.zst   the dom0 userspace without what a driver domain does not
#                                    run (apt, python, udev's hwdb, docs): a guest that serves
#                                    the other guests' vifs (testbed/drvdom/init)
# The dom0 /init and the scenario are not in these images: run.sh appends them per run.
set -euo pipefail
. "$(dirname "$0")/common.sh"

host_bpo_install qemu-system-x86 debootstrap
host_apt_install zstd cpio perl python3 file bc
[ -f "$KERNEL_STAGE/.stamp" ] || "$TESTBED_DIR/build-kernel.sh" >/dev/null
KREL=$(cat "$KERNEL_STAGE/.stamp")
mkdir -p "$IMAGES" "$LOGS"

# 1. dom0 userspace: debootstrap of trixie, cached. The package list is part of the stamp.
ROOTFS_PKGS="xen-utils-$XEN_VERSION,xen-utils-common,iproute2,netperf,iperf3,kmod,busybox,procps,bridge-utils,ethtool,iputils-ping,python3-minimal,psmisc"
if [ "$(cat "$ROOTFS/.netback-rs-pkgs" 2>/dev/null)" != "$ROOTFS_PKGS" ]; then
    log "debootstrap $XEN_SUITE into $ROOTFS (about 3 minutes)"
    rm -rf "$ROOTFS" "$ROOTFS.tmp"
    debootstrap --variant=minbase --include="$ROOTFS_PKGS" "$XEN_SUITE" "$ROOTFS.tmp" "$(debian_mirror)" > "$LOGS/debootstrap.log" 2>&1 \
        || { tail -n 20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed"; }
    echo "$ROOTFS_PKGS" > "$ROOTFS.tmp/.netback-rs-pkgs"
    mv "$ROOTFS.tmp" "$ROOTFS"
fi

# 2. The hypervisor, from trixie's xen-hypervisor package.
if [ ! -s "$IMAGES/xen" ]; then
    alt_apt_update_once
    mkdir -p "$DEBS"; rm -rf "$DEBS/xen-x"
    (cd "$DEBS" && alt_apt -qq -t "$XEN_SUITE" download "xen-hypervisor-$XEN_VERSION-amd64" >&2)
    dpkg -x "$(ls -t "$DEBS"/xen-hypervisor-"$XEN_VERSION"-amd64_*.deb | head -n1)" "$DEBS/xen-x"
    zcat "$DEBS/xen-x/boot/xen-$XEN_VERSION-amd64.gz" > "$IMAGES/xen.tmp" && mv "$IMAGES/xen.tmp" "$IMAGES/xen"
fi

# Rebuild the initramfs images when the kernel, the rootfs or this script changed.
stamp="$KREL $(stat -c %Y "$KERNEL_STAGE/.stamp") $(cat "$ROOTFS/.netback-rs-pkgs") $(sha1sum < "$0" | cut -c1-12) $(sha1sum < "$TESTBED_DIR/domu/init" | cut -c1-12)"
if [ "$(cat "$IMAGES/.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "testbed images up to date in $IMAGES"; exit 0
fi
WORK=$NETBACK_RS_CACHE/image-build; rm -rf "$WORK"; mkdir -p "$WORK"
MODSRC=$KERNEL_STAGE/lib/modules/$KREL

# 3. domU initramfs: busybox, netperf, iperf3 and their libraries, the stock xen-netfront.
D=$WORK/domu
mkdir -p $D/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,run,etc,lib/modules}
cp "$ROOTFS/usr/bin/busybox" $D/bin/
for b in $(chroot "$ROOTFS" /usr/bin/busybox --list); do [ "$b" = busybox ] || ln -sf busybox "$D/bin/$b"; done
cp "$ROOTFS"/usr/bin/{netperf,netserver,iperf3} $D/usr/bin/
for b in /usr/bin/busybox /usr/bin/netperf /usr/bin/netserver /usr/bin/iperf3; do chroot "$ROOTFS" ldd $b | grep -o '/[^ ]*'; done \
    | sort -u | while read -r l; do mkdir -p "$D/$(dirname "$l")"; cp -L "$ROOTFS/$l" "$D/$l"; done
cp -L "$ROOTFS/usr/lib/x86_64-linux-gnu/libgcc_s.so.1" $D/lib/x86_64-linux-gnu/  # iperf3 aborts without it
find "$MODSRC" -name 'xen-netfront.ko*' -exec cp {} $D/lib/modules/xen-netfront.ko \;
[ -s $D/lib/modules/xen-netfront.ko ] || die "no xen-netfront.ko in $MODSRC"
cp "$TESTBED_DIR/domu/init" $D/init; chmod +x $D/init
echo "root:x:0:0:root:/:/bin/sh" > $D/etc/passwd
printf '127.0.0.1 localhost\n' > $D/etc/hosts
printf 'netperf 12865/tcp\n' > $D/etc/services
(cd $D && find . | cpio -o -H newc --quiet) | gzip -1 > "$IMAGES/domu-initrd.cpio.gz"

# 4. dom0 initramfs: the trimmed rootfs, our kernel's modules, the domU kernel and initramfs,
# and the driver domain's initramfs (5.), which dom0 hands to xl.
R=$WORK/dom0
cp -a "$ROOTFS" "$R"
rm -rf "$R"/usr/share/{doc,man,locale,info}/* "$R"/var/cache/apt/* "$R"/var/lib/apt/lists/*
mkdir -p "$R/usr/lib/modules" "$R/boot"
cp -a "$MODSRC" "$R/usr/lib/modules/"
depmod -b "$R" "$KREL"

# 5. Driver domain initramfs: the same userspace and modules (xl devd, the hotplug scripts,
# bridge, both backends) less what it never runs; /init and the backend come per run.
DD=$WORK/drvdom
cp -a "$R" "$DD"
rm -rf "$DD"/usr/share/* "$DD"/var/cache/* "$DD"/var/lib/apt "$DD"/usr/lib/python3* \
    "$DD"/usr/lib/udev/hwdb* "$DD"/usr/lib/x86_64-linux-gnu/gconv "$DD"/usr/lib/x86_64-linux-gnu/perl-base
echo xen-drvdom > "$DD/etc/hostname"
(cd "$DD" && find . | cpio -o -H newc --quiet) | zstd -q -T0 -6 > "$IMAGES/drvdom-initrd.cpio.zst"
rm -rf "$DD"
cp "$IMAGES/drvdom-initrd.cpio.zst" "$R/boot/drvdom-initrd.cpio.zst"
cp "$KERNEL_STAGE/vmlinux" "$R/boot/vmlinux"    # xl loads the ELF far faster than a bzImage under TCG
cp "$IMAGES/domu-initrd.cpio.gz" "$R/boot/domu-initrd.cpio.gz"
echo xen-dom0 > "$R/etc/hostname"
(cd "$R" && find . | cpio -o -H newc --quiet) | zstd -q -T0 -6 > "$IMAGES/dom0-initrd.cpio.zst.tmp"
mv "$IMAGES/dom0-initrd.cpio.zst.tmp" "$IMAGES/dom0-initrd.cpio.zst"
cp "$KERNEL_STAGE/bzImage" "$IMAGES/vmlinuz"
rm -rf "$WORK"
echo "$stamp" > "$IMAGES/.stamp"
log "testbed images ready in $IMAGES"

#!/usr/bin/env bash
# Boot the Xen testbed under QEMU (TCG) and run one scenario in dom0.
# Builds whatever is missing first (kernel, images, our module), all cached.
usage() {
    cat <<USAGE
usage: testbed/run.sh [options]
  --backend c|rs      backend loaded before the scenario starts (default rs)
  --domus N           number of PV guests the scenario may create (default 1)
  --guest-vcpus N     vCPUs of the A/B scenarios' guests (ab, ab-front: 1; ab-mq: 2);
                      netfront asks for one queue per vCPU
  --len SECONDS       length of each netperf test (default 5)
  --rounds N          rounds for A/B scenarios (default 3)
  --backends "c rs"   backends an A/B scenario compares, in this order (default "c rs")
  --scenario NAME     testbed/scenarios/NAME.sh, benches/scenarios/NAME.sh, or a file path (default smoke)
  --rs-params "..."   module parameters for xen-netback-rs.ko
  --rs-ko LABEL=KO    also ship a prebuilt xen-netback-rs.ko (another commit's build) as
                      backend rs@LABEL, for an A/B between two builds in one boot; repeatable
  --rs-opts LABEL="PARAMS"  backend rs@LABEL loads with these module parameters on top of
                      --rs-params: the --rs-ko module of that LABEL if one was given, else this
                      worktree's (say, --backends "c rs rs@zc" --rs-opts zc="tx_zerocopy=on"); repeatable
  --rs-ethtool LABEL="ARGS"  A/B scenarios run "ethtool ARGS vifX.Y" on every guest's vif each
                      time backend rs@LABEL takes over (say, --rs-ethtool co="-C tx-usecs 50");
                      like --rs-opts, rs@LABEL is this worktree's module unless --rs-ko gives one
  --rs-sysfs LABEL="NAME=VALUE ..."  the same with the vifs' sysfs attributes, written to
                      /sys/class/net/vifX.Y/NAME (say, --rs-sysfs defer="napi_defer_hard_irqs=2
                      gro_flush_timeout=50000"); repeatable
  --front-opts LABEL="PARAMS"  ab-front: the guests load netfront-rs with these module
                      parameters while backend rs@LABEL runs (say, --backends "c rs rs@tr"
                      --front-opts tr="trusted=1"; rs@LABEL is then this worktree's
                      module unless --rs-ko gives one), or the stock xen-netfront with them
                      while c@LABEL (the C driver) runs (say, --backends "c c@untr rs"
                      --front-opts untr="trusted=0"); repeatable
  --front-ko LABEL=KO  ab-front: while backend rs@LABEL runs, the guests load this prebuilt
                      xen-netfront-rs.ko (another build's) instead of this worktree's, for an
                      A/B between two netfront-rs builds in one boot (rs@LABEL is this
                      worktree's backend unless --rs-ko gives one); repeatable
  --driver-domain     the backend runs in a driver domain (an unprivileged guest, "drvdom",
                      testbed/drvdom/init) instead of dom0: the guests' vifs say
                      backend=drvdom, and A/B scenarios measure from it where they would
                      from dom0 (docs/driver-domain.md)
  --sriov             QEMU emulates an SR-IOV NIC (igb, 82576: up to 7 VFs) on a q35 machine,
                      for the sriov scenario (../shared/testbed-notes.md; docs/sriov.md)
  --timeout SECONDS   QEMU is killed after this long (default 1500; 4500 with --icount)
  --icount SHIFT      QEMU -icount shift=SHIFT,sleep=off (or a whole spec, "shift=N,sleep=on"):
                      guest time advances 2^SHIFT ns per instruction executed, so a figure is
                      a cost in instructions that host noise does not move; TCG runs on one
                      host thread then (slower). Every result record gets "icount".
  --profile           dom0 and the guests run perf (trixie's linux-perf, testbed/build-perf.sh,
                      appended to their initramfs for this run only): the A/B scenarios sample
                      the CPUs of dom0 and of the guests a test runs between (cpu-clock) inside
                      each test and log each host's costliest functions per backend ("PROFILE"
                      lines; benches/profile_report.py turns them into a table)
  --insn-count        QEMU runs the nbt_insn plugin (benches/insn-count/): the A/B scenarios
                      count every instruction executed in kernel text inside each test
                      (every domain's, keyed by where it sits), one file per test beside the
                      log, for benches/insn_report.py (exact; best with --icount, whose
                      figures the plugin does not change)
  --out DIR           where the log and results go (default \$NETBACK_RS_CACHE/logs)
  --kernel debug      boot the debug kernel (lockdep, SLUB debug, page poisoning; see
                      testbed/kernel-debug.config), built on first use (same as NBT_KERNEL=debug)
Prints the result records and a table; exit 0 only when the scenario passed and dom0's
kernel log has no WARNING/BUG/Oops/lockup line. Set NETBACK_RS_CACHE to move the caches;
AB_TESTS="TEST[/DIR] ..." to run only those tests of an A/B scenario (benches/scenarios/ab.sh);
AB_UDP_RCPU=N to bind the UDP pps tests' receiver to its domain's vCPU N;
NBT_PROFILE_ADDRS=1 with --profile: dom0's samples in our module by instruction;
MEM_FRONTEND=stock|rs and MEM_COUNTS="1 4 ..." for the memory scenario's guests and vif counts.
USAGE
}
set -euo pipefail
. "$(dirname "$0")/common.sh"

RS_KOS=() RS_OPTS=() RS_ETHTOOL=() RS_SYSFS=() FRONT_OPTS=() FRONT_KOS=() BACKENDS="c rs" BACKEND=rs NDOM=1 LEN=5 ROUNDS=3 SCENARIO=smoke RS_PARAMS="" TIMEOUT="" OUT=$LOGS ICOUNT="" DRVDOM=0 SRIOV=0 PROFILE=0 INSN=0 GUEST_VCPUS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) BACKEND=$2; shift;;
        --domus) NDOM=$2; shift;;
        --guest-vcpus) GUEST_VCPUS=$2; shift;;
        --len) LEN=$2; shift;;
        --rounds) ROUNDS=$2; shift;;
        --backends) BACKENDS=$2; shift;;
        --scenario) SCENARIO=$2; shift;;
        --rs-params) RS_PARAMS=$2; shift;;
        --rs-ko) RS_KOS+=("$2"); shift;;
        --rs-opts) RS_OPTS+=("$2"); shift;;
        --rs-ethtool) RS_ETHTOOL+=("$2"); shift;;
        --rs-sysfs) RS_SYSFS+=("$2"); shift;;
        --front-opts) FRONT_OPTS+=("$2"); shift;;
        --front-ko) FRONT_KOS+=("$2"); shift;;
        --timeout) TIMEOUT=$2; shift;;
        --icount) ICOUNT=$2; shift;;
        --driver-domain) DRVDOM=1;;
        --sriov) SRIOV=1;;
        --profile) PROFILE=1;;
        --insn-count) INSN=1;;
        --out) OUT=$2; shift;;
        --kernel) export NBT_KERNEL=$2; . "$(dirname "$0")/common.sh"; shift;;
        -h|--help) usage; exit 0;;
        *) usage >&2; exit 2;;
    esac
    shift
done
case "$BACKEND" in c|c@*|rs|rs@*) ;; *) die "--backend takes c, c@LABEL, rs or rs@LABEL";; esac
[[ "$GUEST_VCPUS" =~ ^[1-8]?$ ]] || die "--guest-vcpus takes 1 to 8, got '$GUEST_VCPUS'"
# -icount: one TCG thread for both vCPUs (QEMU has no multi-threaded TCG under icount).
QEMU_ICOUNT=()
if [ -n "$ICOUNT" ]; then
    [[ "$ICOUNT" =~ ^[0-9]+$ ]] && ICOUNT="shift=$ICOUNT,sleep=off"
    [[ "$ICOUNT" =~ ^[a-z0-9=,]+$ ]] || die "--icount takes SHIFT or an -icount spec, got '$ICOUNT'"
    QEMU_ICOUNT=(-icount "$ICOUNT")
fi
[ -n "$TIMEOUT" ] || TIMEOUT=$([ -n "$ICOUNT" ] && echo 4500 || echo 1500)
for f in "$SCENARIO" "$TESTBED_DIR/scenarios/$SCENARIO.sh" "$REPO_ROOT/benches/scenarios/$SCENARIO.sh"; do
    [ -f "$f" ] && { SCENARIO_FILE=$(realpath "$f"); break; }
done
[ -n "${SCENARIO_FILE:-}" ] || die "no scenario '$SCENARIO'"
# One testbed at a time on this machine: a second run waits for the first.
mkdir -p "$NETBACK_RS_CACHE"
exec 9>/var/lock/netback-rs-testbed.lock
if ! flock -n 9; then log "another testbed run is going: waiting for it"; flock 9; fi

"$TESTBED_DIR/build-kernel.sh" >/dev/null
"$TESTBED_DIR/build-images.sh"
[ $PROFILE = 0 ] || "$TESTBED_DIR/build-perf.sh"
# Backends that load this worktree's module: rs, and rs@LABEL with --rs-opts but no --rs-ko.
WANT_KO=" rs "
for spec in "${RS_OPTS[@]}" "${RS_ETHTOOL[@]}" "${RS_SYSFS[@]}" "${FRONT_OPTS[@]}" "${FRONT_KOS[@]}"; do
    label=${spec%%=*}
    [[ "$label" =~ ^[A-Za-z0-9_.-]+$ && "$spec" == *=* ]] || die "--rs-opts/--rs-ethtool want LABEL=\"...\", got '$spec'"
    [[ " ${RS_KOS[*]} " == *" $label="* ]] || WANT_KO+="rs@$label "
done
uses_worktree_ko() {
    local b
    # A scenario that starts a guest with netfront-rs (domu_create ... rs) needs this
    # worktree's build whatever the backend: the same make builds xen-netfront-rs.ko.
    grep -q 'domu_create [0-9 ]*[0-9]* rs' "$SCENARIO_FILE" && return 0
    # An A/B scenario (one that reads NBT_BACKENDS, or runs lib.sh's ab_start/ab_rounds,
    # which do) needs it when any of its backends does.
    for b in "$BACKEND" $(grep -qE 'NBT_BACKENDS|ab_start|ab_rounds' "$SCENARIO_FILE" && echo "$BACKENDS"); do
        [[ "$WANT_KO" == *" $b "* ]] && return 0
    done
    return 1
}
KO=""
if uses_worktree_ko; then
    log "building xen-netback-rs.ko"
    # Objects built against another kernel tree (the debug variant) are not reused.
    if [ "$(cat "$REPO_ROOT/.nbt-kdir" 2>/dev/null || echo "$NETBACK_RS_CACHE/linux")" != "$KERNEL_TREE" ]; then
        make -s -C "$KERNEL_TREE" M="$REPO_ROOT" clean >/dev/null 2>&1 || true
        echo "$KERNEL_TREE" > "$REPO_ROOT/.nbt-kdir"
    fi
    make -s -C "$REPO_ROOT" KDIR="$KERNEL_TREE" modules >&2 || die "module build failed"
    KO=$REPO_ROOT/xen-netback-rs.ko
    [ -f "$KO" ] || die "module build produced no $KO"
fi
# Test tools that run inside guests (a hostile netfront), static so the busybox guests run them.
log "building the guest test tools (testbed/evilfront)"
EVILFRONT=$NETBACK_RS_CACHE/evilfront-target/x86_64-unknown-linux-gnu/release/evilfront
(cd "$TESTBED_DIR/evilfront" && CARGO_TARGET_DIR=$NETBACK_RS_CACHE/evilfront-target \
    RUSTFLAGS="-C target-feature=+crt-static" nice -n 10 cargo build -q --release --target x86_64-unknown-linux-gnu) >&2 \
    || die "evilfront build failed"
# tc classifiers, eBPF built with the LLVM we have: the hostile scenario's (tx-split-headers),
# the ctrlring scenario's (guest TX hash kept) and the benches' generated traffic (discard_drop).
BPF_PROGS=""
for prog in linear_check hash_check discard_drop; do
    clang-$LLVM_VERSION -O2 -g -target bpf -I/usr/include/"$(gcc -dumpmachine)" \
        -c "$TESTBED_DIR/bpf/$prog.c" -o "$NETBACK_RS_CACHE/evilfront-target/$prog.o" \
        || die "building testbed/bpf/$prog.c failed"
    BPF_PROGS="$BPF_PROGS $NETBACK_RS_CACHE/evilfront-target/$prog.o"
done

# Per-run overlay appended to the dom0 initramfs: /init, the scenario, our module.
mkdir -p "$OUT"
name=$(basename "$SCENARIO_FILE" .sh)
RUN=$OUT/run-$(date +%Y%m%d-%H%M%S)-$name
OV=$RUN.overlay; rm -rf "$OV"; mkdir -p "$OV/etc/netback-rs" "$OV/opt/netback-rs"
cp "$TESTBED_DIR/dom0/init" "$OV/init"
cp "$TESTBED_DIR/dom0/lib.sh" "$OV/etc/netback-rs/lib.sh"
cp "$SCENARIO_FILE" "$OV/etc/netback-rs/scenario.sh"
# Our hotplug script (SR-IOV steering) beside the toolstack's.
mkdir -p "$OV/etc/xen/scripts" && cp "$REPO_ROOT/sriov/vif-sriov" "$OV/etc/xen/scripts/"
[ -n "$KO" ] && cp "$KO" "$OV/opt/netback-rs/"
for spec in "${RS_KOS[@]}"; do
    label=${spec%%=*} ko=${spec#*=}
    [[ "$label" =~ ^[A-Za-z0-9_.-]+$ && -f "$ko" ]] || die "--rs-ko wants LABEL=PATH-TO-KO, got '$spec'"
    mkdir -p "$OV/opt/netback-rs/alt" && cp "$ko" "$OV/opt/netback-rs/alt/$label.ko"
done
# rs@LABEL's parameters: lib.sh's backend_load reads /opt/netback-rs/opts/LABEL.
for spec in "${RS_OPTS[@]}"; do
    mkdir -p "$OV/opt/netback-rs/opts" && printf '%s\n' "${spec#*=}" > "$OV/opt/netback-rs/opts/${spec%%=*}"
done
# The guests' netfront-rs parameters under rs@LABEL: ab-front.sh reads /opt/netback-rs/front-opts/LABEL.
for spec in "${FRONT_OPTS[@]}"; do
    [[ "${spec%%=*}" =~ ^[A-Za-z0-9_.-]+$ && "${spec#*=}" =~ ^[A-Za-z0-9_=\ ]*$ ]] || die "--front-opts wants LABEL=\"P=V ...\", got '$spec'"
    mkdir -p "$OV/opt/netback-rs/front-opts" && printf '%s\n' "${spec#*=}" > "$OV/opt/netback-rs/front-opts/${spec%%=*}"
done
# rs@LABEL's ethtool settings: lib.sh's ab_rounds applies /opt/netback-rs/ethtool/LABEL.
for spec in "${RS_ETHTOOL[@]}"; do
    [[ "${spec#*=}" =~ ^[A-Za-z0-9\ _.-]+$ ]] || die "--rs-ethtool takes ethtool options, got '$spec'"
    mkdir -p "$OV/opt/netback-rs/ethtool" && printf '%s\n' "${spec#*=}" > "$OV/opt/netback-rs/ethtool/${spec%%=*}"
done
for spec in "${RS_SYSFS[@]}"; do
    [[ "${spec#*=}" =~ ^([A-Za-z0-9_/]+=[A-Za-z0-9_.-]+\ *)+$ ]] || die "--rs-sysfs wants LABEL=\"NAME=VALUE ...\", got '$spec'"
    mkdir -p "$OV/opt/netback-rs/sysfs" && printf '%s\n' "${spec#*=}" > "$OV/opt/netback-rs/sysfs/${spec%%=*}"
done
# The driver domain's piece of its initramfs (lib.sh's drvdom_create appends it to the
# image): its /init and the same /opt/netback-rs (modules, --rs-opts, --rs-ethtool).
DD=$RUN.drvdom; rm -rf "$DD"; mkdir -p "$DD"
cp -a "$OV/opt" "$DD/" && cp "$TESTBED_DIR/drvdom/init" "$DD/init"
(cd "$DD" && find . | cpio -o -H newc --quiet) > "$OV/opt/netback-rs/drvdom-overlay.cpio"
rm -rf "$DD"
# The tools, in dom0 and as an initramfs piece lib.sh can append to a guest's (domu_create).
mkdir -p "$OV/opt/netback-rs/tools" "$RUN.guest-tools/opt/netback-rs/tools"
cp "$EVILFRONT" $BPF_PROGS "$OV/opt/netback-rs/tools/"
cp "$EVILFRONT" "$TESTBED_DIR/profile-fold.awk" "$RUN.guest-tools/opt/netback-rs/tools/"
cp "$TESTBED_DIR/profile-fold.awk" "$OV/opt/netback-rs/tools/"
# --profile: perf for the guests too (lib.sh's domu_create appends it to their ramdisks).
[ $PROFILE = 0 ] || cp "$IMAGES/perf-domu.cpio.zst" "$OV/opt/netback-rs/tools/"
# This worktree's Rust netfront, which the same make builds beside KO: a guest created with
# it (lib.sh's domu_create I VCPUS MTU rs) loads it instead of the stock xen-netfront.
if [ -n "$KO" ] && [ -f "$REPO_ROOT/xen-netfront-rs.ko" ]; then
    cp "$REPO_ROOT/xen-netfront-rs.ko" "$RUN.guest-tools/opt/netback-rs/tools/"
fi
# Other netfront-rs builds (--front-ko): in the guests as front-alt/LABEL.ko; dom0 learns
# the labels from /opt/netback-rs/front-ko/LABEL (ab-front.sh, lib.sh's backend_load_cmd).
for spec in "${FRONT_KOS[@]}"; do
    label=${spec%%=*} ko=${spec#*=}
    [[ "$label" =~ ^[A-Za-z0-9_.-]+$ && -f "$ko" ]] || die "--front-ko wants LABEL=PATH-TO-KO, got '$spec'"
    mkdir -p "$RUN.guest-tools/opt/netback-rs/tools/front-alt" "$OV/opt/netback-rs/front-ko"
    cp "$ko" "$RUN.guest-tools/opt/netback-rs/tools/front-alt/$label.ko"
    echo "$ko" > "$OV/opt/netback-rs/front-ko/$label"
done
(cd "$RUN.guest-tools" && find . | cpio -o -H newc --quiet) | gzip -1 > "$OV/opt/netback-rs/tools/guest-tools.cpio.gz"
rm -rf "$RUN.guest-tools"
cat > "$OV/etc/netback-rs/run.conf" <<CONF
NBT_BACKEND=$BACKEND
NBT_NDOM=$NDOM
NBT_LEN=$LEN
NBT_ROUNDS=$ROUNDS
NBT_BACKENDS="$BACKENDS"
NBT_RS_PARAMS="$RS_PARAMS"
NBT_SCENARIO_NAME=$name
NBT_ICOUNT="$ICOUNT"
NBT_DRVDOM=$DRVDOM
NBT_PROFILE=$PROFILE
NBT_INSN=$INSN
NBT_GUEST_VCPUS=$GUEST_VCPUS
CONF
# pass_env NAME REGEX WHAT: NAME from the environment into run.conf for the scenario, when
# set; refused unless it matches REGEX (it is sourced in dom0).
pass_env() {
    local val=${!1:-}
    [ -n "$val" ] || return 0
    [[ "$val" =~ $2 ]] || die "$1 takes $3, got '$val'"
    echo "$1=\"$val\"" >> "$OV/etc/netback-rs/run.conf"
}
# The A/B scenarios run only the tests AB_TESTS names (ab.sh); AB_UDP_RCPU binds the UDP pps
# tests' receiver (netserver) to that vCPU of its domain (netperf -T ,N).
pass_env AB_TESTS '^[A-Za-z0-9_./ -]+$' "test names and TEST/DIR"
pass_env AB_UDP_RCPU '^[0-9]+$' "a vCPU number"
# With --profile, dom0 also records the instruction of each sample in our module
# (benches/profile_lines.py maps them onto source lines).
pass_env NBT_PROFILE_ADDRS '^[01]$' "0 or 1"
# The memory scenario's guests run MEM_FRONTEND's netfront (stock or rs: netfront-rs, whose
# control ring makes netback-rs' queues keep their staged grants and, under
# tx_zerocopy=staged, a pending area) and attach MEM_COUNTS vifs.
pass_env MEM_FRONTEND '^(stock|rs)$' "stock or rs"
pass_env MEM_COUNTS '^[0-9]+( [0-9]+)*$' 'vif counts ("1 4 8")'
INITRD=$RUN.initrd
cp "$IMAGES/dom0-initrd.cpio.zst" "$INITRD"
truncate -s %512 "$INITRD"
if [ $PROFILE = 1 ]; then cat "$IMAGES/perf.cpio.zst" >> "$INITRD"; truncate -s %512 "$INITRD"; fi
(cd "$OV" && find . | cpio -o -H newc --quiet) >> "$INITRD"
rm -rf "$OV"

# --sriov: q35 (the pc machine has no PCIe extended config space, where the SR-IOV
# capability lives) with the 64-bit PCI hole at 0, so that the VF BARs land below 4 GiB
# (QEMU decodes igb's VF BARs as 32-bit); the NIC's port is a hub port with no peer.
MACHINE=(-machine pc)
[ $SRIOV = 1 ] && MACHINE=(-machine q35 -global q35-pcihost.pci-hole64-size=0
    -netdev hubport,id=n1,hubid=7 -device igb,netdev=n1,addr=0x5)
XEN_ARGS="console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 loglvl=all guest_loglvl=all noreboot"
DOM0_ARGS="console=hvc0 earlyprintk=xen"
# The debug kernel poisons freed pages (kernel-debug.config).
[ "$NBT_KERNEL" = debug ] && DOM0_ARGS="$DOM0_ARGS page_poison=1"
QEMU_PLUGIN=()
[ $INSN = 0 ] || QEMU_PLUGIN=(-plugin "$("$REPO_ROOT/benches/insn-count/build.sh"),out=$RUN.insn")
log "booting Xen in QEMU (scenario $name, backend $BACKEND$([ $DRVDOM = 1 ] && echo " in a driver domain"), $NDOM guest(s)${ICOUNT:+, -icount $ICOUNT}); log: $RUN.log"
set +e
for attempt in 1 2; do
    timeout "$TIMEOUT" qemu-system-x86_64 "${MACHINE[@]}" -accel tcg -cpu qemu64 -smp 2 -m 3072 \
        -display none -serial stdio -monitor none -nic none -no-reboot "${QEMU_ICOUNT[@]}" "${QEMU_PLUGIN[@]}" \
        -kernel "$IMAGES/xen" -append "$XEN_ARGS" -initrd "$IMAGES/vmlinuz $DOM0_ARGS,$INITRD" </dev/null 2>&1 \
        | perl -MTime::HiRes=time -ne 'BEGIN{$|=1;$t0=time} printf "[%8.3f] %s", time-$t0, $_' > "$RUN.log"
    qrc=${PIPESTATUS[0]}
    # QEMU itself aborted (an assertion of its own: SIGABRT, 134) while dom0 was still
    # booting, before the scenario started and so before any backend was loaded: a fault of
    # the emulator, not of what is tested (seen once so far, QEMU 10.0.2: iotlb_to_section
    # during dom0's PCI scan, CI rehearsal of 05dbd9c). Boot once more; the first log stays
    # beside the new one.
    [ "$attempt" = 1 ] && [ "$qrc" = 134 ] && ! grep -q "NBT-STAMP .* scenario .* starts" "$RUN.log" &&
        grep -q "^\[ *[0-9.]*\] qemu-system-x86_64: .*Assertion" "$RUN.log" || break
    mv "$RUN.log" "$RUN.qemu-abort.log"
    log "QEMU aborted while dom0 booted ($(grep -o 'qemu-system-x86_64: .*' "$RUN.qemu-abort.log" | head -n1)); booting again"
done
set -e
rm -f "$INITRD"
ln -sfn "$RUN.log" "$OUT/latest.log"
python3 "$TESTBED_DIR/report.py" --log "$RUN.log" --jsonl "$RUN.jsonl" --qemu-rc "$qrc"

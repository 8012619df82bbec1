# Functions for dom0 scenarios (testbed/scenarios/*.sh are sourced with these defined).
# Results go to the console as "NBT-RESULT {json}" lines; failures as "NBT-FAIL reason".
# Settings come from run.conf: NBT_BACKEND (c|rs), NBT_BACKENDS (A/B order), NBT_NDOM,
# NBT_LEN, NBT_ROUNDS, NBT_RS_PARAMS, NBT_DRVDOM (1: the backend runs in a driver domain).

NBT_RS_KO=/opt/netback-rs/xen-netback-rs.ko
NBT_RS_MOD=xen_netback_rs
NBT_C_MOD=xen_netback
NBT_FAILED=/tmp/nbt-failed
NBT_SUBNET=10.99.0

# What makes a kernel log bad (testbed/report.py has the same rule for the serial log).
NBT_BAD_KERNEL_LINE='WARNING:|BUG:|Oops|LOCKUP|soft lockup|hung_task|blocked for more than|rcu_sched self-detected stall|Call Trace'
nbt_stamp() { echo "NBT-STAMP $(cut -d' ' -f1 /proc/uptime) $*"; }
nbt_fail() { echo "NBT-FAIL $*"; echo "$*" >> $NBT_FAILED; }
nbt_die() { nbt_fail "$*"; nbt_finish; }

# nbt_result key=value ...: one machine-readable record (numbers stay numbers).
nbt_result() {
    local json="" kv k v
    for kv in "$@"; do
        k=${kv%%=*}; v=${kv#*=}
        if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then json+="\"$k\":$v,"; else json+="\"$k\":\"${v//\"/}\","; fi
    done
    # Under QEMU -icount (run.sh --icount) figures are in virtual time: every record says so.
    [ -n "${NBT_ICOUNT:-}" ] && json+="\"icount\":\"$NBT_ICOUNT\","
    echo "NBT-RESULT {${json%,}}"
}

nbt_boot() {
    local m
    for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs bridge; do modprobe -q $m 2>/dev/null; done
    mount -t xenfs xenfs /proc/xen
    ip link set lo up
    local xs
    xs=$(ls /usr/lib/xen-4.20/bin/oxenstored /usr/lib/xen-4.20/bin/xenstored /usr/sbin/xenstored 2>/dev/null | head -n1)
    $xs --pid-file=/run/xenstored.pid
    for _ in $(seq 1 100); do xenstore-read -s / >/dev/null 2>&1 && break; sleep 0.2; done
    xen-init-dom0 >/dev/null || nbt_die "xen-init-dom0 failed"
    xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
    ip link add xenbr0 type bridge
    ip addr add $NBT_SUBNET.1/24 dev xenbr0
    ip link set xenbr0 up
    netserver -p 12865 >/dev/null 2>&1
    iperf3 -s -D >/dev/null 2>&1
    nbt_stamp "toolstack up: xen $(xl info xen_version 2>/dev/null), kernel $(uname -r)"
    if [ -n "${NBT_ICOUNT:-}" ]; then nbt_stamp "QEMU -icount $NBT_ICOUNT: uptime and every figure are virtual time"; fi
}

nbt_finish() {
    local rc=0 bad
    nbt_stamp "finishing"
    for i in $(seq 1 9); do xl destroy domu$i 2>/dev/null; done
    xl destroy drvdom 2>/dev/null
    echo "NBT-DMESG-BEGIN"
    dmesg
    echo "NBT-DMESG-END"
    bad=$(dmesg | grep -cE "$NBT_BAD_KERNEL_LINE")
    [ "$bad" = 0 ] || nbt_fail "dom0 kernel log has $bad WARNING/BUG/Oops/lockup lines"
    [ -s $NBT_FAILED ] && rc=1
    echo "NBT-RC rc=$rc"
    sync
    echo o > /proc/sysrq-trigger
    sleep 60
}

# ---- hosts: where a command runs ----
# A host is dom0, drvdom (the driver domain) or a guest's index.
host_ip() { case "$1" in dom0) echo $NBT_SUBNET.1;; drvdom) echo $NBT_DRVDOM_IP;; *) domu_ip "$1";; esac; }
# host_run HOST 'commands': run them there (bash), print their output, return their status.
host_run() {
    [ "$1" = dom0 ] && { bash -c "$2"; return; }
    local out rc
    out=$(domu_exec "$1" "(
$2
); echo NBT-EXIT=\$?") || return 1
    rc=$(echo "$out" | sed -n 's/^NBT-EXIT=//p' | tail -n1)
    echo "$out" | grep -v '^NBT-EXIT='
    return "${rc:-1}"
}
# The host whose kernel runs the backend under test.
backend_host() { if [ "${NBT_DRVDOM:-0}" = 1 ]; then echo drvdom; else echo dom0; fi; }

# ---- backends ----
# rs@LABEL: another build of our module (run.sh --rs-ko LABEL=KO), same module name, and/or
# our module with other parameters (run.sh --rs-opts LABEL="PARAMS", on top of NBT_RS_PARAMS).
# The driver domain gets the same /opt/netback-rs as dom0 (run.sh), so these paths hold there.
backend_module() { case "$1" in c|c@*) echo $NBT_C_MOD;; rs|rs@*) echo $NBT_RS_MOD;; *) return 1;; esac; }
backend_load_cmd() {  # backend_load_cmd BACKEND: the command that loads it
    case "$1" in
        # c@LABEL: the C driver as it is; the label only names the guests' stock netfront
        # parameters (ab-front, run.sh --front-opts LABEL=...).
        c|c@*) echo "modprobe xen-netback";;
        rs) [ -f $NBT_RS_KO ] || { echo "no $NBT_RS_KO in dom0" >&2; return 1; }
            echo "insmod $NBT_RS_KO $NBT_RS_PARAMS";;
        rs@*) local ko=/opt/netback-rs/alt/${1#rs@}.ko opts=/opt/netback-rs/opts/${1#rs@}
            { [ -f "$opts" ] || [ -f /opt/netback-rs/ethtool/${1#rs@} ] || [ -f /opt/netback-rs/sysfs/${1#rs@} ] \
              || [ -f /opt/netback-rs/front-opts/${1#rs@} ] || [ -f /opt/netback-rs/front-ko/${1#rs@} ]; } \
                && [ ! -f "$ko" ] && ko=$NBT_RS_KO
            [ -f "$ko" ] || { echo "no $ko in dom0 (run.sh --rs-ko or --rs-opts)" >&2; return 1; }
            echo "insmod $ko $NBT_RS_PARAMS $(cat "$opts" 2>/dev/null)";;
        *) echo "unknown backend $1" >&2; return 1;;
    esac
}
backend_load() {
    local cmd host; host=$(backend_host)
    cmd=$(backend_load_cmd "$1") || nbt_die "cannot load backend $1"
    [ "$host" = drvdom ] && ! drvdom_running && { drvdom_create || nbt_die "the driver domain did not come up"; }
    host_run "$host" "$cmd" || nbt_die "$cmd failed in $host"
    NBT_CURRENT_BACKEND=$1
    nbt_stamp "backend $1 loaded in $host"
    # What the module really runs with (rs, rs@LABEL: --rs-params, --rs-opts), for the log.
    case "$1" in rs|rs@*) nbt_stamp "backend $1 parameters:" $(host_run "$host" "cd /sys/module/$NBT_RS_MOD/parameters && grep -H . * | sed 's/:/=/'");; esac
}
backend_unload() {
    local m host; m=$(backend_module "$1"); host=$(backend_host)
    host_run "$host" "for _ in \$(seq 1 50); do rmmod $m 2>/dev/null && exit 0; sleep 0.2; done; exit 1" \
        && { nbt_stamp "backend $1 unloaded in $host"; return 0; }
    nbt_fail "rmmod $m failed in $host: $(host_run "$host" "lsmod | grep '^$m'")"; return 1
}

# ---- the driver domain ----
# With NBT_DRVDOM=1 (run.sh --driver-domain, or a scenario that sets it) the backend under
# test runs in "drvdom", an unprivileged PV guest (testbed/drvdom/init, driver_domain=1): the
# guests' vifs name it with backend=drvdom, its `xl devd` runs their hotplug scripts, and it
# bridges them onto its own vif, which dom0's C xen-netback serves: dom0 reaches the guests
# through it.
NBT_DRVDOM_IP=$NBT_SUBNET.2
NBT_DRVDOM_MAC=00:16:3e:00:01:00
drvdom_running() { xl domid drvdom >/dev/null 2>&1; }
drvdom_create() {
    local ramdisk=/tmp/drvdom-initrd.cpio
    lsmod | grep -q "^$NBT_C_MOD " || modprobe xen-netback || { nbt_fail "modprobe xen-netback (the driver domain's uplink) failed"; return 1; }
    # A bridge takes the lowest MAC of its ports, and every backend netdev has fe:ff:ff:ff:ff:ff:
    # dom0's xenbr0 would send from the address of the vifs on the driver domain's bridge,
    # which drops such frames as its own. dom0's bridge gets an address of its own.
    ip link set xenbr0 address 00:16:3e:00:01:01
    # The image, then this run's /init and modules (run.sh), as concatenated cpio archives.
    cp /boot/drvdom-initrd.cpio.zst $ramdisk && truncate -s %512 $ramdisk \
        && cat /opt/netback-rs/drvdom-overlay.cpio >> $ramdisk || { nbt_fail "no driver domain image in dom0"; return 1; }
    cat > /etc/xen/drvdom.cfg <<CFG
name = "drvdom"
type = "pv"
kernel = "/boot/vmlinux"
ramdisk = "$ramdisk"
extra = "console=hvc0 loglevel=5 nbt.ip=$NBT_DRVDOM_IP"
memory = 640
vcpus = 2
driver_domain = 1
vif = [ 'mac=$NBT_DRVDOM_MAC,bridge=xenbr0' ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "preserve"
CFG
    nbt_stamp "xl create drvdom"
    xl create -q /etc/xen/drvdom.cfg || { nbt_fail "xl create drvdom failed"; return 1; }
    console_follow drvdom
    host_wait_channel drvdom 180 "xenstore-read domid >/dev/null" || return 1
    nbt_stamp "drvdom (domid $(xl domid drvdom)) is up at $NBT_DRVDOM_IP"
}
# console_follow NAME: the domain's console into dom0's, each line behind "[NAME] ". A
# domain created again under the same name appends to its old console log: only the new
# lines, and the follower of the old log is stopped.
console_follow() {
    local f=/var/log/xen/console/guest-$1.log from=1
    [ -f "$f" ] && from=$(($(wc -l < "$f") + 1))
    pkill -f "tail -n \+[0-9]+ -F $f" 2>/dev/null
    ( for _ in $(seq 1 100); do [ -f "$f" ] && break; sleep 0.2; done
      exec tail -n +$from -F "$f" 2>/dev/null | sed -u "s/^/[$1] /" ) &
}

# ---- SR-IOV (run.sh --sriov: QEMU's igb) ----
# sriov_setup N: igb and igbvf loaded, N VFs made on the PF, up; NBT_PF is the PF's net_device
# and NBT_VFS the VFs'; the PF joins xenbr0, dom0's path to guests on the VF path.
sriov_setup() {
    local d
    modprobe igb && modprobe igbvf || { nbt_fail "no igb/igbvf module"; return 1; }
    NBT_PF="" NBT_VFS=()
    for _ in $(seq 1 50); do
        for d in /sys/class/net/*; do
            [ "$(basename "$(readlink -f "$d/device/driver" 2>/dev/null)")" = igb ] && NBT_PF=${d##*/}
        done
        [ -n "$NBT_PF" ] && break; sleep 0.2
    done
    [ -n "$NBT_PF" ] || { nbt_fail "no igb PF net_device"; return 1; }
    ip link set "$NBT_PF" up
    echo "$1" > "/sys/class/net/$NBT_PF/device/sriov_numvfs" || { nbt_fail "cannot make $1 VFs on $NBT_PF"; return 1; }
    for i in $(seq 0 $(($1 - 1))); do
        NBT_VFS[$i]=$(sriov_vf_dev "$i") || { nbt_fail "VF $i of $NBT_PF has no net_device (igbvf)"; return 1; }
        ip link set "${NBT_VFS[$i]}" up
    done
    ip link set "$NBT_PF" master xenbr0
    nbt_stamp "SR-IOV: PF $NBT_PF, VFs ${NBT_VFS[*]}"
}
sriov_vf_dev() {  # sriov_vf_dev N: the net_device of VF N of NBT_PF (waits for igbvf)
    local n
    for _ in $(seq 1 100); do
        n=$(ls "/sys/class/net/$NBT_PF/device/virtfn$1/net" 2>/dev/null | head -n1)
        [ -n "$n" ] && { echo "$n"; return 0; }
        sleep 0.2
    done
    return 1
}
# vif_vf_bind GUEST VF: the guest's vif bound to VF (netback/vf) and off the bridge, as the
# hotplug script sriov/vif-sriov leaves it; vif_vf_unbind GUEST: back on xenbr0.
vif_vf_bind() {
    echo "$2" > "/sys/class/net/$(vif_name "$1")/netback/vf" || { nbt_fail "binding $2 to $(vif_name "$1") failed"; return 1; }
    ip link set "$(vif_name "$1")" nomaster
}
vif_vf_unbind() {
    echo none > "/sys/class/net/$(vif_name "$1")/netback/vf" || nbt_fail "unbinding $(vif_name "$1") failed"
    ip link set "$(vif_name "$1")" master xenbr0
}

# ---- guests ----
domu_ip() { echo $NBT_SUBNET.$((10 + $1)); }
domu_mac() { printf '00:16:3e:00:00:%02x' "$1"; }
# The backend that serves a guest's vif: dom0, or the driver domain (NBT_DRVDOM=1).
vif_backend_opt() { [ "$(backend_host)" = drvdom ] && echo ",backend=drvdom"; }
# Guest test tools (testbed/evilfront) that run.sh ships; a scenario that sets
# NBT_DOMU_TOOLS=1 before domu_create gets them in its guests under /opt/netback-rs/tools.
NBT_GUEST_TOOLS=/opt/netback-rs/tools/guest-tools.cpio.gz
NBT_GUEST_PERF=/opt/netback-rs/tools/perf-domu.cpio.zst
NBT_EVILFRONT=/opt/netback-rs/tools/evilfront
# domu_create I [VCPUS] [MTU] [FRONTEND]: FRONTEND stock (default: the kernel's xen-netfront)
# or rs (this worktree's xen-netfront-rs.ko, which run.sh ships in the guest tools: the guest
# gets them whatever NBT_DOMU_TOOLS says, and nbt.netfront=rs for testbed/domu/init), or
# rs:P=V[,P=V] for netfront-rs with those module parameters (e.g. rs:staging_pages=0), or
# stock:P=V[,P=V] for the stock one with its own (stock:trusted=0).
domu_create() {
    local i=$1 vcpus=${2:-1} mtu=${3:-1500} frontend=${4:-stock} ramdisk=/boot/domu-initrd.cpio.gz args=""
    case "$frontend" in
        stock) ;;
        stock:*) args=" nbt.netfront_args=${frontend#stock:}";;
        rs) args=" nbt.netfront=rs";;
        rs:*) args=" nbt.netfront=rs nbt.netfront_args=${frontend#rs:}";;
        *) nbt_fail "domu_create: frontend '$frontend' is neither stock nor rs"; return 1;;
    esac
    if [ "${NBT_DOMU_TOOLS:-0}" = 1 ] || [ "$frontend" != stock ] || [ "${NBT_PROFILE:-0}" = 1 ]; then
        # Linux unpacks concatenated compressed cpio archives one after the other. With
        # NBT_PROFILE=1 the guest gets perf too (run.sh --profile; profile_begin uses it).
        ramdisk=/tmp/domu$i-initrd.cpio.gz
        cat /boot/domu-initrd.cpio.gz $NBT_GUEST_TOOLS > $ramdisk || { nbt_fail "no guest tools in dom0"; return 1; }
        if [ "${NBT_PROFILE:-0}" = 1 ]; then
            truncate -s %4 $ramdisk && cat $NBT_GUEST_PERF >> $ramdisk || { nbt_fail "no perf for the guests in dom0"; return 1; }
        fi
    fi
    cat > /etc/xen/domu$i.cfg <<CFG
name = "domu$i"
type = "pv"
kernel = "/boot/vmlinux"
ramdisk = "$ramdisk"
extra = "console=hvc0 nbt.ip=$(domu_ip $i) nbt.mtu=$mtu$args"
memory = 256
vcpus = $vcpus
vif = [ 'mac=$(domu_mac $i),bridge=xenbr0$(vif_backend_opt)' ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "preserve"
CFG
    nbt_stamp "xl create domu$i"
    xl create -q /etc/xen/domu$i.cfg || { nbt_fail "xl create domu$i failed"; return 1; }
    console_follow domu$i
}
# domu_wait_ping I [SECONDS]: the guest answers ping through its vif.
domu_wait_ping() {
    local i=$1 t=${2:-120} ip end; ip=$(domu_ip "$1")
    # A deadline, not a count of tries: a try that gets no answer takes its 1 s timeout too.
    end=$((SECONDS + t))
    while [ $SECONDS -lt $end ]; do
        ping -c1 -W1 "$ip" >/dev/null 2>&1 && { nbt_stamp "domu$i answers ping at $ip"; return 0; }
        sleep 0.5
    done
    nbt_fail "domu$i did not answer ping at $ip within ${t}s"
    vif_state_dump "$i" "domu$i unreachable"
    return 1
}
# vif_state_dump I WHY: for the log, when guest I's vif carries nothing: the ring state as
# the backend sees it (debugfs io_ring_qN: indices and events of both rings, both drivers),
# the vif's IRQ counts, Xen's view of the guest's event channels (debug key 'e': pending,
# masked) and the backend host's kernel log tail (a vif it disabled says why there).
vif_state_dump() {
    local i=$1 why=$2 domid f
    domid=$(xl domid "domu$i" 2>/dev/null) || return 0
    for f in /sys/kernel/debug/xen-netback*/vif$domid.*/io_ring_q*; do
        [ -e "$f" ] && { echo "VIF-DUMP ($why): $f"; sed 's/^/VIF-DUMP   /' "$f"; }
    done
    grep "vif$domid\." /proc/interrupts | tr -s ' ' | sed "s/^/VIF-DUMP ($why) irq: /"
    xl dmesg -c >/dev/null 2>&1
    xl debug-keys e >/dev/null 2>&1 && sleep 1 && xl dmesg 2>/dev/null \
        | awk -v d="domain $domid:" -v peer=" d=$domid " '/Event channel information for domain/ {dom = $NF; on = index($0, d) > 0}
            on || (dom == "0:" && index($0 " ", peer))' \
        | head -n 60 | sed "s/^/VIF-DUMP ($why) xen: /"
    ping -c 2 -W 1 "$(domu_ip "$i")" >/dev/null && echo "VIF-DUMP ($why): guest $i answers ping now" \
        || echo "VIF-DUMP ($why): guest $i still does not answer ping"
    host_run "$(backend_host)" "dmesg | tail -n 20" | sed "s/^/VIF-DUMP ($why) dmesg: /"
}
# domu_exec I 'commands': run in guest I (or drvdom) through its command channel, print the
# output.
domu_exec() {
    local ip k; ip=$(host_ip "$1")
    # The guest serves one connection per nc and starts the next nc when it ends: right
    # after a command finishes, the next listener may not be up yet (connection refused).
    for k in $(seq 1 40); do
        { exec 7<>/dev/tcp/"$ip"/5000; } 2>/dev/null && break
        [ "$k" = 40 ] && { echo "domu_exec: $1's command channel $ip:5000 refuses connections" >&2; return 1; }
        sleep 0.25
    done
    printf '%s\nexit\n' "$2" >&7
    timeout 300 cat <&7
    exec 7>&- 7<&-
}
# host_wait_channel HOST T [COMMAND]: wait up to T s until HOST's (guest I or drvdom)
# command channel runs COMMAND (default true) with success: a domain that is still booting,
# or a guest still running a command whose dom0 side was killed (a guest serves one command
# at a time; the killed one holds the channel until it ends in the guest).
host_wait_channel() {
    local end=$((SECONDS + $2)) who=$1
    case $1 in [0-9]*) who=domu$1;; esac
    until host_run "$1" "${3:-true}" >/dev/null 2>&1; do
        [ $SECONDS -ge $end ] && { nbt_fail "$who's command channel took no command within $2 s"; return 1; }
        sleep 1
    done
}
# guest_frontend I: the netfront module guest I runs, from its /proc/modules: xen_netfront
# (stock) or xen_netfront_rs (one a line if both were). Both bind xenbus devicetype "vif",
# so the driver's name in sysfs ("vif") does not tell them apart.
guest_frontend() { domu_exec "$1" "grep -o '^xen_netfront[a-z_]*' /proc/modules"; }
vif_devid() { xl network-list "domu$1" 2>/dev/null | awk 'NR>1 {print $1; exit}'; }
vif_name() { local d; d=$(vif_devid "$1"); [ -n "$d" ] && echo "vif$(xl domid domu$1).$d"; }
vif_detach() {
    local d; d=$(vif_devid "$1")
    [ -n "$d" ] || { nbt_fail "domu$1 has no vif to detach"; return 1; }
    xl network-detach "domu$1" "$d" || { nbt_fail "xl network-detach domu$1 $d failed"; return 1; }
}
vif_attach() {
    local opt; opt=$(vif_backend_opt)
    xl network-attach "domu$1" "mac=$(domu_mac $1)" bridge=xenbr0 ${opt#,} || { nbt_fail "xl network-attach domu$1 failed"; return 1; }
}

# vifs_tune BACKEND: run.sh's --rs-ethtool and --rs-sysfs settings of rs@LABEL on every
# guest's vif.
vifs_tune() {
    local f=/opt/netback-rs/ethtool/${1#rs@} fs=/opt/netback-rs/sysfs/${1#rs@} i v cmd="" args host kv
    host=$(backend_host)
    [ "${1#rs@}" != "$1" ] || return 0
    [ -f "$f" ] && read -r cmd args < "$f"
    for i in $(seq 1 $NBT_NDOM); do
        v=$(vif_name $i)
        if [ -n "$cmd" ]; then
            host_run "$host" "ethtool $cmd $v $args" || nbt_die "ethtool $cmd $v $args failed in $host"
        fi
        [ -f "$fs" ] || continue
        for kv in $(cat "$fs"); do
            host_run "$host" "echo ${kv#*=} > /sys/class/net/$v/${kv%%=*}" ||
                nbt_die "writing ${kv#*=} to /sys/class/net/$v/${kv%%=*} failed in $host"
        done
    done
    [ -n "$cmd" ] && nbt_stamp "backend $1 ethtool: $(cat "$f")"
    [ -f "$fs" ] && nbt_stamp "backend $1 sysfs: $(cat "$fs")"
    return 0
}

# backend_swap TO: detach every guest's vif, swap the backend module, attach again.
backend_swap() {
    local to=$1 i
    [ "$NBT_CURRENT_BACKEND" = "$to" ] && return 0
    for i in $(seq 1 $NBT_NDOM); do vif_detach $i; done
    backend_unload "$NBT_CURRENT_BACKEND" || return 1
    backend_load "$to"
    for i in $(seq 1 $NBT_NDOM); do vif_attach $i; done
    for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 60 || return 1; done
}

# ---- measurements ----
# netperf_run FROM TO TEST SECONDS: FROM is dom0 or a guest index, TO an address; prints
# "value unit". netperf's omni output keeps it machine-readable.
netperf_run() {
    local from=$1 to=$2 test=$3 len=$4 extra=${5:-} out cmd
    cmd="netperf -H $to -t $test -l $len -P 0 $extra -- -o THROUGHPUT,THROUGHPUT_UNITS"
    if [ "$from" = dom0 ]; then out=$(timeout $((len + 60)) $cmd 2>&1)
    else out=$(domu_exec "$from" "$cmd 2>&1"); fi
    out=$(echo "$out" | grep -E '^[0-9.]+,' | tail -n1)
    [ -n "$out" ] || return 1
    local v=${out%%,*} u=${out#*,}
    case "$u" in 10^6bits/s) u=Mbit/s;; Trans/s) u=trans/s;; esac
    echo "$v $u"
}
# netperf_streams FROM TO N SECONDS: N concurrent TCP_STREAMs, prints "sum Mbit/s".
netperf_streams() {
    local from=$1 to=$2 n=$3 len=$4 script out
    script="for k in \$(seq 1 $n); do netperf -H $to -t TCP_STREAM -l $len -P 0 -- -o THROUGHPUT > /tmp/ns.\$k 2>&1 & done; wait; cat /tmp/ns.*; rm -f /tmp/ns.*"
    if [ "$from" = dom0 ]; then out=$(eval "$script")
    else out=$(domu_exec "$from" "$script"); fi
    out=$(echo "$out" | grep -E '^[0-9.]+$')
    [ "$(echo "$out" | wc -l)" = "$n" ] || return 1
    echo "$(echo "$out" | awk '{s+=$1} END {printf "%.2f", s}') Mbit/s"
}
# netperf_udp_pps FROM TO SIZE SECONDS: a UDP_STREAM of SIZE-byte messages at full speed;
# prints "pps" the receiver got (netserver's receive calls, one per datagram, over the test's
# time). A UDP sender outruns a slow receiver and the excess is dropped on the way: the
# receiver's count is the figure, not what was sent. AB_UDP_RCPU=N binds the receiver to its
# domain's vCPU N (netperf -T ,N).
netperf_udp_pps() {
    local from=$1 to=$2 size=$3 len=$4 out cmd pps
    cmd="netperf -H $to -t UDP_STREAM -l $len -P 0 ${AB_UDP_RCPU:+-T ,$AB_UDP_RCPU} -- -m $size -o REMOTE_RECV_CALLS,ELAPSED_TIME"
    if [ "$from" = dom0 ]; then out=$(timeout $((len + 60)) $cmd 2>&1)
    else out=$(domu_exec "$from" "$cmd 2>&1"); fi
    out=$(echo "$out" | grep -E '^[0-9]+,[0-9.]+$' | tail -n1)
    [ -n "$out" ] || return 1
    pps=$(awk -v n="${out%%,*}" -v t="${out#*,}" 'BEGIN {if (t <= 0) exit 1; printf "%.0f", n / t}') || return 1
    echo "$pps pps"
}
# NBT_PROFILE=1 (run.sh --profile; dom0 and the guests have perf then): perf samples the
# CPUs of dom0 and of the guests a test runs between, with their call chains, inside each
# measured test, from 1 s in to 1 s before its end (as ab-front's cost hook), at
# NBT_PROFILE_HZ per CPU, idle included. A sample in a hypercall counts for the function that
# made it ("hypercall<-gnttab_batch_copy"; a halted vCPU is "hypercall<-xen_safe_halt"): Linux
# makes every hypercall through one trampoline. Each host folds its own samples
# (profile-fold.awk) and the log gets, per host, one "PROFILE k=v... host=H | SAMPLES DSO
# FUNCTION" line per function with 0.2% of the samples or more and one "| total SAMPLES"
# line; benches/profile_report.py turns them into CPU per unit of the test's figure (per
# packet, Mbit, transaction), backends side by side.
: "${NBT_PROFILE_HZ:=499}"
NBT_PROFILE_FOLD=/opt/netback-rs/tools/profile-fold.awk
# perf_record_cmd: the shell command that samples this host's CPUs in the background.
perf_record_cmd() {
    echo "rm -f /tmp/nbt-perf.data; (sleep 1; exec perf record -q -a -g -e cpu-clock -F $NBT_PROFILE_HZ" \
        "-o /tmp/nbt-perf.data -- sleep $((NBT_LEN - 2))) </dev/null >/dev/null 2>&1 &"
}
# The samples folded, on the host that took them (HDR in the environment).
NBT_PERF_FOLD='[ -s /tmp/nbt-perf.data ] || { echo "NBT-STAMP profile: no perf data for $HDR"; exit 0; }
{ grep -E "^[0-9a-f]{16} [tT] [^ ]+[[:space:]]+\[" /proc/kallsyms | sort; echo --
  perf script -i /tmp/nbt-perf.data -F ip,sym,dso 2>/dev/null; } | awk -v hdr="$HDR" -v addrs="${NBT_PROFILE_ADDRS:-0}" -f '"$NBT_PROFILE_FOLD"
profile_begin() {  # profile_begin FROM TO: FROM dom0 or a guest index, TO an address
    nbt_profiled=""
    [ "${NBT_PROFILE:-0}" = 1 ] && [ "$NBT_LEN" -ge 3 ] || return 0
    local i
    for i in $(seq 1 "$NBT_NDOM"); do
        { [ "$1" = "$i" ] || [ "$2" = "$(domu_ip "$i")" ]; } || continue
        # A guest without perf (not created by domu_create with NBT_PROFILE=1) is left out.
        [ "$(domu_exec "$i" "command -v perf >/dev/null && { $(perf_record_cmd) echo started; }")" = started ] &&
            nbt_profiled="$nbt_profiled $i"
    done
    eval "$(perf_record_cmd)"
    nbt_profiler=$!
}
profile_end() {  # profile_end NAME [VALUE UNIT k=v ...]: no VALUE when the test failed
    [ -n "${nbt_profiler:-}" ] || return 0
    wait "$nbt_profiler"; nbt_profiler=""
    local i done_cmd="while pidof perf >/dev/null; do sleep 0.2; done" hdr
    if [ $# -lt 3 ]; then
        for i in $nbt_profiled; do domu_exec "$i" "$done_cmd" >/dev/null; done
        return 0
    fi
    hdr="PROFILE test=$1 backend=$NBT_CURRENT_BACKEND value=$2 unit=$3 hz=$NBT_PROFILE_HZ secs=$((NBT_LEN - 2))"
    shift 3
    HDR="$hdr host=dom0 $*" NBT_PROFILE_ADDRS="${NBT_PROFILE_ADDRS:-0}" sh -c "$NBT_PERF_FOLD"
    for i in $nbt_profiled; do
        domu_exec "$i" "$done_cmd; HDR='$hdr host=domu$i $*'; $NBT_PERF_FOLD"
    done
}
# NBT_INSN=1 (run.sh --insn-count): QEMU's nbt_insn plugin counts the instructions run in
# kernel text; insn_begin zeroes its counts, insn_end has it write them to its file SEQ and
# logs "INSN seq=SEQ test=... backend=... value=... unit=... secs=..." and, per text section
# of the backend modules loaded, "INSN-SECTION seq=SEQ module=M section=S addr=A" (where the
# counted addresses map into the .ko: benches/insn_report.py).
nbt_insn_seq=0
insn_begin() {
    [ "${NBT_INSN:-0}" = 1 ] || return 0
    /opt/netback-rs/tools/evilfront insn-mark 0
}
insn_end() {  # insn_end NAME VALUE UNIT [k=v ...]
    [ "${NBT_INSN:-0}" = 1 ] || return 0
    nbt_insn_seq=$((nbt_insn_seq + 1))
    /opt/netback-rs/tools/evilfront insn-mark "$nbt_insn_seq" dump
    echo "INSN seq=$nbt_insn_seq test=$1 backend=$NBT_CURRENT_BACKEND value=$2 unit=$3 secs=$NBT_LEN ${*:4}"
    local m f
    for m in "$NBT_C_MOD" "$NBT_RS_MOD"; do
        for f in /sys/module/$m/sections/.text*; do
            [ -r "$f" ] && echo "INSN-SECTION seq=$nbt_insn_seq module=$m section=${f##*/} addr=$(cat "$f")"
        done
    done
}
# measure_with NAME FROM TO WHAT RUNNER... -- [k=v ...]: run RUNNER (prints "VALUE UNIT", or
# nothing when it failed) and emit a result record; what measure and measure_iperf3 share.
# MEASURE_COST_HOOK, if set, is a function run as "HOOK begin NAME" before the test and "HOOK
# end NAME VALUE unit=UNIT [k=v ...]" after a test with a result, UNIT the record's (udp_cost:
# where a test's CPU time went); --profile's samples cover the test; MEASURE_FAILED_HOOK, if set, runs as "HOOK NAME
# FROM TO" after a test that got nothing through (ab-front: ring state). WHAT names the test
# in the failure line.
measure_with() {
    local name=$1 from=$2 to=$3 what=$4; shift 4
    local runner=() r
    while [ $# -gt 0 ] && [ "$1" != -- ]; do runner+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    [ -n "${MEASURE_COST_HOOK:-}" ] && "$MEASURE_COST_HOOK" begin "$name"
    profile_begin "$from" "$to"
    insn_begin
    r=$("${runner[@]}") || r=""
    if [ -n "$r" ]; then
        insn_end "$name" "${r% *}" "${r#* }" "$@"
        NBT_LAST_VALUE=${r% *}  # for a caller that derives a cost from it
        nbt_result test="$name" backend="$NBT_CURRENT_BACKEND" value="${r% *}" unit="${r#* }" "$@"
        [ -n "${MEASURE_COST_HOOK:-}" ] && "$MEASURE_COST_HOOK" end "$name" "${r% *}" unit="${r#* }" "$@"
        profile_end "$name" "${r% *}" "${r#* }" "$@"
        return 0
    fi
    profile_end "$name"
    nbt_fail "$name ($what $from -> $to) produced no result on backend $NBT_CURRENT_BACKEND"
    [ -n "${MEASURE_FAILED_HOOK:-}" ] && "$MEASURE_FAILED_HOOK" "$name" "$from" "$to"
    return 1
}
# measure NAME FROM TO TEST [k=v ...]: run one netperf test (TEST is a netperf test name,
# STREAMSn for n concurrent TCP_STREAMs, or UDPn for a UDP_STREAM of n-byte messages measured
# in packets per second received; GEN64 for gen_pps), emit a result record (measure_with).
measure() {
    local name=$1 from=$2 to=$3 test=$4; shift 4
    local run
    case "$test" in
        STREAMS*) run=(netperf_streams "$from" "$to" "${test#STREAMS}" "$NBT_LEN") ;;
        UDP[0-9]*) run=(netperf_udp_pps "$from" "$to" "${test#UDP}" "$NBT_LEN") ;;
        GEN64) run=(gen_pps "$from" "$to" "$NBT_LEN") ;;
        *) run=(netperf_run "$from" "$to" "$test" "$NBT_LEN") ;;
    esac
    measure_with "$name" "$from" "$to" "$test" "${run[@]}" -- "$@"
}
# gen_pps FROM TO SECONDS: 64-byte UDP datagrams from a packet generator (evilfront blast,
# the guest tools: NBT_DOMU_TOOLS=1) between dom0 and a guest (FROM dom0 or a guest index,
# TO an address, as netperf's tests); prints "PPS pps", the datagrams that arrived per second of sending. The
# receiver drops them where they arrive, so the figure is the vif path's, as Xen's
# staging-grant note measured "Packet I/O": in dom0 testbed/bpf/discard_drop.c on the vif's
# ingress (before the bridge) drops them and counts them in its clsact statistics; the
# guest gets them for
# another host's MAC address, which its IP layer drops first thing, and they are its
# device's rx_packets. Dom0's generator writes to the vif, the guest's to its eth0.
NBT_GEN_OTHER_MAC=02:00:00:00:00:fe
clsact_dropped() { tc -s qdisc show dev "$1" | awk '/qdisc clsact/ {f = 1} f && /Sent/ {gsub(",", "", $7); print $7; exit}'; }
gen_pps() {
    local from=$1 to=$2 len=$3 g="" i vif out n0 n1 blast
    if [ "$from" = dom0 ]; then
        for i in $(seq 1 "$NBT_NDOM"); do [ "$(domu_ip "$i")" = "$to" ] && g=$i; done
    else g=$from; fi
    [ -n "$g" ] && vif=$(vif_name "$g") || return 1
    blast="$NBT_EVILFRONT blast --seconds $len --payload 64"
    if [ "$from" = dom0 ]; then
        n0=$(domu_exec "$g" "cat /sys/class/net/eth0/statistics/rx_packets") || return 1
        out=$(timeout $((len + 30)) $blast --dev "$vif" --dst-mac $NBT_GEN_OTHER_MAC \
            --src-ip "$(host_ip dom0)" --dst-ip "$(domu_ip "$g")" 2>&1)
        sleep 1  # what is still in the rings arrives
        n1=$(domu_exec "$g" "cat /sys/class/net/eth0/statistics/rx_packets") || return 1
    else
        tc qdisc add dev "$vif" clsact 2>/dev/null
        tc filter add dev "$vif" ingress bpf da obj /opt/netback-rs/tools/discard_drop.o sec tc \
            || { tc qdisc del dev "$vif" clsact; return 1; }
        n0=$(clsact_dropped "$vif")
        out=$(domu_exec "$g" "$blast --dev eth0 --dst-mac $(cat /sys/class/net/xenbr0/address) \
            --src-ip $(domu_ip "$g") --dst-ip $(host_ip dom0) 2>&1")
        sleep 1
        n1=$(clsact_dropped "$vif")
        tc qdisc del dev "$vif" clsact
    fi
    out=$(echo "$out" | grep '^BLAST ' | tail -n1)
    nbt_stamp "gen_pps $from -> $to: ${out:-no BLAST line}, received $n0 -> $n1" >&2
    [ -n "$out" ] && [ -n "$n0" ] && [ -n "$n1" ] || return 1
    awk -v n=$((n1 - n0)) -v t="${out##*seconds=}" 'BEGIN {if (t <= 0 || n <= 0) exit 1; printf "%.0f pps\n", n / t}'
}
# Grant references of guests that domain DOMID holds mapped or pinned right now, from Xen's
# own grant table dump: what a leaking backend would keep.
nbt_grants_held_by() {
    xl dmesg -c >/dev/null
    xl debug-keys g
    sleep 0.5
    xl dmesg -c | awk -v d="$1" '$0 ~ "grant-table for remote d" d " " {skip = 1; next}
                                 /grant-table for remote d/ {skip = 0; next}
                                 !skip && $0 ~ "\\[0x[0-9a-f]+\\] +" d " " {n++} END {print n + 0}'
}
nbt_grants_held_by_dom0() { nbt_grants_held_by 0; }
# CPU seconds Xen has accounted to a domain (xl list; hypercalls included).
dom_cpu() { xl list "$1" | awk 'NR == 2 {print $NF}'; }
# Notifications taken, from /proc/interrupts over all CPUs: dom0's on vifs, and guest I's on its
# netfront's event channels (stock xen-netfront names them vifN-qM-tx/-rx after its xenbus
# device, netfront-rs ethN-qM-tx/-rx after its netdev).
irq_sum() { awk -v pat="$1" '$NF ~ pat {for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; else break} END {print s + 0}'; }
dom0_vif_irqs() { irq_sum '^vif' < /proc/interrupts; }
# Datagrams the UDP sockets of dom0 and every guest dropped for a full receive buffer
# (RcvbufErrors): packets delivered in vain.
udp_rcvbuf_drops() {
    local i
    { cat /proc/net/snmp; for i in $(seq 1 "$NBT_NDOM"); do domu_exec "$i" "cat /proc/net/snmp"; done; } |
        awk '$1 == "Udp:" && $6 ~ /^[0-9]+$/ {s += $6} END {print s + 0}'
}
# Packets for the guests that dom0's vifs dropped (a full backlog or ring), before any copy.
vif_tx_drops() { cat /sys/class/net/vif*/statistics/tx_dropped 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
# Every guest's vif counters, `ethtool -S` of each after the other (netback-rs' per queue).
guests_vif_stats() { local i; for i in $(seq 1 $NBT_NDOM); do ethtool -S "$(vif_name $i)"; done 2>/dev/null; }
domu_net_irqs() { domu_exec "$1" "cat /proc/interrupts" | irq_sum '^(eth|vif)[0-9]+-q'; }
# ethtool_stat DEV NAME: one `ethtool -S` counter of DEV.
ethtool_stat() { ethtool -S "$1" | awk -v n="$2:" '$1 == n {print $2; exit}'; }
# Unreclaimable kernel memory in dom0 (kB): slab that cannot be reclaimed plus vmalloc.
nbt_kernel_mem_kb() { awk '/^SUnreclaim:|^VmallocUsed:|^Percpu:/ {s += $2} END {print s}' /proc/meminfo; }
# Domains that are dying but not gone: something still holds their memory.
nbt_dying_domains() { xl list | awk 'NR > 2 && $1 == "(null)"' | wc -l; }
vif_wait_gone() {  # vif_wait_gone NAME: the backend removed the netdev
    host_run "$(backend_host)" "for _ in \$(seq 1 100); do [ -e /sys/class/net/$1 ] || exit 0; sleep 0.2; done; exit 1" \
        && return 0
    nbt_fail "$1 still exists in $(backend_host) 20 s after its vif was detached"; return 1
}
guest_console_lines() { wc -l < /var/log/xen/console/guest-domu$1.log; }
# rx_integrity I DOM0_IP: 16 MiB of random bytes from dom0 to guest I over one TCP connection
# (the guest pulls them with nc from a one-shot sender on port 5099) arrive as sent (md5).
rx_integrity() {
    local f=/tmp/rx-integrity want got
    head -c 16777216 /dev/urandom > "$f"
    want=$(md5sum < "$f" | cut -c1-32)
    timeout 120 python3 -c 'import socket, sys
s = socket.create_server(("", 5099))
s.settimeout(100)
c, _ = s.accept()
with open(sys.argv[1], "rb") as f:
    c.sendall(f.read())
c.close()' "$f" &
    local sender=$! k
    # Python starts slowly under TCG: ask the guest only once the port listens.
    for k in $(seq 1 60); do
        ss -Hltn 'sport = :5099' | grep -q . && break
        sleep 0.5
    done
    got=$(domu_exec "$1" "nc $2 5099 | md5sum" | cut -c1-32)
    wait "$sender"
    rm -f "$f"
    nbt_stamp "rx_integrity guest $1: sent md5 $want, received ${got:-nothing}"
    [ "$got" = "$want" ]
}
# tx_integrity GUEST: 16 MiB of random bytes sent by guest GUEST to dom0 arrive intact (md5).
# The guest serves the file on port 5098 (busybox nc -e) and dom0 reads it: the bytes go
# through the guest's TX path.
tx_integrity() {
    local want got
    want=$(domu_exec "$1" "head -c 16777216 /dev/urandom > /tmp/txi && printf '#!/bin/sh\\ncat /tmp/txi\\n' > /tmp/txi.sh && chmod +x /tmp/txi.sh && (nc -l -p 5098 -e /tmp/txi.sh </dev/null >/dev/null 2>&1 &) && md5sum < /tmp/txi" | cut -c1-32)
    got=$(timeout 120 python3 -c 'import hashlib, socket, sys, time
for k in range(60):
    try:
        c = socket.create_connection((sys.argv[1], 5098), timeout=100)
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit(1)
h = hashlib.md5()
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b)
print(h.hexdigest())' "$(domu_ip "$1")")
    domu_exec "$1" "rm -f /tmp/txi /tmp/txi.sh" >/dev/null
    nbt_stamp "tx_integrity guest $1: sent md5 ${want:-nothing}, received ${got:-nothing}"
    [ -n "$want" ] && [ "$got" = "$want" ]
}
nbt_mem_used_kb() { awk '/MemTotal/ {t=$2} /MemAvailable/ {a=$2} END {print t-a}' /proc/meminfo; }
nbt_check_dmesg_clean() {
    local bad; bad=$(dmesg | grep -cE "$NBT_BAD_KERNEL_LINE")
    [ "$bad" = 0 ]
}
# host_kernel_log_clean HOST [FROM]: that kernel's log has no WARNING/BUG/Oops/lockup line;
# a guest's from line FROM of its console log in dom0 (which survives the guest), see
# guest_console_lines.
host_kernel_log_clean() {
    local bad
    case "$1" in
        dom0) nbt_check_dmesg_clean; return;;
        drvdom) bad=$(host_run drvdom dmesg | grep -E "$NBT_BAD_KERNEL_LINE");;
        *) bad=$(tail -n +"${2:-1}" /var/log/xen/console/guest-domu$1.log | grep -E "$NBT_BAD_KERNEL_LINE");;
    esac
    [ -z "$bad" ] && return 0
    nbt_fail "$1's kernel log: $(echo "$bad" | head -n 3 | tr '\n' '|')"; return 1
}
# iperf3_run FROM TO STREAMS SECONDS [iperf3 options]: FROM is dom0 or a guest index; prints
# "Mbit/s received" summed over the parallel streams (from iperf3's JSON report); with -u
# (UDP; -l SIZE, -b 0 for full speed) "pps received": the receiver's bytes over the datagram
# size, since UDP senders outrun the receiver and what they sent is not what arrived.
iperf3_run() {
    local from=$1 to=$2 n=$3 len=$4; shift 4
    local cmd="iperf3 -c $to -P $n -t $len -J $*" out
    if [ "$from" = dom0 ]; then out=$(timeout $((len + 60)) $cmd 2>&1)
    else out=$(domu_exec "$from" "$cmd 2>&1"); fi
    echo "$out" | python3 -c 'import json, sys
try:
    report = json.load(sys.stdin)
    got, start = report["end"]["sum_received"], report["start"]["test_start"]
    if start["protocol"] == "UDP":
        print("%.0f pps" % (got["bytes"] / start["blksize"] / got["seconds"]))
    else:
        print("%.2f Mbit/s" % (got["bits_per_second"] / 1e6))
except Exception:
    sys.exit(1)'
}
# measure_iperf3 NAME FROM TO STREAMS [iperf3 options] -- [k=v ...]: one iperf3 run, one record
# (measure_with).
measure_iperf3() {
    local name=$1 from=$2 to=$3 n=$4; shift 4
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    measure_with "$name" "$from" "$to" "iperf3 -P $n${opts[*]:+ ${opts[*]}}" iperf3_run "$from" "$to" "$n" "$NBT_LEN" "${opts[@]}" -- "$@"
}
# udp_cost, a MEASURE_COST_HOOK (ab, ab-front, ab-mq): where a 64-byte UDP test's (udp_pps,
# udp_gen_pps, udp_pps_x4) time went, per packet the receiver got, as records NAME_cpu_share_DOM and so
# on. CPU: the seconds Xen accounted to each domain (xl list, 0.1 s steps; hypercalls
# included) and dom0's vif events, sampled in the background 1 s after the test starts and
# 1 s before it ends, so neither the commands around a test nor a backlog drained after it
# count; as a share of one CPU and per packet. Each guest's netfront events: from just before to just after the test (reading them
# takes a command over the vif). All domains share the testbed's 2 CPUs: shares summing to
# about 2 mean the machine was the limit, a guest near its vCPU count that the guest was.
doms_cpu() { xl list | awk 'NR > 1 {print "cpu", ($1 == "Domain-0" ? "dom0" : $1), $NF}'; }
# dom0's steal time (/proc/stat, USER_HZ ticks): its vCPUs runnable while Xen ran another
# domain's on the CPUs, i.e. the machine had no CPU for dom0.
dom0_steal() { awk '/^cpu / {print $9 / 100}' /proc/stat; }
cost_sample() { echo "time - $(date +%s.%N)"; doms_cpu; echo "vif dom0 $(dom0_vif_irqs)"; echo "steal dom0 $(dom0_steal)"; }
guests_irqs() { local i; for i in $(seq 1 $NBT_NDOM); do echo "irqs domu$i $(domu_net_irqs $i)"; done; }
# Packets sent in vain, from just before to just after the test: the receivers' UDP sockets'
# and dom0's vifs' drops. A sender that got cheaper can deliver fewer packets to a receiver
# that is the limit (the drops' work is spent), so per packet received these say why.
sent_in_vain() { echo "drops all $(udp_rcvbuf_drops) $(vif_tx_drops)"; }
udp_cost() {
    local what=$1 name=$2 pps=${3:-} dir="" round="" a
    case "$name" in udp_pps|udp_pps_x4|udp_gen_pps) [ "$NBT_LEN" -ge 3 ] || return 0;; *) return 0;; esac
    if [ "$what" = begin ]; then
        udp_cost_irqs0=$(guests_irqs; sent_in_vain)
        rm -f /tmp/udp-cost.*
        (sleep 1; cost_sample > /tmp/udp-cost.a; sleep $((NBT_LEN - 2)); cost_sample > /tmp/udp-cost.b) &
        udp_cost_sampler=$!
        return 0
    fi
    wait "$udp_cost_sampler"
    for a in "$@"; do case $a in dir=*) dir=${a#dir=};; round=*) round=${a#round=};; esac; done
    [ -s /tmp/udp-cost.a ] && [ -s /tmp/udp-cost.b ] || { nbt_fail "$name $dir: no CPU samples"; return 0; }
    { sed 's/^/0 /' /tmp/udp-cost.a; sed 's/^/1 /' /tmp/udp-cost.b
      echo "$udp_cost_irqs0" | sed 's/^/0 /'; { guests_irqs; sent_in_vain; } | sed 's/^/1 /'; } |
        awk -v pps="$pps" -v len="$NBT_LEN" '
            $2 == "drops" {v[$1 " sockdrops all"] = $4; v[$1 " vifdrops all"] = $5; next}
            {v[$1 " " $2 " " $3] = $4; dom[$3] = 1}
            function has(k) { return (("0 " k) in v) && (("1 " k) in v) }
            function delta(k) { return v["1 " k] - v["0 " k] }
            END {
                win = delta("time -")
                if (pps <= 0 || win <= 0) exit
                for (d in dom) {
                    if (has("cpu " d)) {
                        printf "cpu_us_per_pkt_%s us/packet %.1f\n", d, delta("cpu " d) / win * 1e6 / pps
                        printf "cpu_share_%s CPUs %.2f\n", d, delta("cpu " d) / win
                    }
                    if (has("steal " d)) printf "steal_share_%s CPUs %.2f\n", d, delta("steal " d) / win
                    if (has("vif " d)) printf "irqs_per_pkt_%s per-packet %.3f\n", d, delta("vif " d) / win / pps
                    if (has("irqs " d)) printf "irqs_per_pkt_%s per-packet %.3f\n", d, delta("irqs " d) / (pps * len)
                }
                if (has("sockdrops all")) printf "socket_drops_per_pkt per-packet %.3f\n", delta("sockdrops all") / (pps * len)
                if (has("vifdrops all")) printf "vif_drops_per_pkt per-packet %.3f\n", delta("vifdrops all") / (pps * len)
            }' |
        while read -r test unit value; do
            nbt_result test="${name}_$test" backend="$NBT_CURRENT_BACKEND" dir="$dir" round="$round" unit="$unit" value="$value"
        done
}
# vif_queues I: queues guest I's first vif negotiated (multi-queue-num-queues; absent = 1).
vif_queues() {
    local domid d
    domid=$(xl domid "domu$1") && d=$(vif_devid "$1") || return 1
    xenstore-read "/local/domain/$domid/device/vif/$d/multi-queue-num-queues" 2>/dev/null || echo 1
}
# ab_only FUNCTION TEST ARGS...: run FUNCTION TEST ARGS... unless AB_TESTS (test names, or
# TEST/DIR with DIR from the dir= argument, e.g. "tcp_rr udp_pps/domu1-domu2") leaves it
# out: a quicker A/B when bisecting one figure. AB_TESTS unset or empty runs everything.
ab_only() {
    local fn=$1 a dir=""; shift
    for a in "$@"; do case $a in dir=*) dir=${a#dir=};; esac; done
    case " ${AB_TESTS:-$1} " in *" $1 "*|*" $1/$dir "*) "$fn" "$@" ;; esac
}
# ab_netperf_round ROUND: the A/B's netperf tests (benches/scenarios/ab.sh, ab-front.sh): TCP
# stream both ways, RR, 4 streams and 64-byte UDP packets/s both ways (netperf's, and with
# the guest tools a packet generator's) between the backend's domain and guest 1, and with
# 2 guests the same guest to guest. AB_TESTS picks (ab_only).
ab_netperf_round() {
    # h: the backend's own domain, dom0 or the driver domain (run.sh --driver-domain).
    # q: the queues guest 1's vif negotiated on this backend (more with --guest-vcpus).
    local round=$1 ip1 ip2 h q; h=$(backend_host)
    ip1=$(domu_ip 1); q=$(vif_queues 1)
    set -- round="$round" queues="$q"
    ab_only measure tcp_stream "$h" "$ip1" TCP_STREAM dir="$h-domu1" "$@"
    ab_only measure tcp_maerts "$h" "$ip1" TCP_MAERTS dir="domu1-$h" "$@"
    ab_only measure tcp_rr "$h" "$ip1" TCP_RR dir="$h-domu1" "$@"
    ab_only measure tcp_stream_x4 "$h" "$ip1" STREAMS4 dir="$h-domu1" "$@"
    # udp_pps: 64-byte UDP datagrams at full speed, packets per second the receiver got (a
    # UDP sender outruns a slow receiver; what it sent is not the figure).
    # Their records say where the receiver ran when it was bound (AB_UDP_RCPU).
    local rcpu=${AB_UDP_RCPU:+rcpu=$AB_UDP_RCPU}
    ab_only measure udp_pps "$h" "$ip1" UDP64 dir="$h-domu1" "$@" $rcpu
    ab_only measure udp_pps 1 "$(host_ip "$h")" UDP64 dir="domu1-$h" "$@" $rcpu
    # udp_gen_pps: the same datagrams from a packet generator, dropped where they arrive
    # (gen_pps): the vif path alone. It needs the guest tools (ab.sh and ab-front set them).
    if [ "${NBT_DOMU_TOOLS:-0}" = 1 ] && [ "$h" = dom0 ]; then
        ab_only measure udp_gen_pps dom0 "$ip1" GEN64 dir=dom0-domu1 "$@"
        ab_only measure udp_gen_pps 1 "$(host_ip dom0)" GEN64 dir=domu1-dom0 "$@"
    fi
    if [ "$NBT_NDOM" -ge 2 ]; then
        ip2=$(domu_ip 2)
        ab_only measure tcp_stream 1 "$ip2" TCP_STREAM dir=domu1-domu2 "$@"
        ab_only measure tcp_maerts 1 "$ip2" TCP_MAERTS dir=domu2-domu1 "$@"
        ab_only measure tcp_rr 1 "$ip2" TCP_RR dir=domu1-domu2 "$@"
        ab_only measure tcp_stream_x4 1 "$ip2" STREAMS4 dir=domu1-domu2 "$@"
        ab_only measure udp_pps 1 "$ip2" UDP64 dir=domu1-domu2 "$@" $rcpu
    fi
}

# ab_start: an A/B scenario's start: the first backend of NBT_BACKENDS loaded, then every
# guest created (NBT_GUEST_VCPUS vCPUs, run.sh --guest-vcpus, default 1) and answering.
ab_start() {
    local i
    backend_load "${NBT_BACKENDS%% *}"
    for i in $(seq 1 $NBT_NDOM); do domu_create $i "${NBT_GUEST_VCPUS:-1}"; done
    for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
}
# ab_rounds FUNCTION: NBT_ROUNDS rounds over the backends in NBT_BACKENDS, the order
# alternating per round so that drift over the boot favours none; each turn swaps the
# backend in under the same guests, then runs FUNCTION ROUND. AB_BEFORE_SWAP, if set, is
# a function run with the next backend's label just before each swap (ab-front.sh: the
# guests' netfront module follows the backend).
ab_rounds() {
    local fn=$1 r b order
    for r in $(seq 1 "$NBT_ROUNDS"); do
        order=$NBT_BACKENDS
        [ $((r % 2)) = 0 ] && order=$(echo $NBT_BACKENDS | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
        for b in $order; do
            if [ -n "${AB_BEFORE_SWAP:-}" ] && [ "$NBT_CURRENT_BACKEND" != "$b" ]; then "$AB_BEFORE_SWAP" "$b"; fi
            backend_swap "$b" || nbt_die "could not switch to backend $b"
            vifs_tune "$b"
            nbt_stamp "round $r on backend $b ($(vif_queues 1) queue(s) on domu1's vif)"
            "$fn" "$r"
        done
    done
}

# ---- evilfront in guest 1 (testbed/evilfront; hostile.sh, staging.sh) ----
# evil_guests_up ATTACK: starts guests 1 and 2 (the scenario set NBT_DOMU_TOOLS=1), stops
# guest 1's netfront from probing new vifs (evilfront plays them), checks that guest 1 has
# the Xen devices and an evilfront that knows ATTACK, and sets DOMID1, BR_MAC, IP1, IP2 and
# GRANTS0 (the guest grant mappings dom0 holds with both guests idle: what must come back
# after each attack).
evil_guests_up() {
    domu_create 1; domu_create 2
    domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
    domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
    domu_exec 1 "echo 0 > /sys/bus/xen/drivers_autoprobe; ls /dev/xen/gntalloc /dev/xen/evtchn /dev/xen/xenbus && $NBT_EVILFRONT --list | grep -q '^$1[[:space:]]' && echo GUEST-TOOLS-OK" > /tmp/guest-check 2>&1
    grep -q GUEST-TOOLS-OK /tmp/guest-check || nbt_die "guest 1 lacks /dev/xen/{gntalloc,evtchn,xenbus} or an evilfront with attack $1: $(tr '\n' ' ' < /tmp/guest-check)"
    DOMID1=$(xl domid domu1)
    BR_MAC=$(cat /sys/class/net/xenbr0/address)
    IP1=$(domu_ip 1); IP2=$(domu_ip 2)
    GRANTS0=$(settled_grants -1)
    nbt_stamp "baseline: dom0 holds $GRANTS0 guest grant mappings"
}
# settled_grants WANT: the guest grant mappings dom0 holds, retried while in-flight
# mappings drain until it is WANT (-1: until it stops changing), at most ~10 s.
settled_grants() {
    local g prev=""
    for _ in $(seq 1 10); do
        g=$(nbt_grants_held_by_dom0)
        [ "$g" = "$1" ] && break
        # -1: settled once two readings a second apart agree.
        [ "$1" = -1 ] && [ "$g" = "$prev" ] && break
        prev=$g; sleep 1
    done
    echo "$g"
}
# evil_value KEY LINE: the value of KEY in an EVIL-RESULT line.
evil_value() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
# guest_output ATTACK: evilfront's output so far. The guest's command channel is one nc per
# connection, so a connection right after another can be refused: retry.
guest_output() {
    local out
    for _ in 1 2 3 4 5 6; do
        out=$(domu_exec 1 "cat /tmp/evil.$1" 2>/dev/null) && [ -n "$out" ] && { echo "$out"; return 0; }
        sleep 0.5
    done
    return 1
}
# guest_start ATTACK "OPTIONS": start evilfront in guest 1 in the background, output to a
# fresh file (and no release file left from an earlier run, see guest_release).
guest_start() {
    for _ in 1 2 3 4 5 6; do
        domu_exec 1 "rm -f /tmp/evil.$1 /tmp/evil.$1.release; setsid $NBT_EVILFRONT $2 > /tmp/evil.$1 2>&1 < /dev/null &" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    nbt_fail "$1: could not start evilfront in guest 1"; return 1
}
# guest_release ATTACK: end the hold of evilfront started with --release-file
# /tmp/evil.ATTACK.release (dom0 has looked at the vif; --hold is then only a bound).
guest_release() {
    for _ in 1 2 3 4 5 6; do
        domu_exec 1 "touch /tmp/evil.$1.release" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}
# guest_wait_line ATTACK PATTERN SECONDS: wait until evilfront's output in guest 1 has PATTERN.
guest_wait_line() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        guest_output "$1" | grep -q "$2" && return 0
        sleep 0.3
    done
    return 1
}
# evil_attach: attaches a vif to guest 1 for evilfront (not probed there: guest 1 set
# drivers_autoprobe 0) and prints its devid. Needs DOMID1.
evil_attach() {
    local before d
    before=$(xl network-list domu1 | awk 'NR > 1 {print $1}' | tr '\n' ' ')
    # Bounded: a backend whose xenwatch is stuck never answers.
    timeout "${ATTACH_TIMEOUT:-60}" xl network-attach domu1 bridge=xenbr0 >&2 || return 1
    d=$(xl network-list domu1 | awk 'NR > 1 {print $1}' | tail -n1)
    [[ " $before " == *" $d "* ]] && return 1
    for _ in $(seq 1 100); do [ -e /sys/class/net/vif$DOMID1.$d ] && break; sleep 0.2; done
    echo "$d"
}

# Bridge against SR-IOV VF steering in one boot (run.sh --sriov; netback-rs): the same two
# guests, their vifs on dom0's bridge or bound to VF0/VF1 of QEMU's igb, taking turns each
# round (alternating which path goes first). Records say backend=bridge|vf, so that
#   python3 benches/report.py RUN.jsonl --backends "bridge vf"
# gives vf/bridge as paired per-round ratios. Each TCP stream also records dom0's CPU seconds
# per GB moved (Xen's accounting, xl list: hypercalls included). AB_TESTS as in ab.sh.
backend_load rs
sriov_setup 2 || nbt_die "no SR-IOV NIC with 2 VFs (run.sh --sriov)"
ip link set "$NBT_PF" nomaster
for i in 1 2; do domu_create $i; done
for i in 1 2; do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
NBT_CURRENT_BACKEND=bridge

# path_use bridge|vf: both guests' vifs on that path. On the bridge path the PF is off
# dom0's bridge (the bridge as in every other benchmark); on the VF path it is dom0's way to
# the guests. The bridge forgets where it saw the guests' MACs on every switch.
path_use() {
    local i
    [ "$NBT_CURRENT_BACKEND" = "$1" ] && return 0
    for i in 1 2; do
        if [ "$1" = vf ]; then vif_vf_bind $i "${NBT_VFS[$((i - 1))]}"; else vif_vf_unbind $i; fi
    done
    if [ "$1" = vf ]; then ip link set "$NBT_PF" master xenbr0; else ip link set "$NBT_PF" nomaster; fi
    ip link set xenbr0 type bridge fdb_flush
    for i in 1 2; do domu_wait_ping $i 30 || nbt_die "guest $i unreachable on the $1 path"; done
    NBT_CURRENT_BACKEND=$1
}
# measure_cost NAME FROM TO TEST k=v...: measure, plus dom0 CPU seconds per GB for streams.
measure_cost() {
    local name=$1 c0 c1
    c0=$(dom_cpu Domain-0)
    measure "$@" || return 1
    c1=$(dom_cpu Domain-0)
    case "$4" in TCP_STREAM|TCP_MAERTS) ;; *) return 0;; esac
    shift 4
    nbt_result test="${name}_dom0_cpu_s_per_gb" backend="$NBT_CURRENT_BACKEND" unit=per-GB "$@" \
        value="$(awk -v a="$c0" -v b="$c1" -v m="$NBT_LAST_VALUE" -v l="$NBT_LEN" 'BEGIN {g = m * l / 8000; printf "%.2f", (g > 0 ? (b - a) / g : 0)}')"
}
only() { ab_only measure_cost "$@"; }

sriov_round() {
    local round=$1 ip1 ip2; ip1=$(domu_ip 1); ip2=$(domu_ip 2)
    only tcp_stream 1 "$ip2" TCP_STREAM dir=domu1-domu2 round="$round"
    only tcp_rr 1 "$ip2" TCP_RR dir=domu1-domu2 round="$round"
    only udp_pps 1 "$ip2" UDP64 dir=domu1-domu2 round="$round"
    only tcp_stream dom0 "$ip1" TCP_STREAM dir=dom0-domu1 round="$round"
    only tcp_maerts dom0 "$ip1" TCP_MAERTS dir=domu1-dom0 round="$round"
    only tcp_rr dom0 "$ip1" TCP_RR dir=dom0-domu1 round="$round"
}
for r in $(seq 1 "$NBT_ROUNDS"); do
    order="bridge vf"; [ $((r % 2)) = 0 ] && order="vf bridge"
    for p in $order; do
        path_use "$p"
        nbt_stamp "round $r on the $p path"
        sriov_round "$r"
    done
done

# Multi-queue A/B benchmark inside one boot: guests with 2 vCPUs (so netfront asks for 2
# queues; run.sh --guest-vcpus N for N), 4 parallel iperf3 streams each way and guest to
# guest, backends taking turns on the same guests as in ab.sh (alternating order per round).
# Each record carries the number of queues the vif negotiated on that backend. Tests:
# iperf3_x4 (TCP, Mbit/s received) and udp_pps_x4 (64-byte UDP datagrams at full speed,
# -b 0: packets per second the receiver got, summed over the streams; the senders outrun
# it). AB_TESTS as in ab.sh.
set -- $NBT_BACKENDS
backend_load "$1"
for i in $(seq 1 $NBT_NDOM); do domu_create $i "${NBT_GUEST_VCPUS:-2}"; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done

only() { ab_only measure_iperf3 "$@"; }  # only TEST MEASURE_IPERF3-ARGS...
# Where each udp_pps_x4 test's time went: CPU per domain, socket and vif drops (lib.sh).
MEASURE_COST_HOOK=udp_cost

bench_round() {
    # h: the backend's own domain, dom0 or the driver domain (run.sh --driver-domain).
    local round=$1 q ip1 udp="-u -b 0 -l 64" h; h=$(backend_host)
    q=$(vif_queues 1); ip1=$(domu_ip 1)
    only iperf3_x4 "$h" "$ip1" 4 -- dir="$h-domu1" round="$round" queues="$q"
    only iperf3_x4 "$h" "$ip1" 4 -R -- dir="domu1-$h" round="$round" queues="$q"
    only udp_pps_x4 "$h" "$ip1" 4 $udp -- dir="$h-domu1" round="$round" queues="$q"
    only udp_pps_x4 "$h" "$ip1" 4 $udp -R -- dir="domu1-$h" round="$round" queues="$q"
    if [ "$NBT_NDOM" -ge 2 ]; then
        only iperf3_x4 1 "$(domu_ip 2)" 4 -- dir=domu1-domu2 round="$round" queues="$q"
        only udp_pps_x4 1 "$(domu_ip 2)" 4 $udp -- dir=domu1-domu2 round="$round" queues="$q"
    fi
}

ab_rounds bench_round

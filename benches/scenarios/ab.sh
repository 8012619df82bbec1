# A/B benchmark inside one boot: the backends in NBT_BACKENDS take turns serving the same
# guests (detach the vifs, swap the module, attach again), NBT_ROUNDS rounds, alternating
# which backend goes first so that drift over the boot does not favour one of them.
set -- $NBT_BACKENDS
first=$1
backend_load "$first"
for i in $(seq 1 $NBT_NDOM); do domu_create $i; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done

# AB_TESTS (test names, or test/direction, e.g. "tcp_rr" or "tcp_rr/domu1-domu2") runs only
# those: a quicker A/B when bisecting one figure. Recipe:
#   (echo 'AB_TESTS="tcp_rr/domu1-domu2"'; cat benches/scenarios/ab.sh) > /tmp/rr.sh
# (or AB_TESTS="..." ./run-bench: run.sh passes it on).
only() { ab_only measure "$@"; }  # only TEST MEASURE-ARGS...

bench_round() {
    # h: the backend's own domain, dom0 or the driver domain (run.sh --driver-domain).
    local round=$1 ip1 ip2 h; h=$(backend_host)
    ip1=$(domu_ip 1)
    only tcp_stream "$h" "$ip1" TCP_STREAM dir="$h-domu1" round="$round"
    only tcp_maerts "$h" "$ip1" TCP_MAERTS dir="domu1-$h" round="$round"
    only tcp_rr "$h" "$ip1" TCP_RR dir="$h-domu1" round="$round"
    only tcp_stream_x4 "$h" "$ip1" STREAMS4 dir="$h-domu1" round="$round"
    # udp_pps: 64-byte UDP datagrams at full speed, packets per second the receiver got (a
    # UDP sender outruns a slow receiver; what it sent is not the figure).
    only udp_pps "$h" "$ip1" UDP64 dir="$h-domu1" round="$round"
    only udp_pps 1 "$(host_ip "$h")" UDP64 dir="domu1-$h" round="$round"
    if [ "$NBT_NDOM" -ge 2 ]; then
        ip2=$(domu_ip 2)
        only tcp_stream 1 "$ip2" TCP_STREAM dir=domu1-domu2 round="$round"
        only tcp_maerts 1 "$ip2" TCP_MAERTS dir=domu2-domu1 round="$round"
        only tcp_rr 1 "$ip2" TCP_RR dir=domu1-domu2 round="$round"
        only tcp_stream_x4 1 "$ip2" STREAMS4 dir=domu1-domu2 round="$round"
        only udp_pps 1 "$ip2" UDP64 dir=domu1-domu2 round="$round"
    fi
}

ab_rounds bench_round

# Request/response only: the two TCP_RR tests of ab.sh (dom0<->domu1, domu1<->domu2), A/B in
# one boot as ab.sh does. About 8 minutes for 5 rounds: a quick check when bisecting a latency
# change, e.g. ./run-bench --scenario rr --rounds 5
set -- $NBT_BACKENDS
first=$1
backend_load "$first"
for i in $(seq 1 $NBT_NDOM); do domu_create $i; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done

rr_round() {
    local round=$1
    measure tcp_rr dom0 "$(domu_ip 1)" TCP_RR dir=dom0-domu1 round="$round"
    if [ "$NBT_NDOM" -ge 2 ]; then
        measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2 round="$round"
    fi
}

ab_rounds rr_round

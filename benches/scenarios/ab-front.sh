# Frontend A/B inside one boot (issue 12's benchmark): each label of NBT_BACKENDS is a
# backend with the guests' netfront that goes with it: c (C xen-netback) with the stock
# xen-netfront, rs and rs@LABEL (netback-rs, with --rs-opts) with netfront-rs. Run as
#   ./run-bench --scenario ab-front --backends "c rs@copy rs" --rs-opts copy="staging_grants_per_queue=0"
# which compares stock netfront on C, netfront-rs on netback-rs with plain grant copy (the
# backend offers no staging grants) and netfront-rs on netback-rs with staging grants (the
# default: the backend offers 512, netfront-rs registers its 512 buffer pages). The tests are
# ab.sh's (lib.sh's ab_netperf_round); the turns swap the backend as ab.sh does, and before
# each swap every guest is told to swap its netfront module once its vifs are gone (the vif
# detach removes the devices, so nothing holds the module then), so the new vifs come up
# with the new frontend; at each turn guest 1 must run the frontend of the label.
NBT_DOMU_TOOLS=1
set -- $NBT_BACKENDS
frontend_for() { case "$1" in c|c@*) echo stock;; *) echo rs;; esac; }
# front_opts LABEL: the guests' netfront module parameters under rs@LABEL (netfront-rs) or
# c@LABEL (stock xen-netfront, say trusted=0) (run-bench --front-opts).
front_opts() { [ "${1#*@}" != "$1" ] && cat "/opt/netback-rs/front-opts/${1#*@}" 2>/dev/null; }
# front_ko LABEL: the netfront-rs module the guests load under LABEL: another build's
# (run-bench --front-ko, shipped in the guests as front-alt/LABEL.ko) or this worktree's.
front_ko() {
    if [ "${1#rs@}" != "$1" ] && [ -f "/opt/netback-rs/front-ko/${1#rs@}" ]; then
        echo "/opt/netback-rs/tools/front-alt/${1#rs@}.ko"
    else
        echo /opt/netback-rs/tools/xen-netfront-rs.ko
    fi
}
first=$1
# The guests start with the worktree's netfront (domu_create): another build comes in by a swap.
[ "$(front_ko "$first")" = /opt/netback-rs/tools/xen-netfront-rs.ko ] \
    || nbt_die "ab-front: the first label ($first) may not have a --front-ko build: list c or rs first"
backend_load "$first"
first_front=$(frontend_for "$first"); first_opts=$(front_opts "$first")
[ -n "$first_opts" ] && first_front="$first_front:$(echo $first_opts | tr ' ' ,)"
for i in $(seq 1 $NBT_NDOM); do domu_create $i "${NBT_GUEST_VCPUS:-1}" 1500 "$first_front"; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done

# frontend_prepare LABEL: each guest swaps to LABEL's netfront module as soon as its vifs
# are detached (a background script: the detach cuts the command channel).
frontend_prepare() {
    local want i opts ko
    want=$(frontend_for "$1"); opts=$(front_opts "$1"); ko=$(front_ko "$1")
    for i in $(seq 1 $NBT_NDOM); do
        domu_exec "$i" "cat > /tmp/fswap.sh <<'EOF'
for _ in \$(seq 1 1200); do ls /sys/bus/xen/devices | grep -q '^vif-' || break; sleep 0.05; done
rmmod xen_netfront_rs 2>/dev/null; rmmod xen_netfront 2>/dev/null
if [ $want = rs ]; then insmod $ko $opts; else insmod /lib/modules/xen-netfront.ko $opts; fi
echo \"GUEST: netfront now \$(grep -o '^xen_netfront[a-z_]*' /proc/modules) $([ $want = rs ] && echo "from $ko") $opts\" > /dev/console
EOF
setsid sh /tmp/fswap.sh </dev/null >/dev/null 2>&1 &" >/dev/null || nbt_fail "guest $i: could not arm the netfront swap"
    done
}
AB_BEFORE_SWAP=frontend_prepare

# A test that got nothing through: guest 1's vif state, for the log.
rings_dump() { vif_state_dump 1 "after $1 ($2 -> $3)"; }
MEASURE_FAILED_HOOK=rings_dump

# Grant copy hypercalls and packets over both directions of every guest's vif (netback-rs'
# per-queue counters; the C driver has none): "hypercalls per packet" is the staging claim.
vif_hypercalls() {
    guests_vif_stats |
        awk '/^ *(rx|tx)_queue_[0-9]+_copy_batches:/ {b += $2} /^ *(rx|tx)_queue_[0-9]+_packets:/ {p += $2}
             END {print b + 0, p + 0}'
}

# Where each 64-byte UDP test's time went (lib.sh's udp_cost).
MEASURE_COST_HOOK=udp_cost

# Each turn checks that guest 1 runs the label's frontend, then runs ab.sh's tests; on
# netback-rs it records the round's grant copy hypercalls per packet.
front_round() {
    local f h0 h1
    f=$(echo $(guest_frontend 1))
    [ "$f" = "$([ "$(frontend_for "$NBT_CURRENT_BACKEND")" = rs ] && echo xen_netfront_rs || echo xen_netfront)" ] \
        || nbt_fail "round $1 on $NBT_CURRENT_BACKEND: guest 1 runs '${f:-no netfront}'"
    nbt_stamp "round $1 on $NBT_CURRENT_BACKEND: guest 1 runs $f"
    case "$NBT_CURRENT_BACKEND" in c|c@*) ab_netperf_round "$1"; return;; esac
    h0=$(vif_hypercalls)
    ab_netperf_round "$1"
    h1=$(vif_hypercalls)
    nbt_result test=grant_hypercalls_per_packet backend="$NBT_CURRENT_BACKEND" dir=all-vifs round="$1" \
        unit=per-packet value="$(echo $h0 $h1 | awk '{p = $4 - $2; printf "%.4f", (p > 0 ? ($3 - $1) / p : 0)}')"
}
ab_rounds front_round

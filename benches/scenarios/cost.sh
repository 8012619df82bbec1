# Where the time goes, A/B in one boot: for a dom0->domU TCP_STREAM and a domU->dom0
# TCP_MAERTS on each backend, the throughput plus what it cost per GB moved: CPU seconds
# of dom0 and of the guest as Xen accounts them (xl list, includes hypercall time), dom0's
# softirq and system time, and event-channel interrupts on the vif (dom0) and in the guest.
# COST_GUEST_SETUP, if set (prepend the assignment to a copy of this file: only the scenario
# file reaches dom0), is a shell command run in the guest first, e.g. a sysctl to test a
# hypothesis; the log records it.
# One guest: a second one would idle at ~0.2 CPU under TCG inside the figures, and the
# backend swaps would look for its vif.
[ "$NBT_NDOM" = 1 ] || nbt_die "cost measures one guest: run it with --domus 1 (got $NBT_NDOM)"
set -- $NBT_BACKENDS
backend_load "$1"
domu_create 1
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
ip1=$(domu_ip 1)
if [ -n "${COST_GUEST_SETUP:-}" ]; then
    domu_exec 1 "$COST_GUEST_SETUP" || nbt_fail "guest setup '$COST_GUEST_SETUP' failed"
    nbt_stamp "guest setup: $COST_GUEST_SETUP"
fi

# Packets the guest's netfront received and sent (its own counters, the same for both backends).
guest_pkts() { echo $(domu_exec 1 "cat /sys/class/net/eth*/statistics/rx_packets | awk '{s += \$1} END {print s}'; cat /sys/class/net/eth*/statistics/tx_packets | awk '{s += \$1} END {print s}'"); }
stat_ticks() { awk '/^cpu / {print $4 + $7 + $8, $5}' /proc/stat; }  # system+irq+softirq, idle ticks

cost_run() {  # cost_run NAME TEST DIR ROUND
    local name=$1 test=$2 dir=$3 round=$4 d0 g0 v0 i0 s0 id0 d1 g1 v1 i1 s1 id1 r mbit gb p0 p1
    d0=$(dom_cpu Domain-0); g0=$(dom_cpu domu1); v0=$(dom0_vif_irqs); i0=$(domu_net_irqs 1); p0=$(guest_pkts); set -- $(stat_ticks); s0=$1 id0=$2
    r=$(netperf_run dom0 "$ip1" "$test" "$NBT_LEN") || { nbt_fail "$name produced no result"; return 1; }
    d1=$(dom_cpu Domain-0); g1=$(dom_cpu domu1); v1=$(dom0_vif_irqs); i1=$(domu_net_irqs 1); p1=$(guest_pkts); set -- $(stat_ticks); s1=$1 id1=$2
    mbit=${r% *}
    gb=$(awk -v m="$mbit" -v l="$NBT_LEN" 'BEGIN {print m * l / 8000}')
    nbt_result test="$name" backend="$NBT_CURRENT_BACKEND" value="$mbit" unit=Mbit/s dir="$dir" round="$round"
    for pair in "dom0_cpu_s_per_gb $d0 $d1" "guest_cpu_s_per_gb $g0 $g1" "dom0_sys_ticks_per_gb $s0 $s1" \
                "vif_irqs_per_gb $v0 $v1" "guest_irqs_per_gb $i0 $i1" \
                "guest_rx_pkts_per_gb ${p0% *} ${p1% *}" "guest_tx_pkts_per_gb ${p0#* } ${p1#* }"; do
        set -- $pair
        nbt_result test="${name}_$1" backend="$NBT_CURRENT_BACKEND" dir="$dir" round="$round" unit=per-GB \
            value="$(awk -v a="$2" -v b="$3" -v g="$gb" 'BEGIN {printf "%.2f", (g > 0 ? (b - a) / g : 0)}')"
    done
    nbt_result test="${name}_dom0_idle_share" backend="$NBT_CURRENT_BACKEND" dir="$dir" round="$round" unit=share \
        value="$(awk -v s0="$s0" -v s1="$s1" -v i0="$id0" -v i1="$id1" 'BEGIN {t = (s1 - s0) + (i1 - i0); printf "%.2f", (t > 0 ? (i1 - i0) / t : 0)}')"
}

cost_round() {
    cost_run tcp_stream TCP_STREAM dom0-domu1 "$1"
    cost_run tcp_maerts TCP_MAERTS domu1-dom0 "$1"
}
ab_rounds cost_round

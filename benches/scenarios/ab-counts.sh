# The A/B (ab.sh's tests, AB_TESTS to pick) with dom0's event counts per unit of each test's
# figure (per packet, Mbit or transaction): what a backend makes dom0 do besides its work.
# From just before to just after each test, in dom0:
#   vif_irqs      the vifs' event channel interrupts (the guests' notifications)
#   guest_irqs    the guests' netfront interrupts (the backend's notifications), read in
#                 each guest
#   ipis          reschedule and function-call IPIs (a wakeup on the other vCPU)
#   timer_irqs    timer interrupts (each hrtimer expiry, the TX answer hold's among them)
#   net_rx        NET_RX softirqs run (NAPI polls and receive processing)
#   polls         netback-rs only: its queues' grant copy batches, one per poll that copied
#   copy_ops      netback-rs only: its queues' grant copy operations (both directions)
#   held          netback-rs only: polls that held their answers (tx_answer_deferred)
#   stopped       netback-rs only: times a guest's full backlog stopped the stack's queue to
#                 it (tx_stopped): the sender waited for the guest
#   ring_full     netback-rs only: guest RX passes that waited for the guest's buffers
#                 (tx_ring_full)
#   udp_drops     datagrams the receivers' UDP sockets dropped for a full receive buffer
#                 (RcvbufErrors, dom0's and every guest's): packets delivered in vain, whose
#                 receive work the figure does not count
#   vif_drops     packets for a guest dom0's vifs dropped (tx_dropped: a full backlog or
#                 ring), before any copy: the cheap place to drop
#   dom0_idle_ms, dom0_steal_ms, guest_steal_ms
#                 /proc/stat's idle and steal time over all vCPUs, in ms: steal is a vCPU
#                 runnable but not running, Xen having given its CPU to another vCPU (dom0's
#                 is mostly a guest woken by a notification, taking the notifier's CPU)
#   ctxsw         dom0's context switches
#   rx_thread_cs, rx_thread_preempted
#                 the guest-RX threads' context switches (every sleep and wake-up) and
#                 the involuntary ones among them (preempted in dom0)
# Best under --icount, where the counts of a test repeat; e.g.
#   AB_TESTS="udp_pps/domu1-dom0 tcp_maerts" ./run-bench --scenario ab-counts --icount 1 \
#       --backends "c rs rs@nogro" --rs-ethtool nogro="-K gro off" --rounds 3 --len 4
# Each count is a record "<test>_<count>" with unit per-<unit of the figure>.
dom0_counts() {
    echo "vif_irqs $(dom0_vif_irqs)"
    echo "guest_irqs $(for i in $(seq 1 "$NBT_NDOM"); do domu_net_irqs "$i"; done | awk '{s += $1} END {print s + 0}')"
    echo "ipis $(irq_sum '^(resched|callfunc|callfuncsingle)[0-9]+$' < /proc/interrupts)"
    echo "timer_irqs $(irq_sum '^timer[0-9]+$' < /proc/interrupts)"
    echo "net_rx $(awk '$1 == "NET_RX:" {for (i = 2; i <= NF; i++) s += $i} END {print s + 0}' /proc/softirqs)"
    echo "udp_drops $(udp_rcvbuf_drops)"
    echo "vif_drops $(vif_tx_drops)"
    awk '$1 ~ /^cpu[0-9]+$/ {i += $5 + $6; st += $9} $1 == "ctxt" {c = $2}
         END {print "dom0_idle_ms", i * 10; print "dom0_steal_ms", st * 10; print "ctxsw", c + 0}' /proc/stat
    echo "guest_steal_ms $(for i in $(seq 1 "$NBT_NDOM"); do domu_exec "$i" "cat /proc/stat"; done |
        awk '$1 ~ /^cpu[0-9]+$/ {st += $9} END {print st * 10}')"
    # The guest-RX threads, C's and ours (<vif>-q<N>-guest-rx); no record without one.
    for t in /proc/[0-9]*/task/[0-9]*; do
        case "$(cat "$t/comm" 2>/dev/null)" in *-guest-rx) cat "$t/status" 2>/dev/null;; esac
    done | awk '$1 == "Name:" {threads++} $1 == "voluntary_ctxt_switches:" {v += $2}
                $1 == "nonvoluntary_ctxt_switches:" {n += $2}
                END {if (threads) {print "rx_thread_cs", v + n; print "rx_thread_preempted", n + 0}}'
    case "$NBT_CURRENT_BACKEND" in c|c@*) return;; esac
    guests_vif_stats |
        awk '/^ *(rx|tx)_queue_[0-9]+_copy_batches:/ {p += $2} /^ *(rx|tx)_queue_[0-9]+_copy_ops:/ {o += $2}
             /^ *tx_answer_deferred:/ {h += $2} /^ *tx_stopped:/ {st += $2} /^ *tx_ring_full:/ {rf += $2}
             END {print "polls", p + 0; print "copy_ops", o + 0; print "held", h + 0
                  print "stopped", st + 0; print "ring_full", rf + 0}'
}
counts_hook() {
    local what=$1 name=$2 value=${3:-} unit="" dir="" round="" a
    if [ "$what" = begin ]; then counts_before=$(dom0_counts); return 0; fi
    shift 3
    for a in "$@"; do case $a in dir=*) dir=${a#dir=};; round=*) round=${a#round=};; unit=*) unit=${a#unit=};; esac; done
    # Per unit of the test's figure, as its record names it (pps, trans/s, Mbit/s).
    unit=${unit%/s}; case $unit in pps) unit=packet;; trans) unit=transaction;; esac
    { echo "$counts_before" | sed 's/^/0 /'; dom0_counts | sed 's/^/1 /'; } |
        awk -v v="$value" -v len="$NBT_LEN" '{c[$1 " " $2] = $3; k[$2] = 1}
            END {for (n in k) if (("0 " n) in c && ("1 " n) in c && v > 0)
                     printf "%s %.4f\n", n, (c["1 " n] - c["0 " n]) / (v * len)}' |
        while read -r count per; do
            nbt_result test="${name}_$count" backend="$NBT_CURRENT_BACKEND" dir="$dir" round="$round" \
                unit="per-$unit" value="$per"
        done
}
MEASURE_COST_HOOK=counts_hook
# The guests carry the test tools (udp_gen_pps's packet generator), as in ab.sh.
NBT_DOMU_TOOLS=1
ab_start
ab_rounds ab_netperf_round

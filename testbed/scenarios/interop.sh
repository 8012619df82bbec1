# netfront-rs against the backend under test, beside a stock netfront: guest 1 runs this
# worktree's xen-netfront-rs.ko (domu_create ... rs; run.sh ships it when it builds the
# worktree's modules, i.e. --backend rs), guest 2 the stock xen-netfront. Each guest runs the
# frontend it was given; guest 1 pings both ways and carries TCP_STREAM dom0 -> guest 1 and
# guest 1 -> dom0, TCP_RR, and TCP_STREAM guest 1 -> guest 2 and guest 2 -> guest 1 (those
# two at MTU 9000, below; each figure above 1 Mbit/s or transaction/s), and 16 MiB dom0 -> guest 1 arrive intact (md5); netfront-rs lent received
# bulk pages to the stack (its count, logged at disconnect, above 0); its vif detaches (the vif goes from dom0, and so do guest 1's grant
# mappings there), the backend module is unloaded and loaded again (guest 2's vif detached
# and attached around it), and guest 1's vif attaches again (ping, same mappings as before); in guest 1 the link
# goes down, the vif is unbound and rmmod xen_netfront_rs works (the module is gone, and does not load again with
# grant_private_pages=2 or napi_threaded=3; the vif closes, dom0 lets go
# of guest 1's rings); guest 1's kernel log stays clean; xl destroy leaves no grant mapping
# and no dying domain; guest 2 still answers ping. netfront-rs' NAPI polls stay in softirq
# under the streams and RR (its log). Staging grants: with netback-rs, netfront-rs
# registers staging_grants_per_queue pages and the vif's staging hit counters grow; with C
# xen-netback it registers none and runs plain. Multiqueue: guest 1 has 2 vCPUs, so
# netfront-rs connects min(2, the backend's multi-queue-max-queues) queues and sets up the
# Toeplitz hash on the control ring (the backend's debugfs ctrl file shows it, bucket i ->
# queue i % 2), and 12 concurrent streams to it use every queue (events on each queue's IRQ in
# the guest; on netback-rs, packets both ways in the vif's per-queue counters). MTU 9000: both
# guests run at 9000; with their vifs and the bridge at 9000 too, unfragmented 9000-byte pings
# dom0 -> each guest, guest 1 -> dom0 and guest 1 -> guest 2, TCP streams guest 1 <-> dom0,
# guest 1 -> guest 2 and dom0 -> guest 2 (what the mtu9000 scenario checks, on both backends).
# On C xen-netback guest 1 loads netfront-rs with trusted=1 (packets over 4 KiB go by
# per-packet grants of their own pages, which C maps), on netback-rs with the default
# (untrusted: only the whole pages that hold nothing but the packet's bytes are granted, the
# rest is copied into staged pages); either way its log at rmmod counts the packets sent by
# per-packet grants (above 0) and no grant may be left mapped, and 16 MiB guest 1 -> dom0
# arrive intact (md5).
# Each backend of --backends in turn, in one boot (fresh guests for each; both guests are
# destroyed at the end of a pass): the interop matrix is stock netfront and netfront-rs
# against C xen-netback and netback-rs. Guest 2 (stock) also carries the smoke checks:
# TCP_STREAM and TCP_RR dom0 -> guest 2.
# Needs 2 guests: testbed/run.sh --backend rs --backends "c rs" --scenario interop --domus 2
[ "$NBT_NDOM" -ge 2 ] || nbt_die "interop needs --domus 2"
[ "${NBT_DRVDOM:-0}" = 1 ] && nbt_die "interop counts dom0's grant mappings: the backend runs in dom0 (no --driver-domain)"
measure_pos() {  # measure_pos FRONTEND NAME FROM TO TEST [k=v ...]: measure, the figure must be > 1
    # (above 1 Mbit/s or transaction/s: a stream whose frames a bridge drops for their size
    # still moves a few bytes a second)
    local front=$1; shift
    measure "$@" frontend="$front" || return 1
    awk -v v="$NBT_LAST_VALUE" 'BEGIN {exit !(v + 0 > 1)}' && return 0
    nbt_fail "$1 ($4 $2 -> $3) with the $front netfront gave $NBT_LAST_VALUE, not above 1"; return 1
}

interop_pass() {  # interop_pass BACKEND: the whole check on one backend, fresh guests
    backend_load "$1"
    # On C xen-netback netfront-rs runs trusted (trusted=1: packets over 4 KiB go by
    # per-packet grants of their own pages, which C maps), on netback-rs untrusted (default:
    # whole private pages granted, the rest copied).
    front1=rs; [ "$1" = c ] && front1=rs:trusted=1
    domu_create 1 2 9000 "$front1"; domu_create 2 1 9000
    domu_wait_ping 1 150 || nbt_die "guest 1 (netfront-rs) never came up"
    domu_wait_ping 2 150 || nbt_die "guest 2 (stock netfront) never came up"
    IP1=$(domu_ip 1); IP2=$(domu_ip 2); DOMID1=$(xl domid domu1)

    # Each guest runs the frontend it was given (guest 1's console says why, when it fell back).
    f1=$(echo $(guest_frontend 1)); f2=$(echo $(guest_frontend 2))
    nbt_result test=guest_frontend backend="$NBT_CURRENT_BACKEND" value="${f1:-none}" unit=module guest=domu1
    nbt_result test=guest_frontend backend="$NBT_CURRENT_BACKEND" value="${f2:-none}" unit=module guest=domu2
    [ "$f2" = xen_netfront ] || nbt_fail "guest 2 runs '${f2:-no netfront}', not the stock xen_netfront"
    [ "$f1" = xen_netfront_rs ] || nbt_die "guest 1 runs '${f1:-no netfront}', not xen_netfront_rs (its console: GUEST: netfront-rs ...; run.sh ships xen-netfront-rs.ko only when it builds this worktree's modules)"
    GRANTS0=$(settled_grants -1)
    CONSOLE0=$(guest_console_lines 1)  # this pass's lines of guest 1's console follow
    DMESG0=$(dmesg | wc -l)
    nbt_stamp "baseline: dom0 holds $GRANTS0 guest grant mappings"

    # Traffic through netfront-rs: every figure above 0.
    ping -c 5 -i 0.2 -W 2 "$IP1" >/dev/null || nbt_fail "ping dom0 -> domu1 (netfront-rs) lost packets"
    domu_exec 1 "ping -c 3 -W 2 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 (netfront-rs) -> dom0 failed"
    domu_exec 1 "ping -c 3 -W 2 $IP2 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 (netfront-rs) -> domu2 (stock) failed"
    measure_pos rs tcp_stream dom0 "$IP1" TCP_STREAM dir=dom0-domu1
    measure_pos rs tcp_stream 1 "$NBT_SUBNET.1" TCP_STREAM dir=domu1-dom0
    measure_pos rs tcp_rr dom0 "$IP1" TCP_RR dir=dom0-domu1
    # netfront-rs' NAPI polls (napi_threaded=2, its default) stay in softirq under the
    # streams and RR above: its log would say each move (the move under a flood shows in
    # the ab-front benchmark's guest logs, benches/results/2026-12-05-ab-front-auto-threaded-icount/).
    moves=$(tail -n +$((CONSOLE0 + 1)) /var/log/xen/console/guest-domu1.log | grep -c 'NAPI polls in')
    nbt_result test=netfront_poll_moves backend="$NBT_CURRENT_BACKEND" value="$moves" unit=moves under=tcp_stream,tcp_rr
    [ "$moves" = 0 ] || nbt_fail "netfront-rs moved its NAPI polls $moves times under TCP streams and RR (only a flood should)"
    # So do the vif's guest-TX polls on netback-rs (napi_threaded=2, its default too).
    vmoves=$(dmesg | tail -n +$((DMESG0 + 1)) | grep -c "$(vif_name 1): NAPI polls in")
    nbt_result test=vif_poll_moves backend="$NBT_CURRENT_BACKEND" value="$vmoves" unit=moves under=tcp_stream,tcp_rr
    [ "$vmoves" = 0 ] || nbt_fail "$(vif_name 1) moved its NAPI polls $vmoves times under TCP streams and RR (only a flood should)"
    # (Streams between the guests run below, once the vifs and the bridge take the guests'
    # 9000-byte frames: at 1500 both guests offer an MSS of 8960 and the bridge drops them.)
    # What a stream into netfront-rs carries arrives intact: the bulk pages it lends to the
    # stack as they are hold the right bytes at the right offsets (netperf checks no data, and
    # with the backend's data-validated flag the guest checks no TCP checksum either).
    rx_integrity 1 "$NBT_SUBNET.1" || nbt_fail "16 MiB dom0 -> domu1 (netfront-rs) did not arrive intact"
    # And what netfront-rs sends: its large packets mix pages granted for the packet with
    # pieces copied into its staged pages, each slot at its own offset.
    tx_integrity 1 || nbt_fail "16 MiB domu1 (netfront-rs) -> dom0 did not arrive intact"
    # Multiqueue: min(guest 1's 2 vCPUs, the backend's offer) queues, the hash steering on
    # the control ring, and traffic on every queue (12 flows: all on one of 2 queues 1 in 2048).
    d=$(vif_devid 1); vif=$(vif_name 1)
    offer=$(xenstore-read "/local/domain/0/backend/vif/$DOMID1/$d/multi-queue-max-queues" 2>/dev/null || echo 1)
    want_q=$(( offer < 2 ? offer : 2 ))
    nq=$(xenstore-read "/local/domain/$DOMID1/device/vif/$d/multi-queue-num-queues" 2>/dev/null || echo 1)
    nbt_result test=netfront_queues backend="$NBT_CURRENT_BACKEND" value="$nq" unit=queues offered="$offer"
    [ "$nq" = "$want_q" ] || nbt_fail "netfront-rs (2 vCPUs) connected $nq queue(s), the backend offers $offer: want $want_q"
    if [ "$want_q" -gt 1 ]; then
        dbg=/sys/kernel/debug/xen-netback-rs/$vif/ctrl
        [ "$NBT_CURRENT_BACKEND" = c ] && dbg=/sys/kernel/debug/xen-netback/$vif/ctrl
        grep -q '^Hash Algorithm: TOEPLITZ' "$dbg" 2>/dev/null \
            || nbt_fail "$dbg: netfront-rs set no Toeplitz hash: $(head -c 300 "$dbg" 2>&1 | tr '\n' '|')"
        grep -q '^\[   0 -    7\]:    0    1    0    1    0    1    0    1 $' "$dbg" \
            || nbt_fail "$dbg: the hash mapping is not netfront-rs' bucket i -> queue i % 2: $(grep -A2 Mapping "$dbg" | tr '\n' '|')"
        # Events per queue in the guest (its IRQs eth0-qN-tx and -rx: both backends offer
        # split event channels, which netfront-rs takes as xen-netfront does; the guest has
        # no ethtool) and, on netback-rs, packets per queue both ways (the vif's counters).
        q_irqs() { domu_exec 1 "cat /proc/interrupts" | awk '$NF ~ /^eth0-q[0-9]+(-tx|-rx)?$/ {q = $NF; sub(/-(tx|rx)$/, "", q); for (i = 2; i <= NF; i++) if ($i ~ /^[0-9]+$/) s[q] += $i; else break} END {for (q in s) print q, s[q]}'; }
        split=$(domu_exec 1 "cat /proc/interrupts" | grep -c ' eth0-q[0-9]*-[rt]x$')
        nbt_result test=netfront_split_channels backend="$NBT_CURRENT_BACKEND" value="$split" unit=irqs
        [ "$split" = $((2 * want_q)) ] || nbt_fail "netfront-rs has $split per-ring event channel IRQs (eth0-qN-tx/-rx), not $((2 * want_q)): it did not take feature-split-event-channels"
        before=$(q_irqs)
        netperf_streams dom0 "$IP1" 12 3 >/dev/null || nbt_fail "12 concurrent streams dom0 -> domu1 failed"
        after=$(q_irqs)
        for q in $(seq 0 $((want_q - 1))); do
            v=$(printf '%s\n%s\n' "$before" "$after" | awk -v n="eth0-q$q" '$1 == n {v[++k] = $2} END {print (k == 2 ? v[2] - v[1] : "none")}')
            nbt_result test=netfront_queue_events backend="$NBT_CURRENT_BACKEND" value="$v" unit=events queue="$q"
            [ "$v" != none ] && [ "$v" -gt 10 ] || nbt_fail "netfront-rs queue $q: $v events during 12 streams (its IRQs eth0-q$q-tx/-rx)"
            if [ "$NBT_CURRENT_BACKEND" != c ]; then
                for c in rx tx; do
                    n=$(ethtool_stat "$vif" "${c}_queue_${q}_packets")
                    nbt_result test="vif_queue_${c}_packets" backend="$NBT_CURRENT_BACKEND" value="${n:-none}" unit=packets queue="$q"
                    [ "${n:-0}" -gt 0 ] || nbt_fail "$vif: ${c}_queue_${q}_packets is '${n:-none}' after 12 streams"
                done
            fi
        done
    fi
    # MTU 9000: both guests run at 9000; their vifs and the bridge follow for these checks
    # (the stock guest too: the jumbo checks of the mtu9000 scenario, on both backends).
    v2=$(vif_name 2)
    ip link set "$vif" mtu 9000 && ip link set "$v2" mtu 9000 && ip link set xenbr0 mtu 9000 \
        || nbt_fail "$vif, $v2 or xenbr0 refuses MTU 9000"
    ping -c 3 -W 2 -M do -s 8972 "$IP1" >/dev/null || nbt_fail "9000-byte ping dom0 -> domu1 (netfront-rs) failed"
    ping -c 3 -W 2 -M do -s 8972 "$IP2" >/dev/null || nbt_fail "9000-byte ping dom0 -> domu2 (stock) failed"
    domu_exec 1 "ping -c 3 -W 2 -s 8972 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK \
        || nbt_fail "9000-byte ping domu1 (netfront-rs) -> dom0 failed"
    domu_exec 1 "ping -c 3 -W 2 -s 8972 $IP2 >/dev/null && echo PING-OK" | grep -q PING-OK \
        || nbt_fail "9000-byte ping domu1 (netfront-rs) -> domu2 (stock) failed"
    measure_pos rs tcp_stream dom0 "$IP1" TCP_STREAM dir=dom0-domu1 mtu=9000
    measure_pos rs tcp_stream 1 "$NBT_SUBNET.1" TCP_STREAM dir=domu1-dom0 mtu=9000
    measure_pos rs tcp_stream 1 "$IP2" TCP_STREAM dir=domu1-domu2 mtu=9000
    measure_pos rs tcp_stream 2 "$IP1" TCP_STREAM dir=domu2-domu1 mtu=9000
    measure_pos stock tcp_stream dom0 "$IP2" TCP_STREAM dir=dom0-domu2 mtu=9000
    ip link set xenbr0 mtu 1500
    # The stock guest on its own (what the smoke scenario checked).
    measure_pos stock tcp_stream dom0 "$IP2" TCP_STREAM dir=dom0-domu2
    measure_pos stock tcp_rr dom0 "$IP2" TCP_RR dir=dom0-domu2
    g=$(settled_grants "$GRANTS0")
    [ "$g" = "$GRANTS0" ] || nbt_fail "dom0 holds $g guest grant mappings after the traffic, $GRANTS0 before"
    # Staging grants: netfront-rs registers its buffer pages when the backend offers them
    # (netback-rs: staging_grants_per_queue pages; its counters show the traffic used them), and
    # runs plain grant copy when it does not (C xen-netback answers NOT_SUPPORTED).
    # Each queue's registration (the last connection's lines: one per queue).
    staged=$(grep -o 'eth0: queue [0-9]*: [0-9]* pages as staging grants' /var/log/xen/console/guest-domu1.log | tail -n "$nq" | awk '{print $4}' | sort -u | tr '\n' ' ')
    staged=${staged% }
    nbt_result test=netfront_staging_pages backend="$NBT_CURRENT_BACKEND" value="${staged:-none}" unit=pages-per-queue queues="$nq"
    if [ "$NBT_CURRENT_BACKEND" = c ]; then
        [ "${staged:-none}" = 0 ] || nbt_fail "netfront-rs registered '${staged:-none}' staging pages per queue with C xen-netback (which has no staging grants), not 0"
    else
        # min(what netback-rs offers, netfront-rs' staging_pages default 512: its 256 TX + 256 RX pages)
        offer=$(cat /sys/module/xen_netback_rs/parameters/staging_grants_per_queue)
        want=$(( offer < 512 ? offer : 512 ))
        [ "${staged:-none}" = "$want" ] || nbt_fail "netfront-rs registered '${staged:-none}' staging pages per queue, not min(netback-rs' $offer, 512) on each of its $nq queues"
        vif=$(vif_name 1)
        for c in tx_staging_hits rx_staging_hits; do
            v=$(ethtool_stat "$vif" "$c")
            nbt_result test="$c" backend="$NBT_CURRENT_BACKEND" value="${v:-none}" unit=packets frontend=rs
            [ "${v:-0}" -gt 0 ] || nbt_fail "$vif: $c is '${v:-none}' after the traffic through netfront-rs' staged pages"
        done
    fi

    # Detach guest 1's vif: it goes from dom0, and so do dom0's mappings of guest 1's grants.
    vif=$(vif_name 1); d=$(vif_devid 1)
    timeout 60 xl network-detach domu1 "$d" || nbt_fail "xl network-detach domu1 $d (netfront-rs) failed or hung"
    vif_wait_gone "$vif"
    GRANTS_NO1=$(settled_grants -1)
    nbt_result test=grants_held backend="$NBT_CURRENT_BACKEND" value="$GRANTS_NO1" unit=grants phase=domu1-detached baseline="$GRANTS0"
    [ "$GRANTS_NO1" -lt "$GRANTS0" ] || nbt_fail "dom0 holds $GRANTS_NO1 guest grant mappings with guest 1's vif detached, $GRANTS0 with it: guest 1's rings stayed mapped"
    # The backend module goes and comes back under the guests, the toolstack's way (every vif
    # detached first: the xenbus core holds a module reference per bound device).
    v2=$(vif_name 2)
    vif_detach 2 && vif_wait_gone "$v2" && backend_unload "$1" || nbt_fail "could not unload the $1 backend"
    backend_load "$1"
    vif_attach 2 && domu_wait_ping 2 60 || nbt_fail "guest 2 (stock netfront) unreachable after the backend was reloaded"
    # ... and attach it again (domu_create's mac and bridge): netfront-rs probes the new vif.
    vif_attach 1 && domu_wait_ping 1 60 || nbt_fail "guest 1 (netfront-rs) unreachable after its vif was attached again"
    domu_exec 1 "ping -c 3 -W 2 $IP2 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> domu2 failed after the vif was attached again"
    g=$(settled_grants "$GRANTS0")
    nbt_result test=grants_held backend="$NBT_CURRENT_BACKEND" value="$g" unit=grants phase=domu1-attached-again baseline="$GRANTS0"
    [ "$g" = "$GRANTS0" ] || nbt_fail "dom0 holds $g guest grant mappings with guest 1's vif attached again, $GRANTS0 at first"

    # Last for guest 1: link down, unbind the vif from the driver and rmmod xen_netfront_rs (as
    # with the stock xen-netfront, the xenbus core holds a module reference per bound device, so
    # rmmod needs the devices unbound first; unbinding closes them with the backend). That cuts
    # the command channel, so a detached script does it and tells its console (dom0 reads it in
    # guest 1's console log).
    vif=$(vif_name 1); d=$(vif_devid 1); mark=$(guest_console_lines 1)
    rmmod_script='sleep 1
    for n in /sys/class/net/eth*; do ip link set "${n##*/}" down; done
    for v in /sys/bus/xen/drivers/vif/vif-*; do [ -e "$v" ] && echo "${v##*/}" > /sys/bus/xen/drivers/vif/unbind; done
    rmmod xen_netfront_rs; rc=$?
    if grep -q "^xen_netfront_rs " /proc/modules; then m=loaded; else m=gone; fi
    loaded=""
    for p in grant_private_pages=2 napi_threaded=3; do
        insmod /opt/netback-rs/tools/xen-netfront-rs.ko $p 2>/dev/null && { loaded="$loaded,$p"; rmmod xen_netfront_rs; }
    done
    echo "GUEST: rmmod xen_netfront_rs rc=$rc module=$m bad-values-loaded=${loaded:-none} netdevs: $(ls /sys/class/net | tr "\n" " ")" > /dev/console'
    # (The here-document's lines start at column 0: the guest's shell reads them.)
    domu_exec 1 "cat > /tmp/rmmod.sh <<'EOF'
$rmmod_script
EOF
setsid sh /tmp/rmmod.sh </dev/null >/tmp/rmmod.log 2>&1 &" >/dev/null
    line=""
    for _ in $(seq 1 30); do
        sleep 1
        line=$(tail -n +$((mark + 1)) /var/log/xen/console/guest-domu1.log | grep -m1 'GUEST: rmmod xen_netfront_rs')
        [ -n "$line" ] && break
    done
    nbt_stamp "guest 1: ${line:-no word from the rmmod within 30 s}"
    case "$line" in
        *" rc=0 module=gone bad-values-loaded=none "*) nbt_result test=rmmod_netfront_rs backend="$NBT_CURRENT_BACKEND" value=ok unit=status;;
        *" rc=0 module=gone "*) nbt_fail "netfront-rs loaded with a value its parameter does not take: $line";;
        "") nbt_fail "rmmod xen_netfront_rs in guest 1 did not finish within 30 s";;
        *) nbt_fail "rmmod xen_netfront_rs in guest 1 failed: $line";;
    esac
    # The frontend closed: xl network-list says 6 (Closed), or the vif is gone from dom0.
    fe="" be=""
    for _ in $(seq 1 30); do
        fe=$(xl network-list domu1 2>/dev/null | awk -v d="$d" 'NR > 1 && $1 == d {print $5}')
        be=$(xenstore-read "/local/domain/0/backend/vif/$DOMID1/$d/state" 2>/dev/null)
        { [ "$fe" = 6 ] || [ ! -e "/sys/class/net/$vif" ]; } && break
        sleep 1
    done
    nbt_stamp "after rmmod: domu1's vif $d frontend state ${fe:-none}, backend state ${be:-none}, $vif $([ -e "/sys/class/net/$vif" ] && echo present || echo gone)"
    { [ "$fe" = 6 ] || [ ! -e "/sys/class/net/$vif" ]; } \
        || nbt_fail "30 s after rmmod xen_netfront_rs, domu1's vif $d is in state ${fe:-none} (not 6, Closed), backend state ${be:-none}, and $vif still exists"
    g=$(settled_grants "$GRANTS_NO1")
    nbt_result test=grants_held backend="$NBT_CURRENT_BACKEND" value="$g" unit=grants phase=domu1-rmmod baseline="$GRANTS_NO1"
    [ "$g" = "$GRANTS_NO1" ] || nbt_fail "dom0 holds $g guest grant mappings after netfront-rs closed, $GRANTS_NO1 without guest 1's vif"
    # Its large packets went by per-packet grants (the streams before the detach): every
    # page trusted (on C), the whole pages that hold only the packet's bytes untrusted (on
    # netback-rs, the default), and every grant was ended (one the backend still mapped would
    # leak its packet, logged).
    # (each disconnect logs the device's count so far: the most any line says)
    sent=$(tail -n +$((CONSOLE0 + 1)) /var/log/xen/console/guest-domu1.log | grep -o 'queue [0-9]*: [0-9]* packets sent by per-packet grants' | awk '$3 > m {m = $3} END {print m + 0}')
    nbt_result test=netfront_tx_granted backend="$NBT_CURRENT_BACKEND" value="$sent" unit=packets frontend="$front1"
    [ "$sent" -gt 0 ] || nbt_fail "netfront-rs ($front1) sent no packet by per-packet grants"
    # Bulk received pages went to the stack as they are (logged at each disconnect, so far).
    lent=$(tail -n +$((CONSOLE0 + 1)) /var/log/xen/console/guest-domu1.log | grep -o 'queue [0-9]*: [0-9]* received pages lent to the stack' | awk '$3 > m {m = $3} END {print m + 0}')
    nbt_result test=netfront_rx_pages_lent backend="$NBT_CURRENT_BACKEND" value="$lent" unit=pages frontend="$front1"
    [ "$lent" -gt 0 ] || nbt_fail "netfront-rs lent no received page to the stack after the streams into it"
    grep -q 'still maps .* of a sent packet' /var/log/xen/console/guest-domu1.log && nbt_fail "netfront-rs leaked a packet whose page the backend still mapped: $(grep -m1 'still maps' /var/log/xen/console/guest-domu1.log)"
    # Guest 1's kernel runs the frontend under test: no WARNING/BUG/Oops in it, from boot on.
    host_kernel_log_clean 1

    # Destroy guest 1: nothing of it stays mapped in dom0, no domain is left dying.
    xl destroy domu1 || nbt_fail "xl destroy domu1 failed"
    vif_wait_gone "$vif"
    for _ in $(seq 1 30); do [ "$(nbt_dying_domains)" = 0 ] && break; sleep 1; done
    [ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after xl destroy domu1: $(xl list | tail -n +3)"
    g=$(settled_grants "$GRANTS_NO1")
    nbt_result test=grants_held backend="$NBT_CURRENT_BACKEND" value="$g" unit=grants phase=domu1-destroyed baseline="$GRANTS_NO1"
    # (Fewer is right: dom0's console and xenstore daemons map a page of each guest too.)
    [ "$g" -le "$GRANTS_NO1" ] || nbt_fail "dom0 holds $g guest grant mappings with guest 1 destroyed, more than the $GRANTS_NO1 with guest 1's vif detached"
    # The stock guest never noticed.
    ping -c 3 -W 2 "$IP2" >/dev/null || nbt_fail "guest 2 (stock netfront) stopped answering ping"
    n=$(cat $NBT_FAILED 2>/dev/null | wc -l)
    nbt_result test=interop backend="$1" value=$([ "$n" = 0 ] && echo pass || echo fail) unit=outcome failed_checks="$n"
    vif=$(vif_name 2)
    xl destroy domu2 || nbt_fail "xl destroy domu2 failed"
    vif_wait_gone "$vif"
    for _ in $(seq 1 30); do [ "$(nbt_dying_domains)" = 0 ] && break; sleep 1; done
    backend_unload "$1"
}

for b in ${NBT_BACKENDS:-$NBT_BACKEND}; do interop_pass "$b"; done

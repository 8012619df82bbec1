# Zero-copy guest TX on each backend of --backends (C xen-netback always maps; netback-rs
# with tx_zerocopy=on), 2 guests: the counters (sent = success + fail, local delivery copies,
# forwarding completes), netback-rs' tx_zerocopy knobs, and teardown while dom0 still holds
# a guest's mapped pages:
#   1. detach while dom0's receiver is stopped (SIGSTOP) with a full socket buffer;
#   2. xl destroy while the pages sit in the queues of a paused peer guest (until its drain
#      timeout, 4 s here, drops them): the backend waits for them, bounded, and says so;
#   2b. (netback-rs) the same with netfront-rs as the sender: its staging grants' pages go
#      to the stack as frags, lent rather than mapped (rx_staging_frags); then, connected
#      under tx_zerocopy=staged, lent to guest 2 but copied for dom0's sockets;
#   3. rmmod at once after destroying both guests while the paused peer holds the
#      sender's pages (both drivers hold a module reference per vif: rmmod succeeds once
#      the last vif is freed).
# Passes when every case ends with no grant held by dom0, the peer unharmed, no dying
# domain and a clean dom0 log.
NBT_RS_PARAMS="$NBT_RS_PARAMS tx_zerocopy=on rx_drain_timeout_msecs=4000"
echo "options xen-netback rx_drain_timeout_msecs=4000" > /etc/modprobe.d/nbt-zerocopy.conf
dom0_ip=$NBT_SUBNET.1

zc_counter() { ethtool -S "$1" 2>/dev/null | awk -v k="$2:" '$1 == k {print $2}'; }

# zc_counters BACKEND VIF: records the counters, checks sent = success + fail and that
# both outcomes happened (domu1 -> dom0 is copied on local delivery, domu1 -> domu2
# completes without a copy).
zc_counters() {
    local b=$1 vif=$2 s ok f
    s=$(zc_counter "$vif" tx_zerocopy_sent); ok=$(zc_counter "$vif" tx_zerocopy_success)
    f=$(zc_counter "$vif" tx_zerocopy_fail)
    nbt_result test=zc_sent backend="$b" value="${s:-none}" unit=packets success="$ok" fail="$f" \
        frag_overflow="$(zc_counter "$vif" tx_frag_overflow)"
    [ -n "$s" ] && [ -n "$ok" ] && [ -n "$f" ] || { nbt_fail "$b: ethtool -S $vif lacks the zero-copy counters"; return 1; }
    [ "$s" = $((ok + f)) ] || nbt_fail "$b: tx_zerocopy_sent $s != success $ok + fail $f"
    [ "$ok" -gt 0 ] || nbt_fail "$b: no zero-copy packet completed without a copy (guest -> guest)"
    [ "$f" -gt 0 ] || nbt_fail "$b: no zero-copy packet was copied on local delivery (guest -> dom0)"
}

# zc_knobs VIF: netback-rs' per-VIF override and the module parameters.
zc_knobs() {
    local vif=$1 k=/sys/class/net/$1/netback/tx_zerocopy p=/sys/module/xen_netback_rs/parameters
    [ "$(cat $k)" = on ] || nbt_fail "$k reads '$(cat $k)', not the module's 'on'"
    echo bogus > $k 2>/dev/null && nbt_fail "$k accepted 'bogus'"
    echo 2048x > $p/tx_zerocopy_threshold 2>/dev/null && nbt_fail "tx_zerocopy_threshold accepted '2048x'"
    echo sometimes > $p/tx_zerocopy 2>/dev/null && nbt_fail "tx_zerocopy accepted 'sometimes'"
    echo auto > $k || nbt_fail "$k refused 'auto'"
    [ "$(cat $k)" = auto ] || nbt_fail "$k reads '$(cat $k)' after writing 'auto'"
    [ "$(cat $p/tx_zerocopy)" = on ] || nbt_fail "a VIF's override changed the module parameter"
    echo staged > $k || nbt_fail "$k refused 'staged'"
    [ "$(cat $k)" = staged ] || nbt_fail "$k reads '$(cat $k)' after writing 'staged'"
    echo on > $k
    nbt_result test=zc_knobs backend=rs value=ok unit=status data_path="$(cat /sys/class/net/$vif/netback/guest_tx_data_path)"
}

# zc_wait_gone VIF LABEL: waits for the vif to go, records how long it took.
zc_wait_gone() {
    local vif=$1 label=$2 t0 t1
    t0=$(date +%s.%N)
    vif_wait_gone "$vif"
    t1=$(date +%s.%N)
    nbt_result test="$label" backend="$NBT_CURRENT_BACKEND" value="$(awk "BEGIN {printf \"%.1f\", $t1 - $t0}")" unit=s
}

# zc_flood_paused_peer: domu1 floods domu2 with UDP, then domu2 is paused: its vif's
# queues (and qdisc) fill with skbs whose frags are domu1's mapped pages.
zc_flood_paused_peer() {
    domu_exec 1 "netperf -H $(domu_ip 2) -t UDP_STREAM -l 30 -- -m 1400 >/dev/null 2>&1 &" >/dev/null
    sleep 4
    xl pause domu2
    sleep 2
}

# zc_staged_loans BACKEND (netback-rs): guest 1 again, with netfront-rs and its staging
# grants: the slots naming a staged page go to the stack as frags of that page (lent: no
# map, no copy; rx_staging_frags), with the same completions (sent = success + fail), 16 MiB
# sent that way to dom0 arrive intact (md5), and
# a destroy while a paused peer holds such pages waits for them as for mapped ones.
# netfront-rs runs with grant_private_pages=0 in both staged cases: every byte it sends is
# then in a staged page (by default the whole pages of its large packets go by per-packet
# grants, the interop scenario's case).
zc_staged_loans() {
    local b=$1 vif1 s ok f frags mark
    domu_create 1 1 1500 rs:grant_private_pages=0; domu_wait_ping 1 150 || nbt_die "$b: guest 1 (netfront-rs) never came up"
    vif1=$(vif_name 1)
    measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0 frontend=rs
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2 frontend=rs
    sleep 1
    frags=$(zc_counter "$vif1" rx_staging_frags)
    s=$(zc_counter "$vif1" tx_zerocopy_sent); ok=$(zc_counter "$vif1" tx_zerocopy_success)
    f=$(zc_counter "$vif1" tx_zerocopy_fail)
    nbt_result test=zc_staged_frags backend="$b" value="${frags:-none}" unit=slots sent="$s" success="$ok" fail="$f"
    [ "${frags:-0}" -gt 0 ] || nbt_fail "$b: netfront-rs' staged TX pages never went to the stack as frags (rx_staging_frags '${frags:-none}')"
    [ -n "$s" ] && [ "$s" = $((ok + f)) ] || nbt_fail "$b: with staged frags tx_zerocopy_sent '$s' != success '$ok' + fail '$f'"
    [ "${ok:-0}" -gt 0 ] && [ "${f:-0}" -gt 0 ] || nbt_fail "$b: with staged frags no completion in place ($ok) or no copy on local delivery ($f)"
    frags=$(zc_counter "$vif1" rx_staging_frags)
    tx_integrity 1 || nbt_fail "$b: 16 MiB netfront-rs -> dom0 sent through lent staged pages did not arrive intact"
    [ "$(zc_counter "$vif1" rx_staging_frags)" -gt "$frags" ] || nbt_fail "$b: the 16 MiB from netfront-rs went through no lent staged page"
    mark=$(dmesg | wc -l)
    zc_flood_paused_peer
    xl destroy domu1 || nbt_fail "$b: xl destroy domu1 (netfront-rs) failed"
    zc_wait_gone "$vif1" zc_destroy_staged_pages_held_by_peer
    dmesg | tail -n +$((mark + 1)) | grep -q "released every zero-copy slot after" \
        || nbt_fail "$b: no log line says teardown waited for the staged pages the peer held"
    xl unpause domu2
    domu_wait_ping 2 30 || nbt_fail "$b: the paused peer lost its network (staged pages)"
}

# zc_staged_mode BACKEND (netback-rs): guest 1 with netfront-rs once more, connected under
# tx_zerocopy=staged: nothing mapped (guest_tx_data_path), and staged pages lent only while
# the stack forwards them. To dom0 (local delivery: the stack would copy lent frags) the
# slots are copied after the first verdicts, lending only probes (rx_staging_frags under a
# quarter of rx_staging_hits); to guest 2 (forwarded) lending resumes (rx_staging_frags
# over half of rx_staging_hits, which also count every packet's copied head); sent =
# success + fail.
zc_staged_mode() {
    local b=$1 p=/sys/module/xen_netback_rs/parameters vif1 path h0 f0 h1 f1 h2 f2 s ok f
    echo staged > $p/tx_zerocopy || nbt_fail "$b: cannot write staged to tx_zerocopy"
    domu_create 1 1 1500 rs:grant_private_pages=0; domu_wait_ping 1 150 || nbt_die "$b: guest 1 (netfront-rs, staged) never came up"
    echo on > $p/tx_zerocopy
    vif1=$(vif_name 1)
    path=$(cat /sys/class/net/$vif1/netback/guest_tx_data_path)
    [ "$path" = "grant-copy, staged pages lent" ] || nbt_fail "$b: tx_zerocopy=staged: guest_tx_data_path '$path'"
    h0=$(zc_counter "$vif1" rx_staging_hits); f0=$(zc_counter "$vif1" rx_staging_frags)
    measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0 frontend=rs zerocopy=staged
    h1=$(zc_counter "$vif1" rx_staging_hits); f1=$(zc_counter "$vif1" rx_staging_frags)
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2 frontend=rs zerocopy=staged
    sleep 1
    h2=$(zc_counter "$vif1" rx_staging_hits); f2=$(zc_counter "$vif1" rx_staging_frags)
    s=$(zc_counter "$vif1" tx_zerocopy_sent); ok=$(zc_counter "$vif1" tx_zerocopy_success)
    f=$(zc_counter "$vif1" tx_zerocopy_fail)
    nbt_result test=zc_staged_mode backend="$b" value="$path" unit=path \
        to_dom0_copied=$((h1 - h0)) to_dom0_lent=$((f1 - f0)) to_guest_copied=$((h2 - h1)) to_guest_lent=$((f2 - f1)) \
        sent="$s" success="$ok" fail="$f"
    [ $((4 * (f1 - f0))) -lt $((h1 - h0)) ] \
        || nbt_fail "$b: staged, to dom0: $((f1 - f0)) slots lent against $((h1 - h0)) copied (lending should stop)"
    [ $((2 * (f2 - f1))) -gt $((h2 - h1)) ] \
        || nbt_fail "$b: staged, to guest 2: $((f2 - f1)) slots lent against $((h2 - h1)) copied (lending should resume)"
    [ -n "$s" ] && [ "$s" = $((ok + f)) ] || nbt_fail "$b: staged: tx_zerocopy_sent '$s' != success '$ok' + fail '$f'"
    xl destroy domu1 || nbt_fail "$b: xl destroy domu1 (netfront-rs, staged) failed"
    vif_wait_gone "$vif1"
}

for b in $NBT_BACKENDS; do
    log0=$(dmesg | wc -l)  # this backend's lines start after it
    backend_load "$b"
    domu_create 1; domu_create 2
    domu_wait_ping 1 150 || nbt_die "$b: guest 1 never came up"
    domu_wait_ping 2 150 || nbt_die "$b: guest 2 never came up"
    vif1=$(vif_name 1); vif2=$(vif_name 2)
    case $b in rs*) zc_knobs "$vif1";; esac

    # Counters: local delivery (copied by the stack) and forwarding (completed in place).
    measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2
    sleep 1
    zc_counters "$b" "$vif1"

    # 1. Detach while dom0's receiver is stopped with a full socket buffer.
    iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
    srv=$!
    sleep 1
    domu_exec 1 "iperf3 -c $dom0_ip -p 5301 -t 20 >/dev/null 2>&1 &" >/dev/null
    sleep 4
    kill -STOP $srv
    sleep 3
    nbt_stamp "$b: receiver stopped, $(ss -tn "sport = :5301" | awk 'NR > 1 {print "recv-q " $2}' | head -1)"
    vif_detach 1 && zc_wait_gone "$vif1" zc_detach_receiver_stopped
    kill -CONT $srv; kill $srv 2>/dev/null; wait $srv 2>/dev/null
    vif_attach 1 && domu_wait_ping 1 60 || nbt_fail "$b: guest 1 did not come back after the detach"
    vif1=$(vif_name 1)

    # 2. Destroy the sender while its pages sit in the queues of a paused peer.
    zc_flood_paused_peer
    xl destroy domu1 || nbt_fail "$b: xl destroy domu1 failed"
    zc_wait_gone "$vif1" zc_destroy_pages_held_by_peer
    dmesg | tail -n +$((log0 + 1)) | grep -iE "zero-copy|still granted" | tail -5 | sed "s/^/$b: /"
    case $b in rs*) dmesg | tail -n +$((log0 + 1)) | grep -q "released every zero-copy slot after" \
        || nbt_fail "$b: no log line says how long teardown waited for the held pages";; esac
    xl unpause domu2
    domu_wait_ping 2 30 || nbt_fail "$b: the paused peer lost its network"
    case $b in rs*) zc_staged_loans "$b"; zc_staged_mode "$b";; esac
    # 3. Both guests destroyed while the paused peer holds the sender's pages, rmmod at
    # once: it succeeds when the last vif is freed (both drivers hold a module reference
    # per vif), after the sender's teardown got its pages back.
    domu_create 1; domu_wait_ping 1 150 || nbt_die "$b: guest 1 did not come back"
    vif1=$(vif_name 1)
    zc_flood_paused_peer
    xl destroy domu1 || nbt_fail "$b: xl destroy domu1 failed"
    xl destroy domu2 || nbt_fail "$b: xl destroy domu2 failed"
    backend_unload "$b" || nbt_die "$b: rmmod after destroying guests with pages in flight failed"
    nbt_result test=zc_rmmod_pages_in_flight backend="$b" value=ok unit=status
    sleep 2
    [ "$(nbt_dying_domains)" = 0 ] || nbt_fail "$b: domains left dying: $(xl list | tail -n +3)"
    g=$(nbt_grants_held_by_dom0)
    nbt_result test=grants_after_teardown backend="$b" value="$g" unit=grants
    [ "$g" = 0 ] || nbt_fail "$b: dom0 still holds $g guest grants after the teardown cases"
done
rm -f /etc/modprobe.d/nbt-zerocopy.conf

# Zero-copy guest TX check (work in progress, not in run-tests yet; run with --rs-params "tx_zerocopy=on" --domus 2). Prints ethtool -S counters, checks sent = success + fail,
# guest->guest when 2 domUs, then detach with traffic in flight, destroy and rmmod.
backend_load "$NBT_BACKEND"
for i in $(seq 1 $NBT_NDOM); do domu_create $i; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
vif=$(vif_name 1)
nbt_stamp "tx_zerocopy=$(cat /sys/module/xen_netback_rs/parameters/tx_zerocopy 2>&1)"
dmesg | grep "guest TX data path" | tail -3 | sed 's/^/HZC-DMESG /'
ping -c 5 -i 0.2 -W 2 "$(domu_ip 1)" >/dev/null || nbt_fail "ping dom0 -> domu1 lost packets"
domu_exec 1 "ping -c 3 -W 2 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> dom0 failed"
measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0
measure tcp_stream dom0 "$(domu_ip 1)" TCP_STREAM dir=dom0-domu1
measure tcp_rr dom0 "$(domu_ip 1)" TCP_RR dir=dom0-domu1
if [ "$NBT_NDOM" -ge 2 ]; then
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2
    measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2
fi
sleep 1
ethtool -S "$vif" | sed 's/^/HZC-ETHTOOL /'
s=$(ethtool -S "$vif" | awk '/^ *tx_zerocopy_sent:/ {print $2}')
ok=$(ethtool -S "$vif" | awk '/^ *tx_zerocopy_success:/ {print $2}')
f=$(ethtool -S "$vif" | awk '/^ *tx_zerocopy_fail:/ {print $2}')
nbt_result test=zc_sent backend="$NBT_CURRENT_BACKEND" value="$s" unit=packets success="$ok" fail="$f"
[ "$s" = $((ok + f)) ] || nbt_fail "tx_zerocopy_sent $s != success $ok + fail $f"
# Detach while the guest streams to dom0 (frags in flight), then re-attach.
timeout 30 netperf -H "$(domu_ip 1)" -t TCP_MAERTS -l 15 >/dev/null 2>&1 &
np=$!
sleep 3
vif_detach 1 && vif_wait_gone "$vif"
wait $np
dmesg | grep -i "zero-copy" | tail -5 | sed 's/^/HZC-DMESG /'
vif_attach 1 && domu_wait_ping 1 60 || nbt_fail "guest 1 did not come back after detach"
measure tcp_maerts2 dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0
vif=$(vif_name 1)
ethtool -S "$vif" | grep -E "zerocopy|frag_overflow" | sed 's/^/HZC-ETHTOOL2 /'
for i in $(seq 1 $NBT_NDOM); do xl destroy domu$i; done
vif_wait_gone "$vif"
sleep 1
g=$(nbt_grants_held_by_dom0)
nbt_result test=grants_after_destroy backend="$NBT_CURRENT_BACKEND" value="$g" unit=grants
[ "$g" = 0 ] || nbt_fail "dom0 still holds $g grants after destroy"
backend_unload "$NBT_BACKEND"

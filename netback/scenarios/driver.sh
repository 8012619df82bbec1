# netback-rs driver acceptance scenario (run with --domus 2):
# offloads, ping both ways, netperf dom0<->domU and domU<->domU, MTU 9000,
# 20 detach/attach cycles (memory check), xl destroy during traffic, rmmod.
backend_load "$NBT_BACKEND"
domu_create 1 1 9000
domu_create 2 1 9000
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
ip1=$(domu_ip 1); ip2=$(domu_ip 2)
vif1=$(vif_name 1); vif2=$(vif_name 2)
for v in $vif1 $vif2; do
    echo "DRV: $v operstate=$(cat /sys/class/net/$v/operstate) mtu=$(cat /sys/class/net/$v/mtu)"
    ethtool -k $v | grep -E '^(scatter-gather|tcp-segmentation-offload|tx-checksumming|rx-checksumming):' | sed "s/^/DRV: $v /"
done
# Guests run at MTU 9000: a 1500-byte vif between them breaks domU<->domU
# TCP for C and rs alike (netback/scenarios/mtu-mismatch.sh), so raise first.
# MTU 9000 (feature-sg): vifs first, then the bridge.
for v in $vif1 $vif2; do ip link set $v mtu 9000 || nbt_fail "mtu 9000 on $v"; done
ip link set xenbr0 mtu 9000 || nbt_fail "mtu 9000 on xenbr0"
sleep 1
ping -c 5 -i 0.2 -W 2 "$ip1" >/dev/null || nbt_fail "ping dom0 -> domu1"
domu_exec 1 "ping -c 3 -W 2 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> dom0"
domu_exec 1 "ping -c 3 -W 2 $ip2 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> domu2"
measure tcp_stream dom0 "$ip1" TCP_STREAM dir=dom0-domu1
measure tcp_maerts dom0 "$ip1" TCP_MAERTS dir=domu1-dom0
measure tcp_rr dom0 "$ip1" TCP_RR dir=dom0-domu1
measure tcp_stream 1 "$ip2" TCP_STREAM dir=domu1-domu2
measure tcp_maerts 1 "$ip2" TCP_MAERTS dir=domu2-domu1
measure tcp_rr 1 "$ip2" TCP_RR dir=domu1-domu2
ping -c 3 -W 2 -M do -s 8972 "$ip1" >/dev/null || nbt_fail "jumbo ping dom0 -> domu1"
domu_exec 1 "ping -c 3 -W 2 -s 8972 $ip2 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "jumbo ping domu1 -> domu2"
measure tcp_stream_mtu9000 dom0 "$ip1" TCP_STREAM dir=dom0-domu1
measure tcp_stream_mtu9000 1 "$ip2" TCP_STREAM dir=domu1-domu2
# Back to 1500 in dom0 (a re-attached vif starts at 1500; dom0<->guest TCP
# then negotiates a 1460 MSS).
for v in $vif1 $vif2; do ip link set $v mtu 1500; done
ip link set xenbr0 mtu 1500 2>/dev/null

# 20 detach/attach cycles on guest 1, memory before/after.
sync; echo 3 > /proc/sys/vm/drop_caches
mem0=$(nbt_mem_used_kb)
for c in $(seq 1 20); do
    vif_detach 1 || break
    for _ in $(seq 1 50); do [ -z "$(vif_devid 1)" ] && break; sleep 0.2; done
    vif_attach 1 || break
    domu_wait_ping 1 60 || { nbt_fail "cycle $c: guest 1 unreachable after attach"; break; }
done
sync; echo 3 > /proc/sys/vm/drop_caches
mem1=$(nbt_mem_used_kb)
nbt_result test=attach_detach_20_mem_delta backend="$NBT_CURRENT_BACKEND" value=$((mem1 - mem0)) unit=kB
[ $((mem1 - mem0)) -lt 16384 ] || nbt_fail "memory grew by $((mem1 - mem0)) kB over 20 cycles"
measure tcp_stream_after_cycles dom0 "$ip1" TCP_STREAM dir=dom0-domu1

# xl destroy while traffic flows both ways through guest 2's vif.
timeout 40 netperf -H "$ip2" -t TCP_STREAM -l 30 >/dev/null 2>&1 &
np_a=$!
timeout 40 netperf -H "$ip2" -t TCP_MAERTS -l 30 >/dev/null 2>&1 &
np_b=$!
sleep 4
xl destroy domu2 || nbt_fail "xl destroy domu2"
# Only the netperfs: a bare "wait" also waits for the guest console copiers, forever.
wait $np_a $np_b
for _ in $(seq 1 50); do ls /sys/class/net | grep -q "^$vif2\$" || break; sleep 0.2; done
ls /sys/class/net | grep -q "^$vif2\$" && nbt_fail "$vif2 still exists after destroy"
ping -c 3 -W 2 "$ip1" >/dev/null || nbt_fail "guest 1 lost connectivity after guest 2 was destroyed"

# Tear down and unload: rmmod must work with no guests.
xl destroy domu1 || nbt_fail "xl destroy domu1"
sleep 2
backend_unload "$NBT_CURRENT_BACKEND"
nbt_check_dmesg_clean || nbt_fail "dmesg has warnings"

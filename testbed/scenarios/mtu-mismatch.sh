# Guests at MTU 9000 behind 1500-byte vifs, domU1 -> domU2 TCP, then vifs
# raised to 9000 and jumbo pings; per backend in NBT_BACKENDS (same boot).
set -- $NBT_BACKENDS
backend_load "$1"
domu_create 1 1 9000; domu_create 2 1 9000
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
for b in $NBT_BACKENDS; do
    backend_swap "$b" || nbt_die "swap to $b"
    for v in $(vif_name 1) $(vif_name 2); do ip link set $v mtu 1500; done
    ip link set xenbr0 mtu 1500 2>/dev/null
    domu_exec 1 "ping -c 2 -W 2 $(domu_ip 2) >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "$b: small ping domu1 -> domu2"
    r=$(domu_exec 1 "timeout 20 netperf -H $(domu_ip 2) -t TCP_STREAM -l 5 -P 0 -- -o THROUGHPUT 2>&1" | grep -E '^[0-9.]+' | tail -1)
    nbt_result test=mismatch_stream backend="$b" value="${r:-0}" unit=Mbit/s
    for v in $(vif_name 1) $(vif_name 2); do ip link set $v mtu 9000; done
    ip link set xenbr0 mtu 9000
    sleep 1
    domu_exec 1 "ping -c 3 -W 2 -M do -s 8972 $(domu_ip 2) >/dev/null && echo PING-OK" | grep -q PING-OK && ok=1 || ok=0
    nbt_result test=jumbo_ping_after backend="$b" value=$ok unit=ok
    domu_exec 1 "ping -c 2 -W 2 $(domu_ip 2) >/dev/null && echo PING-OK" | grep -q PING-OK && ok=1 || ok=0
    nbt_result test=small_ping_after backend="$b" value=$ok unit=ok
    dmesg | grep -i "vif2\|netback" | tail -5 | sed "s/^/MM-$b: /"
done

# Jumbo frames: guests, their vifs and the bridge at MTU 9000; unfragmented 9000-byte
# pings both ways and bulk transfers each way.
backend_load "$NBT_BACKEND"
for i in $(seq 1 $NBT_NDOM); do domu_create $i 1 9000; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
for i in $(seq 1 $NBT_NDOM); do
    v=$(vif_name $i)
    ip link set "$v" mtu 9000 || nbt_fail "$v refuses MTU 9000"
done
ip link set xenbr0 mtu 9000 || nbt_fail "xenbr0 refuses MTU 9000"
nbt_result test=vif_mtu backend="$NBT_CURRENT_BACKEND" value="$(cat /sys/class/net/$(vif_name 1)/mtu)" unit=bytes
ip1=$(domu_ip 1)
ping -c 3 -W 2 -M do -s 8972 "$ip1" >/dev/null || nbt_fail "9000-byte ping dom0 -> domu1 failed"
domu_exec 1 "ping -c 3 -W 2 -s 8972 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "9000-byte ping domu1 -> dom0 failed"
measure tcp_stream dom0 "$ip1" TCP_STREAM dir=dom0-domu1 mtu=9000
measure tcp_maerts dom0 "$ip1" TCP_MAERTS dir=domu1-dom0 mtu=9000
if [ "$NBT_NDOM" -ge 2 ]; then
    domu_exec 1 "ping -c 3 -W 2 -s 8972 $(domu_ip 2) >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "9000-byte ping domu1 -> domu2 failed"
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2 mtu=9000
fi

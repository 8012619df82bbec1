# Smoke test: one guest on the chosen backend connects; ping and a short netperf each way.
backend_load "$NBT_BACKEND"
for i in $(seq 1 $NBT_NDOM); do domu_create $i; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
vif=$(vif_name 1)
[ "$(cat /sys/class/net/$vif/operstate)" = up ] || nbt_fail "$vif is not up: $(cat /sys/class/net/$vif/operstate)"
drv=$(ethtool -i "$vif" | awk '/^driver:/ {print $2}')
nbt_result test=vif_driver backend="$NBT_CURRENT_BACKEND" value="$drv" unit=name
ping -c 5 -i 0.2 -W 2 "$(domu_ip 1)" >/dev/null || nbt_fail "ping dom0 -> domu1 lost packets"
domu_exec 1 "ping -c 3 -W 2 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> dom0 failed"
measure tcp_stream dom0 "$(domu_ip 1)" TCP_STREAM dir=dom0-domu1
measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0
measure tcp_rr dom0 "$(domu_ip 1)" TCP_RR dir=dom0-domu1
if [ "$NBT_NDOM" -ge 2 ]; then
    measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2
    measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2
fi

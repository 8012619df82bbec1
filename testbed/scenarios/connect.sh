# Connect and tear down without bulk traffic: guests come up on the backend, ping works
# every way, a vif survives detach/attach, destroy leaves nothing behind, rmmod works.
backend_load "$NBT_BACKEND"
domu_create 1; domu_create 2
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
for i in 1 2; do
    v=$(vif_name $i)
    [ "$(cat /sys/class/net/$v/operstate)" = up ] || nbt_fail "$v is not up"
done
ping -c 5 -i 0.2 -W 2 "$(domu_ip 1)" >/dev/null || nbt_fail "ping dom0 -> domu1 lost packets"
domu_exec 1 "ping -c 3 -W 2 $NBT_SUBNET.1 >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> dom0 failed"
domu_exec 1 "ping -c 3 -W 2 $(domu_ip 2) >/dev/null && echo PING-OK" | grep -q PING-OK || nbt_fail "ping domu1 -> domu2 failed"
v=$(vif_name 1); vif_detach 1 && vif_wait_gone "$v"; vif_attach 1; domu_wait_ping 1 60
v1=$(vif_name 1); v2=$(vif_name 2)
xl destroy domu1; xl destroy domu2
vif_wait_gone "$v1"; vif_wait_gone "$v2"
sleep 2
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after destroy"
[ "$(nbt_grants_held_by_dom0)" = 0 ] || nbt_fail "dom0 still holds guest grants with no guests left"
backend_unload "$NBT_CURRENT_BACKEND" && nbt_result test=connect_teardown backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# Lifecycle of vifs on one backend: 20 detach/attach cycles, guest shutdown and xl destroy
# during traffic, then rmmod. A leak shows as grant references dom0 still holds, kernel
# memory that does not come back, a vif that does not go away, or a domain left dying.
CYCLES=${NBT_CYCLES:-20}
backend_load "$NBT_BACKEND"
domu_create 1; domu_create 2
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"

# One warm-up cycle, so one-time allocations do not count as growth.
vif=$(vif_name 1); vif_detach 1; vif_wait_gone "$vif"; vif_attach 1; domu_wait_ping 1 60
grants0=$(nbt_grants_held_by_dom0)
mem0=$(nbt_kernel_mem_kb)
for c in $(seq 1 $CYCLES); do
    vif=$(vif_name 1)
    vif_detach 1 && vif_wait_gone "$vif" || break
    vif_attach 1 && domu_wait_ping 1 60 || break
done
ping -c 3 -W 2 "$(domu_ip 1)" >/dev/null || nbt_fail "guest 1 unreachable after $CYCLES detach/attach cycles"
grants1=$(nbt_grants_held_by_dom0)
mem1=$(nbt_kernel_mem_kb)
nbt_result test=attach_detach_cycles backend="$NBT_CURRENT_BACKEND" value="$c" unit=cycles
nbt_result test=grants_held_growth backend="$NBT_CURRENT_BACKEND" value=$((grants1 - grants0)) unit=grants before="$grants0" after="$grants1"
nbt_result test=kernel_mem_growth backend="$NBT_CURRENT_BACKEND" value=$((mem1 - mem0)) unit=kB before="$mem0" after="$mem1"
[ "$grants1" = "$grants0" ] || nbt_fail "grant references held by dom0 went from $grants0 to $grants1 over $CYCLES cycles"
# A leaked vif costs far more than this (netdev, queues, ring mappings), every cycle.
[ $((mem1 - mem0)) -lt 1024 ] || nbt_fail "dom0 kernel memory grew by $((mem1 - mem0)) kB over $CYCLES cycles"

# The guest shuts itself down while dom0 sends to it; then the other is destroyed mid-stream.
vif2=$(vif_name 2); vif1=$(vif_name 1)
timeout 60 netperf -H "$(domu_ip 2)" -t TCP_STREAM -l 30 >/dev/null 2>&1 &
np2=$!
sleep 3
xl shutdown domu2 >/dev/null 2>&1 || nbt_fail "xl shutdown domu2 failed"
for _ in $(seq 1 60); do xl list domu2 2>/dev/null | grep -q '^domu2 .* s' && break; xl list domu2 >/dev/null 2>&1 || break; sleep 1; done
nbt_stamp "domu2 after shutdown: $(xl list domu2 2>&1 | tail -n1)"
xl destroy domu2 2>/dev/null
timeout 60 netperf -H "$(domu_ip 1)" -t TCP_STREAM -l 30 >/dev/null 2>&1 &
np1=$!
sleep 3
xl destroy domu1 || nbt_fail "xl destroy domu1 failed"
wait $np1 $np2
vif_wait_gone "$vif2"; vif_wait_gone "$vif1"
sleep 2
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after shutdown/destroy: $(xl list | tail -n +3)"
[ "$(nbt_grants_held_by_dom0)" = 0 ] || nbt_fail "dom0 still holds guest grants with no guests left"
backend_unload "$NBT_CURRENT_BACKEND"
nbt_result test=rmmod_after_guests_gone backend="$NBT_CURRENT_BACKEND" value=ok unit=status

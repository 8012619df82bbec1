# The backend in a driver domain: an unprivileged guest ("drvdom", driver_domain=1) runs it
# and `xl devd`, two client guests connect with backend=drvdom. Traffic client<->client and
# client<->driver domain; vif detach/attach; a client destroyed mid-stream (the driver
# domain lets go of everything of it); the driver domain destroyed while clients stream
# (they lose their network, nothing hangs or oopses), then started again and the clients'
# vifs attached to it again; rmmod in the driver domain. Run with --backend c for the
# reference outcome.
NBT_DRVDOM=1
backend_load "$NBT_BACKEND"
dd=$(xl domid drvdom)
domu_create 1; domu_create 2
for i in 1 2; do domu_wait_ping $i 150 || nbt_die "client $i never came up through the driver domain"; done

# The clients' vifs live in the driver domain, served by the backend under test; not in dom0.
vif1=$(vif_name 1)
drv=$(host_run drvdom "ethtool -i $vif1" | awk '/^driver:/ {print $2}')
nbt_result test=vif_driver backend="$NBT_CURRENT_BACKEND" value="${drv:-none}" unit=name host=drvdom
[ -n "$drv" ] || nbt_fail "$vif1 is not in the driver domain"
[ -e "/sys/class/net/$vif1" ] && nbt_fail "$vif1 is in dom0: the vif line's backend=drvdom was not followed"
backend_dir=$(xenstore-read "/local/domain/$(xl domid domu1)/device/vif/$(vif_devid 1)/backend")
case "$backend_dir" in "/local/domain/$dd/backend/vif/"*) ;; *) nbt_fail "domu1's vif backend is $backend_dir, not in domain $dd";; esac

ping_from() {  # ping_from HOST ADDRESS: three pings answered
    host_run "$1" "ping -c 3 -W 2 $2 >/dev/null" || { nbt_fail "ping $1 -> $2 failed"; return 1; }
}
ping_from 1 "$(domu_ip 2)"; ping_from 2 "$(domu_ip 1)"
ping_from 1 "$NBT_DRVDOM_IP"; ping_from drvdom "$(domu_ip 2)"
measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2
measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2
measure tcp_stream drvdom "$(domu_ip 1)" TCP_STREAM dir=drvdom-domu1
measure tcp_maerts drvdom "$(domu_ip 1)" TCP_MAERTS dir=domu1-drvdom

# Detach and attach a client's vif: the driver domain's netdev goes and comes back, and the
# driver domain holds no more of the client's grants than before.
vif=$(vif_name 1); vif_detach 1; vif_wait_gone "$vif"; vif_attach 1; domu_wait_ping 1 60
grants0=$(nbt_grants_held_by "$dd")
for c in 1 2 3; do
    vif=$(vif_name 1)
    vif_detach 1 && vif_wait_gone "$vif" || break
    vif_attach 1 && domu_wait_ping 1 60 || break
done
grants1=$(nbt_grants_held_by "$dd")
nbt_result test=grants_held_growth backend="$NBT_CURRENT_BACKEND" value=$((grants1 - grants0)) unit=grants before="$grants0" after="$grants1" host=drvdom
[ "$grants1" = "$grants0" ] || nbt_fail "grants held by the driver domain went from $grants0 to $grants1 over 3 detach/attach cycles"

# A client destroyed while the driver domain streams to it: its vif goes, no domain is left
# dying (a grant the driver domain kept mapped would keep it), the other client is unharmed.
vif2=$(vif_name 2)
host_run drvdom "timeout 40 netperf -H $(domu_ip 2) -t TCP_STREAM -l 20 >/dev/null 2>&1" &
np=$!
sleep 3
xl destroy domu2 || nbt_fail "xl destroy domu2 failed"
wait $np
vif_wait_gone "$vif2"
sleep 2
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after destroying a client: $(xl list | tail -n +3)"
ping_from 1 "$NBT_DRVDOM_IP"
nbt_result test=client_destroyed_mid_stream backend="$NBT_CURRENT_BACKEND" value=ok unit=status
domu_create 2; domu_wait_ping 2 150 || nbt_fail "client 2 did not come back"
host_kernel_log_clean drvdom

# The driver domain destroyed while client 1 streams to client 2: both lose their network,
# nothing hangs or oopses in dom0 or in them, and nothing is left dying. (Only the clients'
# kernel log from here on: stock netfront 7.2 warns in xennet_disconnect_backend on any vif
# detach, with either backend in dom0 too; docs/driver-domain.md.)
from1=$(($(guest_console_lines 1) + 1)); from2=$(($(guest_console_lines 2) + 1))
domu_exec 1 "timeout 25 netperf -H $(domu_ip 2) -t TCP_STREAM -l 20 >/dev/null 2>&1" >/dev/null 2>&1 &
np=$!
sleep 4
nbt_stamp "xl destroy drvdom (domid $dd) while clients stream"
xl destroy drvdom || nbt_fail "xl destroy drvdom failed"
kill $np 2>/dev/null; wait $np 2>/dev/null
for _ in $(seq 1 30); do [ "$(nbt_dying_domains)" = 0 ] && break; sleep 1; done
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after destroying the driver domain: $(xl list | tail -n +3)"
for i in 1 2; do
    xl list "domu$i" >/dev/null 2>&1 || nbt_fail "client $i is gone after its driver domain was destroyed"
done
sleep 5  # for a hang or an oops to show on the clients' consoles
host_kernel_log_clean 1 "$from1"; host_kernel_log_clean 2 "$from2"
nbt_result test=driver_domain_destroyed_mid_stream backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# Start the driver domain again and give the clients their vifs back.
NBT_CURRENT_BACKEND=""
backend_load "$NBT_BACKEND"
dd=$(xl domid drvdom)
for i in 1 2; do
    # The old vif's backend died with the driver domain: the toolstack removes the leftover.
    d=$(vif_devid $i)
    [ -n "$d" ] && { timeout 60 xl network-detach "domu$i" "$d" || nbt_fail "xl network-detach domu$i $d (dead backend) failed"; }
    vif_attach $i
done
for i in 1 2; do domu_wait_ping $i 120 || nbt_fail "client $i unreachable after the driver domain came back"; done
# Client 1's shell still runs the netperf of the killed domu_exec above (its stream died with
# the driver domain) until its timeout: the command channel takes the next command after.
host_wait_channel 1 60
ping_from 1 "$(domu_ip 2)"
measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2 phase=after-restart
nbt_result test=driver_domain_restarted backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# The clients go away; the driver domain holds none of their grants; rmmod there.
vifs="$(vif_name 1) $(vif_name 2)"
xl destroy domu1; xl destroy domu2
for v in $vifs; do vif_wait_gone "$v"; done
sleep 2
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying with no clients: $(xl list | tail -n +3)"
g=$(nbt_grants_held_by "$dd")
nbt_result test=grants_held_without_clients backend="$NBT_CURRENT_BACKEND" value="$g" unit=grants host=drvdom
[ "$g" = 0 ] || nbt_fail "the driver domain still holds $g guest grants with no clients"
backend_unload "$NBT_CURRENT_BACKEND" && nbt_result test=rmmod_in_driver_domain backend="$NBT_CURRENT_BACKEND" value=ok unit=status
host_kernel_log_clean drvdom

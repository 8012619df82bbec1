# SR-IOV VF steering (run.sh --sriov: QEMU's igb, an 82576 with SR-IOV): two guests' vifs
# bound to VF0 and VF1 of the PF (sysfs netback/vf), so the NIC's switch carries their
# traffic instead of dom0's bridge; dom0 reaches them through the PF (a port of xenbr0).
# Checks: guest<->guest and guest<->dom0 traffic on the VF path (the driver's vf_tx_packets
# and the VF's own counters; dom0's bridge packets recorded), a spoofed source MAC dropped and counted, bad and busy binds refused
# with the vif left on the bridge, unbind back to the bridge, detach/attach and destroy give
# the VF back (it can be bound again), the VF removed while bound (sriov_numvfs 0), rmmod.
backend_load "$NBT_BACKEND"
sriov_setup 2 || nbt_die "no SR-IOV NIC with 2 VFs (run.sh --sriov?)"
pf=$NBT_PF vf0=${NBT_VFS[0]} vf1=${NBT_VFS[1]}

domu_create 1; domu_create 2
for i in 1 2; do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done

sysvf() { echo "/sys/class/net/$(vif_name "$1")/netback/vf"; }
dev_packets() { echo $(($(cat /sys/class/net/$1/statistics/rx_packets) + $(cat /sys/class/net/$1/statistics/tx_packets))); }

# A name that is no VF, a missing one, a bridged one: refused, the vif stays on the bridge.
for bad in lo nosuchdev0 xenbr0 "$pf"; do
    if echo "$bad" > "$(sysvf 1)" 2>/dev/null; then nbt_fail "binding '$bad' (not a free VF) was accepted"; fi
done
[ "$(cat "$(sysvf 1)")" = none ] || nbt_fail "a refused bind left vf = $(cat "$(sysvf 1)")"
ping -c 2 -W 2 "$(domu_ip 1)" >/dev/null || nbt_fail "guest 1 unreachable after refused binds"
nbt_result test=bad_binds_refused backend="$NBT_CURRENT_BACKEND" value=ok unit=status

vif_vf_bind 1 "$vf0"; vif_vf_bind 2 "$vf1"
state=$(cat "$(sysvf 1)")
nbt_result test=vf_state backend="$NBT_CURRENT_BACKEND" value="${state// /_}" unit=text
[ "$state" = "$vf0 pf $pf index 0 vlan 0 max_tx_rate 0" ] || nbt_fail "vf of $(vif_name 1) reads '$state'"
# The VF is now busy: a second vif cannot take it.
echo "$vf0" > "$(sysvf 2)" 2>/dev/null && nbt_fail "a VF bound to one vif was bound to another"
for i in 1 2; do domu_wait_ping $i 30 || nbt_fail "guest $i unreachable on the VF path"; done
v1=$(vif_name 1); v2=$(vif_name 2)
pf_rx() { cat "/sys/class/net/$pf/statistics/rx_packets"; }
vfp=$(dev_packets "$vf0"); pf0=$(pf_rx)
host_run 1 "ping -c 3 -W 2 $(domu_ip 2) >/dev/null" || nbt_fail "guest 1 -> guest 2 ping failed on the VF path"
measure tcp_stream 1 "$(domu_ip 2)" TCP_STREAM dir=domu1-domu2 path=vf
measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2 path=vf
# Guest<->guest traffic stays in the NIC's switch: dom0's bridge (whose port to the NIC is
# the PF) takes in a few frames at most (broadcasts: ARP, IPv6 neighbour discovery), not the
# thousands the guests exchanged.
gg_vf=$(($(dev_packets "$vf0") - vfp)); gg_bridge=$(($(pf_rx) - pf0))
nbt_result test=bridge_frames_during_guest_to_guest backend="$NBT_CURRENT_BACKEND" value="$gg_bridge" unit=packets vf_packets="$gg_vf" port="$pf"
[ "$gg_vf" -gt 1000 ] && [ "$gg_bridge" -lt $((gg_vf / 100 + 50)) ] \
    || nbt_fail "guest<->guest on the VF path: the bridge port $pf took in $gg_bridge frames while $vf0 moved $gg_vf"
br0=$(dev_packets xenbr0)
measure tcp_stream dom0 "$(domu_ip 1)" TCP_STREAM dir=dom0-domu1 path=vf
measure tcp_maerts dom0 "$(domu_ip 1)" TCP_MAERTS dir=domu1-dom0 path=vf
sent=$(ethtool_stat "$v1" vf_tx_packets)
nbt_result test=vf_tx_packets backend="$NBT_CURRENT_BACKEND" value="${sent:-0}" unit=packets vif="$v1"
[ "${sent:-0}" -gt 1000 ] || nbt_fail "$v1 sent ${sent:-0} guest frames out of its VF"
vf_moved=$(($(dev_packets "$vf0") - vfp))
# The VF's own counters: the traffic of all four tests went through the NIC.
nbt_result test=vf_netdev_packets backend="$NBT_CURRENT_BACKEND" value="$vf_moved" unit=packets vf="$vf0"
[ "$vf_moved" -gt 1000 ] || nbt_fail "$vf0 moved only $vf_moved packets during the tests"
# dom0<->guest does cross dom0's bridge (through the PF port).
nbt_result test=bridge_packets_during_dom0_tests backend="$NBT_CURRENT_BACKEND" value=$(($(dev_packets xenbr0) - br0)) unit=packets

# A spoofed source MAC from guest 1 is dropped and counted.
spoof0=$(ethtool_stat "$v1" vf_tx_spoofed)
# (netfront changes its MAC only while down.)
setmac="ip link set eth0 down; ip link set eth0 address"
host_run 1 "$setmac 00:16:3e:00:00:99; ip link set eth0 up; sleep 1; ping -c 5 -W 1 $(domu_ip 2) >/dev/null; $setmac $(domu_mac 1); ip link set eth0 up" >/dev/null
spoof1=$(ethtool_stat "$v1" vf_tx_spoofed)
nbt_result test=vf_tx_spoofed backend="$NBT_CURRENT_BACKEND" value=$((spoof1 - spoof0)) unit=packets
[ $((spoof1 - spoof0)) -ge 5 ] || nbt_fail "spoofed frames from guest 1 not dropped: vf_tx_spoofed went $spoof0 -> $spoof1"
domu_wait_ping 1 30 || nbt_fail "guest 1 unreachable after its MAC was restored"

# The vif's rate (xenstore, live) is also the VF's transmit limit at the PF: 100 Mbit/s.
be1=$(xenstore-read "/local/domain/$(xl domid domu1)/device/vif/$(vif_devid 1)/backend")
pf_vf() { ip link show "$pf" | awk -v n="$1" '$1 == "vf" && $2 == n'; }  # the PF's view of VF N
xenstore-write "$be1/rate" "625000,50000"
sleep 1
state=$(cat "$(sysvf 1)")
nbt_result test=vf_rate_from_vif_rate backend="$NBT_CURRENT_BACKEND" value="${state##* }" unit=Mbit/s pf_view="$(pf_vf 0 | grep -o 'max_tx_rate [0-9]*Mbps' | tr ' ' _)"
[ "${state##* }" = 100 ] || nbt_fail "rate 625000,50000 gave the VF max_tx_rate '${state##* }', not 100"
pf_vf 0 | grep -q "max_tx_rate 100Mbps" || nbt_fail "the PF does not show VF 0 limited to 100 Mbit/s: $(pf_vf 0)"
xenstore-rm "$be1/rate"
sleep 1
[ "$(cat "$(sysvf 1)")" = "$vf0 pf $pf index 0 vlan 0 max_tx_rate 0" ] || nbt_fail "rate removed, vf reads '$(cat "$(sysvf 1)")'"

# A port VLAN ("VF vlan N"): the PF tags the VF's traffic; unbinding restores the VF's own.
echo "$vf1 vlan 4095" > "$(sysvf 2)" 2>/dev/null && nbt_fail "VLAN 4095 was accepted"
echo none > "$(sysvf 2)"
echo "$vf1 vlan 10" > "$(sysvf 2)" || nbt_fail "binding $vf1 with VLAN 10 failed"
state=$(cat "$(sysvf 2)")
nbt_result test=vf_vlan backend="$NBT_CURRENT_BACKEND" value="${state// /_}" unit=text pf_view="$(pf_vf 1 | grep -o 'vlan [0-9]*' | tr ' ' _)"
[ "$state" = "$vf1 pf $pf index 1 vlan 10 max_tx_rate 0" ] || nbt_fail "vf of $(vif_name 2) with VLAN 10 reads '$state'"
pf_vf 1 | grep -q "vlan 10" || nbt_fail "the PF does not show VF 1 in VLAN 10: $(pf_vf 1)"
echo none > "$(sysvf 2)"
pf_vf 1 | grep -q "vlan 10" && nbt_fail "VF 1 kept VLAN 10 after unbind: $(pf_vf 1)"
echo "$vf1" > "$(sysvf 2)" || nbt_fail "binding $vf1 again without VLAN failed"
domu_wait_ping 2 30 || nbt_fail "guest 2 unreachable after the VLAN rebinds"

# Unbind guest 2: back on the bridge, reachable; bind it again.
vif_vf_unbind 2
[ "$(cat "$(sysvf 2)")" = none ] || nbt_fail "vf of $v2 still reads '$(cat "$(sysvf 2)")' after unbind"
domu_wait_ping 2 30 || nbt_fail "guest 2 unreachable on the bridge after unbind"
vif_vf_bind 2 "$vf1" || nbt_fail "VF $vf1 could not be bound again after unbind"
domu_wait_ping 2 30 || nbt_fail "guest 2 unreachable after binding again"

# Detach guest 1's vif while bound: the VF comes back and binds to the new vif.
vif_detach 1 && vif_wait_gone "$v1"
vif_attach 1 && domu_wait_ping 1 60
vif_vf_bind 1 "$vf0" || nbt_fail "VF $vf0 was not given back when its vif was detached"
domu_wait_ping 1 30 || nbt_fail "guest 1 unreachable on its VF after re-attach"
nbt_result test=vf_returned_on_detach backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# The VFs removed while bound: the vifs let go (logged), back to the bridge.
v1=$(vif_name 1)
echo 0 > "/sys/class/net/$pf/device/sriov_numvfs" || nbt_fail "sriov_numvfs 0 failed with VFs bound"
[ "$(cat "$(sysvf 1)")" = none ] || nbt_fail "$v1 still bound after its VF went away"
dmesg | grep -q "VF .* is going away" || nbt_fail "no log line about the VF going away"
for i in 1 2; do ip link set "$(vif_name $i)" master xenbr0; done
for i in 1 2; do domu_wait_ping $i 30 || nbt_fail "guest $i unreachable on the bridge after VF removal"; done
# Binding with no VFs: refused, nothing changes.
echo "$vf0" > "$(sysvf 1)" 2>/dev/null && nbt_fail "binding a removed VF was accepted"
nbt_result test=vf_removed_while_bound backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# The hotplug script (sriov/vif-sriov: script=vif-sriov,bridge=PF on the vif line): with no
# VF it falls back to the bridge the PF is on.
hot_attach() {
    xl network-attach "domu$1" "mac=$(domu_mac $1)" script=vif-sriov "bridge=$pf" || nbt_fail "xl network-attach script=vif-sriov for domu$1 failed"
}
vif_detach 1 && vif_wait_gone "$v1"
hot_attach 1
domu_wait_ping 1 60 || nbt_fail "guest 1 unreachable after vif-sriov fell back to the bridge"
v1=$(vif_name 1)
[ "$(cat "$(sysvf 1)")" = none ] || nbt_fail "vif-sriov bound $v1 although no VF exists"
[ "$(basename "$(readlink -f /sys/class/net/$v1/master)")" = xenbr0 ] || nbt_fail "vif-sriov did not put $v1 on xenbr0 (the PF's bridge)"
nbt_result test=hotplug_falls_back_to_bridge backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# VFs again: the script binds the first free one.
echo 2 > "/sys/class/net/$pf/device/sriov_numvfs" || nbt_fail "cannot create the VFs again"
vf0=$(sriov_vf_dev 0) && vf1=$(sriov_vf_dev 1) || nbt_fail "no VF net_devices the second time"
vif_detach 1 && vif_wait_gone "$v1"
hot_attach 1
domu_wait_ping 1 60 || nbt_fail "guest 1 unreachable on the VF vif-sriov bound"
v1=$(vif_name 1)
state=$(cat "$(sysvf 1)")
nbt_result test=hotplug_binds_vf backend="$NBT_CURRENT_BACKEND" value="${state// /_}" unit=text
[ "$state" = "$vf0 pf $pf index 0 vlan 0 max_tx_rate 0" ] || nbt_fail "vif-sriov left $v1 with vf '$state'"
[ -e "/sys/class/net/$v1/master" ] && nbt_fail "vif-sriov bound a VF and still bridged $v1"
# bridge=PF.VLAN: the script binds a free VF in that port VLAN. (Guest 2 is then in VLAN 20
# and guest 1 in none: no traffic between them is expected.)
v2=$(vif_name 2)
vif_detach 2 && vif_wait_gone "$v2"
xl network-attach domu2 "mac=$(domu_mac 2)" script=vif-sriov "bridge=$pf.20" || nbt_fail "xl network-attach script=vif-sriov bridge=$pf.20 failed"
state=$(cat "$(sysvf 2)")
nbt_result test=hotplug_binds_vf_in_vlan backend="$NBT_CURRENT_BACKEND" value="${state// /_}" unit=text
[ "$state" = "$vf1 pf $pf index 1 vlan 20 max_tx_rate 0" ] || nbt_fail "vif-sriov with bridge=$pf.20 left vf '$state'"

# A guest destroyed and the module removed while bound: the VFs are free (a bridge can
# take them).
v2=$(vif_name 2)
xl destroy domu2; vif_wait_gone "$v2"
xl destroy domu1; vif_wait_gone "$v1"
backend_unload "$NBT_CURRENT_BACKEND"
ip link add nbt-vftest type bridge
for v in "$vf0" "$vf1"; do ip link set "$v" master nbt-vftest || nbt_fail "$v still taken after destroy/rmmod"; done
ip link del nbt-vftest
nbt_result test=vf_free_after_destroy_and_rmmod backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# Diagnostics: throughput/latency with 1 then 2 guests, interrupt and CPU use.
backend_load "$NBT_BACKEND"
domu_create 1
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
ip1=$(domu_ip 1)
snap() { echo "DIAG[$1]: $(grep -E 'vif' /proc/interrupts | awk '{s=""; for(i=2;i<=3;i++) s=s" "$i; print $NF s}' | tr '\n' ';')"; }
snap a0
measure tcp_stream dom0 "$ip1" TCP_STREAM dir=dom0-domu1 phase=1guest
measure tcp_rr dom0 "$ip1" TCP_RR dir=dom0-domu1 phase=1guest
snap a1
domu_create 2
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
snap b0
sleep 5
snap b1
top -b -n 1 | head -20 | sed 's/^/DIAG-TOP: /'
measure tcp_stream dom0 "$ip1" TCP_STREAM dir=dom0-domu1 phase=2guests
measure tcp_rr dom0 "$ip1" TCP_RR dir=dom0-domu1 phase=2guests
snap b2
( sleep 2; top -b -n 1 | head -20 | sed 's/^/DIAG-TOP2: /' ) &
measure tcp_rr 1 "$(domu_ip 2)" TCP_RR dir=domu1-domu2 phase=2guests
snap b3
dmesg | grep -i "xen_netback_rs\|vif" | tail -20 | sed 's/^/DIAG-DMESG: /'

# Offload toggles on the vif (dom0 -> guest direction) and ethtool -S.
backend_load "$NBT_BACKEND"
domu_create 1
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
ip1=$(domu_ip 1); v=$(vif_name 1)
measure tcp_stream_default dom0 "$ip1" TCP_STREAM dir=dom0-domu1
ethtool -S $v | sed "s/^/OFF: /"
measure tcp_stream_after_ethtool_s dom0 "$ip1" TCP_STREAM dir=dom0-domu1
ethtool -K $v tso off gso off >/dev/null 2>&1 || nbt_fail "tso off"
measure tcp_stream_notso dom0 "$ip1" TCP_STREAM dir=dom0-domu1
ethtool -K $v tx off >/dev/null 2>&1 || nbt_fail "tx csum off"
measure tcp_stream_nocsum dom0 "$ip1" TCP_STREAM dir=dom0-domu1
ethtool -K $v sg off >/dev/null 2>&1 || nbt_fail "sg off"
# As xen-netback: the MTU limit follows the frontend's feature-sg, not the
# netdev's current SG feature.
measure tcp_stream_nosg dom0 "$ip1" TCP_STREAM dir=dom0-domu1
ethtool -K $v sg on tx on tso on gso on >/dev/null 2>&1
measure tcp_maerts dom0 "$ip1" TCP_MAERTS dir=domu1-dom0
ethtool -k $v | grep -E '^(scatter-gather|tcp-segmentation-offload|tx-checksumming):' | sed "s/^/OFF: /"
ethtool -S $v | sed "s/^/OFF: /"

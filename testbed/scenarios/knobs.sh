# Per-VIF knobs on one guest: the xenstore `rate` limit applied live to guest TX.
# Reference (--backend c): the same limits hold; a bad value makes xen-netback
# unlimited ("abc") or nearly stall the VIF ("1,0"), where netback-rs refuses it and
# keeps the limit in effect.
backend_load "$NBT_BACKEND"
domu_create 1
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
v=$(vif_name 1); ip1=$(domu_ip 1); domid=$(xl domid domu1)
be=/local/domain/0/backend/vif/$domid/$(vif_devid 1)
rs() { [ "$NBT_CURRENT_BACKEND" = rs ]; }

# ---- rate: guest TX (domU -> dom0) throughput, measured on the vif's rx_bytes ----
LIMIT_BYTES=625000 LIMIT_USEC=50000                    # 12.5 MB per s = 100 Mbit/s
LIMIT_MBIT=$((LIMIT_BYTES * 8 / LIMIT_USEC))
rx_bytes() { cat /sys/class/net/$v/statistics/rx_bytes; }
# window_mbit SECONDS: guest TX rate over the next SECONDS, in Mbit/s (frames incl. headers).
window_mbit() { local a b; a=$(rx_bytes); sleep "$1"; b=$(rx_bytes); echo $(( (b - a) * 8 / $1 / 1000000 )); }
# in_range VALUE LO_PERCENT HI_PERCENT: VALUE within LO..HI percent of the limit.
in_range() { [ $(($1 * 100)) -ge $((LIMIT_MBIT * $2)) ] && [ $(($1 * 100)) -le $((LIMIT_MBIT * $3)) ]; }
rate_step() {  # rate_step NAME: let the change settle, measure, record
    sleep 2; local m; m=$(window_mbit 5)
    nbt_result test="rate_$1" backend="$NBT_CURRENT_BACKEND" value="$m" unit=Mbit/s limit_mbit=$LIMIT_MBIT >&2
    echo "$m"
}
xenstore-rm $be/rate 2>/dev/null
# One stream from the guest across all steps: each change applies live.
timeout 120 netperf -H "$ip1" -t TCP_MAERTS -l 75 -P 0 >/tmp/maerts.out 2>&1 &
np=$!
sleep 3
unl=$(rate_step unlimited)
[ "$unl" -ge $((LIMIT_MBIT * 2)) ] || nbt_fail "unlimited guest TX ($unl Mbit/s) is not even twice the test limit: the rate test cannot tell them apart"
xenstore-write $be/rate "$LIMIT_BYTES,$LIMIT_USEC"
lim=$(rate_step limited)
in_range "$lim" 50 130 || nbt_fail "with rate $LIMIT_BYTES,$LIMIT_USEC ($LIMIT_MBIT Mbit/s) guest TX ran at $lim Mbit/s"
for bad in abc 1,0; do
    xenstore-write $be/rate "$bad"
    m=$(rate_step "bad_${bad/,/_}")
    if rs; then
        in_range "$m" 50 130 || nbt_fail "after the bad rate '$bad' guest TX ran at $m Mbit/s, not at the $LIMIT_MBIT Mbit/s limit still in effect"
        dmesg | grep -q "$v: refusing xenstore rate \"$bad\"" || nbt_fail "no log line refusing the bad rate '$bad'"
    fi
    xenstore-write $be/rate "$LIMIT_BYTES,$LIMIT_USEC"
done
xenstore-rm $be/rate
free=$(rate_step removed)
[ "$free" -ge $((LIMIT_MBIT * 2)) ] || nbt_fail "after removing the rate key guest TX ran at $free Mbit/s, not well above the old $LIMIT_MBIT Mbit/s limit"
kill $np 2>/dev/null
# A fresh stream after the limit is gone: no leftover throttling.
measure tcp_maerts_after_limit dom0 "$ip1" TCP_MAERTS dir=domu1-dom0
rs && dmesg | grep "$v: guest TX rate limit" | sed 's/^/rate log: /'

# Staging grants (Xen's io/netif.h control requests 8-10: GET_GREF_MAPPING_SIZE,
# ADD_GREF_MAPPING, DEL_GREF_MAPPING): testbed/evilfront's `staging` and `staging-hostile`
# attacks in guest 1 on a second vif (one queue and a control ring), served by the backend
# under test, while dom0 sends pattern frames into that vif. On rs: the size GET answers is
# the module parameter staging_grants_per_queue, ADD/DEL answer as the spec says, TX from
# and RX into staged pages work and show in the vif's ethtool -S (rx/tx_staging_hits,
# staging_mapped read while evilfront holds the connection), bad lists are refused with the
# exact status, a DEL during TX costs no frame, and the entries left mapped are gone once
# the frontend closes; `staging-lent` (tx_zerocopy=staged: staged pages lent, nothing
# mapped): a DEL while dom0's stack holds the staged pages as lent frags answers "in use"
# for them, and they go once given back; then
# `staging` with staging_grants_per_queue = 8 (size 8) and 0 (staging off: NOT_SUPPORTED). On c (no staging): every staging request is answered
# NOT_SUPPORTED and traffic still works. Always: the vif detaches, dom0 holds no extra grant
# mapping, guest 2 and guest 1's own vif still ping (and guest 2 passes a short netperf),
# dom0's log has no WARNING/BUG/Oops. docs/hostile-frontend.md ("Staging grants").
# Needs 2 guests: testbed/run.sh --backend rs --scenario staging --domus 2
[ "$NBT_NDOM" -ge 2 ] || nbt_die "staging needs --domus 2"
[ "${NBT_DRVDOM:-0}" = 1 ] && nbt_die "staging runs the backend in dom0 (no --driver-domain)"
NBT_DOMU_TOOLS=1
HOLD=5
PARAMS=/sys/module/xen_netback_rs/parameters
backend_load "$NBT_BACKEND"
case "$NBT_CURRENT_BACKEND" in c) RS=0;; *) RS=1;; esac
if [ $RS = 1 ]; then
    [ -f $PARAMS/staging_grants_per_queue ] && [ -f $PARAMS/staging_grants_max ] \
        || nbt_die "xen_netback_rs has no staging_grants_per_queue / staging_grants_max parameters"
    PER_QUEUE0=$(cat $PARAMS/staging_grants_per_queue)
    nbt_stamp "staging_grants_per_queue=$PER_QUEUE0 staging_grants_max=$(cat $PARAMS/staging_grants_max)"
fi
evil_guests_up staging-hostile
# dom0's pattern frames into the vif (what evilfront receives into staged pages): 200
# bytes to ff:ff:ff:ff:ff:ff from the bridge's MAC, ethertype 0x88b5, payload 0xa5, every
# 2 ms until stopped (errors while the vif is down are counted and waited out).
cat > /tmp/nbt-staging-send.py <<'PY'
import os, socket, sys, time
ifname, stop, src = sys.argv[1], sys.argv[2], sys.argv[3]
frame = b"\xff" * 6 + bytes.fromhex(src.replace(":", "")) + b"\x88\xb5" + b"\xa5" * 186
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
end, sent, errors = time.time() + 180, 0, 0
while time.time() < end and not os.path.exists(stop):
    try:
        s.send(frame); sent += 1
    except OSError:
        errors += 1; time.sleep(0.05)
    time.sleep(0.002)
print("sent=%d errors=%d" % (sent, errors))
PY
# dom0's frames to one MAC through the bridge, back to back: COUNT 1000-byte frames. Never
# blocks (the frames a paused guest's vif holds count against the socket's send buffer).
cat > /tmp/nbt-staging-fill.py <<'PY'
import socket, sys
ifname, dst, src, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
frame = bytes.fromhex(dst.replace(":", "") + src.replace(":", "")) + b"\x88\xb5" + b"\x5a" * 986
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)  # SO_SNDBUFFORCE
s.bind((ifname, 0))
sent = errors = 0
for _ in range(count):
    try:
        s.send(frame, socket.MSG_DONTWAIT); sent += 1
    except OSError:
        errors += 1
print("fill sent=%d errors=%d" % (sent, errors))
PY
sender_start() {
    rm -f /tmp/staging-send.stop /tmp/staging-send.out
    python3 /tmp/nbt-staging-send.py "$1" /tmp/staging-send.stop "$BR_MAC" > /tmp/staging-send.out 2>&1 &
    SENDER=$!
}
sender_stop() {  # prints "sent=N errors=N"
    touch /tmp/staging-send.stop
    for _ in $(seq 1 50); do kill -0 "$SENDER" 2>/dev/null || break; sleep 0.1; done
    cat /tmp/staging-send.out
}

# ---- checks: LABEL and LINE (the run's EVIL-RESULT line), HELD (its vif's ethtool -S while
# evilfront held the connection); a failed check sets ERRS ----
check() {  # check WHAT GOT WANT
    [ "$2" = "$3" ] && return 0
    nbt_fail "$LABEL: expected $1 = $3, saw ${2:-nothing}"; ERRS=1; return 1
}
want() { check "$1" "$(evil_value "$1" "$LINE")" "$2"; }  # want KEY VALUE
want_gt() {  # want_gt KEY MIN
    local got; got=$(evil_value "$1" "$LINE")
    [ "$got" -gt "$2" ] 2>/dev/null && return 0
    nbt_fail "$LABEL: expected $1 > $2, saw ${got:-nothing}"; ERRS=1; return 1
}
want_same() {  # want_same KEY OTHER: both present and equal
    local a b; a=$(evil_value "$1" "$LINE"); b=$(evil_value "$2" "$LINE")
    [ -n "$a" ] && [ "$a" = "$b" ] && return 0
    nbt_fail "$LABEL: expected $1 = $2, saw $1=${a:-nothing} $2=${b:-nothing}"; ERRS=1; return 1
}
want_sum() {  # want_sum KEY1 KEY2 TOTAL
    local a b; a=$(evil_value "$1" "$LINE"); b=$(evil_value "$2" "$LINE")
    [ "$((${a:-0} + ${b:-0}))" = "$3" ] 2>/dev/null && [ -n "$a" ] && return 0
    nbt_fail "$LABEL: expected $1 + $2 = $3, saw $1=${a:-nothing} $2=${b:-nothing}"; ERRS=1; return 1
}
held() { echo "$HELD" | awk -v n="$1:" '$1 == n {print $2; exit}'; }
held_ge() {  # held_ge COUNTER MIN: the vif's counter while held is at least MIN (and > 0)
    local got; got=$(held "$1")
    [ "$got" -ge "$2" ] 2>/dev/null && [ "$got" -gt 0 ] && return 0
    nbt_fail "$LABEL: expected ethtool -S $1 >= $2 and > 0 while evilfront held the vif, saw ${got:-nothing}"; ERRS=1; return 1
}

# run_one ATTACK LABEL: ATTACK on a fresh vif of guest 1 (its frames to DST_MAC, the
# bridge's by default; AFTER_START, when set, is run once evilfront started). Sets LINE, HELD, MAPPED_AFTER
# (staging_mapped once evilfront closed, before the detach), HELD_PATH (its sysfs
# guest_tx_data_path while held) and ERRS; then detaches and runs
# the checks every run gets. Fails only when no vif could be attached. The caller then
# checks the attack's keys and calls finish_one.
run_one() {
    local attack=$1 devid vif mark out bad sent t0
    LABEL=$2 LINE="" HELD="" HELD_PATH="" MAPPED_AFTER="" GRANTS="" ERRS=0
    xenstore-rm /local/domain/0/error/backend/vif/$DOMID1 2>/dev/null
    devid=$(evil_attach) || { nbt_fail "$LABEL: xl network-attach of a vif for evilfront failed"; ERRS=1; return 1; }
    vif=vif$DOMID1.$devid; mark=$(dmesg | wc -l)
    nbt_stamp "$LABEL: $attack on $vif (devid $devid)"
    sender_start "$vif"
    guest_start "$LABEL" "--handle $devid --attack $attack --hold $HOLD --seconds 20 --dst-mac ${DST_MAC:-$BR_MAC}"
    [ -z "$AFTER_START" ] || $AFTER_START
    guest_wait_line "$LABEL" 'EVIL-PHASE hold\|EVIL-RESULT' 150 \
        || { nbt_fail "$LABEL: evilfront never reached its hold phase"; ERRS=1; }
    HELD=$(ethtool -S "$vif" 2>/dev/null)
    HELD_PATH=$(cat /sys/class/net/"$vif"/netback/guest_tx_data_path 2>/dev/null)
    guest_wait_line "$LABEL" 'EVIL-RESULT' 60 || { nbt_fail "$LABEL: evilfront did not finish"; ERRS=1; }
    out=$(guest_output "$LABEL")
    echo "$out" | sed "s/^/[evilfront $LABEL] /"
    LINE=$(echo "$out" | grep '^EVIL-RESULT' | tail -n1)
    # Closed with entries mapped: the backend unmaps them on the disconnect.
    for _ in $(seq 1 25); do
        MAPPED_AFTER=$(ethtool_stat "$vif" staging_mapped 2>/dev/null)
        [ "${MAPPED_AFTER:-0}" = 0 ] && break
        sleep 0.2
    done
    sent=$(sender_stop)
    nbt_stamp "$LABEL: dom0's pattern frames: $sent; held: $(echo "$HELD" | grep -E 'staging' | tr -s ' \n' ' ')"
    [ -n "$(evil_value error "$LINE")" ] && { nbt_fail "$LABEL: evilfront error: $(evil_value error "$LINE")"; ERRS=1; }
    want connected 1
    want ctrl_timeouts 0
    want ctrl_mismatched 0
    ping -c 2 -W 2 "$IP1" >/dev/null || { nbt_fail "$LABEL: guest 1 (own vif) stopped answering ping"; ERRS=1; }
    ping -c 2 -W 2 "$IP2" >/dev/null || { nbt_fail "$LABEL: guest 2 stopped answering ping"; ERRS=1; }
    netperf_run dom0 "$IP2" TCP_STREAM 2 >/dev/null || { nbt_fail "$LABEL: TCP_STREAM dom0 -> guest 2 failed"; ERRS=1; }
    t0=$(cut -d. -f1 /proc/uptime)
    timeout 60 xl network-detach domu1 "$devid" || { nbt_fail "$LABEL: xl network-detach failed"; ERRS=1; }
    vif_wait_gone "$vif" || ERRS=1
    DETACH_S=$(( $(cut -d. -f1 /proc/uptime) - t0 ))
    GRANTS=$(settled_grants "$GRANTS0")
    [ "$GRANTS" = "$GRANTS0" ] || { nbt_fail "$LABEL: dom0 holds $GRANTS guest grant mappings after the detach, $GRANTS0 before"; ERRS=1; }
    bad=$(dmesg | tail -n +$((mark + 1)) | grep -E "$NBT_BAD_KERNEL_LINE" | head -n 3 | tr '\n' '|')
    [ -z "$bad" ] || { nbt_fail "$LABEL: dom0's kernel log: $bad"; ERRS=1; }
    return 0
}
finish_one() {
    local outcome=pass; [ "$ERRS" = 0 ] || outcome=fail
    nbt_result test="staging_$LABEL" backend="$NBT_CURRENT_BACKEND" value=$outcome unit=outcome \
        rx_staging_hits="$(held rx_staging_hits)" rx_staging_misses="$(held rx_staging_misses)" \
        tx_staging_hits="$(held tx_staging_hits)" tx_staging_misses="$(held tx_staging_misses)" \
        staging_mapped_held="$(held staging_mapped)" staging_mapped_after_close="${MAPPED_AFTER:-none}" \
        rx_packets="$(held rx_queue_0_packets)" rx_copy_ops="$(held rx_queue_0_copy_ops)" \
        rx_copy_batches="$(held rx_queue_0_copy_batches)" tx_packets="$(held tx_queue_0_packets)" \
        tx_copy_ops="$(held tx_queue_0_copy_ops)" tx_copy_batches="$(held tx_queue_0_copy_batches)" \
        detach_s="$DETACH_S" grants_after="$GRANTS" evil="$(echo "${LINE#EVIL-RESULT }" | sed 's/attack=[^ ]* //')"
}

# staging on a backend that has staging, GET's size being SIZE.
check_staging() {
    local size=$1 n half
    n=$((size < 64 ? size : 64)); half=$((n / 2))
    want get_status 0; want supported 1; want size "$size"; want add_status 0
    want_gt tx_sent 0; want_same tx_ok tx_sent; want tx_err 0
    want_gt rx_frames 0; want rx_bad 0; want rx_errors 0; want rx_pattern_bad 0
    want del_status 0; want_sum del_count del_retry_count "$n"; want del_bad_status 0
    want del2_status 0; want del2_count 0; want del2_invalid "$n"
    want readd_status 0; want left_mapped "$half"
    # Every TX slot named a staged page, every frame landed in one.
    held_ge rx_staging_hits "$(evil_value tx_ok "$LINE")"
    held_ge tx_staging_hits "$(evil_value rx_frames "$LINE")"
    check "ethtool -S staging_mapped while held" "$(held staging_mapped)" "$half"
    # The point of staging: no grant copy for a slot that names a staged page. Every TX
    # frame of this attack does, so guest TX grant copies stay below a tenth of the hits.
    local ops hits; ops=$(held rx_queue_0_copy_ops); hits=$(held rx_staging_hits)
    [ "${ops:-x}" -ge 0 ] 2>/dev/null && [ $((ops * 10)) -lt "${hits:-0}" ] \
        || { nbt_fail "$LABEL: expected guest TX grant copies (rx_queue_0_copy_ops ${ops:-none}) < 1/10 of rx_staging_hits (${hits:-none})"; ERRS=1; }
    check "ethtool -S staging_mapped after the close" "${MAPPED_AFTER:-0}" 0
}
# staging on a backend without staging (C, or staging_grants_per_queue = 0).
check_staging_off() {
    want get_status 1; want supported 0
    want_gt tx_sent 0; want_same tx_ok tx_sent; want tx_err 0
    want probe_tx_status 0; want probe_arp_reply 1
}
check_hostile() {
    local size n k
    want get_status 0; want supported 1; want get_bad_queue 2
    size=$(evil_value size "$LINE"); n=$((${size:-0} < 64 ? ${size:-0} : 64))
    for k in empty too_long dup bad_flags never_granted bad_queue bad_list_gref again \
        del_too_long del_bad_queue del_bad_list_gref; do
        want $k 2
    done
    want bad_left 0
    if [ "${size:-0}" -le 1024 ]; then want fill_status 0; want over_cap 3; want fill_del "$size"
    else want over_cap skip; fi
    want again_first 0; want again_del_count 1
    want del_unknown 0; want del_unknown_count 0; want del_unknown_entry 2
    want after_ok 0; want_gt after_tx_sent 0; want_same after_tx_ok after_tx_sent; want after_tx_err 0
    want del_during_tx 0; want tx_err_during_del 0; want_same tx_during_del_ok tx_during_del_sent
    want_sum del_during_tx_count cleanup_count "$n"
    want ro_add 0; want_same ro_tx_ok ro_tx_sent; want ro_tx_err 0; want ro_rx_bad 0; want ro_rx_pattern_bad 0
    want final_add 0; want_gt left_mapped 0
    held_ge rx_staging_hits 1
    check "ethtool -S staging_mapped while held" "$(held staging_mapped)" "$(evil_value left_mapped "$LINE")"
    check "ethtool -S staging_mapped after the close" "${MAPPED_AFTER:-0}" 0
}
# staging-lent (rs, tx_zerocopy=staged, guest 2 paused): evilfront's frames to guest 2 wait in
# its vif's queue with their pages lent, so the DEL meanwhile finds them in use.
lent_queue_stamp() {  # WHEN: guest 2's vif's ring and queue, for the log
    nbt_stamp "lent: guest 2's vif $1: $(grep -E 'req prod|internal queue' \
        /sys/kernel/debug/xen-netback-rs/"$(vif_name 2)"/io_ring_q0 2>/dev/null | tail -n 2 | tr -s ' \n' ' ')"
}
lent_unpause_after_del() {
    guest_wait_line "$LABEL" 'EVIL-PHASE lent-del\|EVIL-RESULT' 90 \
        || { nbt_fail "$LABEL: evilfront never reached its DEL"; ERRS=1; }
    lent_queue_stamp "at the DEL"
    xl unpause domu2
}
check_lent() {
    local n
    n=$(evil_value size "$LINE"); n=$((${n:-0} < 16 ? ${n:-0} : 16))
    want get_status 0; want supported 1; want probe_arp_reply 1; want add_status 0
    want lent_del 0; want lent_del_bad 0; want lent_retry_bad 0
    want_gt lent_del_busy 0
    want_sum lent_del_count lent_retry_count "$n"
    want lent_tx_sent "$n"; want_same lent_tx_ok lent_tx_sent; want lent_tx_err 0
    held_ge rx_staging_frags 1
    held_ge tx_zerocopy_sent 1
    check "sysfs guest_tx_data_path" "$HELD_PATH" "grant-copy, staged pages lent"
    check "ethtool -S staging_mapped while held" "$(held staging_mapped)" 0
    check "ethtool -S staging_mapped after the close" "${MAPPED_AFTER:-0}" 0
}
# staging-hostile on C: every staging request is an unknown type there.
check_hostile_off() {
    local k
    want get_status 1; want supported 0
    for k in get_bad_queue empty too_long dup bad_flags never_granted bad_queue bad_list_gref again_first again \
        del_unknown after_ok ro_add final_add; do
        want $k 1
    done
    want over_cap skip; want left_mapped 0
    want_same after_tx_ok after_tx_sent; want after_tx_err 0; want tx_err_during_del 0
}

if run_one staging staging; then
    if [ $RS = 1 ]; then check_staging "$PER_QUEUE0"; else check_staging_off; fi
fi
finish_one
if run_one staging-hostile hostile; then
    if [ $RS = 1 ]; then check_hostile; else check_hostile_off; fi
fi
finish_one
if [ $RS = 1 ]; then
    # staging-lent: DEL while the pages are lent to dom0's stack. Guest 2 is paused and its
    # vif's RX ring filled first, so evilfront's frames to it (with tx_zerocopy=staged: the
    # staged pages lent, not copied, and nothing mapped) wait in the vif's queue until guest
    # 2 runs again, which it does once evilfront's DEL was answered. (The zerocopy scenario
    # lends staged pages under tx_zerocopy=on.)
    ZC0=$(cat $PARAMS/tx_zerocopy)
    echo staged > $PARAMS/tx_zerocopy || nbt_fail "cannot write staged to tx_zerocopy"
    xl pause domu2
    nbt_stamp "lent: guest 2 paused; $(python3 /tmp/nbt-staging-fill.py xenbr0 "$(domu_mac 2)" "$BR_MAC" 600)"
    sleep 1
    lent_queue_stamp "filled"
    DST_MAC=$(domu_mac 2) AFTER_START=lent_unpause_after_del
    if run_one staging-lent lent; then check_lent; fi
    xl unpause domu2 2>/dev/null
    DST_MAC="" AFTER_START=""
    finish_one
    echo "$ZC0" > $PARAMS/tx_zerocopy
    # The per-queue cap, read when a control ring connects: 8, then 0 (staging off).
    echo 8 > $PARAMS/staging_grants_per_queue || nbt_fail "cannot write 8 to staging_grants_per_queue"
    run_one staging cap8 && check_staging 8
    finish_one
    echo 0 > $PARAMS/staging_grants_per_queue || nbt_fail "cannot write 0 to staging_grants_per_queue"
    if run_one staging off; then
        check_staging_off
        check "size with staging_grants_per_queue = 0" "$(evil_value size "$LINE")" 0
    fi
    finish_one
    echo "$PER_QUEUE0" > $PARAMS/staging_grants_per_queue
fi

# Nothing left once the guests are gone; the module unloads.
v1=$(vif_name 1); v2=$(vif_name 2)
xl destroy domu1; xl destroy domu2
vif_wait_gone "$v1"; vif_wait_gone "$v2"
g=$(settled_grants 0)
[ "$g" = 0 ] || nbt_fail "dom0 still holds $g guest grant mappings with no guests left"
backend_unload "$NBT_CURRENT_BACKEND" && nbt_result test=staging_cleanup backend="$NBT_CURRENT_BACKEND" value=ok unit=status

# A hostile guest: testbed/evilfront plays a netfront from userspace in guest 1 on a second
# vif (real grants, real event channel, the backend under test) and runs one attack per
# fresh vif. For each attack dom0 checks what the C xen-netback does (or stricter): the vif
# is disabled with a logged reason, or the bad requests get error responses and the vif keeps
# working, or the connection is refused; and always: guest 1's own vif and guest 2 still pass
# ping and a short netperf, the hostile vif detaches, dom0 holds no extra grant mappings.
# Ends with a flood and an event channel storm (guest 2's throughput before/during), the
# hardening attacks of issue 9 (RX req_prod moved mid-packet, headers outside the first TX
# slot, a TX ring of dropped requests, xenbus state churn, a fatal error around reconnects)
# and a check that nothing is left.
# Needs 2 guests. docs/hostile-frontend.md explains each attack and its expected outcome.
HOSTILE_ATTACKS=${HOSTILE_ATTACKS:-"legit tx-req-prod-overflow tx-too-many-slots tx-cross-page tx-cross-page-frag
    tx-bad-gref tx-tiny tx-bad-extra-type tx-gso-bad-type tx-gso-zero-size tx-mcast-add rx-req-prod-overflow
    rx-xdp-headroom-max connect-bad-ring-ref connect-bad-evtchn connect-queues-0 connect-queues-1000
    connect-ring-prefilled abandon flood evtchn-storm
    rx-mid-packet-rewind tx-split-headers state-churn fatal-during-reconnect tx-drop-flood"}
HOLD=4
[ "$NBT_NDOM" -ge 2 ] || nbt_die "hostile needs --domus 2"
NBT_DOMU_TOOLS=1
backend_load "$NBT_BACKEND"
domu_create 1; domu_create 2
domu_wait_ping 1 150 || nbt_die "guest 1 never came up"
domu_wait_ping 2 150 || nbt_die "guest 2 never came up"
# The guest's own netfront must leave the hostile vifs alone.
domu_exec 1 "echo 0 > /sys/bus/xen/drivers_autoprobe; ls /dev/xen/gntalloc /dev/xen/evtchn /dev/xen/xenbus && $NBT_EVILFRONT --list >/dev/null && echo GUEST-TOOLS-OK" > /tmp/guest-check 2>&1
grep -q GUEST-TOOLS-OK /tmp/guest-check || nbt_die "guest 1 lacks /dev/xen/{gntalloc,evtchn,xenbus} or evilfront: $(tr '\n' ' ' < /tmp/guest-check)"
DOMID1=$(xl domid domu1)
BR_MAC=$(cat /sys/class/net/xenbr0/address)
IP1=$(domu_ip 1); IP2=$(domu_ip 2)

# Grant mappings dom0 holds now, with both guests idle: what must come back after each attack.
settled_grants() {  # settled_grants WANT: the count, retried while in-flight mappings drain
    local g
    for _ in $(seq 1 10); do g=$(nbt_grants_held_by_dom0); [ "$g" = "$1" ] && break; sleep 1; done
    echo "$g"
}
GRANTS0=$(settled_grants -1)
nbt_stamp "baseline: dom0 holds $GRANTS0 guest grant mappings"

# evil_value KEY LINE: the value of KEY in an EVIL-RESULT line.
evil_value() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
# guest_output ATTACK: evilfront's output so far. The guest's command channel is one nc per
# connection, so a connection right after another can be refused: retry.
guest_output() {
    local out
    for _ in 1 2 3 4 5 6; do
        out=$(domu_exec 1 "cat /tmp/evil.$1" 2>/dev/null) && [ -n "$out" ] && { echo "$out"; return 0; }
        sleep 0.5
    done
    return 1
}
# guest_start ATTACK "OPTIONS": start evilfront in guest 1 in the background, output to a
# fresh file.
guest_start() {
    for _ in 1 2 3 4 5 6; do
        domu_exec 1 "rm -f /tmp/evil.$1; setsid $NBT_EVILFRONT $2 > /tmp/evil.$1 2>&1 < /dev/null &" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    nbt_fail "$1: could not start evilfront in guest 1"; return 1
}
# guest_wait_line ATTACK PATTERN SECONDS: wait until evilfront's output in guest 1 has PATTERN.
guest_wait_line() {
    for _ in $(seq 1 "$3"); do
        guest_output "$1" | grep -q "$2" && return 0
        sleep 1
    done
    return 1
}
hostile_attach() {  # prints the new vif's devid
    local before d
    before=$(xl network-list domu1 | awk 'NR > 1 {print $1}' | tr '\n' ' ')
    xl network-attach domu1 bridge=xenbr0 >&2 || return 1
    d=$(xl network-list domu1 | awk 'NR > 1 {print $1}' | tail -n1)
    [[ " $before " == *" $d "* ]] && return 1
    for _ in $(seq 1 100); do [ -e /sys/class/net/vif$DOMID1.$d ] && break; sleep 0.2; done
    echo "$d"
}
# others_ok WHAT: guest 1's own vif and guest 2 still work (ping, short netperf).
others_ok() {
    local ok=1
    ping -c 2 -W 2 "$IP1" >/dev/null || { nbt_fail "$1: guest 1 (own vif) stopped answering ping"; ok=0; }
    ping -c 2 -W 2 "$IP2" >/dev/null || { nbt_fail "$1: guest 2 stopped answering ping"; ok=0; }
    netperf_run dom0 "$IP2" TCP_STREAM 2 >/dev/null || { nbt_fail "$1: TCP_STREAM dom0 -> guest 2 failed"; ok=0; }
    netperf_run 1 "$NBT_SUBNET.1" TCP_STREAM 2 >/dev/null || { nbt_fail "$1: TCP_STREAM guest 1 -> dom0 failed"; ok=0; }
    [ $ok = 1 ]
}

# run_attack NAME EXPECT [evilfront options]: EXPECT is what dom0 must see:
#   works    connected, good traffic flows both ways
#   fatal    vif disabled (carrier off) with a logged reason
#   errors   bad requests answered with NETIF_RSP_ERROR, vif stays up and keeps working
#   refused  the backend does not connect (no response, no traffic); a xenbus error says why
#   rx-clean RX data reaches the guest with positive statuses inside its page, and dom0
#            logs why it did not honour the request
#   survive  no expectation on the hostile vif itself beyond the common checks
run_attack() {
    local name=$1 expect=$2; shift 2
    local devid vif mark line carrier reason outcome="" errs=0 t0 xserr
    # xenbus errors of an earlier hostile vif with the same handle stay in xenstore.
    xenstore-rm /local/domain/0/error/backend/vif/$DOMID1 2>/dev/null
    devid=$(hostile_attach) || { nbt_fail "$name: xl network-attach of a hostile vif failed"; return 1; }
    vif=vif$DOMID1.$devid
    mark=$(dmesg | wc -l)
    nbt_stamp "attack $name on $vif (devid $devid)"
    attack_pre "$name" "$vif"
    guest_start "$name" "--handle $devid --attack $name --hold $HOLD --dst-mac $BR_MAC $*"
    guest_wait_line "$name" 'EVIL-PHASE hold\|EVIL-RESULT' 150 || nbt_fail "$name: evilfront never reached its hold phase"
    sleep 1
    carrier=$(cat /sys/class/net/$vif/carrier 2>/dev/null || echo down)
    xserr=$(xenstore-read /local/domain/0/error/backend/vif/$DOMID1/$devid/error 2>/dev/null)
    guest_wait_line "$name" 'EVIL-RESULT' 60 || nbt_fail "$name: evilfront did not finish"
    local out; out=$(guest_output "$name")
    echo "$out" | sed "s/^/[evilfront $name] /"
    line=$(echo "$out" | grep '^EVIL-RESULT' | tail -n1)
    reason=$(dmesg | tail -n +$((mark + 1)) | sed 's/^\[[^]]*\] //' \
        | grep -iE 'fatal|impossible|cross page|malicious|invalid|extra|gso|exceed|queues|mapping|binding|error|fail' | head -n1)
    [ -n "$reason" ] || reason=$xserr
    local connected; connected=$(evil_value connected "$line")
    local post; post=$(attack_post "$name" "$vif")
    [ -n "$(evil_value error "$line")" ] && { nbt_fail "$name: evilfront error: $(evil_value error "$line")"; errs=1; }
    case "$expect" in
        works)
            [ "$connected" = 1 ] && [ "$(evil_value probe_tx_status "$line")" = 0 ] && [ "$(evil_value probe_arp_reply "$line")" = 1 ] \
                && [ "$carrier" = 1 ] && outcome=works ;;
        fatal)
            [ "$connected" = 1 ] && [ "$carrier" != 1 ] && [ -n "$reason" ] && outcome=disabled ;;
        errors)
            [ "$connected" = 1 ] && [ "$(evil_value rsp_error "$line")" -gt 0 ] 2>/dev/null \
                && [ "$(evil_value after_tx_status "$line")" = 0 ] && [ "$(evil_value after_arp_reply "$line")" = 1 ] \
                && [ "$carrier" = 1 ] && outcome=errors-then-works ;;
        answered)
            [ "$connected" = 1 ] && [ "$(evil_value tx_unanswered "$line")" = 0 ] \
                && [ "$(evil_value after_tx_status "$line")" = 0 ] && [ "$(evil_value after_arp_reply "$line")" = 1 ] \
                && [ "$carrier" = 1 ] && outcome=answered-then-works ;;
        refused)
            # Like C, the backend may still write Connected after its xenbus error (connect()
            # fails, then the state switch happens): what counts is that nothing flows.
            [ "$(evil_value probe_tx_status "$line")" = none ] && [ "$(evil_value probe_arp_reply "$line")" = 0 ] \
                && [ -n "$reason" ] && [ "$carrier" != 1 ] && outcome=refused ;;
        rx-clean)
            [ "$connected" = 1 ] && [ "$(evil_value tx_status "$line")" = 0 ] && [ "$(evil_value rx_data "$line")" -gt 0 ] 2>/dev/null \
                && [ "$(evil_value rx_errors "$line")" = 0 ] && [ "$(evil_value rx_max_status "$line")" -le 4096 ] 2>/dev/null \
                && [ "$carrier" = 1 ] && [[ "$reason" == *xdp-headroom* ]] && outcome=rx-clean ;;
        survive)
            if [ "$carrier" = 1 ]; then outcome=stayed-up; else outcome=disabled; fi ;;
        rx-rewind)
            # A packet given up after its copies were queued: they then run from a freed skb.
            if dmesg | tail -n +$((mark + 1)) | grep -q 'mid-packet'; then
                nbt_fail "$name: dom0 gave up a packet mid-way with its copies queued: $(dmesg | tail -n +$((mark + 1)) | grep -m1 'mid-packet')"
                errs=1; outcome=abandoned-mid-packet
            elif [ "$connected" = 1 ] && [ "$(evil_value foreign_bytes "$line")" = 0 ] && [ -z "$(evil_value error "$line")" ]; then
                # Still delivering when the guest stopped (the carrier read can come after
                # the hold on a loaded host), or disabled with a reason.
                if [ "$(evil_value rx_dead "$line")" = 0 ] || [ "$carrier" = 1 ]; then outcome=clean-up
                elif [ -n "$reason" ]; then outcome=clean-disabled; fi
            fi ;;
        linear)
            [ "$(evil_value tc_short "$post")" -gt 0 ] 2>/dev/null \
                && nbt_fail "$name: $(evil_value tc_short "$post") skbs from the vif had the TCP header outside the linear area"
            [ "$connected" = 1 ] && [ "$(evil_value tc_short "$post")" = 0 ] && [ "$(evil_value tc_seen "$post")" -ge 16 ] 2>/dev/null \
                && [ "$(evil_value rsp_other "$line")" = 0 ] && [ "$(evil_value tx_unanswered "$line")" = 0 ] \
                && [ "$(evil_value after_tx_status "$line")" = 0 ] \
                && [ "$(evil_value after_arp_reply "$line")" = 1 ] && outcome=linear-ok ;;
        churn)
            # The probe's ARP reply shows the vif works (the carrier is read at the hold,
            # which on a loaded host can come after evilfront closed).
            if [ "$(evil_value after_tx_status "$line")" = 0 ] && [ "$(evil_value after_arp_reply "$line")" = 1 ]; then
                outcome=churned-works
            elif [ "$carrier" != 1 ] && [ -n "$reason" ]; then
                outcome=churned-disabled
            fi ;;
    esac
    [ -n "$outcome" ] || { nbt_fail "$name: expected '$expect', saw connected=$connected carrier=$carrier reason='$reason' evilfront: $line"; errs=1; outcome=unexpected; }
    others_ok "$name" || errs=1
    t0=$(cut -d. -f1 /proc/uptime)
    xl network-detach domu1 "$devid" || { nbt_fail "$name: xl network-detach of the hostile vif failed"; errs=1; }
    vif_wait_gone "$vif" || errs=1
    local detach_s=$(( $(cut -d. -f1 /proc/uptime) - t0 ))
    local grants; grants=$(settled_grants "$GRANTS0")
    [ "$grants" = "$GRANTS0" ] || { nbt_fail "$name: dom0 holds $grants guest grant mappings after the detach, $GRANTS0 before"; errs=1; }
    nbt_result test="hostile_$name" backend="$NBT_CURRENT_BACKEND" value="$outcome" unit=outcome expect="$expect" \
        carrier="$carrier" xenbus_error="${xserr:-none}" reason="${reason:-none}" detach_s="$detach_s" grants_after="$grants" $post \
        evil="$(echo "${line#EVIL-RESULT }" | sed 's/attack=[^ ]* //')"
    return $errs
}

# A load attack (flood, evtchn-storm): guest 2 -> dom0 throughput before and while guest 1's
# hostile vif runs it. WORK_KEY is evilfront's count of work done, which must be > 1000.
run_load() {  # run_load NAME WORK_KEY [SECONDS]
    local name=$1 work_key=$2 devid vif before during line ratio work
    before=$(netperf_run 2 "$NBT_SUBNET.1" TCP_STREAM "$NBT_LEN") || nbt_fail "$name: baseline TCP_STREAM guest 2 -> dom0 failed"
    devid=$(hostile_attach) || { nbt_fail "$name: xl network-attach failed"; return 1; }
    vif=vif$DOMID1.$devid
    local secs=${3:-$((NBT_LEN + 30))} mark; mark=$(dmesg | wc -l)
    guest_start "$name" "--handle $devid --attack $name --seconds $secs --dst-mac $BR_MAC"
    guest_wait_line "$name" 'EVIL load t=5' 120 || nbt_fail "$name: the load never got going"
    during=$(netperf_run 2 "$NBT_SUBNET.1" TCP_STREAM "$NBT_LEN") || nbt_fail "$name: TCP_STREAM guest 2 -> dom0 failed during the load"
    ping -c 2 -W 2 "$IP2" >/dev/null || nbt_fail "$name: guest 2 stopped answering ping during the load"
    local dom0_ms t0; t0=$(date +%s%N); ls /sys/class/net >/dev/null; xl list >/dev/null; dom0_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    guest_wait_line "$name" 'EVIL-RESULT' $((secs + 60)) || nbt_fail "$name: evilfront did not finish"
    local out; out=$(guest_output "$name")
    echo "$out" | sed "s/^/[evilfront $name] /"
    line=$(echo "$out" | grep '^EVIL-RESULT' | tail -n1)
    work=$(evil_value "$work_key" "$line")
    [ "${work:-0}" -gt 1000 ] 2>/dev/null || nbt_fail "$name: only ${work:-0} $work_key: the load did not run"
    ratio=$(awk -v a="${during% *}" -v b="${before% *}" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print 0}')
    awk -v r="$ratio" 'BEGIN {exit !(r > 0.10)}' || nbt_fail "$name: guest 2 -> dom0 fell to $ratio of its throughput before the load"
    # tx-drop-flood: how long one backend poll kept answering without publishing (a poll
    # bounded by its budget publishes within milliseconds).
    local longest most; longest=$(evil_value longest_unpublished_ms "$line"); most=$(evil_value most_unpublished "$line")
    [ -z "$longest" ] || [ "$longest" -lt "$POLL_LIMIT_MS" ] \
        || nbt_fail "$name: one backend poll answered requests for $longest ms without returning (limit $POLL_LIMIT_MS ms)"
    [ -z "$most" ] || [ "$most" -le 256 ] \
        || nbt_fail "$name: one backend poll answered $most requests (more than the ring holds) without returning"
    local reason; reason=$(dmesg | tail -n +$((mark + 1)) | sed 's/^\[[^]]*\] //' | grep -iE 'fatal|error|fail' | head -n1)
    others_ok "$name"
    xl network-detach domu1 "$devid" || nbt_fail "$name: xl network-detach failed"
    vif_wait_gone "$vif"
    local grants; grants=$(settled_grants "$GRANTS0")
    [ "$grants" = "$GRANTS0" ] || nbt_fail "$name: dom0 holds $grants guest grant mappings after the detach, $GRANTS0 before"
    nbt_result test="hostile_$name" backend="$NBT_CURRENT_BACKEND" value="$ratio" unit=ratio \
        before="${before% *}" during="${during% *}" work="$work" work_unit="$work_key" \
        pps="$(evil_value pps "$line")" stalled="$(evil_value stalled "$line")" dom0_cmd_ms="$dom0_ms" \
        longest_poll_ms="${longest:-none}" most_per_poll="${most:-none}" \
        reason="${reason:-none}" grants_after="$grants"
}

# ---- Hardening attacks (issue 9): dom0's side of attacks_hardening.rs ----
# Frames of rx-mid-packet-rewind (evilfront's REWIND_FRAME_LEN: five buffers each).
REWIND_FRAME_LEN=20000
# tx-drop-flood: longest stretch one poll may keep answering without publishing (besides:
# at most a ring's worth of answers per poll).
POLL_LIMIT_MS=1000
# raw_sender_start VIF LEN SECONDS: dom0 sends LEN-byte frames (ff:ff:ff:ff:ff:ff, the
# bridge's MAC, ethertype 0x88b5, payload 0xa5: what evilfront's scan accepts) straight
# into the vif every 2 ms, in the background, setting the vif's MTU first when LEN needs it
# (retried: the backend takes a big MTU only once the frontend has negotiated SG).
cat > /tmp/nbt-rawsend.py <<'PY'
import os, socket, sys, time
ifname, length, secs, stop, src = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
frame = b"\xff" * 6 + bytes.fromhex(src.replace(":", "")) + b"\x88\xb5" + b"\xa5" * (length - 14)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
end = time.time() + secs
sent = errors = 0
while time.time() < end and not os.path.exists(stop):
    try:
        s.send(frame)
        sent += 1
    except OSError:
        errors += 1
        time.sleep(0.05)
    time.sleep(0.002)
print("rawsend sent=%d errors=%d" % (sent, errors))
PY
raw_sender_start() {
    local vif=$1 len=$2 secs=$3
    rm -f /tmp/rawsend.$vif.stop /tmp/rawsend.$vif.out
    (
        if [ "$len" -gt 1514 ]; then
            for _ in $(seq 1 120); do ip link set "$vif" mtu "$len" 2>/dev/null && break; sleep 0.5; done
        fi
        python3 /tmp/nbt-rawsend.py "$vif" "$len" "$secs" /tmp/rawsend.$vif.stop "$BR_MAC"
    ) > /tmp/rawsend.$vif.out 2>&1 &
    echo $! > /tmp/rawsend.$vif.pid
}
raw_sender_stop() {  # prints rawsend_sent=N rawsend_errors=N
    local vif=$1 pid
    pid=$(cat /tmp/rawsend.$vif.pid 2>/dev/null) || return 0
    touch /tmp/rawsend.$vif.stop
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f /tmp/rawsend.$vif.pid
    sed -n 's/^rawsend sent=\([0-9]*\) errors=\([0-9]*\)/rawsend_sent=\1 rawsend_errors=\2/p' /tmp/rawsend.$vif.out
}
# attack_pre NAME VIF: dom0's preparation, after the attach and before evilfront starts.
attack_pre() {
    local vif=$2
    case "$1" in
        rx-mid-packet-rewind)
            # Off the bridge and without IPv6, only dom0's pattern frames reach the guest:
            # any other byte in its buffers is dom0 memory.
            ip link set "$vif" nomaster
            echo 1 > /proc/sys/net/ipv6/conf/$vif/disable_ipv6 2>/dev/null
            raw_sender_start "$vif" $REWIND_FRAME_LEN 90 ;;
        state-churn) raw_sender_start "$vif" 200 90 ;;
        tx-split-headers)
            tc qdisc add dev "$vif" clsact \
                && tc filter add dev "$vif" ingress bpf da obj /opt/netback-rs/tools/linear_check.o sec tc \
                || nbt_fail "tx-split-headers: could not attach the tc/bpf linear-area check to $vif" ;;
    esac
}
# attack_post NAME VIF: prints key=value pairs for the outcome check and the result record.
attack_post() {
    local vif=$2
    case "$1" in
        rx-mid-packet-rewind|state-churn) raw_sender_stop "$vif" ;;
        tx-split-headers)
            # clsact's counters: every skb the classifier saw, and those it shot (short linear).
            tc -s qdisc show dev "$vif" 2>/dev/null \
                | awk '/qdisc clsact/ {f = 1} f && /Sent/ {gsub(",", "", $7); printf "tc_seen=%s tc_short=%s\n", $4, $7; exit}' ;;
    esac
}

# fatal-during-reconnect: evilfront makes the vif fatal and reconnects on it twice (a probe
# after each), then makes it fatal once more and says so in xenstore; dom0 detaches and
# reattaches at once, and a legit frontend on the new vif must work.
run_fatal_reconnect() {
    local name=fatal-during-reconnect devid devid2 vif vif2 mark line line2 carrier2 phase="" ok cycles outcome="" t0
    xenstore-rm /local/domain/0/error/backend/vif/$DOMID1 2>/dev/null
    devid=$(hostile_attach) || { nbt_fail "$name: xl network-attach failed"; return 1; }
    vif=vif$DOMID1.$devid; mark=$(dmesg | wc -l)
    nbt_stamp "attack $name on $vif (devid $devid)"
    guest_start "$name" "--handle $devid --attack $name --hold 2 --dst-mac $BR_MAC"
    for _ in $(seq 1 1800); do
        phase=$(xenstore-read /local/domain/$DOMID1/device/vif/$devid/evil-phase 2>/dev/null)
        [ "$phase" = final-fatal ] && break
        sleep 0.05
    done
    [ "$phase" = final-fatal ] || nbt_fail "$name: evilfront never reached its last fatal error"
    t0=$(date +%s%N)
    xl network-detach domu1 "$devid" || nbt_fail "$name: xl network-detach right after the fatal error failed"
    devid2=$(hostile_attach) || { nbt_fail "$name: xl network-attach right after the detach failed"; return 1; }
    local reattach_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    vif2=vif$DOMID1.$devid2
    # The old netdev goes once the backend has torn the fatal vif down (slow on a loaded
    # host). libxl may give the new vif the old devid: then the new netdev has the old
    # name, which it could only get once the old one was gone.
    local gone_s=""
    if [ "$vif2" = "$vif" ]; then
        gone_s=name-reused
    else
        for _ in $(seq 1 300); do
            [ -e "/sys/class/net/$vif" ] || { gone_s=$(( ($(date +%s%N) - t0) / 1000000000 )); break; }
            sleep 0.2
        done
        [ -n "$gone_s" ] || nbt_fail "$name: $vif still exists 60 s after its detach"
    fi
    guest_wait_line "$name" 'EVIL-RESULT' 60 || nbt_fail "$name: evilfront did not finish"
    local out; out=$(guest_output "$name")
    echo "$out" | sed "s/^/[evilfront $name] /"
    line=$(echo "$out" | grep '^EVIL-RESULT' | tail -n1)
    local reason; reason=$(dmesg | tail -n +$((mark + 1)) | sed 's/^\[[^]]*\] //' | grep -iE 'fatal|impossible' | head -n1)
    guest_start "$name-new" "--handle $devid2 --attack legit --hold $HOLD --dst-mac $BR_MAC"
    guest_wait_line "$name-new" 'EVIL-PHASE hold\|EVIL-RESULT' 120 || nbt_fail "$name: the new vif's frontend never reached its hold phase"
    sleep 1
    carrier2=$(cat /sys/class/net/$vif2/carrier 2>/dev/null || echo down)
    guest_wait_line "$name-new" 'EVIL-RESULT' 60 || nbt_fail "$name: the new vif's frontend did not finish"
    line2=$(guest_output "$name-new" | grep '^EVIL-RESULT' | tail -n1)
    echo "[evilfront $name-new] $line2"
    ok=$(evil_value reconnect_probes_ok "$line"); cycles=$(evil_value reconnect_cycles "$line")
    # Reconnecting on a vif that was made fatal: C keeps it disabled, netback-rs starts
    # afresh; either is fine, but the same each time (a stale fatal must not hit a new
    # connection now and then).
    [ -n "$ok" ] && { [ "$ok" = 0 ] || [ "$ok" = "$cycles" ]; } \
        || nbt_fail "$name: $ok of $cycles reconnects after a fatal error worked (${line#EVIL-RESULT })"
    if [ "$(evil_value connected "$line2")" = 1 ] && [ "$(evil_value probe_tx_status "$line2")" = 0 ] \
        && [ "$(evil_value probe_arp_reply "$line2")" = 1 ]; then
        outcome=new-vif-works
    else
        nbt_fail "$name: the vif attached right after the fatal error does not work: carrier=$carrier2 ${line2#EVIL-RESULT }"
        outcome=new-vif-broken
    fi
    others_ok "$name"
    xl network-detach domu1 "$devid2" || nbt_fail "$name: xl network-detach of the new vif failed"
    vif_wait_gone "$vif2"
    local grants; grants=$(settled_grants "$GRANTS0")
    [ "$grants" = "$GRANTS0" ] || nbt_fail "$name: dom0 holds $grants guest grant mappings after the detach, $GRANTS0 before"
    nbt_result test="hostile_$name" backend="$NBT_CURRENT_BACKEND" value="$outcome" unit=outcome expect=new-vif-works \
        carrier_new="$carrier2" reason="${reason:-none}" reattach_ms="$reattach_ms" old_vif_gone_s="${gone_s:-never}" \
        grants_after="$grants" \
        reconnect_probes_ok="${ok:-none}" reconnect_cycles="${cycles:-none}" \
        reconnect_probes="$(evil_value reconnect_probes "$line")"
}

expect_of() {
    case "$1" in
        legit) echo works;;
        tx-req-prod-overflow|tx-too-many-slots|tx-cross-page|tx-cross-page-frag|tx-bad-extra-type|tx-gso-bad-type|tx-gso-zero-size) echo fatal;;
        tx-bad-gref|tx-tiny) echo errors;;
        tx-mcast-add) echo answered;;
        rx-xdp-headroom-max) echo rx-clean;;
        rx-mid-packet-rewind) echo rx-rewind;;
        tx-split-headers) echo linear;;
        state-churn) echo churn;;
        connect-*) echo refused;;
        *) echo survive;;
    esac
}
MEM0=$(nbt_kernel_mem_kb)
for a in $HOSTILE_ATTACKS; do
    case "$a" in
        flood) run_load flood rsp_ok;;
        evtchn-storm) run_load evtchn-storm notifies;;
        rx-mid-packet-rewind) run_attack "$a" "$(expect_of "$a")" --seconds 12;;
        fatal-during-reconnect) run_fatal_reconnect;;
        tx-drop-flood)
            # A poll that never ends shows as a soft lockup within 8 s instead of 20.
            wt=$(cat /proc/sys/kernel/watchdog_thresh); echo 4 > /proc/sys/kernel/watchdog_thresh
            run_load tx-drop-flood answered $((NBT_LEN + 15))
            echo "$wt" > /proc/sys/kernel/watchdog_thresh;;
        *) run_attack "$a" "$(expect_of "$a")";;
    esac
done
MEM1=$(nbt_kernel_mem_kb)
nbt_result test=hostile_kernel_mem_growth backend="$NBT_CURRENT_BACKEND" value=$((MEM1 - MEM0)) unit=kB before="$MEM0" after="$MEM1"

# Nothing left behind once the guests are gone.
v1=$(vif_name 1); v2=$(vif_name 2)
xl destroy domu1; xl destroy domu2
vif_wait_gone "$v1"; vif_wait_gone "$v2"
sleep 2
[ "$(nbt_dying_domains)" = 0 ] || nbt_fail "domains left dying after the hostile guest was destroyed: $(xl list | tail -n +3)"
g=$(settled_grants 0)
[ "$g" = 0 ] || nbt_fail "dom0 still holds $g guest grant mappings with no guests left"
backend_unload "$NBT_CURRENT_BACKEND" && nbt_result test=hostile_cleanup backend="$NBT_CURRENT_BACKEND" value=ok unit=status

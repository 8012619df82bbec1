# dom0 memory per vif, idle and streaming, at several vif counts, for each backend in
# NBT_BACKENDS, in one boot. run.sh's --rs-opts gives a backend rs@LABEL its own module
# parameters, so
#   testbed/run.sh --backend rs --backends "c rs rs@zc" --rs-opts zc="tx_zerocopy=on" --scenario memory --domus 2 --timeout 2400
# measures the C xen-netback, netback-rs and netback-rs with zero-copy guest TX in one boot.
#
# Per backend: load it with no vif connected, connect one vif and remove it again (one-time
# allocations: slab caches, workqueues; before the first backend's, all the vifs with 10 s of
# streams: MEM_WARM=0 skips that), read the baseline; then attach vifs, spread over
# the guests with `xl network-attach` (vif j goes to guest j mod NBT_NDOM), up to each count
# of MEM_COUNTS, and read dom0's memory with them idle and while every vif streams (a
# TCP_STREAM dom0->guest and a TCP_MAERTS guest->dom0 per vif, all at once); then detach
# every vif and read again (leak check: the difference to the baseline).
# Readings (the median of 3, a few seconds apart, after a settle): kernel_kb =
# SUnreclaim + VmallocUsed + Percpu (nbt_kernel_mem_kb), used_kb = MemTotal - MemAvailable,
# balloon_kb = the balloon's current + low + high (dom0's populated pages plus those in the
# balloon list): it drops by the pages that gnttab_alloc_pages takes out of dom0 for
# grant mapping (xen-netback's 256 pages per queue, netback-rs's with tx_zerocopy=on),
# which neither of the other two counts. One record per reading: test=dom0_mem.
# The report: python3 benches/memory_report.py RECORDS.jsonl (per-vif costs, leak check).
#
# Each vif streams on its own address: vif k of guest i (k = 0 is the guest's first, which
# keeps the guest's command channel) gets $MEM_NET.k.(10+i)/24 on the guest's interface with
# that vif's MAC and dom0's bridge $MEM_NET.k.1/24, so the route to it is through that
# interface only; arp_filter=1 in the guest makes only that interface answer ARP for it
# (the guest's init puts its main address on every interface).
MEM_COUNTS=${MEM_COUNTS:-"1 4 8 16"}
# The guests' netfront (run.sh passes MEM_FRONTEND): stock, or rs (netfront-rs: a control
# ring and staging grants, so netback-rs' queues hold 512 mapped grants each and, under
# tx_zerocopy=staged, a pending area without pages). Records name it as frontend=.
MEM_FRONTEND=${MEM_FRONTEND:-stock}
MEM_STREAM_LEN=${MEM_STREAM_LEN:-20}   # seconds each stream runs; readings start at 40%
MEM_NET=${MEM_NET:-10.100}
MEM_MIN_BYTES=${MEM_MIN_BYTES:-1000000} # each vif moves at least this much each way while streaming

set -- $NBT_BACKENDS
max_k=0
for n in $MEM_COUNTS; do [ $(((n + NBT_NDOM - 1) / NBT_NDOM)) -gt $max_k ] && max_k=$(((n + NBT_NDOM - 1) / NBT_NDOM)); done
for k in $(seq 0 $((max_k - 1))); do ip addr add $MEM_NET.$k.1/24 dev xenbr0; done

# mem_load BACKEND: load it; MEM_VARIANT names it in records and logs, with the parameters
# of an rs@LABEL (--rs-opts).
mem_load() {
    backend_load "$1"
    MEM_VARIANT="$1 $(cat "/opt/netback-rs/opts/${1#rs@}" 2>/dev/null)"
    MEM_VARIANT=${MEM_VARIANT% }
}

mem_mac() { printf '00:16:3e:00:%02x:%02x' "$2" "$1"; }  # mem_mac GUEST K (k = 0: domu_mac)
mem_addr() { echo "$MEM_NET.$2.$((10 + $1))"; }          # mem_addr GUEST K
# mem_vif GUEST K: dom0's name of that vif (by its MAC in xl network-list), empty if none.
mem_vif() {
    local domid idx mac; mac=$(mem_mac "$1" "$2")
    domid=$(xl domid "domu$1" 2>/dev/null) || return 0
    idx=$(xl network-list "domu$1" 2>/dev/null | awk -v m="$mac" 'NR > 1 && tolower($3) == m {print $1; exit}')
    [ -n "$idx" ] && echo "vif$domid.$idx"
}

# One line of the fields, in the order of MEM_FIELDS.
MEM_FIELDS="kernel_kb used_kb balloon_kb sunreclaim_kb vmalloc_kb percpu_kb memtotal_kb memavailable_kb"
mem_read() {
    local bal=/sys/devices/system/xen_memory/xen_memory0/info b
    b=$(cat $bal/current_kb $bal/low_kb $bal/high_kb 2>/dev/null | awk '{s += $1} END {print s + 0}')
    awk -v b="$b" '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} /^SUnreclaim:/ {su = $2}
        /^VmallocUsed:/ {v = $2} /^Percpu:/ {p = $2}
        END {print su + v + p, t - a, b, su, v, p, t, a}' /proc/meminfo
}
# mem_median GAP: three readings GAP seconds apart, the median of each field.
mem_median() {
    { mem_read; sleep "$1"; mem_read; sleep "$1"; mem_read; } | awk '
        {for (i = 1; i <= NF; i++) v[NR, i] = $i; n = NF}
        END {for (i = 1; i <= n; i++) {a = v[1, i]; b = v[2, i]; c = v[3, i]
                 lo = a < b ? a : b; hi = a < b ? b : a; m = c < lo ? lo : (c > hi ? hi : c)
                 printf "%s%s", m, (i < n ? " " : "\n")}}'
}
# mem_record STATE VIFS [k=v ...]: settled readings (caches dropped first), one record.
mem_record() {
    local state=$1 n=$2 vals f kv=() i=1; shift 2
    sync; echo 3 > /proc/sys/vm/drop_caches; sleep 5
    vals=($(mem_median 3))
    for f in $MEM_FIELDS; do kv+=("$f=${vals[$((i - 1))]}"); i=$((i + 1)); done
    nbt_result test=dom0_mem backend="$NBT_CURRENT_BACKEND" variant="$MEM_VARIANT" state="$state" \
        vifs="$n" value="${vals[0]}" unit=kB frontend="$MEM_FRONTEND" "${kv[@]}" "$@"
}

# Where the slab part goes (log lines only, no record): kB per cache from /proc/slabinfo
# saved at the baseline; mem_slab_growth prints the caches that grew most since, and the
# rest of SUnreclaim's growth (kmalloc above 8 kB goes to the page allocator, not a cache).
mem_slab_kb() { awk 'NR > 2 {print $1, $15 * $6 * 4}' /proc/slabinfo 2>/dev/null; }
mem_slab_save() { mem_slab_kb > /tmp/mem-slab.base; awk '/^SUnreclaim:/ {print $2}' /proc/meminfo > /tmp/mem-sunr.base; }
mem_slab_growth() {
    local su0 su1; su0=$(cat /tmp/mem-sunr.base 2>/dev/null); su1=$(awk '/^SUnreclaim:/ {print $2}' /proc/meminfo)
    mem_slab_kb | awk -v su=$((su1 - su0)) 'NR == FNR {b[$1] = $2; next} {d = $2 - b[$1]; s += d; if (d != 0) print d, $1}
        END {print su - s, "(SUnreclaim growth minus all caches: large kmalloc)"}' /tmp/mem-slab.base - \
        | sort -rn | head -n 8 | tr '\n' ',' | sed 's/,$//'
}

# mem_attach GUEST K: attach vif k of a guest, give its interface its address, wait for ping.
mem_attach() {
    local i=$1 k=$2 mac addr t
    mac=$(mem_mac "$i" "$k"); addr=$(mem_addr "$i" "$k")
    xl network-attach "domu$i" "mac=$mac" bridge=xenbr0 || { nbt_fail "xl network-attach domu$i mac=$mac failed"; return 1; }
    if [ "$k" = 0 ]; then domu_wait_ping "$i" 90 || return 1; fi
    domu_exec "$i" "echo 1 > /proc/sys/net/ipv4/conf/all/arp_filter
        for t in \$(seq 1 60); do
            for d in /sys/class/net/eth*; do
                [ \"\$(cat \$d/address)\" = $mac ] || continue
                ip addr add $addr/24 dev \${d##*/} 2>/dev/null; ip link set \${d##*/} up; echo \"\${d##*/} $addr\"; exit 0
            done
            sleep 0.5
        done" | grep -q " $addr" || { nbt_fail "domu$i: no interface with $mac"; return 1; }
    for t in $(seq 1 120); do ping -c1 -W1 "$addr" >/dev/null 2>&1 && return 0; sleep 0.5; done
    nbt_fail "domu$i vif $k ($mac) does not answer ping at $addr"; return 1
}
# mem_detach_all: detach every vif of every guest, wait until dom0's netdevs are gone.
mem_detach_all() {
    local i d domid
    for i in $(seq 1 $NBT_NDOM); do
        domid=$(xl domid "domu$i") || continue
        for d in $(xl network-list "domu$i" 2>/dev/null | awk 'NR > 1 {print $1}'); do
            xl network-detach "domu$i" "$d" || nbt_fail "xl network-detach domu$i $d failed"
            vif_wait_gone "vif$domid.$d"
        done
    done
}
# mem_vifs N: the first N vifs as "GUEST K" lines. (dom0 has no /dev/fd: no <(...).)
mem_vifs() { local j; for j in $(seq 0 $(($1 - 1))); do echo "$((j % NBT_NDOM + 1)) $((j / NBT_NDOM))"; done; }

# mem_stream N [STATE]: both directions on each of the first N vifs at once; readings while
# they run, recorded as STATE (default streaming).
mem_stream() {
    local n=$1 state=${2:-streaming} i k v addr w pids=() tx0=() rx0=() min_tx="" min_rx="" d s sum_st sum_ma
    local vifs=() line
    while read -r i k; do vifs+=("$i $k"); done <<< "$(mem_vifs "$n")"
    rm -f /tmp/mem-np.*
    for line in "${vifs[@]}"; do
        set -- $line; i=$1 k=$2; v=$(mem_vif "$i" "$k"); addr=$(mem_addr "$i" "$k")
        tx0+=("$(cat /sys/class/net/$v/statistics/tx_bytes)"); rx0+=("$(cat /sys/class/net/$v/statistics/rx_bytes)")
        timeout $((MEM_STREAM_LEN + 60)) netperf -H "$addr" -t TCP_STREAM -l "$MEM_STREAM_LEN" -P 0 -- -o THROUGHPUT > /tmp/mem-np.st.$i.$k 2>&1 &
        pids+=($!)
        timeout $((MEM_STREAM_LEN + 60)) netperf -H "$addr" -t TCP_MAERTS -l "$MEM_STREAM_LEN" -P 0 -- -o THROUGHPUT > /tmp/mem-np.ma.$i.$k 2>&1 &
        pids+=($!)
    done
    sleep $((MEM_STREAM_LEN * 2 / 5))
    local reading; reading=$(mem_median 3)
    wait "${pids[@]}"
    # Bytes each vif moved each way (dom0's tx = to the guest, rx = from it): every vif streamed.
    local j=0 zc=0
    for line in "${vifs[@]}"; do
        set -- $line; v=$(mem_vif "$1" "$2")
        zc=$((zc + $(ethtool -S "$v" 2>/dev/null | awk '/tx_zerocopy_sent:/ {print $2; exit}' | grep . || echo 0)))
        d=$(( $(cat /sys/class/net/$v/statistics/tx_bytes) - ${tx0[$j]} )); [ -z "$min_tx" ] || [ "$d" -lt "$min_tx" ] && min_tx=$d
        d=$(( $(cat /sys/class/net/$v/statistics/rx_bytes) - ${rx0[$j]} )); [ -z "$min_rx" ] || [ "$d" -lt "$min_rx" ] && min_rx=$d
        j=$((j + 1))
    done
    sum_st=$(cat /tmp/mem-np.st.* | grep -E '^[0-9.]+$' | awk '{s += $1; n++} END {printf "%.1f %d", s, n}')
    sum_ma=$(cat /tmp/mem-np.ma.* | grep -E '^[0-9.]+$' | awk '{s += $1; n++} END {printf "%.1f %d", s, n}')
    [ "${sum_st#* }" = "$n" ] && [ "${sum_ma#* }" = "$n" ] || nbt_fail "$MEM_VARIANT, $n vifs: only ${sum_st#* } + ${sum_ma#* } of $n + $n streams gave a result"
    [ "$min_tx" -ge "$MEM_MIN_BYTES" ] && [ "$min_rx" -ge "$MEM_MIN_BYTES" ] \
        || nbt_fail "$MEM_VARIANT, $n vifs: a vif moved only $min_tx bytes to / $min_rx from its guest while streaming"
    # The readings taken while the streams ran, as a record (mem_record reads anew).
    local f kv=() vals=($reading) x=0
    for f in $MEM_FIELDS; do kv+=("$f=${vals[$x]}"); x=$((x + 1)); done
    nbt_result test=dom0_mem backend="$NBT_CURRENT_BACKEND" variant="$MEM_VARIANT" state="$state" \
        vifs="$n" value="${vals[0]}" unit=kB frontend="$MEM_FRONTEND" "${kv[@]}" to_guest_mbit="${sum_st% *}" from_guest_mbit="${sum_ma% *}" \
        min_vif_tx_bytes="$min_tx" min_vif_rx_bytes="$min_rx" stream_s="$MEM_STREAM_LEN" \
        tx_zerocopy_sent="$zc"
    rm -f /tmp/mem-np.*
}

mem_load "$1"
for i in $(seq 1 $NBT_NDOM); do domu_create $i 1 1500 "$MEM_FRONTEND"; done
for i in $(seq 1 $NBT_NDOM); do domu_wait_ping $i 150 || nbt_die "guest $i never came up"; done
nbt_stamp "memory: backends $NBT_BACKENDS, counts $MEM_COUNTS, $NBT_NDOM guests with $MEM_FRONTEND netfront"
first=1
for tok in $NBT_BACKENDS; do
    mem_detach_all
    if [ $first = 0 ]; then backend_unload "$NBT_CURRENT_BACKEND" || nbt_die "could not unload $NBT_CURRENT_BACKEND"; mem_load "$tok"; fi
    first=0
    # Warm-up, so one-time allocations are in the baseline: one vif connected and removed;
    # before the first backend's baseline, every vif with streams through them (dom0's
    # neighbour entries and routes to the per-vif addresses, the stack's first use of them).
    if [ -z "${warmed:-}" ] && [ "${MEM_WARM:-1}" = 1 ]; then
        warmed=1
        warm=$(echo $MEM_COUNTS | awk '{print $NF}')
        while read -r i k; do mem_attach "$i" "$k" </dev/null || nbt_die "warm-up: vif $k of domu$i did not come up"; done \
            <<< "$(mem_vifs "$warm")"
        MEM_STREAM_LEN=10 mem_stream "$warm" warmup
    else
        mem_attach 1 0 || nbt_die "$MEM_VARIANT: the warm-up vif did not come up"
    fi
    mem_detach_all
    mem_record baseline 0
    mem_slab_save
    have=0
    for n in $MEM_COUNTS; do
        while read -r i k; do mem_attach "$i" "$k" </dev/null || nbt_die "$MEM_VARIANT: vif $k of domu$i did not come up"; done \
            <<< "$(mem_vifs "$n" | tail -n +$((have + 1)))"
        have=$n
        nbt_stamp "$MEM_VARIANT: $n vifs up"
        sleep 5
        mem_record idle "$n"
        nbt_stamp "$MEM_VARIANT: slab growth at $n vifs idle (kB, cache): $(mem_slab_growth)"
        mem_stream "$n"
    done
    mem_detach_all
    sleep 5
    mem_record after_detach 0
    nbt_stamp "$MEM_VARIANT: slab growth after detaching all (kB, cache): $(mem_slab_growth)"
    # netback-rs falls back to copying when it gets no pool pages: then the pool is not measured.
    nbt_result test=zerocopy_pool_warnings backend="$NBT_CURRENT_BACKEND" variant="$MEM_VARIANT" \
        value="$(dmesg | grep -c 'no zero-copy pages')" unit=lines
done

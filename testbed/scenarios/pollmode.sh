# Where the NAPI polls run under a flood (napi_threaded=2, the default of both netback-rs and
# netfront-rs; netif::poll_mode). One 1-vCPU guest runs netfront-rs on netback-rs:
# * dom0 floods the guest with 64-byte datagrams: the guest's receive polls move into
#   threads ("eth0: NAPI polls in threads" on its console) and back to softirq once the flood
#   is over ("... in softirq");
# * the guest floods dom0's netserver: the vif's guest-TX polls do the same in dom0's log;
# * the guest floods dom0 with frames dropped on arrival, which no dom0 task waits behind:
#   the vif's polls stay in softirq;
# * after a TCP stream each way they are in softirq again.
# Run it under -icount (run-tests does): in virtual time a 64-byte flood starves the 1-vCPU
# receiver by its CPU cost alone, whatever the host's load (without -icount the host's speed
# decides whether the receiver keeps up, and the rule rightly waits when it does). The rule's
# thresholds are the core's, tested on the host (netif::poll_mode).
backend_load "$NBT_BACKEND"
domu_create 1 1 1500 rs
domu_wait_ping 1 150 || nbt_die "guest 1 (netfront-rs) never came up"
f1=$(echo $(guest_frontend 1))
[ "$f1" = xen_netfront_rs ] || nbt_die "guest 1 runs '${f1:-no netfront}', not xen_netfront_rs"
IP1=$(domu_ip 1); v=$(vif_name 1)
expect() { [ "$2" = "$3" ] || nbt_fail "$1: got '$2', expected '$3'"; }
expect "/sys/class/net/$v/threaded at connect (napi_threaded=2)" "$(cat /sys/class/net/$v/threaded)" 0
expect "guest eth0 threaded at connect (napi_threaded=2)" "$(domu_exec 1 "cat /sys/class/net/eth0/threaded" | tr -dc 0-9)" 0

CONSOLE0=$(guest_console_lines 1) DMESG0=$(dmesg | wc -l)
guest_moves() { tail -n +$((CONSOLE0 + 1)) /var/log/xen/console/guest-domu1.log | grep -c "eth0: NAPI polls in $1"; }
vif_moves() { dmesg | tail -n +$((DMESG0 + 1)) | grep -c "$v: NAPI polls in $1"; }
# moved WHO NAME UNDER: WHO's polls went into threads and came back; a record of each count.
moved() {
    local who=$1 name=$2 under=$3 t s
    t=$("${who}_moves" threads); s=$("${who}_moves" softirq)
    nbt_result test="${name}_moves_to_threads" backend="$NBT_CURRENT_BACKEND" value="$t" unit=moves under="$under"
    nbt_result test="${name}_moves_to_softirq" backend="$NBT_CURRENT_BACKEND" value="$s" unit=moves under="$under"
    [ "$t" -ge 1 ] || nbt_fail "$name: its NAPI polls never moved into threads under $under"
    [ "$s" -ge "$t" ] || nbt_fail "$name: its NAPI polls moved into threads $t times but back to softirq $s times after $under"
}

# The guest receives the flood: its polls move, and come back a second after it ends.
measure udp_pps dom0 "$IP1" UDP64 dir=dom0-domu1
sleep 3
moved guest netfront_rs udp_flood_dom0_to_guest
expect "guest eth0 threaded after the flood" "$(domu_exec 1 "cat /sys/class/net/eth0/threaded" | tr -dc 0-9)" 0

# dom0 receives the flood through the vif: the vif's polls move, and come back.
CONSOLE0=$(guest_console_lines 1) DMESG0=$(dmesg | wc -l)
measure udp_pps 1 "$NBT_SUBNET.1" UDP64 dir=domu1-dom0
sleep 3
moved vif vif udp_flood_guest_to_dom0
expect "/sys/class/net/$v/threaded after the flood" "$(cat /sys/class/net/$v/threaded)" 0

# A flood that no dom0 task reads: 64-byte frames from a packet generator in the guest,
# dropped on the vif's ingress (gen_pps). No task waits for the CPU the vif's poll holds, so
# its polls stay in softirq, where a thread would only cost.
DMESG0=$(dmesg | wc -l)
measure udp_gen_pps 1 "$(host_ip dom0)" GEN64 dir=domu1-dom0
t=$(vif_moves threads)
nbt_result test=vif_moves_to_threads backend="$NBT_CURRENT_BACKEND" value="$t" unit=moves under=udp_gen_flood_guest_to_dom0
[ "$t" = 0 ] || nbt_fail "vif: its NAPI polls moved into threads $t times under a flood that no dom0 task reads"

# A TCP stream each way. Its ACKs are small packets too, and under -icount the start of a
# stream into the guest can come in runs heavy enough for a second of threads on either side
# (wall-clock, interop asserts no move under streams and RR); what must hold is that the
# polls end up back in softirq once the streams are over.
CONSOLE0=$(guest_console_lines 1) DMESG0=$(dmesg | wc -l)
measure tcp_stream dom0 "$IP1" TCP_STREAM dir=dom0-domu1
measure tcp_stream 1 "$NBT_SUBNET.1" TCP_STREAM dir=domu1-dom0
sleep 3
for who in guest:netfront_rs vif:vif; do
    t=$("${who%%:*}_moves" threads); s=$("${who%%:*}_moves" softirq)
    nbt_result test="${who#*:}_moves_to_threads" backend="$NBT_CURRENT_BACKEND" value="$t" unit=moves under=tcp_stream
    [ "$s" -ge "$t" ] || nbt_fail "${who#*:}: its NAPI polls moved into threads $t times but back to softirq $s times after the TCP streams"
done
expect "guest eth0 threaded after the TCP streams" "$(domu_exec 1 "cat /sys/class/net/eth0/threaded" | tr -dc 0-9)" 0
expect "/sys/class/net/$v/threaded after the TCP streams" "$(cat /sys/class/net/$v/threaded)" 0
true

# Control ring: stock Linux netfront never uses it, so dom0 plays the frontend itself (a
# "loopback" vif 0.99: dom0 grants the ring pages to itself with gntalloc and offers event
# channels with /dev/xen/evtchn), connects 2 queues plus a control ring, and sends the
# requests of netif.h: algorithm, flags, key, mapping size, mapping (XSA-270 bounds), unknown
# types. Every status and value must match what xen-netback answers (run with --backend c to
# check the expectations against the reference). On rs it also posts guest RX buffers and
# checks that packets dom0 sends to the vif land on the queue the frontend's mapping names,
# with a HASH extra holding the Toeplitz hash. Then it disconnects and removes the vif, and
# connects a second fake frontend asking for 3 and 0 queues (2 offered): refused with the
# reference's message in xenstore. The debugfs `ctrl` file must show the hash state as
# xen-netback's does. On rs a second fake frontend with one queue (the stack then never
# calls ndo_select_queue) must get the same Toeplitz hashes in its HASH extras, never the
# stack's own flow hash, and the hash of its own TX HASH extras must stay on the skbs it
# sends (testbed/bpf/hash_check.c on the vif's ingress counts them).
backend_load "$NBT_BACKEND"
cat > /tmp/fakefront.py <<'PY'
import fcntl, mmap, os, struct, subprocess, sys, time

# argv: [datapath [1]]: check the data path; with "1" a one-queue frontend on vif0.97
# that only sets the hash algorithm and key, then checks the data path.
NQ = 1 if sys.argv[2:3] == ["1"] else 2
HANDLE = 99 if NQ == 2 else 97
FE = "/local/domain/0/device/vif/%d" % HANDLE
BE = "/local/domain/0/backend/vif/0/%d" % HANDLE
fails = []

def xs_write(*kv): subprocess.run(["xenstore-write"] + [str(x) for x in kv], check=True)
def xs_read(p):
    r = subprocess.run(["xenstore-read", p], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None
def wait_state(path, want, t=20):
    end = time.time() + t
    while time.time() < end:
        if xs_read(path + "/state") in [str(w) for w in want]: return True
        time.sleep(0.1)
    fails.append("%s/state is %s, expected one of %s" % (path, xs_read(path + "/state"), want)); return False

def ioc(nr, typ, size): return (size << 16) | (ord(typ) << 8) | nr
gnt = os.open("/dev/xen/gntalloc", os.O_RDWR)
evt = os.open("/dev/xen/evtchn", os.O_RDWR)
def grant_page():
    buf = bytearray(struct.pack("HHIQI4x", 0, 1, 1, 0, 0))  # domid 0, writable, 1 page
    fcntl.ioctl(gnt, ioc(5, 'G', len(buf)), buf, True)
    _, _, _, index, gref = struct.unpack("HHIQI4x", buf)
    return gref, mmap.mmap(gnt, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=index)
def unbound_port():
    return fcntl.ioctl(evt, ioc(2, 'E', 4), bytearray(struct.pack("I", 0)), True)
def notify(port): fcntl.ioctl(evt, ioc(4, 'E', 4), bytearray(struct.pack("I", port)), True)
def sring_init(m):
    m[:] = bytes(4096)
    m[0:16] = struct.pack("IIII", 0, 1, 0, 1)  # req_prod req_event rsp_prod rsp_event

keys, queues = [], []
NBUF = 32  # guest RX buffers posted per queue, one granted page each
for q in range(NQ):
    pre = "queue-%d/" % q if NQ > 1 else ""
    (tx_ref, tx), (rx_ref, rx) = grant_page(), grant_page()
    sring_init(tx); sring_init(rx)
    port = unbound_port()
    keys += [FE + "/" + pre + "tx-ring-ref", tx_ref, FE + "/" + pre + "rx-ring-ref", rx_ref,
             FE + "/" + pre + "event-channel", port]
    bufs = [grant_page() for _ in range(NBUF)]
    queues.append({"tx": tx, "rx": rx, "port": port, "bufs": bufs, "rsp_cons": 0})
ctrl_ref, ctrl = grant_page(); sring_init(ctrl)
data_ref, data = grant_page()
ctrl_port = unbound_port()

xs_write(FE + "/backend", BE, FE + "/backend-id", 0, FE + "/handle", HANDLE, FE + "/mac", "00:16:3e:00:00:99",
         FE + "/state", 1)
# xen-netback's probe reads "script" (for the hotplug uevent; nothing runs it here).
xs_write(BE + "/frontend", FE, BE + "/frontend-id", 0, BE + "/handle", HANDLE, BE + "/mac", "00:16:3e:00:00:99",
         BE + "/script", "/etc/xen/scripts/vif-bridge",
         BE + "/online", 1, BE + "/hotplug-status", "connected", BE + "/state", 1)
wait_state(BE, [2])
print("backend offers feature-ctrl-ring=%s multi-queue-max-queues=%s" % (xs_read(BE + "/feature-ctrl-ring"), xs_read(BE + "/multi-queue-max-queues")))
if xs_read(BE + "/feature-ctrl-ring") != "1": fails.append("backend does not offer feature-ctrl-ring")
xs_write(*(keys + [FE + "/multi-queue-num-queues", NQ, FE + "/request-rx-copy", 1, FE + "/feature-rx-notify", 1,
                   FE + "/ctrl-ring-ref", ctrl_ref, FE + "/event-channel-ctrl", ctrl_port]))
xs_write(FE + "/state", 4)
wait_state(BE, [4])

req_prod = 0
def request(kind, d0=0, d1=0, d2=0):
    global req_prod
    slot = 64 + (req_prod % 128) * 16
    ctrl[slot:slot + 16] = struct.pack("HHIII", req_prod & 0xffff, kind, d0 & 0xffffffff, d1 & 0xffffffff, d2 & 0xffffffff)
    req_prod += 1
    ctrl[0:4] = struct.pack("I", req_prod)
    notify(ctrl_port)
    end = time.time() + 5
    while struct.unpack("I", ctrl[8:12])[0] != req_prod and time.time() < end: time.sleep(0.01)
    if struct.unpack("I", ctrl[8:12])[0] != req_prod: return None
    rid, rkind, status, val = struct.unpack("HHII", ctrl[slot:slot + 12])
    return status, val

SUCCESS, NOT_SUPPORTED, INVALID = 0, 1, 2
GET_FLAGS, SET_FLAGS, SET_KEY, GET_MAP_SIZE, SET_MAP_SIZE, SET_MAP, SET_ALG = 1, 2, 3, 4, 5, 6, 7
def expect(name, got, status, value=None):
    ok = got is not None and got[0] == status and (value is None or got[1] == value)
    print("CTRL %-36s got %-12s expected status %d%s %s" % (name, got, status, "" if value is None else " value %d" % value, "ok" if ok else "FAIL"))
    if not ok: fails.append("%s: got %s, expected status %d value %s" % (name, got, status, value))
def put_u32s(vals): data[0:4 * len(vals)] = struct.pack("%dI" % len(vals), *vals)

def protocol_checks():
    expect("get_flags_without_algorithm", request(GET_FLAGS), NOT_SUPPORTED, 0)
    expect("set_flags_without_algorithm", request(SET_FLAGS, 15), INVALID)
    expect("set_algorithm_unknown", request(SET_ALG, 2), INVALID)
    expect("set_algorithm_toeplitz", request(SET_ALG, 1), SUCCESS)
    expect("get_flags", request(GET_FLAGS), SUCCESS, 15)
    expect("set_flags_unknown_bit", request(SET_FLAGS, 16), INVALID)
    expect("set_flags_all", request(SET_FLAGS, 15), SUCCESS)
    data[0:40] = bytes(range(1, 41))
    expect("set_key_41_bytes", request(SET_KEY, data_ref, 41), INVALID)
    expect("set_key_40_bytes", request(SET_KEY, data_ref, 40), SUCCESS)
    expect("set_key_bad_gref", request(SET_KEY, 0xfffffff, 40), INVALID)
    expect("get_mapping_size", request(GET_MAP_SIZE), SUCCESS, 128)
    expect("set_mapping_size_129", request(SET_MAP_SIZE, 129), INVALID)
    expect("set_mapping_size_8", request(SET_MAP_SIZE, 8), SUCCESS)
    put_u32s([1, 0, 1, 0])
    expect("set_mapping_4_at_0", request(SET_MAP, data_ref, 4, 0), SUCCESS)
    put_u32s([NQ])
    expect("set_mapping_queue_out_of_range", request(SET_MAP, data_ref, 1, 0), INVALID)
    put_u32s([0, 1, 0, 1])
    expect("set_mapping_past_size", request(SET_MAP, data_ref, 4, 6), INVALID)
    expect("set_mapping_offset_wraps", request(SET_MAP, data_ref, 2, 0xffffffff), INVALID)
    expect("set_mapping_bad_gref", request(SET_MAP, 0xfffffff, 1, 0), INVALID)
    # The debugfs dump of the hash state, in xenvif_dump_hash_info's format.
    def dump_text(key, mapping):
        t = "Hash Algorithm: TOEPLITZ\n\nHash Flags:\n- IPv4\n- IPv4 + TCP\n- IPv6\n- IPv6 + TCP\n\nHash Key:\n"
        for i in range(0, len(key), 8):
            t += "[%2u - %2u]: " % (i, i + 7) + "".join("%02x " % b for b in key[i:i + 8]) + "\n"
        t += "\nHash Mapping:\n"
        for i in range(0, len(mapping), 8):
            row = mapping[i:i + 8]
            t += "[%4u - %4u]: " % (i, i + len(row) - 1) + "".join("%4u " % q for q in row) + "\n"
        return t
    dbg = [d for d in ("/sys/kernel/debug/xen-netback-rs/vif0.%d/ctrl" % HANDLE, "/sys/kernel/debug/xen-netback/vif0.%d/ctrl" % HANDLE) if os.path.exists(d)]
    if not dbg:
        fails.append("no debugfs ctrl file for vif0.%d" % HANDLE)
    else:
        got, want = open(dbg[0]).read(), dump_text(bytes(range(1, 41)), [1, 0, 1, 0, 0, 0, 0, 0])
        print("DEBUGFS %s %s" % (dbg[0], "ok" if got == want else "FAIL"))
        if got != want: fails.append("debugfs ctrl: got %r, expected %r" % (got, want))
    expect("unknown_type_99", request(99), NOT_SUPPORTED)
    expect("invalid_type_0", request(0), NOT_SUPPORTED)
def hash_setup():  # the one-queue frontend: Toeplitz with the same key, no mapping
    expect("set_algorithm_toeplitz", request(SET_ALG, 1), SUCCESS)
    data[0:40] = bytes(range(1, 41))
    expect("set_key_40_bytes", request(SET_KEY, data_ref, 40), SUCCESS)

# Data path: with Toeplitz over IPv4 addresses and the mapping [1,0,1,0,...] of size 8, every
# packet dom0 sends to this vif must arrive on queue mapping[hash % 8] with a HASH extra
# carrying the Toeplitz hash of (source, destination). rs only: the C driver also sends
# hash extras, but labels whatever hash the stack computed. With one queue there is no
# mapping: every packet is on queue 0, still with the Toeplitz hash.
def toeplitz(key, data):  # RSS Toeplitz; data shorter than key - 4 bytes
    k, klen, h = int.from_bytes(key, "big"), len(key) * 8, 0
    for pos in range(len(data) * 8):
        if data[pos // 8] & (0x80 >> (pos % 8)):
            h ^= (k >> (klen - 32 - pos)) & 0xffffffff
    return h
def check_data_path():
    key = bytes(range(1, 41))
    expect("dp_set_flags_ipv4", request(SET_FLAGS, 1), SUCCESS)
    mapping = [1, 0, 1, 0, 1, 0, 1, 0] if NQ == 2 else [0] * 8
    if NQ == 2:
        put_u32s(mapping)
        expect("dp_set_mapping_8", request(SET_MAP, data_ref, 8, 0), SUCCESS)
    for q in queues:  # post the RX buffers: request {id, pad, gref}
        for i, (gref, _) in enumerate(q["bufs"]):
            q["rx"][64 + i * 8:64 + i * 8 + 8] = struct.pack("HHI", i, 0, gref)
        q["rx"][0:4] = struct.pack("I", NBUF)
        notify(q["port"])
    dev = "vif0.%d" % HANDLE
    subprocess.run("ip link set %s up && ip addr add 10.98.0.1/24 dev %s" % (dev, dev), shell=True)
    dsts = ["10.98.0.%d" % i for i in range(2, 14)]
    for d in dsts:
        subprocess.run(["ip", "neigh", "replace", d, "lladdr", "00:16:3e:00:00:99", "dev", dev, "nud", "permanent"])
    end = time.time() + 20
    while open("/sys/class/net/%s/carrier" % dev).read().strip() != "1" and time.time() < end: time.sleep(0.2)
    import socket
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in dsts:
        sk.sendto(b"x" * 64, (d, 9))
    time.sleep(2)
    seen, per_queue = 0, [0] * NQ
    for qi, q in enumerate(queues):
        rsp_prod = struct.unpack("I", q["rx"][8:12])[0]
        i = 0
        while i < rsp_prod:
            rid, off, flags, status = struct.unpack("HHHh", q["rx"][64 + (i % 256) * 8:64 + (i % 256) * 8 + 8])
            page = q["bufs"][i % NBUF][1]  # a response fills its request's slot
            pkt = page[off:off + max(status, 0)]
            i += 1
            hashv = None
            if flags & 8:  # extra_info follows
                while True:
                    ex = q["rx"][64 + (i % 256) * 8:64 + (i % 256) * 8 + 8]; i += 1
                    etype, eflags = ex[0], ex[1]
                    if etype == 4:
                        hashv = struct.unpack("<I", ex[4:8])[0]
                    if not eflags & 1: break
            while flags & 4 and i < rsp_prod:  # more_data
                flags = struct.unpack("HHHh", q["rx"][64 + (i % 256) * 8:64 + (i % 256) * 8 + 8])[2]; i += 1
            if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 17: continue  # IPv4 UDP only
            src, dst = pkt[26:30], pkt[30:34]
            want = toeplitz(key, src + dst)
            want_q = mapping[want % 8]
            seen += 1; per_queue[qi] += 1
            ok = hashv == want and qi == want_q
            print("DP %s -> %s queue %d hash %s expected hash %08x queue %d %s" % (socket.inet_ntoa(src), socket.inet_ntoa(dst), qi,
                  "none" if hashv is None else "%08x" % hashv, want, want_q, "ok" if ok else "FAIL"))
            if not ok: fails.append("packet to %s: queue %d hash %s, expected queue %d hash %08x" % (socket.inet_ntoa(dst), qi, hashv, want_q, want))
    print("DP packets %d per queue %s" % (seen, per_queue))
    if seen < len(dsts): fails.append("only %d of %d UDP packets reached the fake guest" % (seen, len(dsts)))
    if NQ == 1:
        check_tx_hash(dev)

# Guest TX: a HASH extra's value must become the skb's hash (skb_set_hash, as xen-netback
# does). testbed/bpf/hash_check.c on the vif's ingress drops, and so counts, every skb whose
# hash is TX_HASH; a backend that drops the guest's hash leaves none there.
TX_HASH, TX_PACKETS = 0x5eedc0de, 4
def ip_csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def check_tx_hash(dev):
    r = subprocess.run("tc qdisc add dev %s clsact && tc filter add dev %s ingress bpf da obj "
                       "/opt/netback-rs/tools/hash_check.o sec tc" % (dev, dev), shell=True)
    if r.returncode != 0:
        fails.append("could not attach testbed/bpf/hash_check.o to %s" % dev); return
    q = queues[0]; tx = q["tx"]
    page_ref, page = grant_page()
    payload = b"h" * 64
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0,
                     bytes([10, 98, 0, 77]), bytes([10, 98, 0, 1]))
    ip = ip[:10] + struct.pack("!H", ip_csum(ip)) + ip[12:]
    frame = b"\xff" * 6 + bytes.fromhex("00163e000099") + b"\x08\x00" + ip + struct.pack("!HHHH", 9999, 9, 8 + len(payload), 0) + payload
    page[0:len(frame)] = frame
    for k in range(TX_PACKETS):  # request {gref, offset, flags = EXTRA_INFO, id, size}, then the HASH extra
        tx[64 + 2 * k * 12:64 + 2 * k * 12 + 12] = struct.pack("IHHHH", page_ref, 0, 8, k, len(frame))
        # extra {type HASH, flags 0, hash {type IPV4 bit, algorithm TOEPLITZ, value}}
        tx[64 + (2 * k + 1) * 12:64 + (2 * k + 1) * 12 + 8] = bytes([4, 0, 0, 1]) + struct.pack("<I", TX_HASH)
    tx[0:4] = struct.pack("I", 2 * TX_PACKETS)
    notify(q["port"])
    end = time.time() + 5
    while struct.unpack("I", tx[8:12])[0] != 2 * TX_PACKETS and time.time() < end: time.sleep(0.01)
    statuses = [struct.unpack("Hh", tx[64 + i * 12:64 + i * 12 + 4])[1] for i in range(struct.unpack("I", tx[8:12])[0])]
    okay = sum(1 for st in statuses if st == 0)
    time.sleep(0.5)
    out = subprocess.run(["tc", "-s", "qdisc", "show", "dev", dev], capture_output=True, text=True).stdout
    seen = hashed = -1
    for line in out.split("qdisc clsact", 1)[-1].splitlines():
        w = line.replace(",", " ").replace("(", " ").replace(")", " ").split()
        if "Sent" in w and "dropped" in w:
            seen, hashed = int(w[w.index("bytes") + 1]), int(w[w.index("dropped") + 1]); break
    ok = okay == TX_PACKETS and hashed == TX_PACKETS
    print("TXHASH sent %d answered okay %d skbs at ingress %d with the guest's hash %08x %d %s" % (
        TX_PACKETS, okay, seen, TX_HASH, hashed, "ok" if ok else "FAIL"))
    if not ok:
        fails.append("guest TX hash: %d of %d packets answered OKAY, %d skbs carried the guest's hash %08x (tc: %r)" % (
            okay, TX_PACKETS, hashed, TX_HASH, out.strip()))
if NQ == 2:
    protocol_checks()
else:
    hash_setup()
if len(sys.argv) > 1 and sys.argv[1] == "datapath":
    check_data_path()

expect("set_algorithm_none", request(SET_ALG, 0), SUCCESS)
expect("get_flags_after_none", request(GET_FLAGS), NOT_SUPPORTED, 0)

xs_write(FE + "/state", 5)
wait_state(BE, [5, 6])
xs_write(FE + "/state", 6)
wait_state(BE, [6])
subprocess.run(["xenstore-rm", BE]); subprocess.run(["xenstore-rm", FE])
end = time.time() + 20
while os.path.exists("/sys/class/net/vif0.%d" % HANDLE) and time.time() < end: time.sleep(0.2)
if os.path.exists("/sys/class/net/vif0.%d" % HANDLE): fails.append("vif0.%d still exists after removal" % HANDLE)
# A frontend asking for more queues than offered, or none, is refused with xen-netback's
# message in xenstore and its vif stays disconnected.
def bad_queue_count(handle, n):
    fe, be = "/local/domain/0/device/vif/%d" % handle, "/local/domain/0/backend/vif/0/%d" % handle
    tx_ref, tx = grant_page(); rx_ref, rx = grant_page(); sring_init(tx); sring_init(rx)
    port = unbound_port()
    xs_write(fe + "/backend", be, fe + "/backend-id", 0, fe + "/handle", handle, fe + "/mac", "00:16:3e:00:00:98", fe + "/state", 1)
    xs_write(be + "/frontend", fe, be + "/frontend-id", 0, be + "/handle", handle, be + "/mac", "00:16:3e:00:00:98",
             be + "/script", "/etc/xen/scripts/vif-bridge",
             be + "/online", 1, be + "/hotplug-status", "connected", be + "/state", 1)
    wait_state(be, [2])
    offer = xs_read(be + "/multi-queue-max-queues")
    xs_write(fe + "/multi-queue-num-queues", n, fe + "/request-rx-copy", 1, fe + "/tx-ring-ref", tx_ref,
             fe + "/rx-ring-ref", rx_ref, fe + "/event-channel", port)
    for q in range(max(n, 1)):
        xs_write(fe + "/queue-%d/tx-ring-ref" % q, tx_ref, fe + "/queue-%d/rx-ring-ref" % q, rx_ref, fe + "/queue-%d/event-channel" % q, port)
    xs_write(fe + "/state", 4)
    # xenbus_dev_fatal writes the error node (the state then ends as Connected in C and rs
    # alike: backend_switch_state publishes it after the failed connect).
    errnode, end = "/local/domain/0/error/backend/vif/0/%d/error" % handle, time.time() + 20
    while xs_read(errnode) is None and time.time() < end: time.sleep(0.1)
    err = xs_read(errnode)
    want = "guest requested %d queues, but valid range is 1 - %s." % (n, offer)
    print("BADQ %d queues: backend state %s, error %r %s" % (n, xs_read(be + "/state"), err, "ok" if err and want in err else "FAIL"))
    if not err or want not in err: fails.append("%d queues: xenstore error is %r, expected %r" % (n, err, want))
    xs_write(fe + "/state", 6)
    wait_state(be, [6])
    subprocess.run(["xenstore-rm", be]); subprocess.run(["xenstore-rm", fe])
    subprocess.run(["xenstore-rm", "/local/domain/0/error/backend/vif/0/%d" % handle])
    end = time.time() + 20
    while os.path.exists("/sys/class/net/vif0.%d" % handle) and time.time() < end: time.sleep(0.2)
if NQ == 2:
    for n in (NQ + 1, 0):
        bad_queue_count(98, n)
for f in fails: print("FAKEFRONT-FAIL " + f)
print("FAKEFRONT-DONE fails=%d" % len(fails))
PY
out=$(timeout 180 python3 /tmp/fakefront.py $([ "$NBT_CURRENT_BACKEND" = rs ] && echo datapath) 2>&1)
echo "$out" | sed 's/^/[fakefront] /'
echo "$out" | grep -q "FAKEFRONT-DONE fails=0" || nbt_fail "control ring checks failed: $(echo "$out" | grep -E 'FAKEFRONT-FAIL|Traceback|Error' | head -n 5 | tr '\n' ';')"
nbt_result test=ctrl_ring_requests backend="$NBT_CURRENT_BACKEND" value="$(echo "$out" | grep -c '^CTRL .* ok$')" unit=answered_as_expected \
    failed="$(echo "$out" | grep -c '^CTRL .* FAIL$')"
[ "$NBT_CURRENT_BACKEND" = rs ] && nbt_result test=toeplitz_hashed_packets backend=rs value="$(echo "$out" | grep -c '^DP .* ok$')" unit=packets \
    failed="$(echo "$out" | grep -c '^DP .* FAIL$')"
if [ "$NBT_CURRENT_BACKEND" = rs ]; then
    # One queue: no ndo_select_queue; the HASH extras must still carry our Toeplitz hash.
    out=$(timeout 120 python3 /tmp/fakefront.py datapath 1 2>&1)
    echo "$out" | sed 's/^/[fakefront 1q] /'
    echo "$out" | grep -q "FAKEFRONT-DONE fails=0" || nbt_fail "one-queue hash extras failed: $(echo "$out" | grep -E 'FAKEFRONT-FAIL|Traceback|Error' | head -n 5 | tr '\n' ';')"
    nbt_result test=toeplitz_hashed_packets_one_queue backend=rs value="$(echo "$out" | grep -c '^DP .* ok$')" unit=packets \
        failed="$(echo "$out" | grep -c '^DP .* FAIL$')"
    nbt_result test=guest_tx_hash_kept backend=rs value="$(echo "$out" | sed -n 's/^TXHASH .* with the guest.s hash [0-9a-f]* \([0-9-]*\) .*/\1/p')" \
        unit=packets sent="$(echo "$out" | sed -n 's/^TXHASH sent \([0-9]*\) .*/\1/p')"
fi
# The backend still serves a real guest afterwards.
domu_create 1 2
domu_wait_ping 1 150 || nbt_fail "guest 1 never came up after the control ring test"

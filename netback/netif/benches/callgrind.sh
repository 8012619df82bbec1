#!/usr/bin/env bash
# Instructions per packet of the core's per-packet paths, counted with
# callgrind (repeatable, independent of machine load):
#   tx_callgrind: guest-TX parse + validate + response building (backend);
#   front_rx_callgrind: netfront-rs' guest-RX poll, copy-out lookup, repost.
#
#   netback/netif/benches/callgrind.sh [PACKETS]     (default 20000)
#
# For each example and shape (small: 1 slot, 60 B; gso: GSO extra + 3 slots)
# it runs the example with 0 and PACKETS packets and prints
# (Ir(PACKETS) - Ir(0)) / PACKETS, so start-up cost is excluded.
set -euo pipefail
PACKETS="${1:-20000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
EXAMPLES="tx_callgrind front_rx_callgrind"
for ex in $EXAMPLES; do
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" nice -n 19 cargo build --release -q -p netif --example "$ex"
done
ir() {
    local out
    out="$(mktemp)"
    nice -n 19 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$ROOT/target/release/examples/$1" "$2" "$3" \
        2>"$out" >/dev/null
    grep -E 'Collected :' "$out" | awk '{print $NF}'
    rm -f "$out"
}
for ex in $EXAMPLES; do
    for shape in small gso; do
        base=$(ir "$ex" "$shape" 0)
        full=$(ir "$ex" "$shape" "$PACKETS")
        echo "$ex $shape: $(( (full - base) / PACKETS )) instructions/packet (Ir $full - $base over $PACKETS packets)"
    done
done

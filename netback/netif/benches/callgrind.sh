#!/usr/bin/env bash
# Instructions per packet of guest-TX parse + validate + response building,
# counted with callgrind (repeatable, independent of machine load).
#
#   netback/netif/benches/callgrind.sh [PACKETS]     (default 20000)
#
# For each shape (small: 1 slot, 60 B; gso: GSO extra + 3 slots, 9000 B) it
# runs examples/tx_callgrind with 0 and PACKETS packets and prints
# (Ir(PACKETS) - Ir(0)) / PACKETS, so start-up cost is excluded.
set -euo pipefail
PACKETS="${1:-20000}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" nice -n 19 cargo build --release -q -p netif --example tx_callgrind
BIN="$ROOT/target/release/examples/tx_callgrind"
ir() {
    local out
    out="$(mktemp)"
    nice -n 19 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" 2>"$out" >/dev/null
    grep -E 'Collected :' "$out" | awk '{print $NF}'
    rm -f "$out"
}
for shape in small gso; do
    base=$(ir "$shape" 0)
    full=$(ir "$shape" "$PACKETS")
    echo "$shape: $(( (full - base) / PACKETS )) instructions/packet (Ir $full - $base over $PACKETS packets)"
done

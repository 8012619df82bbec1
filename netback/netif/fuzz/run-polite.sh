#!/usr/bin/env bash
# Long fuzzing runs on a machine shared with QEMU benchmarks.
#
#   netback/netif/fuzz/run-polite.sh ACTIVE_SECONDS [TARGET...]
#
# Like run.sh, but a target only runs while no qemu-system process exists:
# the fuzzer is SIGSTOPped while QEMU runs and resumed afterwards, and it
# stops after ACTIVE_SECONDS of *unpaused* fuzzing (so the figure is real
# fuzzing time, not wall time). ${JOBS:-2} targets run at a time. The corpus
# persists in corpus/<target>, crashes go to artifacts/<target>/. One
# summary line per target is appended to ${LOG:-artifacts/polite-fuzz.log}.
set -euo pipefail

ACTIVE="${1:?usage: run-polite.sh ACTIVE_SECONDS [TARGET...]}"
shift
CACHE="${NETBACK_RS_CACHE:-/var/cache/netback-rs}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="$CACHE/cargo-tools/bin:$HOME/.cargo/bin:$PATH"
cd "$HERE"
mkdir -p "$HERE/artifacts"
LOG="${LOG:-$HERE/artifacts/polite-fuzz.log}"

TOOLCHAIN=()
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
if [ "$#" -eq 0 ]; then
    mapfile -t TARGETS < <(cargo "${TOOLCHAIN[@]}" fuzz list)
else
    TARGETS=("$@")
fi

qemu_running() { pgrep -f qemu-system-x86_64 >/dev/null 2>&1; }

while qemu_running; do sleep 5; done
nice -n 19 cargo "${TOOLCHAIN[@]}" fuzz build -s none
BIN_DIR="$(ls -d target/*/release | head -n 1)"

run_one() {
    local t="$1" out="$HERE/artifacts/polite-$1.out"
    mkdir -p "corpus/$t" "artifacts/$t"
    local active=0 paused=0 started
    started=$(date +%s)
    nice -n 19 "$BIN_DIR/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
        -print_final_stats=1 -rss_limit_mb=2048 -handle_usr1=1 -report_slow_units=1000000 >"$out" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if qemu_running; then
            if [ "$paused" -eq 0 ]; then kill -STOP "$pid" 2>/dev/null || true; paused=1; fi
        else
            if [ "$paused" -eq 1 ]; then kill -CONT "$pid" 2>/dev/null || true; paused=0; fi
            active=$((active + 1))
            if [ "$active" -ge "$ACTIVE" ]; then
                kill -USR1 "$pid" 2>/dev/null || true
                break
            fi
        fi
        sleep 1
    done
    local rc=0
    wait "$pid" || rc=$?
    local wall=$(( $(date +%s) - started ))
    local execs cov crashes
    execs=$(grep -E '^stat::number_of_executed_units' "$out" | awk '{print $2}' | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$out" | grep -E 'cov: [0-9]+' | tail -n 1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1 ft \2/')
    # Only real findings: a pause while QEMU runs can make libFuzzer file a
    # "slow-unit" (wall-clock based), which is not a bug.
    crashes=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    echo "$(date -u +%FT%TZ) $t: active ${active}s (wall ${wall}s), execs ${execs:-?}, ${cov:-cov ?}, corpus $(find "corpus/$t" -type f | wc -l), crashes $crashes, exit $rc" | tee -a "$LOG"
}

set +e
JOBS="${JOBS:-2}"
i=0
while [ "$i" -lt "${#TARGETS[@]}" ]; do
    pids=()
    for t in "${TARGETS[@]:$i:$JOBS}"; do
        run_one "$t" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    i=$((i + JOBS))
done

#!/usr/bin/env bash
# Runs every cargo-fuzz target of the netif crate for SECONDS each.
#
#   netback/netif/fuzz/run.sh [SECONDS]      (default 20: the CI smoke run)
#
# Installs cargo-fuzz into ${NETBACK_RS_CACHE:-/var/cache/netback-rs}/cargo-tools
# if it is missing. Uses the nightly toolchain when rustup has one, otherwise
# the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Targets are built with overflow checks and debug assertions on, as in the
# kernel. The crate has no unsafe code, so no sanitizer is used (more execs).
# Corpora live in fuzz/corpus/<target> (gitignored); crashes in
# fuzz/artifacts/<target>. Exits non-zero if any target finds a crash.
set -euo pipefail

SECONDS_PER_TARGET="${1:-20}"
CACHE="${NETBACK_RS_CACHE:-/var/cache/netback-rs}"
TOOLS="$CACHE/cargo-tools"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz into $TOOLS"
    mkdir -p "$TOOLS"
    nice -n 19 cargo install cargo-fuzz --locked --root "$TOOLS"
fi

TOOLCHAIN=()
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

cd "$HERE"
mapfile -t TARGETS < <(cargo "${TOOLCHAIN[@]}" fuzz list)
nice -n 19 cargo "${TOOLCHAIN[@]}" fuzz build -s none

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    log="$(mktemp)"
    echo "== $t: ${SECONDS_PER_TARGET}s"
    if nice -n 19 cargo "${TOOLCHAIN[@]}" fuzz run -s none "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        passed=$((passed + 1))
        status=ok
    else
        failed=$((failed + 1))
        status=CRASH
        tail -n 60 "$log"
    fi
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n 1)
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*ft: ([0-9]+).*/cov \1 ft \2/')
    corpus_n=$(find "corpus/$t" -type f | wc -l)
    echo "   $t: $status, execs ${execs:-?}, ${cov:-cov ?}, corpus $corpus_n"
    rm -f "$log"
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

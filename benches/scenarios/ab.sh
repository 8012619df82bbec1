# A/B benchmark inside one boot: the backends in NBT_BACKENDS take turns serving the same
# guests (detach the vifs, swap the module, attach again), NBT_ROUNDS rounds, alternating
# which backend goes first so that drift over the boot does not favour one of them.
# The guests carry the test tools: udp_gen_pps's packet generator (lib.sh's gen_pps).
NBT_DOMU_TOOLS=1
ab_start

# Where each 64-byte UDP test's time went: CPU per domain and per packet, notifications,
# socket and vif drops (lib.sh's udp_cost; tests of 3 s or more).
MEASURE_COST_HOOK=udp_cost

# AB_TESTS (test names, or test/direction, e.g. "tcp_rr" or "tcp_rr/domu1-domu2") runs only
# those: a quicker A/B when bisecting one figure. Recipe:
#   (echo 'AB_TESTS="tcp_rr/domu1-domu2"'; cat benches/scenarios/ab.sh) > /tmp/rr.sh
# (or AB_TESTS="..." ./run-bench: run.sh passes it on). The tests: lib.sh's ab_netperf_round.
ab_rounds ab_netperf_round

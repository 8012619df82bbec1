#!/usr/bin/env python3
"""Host tests for benches/memory_report.py. Run: python3 -m unittest benches/test_memory_report.py"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "memory_report.py")
spec = importlib.util.spec_from_file_location("memory_report", REPORT)
mr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mr)


def rec(variant, state, vifs, kernel, used, balloon, **extra):
    backend = variant.split(" ")[0]
    return {"test": "dom0_mem", "backend": backend, "variant": variant, "state": state, "vifs": vifs,
            "value": kernel, "unit": "kB", "kernel_kb": kernel, "used_kb": used, "balloon_kb": balloon, **extra}


RUN = [
    rec("c", "baseline", 0, 1000, 5000, 900000),
    rec("c", "idle", 1, 1300, 5400, 899000),
    rec("c", "streaming", 1, 1500, 6000, 899000, to_guest_mbit=300.5, from_guest_mbit=200, min_vif_tx_bytes=5e6, min_vif_rx_bytes=4e6),
    rec("c", "idle", 4, 2200, 6600, 896000),
    rec("c", "after_detach", 0, 1010, 5100, 900000),
    rec("rs tx_zerocopy=on", "baseline", 0, 2000, 7000, 900000),
    rec("rs tx_zerocopy=on", "idle", 4, 2400, 7800, 896000),
    rec("rs tx_zerocopy=on", "after_detach", 0, 1990, 7000, 900000),
    {"test": "zerocopy_pool_warnings", "backend": "rs", "value": 0, "unit": "lines"},
]


class Costs(unittest.TestCase):
    def test_per_vif_is_growth_over_count(self):
        per_vif, _ = mr.costs([r for r in RUN if r["test"] == "dom0_mem"])
        self.assertEqual(per_vif[("c", "idle", 1, "kernel")], [300])
        self.assertEqual(per_vif[("c", "idle", 4, "kernel")], [300])
        self.assertEqual(per_vif[("c", "streaming", 1, "used")], [1000])
        self.assertEqual(per_vif[("rs tx_zerocopy=on", "idle", 4, "kernel")], [100])

    def test_pool_is_the_balloon_drop(self):
        per_vif, _ = mr.costs(RUN[:5])
        self.assertEqual(per_vif[("c", "idle", 4, "pool")], [1000])

    def test_leak_is_after_detach_minus_baseline(self):
        _, leak = mr.costs(RUN)
        self.assertEqual(leak[("c", "kernel")], [10])
        self.assertEqual(leak[("c", "used")], [100])
        self.assertEqual(leak[("rs tx_zerocopy=on", "kernel")], [-10])
        self.assertEqual(leak[("rs tx_zerocopy=on", "pool")], [0])

    def test_each_reading_uses_its_own_runs_baseline(self):
        second = [rec("c", "baseline", 0, 3000, 5000, 800000), rec("c", "idle", 1, 3100, 5000, 799000)]
        per_vif, _ = mr.costs(RUN[:5] + second)
        self.assertEqual(per_vif[("c", "idle", 1, "kernel")], [300, 100])
        self.assertIn("| 1 | idle | 200 (n=2) |", mr.report(RUN[:5] + second))

    def test_reading_without_baseline_is_ignored(self):
        per_vif, leak = mr.costs([rec("c", "idle", 1, 1300, 5400, 899000)])
        self.assertEqual((per_vif, leak), ({}, {}))


class Log(unittest.TestCase):
    def test_record_cut_by_xen_console_is_mended(self):
        lines = ['[ 239.978] NBT-RESULT {"test":"dom0_mem","vifs":4,"memavailable_kb(XEN) uart interrupt taking more than 1s\n',
                 '[ 239.978] ":678388}\n',
                 '[ 240.100] [domu1] NBT-RESULT is not at the start\n',
                 '[ 241.000] NBT-RESULT {"test":"dom0_mem","vifs":8}\n']
        self.assertEqual(mr.records_from_log(lines), [{"test": "dom0_mem", "vifs": 4, "memavailable_kb": 678388},
                                                      {"test": "dom0_mem", "vifs": 8}])

    def test_unmendable_line_is_skipped(self):
        self.assertEqual(mr.records_from_log(["[ 1.0] NBT-RESULT {broken\n", "[ 2.0] NBT-RESULT {}\n"]), [{}])


class Output(unittest.TestCase):
    def test_table(self):
        out = mr.report([r for r in RUN if r["test"] == "dom0_mem"])
        self.assertIn("| vifs | state | C xen-netback | netback-rs tx_zerocopy=on |", out)
        self.assertIn("| 4 | idle | 300 | 100 |", out)
        self.assertIn("| 1 | idle | 300 | - |", out)
        self.assertIn("| baseline kernel_kb | 1000 | 2000 |", out)
        self.assertIn("| leak: kernel | 10 | -10 |", out)
        self.assertIn("to guests 300.5, from 200; min 5/4 MB", out)

    def test_breakdown_at_largest_count(self):
        recs = [rec("c", "baseline", 0, 1000, 5000, 900000, sunreclaim_kb=800, vmalloc_kb=100, percpu_kb=100),
                rec("c", "idle", 2, 1200, 5000, 900000, sunreclaim_kb=820, vmalloc_kb=260, percpu_kb=120)]
        self.assertIn("| idle | 10 / 80 / 10 |", mr.report(recs))

    def test_command_reads_only_memory_records(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.jsonl")
            with open(path, "w") as f:
                for r in RUN:
                    f.write(json.dumps(r) + "\n")
            out = subprocess.run([sys.executable, REPORT, path], capture_output=True, text=True, check=True).stdout
            self.assertIn("| 4 | idle | 300 | 100 |", out)
            empty = os.path.join(d, "e.jsonl")
            open(empty, "w").close()
            self.assertEqual(subprocess.run([sys.executable, REPORT, empty], capture_output=True).returncode, 1)


if __name__ == "__main__":
    unittest.main()

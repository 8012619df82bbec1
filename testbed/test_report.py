#!/usr/bin/env python3
"""Host tests for the testbed's verdict (report.py) and the benchmark summary
(benches/report.py): the rules that make a testbed run fail must hold."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")
BENCH = os.path.join(HERE, "..", "benches", "report.py")

GOOD = """[   1.000] (XEN) Xen version 4.20
[   9.000] NBT-STAMP 6.0 toolstack up
[  10.000] [domu1] GUEST: ready
[  20.000] NBT-RESULT {"test":"tcp_stream","backend":"c","value":900.5,"unit":"Mbit/s","dir":"dom0-domu1"}
[  30.000] NBT-DMESG-BEGIN
[  30.100] [    0.000000] Linux version 7.2.13
[  30.200] NBT-DMESG-END
[  30.300] NBT-RC rc=0
"""


def run(text, *extra):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "run.log")
        with open(log, "w") as f:
            f.write(text)
        jsonl = os.path.join(d, "run.jsonl")
        p = subprocess.run([sys.executable, REPORT, "--log", log, "--jsonl", jsonl, *extra],
                           capture_output=True, text=True)
        with open(jsonl) as f:
            recs = [json.loads(l) for l in f]
        return p.returncode, p.stdout, recs


class Verdict(unittest.TestCase):
    def test_clean_run_passes_and_keeps_records(self):
        rc, out, recs = run(GOOD)
        self.assertEqual(rc, 0, out)
        self.assertEqual(recs[0]["value"], 900.5)
        self.assertIn("testbed run passed", out)

    def test_warning_in_dom0_log_fails(self):
        for bad in ["WARNING: CPU: 0 PID: 1 at net/core/dev.c:1 foo", "BUG: kernel NULL pointer dereference",
                    "Oops: 0000 [#1] SMP", "watchdog: BUG: soft lockup - CPU#0 stuck for 22s!",
                    "INFO: task xenwatch:40 blocked for more than 120 seconds."]:
            text = GOOD.replace("Linux version 7.2.13", bad)
            rc, out, _ = run(text)
            self.assertEqual(rc, 1, bad)
            self.assertIn("dom0 kernel log", out)

    def test_result_cut_by_a_xen_console_line_is_joined(self):
        # Seen in a CI rehearsal: Xen's console message landed mid-record on the shared
        # serial line and the record went on in the next line.
        cut = ('[  20.000] NBT-RESULT {"test":"t","backend":"rs","value":"ok","unit":"outcome","evil":"a b'
               '(XEN) uart interrupt taking more than 4ms, switched to polling\n'
               '[  20.001] c d"}\n')
        text = GOOD.replace("[  30.000] NBT-DMESG-BEGIN", cut + "[  30.000] NBT-DMESG-BEGIN")
        rc, out, recs = run(text)
        self.assertEqual(rc, 0, out)
        self.assertEqual([r["evil"] for r in recs if r["test"] == "t"], ["a bc d"])
        # A record that is broken for another reason still fails the run.
        rc, out, _ = run(text.replace('[  20.001] c d"}', "[  20.001] junk"))
        self.assertEqual(rc, 1, out)
        self.assertIn("unparsable result line", out)

    def test_guest_console_lines_do_not_count_as_dom0(self):
        text = GOOD.replace("[domu1] GUEST: ready", "[domu1] WARNING: something in the guest")
        self.assertEqual(run(text)[0], 0)

    def test_warning_on_driver_domain_console_fails(self):
        text = GOOD.replace("[domu1] GUEST: ready",
                            "[drvdom] DRVDOM: ready\n[  11.000] [drvdom] [  40.1] WARNING: CPU: 1 PID: 9 at net/core/dev.c:1 x")
        rc, out, _ = run(text)
        self.assertEqual(rc, 1)
        self.assertIn("driver domain kernel log", out)
        self.assertEqual(run(text.replace("WARNING:", "warning"))[0], 0)

    def test_scenario_failure_fails(self):
        text = GOOD.replace("NBT-RC rc=0", "NBT-FAIL ping lost packets\n[  30.400] NBT-RC rc=1")
        rc, out, _ = run(text)
        self.assertEqual(rc, 1)
        self.assertIn("ping lost packets", out)

    def test_unfinished_run_fails_with_tail(self):
        text = "\n".join(GOOD.splitlines()[:4]) + "\n"
        rc, out, _ = run(text, "--qemu-rc", "124")
        self.assertEqual(rc, 1)
        self.assertIn("timed out", out)
        self.assertIn("last 40 lines", out)


class BenchSummary(unittest.TestCase):
    def test_medians_and_ratios(self):
        recs = []
        for b, vals in (("c", [100, 300, 200]), ("rs", [250, 150, 500])):
            for v in vals:
                recs.append({"test": "tcp_stream", "dir": "dom0-domu1", "backend": b, "value": v, "unit": "Mbit/s"})
        with tempfile.TemporaryDirectory() as d:
            j = os.path.join(d, "r.jsonl")
            with open(j, "w") as f:
                f.write("\n".join(json.dumps(r) for r in recs))
            s, svg = os.path.join(d, "s.json"), os.path.join(d, "c.svg")
            p = subprocess.run([sys.executable, BENCH, j, "--json", s, "--svg", svg], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(s) as f:
                row = json.load(f)["rows"][0]
            self.assertEqual(row["median"], {"c": 200, "rs": 250})
            self.assertAlmostEqual(row["ratio"]["rs"], 1.25)
            with open(svg) as f:
                self.assertTrue(f.read().startswith("<svg"))


if __name__ == "__main__":
    unittest.main(verbosity=1)

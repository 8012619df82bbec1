#!/usr/bin/env python3
"""Host tests for benches/report.py: pairing of the rounds, the bootstrap interval and the
outputs (table, summary.json, chart). Run: python3 -m unittest benches/test_report.py"""
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.dom.minidom

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")
spec = importlib.util.spec_from_file_location("bench_report", REPORT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def rec(backend, value, rnd=None, test="tcp_rr", d="domu1-domu2", unit="trans/s", **extra):
    r = {"test": test, "backend": backend, "value": value, "unit": unit, "dir": d, **extra}
    if rnd is not None:
        r["round"] = rnd
    return r


# The host's drift: every round both backends move together (up to 2x), rs is 1.10x c.
DRIFT = [300, 600, 450, 350, 520]
DRIFTING = [rec("c", v, i + 1) for i, v in enumerate(DRIFT)] + [rec("rs", v * 1.1, i + 1) for i, v in enumerate(DRIFT)]


class Pairing(unittest.TestCase):
    def test_ratio_per_round_in_round_order(self):
        recs = [rec("c", 100, 1), rec("rs", 150, 1), rec("rs", 300, 2), rec("c", 200, 2)]
        self.assertEqual(report.paired_ratios(recs, ["c", "rs"])[("tcp_rr", "domu1-domu2", "rs")], [1.5, 1.5])

    def test_rounds_sort_as_numbers(self):
        recs = [rec("c", 1, r) for r in range(1, 12)] + [rec("rs", r, r) for r in range(1, 12)]
        self.assertEqual(report.paired_ratios(recs, ["c", "rs"])[("tcp_rr", "domu1-domu2", "rs")], list(range(1, 12)))

    def test_round_with_a_side_missing_is_skipped(self):
        recs = [rec("c", 100, 1), rec("rs", 110, 1), rec("c", 100, 2), rec("rs", 120, 3)]
        self.assertEqual(report.paired_ratios(recs, ["c", "rs"])[("tcp_rr", "domu1-domu2", "rs")], [1.1])

    def test_only_same_test_and_direction_pair(self):
        recs = [rec("c", 100, 1), rec("rs", 200, 1, d="dom0-domu1"), rec("rs", 300, 1, test="tcp_stream")]
        self.assertEqual(dict(report.paired_ratios(recs, ["c", "rs"])), {})

    def test_rounds_of_different_files_do_not_pair(self):
        recs = [rec("c", 100, 1, _file="a"), rec("rs", 110, 1, _file="a"), rec("rs", 500, 1, _file="b")]
        self.assertEqual(report.paired_ratios(recs, ["c", "rs"])[("tcp_rr", "domu1-domu2", "rs")], [1.1])

    def test_duplicate_zero_reference_and_no_round_are_skipped(self):
        recs = [rec("c", 100, 1), rec("c", 101, 1), rec("rs", 100, 1),  # c twice in round 1
                rec("c", 0, 2), rec("rs", 100, 2),  # reference 0
                rec("c", 100), rec("rs", 100)]  # no round
        self.assertEqual(dict(report.paired_ratios(recs, ["c", "rs"])), {})

    def test_every_backend_against_the_first(self):
        recs = [rec("c", 100, 1), rec("rs@old", 90, 1), rec("rs", 120, 1), rec("other", 5, 1)]
        pairs = report.paired_ratios(recs, ["c", "rs@old", "rs"])
        self.assertEqual(sorted(pairs), [("tcp_rr", "domu1-domu2", "rs"), ("tcp_rr", "domu1-domu2", "rs@old")])
        self.assertAlmostEqual(pairs[("tcp_rr", "domu1-domu2", "rs@old")][0], 0.9)


class Bootstrap(unittest.TestCase):
    XS = [0.95, 1.02, 1.07, 1.10, 1.31]

    def test_median_inside_interval_inside_range(self):
        m, lo, hi = report.bootstrap_median(self.XS)
        self.assertEqual(m, 1.07)
        self.assertTrue(min(self.XS) <= lo <= m <= hi <= max(self.XS), (lo, m, hi))
        self.assertLess(lo, hi)

    def test_reproducible(self):
        self.assertEqual(report.bootstrap_median(self.XS), report.bootstrap_median(list(self.XS)))

    def test_constant_and_single_ratio_have_no_width(self):
        self.assertEqual(report.bootstrap_median([1.1] * 5), (1.1, 1.1, 1.1))
        self.assertEqual(report.bootstrap_median([0.9]), (0.9, 0.9, 0.9))

    def test_percentile_interpolates(self):
        xs = [1.0, 2.0, 3.0, 4.0, 5.0]
        self.assertEqual(report.percentile(xs, 0), 1.0)
        self.assertEqual(report.percentile(xs, 1), 5.0)
        self.assertAlmostEqual(report.percentile(xs, 0.05), 1.2)
        self.assertAlmostEqual(report.percentile(xs, 0.95), 4.8)


class Summary(unittest.TestCase):
    def test_paired_ratio_sees_through_drift(self):
        row = report.summarise(DRIFTING, ["c", "rs"])[0]
        self.assertAlmostEqual(row["paired_ratio"]["rs"], 1.1)
        self.assertAlmostEqual(row["paired_interval"]["rs"][0], 1.1)
        self.assertAlmostEqual(row["paired_interval"]["rs"][1], 1.1)
        self.assertEqual(row["paired_n"]["rs"], 5)
        self.assertEqual(row["median"]["c"], 450)  # old keys stay
        self.assertAlmostEqual(row["ratio"]["rs"], 1.1)
        self.assertIn("1.10 [1.10-1.10] n=5", report.text_table([row], ["c", "rs"]))

    def test_order_of_rounds_does_not_fool_the_pairs(self):
        # Medians alone say rs = c; every round says rs is 0.8x c.
        recs = [rec("c", 100, 1), rec("rs", 80, 1), rec("c", 200, 2), rec("rs", 160, 2), rec("c", 125, 3), rec("rs", 100, 3),
                rec("c", 80, 4), rec("rs", 64, 4), rec("rs", 125, 5), rec("c", 156.25, 5)]
        row = report.summarise(recs, ["c", "rs"])[0]
        self.assertAlmostEqual(row["ratio"]["rs"], 100 / 125)
        self.assertAlmostEqual(row["paired_ratio"]["rs"], 0.8)

    def test_records_without_rounds_have_no_pairs(self):
        row = report.summarise([rec("c", 200), rec("rs", 250)], ["c", "rs"])[0]
        self.assertEqual((row["paired_n"]["rs"], row["paired_ratio"]["rs"]), (0, None))
        self.assertAlmostEqual(row["ratio"]["rs"], 1.25)
        self.assertIn("- n=0", report.text_table([row], ["c", "rs"]))
        xml.dom.minidom.parseString(report.svg_chart([row], ["c", "rs"], "t"))

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as d:
            j, s, svg = (os.path.join(d, n) for n in ("r.jsonl", "s.json", "c.svg"))
            with open(j, "w") as f:
                f.write("\n".join(json.dumps(r) for r in DRIFTING + [rec("rs@old", 1.3 * v, i + 1) for i, v in enumerate(DRIFT)]))
            p = subprocess.run([sys.executable, REPORT, j, "--backends", "c rs@old rs", "--json", s, "--svg", svg],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("1.30 [1.30-1.30] n=5  1.10 [1.10-1.10] n=5", p.stdout)
            with open(s) as f:
                summary = json.load(f)
            self.assertEqual(summary["backends"], ["c", "rs@old", "rs"])
            self.assertEqual(summary["bootstrap"]["resamples"], report.RESAMPLES)
            row = summary["rows"][0]
            for key in ("median", "n", "values", "ratio", "paired_ratio", "paired_interval", "paired_n", "paired_values"):
                self.assertIn(key, row)
            self.assertEqual(len(row["paired_interval"]["rs@old"]), 2)
            self.assertIsNone(summary["icount"])
            xml.dom.minidom.parse(svg)

    def test_boots_apart(self):
        # Two files (boots): each has its own paired-ratio median; the spread is their distance.
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for k, factor in enumerate((1.1, 1.3)):
                paths.append(os.path.join(d, "boot%d.jsonl" % k))
                with open(paths[-1], "w") as f:
                    f.write("\n".join(json.dumps(rec(b, v * (factor if b == "rs" else 1), i + 1))
                                      for b in ("c", "rs") for i, v in enumerate(DRIFT)))
            recs = report.load(paths)
            meds = report.boot_medians(recs, ["c", "rs"])[("tcp_rr", "domu1-domu2", "rs")]
            self.assertEqual([round(m, 6) for m in meds], [1.1, 1.3])
            self.assertRegex(report.spread_table(recs, ["c", "rs"]), r"tcp_rr +domu1-domu2 +rs/c +1.10 1.30 +0.20")
            self.assertIsNone(report.spread_table(report.load(paths[:1]), ["c", "rs"]))
            p = subprocess.run([sys.executable, REPORT] + paths, capture_output=True, text=True)
            self.assertIn("how far the boots spread", p.stdout)

    def test_icount_and_packet_rates(self):
        # run.sh --icount tags every record; udp_pps rows are rates like any other (pps).
        recs = [dict(r, icount="shift=1,sleep=off") for r in DRIFTING]
        recs += [rec(b, v * (1.2 if b == "rs" else 1), i + 1, test="udp_pps", d="domu1-dom0", unit="pps", icount="shift=1,sleep=off")
                 for b in ("c", "rs") for i, v in enumerate([2000, 950, 2800])]
        with tempfile.TemporaryDirectory() as d:
            j, s = os.path.join(d, "r.jsonl"), os.path.join(d, "s.json")
            with open(j, "w") as f:
                f.write("\n".join(json.dumps(r) for r in recs))
            p = subprocess.run([sys.executable, REPORT, j, "--json", s], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("QEMU -icount shift=1,sleep=off", p.stdout)
            self.assertRegex(p.stdout, r"udp_pps +domu1-dom0 +pps +2000.0 \(3\) +2400.0 \(3\) +1.20 \[1.20-1.20\] n=3")
            with open(s) as f:
                self.assertEqual(json.load(f)["icount"], "shift=1,sleep=off")
        self.assertEqual(report.icount_of(recs + [rec("c", 1)]), ["none", "shift=1,sleep=off"])


if __name__ == "__main__":
    unittest.main(verbosity=1)

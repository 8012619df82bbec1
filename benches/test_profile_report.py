#!/usr/bin/env python3
"""Host tests for benches/profile_report.py: PROFILE lines of a --profile run turned into a
host's CPU per unit of work. Run: python3 -m unittest benches/test_profile_report.py"""
import importlib.util
import io
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("profile_report", os.path.join(HERE, "profile_report.py"))
pr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pr)
spec = importlib.util.spec_from_file_location("profile_lines", os.path.join(HERE, "profile_lines.py"))
pl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pl)


def lines(backend, rnd, value, funcs, total, test="udp_pps", d="domu1-dom0", unit="pps", hz=500, secs=2, host=None):
    hdr = f"[  12.000] PROFILE test={test} backend={backend} value={value} unit={unit} hz={hz} secs={secs}"
    hdr += (f" host={host}" if host else "") + f" dir={d} round={rnd}"
    out = [f"{hdr} | {n} {dso} {sym}" for dso, sym, n in funcs]
    return out + [f"{hdr} | total {total}"]


# 1000 pps over a 2 s window sampled at 500 Hz: one sample is 2 ms of CPU, 2000 packets, so a
# sample per window is 1 us per packet.
C = lines("c", 1, 1000, [("kernel.kallsyms", "memcpy", 300), ("xen_netback", "xenvif_tx_action", 100),
                         ("kernel.kallsyms", "hypercall<-xen_safe_halt", 1500)], 2000)
RS = lines("rs", 1, 2000, [("kernel.kallsyms", "memcpy", 300), ("xen_netback_rs", "_RNvtx_poll", 60),
                           ("kernel.kallsyms", "hypercall<-xen_safe_halt", 1600)], 2000)


class Parse(unittest.TestCase):
    def test_runs_keyed_by_test_and_backend(self):
        data = pr.parse(C + RS + ["NBT-RESULT {}", "PROFILE without a bar"])
        self.assertEqual(sorted(data[("udp_pps", "domu1-dom0", "dom0")]), ["c", "rs"])
        run = data[("udp_pps", "domu1-dom0", "dom0")]["c"][0]
        self.assertEqual(run[4], 2000)
        self.assertEqual(run[5][("xen_netback", "xenvif_tx_action")], 100)

    def test_per_unit_cost(self):
        run = pr.parse(C)[("udp_pps", "domu1-dom0", "dom0")]["c"][0]
        self.assertAlmostEqual(pr.per_unit(run, 300), 300.0)  # 300 samples = 0.6 s over 2000 packets
        run = pr.parse(RS)[("udp_pps", "domu1-dom0", "dom0")]["rs"][0]
        self.assertAlmostEqual(pr.per_unit(run, 300), 150.0)  # the same CPU over twice the packets

    def test_module_names(self):
        self.assertEqual(pr.short_dso("/lib/modules/7.2.13/kernel/drivers/net/xen-netback/xen-netback.ko"), "xen_netback")
        self.assertEqual(pr.short_dso("[xen_netback_rs]"), "xen_netback_rs")
        self.assertEqual(pr.short_dso("[kernel.kallsyms]"), "kernel")
        self.assertEqual(pr.short_dso("/usr/lib/x86_64-linux-gnu/libc.so.6"), "libc.so.6")

    def test_hosts_apart(self):
        # The guest's lines of the same test and round: a table of their own, not pooled
        # with dom0's; a log from before hosts were named is dom0's.
        guest = lines("c", 1, 1000, [("xen_netfront", "xennet_poll", 50)], 2000, host="domu1")
        data = pr.parse(C + guest)
        self.assertEqual(sorted(data), [("udp_pps", "domu1-dom0", "dom0"), ("udp_pps", "domu1-dom0", "domu1")])
        self.assertEqual(data[("udp_pps", "domu1-dom0", "domu1")]["c"][0][4], 2000)
        out = io.StringIO()
        pr.report(data, 10, None, "domu1", out)
        self.assertIn("domu1 CPU", out.getvalue())
        self.assertNotIn("dom0 CPU", out.getvalue())

    def test_a_test_without_a_figure_is_left_out(self):
        self.assertEqual(pr.parse(lines("c", 1, 0, [("k", "f", 1)], 10)), {})


class Report(unittest.TestCase):
    def render(self, *runs):
        out = io.StringIO()
        pr.report(pr.parse([l for r in runs for l in r]), 10, None, None, out)
        return out.getvalue()

    def test_modules_and_busy_without_idle(self):
        text = self.render(C, RS)
        busy = next(l for l in text.splitlines() if l.strip().startswith("= busy"))
        self.assertEqual(busy.split()[-2:], ["400.000", "180.000"])
        self.assertIn("xen_netback_rs", text)
        self.assertNotIn("xen_safe_halt", text.split("function")[1])

    def test_median_counts_a_round_without_the_function_as_zero(self):
        c2 = lines("c", 2, 1000, [("kernel.kallsyms", "memcpy", 100)], 2000)
        c3 = lines("c", 3, 1000, [("kernel.kallsyms", "memcpy", 100)], 2000)
        text = self.render(C, c2, c3)
        row = next(l for l in text.splitlines() if "xenvif_tx_action" in l)
        self.assertEqual(row.split()[-1], "0.000")


class Addresses(unittest.TestCase):
    """NBT_PROFILE_ADDRS=1: the fold's per-instruction lines of our module, and their reader."""

    def fold(self, addrs):
        import subprocess
        samples = ("ffffffffc0001000 t tx_poll\t[xen_netback_rs]\nffffffffc0002000 t flush\t[xen_netback_rs]\n--\n"
                   "ffffffffc0001010 [unknown] ([unknown])\nffffffff81000000 napi_poll ([kernel.kallsyms])\n\n"
                   "ffffffffc0001010 [unknown] ([unknown])\n\n"
                   "ffffffffc0002abc [unknown] ([unknown])\n\n"
                   "ffffffff81000010 memset ([kernel.kallsyms])\nffffffffc0001020 [unknown] ([unknown])\n\n")
        return subprocess.run(["awk", "-v", "hdr=H", "-v", "addrs=%d" % addrs, "-f",
                               os.path.join(HERE, "..", "testbed", "profile-fold.awk")],
                              input=samples, capture_output=True, text=True, check=True).stdout.splitlines()

    def test_fold_counts_the_instruction_of_each_sample_in_the_module(self):
        out = self.fold(1)
        self.assertIn("H | addr 2 [xen_netback_rs] tx_poll+0x10", out)
        self.assertIn("H | addr 1 [xen_netback_rs] flush+0xabc", out)
        # Only the innermost frame: a sample in memset called from the module is memset's.
        self.assertFalse([l for l in out if "tx_poll+0x20" in l])
        self.assertIn("H | total 4", out)

    def test_fold_without_the_option_prints_no_addresses(self):
        self.assertFalse([l for l in self.fold(0) if " | addr " in l])

    def test_addr_lines_leave_the_report_alone_and_are_read_per_backend(self):
        hdr = "[  1.0] PROFILE test=udp_pps backend=%s value=1000 unit=pps hz=500 secs=2 dir=domu1-dom0 round=1"
        log = RS + [hdr % "rs" + " | addr 7 [xen_netback_rs] tx_poll+0x10",
                    hdr % "rs" + " | addr 3 [xen_netback_rs] tx_poll+0x10",
                    hdr % "c" + " | addr 5 [xen_netback_rs] tx_poll+0x10",
                    hdr % "rs" + " host=domu1 | addr 9 [xen_netback_rs] tx_poll+0x10"]
        self.assertEqual(pr.parse(log), pr.parse(RS))
        self.assertEqual(pl.parse(log, "rs"), {("tx_poll", 0x10): 10})
        self.assertEqual(pl.parse(log, "rs", "udp_pps/domu1-dom0"), {("tx_poll", 0x10): 10})
        self.assertEqual(pl.parse(log, "rs", "tcp_rr/domu1-dom0"), {})


if __name__ == "__main__":
    unittest.main()

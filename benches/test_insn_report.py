"""insn_report.py on a made-up run: blocks of a known object attributed to its functions,
another domain's code at the same addresses left out, per unit of the test's figure."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# f1: 4 instructions, 13 bytes (the call's 4 bytes are relocated); f2: 2 instructions, 3 bytes.
ASM = """
.text
.globl f1
f1: mov %rdi,%rax
    add $1,%rax
    call ext
    ret
.globl f2
f2: xor %eax,%eax
    ret
"""
BASE = 0xFFFFFFFFA0000000
# The call as the loader may leave it: its target filled in, or the whole instruction patched
# (a static branch's jump becomes a 5-byte nop).
F1_LOADED = "4889f84883c001" + "e811223344" + "c3"
F1_PATCHED = "4889f84883c001" + "0f1f440000" + "c3"
F2 = "31c0c3"


class InsnReportTest(unittest.TestCase):
    def run_report(self, rows, extra_args=(), user=None):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["gcc", "-c", "-x", "assembler", "-", "-o", f"{tmp}/m.ko"], input=ASM, text=True,
                           check=True)
            with open(f"{tmp}/run.log", "w") as log:
                log.write("[ 1.0] INSN seq=1 test=udp_gen_pps backend=rs value=10 unit=pps secs=2 dir=a-b\n")
                log.write(f"[ 1.0] INSN-SECTION seq=1 module=xen_netback_rs section=.text addr={BASE:#x}\n")
            with open(f"{tmp}/run.insn.1", "w") as dump:
                if user is not None:
                    dump.write(f"# user {user}\n")
                for va, ha, n, nb, cnt, head in rows:
                    dump.write(f"{va:x} {ha:x} {n:x} {nb:x} {cnt} {head}\n")
            out = subprocess.run([sys.executable, f"{HERE}/insn_report.py", f"{tmp}/run.log",
                                  "--ko", f"rs={tmp}/m.ko", *extra_args], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout, out.stderr

    def figure(self, out, name):
        m = re.search(rf"^\s+{re.escape(name)}\s+(\S+)\s*$", out, re.M)
        self.assertIsNotNone(m, f"no row {name} in:\n{out}")
        return float(m.group(1))

    def test_blocks_to_functions_per_packet(self):
        rows = [
            (BASE, 0x1000, 4, 13, 100, F1_LOADED),          # dom0's f1, whole
            (BASE + 13, 0x1000, 2, 3, 10, F2),               # dom0's f2
            (BASE, 0x1000, 4, 13, 50, F1_PATCHED),           # f1 again, patched
            (BASE, 0x9000, 4, 13, 1000, "90" * 13),          # a guest's code at f1's address
            (BASE + 1, 0x9000, 1, 2, 500, "89f8"),           # off an instruction boundary
            (0xFFFFFFFF81000000, 0x5000, 3, 9, 200, "00"),   # kernel text elsewhere
        ]
        out, err = self.run_report(rows)
        # 20 packets (10 pps for 2 s): f1 600 instructions, f2 20.
        self.assertEqual(self.figure(out, "f1"), 30)
        self.assertEqual(self.figure(out, "f2"), 1)
        self.assertEqual(self.figure(out, "(module total)"), 31)
        self.assertEqual(self.figure(out, "(kernel text, all domains)"), (600 + 20 + 4000 + 500 + 600) / 20)
        self.assertEqual(err, "")

    def test_user_space_and_xen_in_the_total(self):
        rows = [(BASE + 13, 0x1000, 2, 3, 10, F2), (0xFFFF82D040200000, 0x7000, 5, 20, 40, "90")]
        out, _ = self.run_report(rows, user=1000)
        self.assertEqual(self.figure(out, "(user space, all domains)"), 50)
        self.assertEqual(self.figure(out, "(Xen)"), 10)
        self.assertEqual(self.figure(out, "(all: Xen, kernels, user space)"), (1000 + 200 + 20) / 20)

    def test_another_build_is_reported(self):
        # In dom0's module memory, a block whose bytes are not the .ko's.
        rows = [(BASE, 0x1000, 4, 13, 100, F1_LOADED), (BASE + 13, 0x1000, 2, 3, 100, "31c990")]
        out, err = self.run_report(rows)
        self.assertIn("another build of the module?", err)
        self.assertEqual(self.figure(out, "(module total)"), 20)

    def test_annotate_gives_each_instruction_per_unit(self):
        # f1's block ran 100 times (20 packets): each of its instructions 5 a packet; f2 never.
        rows = [(BASE, 0x1000, 4, 13, 100, F1_LOADED), (BASE + 13, 0x1000, 2, 3, 10, F2)]
        out, _ = self.run_report(rows, ["--annotate", "rs:f1"])
        part = out.split("functions matching 'f1'")[1]
        self.assertIn("<f1> (.text): 20.0 instructions per unit", part)
        self.assertRegex(part, r"\n\s+5\.00\s+0\s+mov\s+%rdi,%rax")
        self.assertRegex(part, r"\n\s+5\.00\s+c\s+ret")
        self.assertNotIn("xor", part)

    def test_xen_blocks_to_xen_functions(self):
        # A Xen binary of two functions at Xen's text address, symbols as `nm` gives them.
        with tempfile.TemporaryDirectory() as tmp:
            xen = f"{tmp}/xen-syms"
            subprocess.run(["gcc", "-c", "-x", "assembler", "-", "-o", f"{tmp}/x.o"],
                           input=".text\n.globl xa\nxa: nop\n.fill 15,1,0x90\n.globl xb\nxb: ret\n",
                           text=True, check=True)
            subprocess.run(["ld", "-Ttext=0xffff82d040200000", "-e", "xa", f"{tmp}/x.o", "-o", xen], check=True)
            rows = [(0xFFFF82D040200000, 0x7000, 4, 4, 40, "90"), (0xFFFF82D040200010, 0x7000, 1, 1, 20, "c3")]
            out, _ = self.run_report(rows, ["--xen", xen])
        # 20 packets: xa 160 instructions, xb 20; the Xen total is theirs.
        self.assertEqual(self.figure(out, "[xen] xa"), 8)
        self.assertEqual(self.figure(out, "[xen] xb"), 1)
        self.assertEqual(self.figure(out, "(Xen)"), 9)


if __name__ == "__main__":
    unittest.main()

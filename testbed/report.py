#!/usr/bin/env python3
"""Read a testbed run's serial log: extract result records, check dom0's kernel log (and
the driver domain's, when the backend ran in one), print a table and decide pass or fail
(exit status)."""
import argparse
import json
import re
import sys

STAMP = re.compile(r"^\[\s*[0-9.]+\] ")
# What makes a kernel log bad: the project's rule for every testbed test, for each kernel
# that runs a backend (dom0; the driver domain). testbed/dom0/lib.sh has the same rule.
BAD = re.compile(r"WARNING:|BUG:|Oops|LOCKUP|soft lockup|hung_task|blocked for more than|"
                 r"rcu_sched self-detected stall|rcu: INFO|Call Trace|Kernel panic")


def parse(path):
    results, fails, bad, drvdom_bad, rc, in_dmesg, lines = [], [], [], [], None, False, []
    # A result line that a Xen console message cut in two: dom0 and Xen share the serial
    # line, so "(XEN) ..." can land mid-record and the record goes on in the next line.
    split = None
    with open(path, errors="replace") as f:
        for raw in f:
            line = STAMP.sub("", raw.rstrip("\n"))
            lines.append(raw.rstrip("\n"))
            if split is not None:
                head, split = split, None
                try:
                    results.append(json.loads(head + line))
                    continue
                except json.JSONDecodeError:
                    fails.append("unparsable result line: NBT-RESULT " + head + " / " + line)
            if line.startswith("[domu"):
                continue  # guest consoles: their kernels are not under test here
            if line.startswith("[drvdom] "):
                # The driver domain's console (warnings and worse): a backend's kernel.
                if BAD.search(line):
                    drvdom_bad.append(line)
                continue
            if line.startswith("NBT-RESULT "):
                record = line[len("NBT-RESULT "):]
                try:
                    results.append(json.loads(record))
                except json.JSONDecodeError:
                    if "(XEN) " in record:
                        split = record[:record.index("(XEN) ")]
                    else:
                        fails.append("unparsable result line: " + line)
            elif line.startswith("NBT-FAIL "):
                fails.append(line[len("NBT-FAIL "):])
            elif line.startswith("NBT-RC "):
                rc = int(line.split("rc=")[1])
            elif line == "NBT-DMESG-BEGIN":
                in_dmesg = True
            elif line == "NBT-DMESG-END":
                in_dmesg = False
            elif in_dmesg and BAD.search(line):
                bad.append(line)
    return results, fails, bad, drvdom_bad, rc, lines


def table(results):
    if not results:
        return "(no result records)"
    keys = ["test", "backend", "value", "unit"]
    extra = sorted({k for r in results for k in r} - set(keys))
    cols = keys + extra
    rows = [[str(r.get(c, "")) for c in cols] for r in results]
    width = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, width))]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, width)) for row in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--log", required=True)
    ap.add_argument("--jsonl", help="write the result records here, one JSON object a line")
    ap.add_argument("--qemu-rc", type=int, default=0, help="QEMU's exit status (124: timeout)")
    a = ap.parse_args()
    results, fails, bad, drvdom_bad, rc, lines = parse(a.log)
    if a.jsonl:
        with open(a.jsonl, "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print(table(results))
    problems = list(fails)
    if bad:
        problems.append("dom0 kernel log: " + " | ".join(bad[:5]))
    if drvdom_bad:
        problems.append("driver domain kernel log: " + " | ".join(drvdom_bad[:5]))
    if rc is None:
        problems.append("the run never finished (%s)" % ("timed out" if a.qemu_rc == 124 else
                                                         "QEMU exit %d" % a.qemu_rc))
        print("---- last 40 lines of %s ----" % a.log)
        print("\n".join(lines[-40:]))
    for p in problems:
        print("FAIL:", p)
    print("log: %s%s" % (a.log, "\nresults: " + a.jsonl if a.jsonl else ""))
    ok = rc == 0 and not problems
    print("testbed run %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

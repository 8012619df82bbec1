#!/usr/bin/env python3
"""Where in netback-rs' source its profile samples landed: reads a run's "PROFILE ... | addr
SAMPLES DSO FUNCTION+0xOFFSET" lines (a --profile run with NBT_PROFILE_ADDRS=1: dom0 then
records, for each sample inside our module, the instruction it hit) and maps them with
addr2line onto a build of the same module with debug info (make KRUSTFLAGS=-Cdebuginfo=2,
loaded in that run as --rs-ko LABEL=KO, so that the addresses match). Prints each source
line's share of the module's samples, innermost and with its inline chain, and the TX
poll's steps (the outermost line of netback/tx.rs).

    python3 benches/profile_lines.py RUN.log KO --backend rs@dbg [--test udp_pps/domu1-dom0] [--top 30]
"""
import argparse
import collections
import re
import subprocess
import sys

ADDR = re.compile(r"\| addr (\d+) (\S+) (\S+)\+0x([0-9a-f]+)$")


def parse(lines, backend, test=None):
    """{(function, offset): samples} of dom0's addr lines for backend (and test/dir)."""
    out = collections.Counter()
    for line in lines:
        i = line.find("PROFILE ")
        if i < 0 or " | addr " not in line:
            continue
        head = line[i:].split(" | ", 1)[0]
        kv = dict(f.split("=", 1) for f in head.split() if "=" in f)
        if kv.get("backend") != backend or kv.get("host", "dom0") != "dom0":
            continue
        if test and "%s/%s" % (kv.get("test"), kv.get("dir")) != test:
            continue
        m = ADDR.search(line.rstrip())
        if m:
            out[(m.group(3), int(m.group(4), 16))] += int(m.group(1))
    return out


def symbols(ko):
    """{function: (section, value)} of the module's functions."""
    sections, syms = {}, {}
    for line in subprocess.run(["readelf", "-SW", ko], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"\s*\[\s*(\d+)\]\s+(\S+)", line)
        if m:
            sections[m.group(1)] = m.group(2)
    for line in subprocess.run(["readelf", "-sW", ko], capture_output=True, text=True).stdout.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC" and f[6].isdigit():
            syms[f[7]] = (sections.get(f[6], "?"), int(f[1], 16))
    return syms


def short(loc):
    return re.sub(r".*/(netback|netif|grant-pool|napi|sriov|rust)/", r"\1/", loc.split(" (")[0])


def chains(ko, counts):
    """[(samples, [(function, file:line), ...] innermost first)] for each address: one
    addr2line per section, each address's frames after the address line it prints (-a)."""
    syms, by_section, out = symbols(ko), collections.defaultdict(list), []
    for (fn, off), n in counts.items():
        if fn in syms:
            section, value = syms[fn]
            by_section[section].append((value + off, n))
    for section, addrs in by_section.items():
        lines = subprocess.run(["addr2line", "-e", ko, "-j", section, "-a", "-f", "-i", "-C"] +
                               ["0x%x" % a for a, _ in addrs], capture_output=True, text=True).stdout.splitlines()
        frames = {}
        for line in lines:
            if re.fullmatch(r"0x[0-9a-f]+", line):
                cur = frames.setdefault(int(line, 16), [])
            else:
                cur.append(line)
        for a, n in addrs:
            r = frames.get(a, [])
            out.append((n, [(r[i], short(r[i + 1])) for i in range(0, len(r) - 1, 2)]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("ko", help="the module of that run, built with debug info")
    ap.add_argument("--backend", required=True)
    ap.add_argument("--test", help="TEST/DIR, e.g. udp_pps/domu1-dom0")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    with open(a.log, errors="replace") as f:
        counts = parse(f, a.backend, a.test)
    found = chains(a.ko, counts)
    total = sum(n for n, _ in found)
    if not total:
        print("no addr samples of %s in %s (NBT_PROFILE_ADDRS=1 with --profile?)" % (a.backend, a.log))
        return 1
    leaf, chain, step = collections.Counter(), collections.Counter(), collections.Counter()
    for n, frames in found:
        if not frames:
            continue
        leaf[frames[0][1] + "  " + frames[0][0][:80]] += n
        chain[" <- ".join(loc for _, loc in frames[:4])] += n
        tx = [loc for _, loc in frames if loc.startswith("netback/tx.rs:")]
        step["%-60s %s" % (re.sub(r"[<>]|netback::|bindings::", "", frames[-1][0])[:60], tx[-1] if tx else "-")] += n
    print("%s: %d samples in the module" % (a.backend, total))
    for title, c in (("by source line (innermost)", leaf), ("by inline chain", chain),
                     ("by step: the function perf saw, its outermost netback/tx.rs line", step)):
        print("\n== " + title)
        for k, n in c.most_common(a.top):
            print("%5d %5.1f%%  %s" % (n, 100.0 * n / total, k))
    return 0


if __name__ == "__main__":
    sys.exit(main())

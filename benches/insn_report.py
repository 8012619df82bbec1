#!/usr/bin/env python3
"""Instructions per unit of work, per backend module function, from a run with --insn-count.

QEMU's nbt_insn plugin (benches/insn-count/) counted every translation block run in kernel
text inside each test and wrote the counts to RUN.insn.SEQ; the log's "INSN seq=..." line
says which test, backend and figure a SEQ is, "INSN-SECTION" lines where the backend
module's text sections were. A block is attributed to the module when its address falls in
one of those sections on an instruction boundary of the .ko and its size is that of the
instructions there (the same addresses in another domain hold other code); each of its
instructions then ran as often as the block did.

    python3 benches/insn_report.py RUN.log --ko rs=xen-netback-rs.ko --ko rs@base=/tmp/base.ko
    python3 benches/insn_report.py RUN.log --ko rs=DEBUG.ko --lines rs --test udp_gen_pps/dom0-domu1

The figures are per unit of the test's result: per packet (pps), per transaction (trans/s),
per Mbit (Mbit/s), over the test's seconds; the median over the rounds. `c` defaults to the
kernel cache's xen-netback.ko.
"""
import argparse
import bisect
import collections
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile

from profile_lines import short

CACHE = os.environ.get("NETBACK_RS_CACHE", "/var/cache/netback-rs")
# Xen's own range of the upper half (x86-64 PV: Linux leaves it to Xen), and Linux's kernel
# text and modules.
XEN_TEXT = (0xFFFF800000000000, 0xFFFF880000000000)
LINUX_TEXT = 0xFFFFFFFF80000000


class KernelSymbols:
    """Linux's text symbols (System.map), or Xen's (`nm` of its binary): the function an address
    is in."""

    def __init__(self, path, lines=None):
        syms = []
        self.etext = None
        for line in lines if lines is not None else open(path):
            w = line.split()
            if len(w) == 3 and w[1] in "tT":
                syms.append((int(w[0], 16), w[2]))
            if len(w) == 3 and w[2] == "_etext":
                self.etext = int(w[0], 16)
        syms.sort()
        self.addrs = [a for a, _ in syms]
        self.names = [n for _, n in syms]

    def name(self, vaddr, past_text="(modules, BPF)"):
        # Past Linux's text: modules (the guests' netfront among them) and BPF programs.
        if self.etext is not None and vaddr >= self.etext:
            return past_text
        i = bisect.bisect_right(self.addrs, vaddr) - 1
        return self.names[i] if i >= 0 else "?"


def text_bytes(path, tmp):
    """The bytes of a binary's .text section."""
    out = os.path.join(tmp, "text")
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", path, out], check=True)
    return open(out, "rb").read()


def xen_symbols(path):
    """Xen's text symbols from PATH, a Xen binary with its symbol table; by default the xen.efi
    of the cached hypervisor package, whose xen.gz the testbed boots stripped. The two are
    linked from the same objects with their text at the same addresses: checked here against
    the image the testbed boots (only references to data differ, about 2% of the bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        if path is None:
            debs = sorted(glob.glob(f"{CACHE}/debs/xen-hypervisor-*_amd64.deb"))
            if not debs:
                sys.exit(f"--xen: no xen-hypervisor package in {CACHE}/debs (testbed/build-images.sh)")
            subprocess.run(["dpkg-deb", "-x", debs[-1], tmp], check=True)
            found = glob.glob(os.path.join(tmp, "boot", "xen-*.efi"))
            if not found:
                sys.exit(f"--xen: {debs[-1]} holds no xen-*.efi")
            path = found[0]
            booted = f"{CACHE}/images/xen"
            if os.path.exists(booted):
                ours, theirs = text_bytes(path, tmp), text_bytes(booted, tmp)
                n = min(len(ours), len(theirs))
                same = sum(x == y for x, y in zip(ours[:n], theirs[:n])) / max(n, 1)
                if same < 0.9:
                    print(f"--xen: {path}'s text matches {booted}'s in {same:.0%} of its bytes: "
                          "its symbols may not fit the Xen that ran", file=sys.stderr)
        out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    return KernelSymbols(path, out.splitlines())


def parse_log(path):
    """seq -> window record, seq -> {module: {section: address}}."""
    windows, sections = {}, collections.defaultdict(lambda: collections.defaultdict(dict))
    for line in open(path, errors="replace"):
        m = re.search(r"\bINSN seq=(\d+) (.*)", line)
        if m:
            kv = dict(w.split("=", 1) for w in m.group(2).split() if "=" in w)
            windows[int(m.group(1))] = kv
            continue
        m = re.search(r"\bINSN-SECTION seq=(\d+) module=(\S+) section=(\S+) addr=(0x[0-9a-f]+)", line)
        if m:
            sections[int(m.group(1))][m.group(2)][m.group(3)] = int(m.group(4), 16)
    return windows, sections


class Module:
    """A .ko's text sections: instruction offsets and the function of each."""

    def __init__(self, path):
        self.path = path
        self.sections = {}  # name -> (offsets, functions)
        self.text = {}  # (section, offset) -> the instruction, as objdump shows it
        out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", "-w", path],
                             capture_output=True, text=True, check=True).stdout
        sec = func = None
        offs, funcs = [], []
        for line in out.splitlines():
            m = re.match(r"Disassembly of section (\S+):", line)
            if m:
                if sec:
                    self.sections[sec] = (offs, funcs)
                sec, offs, funcs = m.group(1), [], []
                continue
            m = re.match(r"[0-9a-f]+ <(.+)>:$", line)
            if m:
                func = m.group(1)
                continue
            m = re.match(r"\s*([0-9a-f]+):\t(.*)", line)
            if m and sec:
                offs.append(int(m.group(1), 16))
                funcs.append(func)
                self.text[(sec, offs[-1])] = m.group(2).strip()
        if sec:
            self.sections[sec] = (offs, funcs)
        sizes = subprocess.run(["objdump", "-h", "-w", path], capture_output=True, text=True, check=True).stdout
        self.size = {}
        for line in sizes.splitlines():
            w = line.split()
            if len(w) > 3 and w[1] in self.sections:
                self.size[w[1]] = int(w[2], 16)
        # The bytes of each section, and which of them the loader relocates (they differ).
        self.data, self.relocated = {}, collections.defaultdict(set)
        with tempfile.TemporaryDirectory() as tmp:
            for sec in self.sections:
                out = os.path.join(tmp, "sec")
                subprocess.run(["objcopy", "-O", "binary", f"--only-section={sec}", path, out], check=True)
                self.data[sec] = open(out, "rb").read()
        relocs = subprocess.run(["objdump", "-r", "-w", path], capture_output=True, text=True, check=True).stdout
        sec = None
        for line in relocs.splitlines():
            m = re.match(r"RELOCATION RECORDS FOR \[(.+)\]:", line)
            if m:
                sec = m.group(1)
                continue
            w = line.split()
            if sec in self.sections and len(w) >= 2 and re.fullmatch(r"[0-9a-f]+", w[0]):
                off = int(w[0], 16)
                self.relocated[sec].update(range(off, off + (8 if w[1].endswith("_64") else 4)))
        # The whole of an instruction with a relocation: the loader also patches the opcode
        # of some (a static branch's `jmp` becomes a 5-byte `nop`).
        for sec, fixed in self.relocated.items():
            offs = self.sections[sec][0]
            for off in sorted(fixed):
                i = bisect.bisect_right(offs, off) - 1
                end = offs[i + 1] if i + 1 < len(offs) else self.size.get(sec, off + 1)
                if i >= 0:
                    fixed.update(range(offs[i], end))

    def in_text(self, bases, vaddr):
        """Whether an address falls in one of the module's text sections."""
        return any(base <= vaddr < base + self.size.get(sec, 0) for sec, base in bases.items())

    def locate(self, bases, vaddr, insns, nbytes, head):
        """(section, first instruction index) of a block, or None when it is not ours: its first
        bytes (HEAD, hex) must be the .ko's there, bar what the loader relocates."""
        for sec, base in bases.items():
            if sec not in self.sections or not base <= vaddr < base + self.size.get(sec, 0):
                continue
            offs = self.sections[sec][0]
            off = vaddr - base
            i = bisect.bisect_left(offs, off)
            if i == len(offs) or offs[i] != off or i + insns > len(offs):
                return None
            end = offs[i + insns] if i + insns < len(offs) else self.size[sec]
            if end - off != nbytes:
                return None
            got, want, fixed = bytes.fromhex(head), self.data[sec], self.relocated[sec]
            if any(got[k] != want[off + k] for k in range(len(got)) if off + k not in fixed):
                return None
            return sec, i
        return None


def per_unit(kv):
    """The units of work in a window: value x seconds (packets, transactions, Mbit)."""
    try:
        return float(kv["value"]) * float(kv["secs"])
    except (KeyError, ValueError):
        return 0.0


UNIT_NAME = {"pps": "packet", "trans/s": "transaction", "Mbit/s": "Mbit"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("--ko", action="append", default=[], metavar="LABEL=KO",
                    help="the module a backend label ran (c: the kernel cache's xen-netback.ko)")
    ap.add_argument("--test", action="append", default=[], metavar="TEST/DIR", help="only these")
    ap.add_argument("--top", type=int, default=20, help="functions per table")
    ap.add_argument("--lines", metavar="LABEL", help="also by source line for this backend (debug info)")
    ap.add_argument("--annotate", metavar="LABEL:FUNC",
                    help="also the disassembly of this backend's functions whose names contain FUNC, "
                         "each instruction with how often it ran per unit (any build)")
    ap.add_argument("--kernel", nargs="?", const=f"{CACHE}/linux/System.map", metavar="SYSTEM_MAP",
                    help="also Linux's kernel functions, every domain's (default: the kernel cache's map)")
    ap.add_argument("--xen", nargs="?", const="", metavar="XEN_BINARY",
                    help="also Xen's functions (default: the xen.efi of the cached hypervisor package, "
                         "which carries Xen's symbols)")
    a = ap.parse_args()

    kos = {"c": f"{CACHE}/linux/drivers/net/xen-netback/xen-netback.ko",
           "rs": os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "xen-netback-rs.ko")}
    kos.update(kv.split("=", 1) for kv in a.ko)
    windows, sections = parse_log(a.log)
    if not windows:
        sys.exit(f"{a.log}: no INSN lines (a run with --insn-count?)")
    prefix = re.sub(r"\.log$", "", a.log) + ".insn"
    modules = {}
    ksyms = KernelSymbols(a.kernel) if a.kernel else None
    xsyms = xen_symbols(a.xen or None) if a.xen is not None else None
    # (test/dir, backend) -> [ (per-function counts, module total, kernel total, units) ]
    rounds = collections.defaultdict(list)
    lines = collections.defaultdict(collections.Counter)
    ann_label, _, ann_func = (a.annotate or "").partition(":")
    annotated = collections.defaultdict(collections.Counter)
    for seq, kv in sorted(windows.items()):
        key = f"{kv.get('test')}/{kv.get('dir', '')}".rstrip("/")
        if a.test and key not in a.test and kv.get("test") not in a.test:
            continue
        backend = kv.get("backend", "?")
        label = backend if backend in kos else backend.split("@")[0]
        mod_name = "xen_netback" if label.startswith("c") else "xen_netback_rs"
        path = kos.get(label) or kos.get(label.split("@")[0])
        try:
            dump = open(f"{prefix}.{seq}")
        except OSError:
            print(f"seq {seq}: no dump {prefix}.{seq}", file=sys.stderr)
            continue
        if path not in modules:
            modules[path] = Module(path)
        mod = modules[path]
        bases = sections[seq].get(mod_name, {})
        funcs = collections.Counter()
        total = kernel = xen = 0
        kfuncs, xfuncs = collections.Counter(), collections.Counter()
        on_page, off_page = collections.Counter(), collections.Counter()
        user = None
        for row in dump:
            if row.startswith("# user "):
                user = int(row.split()[2])
                continue
            va, ha, n, nb, cnt, head = (row.split() + [""])[:6]
            va, n, nb, cnt = int(va, 16), int(n, 16), int(nb, 16), int(cnt)
            if XEN_TEXT[0] <= va < XEN_TEXT[1]:
                xen += n * cnt
                if xsyms:
                    xfuncs[xsyms.name(va, "(Xen, past its text)")] += n * cnt
                continue
            if va < LINUX_TEXT:
                continue
            kernel += n * cnt
            if ksyms and not mod.in_text(bases, va):
                kfuncs[ksyms.name(va)] += n * cnt
            if not mod.in_text(bases, va):
                continue
            # Other domains' modules sit at the same addresses in other memory: a block is
            # ours when its bytes are the .ko's.
            where = mod.locate(bases, va, n, nb, head)
            page = int(ha, 16) >> 12
            (on_page if where else off_page)[page] += n * cnt
            if not where:
                continue
            sec, i = where
            names = mod.sections[sec][1]
            for k in range(i, i + n):
                funcs[names[k]] += cnt
            total += n * cnt
            offs = mod.sections[sec][0]
            if a.lines == backend:
                for k in range(i, i + n):
                    lines[(key, path)][(sec, offs[k])] += cnt
            if ann_label == backend:
                for k in range(i, i + n):
                    if ann_func in (names[k] or ""):
                        annotated[(key, path)][(sec, offs[k])] += cnt
        # In memory that is mostly the .ko's code, code that is not: code the loader patched
        # (alternatives), or another build of the module. (Another domain's module at the
        # same addresses matches now and then by chance, in its own memory.)
        stray = sum(off_page[p] for p in on_page if on_page[p] > off_page[p])
        if stray > total / 20:
            print(f"seq {seq} ({key}, {backend}): {stray} instructions ran in the module's memory that "
                  f"are not {path}'s ({total} are): another build of the module?", file=sys.stderr)
        funcs["(Xen)"] = xen
        if user is not None:
            funcs["(user space, all domains)"] = user
            funcs["(all: Xen, kernels, user space)"] = xen + kernel + user
        funcs.update({f"[kernel] {f}": n for f, n in kfuncs.items()})
        funcs.update({f"[xen] {f}": n for f, n in xfuncs.items()})
        rounds[(key, backend)].append((funcs, total, kernel, per_unit(kv), kv.get("unit", "")))

    tests = sorted({t for t, _ in rounds})
    for test in tests:
        backends = [b for t, b in rounds if t == test]
        unit = UNIT_NAME.get(rounds[(test, backends[0])][0][4], "unit")
        print(f"\n== {test}: instructions per {unit} (median over rounds; rounds: "
              + ", ".join(f"{b} {len(rounds[(test, b)])}" for b in backends) + ")")
        med = {}
        for b in backends:
            rs = [r for r in rounds[(test, b)] if r[3] > 0]
            fn = collections.defaultdict(list)
            for funcs, _, _, units, _ in rs:
                for f in set().union(*(r[0] for r in rs)):
                    fn[f].append(funcs.get(f, 0) / units)
            med[b] = {
                "(module total)": statistics.median([r[1] / r[3] for r in rs]) if rs else 0,
                "(kernel text, all domains)": statistics.median([r[2] / r[3] for r in rs]) if rs else 0,
                **{f: statistics.median(v) for f, v in fn.items()},
            }
        names = ["(all: Xen, kernels, user space)", "(user space, all domains)", "(Xen)",
                 "(kernel text, all domains)", "(module total)"]
        names = [f for f in names if any(f in m for m in med.values())]
        rest = sorted({f for m in med.values() for f in m} - set(names),
                      key=lambda f: -max(m.get(f, 0) for m in med.values()))
        # Linux's functions (all domains) and Xen's by how much the backends differ there.
        def spread(prefix):
            return sorted((f for f in rest if f.startswith(prefix)),
                          key=lambda f: -(max(m.get(f, 0) for m in med.values())
                                          - min(m.get(f, 0) for m in med.values())))[: a.top]
        rest = ([f for f in rest if not f.startswith(("[kernel] ", "[xen] "))][: a.top]
                + spread("[kernel] ") + spread("[xen] "))
        w = max(10, *(len(b) for b in backends))
        print(f"  {'function':<72}" + "".join(f"{b:>{w + 1}}" for b in backends))
        for f in names + rest:
            print(f"  {f[:72]:<72}" + "".join(
                f"{med[b][f]:>{w + 1}.0f}" if f in med[b] else f"{'-':>{w + 1}}" for b in backends))

    for (test, path), counts in sorted(lines.items()):
        units = [r[3] for r in rounds[(test, a.lines)] if r[3] > 0]
        if not units:
            continue
        tot = sum(units)
        by_line = collections.Counter()
        for sec in {s for s, _ in counts}:
            offs = [o for s, o in counts if s == sec]
            out = subprocess.run(["addr2line", "-e", path, "-j", sec, "-a"] + [hex(o) for o in offs],
                                 capture_output=True, text=True).stdout.split("\n")
            loc = {}
            for j in range(0, len(out) - 1, 2):
                loc[int(out[j], 16)] = out[j + 1]
            for o in offs:
                by_line[loc.get(o, "?")] += counts[(sec, o)]
        print(f"\n== {test}, {a.lines}: instructions per unit by source line (innermost, over"
              " all rounds)")
        for where, n in by_line.most_common(a.top * 2):
            print(f"  {n / tot:>8.1f}  {short(where)}")

    for (test, path), counts in sorted(annotated.items()):
        tot = sum(r[3] for r in rounds[(test, ann_label)] if r[3] > 0)
        if not tot:
            continue
        mod = modules[path]
        print(f"\n== {test}, {ann_label}: functions matching {ann_func!r}, runs of each instruction per"
              " unit (over all rounds; blank: never ran)")
        for sec, (offs, names) in mod.sections.items():
            last = None
            for off, name in zip(offs, names):
                if ann_func not in (name or ""):
                    continue
                if name != last:
                    ran = sum(counts[(sec, o)] for o, n in zip(offs, names) if n == name)
                    print(f"\n  <{name}> ({sec}): {ran / tot:.1f} instructions per unit")
                    last = name
                c = counts.get((sec, off), 0)
                print(f"  {(f'{c / tot:.2f}' if c else ''):>8}  {off:6x}  {mod.text[(sec, off)]}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where the CPU goes per unit of work, backend against backend, from a profiled run.

`./run-bench --profile` (testbed/run.sh --profile) has dom0 and the guests a test runs
between sample their CPUs with perf inside every measured test; the log gets, per host, one
"PROFILE k=v ... host=H | SAMPLES DSO FUNCTION" line per function with 0.2% of the samples
or more (a hypercall named by its caller), and a "total" line. A function's samples divided
by the sampling rate are the host's CPU seconds it took in the window; divided by the work
done in the window (the test's figure times the window's seconds) they are its cost per
unit: microseconds of that host's CPU per packet (pps), per Mbit (Mbit/s) or per transaction
(Trans/s). Under -icount these are instruction counts in disguise, and repeat from boot to
boot.

    python3 benches/profile_report.py RUN.log [--top 25] [--test udp_pps[/DIR]] [--host domu1]

For each test, direction and host (dom0, domu1, ...): the busy cost per unit by module (the
kernel, each backend or netfront module, ...), then the costliest functions, each backend's
median over its rounds side by side; idle (the vCPU halted in Xen) is left out of "busy".
"""

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

# A halted vCPU: Linux's idle loop blocks in Xen (lib.sh names a hypercall by its caller).
IDLE = re.compile(r"safe_halt|default_idle|cpu_idle|do_idle|cpuidle")
PROFILE_LINE = re.compile(r"^(\d+) (\S+) (.+?)\s*$")


def parse(lines):
    """{(test, dir, host): {backend: [run, ...]}}, a run being (value, unit, seconds of CPU per
    sample, window seconds, total samples, {(dso, sym): samples})."""
    runs = {}
    for line in lines:
        i = line.find("PROFILE ")
        if i < 0 or " | " not in line:
            continue
        head, body = line[i + len("PROFILE "):].split(" | ", 1)
        kv = dict(f.split("=", 1) for f in head.split() if "=" in f)
        # Logs from before the guests were profiled name no host: dom0.
        key = (kv.get("test", "?"), kv.get("dir", "?"), kv.get("host", "dom0"), kv.get("backend", "?"),
               kv.get("round", "?"))
        run = runs.setdefault(key, {"kv": kv, "funcs": {}, "total": None})
        body = body.rstrip("\n")
        if body.startswith("total "):
            run["total"] = int(body.split()[1])
            continue
        m = PROFILE_LINE.match(body)
        if m:
            run["funcs"][(m.group(2), m.group(3))] = int(m.group(1))
    out = defaultdict(lambda: defaultdict(list))
    for (test, direction, host, backend, _), run in runs.items():
        kv = run["kv"]
        try:
            value, hz, secs = float(kv["value"]), float(kv["hz"]), float(kv["secs"])
        except (KeyError, ValueError):
            continue
        if value <= 0 or hz <= 0 or secs <= 0 or run["total"] is None:
            continue
        out[(test, direction, host)][backend].append((value, kv.get("unit", "?"), 1.0 / hz, secs, run["total"], run["funcs"]))
    return out


def per_unit(run, samples):
    """Microseconds of the host's CPU per unit of the test's figure for `samples` samples."""
    value, _, sec_per_sample, secs, _, _ = run
    return samples * sec_per_sample / (value * secs) * 1e6


def unit_name(unit):
    return {"pps": "packet", "Mbit/s": "Mbit", "Trans/s": "transaction"}.get(unit, unit)


_demangled = {}


def demangle(names):
    """Rust v0 symbols through rustfilt when it is installed; else the names as they are."""
    todo = [n for n in names if n not in _demangled]
    tool = shutil.which("rustfilt")
    if todo and tool:
        res = subprocess.run([tool], input="\n".join(todo) + "\n", capture_output=True, text=True, check=False)
        outs = res.stdout.splitlines()
        if res.returncode == 0 and len(outs) == len(todo):
            for a, b in zip(todo, outs):
                _demangled[a] = re.sub(r"::h[0-9a-f]{16}$|\[[0-9a-f]+\]::", "", b)
    for n in todo:
        _demangled.setdefault(n, n)
    return {n: _demangled[n] for n in names}


def short_dso(dso):
    """kernel, a module's name (perf names a module by its path or as [name]), a program's."""
    name = dso.strip("[]").rsplit("/", 1)[-1]
    if name.endswith(".ko"):
        name = name[: -len(".ko")].replace("-", "_")
    return name.replace("kernel.kallsyms", "kernel")


def host_order(host):
    """dom0 first, then the guests by number."""
    return (host != "dom0", len(host), host)


def report(data, top, only, only_host, out):
    for (test, direction, host), by_backend in sorted(data.items(), key=lambda kv: (kv[0][:2], host_order(kv[0][2]))):
        name = f"{test}/{direction}"
        if (only and only not in (test, name)) or (only_host and host != only_host):
            continue
        backends = list(by_backend)
        unit = unit_name(by_backend[backends[0]][0][1])
        out.write(f"\n== {name}: {host} CPU, microseconds per {unit} (median over rounds; rounds: "
                  + ", ".join(f"{b} {len(by_backend[b])}" for b in backends) + ")\n")
        # Per module, idle apart.
        rows = defaultdict(dict)
        for b in backends:
            per = defaultdict(list)
            for run in by_backend[b]:
                acc = defaultdict(int)
                for (dso, sym), n in run[5].items():
                    acc["(idle)" if IDLE.search(sym) else short_dso(dso)] += n
                busy = sum(n for k, n in acc.items() if k != "(idle)")
                listed = sum(acc.values())
                acc["(unlisted <0.2%)"] = run[4] - listed
                acc["= busy, listed"] = busy
                for k, n in acc.items():
                    per[k].append(per_unit(run, n))
            for k, vals in per.items():
                rows[k][b] = statistics.median(vals)
        order = sorted(rows, key=lambda k: (k.startswith("="), k.startswith("("), -max(rows[k].values())))
        table(out, "module", order, rows, backends)
        # Per function.
        frows = defaultdict(dict)
        for b in backends:
            per = defaultdict(list)
            for run in by_backend[b]:
                for (dso, sym), n in run[5].items():
                    if not IDLE.search(sym):
                        per[(short_dso(dso), sym)].append(per_unit(run, n))
            nruns = len(by_backend[b])
            for k, vals in per.items():
                vals += [0.0] * (nruns - len(vals))  # under 0.2% in a round: about 0
                frows[k][b] = statistics.median(vals)
        names = demangle([s for _, s in frows])
        order = sorted(frows, key=lambda k: -max(frows[k].values()))[:top]
        table(out, "function [module]", order, frows, backends,
              label=lambda k: f"{names[k[1]][:70]} [{k[0]}]")


def table(out, title, order, rows, backends, label=str):
    labels = [label(k) for k in order]
    w = max([len(title)] + [len(x) for x in labels])
    out.write(f"  {title:<{w}} " + " ".join(f"{b:>10}" for b in backends) + "\n")
    for k, lab in zip(order, labels):
        out.write(f"  {lab:<{w}} " + " ".join(
            f"{rows[k][b]:>10.3f}" if b in rows[k] else f"{'-':>10}" for b in backends) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", help="serial logs of --profile runs (several: pooled)")
    ap.add_argument("--top", type=int, default=25, help="functions per test (default 25)")
    ap.add_argument("--test", help="only this test (NAME or NAME/DIR)")
    ap.add_argument("--host", help="only this host (dom0, domu1, ...)")
    args = ap.parse_args(argv)
    lines = []
    for path in args.logs:
        with open(path, errors="replace") as f:
            lines += f.readlines()
    data = parse(lines)
    if not data:
        sys.exit("no PROFILE lines: was the run made with --profile?")
    report(data, args.top, args.test, args.host, sys.stdout)


if __name__ == "__main__":
    main()

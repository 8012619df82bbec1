#!/usr/bin/env python3
"""dom0 memory per vif from the records of benches/scenarios/memory.sh (test=dom0_mem):
for every backend variant, (reading at N vifs - baseline with none) / N, idle and
streaming, for the kernel's unreclaimable memory (SUnreclaim + VmallocUsed + Percpu), for
MemTotal - MemAvailable and for the pages taken out of dom0 for grant mapping (the drop of
the balloon's current + low + high); then what detaching every vif left behind (leak
check) and what the streams moved. Prints Markdown.

    python3 benches/memory_report.py RECORDS.jsonl [MORE.jsonl ...]
    python3 benches/memory_report.py RUN.log        # records from the serial log, mended

Several records for the same variant, state and count (several runs) give the median of
their per-vif costs. Test: python3 -m unittest benches/test_memory_report.py"""
import argparse
import json
import re
import statistics
import sys

NAMES = {"c": "C xen-netback", "rs": "netback-rs"}
STATES = ["idle", "streaming"]
# Each measure: title, how a reading at N vifs compares to the baseline (kB, positive = cost).
MEASURES = [
    ("kernel", "Kernel memory (SUnreclaim + VmallocUsed + Percpu)",
     lambda rec, base: rec["kernel_kb"] - base["kernel_kb"]),
    ("used", "MemTotal - MemAvailable",
     lambda rec, base: rec["used_kb"] - base["used_kb"]),
    ("pool", "Grant-mapping pages taken out of dom0 (drop of balloon current + low + high)",
     lambda rec, base: base["balloon_kb"] - rec["balloon_kb"]),
]


STAMP = re.compile(r"^\[\s*[0-9.]+\] ")


def records_from_log(lines):
    """The NBT-RESULT records of a run's serial log (a .log file instead of the .jsonl),
    mending those that Xen's own console output cut in two: Xen writes on the same serial
    line, so a record can read `..."memavailable_kb(XEN) uart interrupt ...` with its rest
    on the next line."""
    recs, pending = [], None
    for raw in lines:
        line = STAMP.sub("", raw.rstrip("\n"))
        if pending is not None:
            line, pending = pending + line, None
        if not line.startswith("NBT-RESULT "):
            continue
        text = line[len("NBT-RESULT "):]
        try:
            recs.append(json.loads(text))
        except json.JSONDecodeError:
            if "(XEN)" in text:
                pending = "NBT-RESULT " + text[:text.index("(XEN)")]
    return recs


def load(paths):
    recs = []
    for path in paths:
        with open(path) as f:
            if path.endswith(".log"):
                found = records_from_log(f)
            else:
                found = [json.loads(line) for line in f if line.strip()]
        recs += [r for r in found if r.get("test") == "dom0_mem"]
    return recs


def variant(rec):
    return rec.get("variant") or rec.get("backend", "?")


def variant_name(v):
    backend, _, params = v.partition(" ")
    name = NAMES.get(backend, backend)
    return name + (" " + params if params else "")


def variants(recs):
    out = []
    for r in recs:
        if variant(r) not in out:
            out.append(variant(r))
    return out


def baselines(recs):
    """The last baseline reading (no vif) of every variant."""
    return {variant(r): r for r in recs if r.get("state") == "baseline"}


def costs(recs):
    """{(variant, state, vifs, measure): [per-vif kB, ...]} and {(variant, measure): [leak kB, ...]}.
    Records are in run order: each reading is compared with its variant's last baseline before it."""
    per_vif, leak, base = {}, {}, {}
    for r in recs:
        v, state = variant(r), r.get("state")
        if state == "baseline":
            base[v] = r
            continue
        if v not in base:
            continue  # a reading without its baseline (a run cut short) says nothing
        for key, _, diff in MEASURES:
            if state == "after_detach":
                leak.setdefault((v, key), []).append(diff(r, base[v]))
            elif state in STATES and r.get("vifs", 0) > 0:
                per_vif.setdefault((v, state, r["vifs"], key), []).append(diff(r, base[v]) / r["vifs"])
    return per_vif, leak


def breakdown(recs, vs, counts):
    """The kernel measure's parts per vif, idle and streaming, at the largest count."""
    if not counts:
        return []
    n, parts = counts[-1], ["sunreclaim_kb", "vmalloc_kb", "percpu_kb"]
    out = ["### Kernel memory by part at %d vifs, kB per vif (SUnreclaim / VmallocUsed / Percpu)" % n, "",
           "| state | " + " | ".join(variant_name(v) for v in vs) + " |", "|---|" + "---|" * len(vs)]
    for state in STATES:
        cells = []
        for v in vs:
            base, got = None, []
            for r in recs:
                if variant(r) != v:
                    continue
                if r.get("state") == "baseline":
                    base = r
                elif base and r.get("state") == state and r.get("vifs") == n and all(p in r for p in parts):
                    got.append(" / ".join("%.0f" % ((r[p] - base[p]) / n) for p in parts))
            cells.append("; ".join(got) or "-")
        out.append("| %s | %s |" % (state, " | ".join(cells)))
    return out + [""]


def fmt(values):
    if not values:
        return "-"
    m = statistics.median(values)
    return "%.0f" % m if len(values) == 1 else "%.0f (n=%d)" % (m, len(values))


def report(recs):
    vs = variants(recs)
    per_vif, leak = costs(recs)
    counts = sorted({r["vifs"] for r in recs if r.get("state") in STATES and r.get("vifs", 0) > 0})
    base = baselines(recs)
    head = "| vifs | state | " + " | ".join(variant_name(v) for v in vs) + " |"
    rule = "|---|---|" + "---|" * len(vs)
    out = []
    for key, title, _ in MEASURES:
        out += ["### %s, kB per vif" % title, "", head, rule]
        for n in counts:
            for state in STATES:
                out.append("| %d | %s | %s |" % (n, state, " | ".join(fmt(per_vif.get((v, state, n, key))) for v in vs)))
        out.append("")
    out += breakdown(recs, vs, counts)
    field = {"kernel": "kernel_kb", "used": "used_kb", "pool": "balloon_kb"}
    out += ["### Baseline (backend loaded, no vif) and leak check (all vifs detached - baseline), kB", "",
            "| | " + " | ".join(variant_name(v) for v in vs) + " |", "|---|" + "---|" * len(vs)]
    for key, title, _ in MEASURES:
        out.append("| baseline %s | %s |" % (field[key], " | ".join(str(base[v][field[key]]) if v in base else "-" for v in vs)))
    for key, title, _ in MEASURES:
        out.append("| leak: %s | %s |" % (key, " | ".join(fmt(leak.get((v, key))) for v in vs)))
    out += ["", "### Streams (sum over the vifs, Mbit/s; the least any vif moved each way, MB)", "",
            "| vifs | " + " | ".join(variant_name(v) for v in vs) + " |", "|---|" + "---|" * len(vs)]
    for n in counts:
        cells = []
        for v in vs:
            s = [r for r in recs if variant(r) == v and r.get("state") == "streaming" and r.get("vifs") == n]
            cells.append("; ".join("to guests %s, from %s; min %.0f/%.0f MB" % (
                r.get("to_guest_mbit", "-"), r.get("from_guest_mbit", "-"),
                r.get("min_vif_tx_bytes", 0) / 1e6, r.get("min_vif_rx_bytes", 0) / 1e6) for r in s) or "-")
        out.append("| %d | %s |" % (n, " | ".join(cells)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="+", help="JSON lines from testbed/run.sh --scenario memory, or its .log")
    a = ap.parse_args()
    recs = load(a.records)
    if not recs:
        print("no dom0_mem records in %s" % " ".join(a.records), file=sys.stderr)
        return 1
    sys.stdout.write(report(recs))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Summarise A/B benchmark records (JSON lines from testbed runs) per test, direction and
backend: each backend's median, and against the first backend the median of the per-round
paired ratios with a bootstrap 90% interval; a JSON summary and an SVG bar chart.

Figures drift between rounds of one boot (up to 2x on the TCG host), and every backend is
measured once per round, back to back, so a ratio taken inside a round cancels most of the
drift; a ratio of two medians does not."""
import argparse
import html
import json
import random
import statistics
import sys
from collections import defaultdict

LABEL = {"c": "C xen-netback", "rs": "netback-rs"}
RESAMPLES = 2000  # bootstrap resamples of the per-round ratios
SEED = 11  # fixed, so the same records always give the same report
LEVEL = 0.90  # the interval's coverage: its ends are the 5th and 95th percentiles


def load(paths):
    """The records of every file that carry a numeric value and a direction; each is tagged
    with its file, since round numbers restart with every run (boot)."""
    recs = []
    for p in paths:
        with open(p) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    r["_file"] = p
                    recs.append(r)
    return [r for r in recs if isinstance(r.get("value"), (int, float)) and "dir" in r]


def paired_ratios(recs, order):
    """{(test, dir, backend): [ratio, ...]} for every backend but the first: per round (of
    one file), the backend's value over the first backend's for the same test and direction.
    A round where either side is missing, measured more than once or the reference is 0 is
    skipped. Ratios come in file and round order."""
    cell = defaultdict(list)
    for r in recs:
        if "round" in r:
            cell[(r["test"], r["dir"], r["backend"], r.get("_file"), r["round"])].append(r["value"])
    out = defaultdict(list)
    rounds = lambda rnd: (0, rnd, "") if isinstance(rnd, (int, float)) else (1, 0, str(rnd))
    for (test, d, b, f, rnd) in sorted(cell, key=lambda k: (k[:3], str(k[3]), rounds(k[4]))):
        if b == order[0] or b not in order:
            continue
        ref, mine = cell.get((test, d, order[0], f, rnd), []), cell[(test, d, b, f, rnd)]
        if len(ref) == 1 and len(mine) == 1 and ref[0]:
            out[(test, d, b)].append(mine[0] / ref[0])
    return out


def boot_medians(recs, order):
    """{(test, dir, backend): [median, ...]}: the median of each file's (boot's) per-round
    paired ratios, files in name order; how far they spread is how far one boot's figure can
    be trusted."""
    out = defaultdict(list)
    for f in sorted({r["_file"] for r in recs}, key=str):
        for k, xs in paired_ratios([r for r in recs if r["_file"] == f], order).items():
            out[k].append(statistics.median(xs))
    return out


def spread_table(recs, order):
    """Per test, direction and backend (against the first): each boot's paired-ratio median
    and their spread (largest minus smallest; none for a backend paired in one file only);
    None with fewer than two files."""
    if len({r["_file"] for r in recs}) < 2 or len(order) < 2:
        return None
    head = ["test", "direction", "backend", "per-boot medians", "spread"]
    body = [[t, d, "%s/%s" % (b, order[0]), " ".join("%.2f" % m for m in ms),
             "%.2f" % (max(ms) - min(ms)) if len(ms) > 1 else "- (one file)"]
            for (t, d, b), ms in sorted(boot_medians(recs, order).items())]
    return "\n".join(aligned(head, body))


def percentile(sorted_xs, q):
    """The q-quantile (0..1) of sorted values, interpolating linearly between neighbours."""
    pos = q * (len(sorted_xs) - 1)
    i = int(pos)
    j = min(i + 1, len(sorted_xs) - 1)
    return sorted_xs[i] + (sorted_xs[j] - sorted_xs[i]) * (pos - i)


def bootstrap_median(xs, resamples=RESAMPLES, seed=SEED, level=LEVEL):
    """(median, low, high): the median of xs and the central `level` interval of the medians
    of `resamples` resamples of xs drawn with replacement (a generator seeded with `seed`
    for every call, so a result depends on xs alone)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(resamples))
    tail = (1 - level) / 2
    return statistics.median(xs), percentile(meds, tail), percentile(meds, 1 - tail)


def summarise(recs, order, resamples=RESAMPLES, seed=SEED):
    groups = defaultdict(list)
    units = {}
    for r in recs:
        groups[(r["test"], r["dir"], r["backend"])].append(r["value"])
        units[(r["test"], r["dir"])] = r.get("unit", "")
    pairs = paired_ratios(recs, order)
    rows = []
    for (test, d) in sorted({(t, d) for t, d, _ in groups}):
        row = {"test": test, "dir": d, "unit": units[(test, d)], "median": {}, "n": {}, "values": {}}
        for b in order:
            v = groups.get((test, d, b))
            if v:
                row["median"][b] = statistics.median(v)
                row["n"][b] = len(v)
                row["values"][b] = v
        base = row["median"].get(order[0])
        # ratio of the medians: kept for older consumers; paired_* is the figure to read.
        row["ratio"] = {b: (m / base if base else None) for b, m in row["median"].items() if b != order[0]}
        row["paired_ratio"], row["paired_interval"], row["paired_n"], row["paired_values"] = {}, {}, {}, {}
        for b in order[1:]:
            xs = pairs.get((test, d, b), [])
            if b not in row["median"] or not base:
                continue
            row["paired_n"][b] = len(xs)
            row["paired_values"][b] = xs
            if xs:
                m, lo, hi = bootstrap_median(xs, resamples, seed)
                row["paired_ratio"][b], row["paired_interval"][b] = m, [lo, hi]
            else:
                row["paired_ratio"][b], row["paired_interval"][b] = None, None
        rows.append(row)
    return rows


def ratio_cell(row, b):
    """`1.07 [0.98-1.15] n=5`: paired-ratio median, bootstrap interval, pairs used."""
    if b not in row["paired_n"]:
        return "-"
    if row["paired_ratio"][b] is None:
        return "- n=0"
    lo, hi = row["paired_interval"][b]
    return "%.2f [%.2f-%.2f] n=%d" % (row["paired_ratio"][b], lo, hi, row["paired_n"][b])


def aligned(head, body):
    """Lines of a plain-text table: the head, a rule, the body, columns padded to fit."""
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = lambda l: "  ".join(str(x).ljust(n) for x, n in zip(l, w)).rstrip()
    return [fmt(head), fmt(["-" * n for n in w])] + [fmt(l) for l in body]


def figure(v):
    """A median as the table shows it: one decimal, three below 10 (per-packet counts such as
    0.008 events are not 0.0)."""
    return "%.1f" % v if abs(v) >= 10 else "%.3f" % v


def text_table(rows, order):
    head = ["test", "direction", "unit"] + ["%s (median, n)" % LABEL.get(b, b) for b in order]
    head += ["%s/%s" % (b, order[0]) for b in order[1:]]
    body = []
    for r in rows:
        line = [r["test"], r["dir"], r["unit"]]
        for b in order:
            line.append("%s (%d)" % (figure(r["median"][b]), r["n"][b]) if b in r["median"] else "-")
        line += [ratio_cell(r, b) for b in order[1:]]
        body.append(line)
    out = aligned(head, body)
    if len(order) > 1:
        out.append("B/%s: median over the rounds of B's value / %s's in the same round [bootstrap %d%% interval],"
                   " n = rounds paired" % (order[0], order[0], round(LEVEL * 100)))
    return "\n".join(out)


COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def svg_chart(rows, order, title):
    """Grouped bars, one group per test and direction: the first backend at 1.0 (labelled
    with its absolute median), every other backend at the median of its per-round ratios to
    the first, with the bootstrap interval as a whisker (labelled with the ratio)."""
    bw, top, left, h = 34, 64, 60, 260
    gw = max(120, bw * len(order) + 24)
    width = max(760, left + gw * len(rows) + 40)
    per_line = max(1, (width - left) // 170)
    legend_lines = (len(order) + per_line - 1) // per_line
    height = top + h + 70 + 18 * legend_lines
    tops = [1.0] + [x for r in rows for b, iv in r["paired_interval"].items() if iv for x in (iv[1], r["paired_ratio"][b])]
    scale = max(tops) * 1.15
    y = lambda v: top + h - v / scale * h
    esc = html.escape
    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>' % (left, esc(title)),
         '<text x="%d" y="42" fill="#555">bar: median of the per-round ratios to %s (= 1.0, labelled with its median); '
         'whisker: bootstrap %d%% interval</text>' % (left, esc(LABEL.get(order[0], order[0])), round(LEVEL * 100))]
    t = 0.0
    while t <= scale:
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>' % (left, width - 30, y(t), y(t), "#333" if t == 1.0 else "#ddd"))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (left - 6, y(t) + 4, t))
        t += 0.5 if scale <= 4 else 1.0
    for i, r in enumerate(rows):
        x0 = left + i * gw + (gw - bw * len(order)) / 2
        what = "%s %s" % (r["test"], r["dir"])
        for j, b in enumerate(order):
            bx, name = x0 + j * bw, esc(LABEL.get(b, b))
            if j == 0:
                if b not in r["median"]:
                    continue
                rel, label = 1.0, "%.0f" % r["median"][b]
                tip = "%s %s: median %.1f %s (n=%d)" % (name, what, r["median"][b], r["unit"], r["n"][b])
            else:
                rel = r["paired_ratio"].get(b)
                if rel is None:
                    continue
                lo, hi = r["paired_interval"][b]
                label = "%.2f" % rel
                tip = "%s %s: %s/%s %.2f [%.2f-%.2f], n=%d pairs; median %.1f %s" % (
                    name, what, esc(b), esc(order[0]), rel, lo, hi, r["paired_n"][b], r["median"][b], r["unit"])
            s.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s</title></rect>'
                     % (bx, y(rel), bw - 4, top + h - y(rel), COLOURS[j % len(COLOURS)], tip))
            cx, label_y = bx + (bw - 4) / 2, y(rel) - 3
            if j:
                s.append('<path d="M%.1f %.1fV%.1fM%.1f %.1fh8M%.1f %.1fh8" stroke="#222" fill="none"/>'
                         % (cx, y(lo), y(hi), cx - 4, y(lo), cx - 4, y(hi)))
                label_y = min(label_y, y(hi) - 3)
            s.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>' % (cx, label_y, label))
        cx = left + i * gw + gw / 2
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (cx, top + h + 16, esc(r["test"])))
        s.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>' % (cx, top + h + 30, esc(r["dir"])))
        s.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>' % (cx, top + h + 44, esc(r["unit"])))
    for j, b in enumerate(order):
        lx, ly = left + (j % per_line) * 170, top + h + 62 + 18 * (j // per_line)
        s.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, ly, COLOURS[j % len(COLOURS)]))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 18, ly + 10, esc(LABEL.get(b, b))))
    s.append("</svg>")
    return "\n".join(s)


def icount_of(recs):
    """QEMU's -icount spec the records were measured under (testbed/run.sh --icount: figures
    in virtual time), None for wall-clock, or the sorted list of them when the files mix."""
    specs = sorted({str(r["icount"]) for r in recs if r.get("icount")})
    if any(not r.get("icount") for r in recs) and specs:
        specs.insert(0, "none")
    return specs[0] if len(specs) == 1 else (specs or None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("jsonl", nargs="+")
    ap.add_argument("--backends", default="c rs", help="order; the first is the reference")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--svg", help="write the chart here")
    ap.add_argument("--title", default="netperf between Xen guests (QEMU TCG testbed)")
    ap.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap resamples (default %(default)s)")
    ap.add_argument("--seed", type=int, default=SEED, help="bootstrap seed (default %(default)s)")
    a = ap.parse_args()
    recs = load(a.jsonl)
    present = {r["backend"] for r in recs}
    order = [b for b in a.backends.split() if b in present]
    if not order:
        print("no benchmark records in", " ".join(a.jsonl))
        return 1
    rows = summarise(recs, order, a.resamples, a.seed)
    icount = icount_of(recs)
    print(text_table(rows, order))
    spread = spread_table(recs, order)
    if spread:
        print("\nEach file (boot) alone: the median of its paired ratios, and how far the boots spread\n" + spread)
    if icount:
        print("QEMU -icount %s: figures in virtual time (instructions executed), not wall-clock"
              % (icount if isinstance(icount, str) else " / ".join(icount) + " (mixed)"))
    if a.json:
        with open(a.json, "w") as f:
            boot = {"resamples": a.resamples, "seed": a.seed, "level": LEVEL}
            json.dump({"backends": order, "bootstrap": boot, "icount": icount, "rows": rows}, f, indent=1)
    if a.svg:
        with open(a.svg, "w") as f:
            title = a.title + (", QEMU -icount %s" % icount if isinstance(icount, str) else "")
            f.write(svg_chart(rows, order, title))
    return 0


if __name__ == "__main__":
    sys.exit(main())

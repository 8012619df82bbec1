#!/usr/bin/env python3
"""Summarise A/B benchmark records (JSON lines from testbed runs): medians per test,
direction and backend, the ratio of each backend to the first one, a JSON summary and an
SVG bar chart."""
import argparse
import json
import statistics
import sys
from collections import defaultdict

LABEL = {"c": "C xen-netback", "rs": "netback-rs"}


def load(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            recs += [json.loads(l) for l in f if l.strip()]
    return [r for r in recs if isinstance(r.get("value"), (int, float)) and "dir" in r]


def summarise(recs, order):
    groups = defaultdict(list)
    units = {}
    for r in recs:
        groups[(r["test"], r["dir"], r["backend"])].append(r["value"])
        units[(r["test"], r["dir"])] = r.get("unit", "")
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
        row["ratio"] = {b: (m / base if base else None) for b, m in row["median"].items() if b != order[0]}
        rows.append(row)
    return rows


def text_table(rows, order):
    head = ["test", "direction", "unit"] + ["%s (median, n)" % LABEL.get(b, b) for b in order]
    head += ["%s/%s" % (b, order[0]) for b in order[1:]]
    body = []
    for r in rows:
        line = [r["test"], r["dir"], r["unit"]]
        for b in order:
            line.append("%.1f (%d)" % (r["median"][b], r["n"][b]) if b in r["median"] else "-")
        for b in order[1:]:
            x = r["ratio"].get(b)
            line.append("%.2f" % x if x is not None else "-")
        body.append(line)
    w = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    fmt = lambda l: "  ".join(str(x).ljust(n) for x, n in zip(l, w))
    return "\n".join([fmt(head), fmt(["-" * n for n in w])] + [fmt(l) for l in body])


def svg_chart(rows, order, title):
    """Grouped bars, one group per test and direction, each bar the backend's median
    relative to the first backend (so every test reads on one scale), labelled with the
    absolute median."""
    colours = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"]
    gw, bw, top, left, h = 120, 34, 60, 60, 260
    width = left + gw * len(rows) + 40
    height = top + h + 110
    scale = max([1.0] + [r["median"][b] / r["median"][order[0]] for r in rows for b in r["median"]
                         if r["median"].get(order[0])]) * 1.15
    y = lambda v: top + h - v / scale * h
    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>' % (left, title),
         '<text x="%d" y="42" fill="#555">bar height: median relative to %s (= 1.0); label: absolute median</text>' % (left, LABEL.get(order[0], order[0]))]
    for t in [0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]:
        if t <= scale:
            s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>' % (left, width - 30, y(t), y(t), "#333" if t == 1.0 else "#ddd"))
            s.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (left - 6, y(t) + 4, t))
    for i, r in enumerate(rows):
        x0 = left + i * gw + (gw - bw * len(order)) / 2
        base = r["median"].get(order[0])
        for j, b in enumerate(order):
            if b not in r["median"] or not base:
                continue
            rel = r["median"][b] / base
            s.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s %s: %.1f %s</title></rect>'
                     % (x0 + j * bw, y(rel), bw - 4, top + h - y(rel), colours[j % 4], LABEL.get(b, b), r["test"], r["dir"], r["median"][b], r["unit"]))
            s.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%.0f</text>' % (x0 + j * bw + (bw - 4) / 2, y(rel) - 3, r["median"][b]))
        cx = left + i * gw + gw / 2
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (cx, top + h + 16, r["test"]))
        s.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>' % (cx, top + h + 30, r["dir"]))
        s.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>' % (cx, top + h + 44, r["unit"]))
    for j, b in enumerate(order):
        lx = left + j * 170
        s.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>' % (lx, height - 30, colours[j % 4]))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 18, height - 20, LABEL.get(b, b)))
    s.append("</svg>")
    return "\n".join(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("jsonl", nargs="+")
    ap.add_argument("--backends", default="c rs", help="order; the first is the reference")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--svg", help="write the chart here")
    ap.add_argument("--title", default="netperf between Xen guests (QEMU TCG testbed)")
    a = ap.parse_args()
    recs = load(a.jsonl)
    present = {r["backend"] for r in recs}
    order = [b for b in a.backends.split() if b in present]
    if not order:
        print("no benchmark records in", " ".join(a.jsonl))
        return 1
    rows = summarise(recs, order)
    print(text_table(rows, order))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"backends": order, "rows": rows}, f, indent=1)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg_chart(rows, order, a.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())

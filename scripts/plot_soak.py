#!/usr/bin/env python3
"""Draw the leak soaks' RSS curves as one SVG, a panel per model side by side, no plotting
library needed. Reads target/soak-rss.csv (tests/soak.rs: calls,rss_mb, the tiny models)
and target/soak-rss-real.csv (tests/soak_real.rs: phase,calls,rss_mb) when present.
  python3 scripts/plot_soak.py [SVG]   (default docs/soak-rss.svg)"""
import csv
import os
import sys

dst = sys.argv[1] if len(sys.argv) > 1 else "docs/soak-rss.svg"
panels = []  # (title, x label, [(calls, rss_mb)])
if os.path.exists("target/soak-rss.csv"):
    rows = [(int(r["calls"]), float(r["rss_mb"])) for r in csv.DictReader(open("target/soak-rss.csv"))]
    panels.append(("tiny models", "embed calls (a generation every 20)", rows))
if os.path.exists("target/soak-rss-real.csv"):
    phases = {}
    for r in csv.DictReader(open("target/soak-rss-real.csv")):
        phases.setdefault(r["phase"], []).append((int(r["calls"]), float(r["rss_mb"])))
    labels = {"MiniLM": "all-MiniLM-L6-v2: embed calls", "SmolLM2-q4": "SmolLM2 q4: generations"}
    for name, rows in phases.items():
        panels.append((name, labels.get(name, "calls"), rows))
if not panels:
    sys.exit("no soak CSV in target/: run cargo test --release --test soak --test soak_real")

PW, H, L, B, T = 320, 300, 56, 40, 34  # panel width, height, left/bottom/top margins


def panel(i, title, xlabel, rows):
    x0 = i * PW
    xmax = max(x for x, _ in rows)
    lo = min(y for _, y in rows) - 2
    hi = max(y for _, y in rows) + 2
    px = lambda x: x0 + L + (PW - L - 14) * x / xmax
    py = lambda y: H - B - (H - B - T) * (y - lo) / (hi - lo)
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in rows)
    ticks = "".join(
        f'<line x1="{x0 + L}" x2="{x0 + PW - 14}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>'
        f'<text x="{x0 + L - 6}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.0f}</text>'
        for v in [lo + (hi - lo) * k / 4 for k in range(5)])
    return (f'{ticks}<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>'
            f'<text x="{x0 + L}" y="14" font-size="12" font-weight="bold">{title}</text>'
            f'<text x="{x0 + L}" y="28" font-size="11">{xmax} calls: {rows[0][1]:.1f} MB at start, {rows[-1][1]:.1f} MB at the end</text>'
            f'<text x="{x0 + (PW + L) / 2}" y="{H - 8}" text-anchor="middle" font-size="11">{xlabel}</text>')


W = PW * len(panels)
body = "".join(panel(i, *p) for i, p in enumerate(panels))
svg = f'''<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">
<rect width="{W}" height="{H}" fill="white"/>{body}
<text x="12" y="{H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 12 {H / 2})">RSS (MB)</text>
</svg>
'''
open(dst, "w").write(svg)
print(dst)

#!/usr/bin/env python3
"""Draw target/soak-rss.csv (written by tests/soak.rs) as an SVG line chart, no plotting
library needed:  python3 scripts/plot_soak.py [CSV] [SVG]   (default docs/soak-rss.svg)"""
import csv
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "target/soak-rss.csv"
dst = sys.argv[2] if len(sys.argv) > 2 else "docs/soak-rss.svg"
rows = [(int(r["calls"]), float(r["rss_mb"])) for r in csv.DictReader(open(src))]
W, H, L, B = 640, 300, 60, 40
xmax = max(x for x, _ in rows)
lo = min(y for _, y in rows)
hi = max(y for _, y in rows)
lo, hi = lo - 2, hi + 2
px = lambda x: L + (W - L - 20) * x / xmax
py = lambda y: H - B - (H - B - 20) * (y - lo) / (hi - lo)
points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in rows)
ticks = "".join(
    f'<line x1="{L}" x2="{W - 20}" y1="{py(v):.1f}" y2="{py(v):.1f}" stroke="#ddd"/>'
    f'<text x="{L - 6}" y="{py(v) + 4:.1f}" text-anchor="end" font-size="11">{v:.0f}</text>'
    for v in [lo + (hi - lo) * i / 4 for i in range(5)])
svg = f'''<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">
<rect width="{W}" height="{H}" fill="white"/>{ticks}
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/>
<text x="{W / 2}" y="{H - 8}" text-anchor="middle" font-size="12">embed calls (one generation every 20 calls)</text>
<text x="14" y="{H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 {H / 2})">RSS (MB)</text>
<text x="{L}" y="14" font-size="12">{xmax} calls: RSS {rows[0][1]:.1f} MB at start, {rows[-1][1]:.1f} MB at the end</text>
</svg>
'''
open(dst, "w").write(svg)
print(dst)

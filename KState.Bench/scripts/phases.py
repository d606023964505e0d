#!/usr/bin/env python3
"""The blackout phase by phase, from phases.sh's JSON runs: Markdown tables on stdout and an SVG chart (blackout
against state size, one line per way, log-log) written by hand, so nothing beyond python3 is needed.
    phases.py RUNS_DIR OUT_DIR"""
import glob, json, math, os, re, statistics, sys

runs_dir, out_dir = sys.argv[1], sys.argv[2]
runs = {}  # (backing, mode, size) -> [json]
for path in glob.glob(os.path.join(runs_dir, "*.json")):
    m = re.match(r"(\w+)-(\w+)-(\d+)-(\d+)\.json$", os.path.basename(path))
    if m and os.path.getsize(path) > 0:  # an empty file: a run still going (phases.py on a run in progress)
        with open(path) as f:
            runs.setdefault((m[1], m[2], int(m[3])), []).append(json.load(f))
sizes = sorted({k[2] for k in runs})
backings = [b for b in ("shm", "huge") if any(k[0] == b for k in runs)]
NAMES = {"shm": "/dev/shm", "huge": "huge tmpfs"}


def values(key, backing, mode, size):
    return [r[key] for r in runs.get((backing, mode, size), []) if key in r]


def cell(vs):
    if not vs:
        return "not run"
    def f(v):
        return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"
    return f"{f(statistics.median(vs))} ({f(min(vs))}–{f(max(vs))})" if len(vs) > 1 else f(vs[0])


def mib(size):
    return f"{size >> 30} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"


# The ways: the live update's two modes on each backing, and the baselines (same state, same runs).
ways = []
MODES = ("successor", "sequential", "copy")  # copy: the successor with its index through records (--copy)
for b in backings:
    for mode in MODES:
        if any(k[:2] == (b, mode) for k in runs):
            label = "successor, index copied (--copy)" if mode == "copy" else f"{mode}, index in place"
            ways.append((f"KState, {label}, {NAMES[b]}", lambda s, b=b, mode=mode: values("blackout_ms", b, mode, s)))
for b in backings:
    ways.append((f"C in place (successor.c), {NAMES[b]}", lambda s, b=b: values("blackout_ms", b, "c", s)))
ways.append(("MemoryPack via a /dev/shm file", lambda s: values("memorypack_ms", "shm", "successor", s)))
ways.append(("memcpy via shared memory", lambda s: values("memcpy_ms", "shm", "successor", s)))

print("Blackout (ms, stop-serving to serving; the baselines: save + load of the same state):\n")
print("| way | " + " | ".join(mib(s) for s in sizes) + " |")
print("|---|" + "---|" * len(sizes))
for name, get in ways:
    print(f"| {name} | " + " | ".join(cell(get(s)) for s in sizes) + " |")

PHASES = [("preserve_ms", "preserve"), ("records_ms", "save"), ("commit_ms", "finalize"), ("teardown_ms", "teardown"),
          ("process_start_ms", "process start"), ("runtime_ready_ms", "runtime ready"), ("boot_ms", "boot"),
          ("restore_ms", "restore"), ("blackout_ms", "blackout"), ("warm_ms", "serving: first pass"), ("copied_bytes", "bytes copied")]
print("\nPhases (ms, median (min–max)); in successor mode process start and runtime ready come before stop-serving and the"
      " teardown overlaps the successor's boot, so neither is in the blackout:\n")
print("| backing | mode | state | " + " | ".join(p[1] for p in PHASES) + " |")
print("|---|---|---|" + "---|" * len(PHASES))
for b in backings:
    for mode in MODES:
        for s in sizes:
            if not runs.get((b, mode, s)):
                continue
            print(f"| {NAMES[b]} | {mode} | {mib(s)} | " + " | ".join(cell(values(k, b, mode, s)) for k, _ in PHASES) + " |")

# The C successor's moments, from stop-serving: finalized, booted, serving (boot + restore = serving - finalized).
c_rows = [(b, way, s) for b in backings for way in ("c", "c0") for s in sizes if runs.get((b, way, s))]
if c_rows:
    print("\nC through libkstate.so (examples/successor.c: no .NET, values preserved in place, no records; ms from stop-serving):\n")
    print("| backing | folios | state | finalized at | booted at | serving at (blackout) | boot + restore (serving - finalized) | teardown done at |")
    print("|---|---|---|---|---|---|---|---|")
    for b, way, s in c_rows:
        rs = runs[(b, way, s)]
        order = 9 if way == "c" else int(way[1:])
        print(f"| {NAMES[b]} | {s // (4096 << order):,} of order {order} | {mib(s)} | " + " | ".join(
            cell([r[k] for r in rs]) for k in ("finalized_at_ms", "booted_at_ms", "blackout_ms")) + " | "
            + cell([r["blackout_ms"] - r["finalized_at_ms"] for r in rs]) + " | " + cell([r["torn_down_at_ms"] for r in rs]) + " |")

first = next(r for rs in runs.values() for r in rs if "native" in r)
print(f"\nBacking: {', '.join(sorted({r['backing'] for rs in runs.values() for r in rs if 'backing' in r}))}; "
      f"{'Native AOT' if first.get('native') and first.get('next_native') else 'JIT'} generations.")

# The chart: log-log, one polyline per way.
W, H, L, R, T, B = 820, 460, 70, 300, 30, 50
pts = [(s, statistics.median(get(s))) for _, get in ways for s in sizes if get(s)]
ymin = 10 ** math.floor(math.log10(min(v for _, v in pts)))
ymax = 10 ** math.ceil(math.log10(max(v for _, v in pts)))
xmin, xmax = math.log2(min(sizes)), math.log2(max(sizes))
if xmax == xmin:
    xmax += 1


def x(size):
    return L + (math.log2(size) - xmin) / (xmax - xmin) * (W - L - R)


def y(v):
    return T + (1 - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin))) * (H - T - B)


COLORS = ["#1f77b4", "#6baed6", "#8c564b", "#d62728", "#fc9272", "#17becf", "#e377c2", "#2ca02c", "#9467bd"]
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18" font-size="14">Blackout against state size (median of the runs; log-log)</text>']
decade = ymin
while decade <= ymax:
    svg.append(f'<line x1="{L}" y1="{y(decade):.1f}" x2="{W - R}" y2="{y(decade):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{L - 6}" y="{y(decade) + 4:.1f}" text-anchor="end">{decade:g} ms</text>')
    decade *= 10
for s in sizes:
    svg.append(f'<line x1="{x(s):.1f}" y1="{T}" x2="{x(s):.1f}" y2="{H - B}" stroke="#eee"/>')
    svg.append(f'<text x="{x(s):.1f}" y="{H - B + 16}" text-anchor="middle">{mib(s)}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">state size</text>')
svg.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#444"/>')
for i, (name, get) in enumerate(ways):
    line = [(x(s), y(statistics.median(get(s)))) for s in sizes if get(s)]
    if not line:
        continue
    color = COLORS[i % len(COLORS)]
    dash = ' stroke-dasharray="6 3"' if "sequential" in name else ' stroke-dasharray="2 2"' if "copied" in name else ""
    svg.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="' + " ".join(f"{a:.1f},{b:.1f}" for a, b in line) + '"/>')
    for a, b in line:
        svg.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')
    ly = T + 10 + i * 20
    svg.append(f'<line x1="{W - R + 12}" y1="{ly}" x2="{W - R + 36}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
    svg.append(f'<text x="{W - R + 42}" y="{ly + 4}">{name}</text>')
svg.append("</svg>")
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "blackout.svg"), "w") as f:
    f.write("\n".join(svg) + "\n")

# The second chart: where the blackout goes, phase by phase, at each size (stacked bars, linear ms).
STACK = [("preserve_ms", "preserve", "#9ecae1"), ("records_ms", "save", "#3182bd"), ("commit_ms", "finalize", "#08519c"),
         ("gap", "the rest", "#bbbbbb"), ("boot_ms", "boot", "#fd8d3c"), ("restore_ms", "restore", "#d94801")]
bars = []
for b in backings:
    for mode in MODES:
        for s in sizes:
            rs = runs.get((b, mode, s))
            if not rs:
                continue
            med = {k: statistics.median([r[k] for r in rs]) for k in ("preserve_ms", "records_ms", "commit_ms", "boot_ms", "restore_ms", "blackout_ms")}
            med["gap"] = max(0.0, med["blackout_ms"] - sum(med[k] for k in ("preserve_ms", "records_ms", "commit_ms", "boot_ms", "restore_ms")))
            bars.append((f"{NAMES[b]}, {mode}, {mib(s)}", med))
W2, row = 900, 22
H2 = T + len(bars) * row + 80
L2, R2 = 230, 30
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W2}" height="{H2}" viewBox="0 0 {W2} {H2}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W2}" height="{H2}" fill="white"/>',
       f'<text x="10" y="18" font-size="14">Where the blackout goes: each phase\'s share of the median blackout (total at the right)</text>',
       f'<text x="10" y="{H2 - 8}" font-size="11">"the rest": sequential, the teardown and the successor\'s process start; successor mode, the lock poll (up to 1 ms) and scheduling</text>']
for i, (name, med) in enumerate(bars):
    yy = T + i * row
    svg.append(f'<text x="{L2 - 6}" y="{yy + 14}" text-anchor="end">{name}</text>')
    at = L2
    for key, _, color in STACK:
        w = med[key] / med["blackout_ms"] * (W2 - L2 - R2 - 70) if med["blackout_ms"] > 0 else 0
        svg.append(f'<rect x="{at:.1f}" y="{yy + 3}" width="{max(w, 0):.1f}" height="{row - 6}" fill="{color}"/>')
        at += w
    svg.append(f'<text x="{at + 4:.1f}" y="{yy + 14}">{med["blackout_ms"]:.1f} ms</text>')
ly = T + len(bars) * row + 20
for j, (_, label, color) in enumerate(STACK):
    svg.append(f'<rect x="{10 + j * 140}" y="{ly}" width="12" height="12" fill="{color}"/>')
    svg.append(f'<text x="{26 + j * 140}" y="{ly + 10}">{label}</text>')
svg.append("</svg>")
with open(os.path.join(out_dir, "blackout-phases.svg"), "w") as f:
    f.write("\n".join(svg) + "\n")
print(f"\nCharts: {out_dir}/blackout.svg, {out_dir}/blackout-phases.svg")

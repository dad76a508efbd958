#!/usr/bin/env python3
"""The comparison chart of bench/compare, drawn with matplotlib (run by the virtualenv's
python, bench/target/venv).

    chart.py COMPARE.csv LATENESS.json OUT.png [MACHINE.txt]

Six panels: the lateness distribution per system and N for tasks due every second and
every minute (boxes from p25 to p75 with the median, whiskers from p1 to p99, a
triangle at the maximum; log axis), the scheduler's CPU per 1,000 firings at N = 1,000
(its own, and with its children: shell, helper processes and the probes), the idle
wake-ups with the idle CPU, the start-up time and the RSS after start-up. LATENESS.json
maps scenario -> system -> N -> a file of lateness values in ms (analyze.py --dump).
"""
import csv
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ORDER = ["floor", "cronwheel", "apscheduler", "cron", "busybox", "supercronic"]
LABEL = {"floor": "floor", "cronwheel": "cronwheel", "apscheduler": "APScheduler",
         "cron": "Debian cron", "busybox": "busybox crond", "supercronic": "supercronic"}
COLOR = {"floor": "#8c8c8c", "cronwheel": "#1f77b4", "apscheduler": "#ff7f0e",
         "cron": "#2ca02c", "busybox": "#d62728", "supercronic": "#9467bd"}
FLOOR_MS = 0.01  # lateness is drawn on a log axis: values below this sit on it


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def lateness_panel(ax, lat, rows, scenario, title):
    per = lat.get(scenario, {})
    systems = [s for s in ORDER if s in per]
    ns = sorted({int(n) for s in systems for n in per[s]})
    if not systems:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_axis_off()
        return
    width = 0.8 / len(systems)
    for j, s in enumerate(systems):
        data, pos, maxima = [], [], []
        for i, n in enumerate(ns):
            path = per[s].get(str(n))
            if not path:
                continue
            v = np.loadtxt(path, ndmin=1) if open(path).read().strip() else np.array([])
            if v.size == 0:
                continue
            v = np.maximum(v, FLOOR_MS)
            data.append(v)
            x = i + (j - (len(systems) - 1) / 2) * width
            pos.append(x)
            maxima.append(v.max())
            r = next((r for r in rows if r["system"] == s and r["scenario"] == scenario
                      and r["n"] == str(n)), None)
            if r and num(r["lost"]):
                ax.annotate(f"{int(num(r['lost'])):,} lost", (x, v.max()), xytext=(0, 8),
                            textcoords="offset points", ha="center", fontsize=6,
                            color=COLOR[s], rotation=90)
        if not data:
            continue
        bp = ax.boxplot(data, positions=pos, widths=width * 0.85, whis=(1, 99),
                        showfliers=False, patch_artist=True, manage_ticks=False)
        for b in bp["boxes"]:
            b.set(facecolor=COLOR[s], alpha=0.55, edgecolor=COLOR[s])
        for k in ("whiskers", "caps", "medians"):
            for line in bp[k]:
                line.set(color=COLOR[s] if k != "medians" else "black", linewidth=1)
        ax.scatter(pos, maxima, marker="v", s=14, color=COLOR[s], zorder=3,
                   label=LABEL[s])
    ax.set_yscale("log")
    ax.set_xticks(range(len(ns)))
    ax.set_xticklabels([f"N = {n:,}" for n in ns])
    ax.set_ylabel("lateness, ms (log)")
    ax.set_title(title)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def bars(ax, groups, series, title, ylabel, log=True, note=None):
    """groups: [(system, {series: value})]; series: [(key, label, hatch)]."""
    groups = [(s, v) for s, v in groups if any(v.get(k) is not None for k, _, _ in series)]
    if not groups:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_axis_off()
        return
    width = 0.8 / len(series)
    top = max(v.get(k) or 0 for _, v in groups for k, _, _ in series)
    for i, (s, vals) in enumerate(groups):
        for j, (k, lab, hatch) in enumerate(series):
            v = vals.get(k)
            x = i + (j - (len(series) - 1) / 2) * width
            if v is None:
                ax.text(x, 1 if log else 0, "n/a", ha="center", va="bottom", fontsize=6)
                continue
            shown = max(v, 0.1) if log else v
            ax.bar(x, shown, width * 0.9, color=COLOR[s], alpha=0.85 if not hatch else 0.45,
                   hatch=hatch, edgecolor=COLOR[s],
                   label=lab if i == 0 else None)
            text = f"{v:,.0f}" if v >= 10 or v == 0 else f"{v:,.1f}"
            ax.text(x, shown * (1.08 if log else 1) + (0 if log else top * 0.01), text,
                    ha="center", va="bottom", fontsize=6.5)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([LABEL[s] for s, _ in groups], fontsize=8)
    if log:
        ax.set_yscale("log")
        low = min(max(v.get(k), 0.1) for _, v in groups for k, _, _ in series
                  if v.get(k) is not None)
        ax.set_ylim(low / 3, max(top, low) * 4)
    else:
        ax.set_ylim(0, max(top, 1) * 1.25)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=7, loc="upper left")
    if note:
        ax.text(0.99, 0.98, note, transform=ax.transAxes, ha="right", va="top", fontsize=6.5)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        rows = list(csv.DictReader(f))
    with open(sys.argv[2]) as f:
        lat = json.load(f)
    machine = ""
    if len(sys.argv) > 4:
        with open(sys.argv[4]) as f:
            kv = dict(line.rstrip("\n").split(": ", 1) for line in f if ": " in line)
        machine = (f"{kv.get('cpu', '?')}, {kv.get('cores', '?')} cores, Linux "
                   f"{kv.get('kernel', '?')}; {kv.get('date', '')}")

    def get(system, scenario, n=None):
        return next((r for r in rows if r["system"] == system and r["scenario"] == scenario
                     and (n is None or r["n"] == str(n))), None)

    present = [s for s in ORDER if any(r["system"] == s for r in rows)]
    missing = [f"{LABEL[r['system']]}: {r['note']}" for r in rows if r["scenario"] == "all"]
    measured = [s for s in present if not any(r["system"] == s and r["scenario"] == "all"
                                              for r in rows)]

    fig, ax = plt.subplots(2, 3, figsize=(17, 10))
    lateness_panel(ax[0][0], lat, rows, "precision-second", "Tasks due every second")
    lateness_panel(ax[0][1], lat, rows, "precision-minute", "Tasks due every minute")

    cpu = []
    for s in measured:
        r = get(s, "overhead", 1000)
        cpu.append((s, {"own": num(r["cpu_per_1000_ms"]) if r else None,
                        "tree": num(r["tree_cpu_per_1000_ms"]) if r else None}))
    bars(ax[0][2], cpu, [("own", "scheduler process", None),
                         ("tree", "with its children (shell, helpers, probes)", "//")],
         "CPU per 1,000 firings, N = 1,000", "ms (log)")

    idle = []
    for s in measured:
        r = get(s, "idle")
        if r and num(r["wakeups"]) is not None:
            idle.append((s, {"w": num(r["wakeups"])}))
    notes = []
    for s in measured:
        r = get(s, "idle")
        if r and num(r["cpu_ms"]) is not None:
            notes.append(f"{LABEL[s]}: {num(r['cpu_ms']):,.0f} ms CPU, {int(num(r['n'])):,} tasks")
    window = next((r["window_s"] for r in rows if r["scenario"] == "idle" and r["window_s"]), "?")
    bars(ax[1][0], idle, [("w", "wake-ups", None)],
         f"Idle: wake-ups in {window} s (context switches, all threads)", "wake-ups",
         log=False, note="\n".join(notes))

    scale_ns = sorted({int(r["n"]) for r in rows if r["scenario"] == "scale" and r["n"]
                       and (num(r["startup_ms"]) is not None)})
    want = [n for n in (10000, 100000)] if scale_ns else []
    series = [(n, f"{n:,} tasks", None if k == 0 else "//") for k, n in enumerate(want)]

    def scale_val(s, n, key):
        r = get(s, "scale", n)
        if r is None:  # a system that takes fewer tasks: its largest measurement
            cand = [r for r in rows if r["system"] == s and r["scenario"] == "scale"
                    and r["n"] and int(r["n"]) < n and int(r["n"]) > 10000 and n > 10000]
            r = cand[0] if cand else None
        if r is None or num(r[key]) is None:
            return None
        return num(r[key]) / (1024 if key == "rss_kb" else 1)

    bars(ax[1][1], [(s, {n: scale_val(s, n, "startup_ms") for n in want}) for s in measured],
         series, "Start-up: exec to ready", "ms (log)")
    bars(ax[1][2], [(s, {n: scale_val(s, n, "rss_kb") for n in want}) for s in measured],
         series, "RSS after start-up", "MB (log)")

    fig.suptitle("cronwheel and other schedulers (bench/compare)", fontsize=13)
    foot = machine
    if missing:
        foot += ("\n" if foot else "") + "; ".join(missing)
    bb = [r for r in rows if r["system"] == "busybox" and r["scenario"] == "scale"
          and "n/a at" in r["note"]]
    if bb:
        foot += f"\nbusybox crond at 100,000 tasks: measured with {int(num(bb[0]['n'])):,} " \
                "(the most lines it reads from root's crontab)"
    fig.text(0.5, 0.005, foot, ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 0.96))
    fig.savefig(sys.argv[3], dpi=110)


if __name__ == "__main__":
    main()

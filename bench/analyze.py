#!/usr/bin/env python3
"""Analysis of the probe files and the results table (standard library only).

    analyze.py precision FILE --impl cronwheel|floor --n N --from S --to E
               [--cpu-start TICKS --cpu-end TICKS --clk-tck HZ] [--scenario NAME]
               [--period SECONDS] [--dump FILE]
    analyze.py drift FILE --n N --interval SECONDS [--impl cronwheel]
    analyze.py table RESULTS.jsonl [RESULTS.jsonl ...]

`precision` and `drift` print one JSON record (one line) on stdout; run.sh appends
them, and its own records for idle, scale and check, to results.jsonl. `table`
prints the medians of every record group (scenario, impl, N) across runs and the
verdict against the targets.

Probe lines are `<task-id> <seconds>.<nanoseconds>` (bench/probe.c); times are
handled as integer nanoseconds.

Precision: the starts of each task are aligned, in time order, with the whole
seconds it should have fired at (an edit-distance alignment by dynamic programming,
`align` below): each start is matched to at most one second, in increasing order,
or left unmatched (an extra, *doubled* firing); a second with no start is *lost*.
Costs: lateness L >= 0 costs L seconds, a lost second or an extra start costs 1, an
*early* start (L < 0) costs 1.5 + |L|. So a start is attributed to the second before
it however late it is, and counts as early only when that second already has its
start and it lies within half a second before the next one. Lateness is `t - s` of
the matched second. Only seconds in [S, E] (inclusive) are reported: for each
expected task id (t0000 .. t<N-1>) exactly one start each. Ids that are not
expected are counted as *unexpected*. Caveat: a start about a second late cannot be
told from an early start of the next second by the probe times alone; the alignment
prefers "late" (cronwheel cannot start a run before its timer, which rounds up).

`--period 60` analyses tasks due every minute the same way (bench/compare): the
boundaries are the minutes from S to E, the costs are counted in minutes instead of
seconds, and the record gains `period_s` and `boundaries`. `--dump FILE` writes every
lateness of the window (ms, ascending) for the comparison chart.

Drift: interval tasks. Per task, firing k is expected at `first + k * interval`;
k is the nearest whole number of intervals since the earliest start of all tasks
(they share one grid), the deviation is measured from the task's own first firing.
A missing k between the first and last k seen over all tasks is lost; a repeated k
is doubled.
"""
import argparse
import json
import math
import statistics
import sys
from collections import defaultdict

NS = 1_000_000_000


def read_probe(path):
    """[(task_id, t_ns)]; malformed lines are counted, not fatal."""
    out, bad = [], 0
    try:
        f = open(path)
    except FileNotFoundError:
        return out, 0
    with f:
        for line in f:
            parts = line.split()
            if len(parts) != 2 or "." not in parts[1]:
                bad += 1
                continue
            sec, frac = parts[1].split(".", 1)
            try:
                t = int(sec) * NS + int(frac.ljust(9, "0")[:9])
            except ValueError:
                bad += 1
                continue
            out.append((parts[0], t))
    return out, bad


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def ms(ns):
    return None if ns is None else round(ns / 1e6, 3)


def task_ids(n):
    return [f"t{i:04d}" for i in range(n)]


LOST_COST = 1.0
EXTRA_COST = 1.0
# An early start costs more than "late for the previous second, this one lost"
# (at most 1 + 1), unless the previous second already has its start: then it costs
# less than "extra start, this second lost" (1 + 1) when within 0.5 s of the second.
EARLY_COST = 1.5


def lateness_cost(lat_ns, unit=NS):
    lat = lat_ns / unit
    return lat if lat >= 0 else EARLY_COST + -lat


def align(ts, lo, hi, from_s, to_s, unit=NS):
    """Aligns the sorted start times `ts` (ns) of one task with the seconds lo..hi.
    Returns [(t, second or None)]; seconds outside [from_s, to_s] may be lost freely.
    With `unit` other than a second (ns), "second" k is the boundary k * unit and the
    costs are counted in units instead of seconds."""
    secs = list(range(lo, hi + 1))
    m, k = len(ts), len(secs)
    inf = float("inf")
    dp = [[inf] * (k + 1) for _ in range(m + 1)]
    back = [[0] * (k + 1) for _ in range(m + 1)]  # 1 lost, 2 extra, 3 match
    dp[0][0] = 0.0
    lost = [LOST_COST if from_s <= x <= to_s else 0.0 for x in secs]
    for i in range(m + 1):
        row, nxt = dp[i], dp[i + 1] if i < m else None
        brow, bnxt = back[i], back[i + 1] if i < m else None
        t = ts[i] if i < m else 0
        for j in range(k + 1):
            c = row[j]
            if c == inf:
                continue
            if j < k and c + lost[j] < row[j + 1]:
                row[j + 1] = c + lost[j]
                brow[j + 1] = 1
            if i < m:
                if c + EXTRA_COST < nxt[j]:
                    nxt[j] = c + EXTRA_COST
                    bnxt[j] = 2
                if j < k:
                    lat = t - secs[j] * unit
                    if -unit < lat < 10 * unit:
                        v = c + lateness_cost(lat, unit)
                        if v < nxt[j + 1]:
                            nxt[j + 1] = v
                            bnxt[j + 1] = 3
    out = []
    i, j = m, k
    while i > 0 or j > 0:
        b = back[i][j]
        if b == 1:
            j -= 1
        elif b == 2:
            i -= 1
            out.append((ts[i], None))
        else:
            i -= 1
            j -= 1
            out.append((ts[i], secs[j]))
    out.reverse()
    return out


def precision(a):
    # --period P: the boundaries are the multiples of P seconds from S to E (both
    # multiples of P); below, "seconds" are boundary numbers and NS-sized steps are
    # `unit`-sized. P = 1 is the plain per-second analysis.
    period = getattr(a, "period", 1) or 1
    if a.from_s % period or a.to_s % period:
        sys.exit(f"analyze.py: --from and --to must be multiples of --period {period}")
    unit = period * NS
    from_b, to_b = a.from_s // period, a.to_s // period
    samples, bad = read_probe(a.file)
    expected = set(task_ids(a.n))
    by_task = defaultdict(list)
    unexpected = 0
    for tid, t in samples:
        if tid in expected:
            by_task[tid].append(t)
        elif from_b * unit <= t < (to_b + 1) * unit:
            unexpected += 1
    late = []
    early = lost = doubled = 0
    for tid in expected:
        ts = sorted(by_task.get(tid, []))
        lo = min([from_b] + [t // unit - 1 for t in ts])
        hi = max([to_b] + [t // unit + 1 for t in ts])
        matched = set()
        for t, s in align(ts, lo, hi, from_b, to_b, unit):
            if s is None:
                if from_b * unit <= t < (to_b + 1) * unit:
                    doubled += 1
                continue
            if not from_b <= s <= to_b:
                continue
            matched.add(s)
            lat = t - s * unit
            late.append(lat)
            if lat < 0:
                early += 1
        lost += (to_b - from_b + 1) - len(matched)
    late.sort()
    if getattr(a, "dump", None):
        with open(a.dump, "w") as f:
            f.writelines(f"{v / 1e6:.3f}\n" for v in late)
    rec = {
        "scenario": a.scenario,
        "impl": a.impl,
        "n": a.n,
        "from_s": a.from_s,
        "to_s": a.to_s,
        "seconds": a.to_s - a.from_s + 1,
        "expected": a.n * (to_b - from_b + 1),
        "firings": len(late),
        "p50_ms": ms(pct(late, 50)),
        "p99_ms": ms(pct(late, 99)),
        "max_ms": ms(late[-1] if late else None),
        "min_ms": ms(late[0] if late else None),
        "mean_ms": ms(statistics.fmean(late) if late else None),
        "early": early,
        "lost": lost,
        "doubled": doubled,
        "unexpected": unexpected,
        "malformed": bad,
    }
    if period != 1:
        rec["period_s"] = period
        rec["boundaries"] = to_b - from_b + 1
    add_extra(rec, a.extra)
    if a.cpu_start is not None and a.cpu_end is not None:
        cpu_ms = (a.cpu_end - a.cpu_start) * 1000.0 / a.clk_tck
        rec["cpu_ms"] = round(cpu_ms, 1)
        rec["cpu_ms_per_1000"] = round(cpu_ms / len(late) * 1000, 2) if late else None
    return rec


def add_extra(rec, extra):
    """KEY=VALUE pairs into the record, as int, float or string."""
    for kv in extra or []:
        k, _, v = kv.partition("=")
        for conv in (int, float, str):
            try:
                rec[k] = conv(v)
                break
            except ValueError:
                pass


def drift(a):
    samples, bad = read_probe(a.file)
    by_task = defaultdict(list)
    for tid, t in samples:
        by_task[tid].append(t)
    if not samples:
        return {"scenario": "drift", "impl": a.impl, "n": a.n, "firings": 0,
                "max_dev_ms": None, "lost": None, "doubled": None}
    step = int(round(a.interval * NS))
    t0 = min(t for _, t in samples)
    ks = {}
    devs = []
    for tid, ts in by_task.items():
        ts.sort()
        first = ts[0]
        k_first = round((first - t0) / step)
        kk = []
        for t in ts:
            k = round((t - t0) / step)
            kk.append(k)
            devs.append(abs(t - (first + (k - k_first) * step)))
        ks[tid] = kk
    kmin = min(min(v) for v in ks.values())
    kmax = max(max(v) for v in ks.values())
    lost = doubled = 0
    for tid in task_ids(a.n):
        kk = ks.get(tid, [])
        distinct = set(kk)
        lost += (kmax - kmin + 1) - len(distinct & set(range(kmin, kmax + 1)))
        doubled += len(kk) - len(distinct)
    devs.sort()
    # How far apart the tasks of one grid point start (they share the grid).
    spread = []
    per_k = defaultdict(list)
    for tid, ts in by_task.items():
        for t in ts:
            per_k[round((t - t0) / step)].append(t)
    for v in per_k.values():
        spread.append(max(v) - min(v))
    return {
        "scenario": "drift",
        "impl": a.impl,
        "n": a.n,
        "interval_s": a.interval,
        "firings": len(samples),
        "grid_points": kmax - kmin + 1,
        "max_dev_ms": ms(devs[-1]),
        "p99_dev_ms": ms(pct(devs, 99)),
        "p50_dev_ms": ms(pct(devs, 50)),
        "max_spread_ms": ms(max(spread)),
        "lost": lost,
        "doubled": doubled,
        "unexpected": len(set(by_task) - set(task_ids(a.n))),
        "malformed": bad,
    }


# ----------------------------------------------------------------------------- table

def load_records(paths):
    recs = []
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    recs.append(json.loads(line))
    return recs


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def verdict(ok):
    return "-" if ok is None else ("MET" if ok else "MISSED")


def table(paths):
    recs = load_records(paths)
    groups = defaultdict(list)
    for r in recs:
        groups[(r["scenario"], r.get("impl", "cronwheel"), r.get("n"))].append(r)

    def g(scn, impl, n, key, agg=med):
        rs = groups.get((scn, impl, n), [])
        return agg([r.get(key) for r in rs]) if rs else None

    def runs(scn, impl, n):
        return len(groups.get((scn, impl, n), []))

    def total(vals):
        vals = [v for v in vals if v is not None]
        return sum(vals) if vals else None

    lines = []
    out = lines.append
    meta = [r for r in recs if r["scenario"] == "meta"]
    if meta:
        m = meta[-1]
        out(f"machine: {m.get('cpu')} x{m.get('cores')}, kernel {m.get('kernel')}, "
            f"{m.get('date')}, cronwheel {m.get('commit')}")
    ns = sorted({k[2] for k in groups if k[0] == "precision"})
    if ns:
        out("")
        out("Precision: lateness of the probe start after the whole second, ms "
            "(median over runs of each run's p50/p99/max)")
        out(f"{'N':>6}  {'runs':>4}  {'floor p50/p99/max':>22}  {'cronwheel p50/p99/max':>24}"
            f"  {'p99 diff':>8}  {'p99 ratio':>9}  {'target':<22} {'verdict':<7}  other CPU f/c")
        for n in ns:
            f = [g("precision", "floor", n, k) for k in ("p50_ms", "p99_ms", "max_ms")]
            c = [g("precision", "cronwheel", n, k) for k in ("p50_ms", "p99_ms", "max_ms")]
            diff = ratio = ok = None
            target = ""
            if f[1] is not None and c[1] is not None:
                diff = c[1] - f[1]
                ratio = c[1] / f[1] if f[1] > 0 else None
                if n <= 1:
                    target, ok = "p99 <= floor + 0.5 ms", diff <= 0.5
                elif n <= 100:
                    target, ok = "p99 <= floor + 2 ms", diff <= 2.0
                else:
                    target, ok = "p99 <= 1.15 x floor", ratio is not None and ratio <= 1.15
            out(f"{n:>6}  {runs('precision', 'cronwheel', n):>4}  "
                f"{'/'.join(fmt(x) for x in f):>22}  {'/'.join(fmt(x) for x in c):>24}  "
                f"{fmt(diff):>8}  {fmt(ratio):>9}  {target:<22} {verdict(ok):<7}  "
                f"{fmt(g('precision', 'floor', n, 'other_cpu_pct'), 1)}%/"
                f"{fmt(g('precision', 'cronwheel', n, 'other_cpu_pct'), 1)}%")
        out("")
        out("Correctness (summed over runs): early / lost / doubled / unexpected firings")
        for n in ns:
            for impl in ("floor", "cronwheel"):
                rs = groups.get(("precision", impl, n), [])
                if not rs:
                    continue
                t = [total(r.get(k) for r in rs) for k in ("early", "lost", "doubled", "unexpected")]
                fired = total(r.get("firings") for r in rs)
                exp = total(r.get("expected") for r in rs)
                out(f"{n:>6}  {impl:<10} {fired}/{exp} firings   early {t[0]}  lost {t[1]}  "
                    f"doubled {t[2]}  unexpected {t[3]}")
        cpu = [(n, g("precision", "cronwheel", n, "cpu_ms_per_1000"),
                g("precision", "floor", n, "cpu_ms_per_1000")) for n in ns]
        if any(c is not None for _, c, _ in cpu):
            out("")
            out("CPU per 1,000 firings, ms (cronwheel: daemon utime+stime, all threads, in "
                "the window; floor: its own CPU, children excluded)")
            for n, c, f in cpu:
                out(f"{n:>6}  cronwheel {fmt(c, 1):>7}   floor {fmt(f, 1):>7}")

    for key in [k for k in groups if k[0] == "overhead"]:
        rs = groups[key]
        v = g(*key, "cpu_ms_per_1000")
        out("")
        out(f"Overhead (N={key[2]}, {len(rs)} runs): daemon CPU (utime+stime, all threads) "
            f"per 1,000 firings = {fmt(v, 1)} ms (median); "
            f"window CPU {fmt(g(*key, 'cpu_ms'), 0)} ms for "
            f"{fmt(g(*key, 'firings'))} firings; "
            f"lateness p50/p99 {fmt(g(*key, 'p50_ms'))}/{fmt(g(*key, 'p99_ms'))} ms;  "
            f"target <= 100 ms: {verdict(None if v is None else v <= 100)}")
        f = g("precision", "floor", key[2], "cpu_ms_per_1000")
        if f is not None:
            out(f"  floor at N={key[2]}: {fmt(f, 1)} ms of its own CPU per 1,000 spawns")
        t = [total(r.get(k) for r in rs) for k in ("early", "lost", "doubled")]
        out(f"  early {t[0]}  lost {t[1]}  doubled {t[2]}")

    dkeys = sorted({k[2] for k in groups if k[0] == "drift"})
    for n in dkeys:
        out("")
        out(f"Drift ({n} interval tasks of 1 s; the floor: {n} probes at each whole second): "
            f"deviation of firing k from first + k*interval, ms")
        out(f"  {'':<10} {'runs':>4} {'firings':>8} {'max (median, worst)':>20} {'p99':>7} "
            f"{'p50':>7} {'spread':>7} {'other CPU':>9}  lost/doubled  verdict (<= 5 ms)")
        for impl in ("floor", "cronwheel"):
            key = ("drift", impl, n)
            rs = groups.get(key)
            if not rs:
                continue
            v = g(*key, "max_dev_ms")
            worst = max((r["max_dev_ms"] for r in rs if r.get("max_dev_ms") is not None),
                        default=None)
            ok = None if v is None or impl == "floor" else v <= 5
            out(f"  {impl:<10} {len(rs):>4} {fmt(g(*key, 'firings'), 0):>8} "
                f"{fmt(v, 3) + ', ' + fmt(worst, 3):>20} {fmt(g(*key, 'p99_dev_ms'), 3):>7} "
                f"{fmt(g(*key, 'p50_dev_ms'), 3):>7} {fmt(g(*key, 'max_spread_ms'), 3):>7} "
                f"{fmt(g(*key, 'other_cpu_pct'), 1) + '%':>9}  "
                f"{total(r.get('lost') for r in rs)}/{total(r.get('doubled') for r in rs)}"
                f"{'':>10}{verdict(ok) if impl != 'floor' else ''}")
        out("  (spread: the largest gap between the first and last task of one grid point)")

    for key in [k for k in groups if k[0] == "idle"]:
        rs = groups[key]
        v = g(*key, "wakeups")
        out("")
        out(f"Idle ({key[2]} tasks, {rs[0].get('window_s')} s window, {len(rs)} runs): "
            f"wake-ups (context switches, all threads) = {fmt(v, 0)} (median; max "
            f"{max(r['wakeups'] for r in rs)}), CPU {fmt(g(*key, 'cpu_ms'), 0)} ms;  "
            f"target 0: {verdict(None if v is None else v == 0)}")
        if rs[-1].get("detail"):
            out(f"  last run, per thread: {rs[-1]['detail']}")

    for key in [k for k in groups if k[0] == "scale"]:
        rs = groups[key]
        st = g(*key, "startup_ms")
        rss = g(*key, "vmrss_kb")
        hwm = g(*key, "vmhwm_kb")
        out("")
        out(f"Scale ({key[2]} tasks, {len(rs)} runs): exec to \"cronwheel started\" "
            f"{fmt(st, 1)} ms (target <= 50: {verdict(None if st is None else st <= 50)}); "
            f"VmRSS {fmt(None if rss is None else rss / 1024, 1)} MB, VmHWM "
            f"{fmt(None if hwm is None else hwm / 1024, 1)} MB (target <= 8 MB: "
            f"{verdict(None if hwm is None else max(rss, hwm) <= 8 * 1024)})")

    for key in [k for k in groups if k[0] == "check"]:
        rs = [r for r in groups[key] if r.get("exit_code", 0) == 0]
        if not rs:
            out("")
            out(f"Check ({key[2]} tasks): INVALID: every run exited non-zero "
                f"({groups[key][-1].get('output') or 'see check.err'})")
            continue
        groups[key] = rs
        w = g(*key, "wall_s")
        m = g(*key, "maxrss_kb")
        out("")
        out(f"Check ({key[2]} tasks, {len(rs)} runs): `cronwheel check` wall "
            f"{fmt(w, 3)} s (target < 1 s: {verdict(None if w is None else w < 1)}), "
            f"peak RSS {fmt(None if m is None else m / 1024, 1)} MB (target < 200 MB: "
            f"{verdict(None if m is None else m < 200 * 1024)}); user "
            f"{fmt(g(*key, 'user_s'), 3)} s, sys {fmt(g(*key, 'sys_s'), 3)} s")
    others = sorted(r["other_cpu_pct"] for r in recs if r.get("other_cpu_pct") is not None)
    if others:
        out("")
        out(f"Noise: CPU used by other processes during each measurement, % of the machine: "
            f"min {others[0]:.1f}, median {statistics.median(others):.1f}, "
            f"max {others[-1]:.1f} (busy ticks of /proc/stat minus the measured process tree)")
    bad = [r for r in recs if r.get("exit_code") not in (None, 0)]
    if bad:
        out("")
        out("WARNING: records whose command exited non-zero (their numbers are not valid): " +
            ", ".join(f"{r['scenario']} N={r.get('n')} exit {r['exit_code']}" for r in bad))
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("precision")
    pp.add_argument("file")
    pp.add_argument("--impl", default="cronwheel")
    pp.add_argument("--scenario", default="precision")
    pp.add_argument("--n", type=int, required=True)
    pp.add_argument("--from", dest="from_s", type=int, required=True)
    pp.add_argument("--to", dest="to_s", type=int, required=True)
    pp.add_argument("--cpu-start", type=int)
    pp.add_argument("--cpu-end", type=int)
    pp.add_argument("--clk-tck", type=int, default=100)
    pp.add_argument("--extra", action="append", metavar="KEY=VALUE",
                    help="extra field for the record (repeatable)")
    pp.add_argument("--period", type=int, default=1,
                    help="seconds between boundaries (60: tasks due every minute); "
                         "--from and --to are multiples of it")
    pp.add_argument("--dump", metavar="FILE",
                    help="also write each lateness in the window (ms, ascending), one a line")
    pd = sub.add_parser("drift")
    pd.add_argument("file")
    pd.add_argument("--impl", default="cronwheel")
    pd.add_argument("--n", type=int, required=True)
    pd.add_argument("--interval", type=float, default=1.0)
    pd.add_argument("--extra", action="append", metavar="KEY=VALUE")
    pt = sub.add_parser("table")
    pt.add_argument("files", nargs="+")
    a = p.parse_args()
    if a.cmd == "precision":
        print(json.dumps(precision(a)))
    elif a.cmd == "drift":
        rec = drift(a)
        add_extra(rec, a.extra)
        print(json.dumps(rec))
    else:
        table(a.files)


if __name__ == "__main__":
    main()

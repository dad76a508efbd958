#!/usr/bin/env bash
# The cronwheel scheduling benchmark. See bench/README.md.
#
#   bench/run.sh [--quick] [--repeat K] [--no-build] [--n "LIST"] [SCENARIO...]
#
# SCENARIO: precision overhead drift idle scale check all (default: all).
#   --quick     short variant: precision N=1,100 for 10 s, 10 s windows elsewhere,
#               check once
#   --repeat K  run the chosen scenarios K times (interleaved) and print the medians
#   --no-build  use the existing target/release/cronwheel (e.g. while src/ is mid-edit)
#   --n "LIST"  the task counts of the precision scenario (default "1 100 1000")
#
# Environment: CW_LOG_LEVEL (default warn) is the daemon's --log-level in the
# precision, overhead and drift runs; info logs two lines per run. CW_STATE=off runs
# the daemon with --no-state (no run history), to measure what the history costs.
#
# Run one benchmark at a time on a quiet machine: every scenario measures timing.
# Everything it writes goes under bench/target/ (gitignored): the binaries, and one
# directory per invocation, bench/target/results/<date>/, with the task files, the
# probe outputs, the daemon logs and results.jsonl (one JSON record per measurement).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
T="$BENCH/target"
CW_BUILT="${CARGO_TARGET_DIR:-$ROOT/target}/release/cronwheel"
# The daemon runs as a byte-identical copy under another name, so that nothing that
# signals processes by name on this shared machine (pkill cronwheel, killall) can hit
# the benchmark's daemon; it happened once during development (SIGHUP, then killed).
CW="$T/cwbench"
PROBE="$T/probe"
FLOOR="$T/floor"
PY="${PYTHON:-python3}"
LOG_LEVEL="${CW_LOG_LEVEL:-warn}"
NS=1000000000

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

quick=0
prec_ns=""
repeat=1
build=1
scenarios=()
while (($#)); do
    case "$1" in
        --quick) quick=1 ;;
        --repeat) repeat="${2:?--repeat needs a count}"; shift ;;
        --repeat=*) repeat="${1#*=}" ;;
        --no-build) build=0 ;;
        --n) prec_ns="${2:?--n needs a list, e.g. --n \"100 1000\"}"; shift ;;
        -h|--help) usage; exit 0 ;;
        precision|overhead|drift|idle|scale|check) scenarios+=("$1") ;;
        all) scenarios+=(precision overhead drift idle scale check) ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
((${#scenarios[@]})) || scenarios=(precision overhead drift idle scale check)

# Parameters. DISCARD: whole seconds dropped after start (warm-up).
DISCARD=2
if ((quick)); then
    PREC_NS=(1 100); PREC_D=10
    OVER_N=1000; OVER_D=10
    DRIFT_N=10; DRIFT_D=10
    IDLE_N=10000; IDLE_D=10
    SCALE_N=10000
    CHECK_N=100000; CHECK_REPS=1
else
    PREC_NS=(1 100 1000); PREC_D=30
    OVER_N=1000; OVER_D=30
    DRIFT_N=10; DRIFT_D=60
    IDLE_N=10000; IDLE_D=60
    SCALE_N=10000
    CHECK_N=100000; CHECK_REPS=3
fi
if [[ -n "$prec_ns" ]]; then
    read -r -a PREC_NS <<<"$prec_ns"
fi
CLK_TCK="$(getconf CLK_TCK)"
NCPU="$(nproc)"

# --------------------------------------------------------------------------- plumbing

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now_ns() { date +%s%N; }

# Sleeps until the CLOCK_REALTIME instant $1 (ns since the epoch); returns at once when past.
sleep_until() {
    local d=$(($1 - $(now_ns)))
    if ((d > 0)); then
        sleep "$(printf '%d.%09d' $((d / NS)) $((d % NS)))"
    fi
}

# Waits until at least 50 ms past and 150 ms before a whole second, so that "the next
# whole second" means the same thing to this script and to the process it starts.
avoid_boundary() {
    local now frac
    now=$(now_ns)
    frac=$((now % NS))
    if ((frac > 850000000 || frac < 50000000)); then
        sleep_until $(((now / NS + (frac > 850000000 ? 1 : 0)) * NS + 50000000))
    fi
}

# utime + stime of all threads of a process, in clock ticks (fields 14 and 15 of
# /proc/PID/stat; fields are counted after the ")" that ends the command name).
cpu_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo ""; return 0; }
    s=${s##*) }
    awk '{print $12 + $13}' <<<"$s"
}

# utime + stime + cutime + cstime: the process and its reaped children (the probes).
tree_ticks() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo ""; return 0; }
    s=${s##*) }
    awk '{print $12 + $13 + $14 + $15}' <<<"$s"
}

# Busy CPU ticks of the whole machine (user nice system irq softirq steal; guest time
# is inside user), from the first line of /proc/stat.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

# other_pct BUSY0 BUSY1 OURS_TICKS WALL_NS: the share of the machine's CPU capacity
# that other processes used during a measurement, in percent: the noise indicator
# (other engineers compiling or testing). OURS_TICKS is the measured tree's CPU.
other_pct() {
    awk -v b0="$1" -v b1="$2" -v ours="$3" -v wall="$4" -v hz="$CLK_TCK" -v ncpu="$NCPU" \
        'BEGIN {o = (b1 - b0 - ours) * 100 / (wall / 1e9 * hz * ncpu); if (o < 0) o = 0; printf "%.1f", o}'
}

# "<tid> <comm> <voluntary+nonvoluntary context switches>" per thread of a process.
ctxt_threads() {
    local d comm n
    for d in /proc/"$1"/task/*; do
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        n=$(awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s + 0}' \
            "$d/status" 2>/dev/null) || continue
        printf '%s %s %s\n' "${d##*/}" "${comm// /_}" "$n"
    done
}

# state_args NAME: prints the daemon's state option for one run: a fresh, empty state
# directory under the results directory, so that no run inherits the run history and
# interval phases of another (the default would be /var/lib/cronwheel as root) and
# nothing is written outside bench/target/. Empty for builds without --state-dir.
# CW_STATE=off runs the daemon with --no-state instead (history off), to measure what
# keeping the history costs.
state_args() {
    if [[ "${CW_STATE:-on}" == off ]]; then
        printf '%s\n' --no-state
    elif ((STATE_DIR_OPT)); then
        rm -rf "$W/state/$1"
        mkdir -p "$W/state/$1"
        printf '%s\n' --state-dir "$W/state/$1"
    fi
}

# start_daemon CONFIG LOGFILE LEVEL: starts cronwheel in the background; sets DPID.
start_daemon() {
    local sa
    mapfile -t sa < <(state_args "$(basename "$2" .log)")
    "$CW" run --config "$1" "${sa[@]}" --log-level "$3" </dev/null >/dev/null 2>"$2" &
    DPID=$!
    PIDS+=("$DPID")
}

# stop_daemon PID: SIGTERM, then SIGKILL after 20 s; sets DRC to its exit status.
stop_daemon() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "daemon $pid still running 20 s after SIGTERM: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    DRC=0
    wait "$pid" || DRC=$?
}

# alive PID LOGFILE: fails with the log when the daemon has exited.
alive() {
    if ! kill -0 "$1" 2>/dev/null; then
        local rc=0
        wait "$1" || rc=$?
        log "cronwheel exited early (status $rc; > 128 is a signal); its log:"
        tail -n 20 "$2" >&2 || true
        return 1
    fi
}

record() { cat >>"$RESULTS"; }

# cfg_path NAME: where a generated task file goes: alone in its own directory, because
# the daemon watches the task file's directory (inotify) and would otherwise be woken
# by every probe line and log write the benchmark makes next to it.
cfg_path() {
    mkdir -p "$W/cfg-$1"
    echo "$W/cfg-$1/tasks.yaml"
}

# guarded CMD...: runs CMD in a subshell with errexit in force (a failing command
# ends it) and its own trap to stop the daemon it started; sets GRC to its status and
# returns 0, so that one failed measurement does not end the whole benchmark.
# Never call it as a condition (`guarded x || ...`): bash ignores errexit inside
# anything run as a condition, the subshell included.
guarded() {
    set +e
    (
        set -e
        PIDS=()
        trap cleanup EXIT
        trap 'exit 130' INT TERM
        "$@"
    )
    GRC=$?
    set -e
    if ((GRC == 130)); then exit 130; fi
    return 0
}

# --------------------------------------------------------------------------- build

build_all() {
    mkdir -p "$T"
    if ((build)); then
        log "cargo build --release"
        (cd "$ROOT" && cargo build --release --quiet)
    fi
    [[ -x "$CW_BUILT" ]] || { echo "run.sh: $CW_BUILT not found (build failed or --no-build)" >&2; exit 1; }
    cp "$CW_BUILT" "$CW.tmp" && mv -f "$CW.tmp" "$CW"
    STATE_DIR_OPT=0
    if "$CW" run --help 2>/dev/null | grep -q -- '--state-dir'; then
        STATE_DIR_OPT=1
    fi
    PROBE_LINK=static
    if ! gcc -O2 -Wall -static -o "$PROBE" "$BENCH/probe.c" 2>"$T/probe-build.log"; then
        log "static probe build failed (no static libc? apt-get install -y libc6-dev); building it dynamic"
        gcc -O2 -Wall -o "$PROBE" "$BENCH/probe.c"
        PROBE_LINK=dynamic
    fi
    gcc -O2 -Wall -pthread -o "$FLOOR" "$BENCH/floor.c"
}

# --------------------------------------------------------------------------- scenarios

# precision_floor N D: the floor fires N probes at each of D + DISCARD whole seconds.
precision_floor() {
    local n=$1 d=$2 out="$W/floor-$1-r$REP.txt" so="$W/floor-$1-r$REP.stdout"
    local first s e cpu b0 b1 t0 t1 other
    : >"$out"
    avoid_boundary
    b0=$(busy_ticks)
    t0=$(now_ns)
    "$FLOOR" "$n" $((d + DISCARD)) "$out" "$PROBE" >"$so"
    t1=$(now_ns)
    b1=$(busy_ticks)
    first=$(awk '/^first/ {print $2}' "$so")
    s=$((first + DISCARD))
    e=$((s + d - 1))
    # The floor's own CPU (not the probes') per 1,000 spawns, over all its seconds.
    cpu=$(awk '/^cpu_us/ {printf "%.2f", $2 / $4}' "$so")
    other=$(other_pct "$b0" "$b1" "$(awk -v hz="$CLK_TCK" '/^cpu_us/ {print ($2 + $6) / 1e6 * hz}' "$so")" $((t1 - t0)))
    "$PY" "$BENCH/analyze.py" precision "$out" --impl floor --n "$n" --from "$s" --to "$e" \
        --extra probe="$PROBE_LINK" --extra cpu_ms_per_1000="${cpu:-0}" \
        --extra other_cpu_pct="$other" | emit
}

# every_second SCENARIO N D: cronwheel with N every-second cron tasks; the window is
# the D whole seconds after the first DISCARD firings; daemon CPU is read half a second
# before the window's first firing and half a second after its last.
every_second() {
    local scn=$1 n=$2 d=$3 cfg out="$W/$1-cw-$2-r$REP.txt"
    local dlog="$W/$1-cw-$2-r$REP.log" t0 s e c0 c1 lines b0 b1 x0 x1 other thr
    cfg=$(cfg_path "every-$n")
    "$PY" "$BENCH/gen.py" every-second "$n" "$PROBE" "$out" "$cfg"
    : >"$out"
    avoid_boundary
    t0=$(now_ns)
    start_daemon "$cfg" "$dlog" "$LOG_LEVEL"
    s=$((t0 / NS + 1 + DISCARD))
    e=$((s + d - 1))
    sleep 1
    alive "$DPID" "$dlog"
    sleep_until $((s * NS - NS / 2))
    c0=$(cpu_ticks "$DPID")
    x0=$(tree_ticks "$DPID")
    b0=$(busy_ticks)
    sleep_until $((e * NS + NS / 2))
    c1=$(cpu_ticks "$DPID")
    x1=$(tree_ticks "$DPID")
    b1=$(busy_ticks)
    thr=$(awk '/^Threads/ {print $2}' "/proc/$DPID/status" 2>/dev/null || true)
    other=$(other_pct "$b0" "$b1" $((x1 - x0)) $((d * NS)))
    sleep_until $(((e + 1) * NS + 300000000))
    alive "$DPID" "$dlog"
    stop_daemon "$DPID"
    lines=$(wc -l <"$dlog")
    if ((lines > 0)); then
        log "cronwheel logged $lines lines at level $LOG_LEVEL ($dlog); first ones:"
        head -n 3 "$dlog" >&2
    fi
    "$PY" "$BENCH/analyze.py" precision "$out" --scenario "$scn" --impl cronwheel --n "$n" \
        --from "$s" --to "$e" --cpu-start "${c0:-0}" --cpu-end "${c1:-0}" --clk-tck "$CLK_TCK" \
        --extra exit_code="$DRC" --extra log_lines="$lines" --extra log_level="$LOG_LEVEL" --extra probe="$PROBE_LINK" \
        --extra other_cpu_pct="$other" --extra threads="${thr:-0}" \
        | emit
}

scenario_precision() {
    local n
    local failed=0
    for n in "${PREC_NS[@]}"; do
        log "precision N=$n: floor, $PREC_D s (+$DISCARD s discarded)"
        guarded precision_floor "$n" "$PREC_D"
        ((GRC == 0)) || { log "precision floor N=$n failed"; failed=1; }
        log "precision N=$n: cronwheel, $PREC_D s (+$DISCARD s discarded)"
        guarded every_second precision "$n" "$PREC_D"
        ((GRC == 0)) || { log "precision cronwheel N=$n failed"; failed=1; }
    done
    return "$failed"
}

scenario_overhead() {
    log "overhead N=$OVER_N: cronwheel, $OVER_D s window"
    every_second overhead "$OVER_N" "$OVER_D"
}

scenario_drift() {
    local cfg out="$W/drift-r$REP.txt" dlog="$W/drift-r$REP.log"
    local fout="$W/drift-floor-r$REP.txt" fso="$W/drift-floor-r$REP.stdout" t0 t1 b0 b1 x1 other
    # The floor first: N probes at each whole second, analysed the same way (its grid
    # is the whole seconds), so the deviation the machine itself shows is known.
    log "drift: floor, $DRIFT_N probes each second, $DRIFT_D s"
    : >"$fout"
    avoid_boundary
    b0=$(busy_ticks)
    t0=$(now_ns)
    "$FLOOR" "$DRIFT_N" "$DRIFT_D" "$fout" "$PROBE" >"$fso"
    t1=$(now_ns)
    b1=$(busy_ticks)
    other=$(other_pct "$b0" "$b1" "$(awk -v hz="$CLK_TCK" '/^cpu_us/ {print ($2 + $6) / 1e6 * hz}' "$fso")" $((t1 - t0)))
    "$PY" "$BENCH/analyze.py" drift "$fout" --impl floor --n "$DRIFT_N" --interval 1 \
        --extra other_cpu_pct="$other" | emit

    log "drift: cronwheel, $DRIFT_N interval tasks (1 s), $DRIFT_D s"
    cfg=$(cfg_path drift)
    "$PY" "$BENCH/gen.py" interval "$DRIFT_N" 1 "$PROBE" "$out" "$cfg"
    : >"$out"
    avoid_boundary
    b0=$(busy_ticks)
    t0=$(now_ns)
    start_daemon "$cfg" "$dlog" "$LOG_LEVEL"
    sleep_until $((t0 + DRIFT_D * NS + NS / 2))
    alive "$DPID" "$dlog"
    x1=$(tree_ticks "$DPID")
    b1=$(busy_ticks)
    t1=$(now_ns)
    other=$(other_pct "$b0" "$b1" "$x1" $((t1 - t0)))
    stop_daemon "$DPID"
    "$PY" "$BENCH/analyze.py" drift "$out" --n "$DRIFT_N" --interval 1 \
        --extra exit_code="$DRC" --extra other_cpu_pct="$other" | emit
}

scenario_idle() {
    local cfg dlog="$W/idle-r$REP.log" a b c0 c1 w detail threads b0 b1 other
    log "idle: $IDLE_N tasks, nothing due, $IDLE_D s window (starts 2 s after launch)"
    cfg=$(cfg_path "idle-$IDLE_N")
    [[ -s "$cfg" ]] || "$PY" "$BENCH/gen.py" idle "$IDLE_N" "$PROBE" "$cfg"
    start_daemon "$cfg" "$dlog" warn
    sleep 2
    alive "$DPID" "$dlog"
    a=$(ctxt_threads "$DPID")
    c0=$(cpu_ticks "$DPID")
    b0=$(busy_ticks)
    sleep "$IDLE_D"
    alive "$DPID" "$dlog"
    b=$(ctxt_threads "$DPID")
    c1=$(cpu_ticks "$DPID")
    b1=$(busy_ticks)
    other=$(other_pct "$b0" "$b1" $((c1 - c0)) $((IDLE_D * NS)))
    stop_daemon "$DPID"
    # Per thread: end minus start (a thread born in the window counts from 0).
    detail=$(awk 'NR == FNR {s[$1] = $3; next} {d = $3 - s[$1]; printf "%s%s=%d", sep, $2, d; sep = " "}' \
        <(echo "$a") <(echo "$b"))
    w=$(awk 'NR == FNR {s[$1] = $3; next} {t += $3 - s[$1]} END {print t + 0}' <(echo "$a") <(echo "$b"))
    threads=$(wc -l <<<"$b")
    printf '{"scenario": "idle", "impl": "cronwheel", "n": %d, "window_s": %d, "wakeups": %d, "cpu_ms": %d, "threads": %d, "detail": "%s", "exit_code": %d, "other_cpu_pct": %s}\n' \
        "$IDLE_N" "$IDLE_D" "$w" $(((c1 - c0) * 1000 / CLK_TCK)) "$threads" "$detail" "$DRC" "$other" \
        | emit
}

scenario_scale() {
    local cfg sa
    log "scale: start-up and RSS with $SCALE_N tasks"
    cfg=$(cfg_path "idle-$SCALE_N")
    [[ -s "$cfg" ]] || "$PY" "$BENCH/gen.py" idle "$SCALE_N" "$PROBE" "$cfg"
    mapfile -t sa < <(state_args "scale-r$REP")
    "$PY" "$BENCH/startup.py" "$SCALE_N" "$cfg" -- "$CW" run --config "$cfg" "${sa[@]}" --log-level info \
        | emit
}

scenario_check() {
    local cfg="$T/check-$CHECK_N.yaml" i t0 t1 tv rc b0 b1
    log "check: cronwheel check on $CHECK_N tasks, $CHECK_REPS times"
    [[ -f "$cfg" ]] || "$PY" "$BENCH/gen.py" check "$CHECK_N" "$cfg"
    for ((i = 0; i < CHECK_REPS; i++)); do
        tv="$W/check-r$REP-$i.time"
        b0=$(busy_ticks)
        t0=$(now_ns)
        rc=0
        if [[ -x /usr/bin/time ]]; then
            /usr/bin/time -v -o "$tv" "$CW" check --config "$cfg" >"$W/check.out" 2>"$W/check.err" || rc=$?
        else
            "$PY" - "$CW" "$cfg" "$W/check.out" "$W/check.err" >"$tv" <<'PY' || rc=$?
import os, sys
with open(sys.argv[3], "w") as o, open(sys.argv[4], "w") as e:
    pid = os.posix_spawn(sys.argv[1], [sys.argv[1], "check", "--config", sys.argv[2]],
                         os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, o.fileno(), 1),
                                                   (os.POSIX_SPAWN_DUP2, e.fileno(), 2)])
    _, status, ru = os.wait4(pid, 0)
print(f"Maximum resident set size (kbytes): {ru.ru_maxrss}")
print(f"User time (seconds): {ru.ru_utime:.3f}")
print(f"System time (seconds): {ru.ru_stime:.3f}")
sys.exit(os.waitstatus_to_exitcode(status))
PY
        fi
        t1=$(now_ns)
        b1=$(busy_ticks)
        ((rc == 0)) || { log "cronwheel check exited $rc: $(head -n 3 "$W/check.err")"; }
        awk -v n="$CHECK_N" -v wall="$(((t1 - t0) / 1000))" -v rc="$rc" \
            -v b0="$b0" -v b1="$b1" -v hz="$CLK_TCK" -v ncpu="$NCPU" -v out="$(head -n 1 "$W/check.out" | tr -d '"\\')" '
            /Maximum resident set size/ {rss = $NF}
            /User time/ {u = $NF}
            /System time/ {s = $NF}
            END {o = ((b1 - b0) / hz - u - s) * 100 / (wall / 1e6 * ncpu); if (o < 0) o = 0
                 printf "{\"scenario\": \"check\", \"impl\": \"cronwheel\", \"n\": %d, \"wall_s\": %.4f, \"maxrss_kb\": %d, \"user_s\": %s, \"sys_s\": %s, \"exit_code\": %d, \"output\": \"%s\", \"other_cpu_pct\": %.1f}\n", n, wall / 1e6, rss, u, s, rc, out, o}' \
            "$tv" | emit
    done
}

# Appends each JSON record read on stdin to results.jsonl, with the 1-minute load
# average at that moment (load1: a busy machine makes the run suspect), and prints a
# short line per record on stderr, so progress is visible.
emit() {
    "$PY" -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    r["load1"] = float(open("/proc/loadavg").read().split()[0])
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps(r) + "\n")
    keys = ("n", "impl", "p50_ms", "p99_ms", "max_ms", "early", "lost", "doubled",
            "cpu_ms_per_1000", "max_dev_ms", "wakeups", "cpu_ms", "startup_ms",
            "vmrss_kb", "vmhwm_kb", "wall_s", "maxrss_kb", "exit_code", "load1")
    print("    " + r["scenario"] + ": " + "  ".join(f"{k}={r[k]}" for k in keys if k in r),
          file=sys.stderr)
' "$RESULTS"
}

# --------------------------------------------------------------------------- main

# One benchmark at a time on this machine: a second invocation waits for the first
# (two at once would each measure the other's load).
mkdir -p "$T"
exec 9>"$T/run.lock"
if ! flock -n 9; then
    log "another bench/run.sh is running; waiting for it to finish"
    flock 9
fi

build_all
W="$T/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$W"
RESULTS="$W/results.jsonl"
# What was built: HEAD and the uncommitted changes to it (others edit src/ meanwhile).
git -C "$ROOT" rev-parse HEAD >"$W/head.txt" 2>/dev/null || true
git -C "$ROOT" diff HEAD -- src Cargo.toml Cargo.lock >"$W/src.diff" 2>/dev/null || true
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
    commit="$commit+dirty"
fi
printf '{"scenario": "meta", "date": "%s", "cpu": "%s", "cores": %d, "kernel": "%s", "commit": "%s", "quick": %d, "repeat": %d, "probe": "%s", "clk_tck": %d, "state_dir_per_run": %d, "state": "%s", "log_level": "%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" "$(uname -r)" \
    "$commit" "$quick" "$repeat" "$PROBE_LINK" "$CLK_TCK" "$STATE_DIR_OPT" "${CW_STATE:-on}" "$LOG_LEVEL" | record
log "results: $W (scenarios: ${scenarios[*]}; repeat $repeat)"

failed=()
for ((REP = 1; REP <= repeat; REP++)); do
    ((repeat == 1)) || log "=== run $REP of $repeat"
    for scn in "${scenarios[@]}"; do
        guarded "scenario_$scn"
        if ((GRC != 0)); then
            log "scenario $scn failed (exit $GRC)"
            failed+=("$scn#$REP")
        fi
    done
done

echo
"$PY" "$BENCH/analyze.py" table "$RESULTS" | tee "$W/table.txt"
echo
echo "records: $RESULTS"
if ((${#failed[@]})); then
    echo "failed scenarios: ${failed[*]}" >&2
    exit 1
fi

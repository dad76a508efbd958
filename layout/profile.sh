#!/usr/bin/env bash
# Records what code cronwheel runs in normal operation and writes layout/resident.ld
# from it (see layout/README.md). Run it after changes that move much code, when
# `layout/gen.py check` (run by .ci/run) says the layout has fallen behind.
#
#   layout/profile.sh
#
# Needs valgrind. Takes a minute or two: two release builds and two daemon runs under
# callgrind.
#   1. start-up on a file of 10,000 tasks (read in pieces on two threads, history
#      on), a reload by SIGHUP, shutdown by SIGTERM; JSON log lines;
#   2. the tasks of config/tasks.yaml beside tasks of every kind firing every second
#      (exec, shell, python, a failure retried, a timeout, each overlap policy), a
#      reload by editing the file, shutdown; text log lines.
set -euo pipefail
LAYOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$LAYOUT")"
command -v valgrind >/dev/null || { echo "profile.sh: needs valgrind" >&2; exit 2; }

cd "$ROOT"
# Linked as usual (build.rs): valgrind reads no symbols outside `.text`. The profiles
# name functions, and names do not depend on where the functions lie.
CRONWHEEL_PLAIN_LINK=1 cargo build --release --locked
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/cronwheel"
# The profiles and the daemons' logs stay here for a look afterwards.
W="${CARGO_TARGET_DIR:-$ROOT/target}/layout"
rm -rf "$W"
mkdir -p "$W"

PID=""
# A daemon left running when this script stops early is stopped with it.
trap '[[ -n "$PID" ]] && kill "$PID" 2>/dev/null; true' EXIT

# wait_for FILE TEXT [COUNT]: until FILE holds COUNT lines with TEXT (at most 5 min),
# while the daemon runs.
wait_for() {
    local want="${3:-1}" have
    for _ in $(seq 1500); do
        have=$(grep -sc -- "$2" "$1" || true)
        ((${have:-0} >= want)) && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "profile.sh: no '$2' in $1" >&2
    tail -5 "$1" >&2
    exit 1
}

# profile NAME CONFIG LOGFORMAT: starts the daemon under callgrind in the background.
profile() {
    mkdir -p "$W/state-$1"
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$W/$1.cg" \
        "$BIN" run --config "$2" --state-dir "$W/state-$1" --log-level info \
        --log-format "$3" 2>"$W/$1.log" &
    PID=$!
}

echo "== 1: 10,000 tasks, SIGHUP, SIGTERM"
python3 "$ROOT/bench/gen.py" idle 10000 /bin/true "$W/large.yaml"
profile large "$W/large.yaml" json
wait_for "$W/large.log" "cronwheel started"
kill -HUP "$PID"
wait_for "$W/large.log" '"unchanged"'
kill -TERM "$PID"
wait "$PID" || true

echo "== 2: tasks firing every second, an edit, SIGTERM"
cp config/tasks.yaml "$W/ops.yaml"
cat >>"$W/ops.yaml" <<'YAML'
  - task_id: every-second-exec
    cron: "* * * * * *"
    task_type: exec
    entry_point: [/bin/true]
  - task_id: every-second-shell
    interval_seconds: 1
    entry_point: 'echo out; echo err >&2'
    overlap: queue
  - task_id: fails-and-retries
    interval_seconds: 2
    entry_point: exit 3
    retries: 1
    retry_backoff_seconds: 1
  - task_id: times-out
    interval_seconds: 3
    entry_point: sleep 30
    timeout_seconds: 1
    kill_grace_seconds: 1
    overlap: replace
  - task_id: overlapping
    interval_seconds: 1
    entry_point: sleep 2
    overlap: allow
  - task_id: python-every-second
    interval_seconds: 2
    task_type: python
    entry_point: "os:getpid"
  - task_id: missing-program
    interval_seconds: 2
    task_type: exec
    entry_point: [/nonexistent/program]
YAML
profile ops "$W/ops.yaml" text
wait_for "$W/ops.log" "cronwheel started"
wait_for "$W/ops.log" "task_id=every-second-exec" 20
sed -i 's/interval_seconds: 2$/interval_seconds: 3/' "$W/ops.yaml"
wait_for "$W/ops.log" "unchanged="
wait_for "$W/ops.log" "task_id=every-second-exec" 30
kill -TERM "$PID"
wait "$PID" || true

python3 "$LAYOUT/gen.py" write "$BIN" "$LAYOUT/resident.ld" "$W/large.cg" "$W/ops.cg"
# The release binary with the layout again.
cargo build --release --locked
python3 "$LAYOUT/gen.py" check "$BIN" "$LAYOUT/resident.ld"

#!/bin/bash
# Starts a cron daemon in a private mount namespace, so that it sees only the
# benchmark's crontabs and writes nothing into the system's /run; bench/compare runs:
#
#   bash sandbox.sh STAMP [--cron-d DIR] [--crontab FILE] [--spool] -- COMMAND [ARG...]
#
# It first re-executes itself under `unshare --mount --propagation private` (the same
# pid throughout), and refuses to mount anything unless its mount namespace then
# differs from its parent's. Inside the namespace (nothing of it is visible outside,
# and it ends with the daemon):
#   - a fresh tmpfs on /run: the pid file and the "@reboot already done" marker both
#     crons keep there (/run/crond.pid, /run/crond.reboot) are private, so a system
#     cron that may be running is not disturbed and @reboot lines run at every start;
#   - --cron-d DIR is bind-mounted over /etc/cron.d and --crontab FILE over
#     /etc/crontab; --spool puts an empty tmpfs on /var/spool/cron with an empty
#     crontabs/ in it. Debian cron reads exactly these three places, so it sees the
#     benchmark's crontab and nothing of the system's.
# Then it appends "exec <seconds>.<microseconds>" (bash's $EPOCHREALTIME, no fork) to
# STAMP and execs COMMAND, which keeps the pid: start-up time is measured from that
# line.
set -euo pipefail

if [[ "${CWBENCH_SANDBOX_NS:-}" != "$$" ]]; then
    CWBENCH_SANDBOX_NS=$$ exec unshare --mount --propagation private -- bash "$0" "$@"
fi
unset CWBENCH_SANDBOX_NS
# Fail closed: mount only when this namespace is readably not the parent's.
own_ns=$(readlink "/proc/$$/ns/mnt" || true)
parent_ns=$(readlink "/proc/$PPID/ns/mnt" || true)
if [[ -z "$own_ns" || -z "$parent_ns" || "$own_ns" == "$parent_ns" ]]; then
    echo "sandbox.sh: not in a private mount namespace (own '$own_ns', parent '$parent_ns')" >&2
    exit 2
fi

stamp=${1:?usage: sandbox.sh STAMP [--cron-d DIR] [--crontab FILE] [--spool] -- COMMAND...}
shift
cron_d="" crontab="" spool=0
while (($#)); do
    case "$1" in
        --cron-d) cron_d=$2; shift ;;
        --crontab) crontab=$2; shift ;;
        --spool) spool=1 ;;
        --) shift; break ;;
        *) echo "sandbox.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
(($#)) || { echo "sandbox.sh: no command" >&2; exit 2; }

mount -t tmpfs -o mode=0755,size=16m cwbench-run "$(readlink -f /var/run)"
if [[ -n "$cron_d" ]]; then
    mount --bind "$cron_d" /etc/cron.d
fi
if [[ -n "$crontab" ]]; then
    mount --bind "$crontab" /etc/crontab
fi
if ((spool)); then
    mount -t tmpfs -o mode=0755,size=1m cwbench-spool /var/spool/cron
    mkdir -m 1730 /var/spool/cron/crontabs
fi

printf 'exec %s\n' "$EPOCHREALTIME" >>"$stamp"
exec "$@"

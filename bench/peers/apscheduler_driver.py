#!/usr/bin/env python3
"""APScheduler 3 as an operator would run commands with it, for bench/compare.

    apscheduler_driver.py JOBS.json --ready FILE [--workers N]

Loads the jobs of JOBS.json (written by bench/peers/jobs.py), each a CronTrigger or an
IntervalTrigger job whose function runs its command with subprocess (argv, no shell,
stdin from /dev/null, the driver's stdout and stderr, waits for it), into a
BlockingScheduler with a MemoryJobStore and a ThreadPoolExecutor of N threads
(default 64), and starts it. When the scheduler has started, every job being in the
job store with its next run time computed, it writes "<seconds>.<nanoseconds>"
(CLOCK_REALTIME) to FILE: bench/compare's ready marker for start-up time.

Pool size: 64 is cronwheel's default `max_concurrent`. A job holds a thread only while
its probe runs (1 to 2 ms here), so 64 threads let far more than 1,000 firings a second
start without waiting for a thread; a larger pool only adds threads contending for the
GIL on two cores. The job defaults are APScheduler's own: misfire_grace_time 1 s (a
run that cannot start within 1 s of its time is dropped and logged as missed),
coalesce on, max_instances 1 (a firing while the previous run of the job still runs
is skipped and logged).

Logging goes to stderr at WARNING, the level of cronwheel's --log-level warn in the
benchmark: missed and skipped runs are logged, started and finished runs are not.
SIGTERM or SIGINT shuts the scheduler down (running jobs are waited for) and exits 0.
"""
import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time

from apscheduler.events import EVENT_SCHEDULER_STARTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger


def run_command(argv):
    subprocess.run(argv, stdin=subprocess.DEVNULL, check=False)


def trigger(job):
    kind = job["trigger"]
    if kind == "cron":
        return CronTrigger(**job["fields"])
    if kind == "crontab":
        return CronTrigger.from_crontab(job["expr"])
    if kind == "interval":
        return IntervalTrigger(**job["fields"])
    raise ValueError(f"unknown trigger {kind!r} in job {job['id']}")


def write_ready(path):
    t = time.time_ns()
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{t // 1_000_000_000}.{t % 1_000_000_000:09d}\n")
    os.replace(tmp, path)


def stop(signum, frame):
    raise SystemExit(0)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("jobs")
    p.add_argument("--ready", required=True)
    p.add_argument("--workers", type=int, default=64)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open(a.jobs) as f:
        jobs = json.load(f)
    scheduler = BlockingScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(a.workers)},
    )
    for job in jobs:
        scheduler.add_job(run_command, trigger(job), args=[job["argv"]], id=job["id"],
                          name=job["id"])
    del jobs
    scheduler.add_listener(lambda event: write_ready(a.ready), EVENT_SCHEDULER_STARTED)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        scheduler.start()
    except SystemExit:
        pass
    if scheduler.running:
        scheduler.shutdown(wait=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

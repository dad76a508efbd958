//! systemd's notify protocol: `cronwheel run` with NOTIFY_SOCKET pointing at a datagram
//! socket the test owns. Every wait is for a datagram or a log line, with a timeout.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::time::{clock_gettime, ClockId};

use crate::util::{
    is_end, is_reload, run_output, str_field, write_in_place, Daemon, TaskDir, WAIT,
};

/// How long one datagram may take.
const RECV: Duration = Duration::from_secs(10);

/// A bound datagram socket standing in for systemd.
struct NotifySocket {
    _dir: TaskDir,
    path: PathBuf,
    sock: UnixDatagram,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = TaskDir::new();
        let path = dir.path("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        sock.set_read_timeout(Some(RECV)).unwrap();
        NotifySocket {
            _dir: dir,
            path,
            sock,
        }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temp path")
    }

    /// The next datagram, as text; panics after the timeout.
    fn recv(&self) -> String {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self
            .sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notify datagram within {RECV:?}: {e}"));
        String::from_utf8(buf[..n].to_vec()).expect("a UTF-8 datagram")
    }

    /// The next datagram that is not a watchdog ping; the pings passed over are
    /// counted in `pings`.
    fn recv_state(&self, pings: &mut usize) -> String {
        loop {
            let msg = self.recv();
            if is_ping(&msg) {
                *pings += 1;
            } else {
                return msg;
            }
        }
    }

    /// The next datagram that is not a watchdog ping.
    fn recv_ready(&self) -> String {
        let mut pings = 0;
        self.recv_state(&mut pings)
    }
}

/// A watchdog ping: WATCHDOG=1 (with a status line).
fn is_ping(msg: &str) -> bool {
    msg.lines().any(|l| l == "WATCHDOG=1")
}

/// The lines of a datagram.
fn lines(msg: &str) -> Vec<&str> {
    msg.lines().collect()
}

/// CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC counts.
fn monotonic_usec() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000
}

const TASKS: &str = "shutdown_grace_seconds: 1
tasks:
  - task_id: tick
    interval_seconds: 1
    entry_point: 'echo tick'
";

#[test]
fn notify_ready_reloading_stopping_in_order_and_watchdog_pings() {
    let notify = NotifySocket::new();
    let mut d = Daemon::start_with_env(
        TASKS,
        &[
            ("NOTIFY_SOCKET", notify.path()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut pings = 0;

    let ready = notify.recv_state(&mut pings);
    let l = lines(&ready);
    assert_eq!(l[0], "READY=1", "{ready:?}");
    assert!(
        l.iter().any(|s| s.starts_with("STATUS=1 tasks, ")),
        "{ready:?}"
    );

    // Pings keep coming, every WATCHDOG_USEC / 2 = 200 ms.
    let since = Instant::now();
    let mut seen = 0;
    while seen < 5 {
        let msg = notify.recv();
        assert!(is_ping(&msg), "only pings while idle, got {msg:?}");
        seen += 1;
    }
    let took = since.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "5 pings took {took:?} at 200 ms each"
    );
    pings += seen;

    // A reload: RELOADING=1 and MONOTONIC_USEC in one datagram, then READY=1.
    let before = monotonic_usec();
    write_in_place(&d.task_file(), &TASKS.replace("echo tick", "echo tock"));
    let reloading = notify.recv_state(&mut pings);
    let after = monotonic_usec();
    let l = lines(&reloading);
    assert_eq!(l.len(), 2, "{reloading:?}");
    assert_eq!(l[0], "RELOADING=1", "{reloading:?}");
    let usec: u64 = l[1]
        .strip_prefix("MONOTONIC_USEC=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"));
    assert!(
        (before..=after).contains(&usec),
        "MONOTONIC_USEC={usec} not within [{before}, {after}]"
    );
    let ready = notify.recv_state(&mut pings);
    assert_eq!(lines(&ready)[0], "READY=1", "{ready:?}");
    assert!(ready.contains("STATUS="), "{ready:?}");
    let line = d.wait_for(is_reload, WAIT);
    assert_eq!(line["changed"], 1, "{line}");

    d.signal(Signal::SIGTERM);
    let stopping = notify.recv_state(&mut pings);
    assert_eq!(lines(&stopping), ["STOPPING=1"], "{stopping:?}");
    let status = d.wait_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{status:?}\n{}", d.dump());
    assert!(pings >= 5, "{pings} watchdog pings");
    // Nothing after STOPPING=1 but, at most, pings.
    notify
        .sock
        .set_nonblocking(true)
        .expect("a non-blocking socket");
    let mut buf = [0u8; 4096];
    while let Ok(n) = notify.sock.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]);
        assert!(is_ping(&msg), "after STOPPING=1: {msg:?}");
    }
}

#[test]
fn without_watchdog_usec_no_pings_are_sent() {
    let notify = NotifySocket::new();
    let mut d = Daemon::start_with_env(TASKS, &[("NOTIFY_SOCKET", notify.path())]);
    assert_eq!(lines(&notify.recv())[0], "READY=1");
    // Two ticks later (10 ping intervals, had there been a watchdog), then SIGTERM: the
    // next datagram is STOPPING=1.
    d.wait_for(|v| is_end(v, "tick"), WAIT);
    d.wait_for(|v| is_end(v, "tick"), WAIT);
    d.signal(Signal::SIGTERM);
    assert_eq!(lines(&notify.recv()), ["STOPPING=1"]);
    assert_eq!(d.wait_exit(WAIT).code(), Some(0), "{}", d.dump());
}

#[test]
fn notify_socket_is_not_in_a_run_environment() {
    let notify = NotifySocket::new();
    let mut d = Daemon::start_with_env(
        "tasks:
  - task_id: envdump
    cron: '@reboot'
    entry_point: 'env'
",
        &[
            ("NOTIFY_SOCKET", notify.path()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let end = d.wait_for(|v| is_end(v, "envdump"), WAIT);
    assert_eq!(str_field(&end, "outcome"), "success", "{end}");
    let log = d.log();
    let env = run_output(&log, str_field(&end, "run_id"));
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
    for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        assert!(
            !env.iter().any(|l| l.starts_with(&format!("{var}="))),
            "{var} leaked into the run: {env:?}"
        );
    }
    // The daemon itself did get it.
    assert_eq!(lines(&notify.recv_ready())[0], "READY=1");
}

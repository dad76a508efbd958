//! Building the child's command: argv by task type, a clean cron-like environment,
//! its own process group, stdin from /dev/null, and the user switch when root.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid, User};

use crate::config::{self, Task};
use crate::exec::Job;

/// The PATH every run gets, as cron gives.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Who a run executes as: names for its environment, ids for the switch.
#[derive(Clone, Debug)]
pub struct Identity {
    pub name: String,
    pub home: String,
    /// Set when the run must switch to this user (the daemon is root and the task names
    /// a user): uid, gid and the supplementary groups.
    pub switch: Option<(Uid, Gid, Vec<Gid>)>,
}

impl Identity {
    /// The daemon's own user, looked up once: reading the user database on every run
    /// would put file reads on the spawn path.
    pub fn current() -> Identity {
        static CURRENT: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
        CURRENT.get_or_init(Identity::lookup_current).clone()
    }

    fn lookup_current() -> Identity {
        let uid = Uid::effective();
        match User::from_uid(uid) {
            Ok(Some(u)) => Identity {
                name: u.name,
                home: u.dir.to_string_lossy().into_owned(),
                switch: None,
            },
            _ => Identity {
                name: uid.to_string(),
                home: "/".to_owned(),
                switch: None,
            },
        }
    }

    /// The identity a task runs as. A `user` other than the daemon's own takes effect
    /// only when the daemon runs as root; otherwise the run stays with the daemon's user.
    pub fn for_task(task: &Task) -> Result<Identity, String> {
        let Some(name) = task.user() else {
            return Ok(Identity::current());
        };
        if !Uid::effective().is_root() {
            return Ok(Identity::current());
        }
        let user = match User::from_name(name) {
            Ok(Some(u)) => u,
            Ok(None) => return Err(format!("user {name:?} does not exist")),
            Err(e) => return Err(format!("cannot look up user {name:?}: {e}")),
        };
        let cname =
            CString::new(name.as_bytes()).map_err(|_| format!("invalid user name {name:?}"))?;
        // std's uid()/gid() would drop the supplementary groups; resolve them here, in
        // the parent, where allocation is allowed.
        let groups = nix::unistd::getgrouplist(&cname, user.gid)
            .map_err(|e| format!("cannot read the groups of {name:?}: {e}"))?;
        Ok(Identity {
            name: user.name,
            home: user.dir.to_string_lossy().into_owned(),
            switch: Some((user.uid, user.gid, groups)),
        })
    }
}

/// A command for `name`. A bare name is looked up here, not by the spawn: std spawns
/// with a PATH search of a changed environment by fork and exec, the slow route. The
/// program still sees the name it was given as its argv[0].
fn program(name: &str) -> Command {
    match resolve(name) {
        Some(path) => {
            let mut c = Command::new(path);
            c.arg0(name);
            c
        }
        None => Command::new(name),
    }
}

/// The file a bare program name (no `/`) names on the runs' PATH, or None when it
/// names none (the spawn then fails with "No such file or directory") or has a `/`.
fn resolve(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') || program.is_empty() {
        return None;
    }
    PATH.split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The Python program that imports `sys.argv[1]` and calls its `sys.argv[2]`; an
/// exception makes the interpreter exit non-zero, a failed run.
const PYTHON_SHIM: &str = "import importlib, os, sys\n\
sys.path.insert(0, os.getcwd())\n\
getattr(importlib.import_module(sys.argv[1]), sys.argv[2])()\n";

/// The command for one run, ready to spawn.
pub fn command(job: &Job, who: &Identity) -> Command {
    let task = &job.task;
    let mut cmd = match &task.command {
        config::Command::Shell(line) => {
            let mut c = program(&job.shell);
            c.arg("-c").arg(&**line);
            c
        }
        config::Command::Exec(argv) => {
            let mut c = program(argv.program());
            c.args(argv.args());
            c
        }
        config::Command::Python(target) => {
            let mut c = program(&job.python);
            c.arg("-c")
                .arg(PYTHON_SHIM)
                .arg(target.module())
                .arg(target.function());
            c
        }
    };
    cmd.env_clear()
        .env("HOME", &who.home)
        .env("LOGNAME", &who.name)
        .env("USER", &who.name)
        .env("SHELL", &*job.shell)
        .env("PATH", PATH)
        .envs(task.env())
        .env("CRONWHEEL_TASK_ID", &*task.id)
        .env("CRONWHEEL_RUN_ID", &job.run_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Each run leads its own group, so a timeout or a stop reaches its grandchildren.
        .process_group(0);
    if let Some(dir) = task.working_dir() {
        cmd.current_dir(dir);
    }
    if let Some((uid, gid, groups)) = who.switch.clone() {
        // A pre_exec closure forces fork instead of posix_spawn, so it is installed only
        // for runs that switch user.
        // SAFETY: the closure runs in the child between fork and exec; it calls only
        // setgroups, setgid and setuid, which are async-signal-safe system calls, and
        // allocates nothing (the group list was built before the fork).
        unsafe {
            cmd.pre_exec(move || {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
                Ok(())
            });
        }
    }
    cmd
}

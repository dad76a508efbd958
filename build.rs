//! Release builds of the daemon on Linux with glibc take two linker options that keep
//! its resident memory down (see `layout/README.md`); other builds (tests, debug)
//! link as usual.
//!
//! - `layout/resident.ld` gathers the code cronwheel runs in normal operation at the
//!   start of the program's text: the kernel maps code in 64 KiB windows around each
//!   page touched, so gathered code takes fewer of them.
//! - `-z pack-relative-relocs` stores the relocations of the position-independent
//!   program compactly (DT_RELR; 124 KiB in the usual form, all read at every start).
//!   A program linked so needs glibc 2.36 or later to run, so the option is given only
//!   for a native build on a system with such a glibc.
//!
//! `CRONWHEEL_PLAIN_LINK=1` links a release build as usual: for a linker that takes no
//! GNU linker script, for a program to run on an older glibc than the build machine's,
//! and for `layout/profile.sh` (valgrind reads no symbols outside `.text`).

use std::env;
use std::path::Path;
use std::process::Command;

fn main() {
    let script = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("layout")
        .join("resident.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=CRONWHEEL_PLAIN_LINK");
    let plain = env::var_os("CRONWHEEL_PLAIN_LINK").is_some_and(|v| v == "1");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if !(release && linux_gnu) || plain {
        return;
    }
    // `-T` and the path as two arguments to the compiler driver, so that a comma in the
    // path is not taken for a separator; a path that is not UTF-8 cannot be passed.
    match script.to_str() {
        Some(path) if script.is_file() => {
            println!("cargo:rustc-link-arg-bin=cronwheel=-T");
            println!("cargo:rustc-link-arg-bin=cronwheel={path}");
        }
        Some(_) => {}
        None => println!("cargo:warning=layout/resident.ld not used: its path is not UTF-8"),
    }
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    if native && glibc_version().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bin=cronwheel=-Wl,-z,pack-relative-relocs");
    }
}

/// The version of the system's glibc (`getconf GNU_LIBC_VERSION`: "glibc 2.36").
fn glibc_version() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

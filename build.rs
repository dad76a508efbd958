//! Release builds of the daemon on Linux with glibc link with `layout/resident.ld`,
//! which gathers the code cronwheel runs in normal operation at the start of the
//! program's text (see `layout/README.md`): the kernel maps code in 64 KiB windows
//! around each page touched, so gathered code keeps the daemon's resident memory down.
//! Other builds (tests, debug) link as usual.

use std::env;
use std::path::Path;

fn main() {
    let script = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("layout")
        .join("resident.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if release && linux_gnu && script.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=cronwheel=-Wl,-T,{}",
            script.display()
        );
    }
}

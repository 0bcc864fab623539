//! Python tools for tests (dbt, real dlt): virtual environments cached in the cargo target dir
//! (`<target>/<name>`), made with `python3 -m venv` and `pip install` when the program the
//! caller needs is missing. When that install fails the caller's test fails (it never skips),
//! saying what to install.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The cargo target dir: `CARGO_TARGET_DIR`, else the one holding this test binary
/// (`<target>/<profile>/deps/<binary>`).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return std::path::absolute(PathBuf::from(d)).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// The venv `<target>/<name>` with `requirements` installed, made when `bin/<program>` is
/// missing from it (under a file lock: test processes may run at once). `what` names the
/// tool in the messages of a failed install.
pub fn venv(name: &str, requirements: &[&str], program: &str, what: &str) -> PathBuf {
    use fs2::FileExt;
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    let venv = target.join(name);
    let lock = std::fs::File::create(target.join(format!("{name}.lock"))).unwrap();
    lock.lock_exclusive().unwrap();
    if !venv.join("bin").join(program).is_file() {
        let started = Instant::now();
        run_setup(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            &format!("creating the {what} venv with `python3 -m venv` (install python3 and its venv module)"),
            what,
        );
        run_setup(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--disable-pip-version-check", "--quiet"])
                .args(requirements),
            &format!(
                "installing {} with pip into the test venv",
                requirements.join(" ")
            ),
            what,
        );
        eprintln!(
            "installed {} into {} in {:.1} s",
            requirements.join(" "),
            venv.display(),
            started.elapsed().as_secs_f64()
        );
    }
    venv
}

fn run_setup(cmd: &mut Command, step: &str, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{step}: cannot start {cmd:?}: {e}"));
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        panic!(
            "{step} failed ({}); the tests that need {what} do not skip without it:\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// What the dlt venv installs: the dlt release dlt-rs is compared with, and the DBML
/// library its `schema --format dbml` needs.
pub const DLT_REQUIREMENTS: &[&str] = &["dlt[postgres]==1.31.0", "pydbml==1.2.1"];

/// The venv with real dlt 1.31, psycopg2 and pydbml, installed on first use
/// (`<target>/dlt-1.31-venv`; a new name whenever the requirements change).
pub fn dlt_venv() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(|| venv("dlt-1.31-venv", DLT_REQUIREMENTS, "dlt", "dlt 1.31"))
        .clone()
}

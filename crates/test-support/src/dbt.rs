//! dbt for tests: a virtual environment with dbt-postgres, cached in the cargo target dir
//! (`<target>/dbt-venv`), made with `python3 -m venv` and `pip install` when
//! `<venv>/bin/dbt` is missing. When that install fails the caller's test fails (it never
//! skips).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// What the test venv installs. dbt-core 1.12 needs a parser wheel that its build downloads
/// from outside PyPI, which the project's machines cannot reach: stay below it.
const DBT_REQUIREMENTS: &[&str] = &["dbt-core>=1.8,<1.12", "dbt-postgres>=1.8,<1.11"];

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

/// The venv with dbt, installed on first use (under a file lock: test processes may run
/// at once).
pub fn dbt_venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        use fs2::FileExt;
        let target = target_dir();
        std::fs::create_dir_all(&target).unwrap();
        let venv = target.join("dbt-venv");
        let lock = std::fs::File::create(target.join("dbt-venv.lock")).unwrap();
        lock.lock_exclusive().unwrap();
        if !venv.join("bin").join("dbt").is_file() {
            let started = Instant::now();
            run_setup(
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
                "creating the dbt venv with `python3 -m venv` (install python3 and its venv module)",
            );
            run_setup(
                Command::new(venv.join("bin").join("pip"))
                    .args(["install", "--disable-pip-version-check", "--quiet"])
                    .args(DBT_REQUIREMENTS),
                "installing dbt-postgres with pip into the test venv",
            );
            eprintln!(
                "installed {} into {} in {:.1} s",
                DBT_REQUIREMENTS.join(" "),
                venv.display(),
                started.elapsed().as_secs_f64()
            );
        }
        venv
    })
    .clone()
}

fn run_setup(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        panic!(
            "{what} failed ({}); the dbt tests need dbt-postgres and do not skip without it:\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

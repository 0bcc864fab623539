//! dbt for tests: a virtual environment with dbt-postgres, cached in the cargo target dir
//! (`<target>/dbt-venv`), made with `python3 -m venv` and `pip install` when
//! `<venv>/bin/dbt` is missing. When that install fails the caller's test fails (it never
//! skips).

use std::path::PathBuf;
use std::sync::OnceLock;

/// What the test venv installs. dbt-core 1.12 needs a parser wheel that its build downloads
/// from outside PyPI, which the project's machines cannot reach: stay below it.
const DBT_REQUIREMENTS: &[&str] = &["dbt-core>=1.8,<1.12", "dbt-postgres>=1.8,<1.11"];

/// The venv with dbt, installed on first use (under a file lock: test processes may run
/// at once).
pub fn dbt_venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| crate::python::venv("dbt-venv", DBT_REQUIREMENTS, "dbt", "dbt-postgres"))
        .clone()
}

//! Crash points for tests: with `DLT_RS_FAULT=<point>` in the environment the process
//! aborts (as a `kill -9` would stop it) when it reaches that point. Points:
//! `job-committed` (a job's rows committed, its file not yet moved to `completed_jobs`) and
//! `session-committed` (a load session committed while normalizing, its files not yet
//! moved), `load-recorded` (the load recorded in `_dlt_loads`, the package not yet moved
//! to `loaded`), `normalized-published` (a normalized package published, its extracted
//! package not yet removed), `extracted-published` (an extracted package published, its
//! normalized package not yet). Without the variable a point costs one comparison.

use std::sync::OnceLock;

/// The environment variable naming the point to crash at.
pub const FAULT_VAR: &str = "DLT_RS_FAULT";

pub(crate) fn point(name: &str) {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    if FAULT
        .get_or_init(|| std::env::var(FAULT_VAR).ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("{FAULT_VAR}: aborting at `{name}`");
        std::process::abort();
    }
}

//! Headless Chromium for the tests of web pages: Debian's `chromium`, installed with
//! `apt-get` where it is missing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian installs it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The path of a Chromium to run headless: `/usr/bin/chromium`, installed from Debian's
/// packages (as root, with `apt-get`) when missing.
///
/// # Panics
/// When Chromium cannot be installed: the message says exactly what to install.
pub fn ensure_chromium() -> PathBuf {
    crate::ensure_debian_binary(CHROMIUM, "chromium", "the tests of web pages")
}

/// The DOM of `url` after its scripts ran (at most `budget_ms` of virtual time, which waits
/// for the page's requests), as headless Chromium dumps it.
///
/// # Panics
/// When Chromium cannot run.
pub fn dump_dom(chromium: &std::path::Path, url: &str, budget_ms: u32) -> String {
    let profile = profile_dir();
    let out = Command::new(chromium)
        .args(headless_args(&profile, budget_ms))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", chromium.display()));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A PNG screenshot of `url` (`width` × `height`) into `file`.
///
/// # Panics
/// When Chromium cannot run or writes no file.
pub fn screenshot(chromium: &std::path::Path, url: &str, file: &std::path::Path, size: (u32, u32)) {
    let profile = profile_dir();
    let out = Command::new(chromium)
        .args(headless_args(&profile, 10_000))
        .arg("--hide-scrollbars")
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", chromium.display()));
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success() && file.exists(),
        "chromium took no screenshot of {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A profile folder per run, so runs in parallel do not share one.
fn profile_dir() -> PathBuf {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "dlt-rs-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ))
}

fn headless_args(profile: &std::path::Path, budget_ms: u32) -> Vec<String> {
    vec![
        format!("--user-data-dir={}", profile.display()),
        "--headless".into(),
        // root in a container has no user namespace for the sandbox
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--disable-extensions".into(),
        format!("--virtual-time-budget={budget_ms}"),
    ]
}

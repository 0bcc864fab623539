//! A real terminal for tests of what a command shows on one: a private tmux server
//! (Debian's `tmux`, installed with `apt-get` where missing) that runs one command in a
//! pane and records everything the pane shows.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian installs it.
const TMUX: &str = "/usr/bin/tmux";

/// The path of tmux, installed from Debian's packages (as root, with `apt-get`) when missing.
///
/// # Panics
/// When tmux cannot be installed: the message says exactly what to install.
pub fn ensure_tmux() -> PathBuf {
    crate::ensure_debian_binary(TMUX, "tmux", "the terminal tests")
}

/// Runs `command` (a shell command line) in a `width` × `height` pane of a private tmux
/// server in `cwd` and returns everything the pane received (escape sequences included),
/// once the command has ended. The recording starts before the command does: the command
/// waits for it (`tmux wait-for`), and the caller waits for the command the same way.
///
/// # Panics
/// When tmux fails.
pub fn record(command: &str, cwd: &Path, size: (u16, u16)) -> String {
    let tmux = ensure_tmux();
    let socket = format!("dlt-rs-test-{}", std::process::id());
    let log = cwd.join("terminal.log");
    let run = |args: &[&str]| {
        let status = Command::new(&tmux)
            .arg("-L")
            .arg(&socket)
            .args(args)
            .current_dir(cwd)
            .status()
            .unwrap_or_else(|e| panic!("could not run tmux: {e}"));
        assert!(status.success(), "tmux {args:?} failed ({status})");
    };
    let script =
        format!("tmux -L {socket} wait-for go; {command}; tmux -L {socket} wait-for -S done");
    run(&[
        "new-session",
        "-d",
        "-s",
        "test",
        "-x",
        &size.0.to_string(),
        "-y",
        &size.1.to_string(),
        &script,
    ]);
    let pipe = format!("cat >> '{}'", log.display());
    run(&["pipe-pane", "-t", "test", "-o", &pipe]);
    run(&["wait-for", "-S", "go"]);
    run(&["wait-for", "done"]);
    let _ = Command::new(&tmux)
        .arg("-L")
        .arg(&socket)
        .arg("kill-server")
        .status();
    let bytes = std::fs::read(&log).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

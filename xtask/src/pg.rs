//! Finding, starting and stopping the PostgreSQL server the tests and the end-to-end run use.
//!
//! Order of preference:
//! 1. `DLT_RS_TEST_PG_URL`, used as is;
//! 2. a server on `127.0.0.1:5432` (port overridable with `DLT_RS_PG_PROBE_PORT`) that lets the
//!    `postgres` user into the `postgres` database without a password (checked with
//!    `psql ... -c 'select 1'`; when `psql` is missing an answering port is enough);
//! 3. a throwaway cluster in `<target>/pg-throwaway/data` on `127.0.0.1:54329` (port overridable
//!    with `DLT_RS_PG_THROWAWAY_PORT`), created with the local `initdb` (trust auth, user
//!    `postgres`, UTF8, `--no-sync`) and started with `pg_ctl`; it is left running and reused by
//!    later invocations until `cargo xtask pg-stop`. As root, the cluster belongs to the
//!    `postgres` OS user and `initdb`/`pg_ctl` run as that user (`runuser`, else `su`); when that
//!    user cannot reach the target directory the cluster lives in
//!    `$TMPDIR/dlt-rs-pg-throwaway-<hash of the workspace path>` instead;
//! 4. otherwise an error saying what to install.
//!
//! Progress goes to stderr so that `cargo xtask pg-url` prints nothing but the URL on stdout.

use anyhow::{anyhow, bail, Context, Result};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use test_support::cluster::{
    as_pg_user, find_in_path, is_executable, is_root, output_text, pg_bin_dirs, ServerTools,
    INITDB_ARGS, PG_OS_USER,
};

/// A server URL to use as is; also what `cargo xtask test` exports to the tests.
pub(crate) const URL_ENV: &str = "DLT_RS_TEST_PG_URL";
/// Overrides the port probed for a running server (default 5432); handy to test the
/// throwaway path on a machine that has a server.
pub(crate) const PROBE_PORT_ENV: &str = "DLT_RS_PG_PROBE_PORT";
/// Overrides the port of the throwaway cluster (default 54329).
pub(crate) const THROWAWAY_PORT_ENV: &str = "DLT_RS_PG_THROWAWAY_PORT";

const DEFAULT_PROBE_PORT: u16 = 5432;
const DEFAULT_THROWAWAY_PORT: u16 = 54329;
/// How long to wait for a freshly started cluster to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The server chosen, and how.
pub(crate) struct Server {
    pub url: String,
    pub origin: Origin,
}

pub(crate) enum Origin {
    /// From `DLT_RS_TEST_PG_URL`.
    Env,
    /// Already answering on 127.0.0.1.
    Running,
    /// The throwaway cluster; `started` is false when it was already running.
    Throwaway { data_dir: PathBuf, started: bool },
}

impl Server {
    /// One line for humans: the URL (password hidden) and where it comes from.
    pub(crate) fn describe(&self) -> String {
        let url = redact(&self.url);
        match &self.origin {
            Origin::Env => format!("PostgreSQL at {url} (from {URL_ENV})"),
            Origin::Running => format!("the PostgreSQL already running at {url}"),
            Origin::Throwaway { data_dir, started } => format!(
                "the throwaway PostgreSQL at {url} ({} {}; stop it with `cargo xtask pg-stop`)",
                if *started {
                    "started from"
                } else {
                    "already running from"
                },
                data_dir.display()
            ),
        }
    }
}

/// Finds a usable server or starts the throwaway cluster; see the module documentation.
pub(crate) fn ensure(root: &Path) -> Result<Server> {
    if let Some(url) = std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty()) {
        return Ok(Server {
            url: url.trim().to_string(),
            origin: Origin::Env,
        });
    }

    let probe_port = port_from_env(PROBE_PORT_ENV, DEFAULT_PROBE_PORT)?;
    let probe_url = local_url(probe_port);
    if port_answers(probe_port) {
        match find_psql() {
            None => {
                eprintln!(
                    "xtask: 127.0.0.1:{probe_port} answers; psql is not installed, so the login \
                     is not checked"
                );
                return Ok(Server {
                    url: probe_url,
                    origin: Origin::Running,
                });
            }
            Some(psql) => match select_one(&psql, &probe_url) {
                Ok(()) => {
                    return Ok(Server {
                        url: probe_url,
                        origin: Origin::Running,
                    })
                }
                Err(why) => eprintln!(
                    "xtask: 127.0.0.1:{probe_port} answers but `psql {probe_url}` failed \
                     ({why}); using a throwaway cluster instead"
                ),
            },
        }
    } else {
        eprintln!("xtask: nothing answers on 127.0.0.1:{probe_port}; using a throwaway cluster");
    }

    Cluster::locate(root)?.ensure_running()
}

/// Stops the throwaway cluster if it runs (`pg_ctl stop -m fast`).
pub(crate) fn stop(root: &Path) -> Result<()> {
    let mut stopped = false;
    let mut looked = Vec::new();
    for base in candidate_bases(root) {
        let data = base.join("data");
        looked.push(data.display().to_string());
        if !data.join("postmaster.pid").exists() {
            continue;
        }
        let tools = ServerTools::find().ok_or_else(|| {
            anyhow!(
                "{} holds a running cluster but pg_ctl was not found",
                data.display()
            )
        })?;
        let as_postgres = is_root();
        let mut cmd = as_pg_user(&tools.pg_ctl, as_postgres);
        cmd.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]);
        eprintln!(
            "xtask: stopping the throwaway cluster in {}",
            data.display()
        );
        let out = run_captured(&mut cmd)?;
        if out.status.success() {
            stopped = true;
        } else {
            let text = output_text(&out);
            if text.contains("No such process") || text.contains("is not running") {
                eprintln!("xtask: it was not running (stale postmaster.pid)");
            } else {
                bail!("`pg_ctl stop` failed: {text}");
            }
        }
    }
    if stopped {
        eprintln!("xtask: stopped");
    } else {
        eprintln!(
            "xtask: no throwaway PostgreSQL is running (looked in {})",
            looked.join(", ")
        );
    }
    Ok(())
}

/// Runs `sql` with `psql -X -At` against `url` and returns its stdout.
pub(crate) fn psql(psql: &Path, url: &str, sql: &str) -> Result<String> {
    let mut cmd = psql_command(psql, url);
    cmd.args(["-v", "ON_ERROR_STOP=1", "-c", sql]);
    let out = run_captured(&mut cmd)?;
    if !out.status.success() {
        bail!(
            "psql failed on `{sql}` against {}: {}",
            redact(url),
            output_text(&out)
        );
    }
    String::from_utf8(out.stdout).context("psql printed something that is not UTF-8")
}

/// `psql` from `PATH` or from the usual PostgreSQL install directories.
pub(crate) fn find_psql() -> Option<PathBuf> {
    find_in_path("psql").or_else(|| {
        pg_bin_dirs()
            .into_iter()
            .map(|d| d.join("psql"))
            .find(|p| is_executable(p))
    })
}

/// Like [`find_psql`], with the fix in the error.
pub(crate) fn require_psql() -> Result<PathBuf> {
    find_psql().ok_or_else(|| {
        anyhow!(
            "psql (the PostgreSQL client) was not found in PATH or /usr/lib/postgresql/*/bin; \
             install it, e.g. `apt-get install postgresql-client` (Debian/Ubuntu), \
             `dnf install postgresql` (Fedora) or `brew install libpq` (macOS)"
        )
    })
}

/// `url` with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(userinfo) = userinfo(url) else {
        return url.to_string();
    };
    match url[userinfo.clone()].find(':') {
        Some(colon) => format!(
            "{}***{}",
            &url[..userinfo.start + colon + 1],
            &url[userinfo.end..]
        ),
        None => url.to_string(),
    }
}

/// Where the `user[:password]` part of `url` is (before the `@`), if it has one.
pub(crate) fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = url[start..end].rfind('@')?;
    Some(start..start + at)
}

fn local_url(port: u16) -> String {
    format!("postgresql://postgres@127.0.0.1:{port}/postgres")
}

fn port_from_env(var: &str, default: u16) -> Result<u16> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("{var}={v:?} is not a port number")),
        _ => Ok(default),
    }
}

fn port_answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn psql_command(psql: &Path, url: &str) -> Command {
    let mut cmd = Command::new(psql);
    // -w: never prompt for a password (CI has no stdin); -X: ignore ~/.psqlrc.
    cmd.arg(url)
        .args(["-X", "-A", "-t", "-w", "-q"])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null());
    cmd
}

/// `Ok` when `select 1` works; else psql's complaint.
fn select_one(psql: &Path, url: &str) -> std::result::Result<(), String> {
    let mut cmd = psql_command(psql, url);
    cmd.args(["-c", "select 1"]);
    match cmd.output() {
        Ok(out) if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "1" => {
            Ok(())
        }
        Ok(out) => Err(output_text(&out)),
        Err(e) => Err(format!("could not run {}: {e}", psql.display())),
    }
}

/// The major version `initdb --version` reports (`15`, or `9.6` for old releases).
fn major_version(tools: &ServerTools) -> Result<String> {
    let out = run_captured(Command::new(&tools.initdb).arg("--version"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "initdb (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
    let version = text
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .ok_or_else(|| anyhow!("cannot read a version from `initdb --version`: {text:?}"))?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().unwrap_or_default();
    Ok(if major == "9" {
        format!("9.{}", parts.next().unwrap_or_default())
    } else {
        major.to_string()
    })
}

fn run_captured(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not run {}", crate::show(cmd)))
}

/// Where the throwaway cluster may live: `<target>/pg-throwaway`, then the temp-dir fallback
/// used when the `postgres` OS user cannot reach the target directory.
fn candidate_bases(root: &Path) -> Vec<PathBuf> {
    vec![
        crate::target_dir(root).join("pg-throwaway"),
        fallback_base(root),
    ]
}

fn fallback_base(root: &Path) -> PathBuf {
    std::env::temp_dir().join(format!(
        "dlt-rs-pg-throwaway-{:08x}",
        fnv1a(root.as_os_str().as_encoded_bytes()) as u32
    ))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The throwaway cluster's places and tools.
struct Cluster {
    tools: ServerTools,
    base: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Finds the tools and settles the directories (creating them, owned by `postgres` when we
    /// are root).
    fn locate(root: &Path) -> Result<Self> {
        let tools = ServerTools::find().ok_or_else(|| anyhow!(install_message()))?;
        let port = port_from_env(THROWAWAY_PORT_ENV, DEFAULT_THROWAWAY_PORT)?;
        let as_postgres = is_root();
        if as_postgres {
            let known = Command::new("id")
                .arg("-u")
                .arg(PG_OS_USER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !known {
                bail!(
                    "running as root, and PostgreSQL refuses to run as root, but there is no \
                     `{PG_OS_USER}` OS user to run it as; create one (`useradd --system \
                     --create-home {PG_OS_USER}`), run as a normal user, or set {URL_ENV}"
                );
            }
        }

        let [preferred, fallback] = <[PathBuf; 2]>::try_from(candidate_bases(root))
            .map_err(|_| anyhow!("internal: expected two candidate directories"))?;
        let base = if !as_postgres {
            preferred
        } else if fallback.join("data").join("PG_VERSION").exists() {
            // A cluster made in the fallback place earlier stays there.
            fallback
        } else {
            prepare_dir(&preferred, true)?;
            if pg_user_can_write(&preferred) {
                preferred
            } else {
                eprintln!(
                    "xtask: the `{PG_OS_USER}` user cannot reach {}; the cluster goes to {}",
                    preferred.display(),
                    fallback.display()
                );
                fallback
            }
        };
        prepare_dir(&base, as_postgres)?;

        // Unix socket paths are limited to ~107 bytes.
        let mut socket_dir = base.join("sock");
        if socket_dir.as_os_str().len() + "/.s.PGSQL.65535".len() > 100 {
            socket_dir = std::env::temp_dir().join(format!(
                "dlt-rs-pg-sock-{:08x}",
                fnv1a(base.as_os_str().as_encoded_bytes()) as u32
            ));
        }
        prepare_dir(&socket_dir, as_postgres)?;

        Ok(Self {
            tools,
            data: base.join("data"),
            log: base.join("postgres.log"),
            base,
            socket_dir,
            port,
            as_postgres,
        })
    }

    /// Reuses the running cluster, or (creates and) starts it, then waits until it answers.
    fn ensure_running(mut self) -> Result<Server> {
        let data_dir = self.data.clone();
        if self.is_running()? {
            eprintln!(
                "xtask: reusing the throwaway cluster in {}",
                self.data.display()
            );
            // It keeps the port it was started with.
            if let Some(port) = self.running_port().filter(|p| *p != self.port) {
                eprintln!("xtask: it listens on port {port}, not {}", self.port);
                self.port = port;
            }
            let url = local_url(self.port);
            self.wait_ready(&url)?;
            return Ok(Server {
                url,
                origin: Origin::Throwaway {
                    data_dir,
                    started: false,
                },
            });
        }
        if port_answers(self.port) {
            bail!(
                "port {} on 127.0.0.1 is taken by another program, so the throwaway cluster in {} \
                 cannot start there; set {THROWAWAY_PORT_ENV} to a free port",
                self.port,
                self.data.display()
            );
        }
        let url = local_url(self.port);
        self.init_if_needed()?;
        if !self.data.join("server.crt").exists() {
            self.make_certificate()?;
        }
        self.start()?;
        self.wait_ready(&url)?;
        Ok(Server {
            url,
            origin: Origin::Throwaway {
                data_dir,
                started: true,
            },
        })
    }

    fn is_running(&self) -> Result<bool> {
        if !self.data.join("PG_VERSION").exists() {
            return Ok(false);
        }
        let mut cmd = as_pg_user(&self.tools.pg_ctl, self.as_postgres);
        cmd.arg("-D").arg(&self.data).arg("status");
        // 0: running; 3: not running; 4: no valid data directory.
        Ok(run_captured(&mut cmd)?.status.success())
    }

    /// The port in `postmaster.pid` (its fourth line) of the running cluster.
    fn running_port(&self) -> Option<u16> {
        let pid_file = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    /// Runs `initdb` unless a cluster of the same major version is already there.
    fn init_if_needed(&self) -> Result<()> {
        let major = major_version(&self.tools)?;
        let existing = std::fs::read_to_string(self.data.join("PG_VERSION")).ok();
        match existing.as_deref().map(str::trim) {
            Some(v) if v == major => return Ok(()),
            Some(v) => eprintln!(
                "xtask: {} holds a PostgreSQL {v} cluster but initdb is version {major}; \
                 making a new one",
                self.data.display()
            ),
            None => {}
        }
        if self.data.exists() {
            std::fs::remove_dir_all(&self.data)
                .with_context(|| format!("could not remove {}", self.data.display()))?;
        }
        eprintln!(
            "xtask: creating a throwaway cluster in {} with {}",
            self.data.display(),
            self.tools.initdb.display()
        );
        let mut cmd = as_pg_user(&self.tools.initdb, self.as_postgres);
        cmd.arg("-D")
            .arg(&self.data)
            .args(INITDB_ARGS)
            .env("TZ", "UTC");
        let out = run_captured(&mut cmd)?;
        if !out.status.success() {
            bail!("`{}` failed: {}", crate::show(&cmd), output_text(&out));
        }
        Ok(())
    }

    /// A self-signed certificate for `localhost` in the data directory, so the cluster
    /// speaks TLS like a stock Debian server (the TLS tests need it). Made with `openssl`
    /// as the cluster's user; without `openssl` the cluster runs without TLS and says so.
    fn make_certificate(&self) -> Result<()> {
        let Some(openssl) = find_in_path("openssl") else {
            eprintln!(
                "xtask: openssl is not installed: the throwaway cluster runs without TLS and \
                 the TLS test will fail (install openssl, e.g. apt-get install openssl)"
            );
            return Ok(());
        };
        let mut cmd = as_pg_user(&openssl, self.as_postgres);
        cmd.args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        // a server certificate, not a CA (rustls refuses a CA as the server's certificate)
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(self.data.join("server.key"))
        .arg("-out")
        .arg(self.data.join("server.crt"));
        let out = run_captured(&mut cmd)?;
        if !out.status.success() {
            bail!("`{}` failed: {}", crate::show(&cmd), output_text(&out));
        }
        Ok(())
    }

    fn start(&self) -> Result<()> {
        eprintln!(
            "xtask: starting the throwaway cluster on 127.0.0.1:{} (log: {})",
            self.port,
            self.log.display()
        );
        let socket_dir = self
            .socket_dir
            .to_str()
            .ok_or_else(|| anyhow!("{} is not UTF-8", self.socket_dir.display()))?;
        if socket_dir.contains('\'') {
            bail!("the socket directory {socket_dir} contains a quote");
        }
        let mut options = format!(
            "-k '{socket_dir}' -p {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        if self.data.join("server.crt").exists() {
            // server.crt / server.key in the data directory are PostgreSQL's defaults
            options.push_str(" -c ssl=on");
        }
        let mut cmd = as_pg_user(&self.tools.pg_ctl, self.as_postgres);
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", &READY_TIMEOUT.as_secs().to_string()])
            .arg("-o")
            .arg(options)
            .arg("start");
        let out = run_captured(&mut cmd)?;
        if !out.status.success() {
            bail!(
                "`{}` failed: {}\nlast lines of {}:\n{}",
                crate::show(&cmd),
                output_text(&out),
                self.log.display(),
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// Polls until the server takes a connection (and, with psql, a query), up to a deadline.
    fn wait_ready(&self, url: &str) -> Result<()> {
        let psql = find_psql();
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_error = String::from("port closed");
        loop {
            if port_answers(self.port) {
                match &psql {
                    None => return Ok(()),
                    Some(psql) => match select_one(psql, url) {
                        Ok(()) => return Ok(()),
                        Err(e) => last_error = e,
                    },
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "the throwaway cluster did not accept connections within {}s ({last_error}); \
                     last lines of {}:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log.display(),
                    self.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self, lines: usize) -> String {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(cannot read the log: {e}; base {})", self.base.display()),
        }
    }
}

/// Creates `dir`; when `for_postgres`, hands it to the `postgres` OS user.
fn prepare_dir(dir: &Path, for_postgres: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    if for_postgres {
        let out = run_captured(Command::new("chown").arg(PG_OS_USER).arg(dir))?;
        if !out.status.success() {
            bail!(
                "could not give {} to the {PG_OS_USER} user: {}",
                dir.display(),
                output_text(&out)
            );
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("could not set the permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// Whether the `postgres` OS user can enter and write `dir` (every parent must be traversable).
fn pg_user_can_write(dir: &Path) -> bool {
    let mut cmd = as_pg_user(Path::new("/bin/sh"), true);
    cmd.args(["-c", "cd \"$1\" && test -w .", "sh"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    run_captured(&mut cmd).is_ok_and(|o| o.status.success())
}

fn install_message() -> String {
    format!(
        "no PostgreSQL found: nothing usable answers on 127.0.0.1:{DEFAULT_PROBE_PORT} and no \
         initdb/pg_ctl was found (looked in PATH, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, \
         /usr/local/pgsql/bin). Install PostgreSQL, e.g. `apt-get install postgresql` \
         (Debian/Ubuntu), `dnf install postgresql-server` (Fedora) or `brew install \
         postgresql@16` (macOS); or set {URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB to \
         use a server of your own"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("postgresql://u:secret@h:5432/db"),
            "postgresql://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgresql://postgres@127.0.0.1:5432/postgres"),
            "postgresql://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(redact("host=x"), "host=x");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}

//! Local PostgreSQL server tools (`initdb`, `pg_ctl`) and private throwaway clusters.
//!
//! Most tests share one server ([`crate::pg_url`]). A test that must stop, restart or
//! reconfigure the server (a restart mid-load, client certificates) starts its own
//! [`Cluster`] instead: a fresh `initdb` in a temporary folder, on a free port of
//! 127.0.0.1, removed when the value drops. As root the cluster belongs to the `postgres`
//! OS user, since PostgreSQL refuses to run as root. `cargo xtask` finds its throwaway
//! cluster's tools with the same functions.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The OS user that owns a cluster when we run as root.
pub const PG_OS_USER: &str = "postgres";

/// `initdb`'s options (after `-D DIR`) for a throwaway cluster: superuser `postgres`, trust
/// authentication, UTF-8, no locale, no fsync while creating it.
pub const INITDB_ARGS: [&str; 6] = [
    "-U",
    "postgres",
    "--auth=trust",
    "--encoding=UTF8",
    "--no-locale",
    "--no-sync",
];

/// What to install when the server tools are missing.
pub const INSTALL_HINT: &str = "install PostgreSQL's server package (Debian/Ubuntu: \
     `apt-get install postgresql`; Fedora: `dnf install postgresql-server`; macOS: \
     `brew install postgresql`)";

/// `initdb` and `pg_ctl`, from one installation.
#[derive(Debug, Clone)]
pub struct ServerTools {
    pub initdb: PathBuf,
    pub pg_ctl: PathBuf,
}

impl ServerTools {
    /// `PATH` first, then the usual install directories, newest version first.
    pub fn find() -> Option<Self> {
        if let Some(initdb) = find_in_path("initdb") {
            // Prefer the pg_ctl next to the real initdb (PATH entries are often symlinks).
            let real_dir = std::fs::canonicalize(&initdb)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf));
            let pg_ctl = real_dir
                .map(|d| d.join("pg_ctl"))
                .filter(|p| is_executable(p))
                .or_else(|| find_in_path("pg_ctl"));
            if let Some(pg_ctl) = pg_ctl {
                return Some(Self { initdb, pg_ctl });
            }
        }
        pg_bin_dirs().into_iter().find_map(|dir| {
            let (initdb, pg_ctl) = (dir.join("initdb"), dir.join("pg_ctl"));
            (is_executable(&initdb) && is_executable(&pg_ctl)).then_some(Self { initdb, pg_ctl })
        })
    }
}

/// Directories where PostgreSQL server binaries usually live, newest version first.
pub fn pg_bin_dirs() -> Vec<PathBuf> {
    let mut versioned: Vec<(Vec<u32>, PathBuf)> = Vec::new();
    for (parent, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix(prefix) else {
                continue;
            };
            let key: Vec<u32> = version.split('.').map_while(|p| p.parse().ok()).collect();
            if !key.is_empty() {
                versioned.push((key, entry.path().join("bin")));
            }
        }
    }
    versioned.sort_by(|a, b| b.0.cmp(&a.0));
    let mut dirs: Vec<PathBuf> = versioned.into_iter().map(|(_, d)| d).collect();
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs
}

/// The first executable `name` on `PATH`.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// Whether `path` is an executable file.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether we run as root (then PostgreSQL's tools must run as another user).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command running `program` as the `postgres` OS user when `as_postgres`, else as us;
/// its working directory is `/` (the postgres user may not be allowed into ours).
pub fn as_pg_user(program: &Path, as_postgres: bool) -> Command {
    let mut cmd = if !as_postgres {
        Command::new(program)
    } else if let Some(runuser) = find_in_path("runuser").or_else(|| {
        ["/sbin/runuser", "/usr/sbin/runuser"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| is_executable(p))
    }) {
        let mut cmd = Command::new(runuser);
        cmd.args(["-u", PG_OS_USER, "--"]).arg(program);
        cmd
    } else {
        // `su USER -s /bin/sh -c 'exec "$0" "$@"' PROGRAM ARGS...` keeps the arguments whole.
        let mut cmd = Command::new("su");
        cmd.args([PG_OS_USER, "-s", "/bin/sh", "-c", "exec \"$0\" \"$@\""])
            .arg(program);
        cmd
    };
    cmd.current_dir("/");
    cmd
}

/// stderr and stdout of a finished command, for error messages.
pub fn output_text(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(stdout.trim());
    }
    if text.is_empty() {
        text = format!("exited with {}", out.status);
    }
    text
}

/// The uid and gid of the `postgres` OS user.
fn pg_user_ids() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, PG_OS_USER])
            .output()
            .map_err(|e| format!("could not run `id`: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| {
                format!(
                    "running as root, but there is no `{PG_OS_USER}` OS user to run PostgreSQL \
                     as (useradd --system --create-home {PG_OS_USER})"
                )
            })
    };
    Ok((id("-u")?, id("-g")?))
}

/// A private PostgreSQL cluster for one test: trust auth for `postgres` on 127.0.0.1, a
/// free port, a temporary folder; stopped (immediately) and removed on drop.
#[derive(Debug)]
pub struct Cluster {
    tools: ServerTools,
    /// Holds `data/`, `log` and the socket; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Creates and starts a cluster; `conf` lines are appended to `postgresql.conf`, and
    /// `prepare` may put files (certificates, `pg_hba.conf`) into the data folder before
    /// the start (they are handed to the `postgres` user afterwards).
    ///
    /// # Panics
    ///
    /// When `initdb`/`pg_ctl` are missing (with what to install) or the cluster cannot
    /// start: a test that needs its own server never skips silently.
    pub fn start(conf: &[&str], prepare: impl FnOnce(&Path)) -> Cluster {
        match Self::try_start(conf, prepare) {
            Ok(c) => c,
            Err(e) => panic!("could not start a private PostgreSQL cluster: {e}"),
        }
    }

    fn try_start(conf: &[&str], prepare: impl FnOnce(&Path)) -> Result<Cluster, String> {
        let tools = ServerTools::find().ok_or_else(|| {
            format!("this test needs PostgreSQL's initdb and pg_ctl: {INSTALL_HINT}")
        })?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("dlt-rs-pg-")
            .tempdir()
            .map_err(|e| format!("could not create a temporary folder: {e}"))?;
        let ids = if as_postgres {
            let ids = pg_user_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .map_err(|e| format!("could not chown {}: {e}", dir.path().display()))?;
            Some(ids)
        } else {
            None
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let cluster = Cluster {
            tools,
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data_dir();
        let data_arg = data.to_string_lossy();
        let mut args = vec!["-D", &data_arg];
        args.extend(INITDB_ARGS);
        cluster.run(cluster.tools.initdb.clone(), &args)?;
        let mut settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             fsync = off\n",
            cluster.dir.path().display()
        );
        for line in conf {
            settings.push_str(line);
            settings.push('\n');
        }
        let conf_file = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_file)
            .map_err(|e| format!("reading {}: {e}", conf_file.display()))?;
        text.push_str(&settings);
        std::fs::write(&conf_file, text)
            .map_err(|e| format!("writing {}: {e}", conf_file.display()))?;
        prepare(&data);
        if let Some((uid, gid)) = ids {
            for entry in std::fs::read_dir(&data).map_err(|e| e.to_string())? {
                let path = entry.map_err(|e| e.to_string())?.path();
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| format!("could not chown {}: {e}", path.display()))?;
            }
        }
        cluster.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(cluster)
    }

    /// `postgresql://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `pg_ctl restart -m MODE` (`fast`, or `immediate` for a crash and recovery), waiting
    /// until the server accepts connections again.
    ///
    /// # Panics
    ///
    /// When `pg_ctl` fails.
    pub fn restart(&self, mode: &str) {
        if let Err(e) = self.pg_ctl(&["restart", "-m", mode, "-w", "-t", "60"]) {
            panic!("{e}");
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.dir.path().join("log");
        let mut all = vec!["-D", data.to_str().unwrap_or_default(), "-l"];
        all.push(log.to_str().unwrap_or_default());
        all.extend_from_slice(args);
        self.run(self.tools.pg_ctl.clone(), &all).map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    fn run(&self, program: PathBuf, args: &[&str]) -> Result<(), String> {
        let mut cmd = as_pg_user(&program, self.as_postgres);
        cmd.args(args)
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .map_err(|e| format!("could not run {}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{} {}` failed: {}",
                program.display(),
                args.join(" "),
                output_text(&out)
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // best effort: the folder goes with the TempDir
        let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

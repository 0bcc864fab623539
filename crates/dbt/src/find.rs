//! Finding the dbt executable: in a given virtual environment, else on `PATH`.

use std::path::{Path, PathBuf};

use crate::DbtError;

#[cfg(windows)]
const EXE: &str = "dbt.exe";
#[cfg(not(windows))]
const EXE: &str = "dbt";

#[cfg(windows)]
const BIN: &str = "Scripts";
#[cfg(not(windows))]
const BIN: &str = "bin";

/// The dbt executable: `<venv>/bin/dbt` when `venv` is given (and nothing else), else the
/// first `dbt` in the directories of `PATH`.
///
/// # Errors
/// [`DbtError::NotFound`] naming where it looked and the adapter package to install
/// (`dbt-<adapter>`).
pub fn find_dbt(venv: Option<&Path>, adapter: &str) -> Result<PathBuf, DbtError> {
    if let Some(venv) = venv {
        let exe = venv.join(BIN).join(EXE);
        return if is_executable(&exe) {
            Ok(exe)
        } else {
            Err(DbtError::NotFound {
                looked: vec![format!("{} (in the given venv)", exe.display())],
                adapter: adapter.to_string(),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(exe) = dirs
        .iter()
        .map(|d| d.join(EXE))
        .find(|exe| is_executable(exe))
    {
        return Ok(exe);
    }
    let listed = if dirs.is_empty() {
        "(PATH is empty)".to_string()
    } else {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    Err(DbtError::NotFound {
        looked: vec![format!("`{EXE}` on PATH ({listed})")],
        adapter: adapter.to_string(),
    })
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn missing_venv_names_the_path_and_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("no-venv");
        let e = find_dbt(Some(&venv), "postgres").unwrap_err().to_string();
        assert!(
            e.contains(&venv.join(BIN).join(EXE).display().to_string()),
            "{e}"
        );
        assert!(e.contains("pip install dbt-postgres"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn venv_executable_is_found() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join(BIN);
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join(EXE);
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        // not executable yet
        assert!(find_dbt(Some(dir.path()), "postgres").is_err());
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_dbt(Some(dir.path()), "postgres").unwrap(), exe);
    }
}

//! The errors of a dbt run.

use std::path::PathBuf;

use pipeline::PipelineError;

use crate::DbtResult;

/// Lines of dbt's output a [`DbtError::Failed`] message ends with.
pub const OUTPUT_TAIL_LINES: usize = 30;

/// Lines of a failed node's message a [`DbtError::Failed`] message shows.
const MESSAGE_LINES: usize = 8;

/// Why dbt could not run, or what failed when it did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbtError {
    /// No dbt executable where we looked.
    #[error(
        "dbt not found: looked for {}. Install dbt with the {adapter} adapter: \
         `pip install dbt-{adapter}`, or into a virtual environment with \
         `python3 -m venv DIR && DIR/bin/pip install dbt-{adapter}` and pass that venv",
        looked.join(", ")
    )]
    NotFound {
        /// Where we looked (`/venv/bin/dbt`, or `dbt` in the directories of `PATH`).
        looked: Vec<String>,
        /// The dbt adapter the destination needs (`postgres`).
        adapter: String,
    },

    /// The project directory has no `dbt_project.yml`.
    #[error("{} is not a dbt project: it has no dbt_project.yml", path.display())]
    NotAProject { path: PathBuf },

    /// The destination cannot make a dbt profile (it does not support dbt, or its
    /// credentials are invalid).
    #[error(transparent)]
    Destination(#[from] dest_core::Error),

    /// Opening the pipeline failed.
    #[error(transparent)]
    Pipeline(Box<PipelineError>),

    #[error("{context}: {}: {source}", path.display())]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The dbt executable could not be started.
    #[error("could not start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// dbt succeeded but its `run_results.json` cannot be read.
    #[error("dbt's run results {} cannot be read: {reason}", path.display())]
    RunResults { path: PathBuf, reason: String },

    /// dbt ran and failed: its exit code, the nodes that failed and the tail of its output.
    #[error("{}", failed_message(.0))]
    Failed(Box<DbtResult>),
}

impl From<PipelineError> for DbtError {
    fn from(e: PipelineError) -> Self {
        DbtError::Pipeline(Box::new(e))
    }
}

impl DbtError {
    /// The result of the failed run, for [`DbtError::Failed`].
    pub fn result(&self) -> Option<&DbtResult> {
        match self {
            DbtError::Failed(r) => Some(r),
            _ => None,
        }
    }
}

fn failed_message(r: &DbtResult) -> String {
    let code = match r.exit_code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    };
    let mut msg = format!("`{}` failed ({code})", r.command);
    let failed: Vec<_> = r.failed().collect();
    if failed.is_empty() {
        msg.push_str(if r.nodes.is_empty() {
            " before running any node"
        } else {
            " with no failed node"
        });
    } else {
        msg.push_str(&format!(
            "; {} of {} node(s) failed:",
            failed.len(),
            r.nodes.len()
        ));
        for n in failed {
            msg.push_str(&format!("\n  {} ({})", n.unique_id, n.status));
            let lines = n.message.as_deref().unwrap_or("").lines();
            let lines: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
            for line in lines.iter().take(MESSAGE_LINES) {
                msg.push_str("\n      ");
                msg.push_str(line.trim_end());
            }
            if lines.len() > MESSAGE_LINES {
                msg.push_str("\n      ...");
            }
        }
    }
    let tail = r.output_tail(OUTPUT_TAIL_LINES);
    if !tail.is_empty() {
        msg.push_str("\nlast lines of dbt's output:");
        for line in tail {
            msg.push_str("\n  ");
            msg.push_str(line);
        }
    }
    msg
}

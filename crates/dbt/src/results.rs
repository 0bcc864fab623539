//! dbt's `target/run_results.json`: what happened to each node (model, test, seed, ...).

use std::fmt;

use serde::Deserialize;

/// The status of one node, as dbt reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStatus {
    /// A model, seed or snapshot was built.
    Success,
    /// A model, seed or snapshot failed.
    Error,
    /// Not run because something it depends on failed (or `--fail-fast` stopped the run).
    Skipped,
    /// A test passed.
    Pass,
    /// A test failed.
    Fail,
    /// A test failed with `severity: warn`.
    Warn,
    /// An operation failed at run time.
    RuntimeError,
    /// A microbatch model built some of its batches.
    PartialSuccess,
    /// Nothing to do (ephemeral models and the like).
    NoOp,
    /// A status this version does not know.
    Other(String),
}

impl NodeStatus {
    /// dbt's word for it (`success`, `error`, `runtime error`...).
    pub fn as_str(&self) -> &str {
        match self {
            NodeStatus::Success => "success",
            NodeStatus::Error => "error",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Pass => "pass",
            NodeStatus::Fail => "fail",
            NodeStatus::Warn => "warn",
            NodeStatus::RuntimeError => "runtime error",
            NodeStatus::PartialSuccess => "partial success",
            NodeStatus::NoOp => "no-op",
            NodeStatus::Other(s) => s,
        }
    }

    /// Whether the node failed (errors, failed tests, partly built microbatch models).
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            NodeStatus::Error
                | NodeStatus::Fail
                | NodeStatus::RuntimeError
                | NodeStatus::PartialSuccess
        )
    }

    fn parse(s: &str) -> Self {
        match s {
            "success" => NodeStatus::Success,
            "error" => NodeStatus::Error,
            "skipped" => NodeStatus::Skipped,
            "pass" => NodeStatus::Pass,
            "fail" => NodeStatus::Fail,
            "warn" => NodeStatus::Warn,
            "runtime error" => NodeStatus::RuntimeError,
            "partial success" => NodeStatus::PartialSuccess,
            "no-op" => NodeStatus::NoOp,
            other => NodeStatus::Other(other.to_string()),
        }
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one node (dlt's `DBTNodeResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResult {
    /// `model.<project>.<name>`, `test.<project>.<name>...`, `seed.<project>.<name>`.
    pub unique_id: String,
    pub status: NodeStatus,
    /// dbt's message: the adapter response (`SELECT 2`) or the error.
    pub message: Option<String>,
    /// Seconds.
    pub execution_time: f64,
    /// Rows the statement affected, when the adapter knows (not for views).
    pub rows_affected: Option<i64>,
    /// The relation built (`"db"."schema"."name"`), for models, seeds and snapshots.
    pub relation_name: Option<String>,
    /// Failing rows of a test.
    pub failures: Option<u64>,
}

impl NodeResult {
    /// The node's kind: the first part of its unique id (`model`, `test`, `seed`...).
    pub fn resource_type(&self) -> &str {
        self.unique_id
            .split_once('.')
            .map_or(self.unique_id.as_str(), |(kind, _)| kind)
    }

    /// The node's name: the last part of its unique id (`items_summary`).
    pub fn name(&self) -> &str {
        let without_kind = self
            .unique_id
            .split_once('.')
            .map_or(self.unique_id.as_str(), |(_, rest)| rest);
        // model.<package>.<name>; tests have a hash after the name
        let mut parts = without_kind.splitn(2, '.');
        let _package = parts.next();
        parts.next().unwrap_or(without_kind)
    }
}

impl fmt::Display for NodeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({:.2} s)",
            self.unique_id, self.status, self.execution_time
        )?;
        if let Some(m) = self.message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {}", m.trim())?;
        }
        Ok(())
    }
}

/// The parts of `run_results.json` dlt-rs reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResults {
    pub nodes: Vec<NodeResult>,
    /// Seconds the whole invocation took.
    pub elapsed_time: Option<f64>,
    pub dbt_version: Option<String>,
    pub invocation_id: Option<String>,
}

#[derive(Deserialize)]
struct RawRunResults {
    #[serde(default)]
    metadata: RawMetadata,
    #[serde(default)]
    results: Vec<RawNode>,
    #[serde(default)]
    elapsed_time: Option<f64>,
}

#[derive(Deserialize, Default)]
struct RawMetadata {
    #[serde(default)]
    dbt_version: Option<String>,
    #[serde(default)]
    invocation_id: Option<String>,
}

#[derive(Deserialize)]
struct RawNode {
    unique_id: String,
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    execution_time: Option<f64>,
    #[serde(default)]
    adapter_response: Option<serde_json::Value>,
    #[serde(default)]
    relation_name: Option<String>,
    #[serde(default)]
    failures: Option<u64>,
}

/// Parses the text of a `run_results.json`.
///
/// # Errors
/// When the text is not JSON or lacks a node's `unique_id` or `status`.
pub fn parse_run_results(json: &str) -> Result<RunResults, serde_json::Error> {
    let raw: RawRunResults = serde_json::from_str(json)?;
    let nodes = raw
        .results
        .into_iter()
        .map(|n| NodeResult {
            rows_affected: n
                .adapter_response
                .as_ref()
                .and_then(|r| r.get("rows_affected"))
                .and_then(serde_json::Value::as_i64)
                // -1: the adapter does not know (views)
                .filter(|n| *n >= 0),
            status: NodeStatus::parse(&n.status),
            unique_id: n.unique_id,
            message: n.message,
            execution_time: n.execution_time.unwrap_or(0.0),
            relation_name: n.relation_name,
            failures: n.failures,
        })
        .collect();
    Ok(RunResults {
        nodes,
        elapsed_time: raw.elapsed_time,
        dbt_version: raw.metadata.dbt_version,
        invocation_id: raw.metadata.invocation_id,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use expect_test::expect;

    use super::*;

    #[test]
    fn parses_dbt_run_results() {
        // written by dbt-core 1.11 / dbt-postgres 1.10 for the test project (trimmed)
        let r = parse_run_results(include_str!("../tests/fixtures/run_results.json")).unwrap();
        let text: String = r
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{} [{} {}] status={} failure={} rows={:?} relation={:?} message={:?}\n",
                    n.unique_id,
                    n.resource_type(),
                    n.name(),
                    n.status,
                    n.status.is_failure(),
                    n.rows_affected,
                    n.relation_name,
                    n.message.as_deref().map(|m| m.lines().next().unwrap_or("")),
                )
            })
            .collect();
        expect![[r#"
            model.dlt_rs_test.broken [model broken] status=error failure=true rows=None relation=Some("\"postgres\".\"raw\".\"broken\"") message=Some("Database Error in model broken (models/broken.sql)")
            model.dlt_rs_test.items_summary [model items_summary] status=success failure=false rows=Some(2) relation=Some("\"postgres\".\"raw\".\"items_summary\"") message=Some("SELECT 2")
            model.dlt_rs_test.category_a [model category_a] status=success failure=false rows=None relation=Some("\"postgres\".\"raw\".\"category_a\"") message=Some("CREATE VIEW")
        "#]].assert_eq(&text);
        assert_eq!(r.dbt_version.as_deref(), Some("1.11.16"));
        assert!(r.elapsed_time.unwrap() > 0.0);
    }

    #[test]
    fn unknown_statuses_and_missing_fields() {
        let r = parse_run_results(
            r#"{"results": [{"unique_id": "test.p.not_null_t_id.abc123", "status": "fail",
                 "failures": 3, "message": "Got 3 results, configured to fail if != 0"},
                {"unique_id": "model.p.m", "status": "someday"}]}"#,
        )
        .unwrap();
        assert_eq!(r.nodes[0].status, NodeStatus::Fail);
        assert!(r.nodes[0].status.is_failure());
        assert_eq!(r.nodes[0].failures, Some(3));
        assert_eq!(r.nodes[0].name(), "not_null_t_id.abc123");
        assert_eq!(r.nodes[1].status, NodeStatus::Other("someday".into()));
        assert!(!r.nodes[1].status.is_failure());
        assert_eq!(r.nodes[1].execution_time, 0.0);
        assert!(parse_run_results(r#"{"results": [{"status": "success"}]}"#).is_err());
    }
}

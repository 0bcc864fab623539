//! The pipeline-level settings dlt-rs reads, checked against what the configuration holds:
//! in the sections dlt-rs reads (`load`, `normalize`, `extract`, `data_writer`, `runtime`,
//! `schema`, each also under the pipeline's name) a key dlt-rs does not know gets a warning
//! naming it and the closest valid key, and a setting of dlt that dlt-rs does not implement
//! gets a warning saying so: never silently ignored. An unknown naming convention is an
//! error. Destination and source sections are checked by their readers.

use dlt_config::Config;

use crate::PipelineError;

/// Keys dlt-rs reads, by section (nested keys dotted).
const READ: &[(&str, &[&str])] = &[
    (
        "load",
        &[
            "workers",
            "overlap",
            "delete_completed_jobs",
            "keep_loaded_packages",
        ],
    ),
    (
        "normalize",
        &[
            "data_writer.file_max_bytes",
            "parquet_normalizer.add_dlt_load_id",
            "parquet_normalizer.add_dlt_id",
        ],
    ),
    ("data_writer", &["file_max_bytes"]),
    ("extract", &["workers"]),
    (
        "runtime",
        &[
            "request_max_attempts",
            "request_backoff_factor",
            "request_max_retry_delay",
            "request_timeout",
        ],
    ),
    ("schema", &["naming"]),
];

/// dlt's settings of those sections that dlt-rs does not implement (yet).
const DLT_ONLY: &[(&str, &[&str])] = &[
    (
        "load",
        &[
            "parallelism_strategy",
            "pool_type",
            "start_method",
            "run_sleep",
            "raise_on_failed_jobs",
            "raise_on_max_retries",
            "truncate_staging_dataset",
            "start_new_jobs_on_signal",
            "auto_abort_on_terminal_error",
        ],
    ),
    (
        "normalize",
        &[
            "workers",
            "pool_type",
            "start_method",
            "run_sleep",
            "data_writer.buffer_max_items",
            "data_writer.file_max_items",
            "data_writer.disable_compression",
            "json_normalizer.add_dlt_id",
            "json_normalizer.add_dlt_load_id",
            "model_normalizer.add_dlt_id",
            "model_normalizer.add_dlt_load_id",
        ],
    ),
    (
        "data_writer",
        &["buffer_max_items", "file_max_items", "disable_compression"],
    ),
    (
        "extract",
        &[
            "max_parallel_items",
            "next_item_mode",
            "data_writer.buffer_max_items",
            "data_writer.file_max_items",
            "data_writer.file_max_bytes",
            "data_writer.disable_compression",
        ],
    ),
    (
        "runtime",
        &[
            "pipeline_name",
            "sentry_dsn",
            "slack_incoming_hook",
            "dlthub_telemetry",
            "dlthub_telemetry_endpoint",
            "dlthub_telemetry_segment_write_key",
            "log_format",
            "log_level",
            "log_cli_level",
            "config_files_storage_path",
            "dlthub_dsn",
            "run_id",
            "http_show_error_body",
            "http_max_error_body_length",
        ],
    ),
    (
        "schema",
        &[
            "json_normalizer",
            "allow_identifier_change_on_table_with_data",
            "use_break_path_on_normalize",
        ],
    ),
];

/// dlt's naming conventions; dlt-rs implements `snake_case`.
const NAMING_CONVENTIONS: &[&str] = &[
    "snake_case",
    "sql_cs_v1",
    "sql_ci_v1",
    "direct",
    "duck_case",
];

/// One setting that dlt-rs does not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingWarning {
    /// The key as dlt spells it (`load.wrkers`), with the pipeline's name when given so.
    pub key: String,
    /// Where it comes from (`config.toml (...)`, `environment variables`).
    pub provider: String,
    pub message: String,
}

impl std::fmt::Display for SettingWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "setting `{}` (from {}): {}",
            self.key, self.provider, self.message
        )
    }
}

/// The warnings for `config`'s keys in the sections dlt-rs reads, for pipeline `pipeline`.
///
/// # Errors
/// `schema.naming` names no naming convention of dlt.
pub(crate) fn check(config: &Config, pipeline: &str) -> Result<Vec<SettingWarning>, PipelineError> {
    let pipeline = pipeline.to_lowercase();
    let mut warnings = Vec::new();
    for (path, provider) in config.keys() {
        let (prefix, rest): (Option<&str>, &[String]) = match path.split_first() {
            Some((first, rest)) if *first == pipeline && !rest.is_empty() => (Some(first), rest),
            _ => (None, &path),
        };
        let Some((section, key_path)) = rest.split_first() else {
            continue;
        };
        let Some((_, read)) = READ.iter().find(|(s, _)| s == section) else {
            continue;
        };
        let key = key_path.join(".");
        let full = match prefix {
            Some(p) => format!("{p}.{section}.{key}"),
            None => format!("{section}.{key}"),
        };
        if section == "schema" && key == "naming" {
            naming(config, &path, &full, &provider, &mut warnings)?;
            continue;
        }
        if read.contains(&key.as_str()) {
            continue;
        }
        let dlt_only = DLT_ONLY
            .iter()
            .find(|(s, _)| s == section)
            .is_some_and(|(_, keys)| keys.contains(&key.as_str()));
        let message = if dlt_only {
            "a dlt setting dlt-rs does not implement; ignored".to_string()
        } else {
            let known: Vec<&str> = read
                .iter()
                .chain(
                    DLT_ONLY
                        .iter()
                        .filter(|(s, _)| s == section)
                        .flat_map(|(_, k)| k.iter()),
                )
                .copied()
                .collect();
            match dlt_config::closest(&key, &known) {
                Some(k) => format!("unknown key, ignored; did you mean `{section}.{k}`?"),
                None => format!(
                    "unknown key, ignored (dlt-rs reads in `[{section}]`: {})",
                    read.join(", ")
                ),
            }
        };
        warnings.push(SettingWarning {
            key: full,
            provider,
            message,
        });
    }
    Ok(warnings)
}

/// `schema.naming`: dlt's conventions (also as the module path dlt accepts) are known; only
/// `snake_case` is implemented: the others get a warning, an unknown name is an error.
fn naming(
    config: &Config,
    path: &[String],
    full: &str,
    provider: &str,
    warnings: &mut Vec<SettingWarning>,
) -> Result<(), PipelineError> {
    use dest_core::config::ConfigSource;
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let value = (0..config.provider_count())
        .find_map(|i| config.value(i, &segs))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let name = value.rsplit('.').next().unwrap_or_default();
    if !NAMING_CONVENTIONS.contains(&name) {
        let hint = dlt_config::closest(name, NAMING_CONVENTIONS)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        return Err(PipelineError::Config(format!(
            "setting `{full}`: `{value}` is not a naming convention (dlt's: {}){hint}",
            NAMING_CONVENTIONS.join(", ")
        )));
    }
    if name != "snake_case" {
        warnings.push(SettingWarning {
            key: full.to_string(),
            provider: provider.to_string(),
            message: format!(
                "naming convention `{name}` is not implemented by dlt-rs yet; tables and columns are named with `snake_case`"
            ),
        });
    }
    Ok(())
}

/// dlt's column hints (`TColumnSchema`) besides the ones `Column` models: kept in the
/// schema as given. dlt's PostgreSQL destination ignores `partition`, `cluster` and `sort`
/// too; `description`, `variant` and `incremental` are bookkeeping.
const DLT_COLUMN_HINTS_KEPT: &[&str] = &[
    "description",
    "partition",
    "cluster",
    "sort",
    "variant",
    "incremental",
];

/// Every column hint dlt knows, for "did you mean".
const DLT_COLUMN_HINTS: &[&str] = &[
    "name",
    "data_type",
    "nullable",
    "precision",
    "scale",
    "timezone",
    "variant",
    "partition",
    "cluster",
    "primary_key",
    "sort",
    "unique",
    "merge_key",
    "row_key",
    "parent_key",
    "root_key",
    "hard_delete",
    "dedup_sort",
    "incremental",
    "description",
];

/// dlt's PostgreSQL hints dlt-rs does not implement yet.
const DLT_POSTGRES_HINTS_NOT_IMPLEMENTED: &[&str] = &["x-postgres-geometry", "x-postgres-srid"];

/// Warnings for the column hints of a resource's `columns` that nothing acts on: a key dlt
/// does not know (dlt refuses the resource; dlt-rs names it and the closest hint, and drops
/// it, so that the stored schema stays one dlt reads), and dlt's PostgreSQL hints dlt-rs does
/// not implement. Custom `x-` hints are kept in the schema as dlt keeps them.
pub(crate) fn check_column_hints(table: &str, columns: &mut [dest_core::Column]) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        let mut unknown = Vec::new();
        for key in c.other.keys() {
            let key = key.as_str();
            if DLT_COLUMN_HINTS_KEPT.contains(&key) {
                continue;
            }
            if DLT_POSTGRES_HINTS_NOT_IMPLEMENTED.contains(&key) {
                out.push(format!(
                    "table `{table}`, column `{}`: hint `{key}` is not implemented by dlt-rs yet; \
                     the column loads as its data type",
                    c.name
                ));
            } else if !key.starts_with("x-") {
                let hint = dlt_config::closest(key, DLT_COLUMN_HINTS)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                out.push(format!(
                    "table `{table}`, column `{}`: unknown column hint `{key}`, ignored{hint}",
                    c.name
                ));
                unknown.push(key.to_string());
            }
        }
        for key in unknown {
            c.other.shift_remove(&key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn config(pairs: &[(&str, serde_json::Value)]) -> Config {
        let mut b = Config::builder().no_global_dir().env(false);
        for (k, v) in pairs {
            b = b.set(k, v.clone());
        }
        b.build().unwrap()
    }

    #[test]
    fn unknown_and_unimplemented_keys_are_named() {
        let c = config(&[
            ("load.workers", serde_json::json!(4)),
            ("load.wrkers", serde_json::json!(4)),
            ("normalize.workers", serde_json::json!(3)),
            ("runtime.log_level", serde_json::json!("INFO")),
            ("my_pipe.extract.worker", serde_json::json!(2)),
            ("sources.anything.goes", serde_json::json!(1)),
            ("data_writer.file_max_bytes", serde_json::json!(100)),
        ]);
        let w = check(&c, "my_pipe").unwrap();
        let by_key: Vec<(&str, &str)> = w
            .iter()
            .map(|w| (w.key.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(by_key.len(), 4, "{w:?}");
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "load.wrkers" && m.contains("`load.workers`")));
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "normalize.workers" && m.contains("does not implement")));
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "runtime.log_level" && m.contains("does not implement")));
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "my_pipe.extract.worker" && m.contains("`extract.workers`")));
    }

    #[test]
    fn naming_conventions_are_checked() {
        let w = check(
            &config(&[("schema.naming", serde_json::json!("snake_case"))]),
            "p",
        )
        .unwrap();
        assert!(w.is_empty());
        let w = check(
            &config(&[("schema.naming", serde_json::json!("sql_cs_v1"))]),
            "p",
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].message.contains("not implemented"));
        let w = check(
            &config(&[(
                "schema.naming",
                serde_json::json!("dlt.common.normalizers.naming.duck_case"),
            )]),
            "p",
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        let e = check(
            &config(&[("schema.naming", serde_json::json!("snake_cas"))]),
            "p",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`snake_case`"), "{e}");
    }

    #[test]
    fn unknown_column_hints_are_named_with_the_closest_hint() {
        let mut c = dest_core::Column::incomplete("id");
        c.other.insert("nulable".into(), false.into());
        c.other.insert("description".into(), "kept".into());
        c.other.insert("x-custom".into(), 1.into());
        c.other.insert("x-postgres-geometry".into(), "POINT".into());
        let mut columns = [c];
        let w = super::check_column_hints("t", &mut columns);
        assert_eq!(w.len(), 2, "{w:?}");
        let kept: Vec<&String> = columns[0].other.keys().collect();
        assert_eq!(kept, ["description", "x-custom", "x-postgres-geometry"]);
        assert!(
            w.iter()
                .any(|m| m.contains("`nulable`") && m.contains("`nullable`")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|m| m.contains("`x-postgres-geometry`")),
            "{w:?}"
        );
    }

    #[test]
    fn the_configuration_doc_names_every_key_of_the_lists() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
        )
        .unwrap();
        let mut missing = Vec::new();
        for (section, keys) in super::READ.iter().chain(super::DLT_ONLY) {
            for key in *keys {
                let row = format!("| `{section}.{key}` |");
                if !doc.contains(&row) {
                    missing.push(row);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "docs/configuration.md lacks the rows {missing:?}"
        );
    }
}

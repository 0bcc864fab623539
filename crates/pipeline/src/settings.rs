//! The pipeline-level settings dlt-rs reads, checked against what the configuration holds:
//! in the sections dlt-rs reads (`load`, `normalize`, `extract`, `data_writer`, `runtime`,
//! `schema`, each also under the pipeline's name) a key dlt-rs does not know gets a warning
//! naming it and the closest valid key, and a setting of dlt that dlt-rs does not implement
//! gets a warning saying so: never silently ignored. An unknown naming convention is an
//! error. Destination and source sections are checked by their readers.

use ::normalize::naming::Naming;
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
pub(crate) fn check(
    config: &Config,
    pipeline: &str,
    destination: &DestinationKeys<'_>,
) -> Result<Vec<SettingWarning>, PipelineError> {
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
        if section == "destination" {
            if let Some(w) = destination.check(key_path, prefix, &provider) {
                // a table (`csv_format`) has several leaves: one warning for it
                if !warnings.iter().any(|o: &SettingWarning| o.key == w.key) {
                    warnings.push(w);
                }
            }
            continue;
        }
        let Some((_, read)) = READ.iter().find(|(s, _)| s == section) else {
            continue;
        };
        let key = key_path.join(".");
        let full = match prefix {
            Some(p) => format!("{p}.{section}.{key}"),
            None => format!("{section}.{key}"),
        };
        if section == "schema" && key == "naming" {
            naming(config, &path, &full)?;
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

/// The keys of the destination's section (`destination.<name>`) that its destination reads,
/// and dlt's keys there that it does not act on ([`dest_core::Capabilities::config_keys`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DestinationKeys<'a> {
    pub name: &'a str,
    pub read: &'a [&'a str],
    pub dlt_only: &'a [&'a str],
}

impl DestinationKeys<'_> {
    /// The warning for key path `key_path` below `destination` (under the pipeline's name
    /// `prefix`), if any: another destination's section is not this one's business.
    fn check(
        &self,
        key_path: &[String],
        prefix: Option<&str>,
        provider: &str,
    ) -> Option<SettingWarning> {
        let (name, rest) = key_path.split_first()?;
        if name != self.name {
            return None;
        }
        let key = rest.first()?;
        if self.read.contains(&key.as_str()) {
            return None;
        }
        let full = match prefix {
            Some(p) => format!("{p}.destination.{name}.{key}"),
            None => format!("destination.{name}.{key}"),
        };
        let message = if self.dlt_only.contains(&key.as_str()) {
            format!("a dlt setting destination `{name}` does not implement; ignored")
        } else {
            let known: Vec<&str> = self.read.iter().chain(self.dlt_only).copied().collect();
            match dlt_config::closest(key, &known) {
                Some(k) => format!("unknown key, ignored; did you mean `destination.{name}.{k}`?"),
                None => format!(
                    "unknown key, ignored (destination `{name}` reads: {})",
                    self.read.join(", ")
                ),
            }
        };
        Some(SettingWarning {
            key: full,
            provider: provider.to_string(),
            message,
        })
    }
}

/// `schema.naming`: dlt's conventions (also as the module path dlt accepts); a name that
/// is no convention of dlt is an error with the closest one.
fn naming(config: &Config, path: &[String], full: &str) -> Result<(), PipelineError> {
    use dest_core::config::ConfigSource;
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let value = (0..config.provider_count())
        .find_map(|i| config.value(i, &segs))
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    parse_naming(&value, full).map(|_| ())
}

/// The naming convention `value` of setting `key`; an unknown one is an error naming the
/// closest convention.
pub(crate) fn parse_naming(value: &str, key: &str) -> Result<Naming, PipelineError> {
    Naming::parse(value).map_err(|e| {
        let names: Vec<&str> = Naming::ALL.iter().map(|n| n.as_str()).collect();
        let short = value.rsplit('.').next().unwrap_or_default();
        let hint = dlt_config::closest(short, &names)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        PipelineError::Config(format!("setting `{key}`: {e}{hint}"))
    })
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

/// dlt's destination-specific column hints: only a destination that lists one acts on it.
const DLT_DESTINATION_HINTS: &[&str] = &["x-postgres-geometry", "x-postgres-srid"];

/// Warnings for the column hints of a resource's `columns` that nothing acts on: a key dlt
/// does not know (dlt refuses the resource; dlt-rs names it and the closest hint, and drops
/// it, so that the stored schema stays one dlt reads), and dlt's destination hints the
/// destination (whose `acted_on` hints these are) does not act on. Custom `x-` hints are
/// kept in the schema as dlt keeps them.
pub(crate) fn check_column_hints(
    table: &str,
    columns: &mut [dest_core::Column],
    destination: &str,
    acted_on: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    for c in columns {
        let mut unknown = Vec::new();
        for key in c.other.keys() {
            let key = key.as_str();
            if DLT_COLUMN_HINTS_KEPT.contains(&key) {
                continue;
            }
            if DLT_DESTINATION_HINTS.contains(&key) {
                if !acted_on.contains(&key) {
                    out.push(format!(
                        "table `{table}`, column `{}`: hint `{key}` means nothing to destination \
                         `{destination}`; the column loads as its data type",
                        c.name
                    ));
                }
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

    const NO_DESTINATION: DestinationKeys<'static> = DestinationKeys {
        name: "postgres",
        read: &["credentials", "create_indexes"],
        dlt_only: &["csv_format"],
    };

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
        let w = check(&c, "my_pipe", &NO_DESTINATION).unwrap();
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
    fn destination_keys_are_checked_against_the_destination() {
        let c = config(&[
            (
                "destination.postgres.create_indxes",
                serde_json::json!(true),
            ),
            (
                "destination.postgres.csv_format",
                serde_json::json!({"delimiter": "|", "include_header": false}),
            ),
            (
                "destination.postgres.credentials.password",
                serde_json::json!("x"),
            ),
            (
                "destination.postgres.create_indexes",
                serde_json::json!(false),
            ),
            ("destination.bigquery.location", serde_json::json!("EU")),
            ("my_pipe.destination.postgres.nope", serde_json::json!(1)),
        ]);
        let w = check(&c, "my_pipe", &NO_DESTINATION).unwrap();
        let by_key: Vec<(&str, &str)> = w
            .iter()
            .map(|w| (w.key.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(by_key.len(), 3, "{w:?}");
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "destination.postgres.create_indxes"
                && m.contains("`destination.postgres.create_indexes`")));
        assert!(by_key
            .iter()
            .any(|(k, m)| *k == "destination.postgres.csv_format"
                && m.contains("does not implement")));
        assert!(by_key
            .iter()
            .any(|(k, _)| *k == "my_pipe.destination.postgres.nope"));
    }

    #[test]
    fn naming_conventions_are_checked() {
        for name in [
            "snake_case",
            "sql_cs_v1",
            "sql_ci_v1",
            "direct",
            "duck_case",
            "dlt.common.normalizers.naming.duck_case",
        ] {
            let w = check(
                &config(&[("schema.naming", serde_json::json!(name))]),
                "p",
                &NO_DESTINATION,
            )
            .unwrap();
            assert!(w.is_empty(), "{name}: {w:?}");
        }
        let e = check(
            &config(&[("schema.naming", serde_json::json!("snake_cas"))]),
            "p",
            &NO_DESTINATION,
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
        let w = super::check_column_hints("t", &mut columns, "sqlite", &[]);
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

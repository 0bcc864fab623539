//! `dlt-rs pipeline NAME schema`: the pipeline's schema as dlt's `dlt pipeline NAME schema`
//! prints it: dlt's stored-schema document (YAML or JSON, with the names inside tables and
//! columns left out, as dlt's `remove_defaults` does) or a Mermaid ER diagram with dlt's
//! entities and references.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use dest_core::{Schema, LOADS_TABLE, STATE_TABLE, VERSION_TABLE};
use serde_json::Value as Json;

/// The formats of dlt's `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFormat {
    Yaml,
    Json,
    Mermaid,
    Dbml,
    Dot,
}

/// `schema` in `format`; `remove_defaults` as dlt's flag (on by default there too).
pub(crate) fn export(
    schema: &Schema,
    format: SchemaFormat,
    remove_defaults: bool,
) -> Result<String> {
    match format {
        SchemaFormat::Yaml => Ok(pipeline::schema_yaml(schema, remove_defaults)?),
        SchemaFormat::Json => {
            let doc = pipeline::schema_document(schema, remove_defaults)?;
            let mut text = serde_json::to_string_pretty(&doc)?;
            text.push('\n');
            Ok(text)
        }
        SchemaFormat::Mermaid => Ok(mermaid(schema)),
        SchemaFormat::Dbml => Ok(dbml(schema)),
        SchemaFormat::Dot => {
            bail!("--format dot is not supported by dlt-rs yet; use yaml, json, dbml or mermaid")
        }
    }
}

const INDENT: &str = "    ";

/// dlt's `schema_to_dbml` as pydbml renders it: a `Table` per table with complete columns
/// (data tables first, then dlt's; each column with `pk`, `unique`, `not null` and its
/// description as a note; the table's description as its `Note`), then the references: per
/// table in schema order its own ones (`<>`), its `_dlt_loads` link and its parent and root
/// links (`>`), then `_dlt_version` to `_dlt_loads` (`<` on the version hash, `<>` on the
/// schema name). Items are separated by a blank line.
fn dbml(schema: &Schema) -> String {
    let is_dlt = |name: &str| [VERSION_TABLE, LOADS_TABLE, STATE_TABLE].contains(&name);
    let data = schema.tables.iter().filter(|t| !is_dlt(&t.name));
    let dlt = schema.tables.iter().filter(|t| is_dlt(&t.name));
    let mut items: Vec<String> = Vec::new();
    for t in data.chain(dlt) {
        if t.complete_columns().next().is_none() {
            continue;
        }
        let mut table = format!("Table \"{}\" {{\n", t.name);
        for c in t.complete_columns() {
            let ty = c.data_type.map_or("UNKNOWN", |d| d.as_str());
            let mut options: Vec<String> = Vec::new();
            if c.primary_key {
                options.push("pk".into());
            }
            if c.unique {
                options.push("unique".into());
            }
            if !c.nullable {
                options.push("not null".into());
            }
            if let Some(note) = description(&c.other) {
                options.push(match note.contains('\n') {
                    true => format!("note: '''{}'''", dbml_text(note)),
                    false => format!("note: '{}'", dbml_text(note)),
                });
            }
            let mut line = format!("\"{}\" {ty}", c.name);
            if !options.is_empty() {
                let _ = write!(line, " [{}]", options.join(", "));
            }
            table.push_str(&indent(&line));
            table.push('\n');
        }
        if let Some(note) = description(&t.other) {
            let text = match note.contains('\n') {
                true => format!("'''\n{}'''", dbml_text(note)),
                false => format!("'{}'", dbml_text(note)),
            };
            table.push_str(&indent(&format!("Note {{\n{}\n}}", indent(&text))));
            table.push('\n');
        }
        table.push('}');
        items.push(table);
    }
    let reference = |from: &str, from_col: &str, kind: &str, to: &str, to_col: &str| {
        format!("Ref {{\n{INDENT}\"{from}\".\"{from_col}\" {kind} \"{to}\".\"{to_col}\"\n}}")
    };
    let key_of = |table: &str, key: fn(&dest_core::Column) -> bool| {
        schema
            .table(table)
            .and_then(|t| t.columns.iter().find(|c| key(c)))
            .map(|c| c.name.clone())
            .unwrap_or_default()
    };
    for t in &schema.tables {
        if let Some(Json::Array(refs)) = t.other.get("references") {
            for r in refs {
                let first = |k: &str| r[k].get(0).and_then(Json::as_str).unwrap_or_default();
                let to = r["referenced_table"].as_str().unwrap_or_default();
                let line = reference(
                    &t.name,
                    first("columns"),
                    "<>",
                    to,
                    first("referenced_columns"),
                );
                items.push(line);
            }
        }
        if t.column("_dlt_load_id").is_some() {
            items.push(reference(
                &t.name,
                "_dlt_load_id",
                ">",
                LOADS_TABLE,
                "load_id",
            ));
        }
        if let Some(parent) = &t.parent {
            let child_key = key_of(&t.name, |c| c.parent_key);
            let parent_key = key_of(parent, |c| c.row_key);
            items.push(reference(&t.name, &child_key, ">", parent, &parent_key));
            if let Some(root_key) = t.columns.iter().find(|c| c.root_key) {
                let root = schema.root_of(&t.name);
                let root_row_key = key_of(root, |c| c.row_key);
                items.push(reference(&t.name, &root_key.name, ">", root, &root_row_key));
            }
        }
    }
    if schema.table(VERSION_TABLE).is_some() {
        items.push(reference(
            VERSION_TABLE,
            "version_hash",
            "<",
            LOADS_TABLE,
            "schema_version_hash",
        ));
        items.push(reference(
            VERSION_TABLE,
            "schema_name",
            "<>",
            LOADS_TABLE,
            "schema_name",
        ));
    }
    let mut out = items.join("\n\n");
    out.push('\n');
    out
}

/// A non-empty `description` among dlt's other hints.
fn description(other: &serde_json::Map<String, Json>) -> Option<&str> {
    other
        .get("description")
        .and_then(Json::as_str)
        .filter(|d| !d.is_empty())
}

/// pydbml's `prepare_text_for_dbml`: `'''` and `'` escaped with a backslash.
fn dbml_text(text: &str) -> String {
    text.replace("'''", "\u{0}")
        .replace('\'', "\\'")
        .replace('\u{0}', "\\'''")
}

/// Python's `textwrap.indent` by four spaces: every line with something on it.
fn indent(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.trim().is_empty() {
            true => line.to_string(),
            false => format!("{INDENT}{line}"),
        })
        .collect()
}

/// dlt's `schema_to_mermaid`: an entity per table with complete columns (type, name,
/// `PK`/`UK`, description), then the references: per table its parent, root and
/// `_dlt_loads` links, then `_dlt_version` to `_dlt_loads`.
fn mermaid(schema: &Schema) -> String {
    let mut out = String::from("erDiagram\n");
    for t in &schema.tables {
        if t.complete_columns().next().is_none() {
            continue;
        }
        let _ = writeln!(out, "{INDENT}{}{{", t.name);
        for c in t.complete_columns() {
            let ty = c.data_type.map_or("no_data_seen", |d| d.as_str());
            let _ = write!(out, "{INDENT}{ty} {}", c.name);
            let keys: Vec<&str> = [(c.primary_key, "PK"), (c.unique, "UK")]
                .into_iter()
                .filter_map(|(set, k)| set.then_some(k))
                .collect();
            if !keys.is_empty() {
                let _ = write!(out, " {}", keys.join(","));
            }
            if let Some(d) = c.other.get("description").and_then(Json::as_str) {
                if !d.is_empty() {
                    let _ = write!(out, " \"{d}\"");
                }
            }
            out.push('\n');
        }
        out.push_str("}\n");
    }
    let reference = |out: &mut String, from: &str, arrow: &str, to: &str, label: &str| {
        let _ = writeln!(out, "{INDENT}{from} {arrow} {to} : \"{label}\"");
    };
    for t in &schema.tables {
        if let Some(parent) = &t.parent {
            reference(&mut out, &t.name, "}|--||", parent, "_dlt_parent");
            if t.columns.iter().any(|c| c.root_key) {
                let root = schema.root_of(&t.name);
                reference(&mut out, &t.name, "}|--||", root, "_dlt_root");
            }
        }
        if t.column("_dlt_load_id").is_some() {
            reference(&mut out, &t.name, "}|--||", LOADS_TABLE, "_dlt_load");
        }
    }
    if schema.table(VERSION_TABLE).is_some() && schema.table(LOADS_TABLE).is_some() {
        reference(
            &mut out,
            VERSION_TABLE,
            "||--|{",
            LOADS_TABLE,
            "_dlt_schema_version",
        );
        reference(
            &mut out,
            VERSION_TABLE,
            "}|--|{",
            LOADS_TABLE,
            "_dlt_schema_name",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use dest_core::{Column, DataType, TableSchema};

    fn schema() -> Schema {
        let mut s = Schema::new("shop");
        let mut orders = TableSchema::new("orders");
        let mut id = Column::new("id", DataType::Bigint);
        id.primary_key = true;
        id.nullable = false;
        orders.columns.push(id);
        orders
            .columns
            .push(Column::new("_dlt_load_id", DataType::Text));
        let mut row = Column::new("_dlt_id", DataType::Text);
        row.unique = true;
        row.row_key = true;
        orders.columns.push(row);
        s.tables.push(orders);
        let mut items = TableSchema::new("orders__items");
        items.parent = Some("orders".into());
        items.columns.push(Column::new("sku", DataType::Text));
        let mut root = Column::new("_dlt_root_id", DataType::Text);
        root.root_key = true;
        items.columns.push(root);
        s.tables.push(items);
        s
    }

    #[test]
    fn yaml_and_json_leave_out_names_and_parse_as_the_document() {
        let s = schema();
        let yaml = export(&s, SchemaFormat::Yaml, true).unwrap();
        let back: Json = yaml_serde::from_str(&yaml).unwrap();
        assert_eq!(back["name"], "shop");
        assert_eq!(back["engine_version"], 11);
        assert!(back["tables"]["orders"].get("name").is_none());
        assert_eq!(
            back["tables"]["orders"]["columns"]["id"]["primary_key"],
            true
        );
        assert!(back["tables"]["orders"]["columns"]["id"]
            .get("name")
            .is_none());
        let json = export(&s, SchemaFormat::Json, false).unwrap();
        let back: Json = serde_json::from_str(&json).unwrap();
        assert_eq!(back["tables"]["orders"]["columns"]["id"]["name"], "id");
        // the full document reads back as the same schema
        let again: Schema = serde_json::from_str(&json).unwrap();
        assert_eq!(again.content_hash(), s.content_hash());
    }

    #[test]
    fn mermaid_has_entities_keys_and_references() {
        let text = export(&schema(), SchemaFormat::Mermaid, true).unwrap();
        for line in [
            "erDiagram",
            "    orders{",
            "    bigint id PK",
            "    text _dlt_id UK",
            "    orders__items }|--|| orders : \"_dlt_parent\"",
            "    orders__items }|--|| orders : \"_dlt_root\"",
            "    orders }|--|| _dlt_loads : \"_dlt_load\"",
            "    _dlt_version ||--|{ _dlt_loads : \"_dlt_schema_version\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(export(&schema(), SchemaFormat::Dot, true).is_err());
    }

    #[test]
    fn dbml_has_tables_options_notes_and_references() {
        let text = export(&schema(), SchemaFormat::Dbml, true).unwrap();
        for line in [
            "Table \"orders\" {",
            "    \"id\" bigint [pk, not null]",
            "    \"_dlt_id\" text [unique]",
            "    \"orders__items\".\"_dlt_root_id\" > \"orders\".\"_dlt_id\"",
            "    \"orders\".\"_dlt_load_id\" > \"_dlt_loads\".\"load_id\"",
            "    \"_dlt_version\".\"schema_name\" <> \"_dlt_loads\".\"schema_name\"",
            "        'Created by DLT. Tracks schema updates'",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert_eq!(dbml_text("it's '''x'''"), "it\\'s \\'''x\\'''");
    }
}

//! dlt's schema files: the stored schema document as YAML or JSON (what `dlt pipeline NAME
//! schema` prints), written to the export folder after every change of the schema
//! (`export_schema_path`), and read from the import folder when the file changed since it was
//! last imported (`import_schema_path`), as dlt's `SchemaStorage` does: a user edits the
//! exported YAML (types, hints, contracts) and the next run takes it.

use std::path::Path;

use dest_core::Schema;
use serde_json::Value as Json;

use crate::storage::{io_err, write_atomic};
use crate::PipelineError;

/// dlt's stored document of `schema`; `remove_defaults` drops the `name` inside every table
/// and column (the key holds it) and `imported_version_hash`, as dlt's
/// `to_dict(remove_defaults=True)`.
pub fn schema_document(schema: &Schema, remove_defaults: bool) -> Result<Json, PipelineError> {
    let mut doc = serde_json::to_value(schema)
        .map_err(|e| PipelineError::Internal(format!("serializing the schema: {e}")))?;
    if remove_defaults {
        if let Some(m) = doc.as_object_mut() {
            m.shift_remove("imported_version_hash");
        }
        for table in tables_mut(&mut doc) {
            table.shift_remove("name");
            if let Some(columns) = table.get_mut("columns").and_then(Json::as_object_mut) {
                for column in columns.values_mut().filter_map(Json::as_object_mut) {
                    column.shift_remove("name");
                }
            }
        }
    }
    Ok(doc)
}

/// [`schema_document`] as YAML, dlt's `to_pretty_yaml` (block style, keys in order).
pub fn schema_yaml(schema: &Schema, remove_defaults: bool) -> Result<String, PipelineError> {
    let doc = schema_document(schema, remove_defaults)?;
    yaml_serde::to_string(&yaml(&doc))
        .map_err(|e| PipelineError::Internal(format!("writing the schema as YAML: {e}")))
}

fn tables_mut(doc: &mut Json) -> impl Iterator<Item = &mut serde_json::Map<String, Json>> {
    doc.get_mut("tables")
        .and_then(Json::as_object_mut)
        .into_iter()
        .flat_map(|t| t.values_mut())
        .filter_map(Json::as_object_mut)
}

/// `v` as a YAML value: numbers as YAML numbers (serde_json keeps them as their digits,
/// which a YAML serializer would write as a map).
fn yaml(v: &Json) -> yaml_serde::Value {
    use yaml_serde::Value as Y;
    match v {
        Json::Null => Y::Null,
        Json::Bool(b) => Y::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Y::Number(i.into()),
            (None, Some(u), _) => Y::Number(u.into()),
            (None, None, Some(f)) => Y::Number(f.into()),
            _ => Y::String(n.to_string()),
        },
        Json::String(s) => Y::String(s.clone()),
        Json::Array(a) => Y::Sequence(a.iter().map(yaml).collect()),
        Json::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), yaml(v)))
                .collect(),
        ),
    }
}

/// Writes `<dir>/<name>.schema.yaml` (dlt's default `external_schema_format`). When the
/// export folder is also the import folder the processing hints (`x-normalizer`,
/// `x-loader`) are left out, as dlt does, so that importing the file changes nothing.
pub(crate) fn export(
    dir: &Path,
    schema: &Schema,
    is_import_dir: bool,
) -> Result<(), PipelineError> {
    let mut doc = schema_document(schema, true)?;
    if is_import_dir {
        for table in tables_mut(&mut doc) {
            table.shift_remove("x-normalizer");
            table.shift_remove("x-loader");
        }
    }
    let text = yaml_serde::to_string(&yaml(&doc))
        .map_err(|e| PipelineError::Internal(format!("writing the schema as YAML: {e}")))?;
    std::fs::create_dir_all(dir).map_err(io_err("creating the schema export folder", dir))?;
    write_atomic(
        &dir.join(format!("{}.schema.yaml", schema.name)),
        text.as_bytes(),
    )
}

/// The schema a run starts from when an import folder is set: the file
/// `<dir>/<name>.schema.yaml` (or `.schema.json`) replaces `local` when there is no local
/// schema or when the file changed since it was last imported (its version hash differs
/// from `local`'s `imported_version_hash`); otherwise `local` stays. `Ok(None)`: no file
/// and no local schema.
pub(crate) fn import(
    dir: &Path,
    name: &str,
    local: Option<Schema>,
) -> Result<Option<Schema>, PipelineError> {
    let Some((path, mut imported)) = read_import(dir, name)? else {
        return Ok(local);
    };
    let hash = imported.content_hash();
    match local {
        Some(local) if local.imported_version_hash.as_deref() == Some(hash.as_str()) => {
            Ok(Some(local))
        }
        local => {
            tracing::info!(
                schema = name,
                file = %path.display(),
                "importing the schema file (new or changed since the last import)"
            );
            imported.name = name.to_string();
            imported.version_hash = hash.clone();
            if let Some(local) = local {
                // dlt's `replace_schema_content(link_to_replaced_schema=True)`: the version
                // goes on from the replaced schema, whose hash is kept as a previous one
                imported.version = imported.version.max(local.version);
                if local.version_hash != hash {
                    imported.previous_hashes = std::iter::once(local.version_hash)
                        .chain(local.previous_hashes)
                        .take(10)
                        .collect();
                }
            }
            imported.imported_version_hash = Some(hash);
            Ok(Some(imported))
        }
    }
}

fn read_import(
    dir: &Path,
    name: &str,
) -> Result<Option<(std::path::PathBuf, Schema)>, PipelineError> {
    for ext in ["yaml", "json"] {
        let path = dir.join(format!("{name}.schema.{ext}"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("reading the import schema", &path)(e)),
        };
        let parsed: Result<Schema, String> = match ext {
            "yaml" => yaml_serde::from_str::<Json>(&text)
                .map_err(|e| e.to_string())
                .and_then(|doc| serde_json::from_value(doc).map_err(|e| e.to_string())),
            _ => serde_json::from_str(&text).map_err(|e| e.to_string()),
        };
        let schema = parsed
            .map_err(|e| PipelineError::Config(format!("import schema {}: {e}", path.display())))?;
        return Ok(Some((path, schema)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use dest_core::{Column, DataType, TableSchema};

    fn schema() -> Schema {
        let mut s = Schema::new("shop");
        let mut t = TableSchema::new("orders");
        t.columns.push(Column::new("id", DataType::Bigint));
        s.tables.push(t);
        s.version_hash = s.content_hash();
        s
    }

    #[test]
    fn an_exported_file_imports_once_and_again_when_edited() {
        let dir = tempfile::tempdir().unwrap();
        let s = schema();
        export(dir.path(), &s, true).unwrap();
        let file = dir.path().join("shop.schema.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("name: orders"), "{text}");

        // no local schema: the file is taken
        let first = import(dir.path(), "shop", None).unwrap().unwrap();
        assert_eq!(first.table("orders").unwrap().columns.len(), 1);
        let linked = first.imported_version_hash.clone().unwrap();
        // unchanged file: the local schema stays, with what it learned since
        let mut local = first.clone();
        local.tables[3]
            .columns
            .push(Column::new("sku", DataType::Text));
        let kept = import(dir.path(), "shop", Some(local.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(kept.table("orders").unwrap().columns.len(), 2);
        // an edited file replaces it
        std::fs::write(&file, text.replace("data_type: bigint", "data_type: text")).unwrap();
        let edited = import(dir.path(), "shop", Some(local)).unwrap().unwrap();
        let id = edited.table("orders").unwrap().column("id").unwrap();
        assert_eq!(id.data_type, Some(DataType::Text));
        assert_ne!(edited.imported_version_hash.unwrap(), linked);
    }

    #[test]
    fn a_broken_import_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop.schema.yaml"), "tables: [1, 2").unwrap();
        let e = import(dir.path(), "shop", None).unwrap_err().to_string();
        assert!(e.contains("shop.schema.yaml"), "{e}");
    }
}

//! The schema model: tables, columns, dlt's data types and column hints.
//!
//! The serialized shape follows dlt's stored schema (`tables.<name>.columns.<name>` with
//! `data_type`, `nullable` and hint flags) so a schema in `_dlt_version` reads like dlt's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ContractError, ContractModes, Error, SchemaContract, TableDisposition};

/// dlt's schema engine version, written to `_dlt_version.engine_version`.
pub const ENGINE_VERSION: i64 = 11;

/// dlt's data types (the `data_type` of a column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Text,
    Double,
    Bool,
    Timestamp,
    Date,
    Time,
    Bigint,
    Binary,
    Json,
    Decimal,
    Wei,
}

impl DataType {
    /// The name dlt uses, also the suffix of variant columns (`<col>__v_<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Date => "date",
            DataType::Time => "time",
            DataType::Bigint => "bigint",
            DataType::Binary => "binary",
            DataType::Json => "json",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "text" => DataType::Text,
            "double" => DataType::Double,
            "bool" => DataType::Bool,
            "timestamp" => DataType::Timestamp,
            "date" => DataType::Date,
            "time" => DataType::Time,
            "bigint" => DataType::Bigint,
            "binary" => DataType::Binary,
            "json" | "complex" => DataType::Json,
            "decimal" => DataType::Decimal,
            "wei" => DataType::Wei,
            other => {
                return Err(Error::InvalidSchema(format!(
                    "unknown data type `{other}`; known types: text, double, bool, timestamp, date, time, bigint, binary, json, decimal, wei"
                )))
            }
        })
    }
}

/// Sort direction of a `dedup_sort` hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// One column with dlt's hints. A column without `data_type` is "incomplete": it carries
/// hints only and is never created in the destination.
///
/// Serialized as dlt's column dict (`{"name": …, "data_type": …, "nullable": …, hints}`);
/// hints dlt-rs does not act on are kept in [`Column::other`] and written back unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub data_type: Option<DataType>,
    pub nullable: bool,
    /// Whether the schema states `nullable` even when true: dlt writes it on every column it
    /// inferred from data, not on one a user declared without it (the stored document, and
    /// so the version hash, differs).
    pub nullable_stated: bool,
    pub unique: bool,
    pub primary_key: bool,
    pub merge_key: bool,
    pub row_key: bool,
    pub parent_key: bool,
    pub root_key: bool,
    pub hard_delete: bool,
    pub dedup_sort: Option<SortOrder>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub timezone: Option<bool>,
    pub variant: bool,
    /// scd2: the column holding the start of a record's validity (dlt's `x-valid-from`).
    pub valid_from: bool,
    /// scd2: the column holding the end of a record's validity (dlt's `x-valid-to`).
    pub valid_to: bool,
    /// scd2: the column holding the row version hash (dlt's `x-row-version`).
    pub row_version: bool,
    /// Hints dlt-rs keeps but does not act on (`description`, `partition`, `cluster`,
    /// `x-…`), as stored.
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Column {
    /// A nullable column of `data_type` without hints.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Column {
            name: name.into(),
            data_type: Some(data_type),
            nullable_stated: true,
            ..Column::incomplete("")
        }
    }

    /// A column that only carries hints (no data type yet).
    pub fn incomplete(name: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            data_type: None,
            nullable: true,
            nullable_stated: false,
            unique: false,
            primary_key: false,
            merge_key: false,
            row_key: false,
            parent_key: false,
            root_key: false,
            hard_delete: false,
            dedup_sort: None,
            precision: None,
            scale: None,
            timezone: None,
            variant: false,
            valid_from: false,
            valid_to: false,
            row_version: false,
            other: serde_json::Map::new(),
        }
    }

    /// Builder: not nullable.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self.nullable_stated = true;
        self
    }

    /// A column is complete when it has a data type; only complete columns reach the destination.
    pub fn is_complete(&self) -> bool {
        self.data_type.is_some()
    }

    /// Merges hints given by the user (a `columns` argument) into this column: every hint
    /// the other column sets wins; unset hints keep their current value.
    pub fn merge_hints(&mut self, other: &Column) {
        if other.data_type.is_some() {
            self.data_type = other.data_type;
        }
        self.nullable &= other.nullable;
        self.nullable_stated |= other.nullable_stated;
        self.unique |= other.unique;
        self.primary_key |= other.primary_key;
        self.merge_key |= other.merge_key;
        self.row_key |= other.row_key;
        self.parent_key |= other.parent_key;
        self.root_key |= other.root_key;
        self.hard_delete |= other.hard_delete;
        self.variant |= other.variant;
        if other.dedup_sort.is_some() {
            self.dedup_sort = other.dedup_sort;
        }
        if other.precision.is_some() {
            self.precision = other.precision;
        }
        if other.scale.is_some() {
            self.scale = other.scale;
        }
        if other.timezone.is_some() {
            self.timezone = other.timezone;
        }
        self.valid_from |= other.valid_from;
        self.valid_to |= other.valid_to;
        self.row_version |= other.row_version;
        for (k, v) in &other.other {
            self.other.insert(k.clone(), v.clone());
        }
    }
}

/// One table: its columns in schema order and table-level hints.
///
/// Serialized as dlt's table dict (`columns` keyed by name, `write_disposition` on root
/// tables, `x-normalizer`); keys dlt-rs does not act on are kept in [`TableSchema::other`].
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub name: String,
    /// Columns in dlt's schema order (declared first, then in order of first appearance).
    pub columns: Vec<Column>,
    /// `append`, `replace` or `merge` with its strategy (stored as dlt's `write_disposition`
    /// and `x-merge-strategy`; a replace strategy is configuration, not stored). Nested
    /// tables inherit their root's disposition.
    pub disposition: TableDisposition,
    /// Parent table of a nested table.
    pub parent: Option<String>,
    /// Name of the resource that produced a root table.
    pub resource: Option<String>,
    /// Whether the table has ever received a row (dlt's `x-normalizer.seen-data`).
    pub seen_data: bool,
    /// Per-resource `max_table_nesting` (dlt's `x-normalizer.max_nesting`).
    pub max_nesting: Option<u32>,
    /// scd2: the `valid_to` value of active records; `None` means NULL (dlt's
    /// `x-active-record-timestamp` on the `valid_to` column), as an ISO timestamp.
    pub active_record_timestamp: Option<String>,
    /// dlt's `schema_contract` of a root table (nested tables inherit it), as given.
    pub schema_contract: Option<SchemaContract>,
    /// A new table under a contract that does not let columns evolve: the columns of its
    /// first package may (dlt's `x-normalizer.evolve-columns-once`, dropped once the table
    /// has data).
    pub evolve_columns_once: bool,
    /// Table keys dlt-rs keeps but does not act on (`description`, `file_format`,
    /// `table_format`, `x-…`), as stored.
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl TableSchema {
    /// An empty root table with `append` disposition.
    pub fn new(name: impl Into<String>) -> Self {
        TableSchema {
            name: name.into(),
            columns: Vec::new(),
            disposition: TableDisposition::Append,
            parent: None,
            resource: None,
            seen_data: false,
            max_nesting: None,
            active_record_timestamp: None,
            schema_contract: None,
            evolve_columns_once: false,
            other: serde_json::Map::new(),
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Columns that have a data type, in schema order.
    pub fn complete_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| c.is_complete())
    }

    /// dlt system tables (`_dlt_loads`, `_dlt_version`, `_dlt_pipeline_state`).
    pub fn is_system(&self) -> bool {
        self.name.starts_with("_dlt")
    }
}

/// `_dlt_version`: one row per stored schema version.
pub const VERSION_TABLE: &str = "_dlt_version";
/// `_dlt_loads`: one row per completed load.
pub const LOADS_TABLE: &str = "_dlt_loads";
/// `_dlt_pipeline_state`: the pipeline state, one row per load that changed it.
pub const STATE_TABLE: &str = "_dlt_pipeline_state";

fn sys(name: &str, ty: DataType, nullable: bool, description: &str) -> Column {
    let mut c = Column::new(name, ty);
    c.nullable = nullable;
    c.other.insert("description".into(), description.into());
    c
}

fn sys_table(name: &str, description: Option<&str>, columns: Vec<Column>) -> TableSchema {
    let mut t = TableSchema::new(name);
    t.columns = columns;
    t.disposition = TableDisposition::Skip;
    t.resource = Some(name.to_string());
    if let Some(d) = description {
        t.other.insert("description".into(), d.into());
    }
    t
}

/// dlt's `_dlt_version` table.
pub fn version_table() -> TableSchema {
    sys_table(
        VERSION_TABLE,
        Some("Created by DLT. Tracks schema updates"),
        vec![
            sys(
                "version",
                DataType::Bigint,
                false,
                "Numeric version of the schema, incremented on each schema change",
            ),
            sys(
                "engine_version",
                DataType::Bigint,
                false,
                "Version of the dlt schema engine that created this schema",
            ),
            sys(
                "inserted_at",
                DataType::Timestamp,
                false,
                "Timestamp when this schema version was stored",
            ),
            sys("schema_name", DataType::Text, false, "Name of the schema"),
            sys(
                "version_hash",
                DataType::Text,
                false,
                "Unique hash of the schema content, used to detect changes",
            ),
            sys(
                "schema",
                DataType::Text,
                false,
                "JSON representation of the complete schema definition",
            ),
        ],
    )
}

/// dlt's `_dlt_loads` table.
pub fn loads_table() -> TableSchema {
    let mut load_id = sys(
        "load_id",
        DataType::Text,
        false,
        "Unique identifier of the load operation",
    );
    load_id.precision = Some(64);
    sys_table(
        LOADS_TABLE,
        Some("Created by DLT. Tracks completed loads"),
        vec![
            load_id,
            sys(
                "schema_name",
                DataType::Text,
                true,
                "Name of the schema associated with this load",
            ),
            sys(
                "status",
                DataType::Bigint,
                false,
                "Status of the load operation (0 = success)",
            ),
            sys(
                "inserted_at",
                DataType::Timestamp,
                false,
                "Timestamp when the load was completed",
            ),
            sys(
                "schema_version_hash",
                DataType::Text,
                true,
                "Hash of the schema version used during this load",
            ),
        ],
    )
}

/// dlt's `_dlt_pipeline_state` table (an append table loaded like user data).
pub fn state_table() -> TableSchema {
    let mut load_id = sys(
        "_dlt_load_id",
        DataType::Text,
        false,
        "Load identifier linking this row to its load operation",
    );
    load_id.precision = Some(64);
    let mut id = Column::new("_dlt_id", DataType::Text).not_null();
    id.unique = true;
    id.row_key = true;
    let mut t = sys_table(
        STATE_TABLE,
        None,
        vec![
            sys(
                "version",
                DataType::Bigint,
                false,
                "Numeric version of the pipeline state",
            ),
            sys(
                "engine_version",
                DataType::Bigint,
                false,
                "Version of the dlt state engine",
            ),
            sys(
                "pipeline_name",
                DataType::Text,
                false,
                "Name of the pipeline this state belongs to",
            ),
            sys(
                "state",
                DataType::Text,
                false,
                "Compressed JSON representation of the pipeline state",
            ),
            sys(
                "created_at",
                DataType::Timestamp,
                false,
                "Timestamp when this state was created",
            ),
            sys(
                "version_hash",
                DataType::Text,
                true,
                "Hash of the state content, used to detect changes",
            ),
            load_id,
            id,
        ],
    );
    t.disposition = TableDisposition::Append;
    t.other.insert("file_format".into(), "preferred".into());
    t
}

/// A schema: named, versioned set of tables.
///
/// Serialized as dlt's stored schema (engine version 11: `tables` and their `columns` keyed
/// by name, `settings`, `normalizers`, `previous_hashes`), the document dlt writes into
/// `_dlt_version.schema` and `schemas/<name>.schema.json`; dlt-rs' earlier shape (tables and
/// columns as arrays) is still read.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    pub version: i64,
    pub version_hash: String,
    pub engine_version: i64,
    pub previous_hashes: Vec<String>,
    /// The version hash of the import schema file this schema was last taken from (dlt's
    /// `imported_version_hash`): a changed file is imported again.
    pub imported_version_hash: Option<String>,
    /// Tables in creation order; parents come before their nested tables.
    pub tables: Vec<TableSchema>,
    /// dlt's `settings` (`detections`, `default_hints`, `schema_contract`, …), as stored.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// dlt's `normalizers` (`names`, `json` with its root key propagation), as stored.
    pub normalizers: serde_json::Map<String, serde_json::Value>,
}

impl Schema {
    pub fn new(name: impl Into<String>) -> Self {
        let mut s = Schema {
            name: name.into(),
            version: 1,
            version_hash: String::new(),
            engine_version: ENGINE_VERSION,
            previous_hashes: Vec::new(),
            imported_version_hash: None,
            tables: vec![version_table(), loads_table(), state_table()],
            settings: crate::stored::default_settings(),
            normalizers: crate::stored::default_normalizers(),
        };
        s.version_hash = s.content_hash();
        s
    }

    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.tables.iter().find(|t| t.name == name)
    }

    pub fn table_mut(&mut self, name: &str) -> Option<&mut TableSchema> {
        self.tables.iter_mut().find(|t| t.name == name)
    }

    /// The schema-wide contract (dlt's `settings.schema_contract`).
    pub fn schema_contract(&self) -> Result<Option<SchemaContract>, ContractError> {
        self.settings
            .get("schema_contract")
            .map(SchemaContract::from_json)
            .transpose()
    }

    /// Sets (or with `None` removes) the schema-wide contract.
    pub fn set_schema_contract(&mut self, contract: Option<&SchemaContract>) {
        match contract {
            Some(c) => {
                self.settings.insert("schema_contract".into(), c.to_json());
            }
            None => {
                self.settings.shift_remove("schema_contract");
            }
        }
    }

    /// The contract that rules table `name` (dlt's `resolve_contract_settings_for_table`):
    /// the nearest one set on the table or its parents, else the schema's; dlt's own tables
    /// always evolve. A nested table not in the schema yet is asked for by its parent.
    pub fn contract_for(&self, name: &str) -> Result<ContractModes, ContractError> {
        if name.starts_with("_dlt") {
            return Ok(ContractModes::default());
        }
        let mut at = self.table(name);
        while let Some(t) = at {
            if let Some(c) = &t.schema_contract {
                return Ok(c.modes());
            }
            at = t.parent.as_deref().and_then(|p| self.table(p));
        }
        Ok(self
            .schema_contract()?
            .map(|c| c.modes())
            .unwrap_or_default())
    }

    /// dlt's `is_new_table`: not in the schema, or only hinted columns (none with a type).
    pub fn is_new_table(&self, name: &str) -> bool {
        self.table(name)
            .is_none_or(|t| !t.columns.iter().any(Column::is_complete))
    }

    /// The root table of `name` (itself for a root table).
    pub fn root_of<'a>(&'a self, name: &'a str) -> &'a str {
        let mut cur = name;
        while let Some(p) = self.table(cur).and_then(|t| t.parent.as_deref()) {
            cur = p;
        }
        cur
    }

    /// `root` and every table below it, parents before children (a table chain).
    pub fn chain(&self, root: &str) -> Vec<&TableSchema> {
        self.tables
            .iter()
            .filter(|t| !t.is_system() && self.root_of(&t.name) == root)
            .collect()
    }

    /// dlt's version hash of the schema content (the stored document without its version
    /// fields; see [`crate::stored`]).
    pub fn content_hash(&self) -> String {
        crate::stored::version_hash(self)
    }

    /// Recomputes the hash and bumps the version when the content changed. Returns true on change.
    pub fn bump_version(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        if !self.version_hash.is_empty() {
            self.previous_hashes
                .insert(0, std::mem::take(&mut self.version_hash));
            self.previous_hashes.truncate(10);
            self.version += 1;
        }
        self.version_hash = hash;
        true
    }
}

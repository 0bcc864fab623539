//! dlt's relational normalizer: one JSON item in, rows of the root table and its nested
//! tables out, with the schema evolved on the way.

use std::collections::{BTreeSet, HashMap, HashSet};

use rustc_hash::FxHashMap;
use std::sync::Arc;

use dest_core::{
    Column, ContractEntity, ContractError, ContractMode, ContractModes, DataType, RowIdKind,
    Schema, SchemaContract, TableSchema, Value, WriteDisposition, STATE_TABLE,
};
use serde_json::Value as Json;

use crate::coerce::{coerce, infer_type, value_type};
use crate::ids::{key_hash_row_id, nested_row_id, row_hash_row_id, RowIdSequence};
use crate::item::{to_map, Entries, Item};
use crate::naming::{Naming, NamingError};

/// `_dlt_id`: the row key of every row.
pub(crate) const C_DLT_ID: &str = "_dlt_id";
/// `_dlt_load_id`: the load a root row arrived with.
pub(crate) const C_DLT_LOAD_ID: &str = "_dlt_load_id";
/// `_dlt_parent_id`: the `_dlt_id` of a nested row's parent.
pub(crate) const C_DLT_PARENT_ID: &str = "_dlt_parent_id";
/// `_dlt_list_idx`: position of a nested row in its list.
pub(crate) const C_DLT_LIST_IDX: &str = "_dlt_list_idx";
/// `_dlt_root_id`: the `_dlt_id` of a nested row's root row (merge only).
pub(crate) const C_DLT_ROOT_ID: &str = "_dlt_root_id";

/// dlt's default nesting limit.
const DEFAULT_MAX_NESTING: u32 = 1000;

/// Errors of normalization. Each names the table and column it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NormalizeError {
    #[error("table `{table}`: column `{column}` is not nullable but the item has no value for it")]
    NullInNotNull { table: String, column: String },

    #[error("table `{table}`: a {value_type} value cannot be stored in column `{column}` nor in its variant column `{variant}`")]
    CannotCoerce {
        table: String,
        column: String,
        variant: String,
        value_type: DataType,
    },

    #[error(
        "table `{table}`: column `{column}` is a {what} but no item of this load has a value \
         for it, so it cannot be created (check the name against the data: hints name columns \
         as they are in the data); nothing of this run was loaded"
    )]
    UnboundColumn {
        table: String,
        column: String,
        /// `primary key`, `merge key` or `non-nullable column`.
        what: &'static str,
    },

    #[error(transparent)]
    Naming(#[from] NamingError),

    #[error("unknown table `{0}` (normalize hints were not applied)")]
    UnknownTable(String),

    #[error("table `{table}`: Arrow columns `{first}` and `{second}` both become column `{column}`; rename one of them")]
    ColumnCollision {
        table: String,
        column: String,
        first: String,
        second: String,
    },

    #[error(
        "table `{}`: {} violates the schema contract ({}: freeze){}; nothing of this package \
         was loaded",
        .0.table, .0.what, .0.entity, .0.value_text()
    )]
    ContractViolation(ContractViolation),

    #[error(transparent)]
    Contract(#[from] ContractError),

    #[error("{0}")]
    Sink(Box<dyn std::error::Error + Send + Sync>),
}

/// A normalized row: values by index into its table's [`TableSchema::columns`]. Columns
/// without a value are NULL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub values: Vec<(usize, Value)>,
}

impl Row {
    fn set(&mut self, idx: usize, value: Value) {
        // keys that normalize to the same name collide: the later one wins, as in dlt
        if let Some(slot) = self.values.iter_mut().find(|(i, _)| *i == idx) {
            slot.1 = value;
        } else {
            self.values.push((idx, value));
        }
    }
}

/// Receives normalized rows, parents before their nested rows.
pub trait RowSink {
    /// `table` is the row's table as it is now (its columns include every index in `row`).
    fn row(
        &mut self,
        table: &TableSchema,
        row: Row,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// dlt's resource hints for one root table.
#[derive(Debug, Clone)]
pub struct ResourceHints {
    /// Table name as the user gave it; normalized with the naming convention.
    pub table_name: String,
    pub disposition: Arc<dyn WriteDisposition>,
    pub primary_key: Vec<String>,
    pub merge_key: Vec<String>,
    /// Column hints with names as the user gave them.
    pub columns: Vec<Column>,
    pub max_table_nesting: Option<u32>,
    /// dlt's `schema_contract` of the resource (kept with its root table).
    pub schema_contract: Option<SchemaContract>,
    /// dlt's `table_name` function as a field: each item's root table is the value of this
    /// top-level field (`table_name` is then the resource's name, the tables' `resource`).
    pub table_name_from: Option<String>,
    /// The resource's name when it is not `table_name` (a table named by an item).
    pub resource: Option<String>,
    /// dlt's `nested_hints`: hints for nested tables of the root.
    pub nested: Vec<NestedHints>,
}

/// dlt's `nested_hints` for one nested table of a resource: its column hints and its
/// contract (the nested tables below it follow that one).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NestedHints {
    /// The path below the root table as the data names it (`["items"]`,
    /// `["items", "parts"]`).
    pub path: Vec<String>,
    /// Column hints, names as in the data.
    #[serde(default)]
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<SchemaContract>,
}

impl ResourceHints {
    /// Append into `table_name`, no other hints.
    pub fn new(table_name: impl Into<String>) -> Self {
        ResourceHints {
            table_name: table_name.into(),
            disposition: Arc::new(dest_core::Append),
            primary_key: Vec::new(),
            merge_key: Vec::new(),
            columns: Vec::new(),
            max_table_nesting: None,
            schema_contract: None,
            table_name_from: None,
            resource: None,
            nested: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct RootSettings {
    row_id: RowIdKind,
    propagate_root_key: bool,
    max_nesting: u32,
}

/// Where a table sits: its name fragments from the root (for name shortening).
type Fragments = Vec<String>;

/// Normalizes items into rows, evolving a schema.
#[derive(Debug)]
pub struct Normalizer {
    schema: Schema,
    load_id: String,
    max_len: usize,
    /// The schema's naming convention (its `normalizers.names`).
    naming: Naming,
    roots: HashMap<String, RootSettings>,
    /// raw key -> normalized name (keys repeat in every item; hashed with Fx, not SipHash:
    /// these are not attacker-sensitive lookups)
    key_cache: FxHashMap<String, (Arc<str>, bool)>,
    /// normalized key path -> column name (`make_path` of the fragments), for keys of
    /// nested objects
    path_cache: FxHashMap<Box<[Arc<str>]>, Arc<str>>,
    /// Where each column of a table is, so a value finds its column of a wide table without
    /// scanning it.
    columns: ColumnIndex,
    changed: bool,
    /// The item being flattened has a key that may collide with another one: renamed by
    /// normalization, or holding the `__` separator.
    suspect_keys: bool,
    /// Columns that two keys of one item normalized to (the last value won), not yet
    /// taken by [`Normalizer::take_collisions`].
    collisions: BTreeSet<KeyCollision>,
    /// Random ids of root rows, neighbouring from row to row (see [`RowIdSequence`]).
    row_ids: RowIdSequence,
    /// Some table may be under a contract that is not all `evolve`.
    contracts_active: bool,
    /// The contract of each table, resolved when first needed (dlt caches them per
    /// normalize run too).
    contracts: FxHashMap<String, ContractModes>,
    /// New tables a `discard_*` contract keeps out: their rows are left out.
    filtered_tables: HashMap<String, ContractMode>,
    /// Root tables whose hints a `freeze` contract refuses: their first item fails.
    blocked_roots: HashMap<String, ContractViolation>,
    /// What discarding contracts left out, by table, entity and name.
    discards: std::collections::BTreeMap<(String, ContractEntity, String), (ContractMode, u64)>,
}

/// Two keys of one item that became the same column (`"A b"` and `"a_b"`, or `{"a": {"b"}}`
/// and `"a__b"`): the last value is kept, as dlt does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyCollision {
    pub table: String,
    pub column: String,
}

/// At most this many collisions are kept between two [`Normalizer::take_collisions`].
const MAX_COLLISIONS: usize = 100;

impl Normalizer {
    /// `max_identifier_length` comes from the destination's capabilities.
    pub fn new(schema: Schema, load_id: impl Into<String>, max_identifier_length: usize) -> Self {
        // a schema of a convention dlt-rs does not know is refused before (the pipeline
        // checks [`Naming::of_schema`])
        let naming = Naming::of_schema(&schema).unwrap_or_default();
        Normalizer {
            schema,
            load_id: load_id.into(),
            max_len: max_identifier_length,
            naming,
            roots: HashMap::new(),
            key_cache: FxHashMap::default(),
            path_cache: FxHashMap::default(),
            columns: ColumnIndex::default(),
            changed: false,
            suspect_keys: false,
            collisions: BTreeSet::new(),
            row_ids: RowIdSequence::new(),
            contracts_active: false,
            contracts: FxHashMap::default(),
            filtered_tables: HashMap::new(),
            blocked_roots: HashMap::new(),
            discards: std::collections::BTreeMap::new(),
        }
    }

    /// The naming convention the names are made with.
    pub fn naming(&self) -> Naming {
        self.naming
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn into_schema(self) -> Schema {
        self.schema
    }

    /// The columns two keys of one item normalized to since the last call (the last value
    /// was kept), for the caller to warn about.
    pub fn take_collisions(&mut self) -> Vec<KeyCollision> {
        std::mem::take(&mut self.collisions).into_iter().collect()
    }

    /// Whether the schema changed (tables, columns or hints) since this normalizer began.
    pub fn schema_changed(&self) -> bool {
        self.changed
    }

    /// Normalizes a table name as given by a user (dlt normalizes it as a path).
    pub fn table_name(&self, name: &str) -> Result<String, NormalizeError> {
        Ok(self.naming.normalize_path(name, self.max_len)?)
    }

    /// Applies a resource's hints to its root table (creating it in the schema if needed)
    /// and returns the normalized root table name.
    pub fn apply_hints(&mut self, hints: &ResourceHints) -> Result<String, NormalizeError> {
        let name = self.table_name(&hints.table_name)?;
        let max_len = self.max_len;
        let naming = self.naming;
        let mut declared = Vec::with_capacity(hints.columns.len());
        for c in &hints.columns {
            let mut c = c.clone();
            c.name = naming.normalize_path(&c.name, max_len)?;
            declared.push(c);
        }
        let mut pk = hints
            .primary_key
            .iter()
            .map(|k| naming.normalize_path(k, max_len))
            .collect::<Result<Vec<_>, _>>()?;
        let mut mk = hints
            .merge_key
            .iter()
            .map(|k| naming.normalize_path(k, max_len))
            .collect::<Result<Vec<_>, _>>()?;
        for c in &declared {
            if c.primary_key && !pk.contains(&c.name) {
                pk.push(c.name.clone());
            }
            if c.merge_key && !mk.contains(&c.name) {
                mk.push(c.name.clone());
            }
        }

        let before = self.schema.table(&name).cloned();
        // the contract: the resource's, else the one the table or the schema has
        self.contracts.clear();
        let modes = match &hints.schema_contract {
            Some(c) => c.modes(),
            None => self.schema.contract_for(&name)?,
        };
        let is_new = self.schema.is_new_table(&name);
        if !modes.evolves() || hints.schema_contract.is_some() {
            self.contracts_active = true;
            if is_new && modes.tables != ContractMode::Evolve {
                // dlt checks at extract: the table is not made; `freeze` fails on the
                // first item (a resource without items fails nothing)
                if modes.tables == ContractMode::Freeze {
                    let v = ContractViolation::new(
                        &name,
                        "new table".into(),
                        ContractEntity::Tables,
                        None,
                    );
                    self.blocked_roots.insert(name.clone(), v);
                } else {
                    self.filtered_tables.insert(name.clone(), modes.tables);
                }
                return Ok(name);
            }
            let evolve_once = before.as_ref().is_some_and(|t| t.evolve_columns_once);
            if !is_new && !evolve_once {
                self.contract_hints(
                    &name,
                    before.as_ref(),
                    modes,
                    &mut declared,
                    &mut pk,
                    &mut mk,
                );
            }
        }
        if before.is_none() {
            // dlt adds its state table after the root tables of the first extract: a new
            // root table goes before a state table that never had a row
            self.schema.tables.push(TableSchema::new(name.clone()));
            self.before_unseen_state(&name);
        }
        let table = table_of_mut(&mut self.schema, &name)?;
        table.disposition = hints.disposition.disposition();
        table.resource = Some(
            hints
                .resource
                .clone()
                .unwrap_or_else(|| hints.table_name.clone()),
        );
        if let Some(c) = &hints.schema_contract {
            table.schema_contract = Some(c.clone());
        }
        if is_new && modes.columns != ContractMode::Evolve {
            table.evolve_columns_once = true;
        }
        table.max_nesting = hints.max_table_nesting;
        for c in declared {
            match table.column_mut(&c.name) {
                Some(existing) => existing.merge_hints(&c),
                None => table.columns.push(c),
            }
        }
        // primary and merge keys are compound hints, as in dlt: keys the resource declares
        // replace the table's as a whole; a resource that declares none keeps the table's
        // (those of a stored schema, say dlt's)
        for c in table.columns.iter_mut() {
            if !pk.is_empty() {
                c.primary_key = pk.contains(&c.name);
            }
            if !mk.is_empty() {
                c.merge_key = mk.contains(&c.name);
            }
        }
        for key in pk.iter().chain(mk.iter()) {
            if table.column(key).is_none() {
                table.columns.push(Column::incomplete(key.clone()));
            }
            if let Some(c) = table.column_mut(key) {
                c.nullable = false;
                if pk.contains(key) {
                    c.primary_key = true;
                }
                if mk.contains(key) {
                    c.merge_key = true;
                }
            }
        }
        if let Some(opts) = hints.disposition.scd2() {
            // validity columns first, as dlt places them; staging rows leave them NULL
            let from = naming.normalize_path(&opts.valid_from, max_len)?;
            let to = naming.normalize_path(&opts.valid_to, max_len)?;
            for (pos, (name, is_from)) in [(from, true), (to, false)].into_iter().enumerate() {
                if table.column(&name).is_none() {
                    let at = pos.min(table.columns.len());
                    table
                        .columns
                        .insert(at, Column::new(name.clone(), DataType::Timestamp));
                }
                if let Some(c) = table.column_mut(&name) {
                    c.valid_from = is_from;
                    c.valid_to = !is_from;
                }
            }
            table.active_record_timestamp = opts.active_record_timestamp.clone();
        }
        let after = table.clone();
        // nested tables follow their root's disposition
        let disposition = after.disposition;
        let nested: Vec<String> = self
            .schema
            .chain(&name)
            .iter()
            .skip(1)
            .map(|t| t.name.clone())
            .collect();
        for n in nested {
            if let Some(t) = self.schema.table_mut(&n) {
                if t.disposition != disposition {
                    t.disposition = disposition;
                    self.changed = true;
                }
            }
        }
        if before.as_ref() != Some(&after) {
            self.changed = true;
        }
        self.apply_nested_hints(&name, &hints.nested)?;
        // a nested table may have a contract of its own (nested hints, a stored schema)
        self.contracts_active |= self
            .schema
            .tables
            .iter()
            .any(|t| t.schema_contract.is_some());
        self.roots.insert(
            name.clone(),
            RootSettings {
                row_id: hints.disposition.row_id(),
                propagate_root_key: hints.disposition.propagates_root_key(),
                max_nesting: hints.max_table_nesting.unwrap_or(DEFAULT_MAX_NESTING),
            },
        );
        Ok(name)
    }

    /// Adds the columns of Arrow data (dlt's columns of its fields, named as in the data) to
    /// root table `root` (a name returned by [`Self::apply_hints`]), with `_dlt_load_id`
    /// and `_dlt_id` when asked to (always for scd2, where it is the row version hash the
    /// caller computes); marks the table as having data. Returns the table's
    /// column each given column loads into, then the added system columns: a column the
    /// table already has keeps its type (the data is cast to it); a hinted column without a
    /// type takes the data's.
    pub fn arrow_columns(
        &mut self,
        root: &str,
        columns: &[Column],
        add_load_id: bool,
        add_row_id: bool,
    ) -> Result<Vec<Column>, NormalizeError> {
        let max_len = self.max_len;
        let mut names: HashMap<String, &str> = HashMap::with_capacity(columns.len());
        let mut out = Vec::with_capacity(columns.len() + 2);
        let mut wanted: Vec<Column> = Vec::with_capacity(columns.len() + 2);
        for c in columns {
            let name = self.naming.normalize_key(&c.name, max_len);
            if let Some(first) = names.insert(name.clone(), &c.name) {
                return Err(NormalizeError::ColumnCollision {
                    table: root.to_string(),
                    column: name,
                    first: first.to_string(),
                    second: c.name.clone(),
                });
            }
            let mut c = c.clone();
            c.name = name;
            wanted.push(c);
        }
        if add_load_id {
            wanted.push(system_column(C_DLT_LOAD_ID, DataType::Text));
        }
        // scd2: `_dlt_id` is the row version hash (made by the caller from the row's values)
        let row_hash = self
            .roots
            .get(root)
            .is_some_and(|s| s.row_id == RowIdKind::RowHash);
        if add_row_id || row_hash {
            let mut c = system_column(C_DLT_ID, DataType::Text);
            if row_hash {
                c.unique = false;
                c.row_key = false;
                c.row_version = true;
            }
            wanted.push(c);
        }
        let table = table_of_mut(&mut self.schema, root)?;
        // a column new to a table that has columns already holds NULL in the rows before
        // (a table with only hinted columns and no data yet has no rows before)
        let had_columns = table.seen_data && table.columns.iter().any(|c| c.is_complete());
        let mut changed = !table.seen_data;
        table.seen_data = true;
        for mut c in wanted {
            if had_columns && table.column(&c.name).is_none() {
                c.nullable = true;
            }
            let position = table.column_index(&c.name);
            match table.column_mut(&c.name) {
                Some(existing) if existing.data_type.is_none() && c.data_type.is_some() => {
                    existing.data_type = c.data_type;
                    existing.precision = existing.precision.or(c.precision);
                    existing.scale = existing.scale.or(c.scale);
                    changed = true;
                    out.push(existing.clone());
                    // as dlt's `merge_columns`: a hint-only column that becomes complete
                    // moves after the columns before it
                    if let Some(i) = position {
                        let moved = table.columns.remove(i);
                        table.columns.push(moved);
                    }
                }
                Some(existing) => {
                    if c.row_version
                        && (existing.unique || existing.row_key || !existing.row_version)
                    {
                        existing.unique = false;
                        existing.row_key = false;
                        existing.row_version = true;
                        changed = true;
                    }
                    out.push(existing.clone())
                }
                None => {
                    changed = true;
                    table.columns.push(c.clone());
                    out.push(c);
                }
            }
        }
        self.changed |= changed;
        Ok(out)
    }

    /// Normalizes one item of root table `root` (a name returned by [`Self::apply_hints`]).
    pub fn normalize_item(
        &mut self,
        root: &str,
        item: impl Into<Item>,
        sink: &mut dyn RowSink,
    ) -> Result<(), NormalizeError> {
        if let Some(v) = self.blocked_roots.get(root) {
            return Err(NormalizeError::ContractViolation(v.clone()));
        }
        if let Some(&mode) = self.filtered_tables.get(root) {
            self.note_discard(root, ContractEntity::Tables, root, mode, 1);
            return Ok(());
        }
        let settings = self
            .roots
            .get(root)
            .cloned()
            .ok_or_else(|| NormalizeError::UnknownTable(root.to_string()))?;
        let map = match item.into() {
            Item::Object(m) => m,
            other => vec![("value".into(), other)],
        };
        let own_id = map.iter().find_map(|(k, v)| match v {
            Item::String(s) if k == C_DLT_ID && !s.is_empty() => Some(s.clone()),
            _ => None,
        });
        let row_hash = match (&own_id, settings.row_id) {
            (None, RowIdKind::RowHash) => Some(row_hash_row_id(&to_map(&map))),
            _ => None,
        };
        let fragments = vec![root.to_string()];
        let ctx = RowCtx {
            settings: &settings,
            root_id: None,
        };
        self.normalize_row(
            root,
            &fragments,
            map,
            0,
            None,
            own_id.or(row_hash),
            &ctx,
            sink,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn normalize_row(
        &mut self,
        table: &str,
        fragments: &Fragments,
        map: Entries,
        level: u32,
        parent: Option<(&str, usize)>,
        given_id: Option<String>,
        ctx: &RowCtx<'_>,
        sink: &mut dyn RowSink,
    ) -> Result<(), NormalizeError> {
        let mut scalars: Vec<(Arc<str>, Item)> = Vec::with_capacity(map.len());
        let mut lists: Vec<(String, Vec<Item>)> = Vec::new();
        self.flatten(
            table,
            map,
            level,
            ctx.settings.max_nesting,
            &mut Vec::new(),
            &mut scalars,
            &mut lists,
        );
        if std::mem::take(&mut self.suspect_keys) {
            self.note_collisions(table, &scalars, &lists);
        }
        if self.contracts_active {
            let modes = self.contract(table, None)?;
            if !modes.evolves() {
                if let Admit::Discard = self.admit_row(table, modes, &mut scalars)? {
                    return Ok(());
                }
            }
        }

        let row_id = match (parent, given_id) {
            (_, Some(id)) => id,
            (Some((parent_id, idx)), None) => nested_row_id(parent_id, table, idx),
            (None, None) => match ctx.settings.row_id {
                RowIdKind::KeyHash => {
                    let t = table_of(&self.schema, table)?;
                    let keys: Vec<(&str, Json)> = t
                        .columns
                        .iter()
                        .filter(|c| c.primary_key)
                        .filter_map(|c| {
                            scalars
                                .iter()
                                .rev()
                                .find(|(n, _)| **n == *c.name)
                                .map(|(n, v)| (&**n, v.to_json()))
                        })
                        .collect();
                    let keys: Vec<(&str, &Json)> = keys.iter().map(|(n, v)| (*n, v)).collect();
                    key_hash_row_id(&keys)
                }
                _ => self.row_ids.next_id(),
            },
        };

        let mut row = Row::default();
        for (name, value) in scalars {
            self.put(table, &name, value, &mut row)?;
        }
        let is_root = parent.is_none();
        let propagate = !is_root
            && (ctx.settings.propagate_root_key
                || self
                    .schema
                    .table(table)
                    .is_some_and(|t| t.columns.iter().any(|c| c.root_key)));
        if is_root {
            let load_id = Value::Text(self.load_id.clone());
            self.put_system(table, C_DLT_LOAD_ID, DataType::Text, load_id, &mut row)?;
        } else {
            if propagate {
                let root_id = ctx.root_id.unwrap_or(row_id.as_str()).to_string();
                self.put_system(
                    table,
                    C_DLT_ROOT_ID,
                    DataType::Text,
                    Value::Text(root_id),
                    &mut row,
                )?;
            }
            if let Some((parent_id, idx)) = parent {
                let pid = Value::Text(parent_id.to_string());
                self.put_system(table, C_DLT_PARENT_ID, DataType::Text, pid, &mut row)?;
                let idx = Value::Int(i64::try_from(idx).unwrap_or(i64::MAX));
                self.put_system(table, C_DLT_LIST_IDX, DataType::Bigint, idx, &mut row)?;
            }
        }
        self.put_system(
            table,
            C_DLT_ID,
            DataType::Text,
            Value::Text(row_id.clone()),
            &mut row,
        )?;
        if is_root && ctx.settings.row_id == RowIdKind::RowHash {
            // scd2: the root's `_dlt_id` is the row version hash, repeated by versions
            if let Some(c) = table_of_mut(&mut self.schema, table)?.column_mut(C_DLT_ID) {
                if c.unique || c.row_key || !c.row_version {
                    c.unique = false;
                    c.row_key = false;
                    c.row_version = true;
                    self.changed = true;
                }
            }
        }

        {
            let t = table_of_mut(&mut self.schema, table)?;
            if !t.seen_data {
                t.seen_data = true;
                self.changed = true;
            }
            check_not_null(t, &row)?;
        }
        let t = table_of(&self.schema, table)?;
        sink.row(t, row).map_err(NormalizeError::Sink)?;

        let child_root_id = ctx.root_id.unwrap_or(row_id.as_str()).to_string();
        for (key, elements) in lists {
            let mut child_fragments = fragments.clone();
            child_fragments.extend(key.split(self.naming.separator()).map(str::to_string));
            let refs: Vec<&str> = child_fragments.iter().map(String::as_str).collect();
            let child = self.naming.make_path(&refs, self.max_len);
            if self.contracts_active {
                if let Admit::Discard = self.admit_table(&child, table, &elements)? {
                    continue;
                }
            }
            self.ensure_nested_table(&child, table);
            let child_ctx = RowCtx {
                settings: ctx.settings,
                root_id: Some(&child_root_id),
            };
            for (idx, element) in elements.into_iter().enumerate() {
                let map = match element {
                    Item::Object(m) => m,
                    Item::Array(inner) => vec![("list".into(), Item::Array(inner))],
                    scalar => vec![("value".into(), scalar)],
                };
                self.normalize_row(
                    &child,
                    &child_fragments,
                    map,
                    level + 1,
                    Some((&row_id, idx)),
                    None,
                    &child_ctx,
                    sink,
                )?;
            }
        }
        Ok(())
    }

    /// Splits a dict into column values (nested dicts flattened with `__`) and lists that
    /// become nested tables. Scalars of a dict come first, then its nested dicts, the last
    /// one first, as dlt's stack-based flattening does.
    #[allow(clippy::too_many_arguments)]
    fn flatten(
        &mut self,
        table: &str,
        map: Entries,
        level: u32,
        max_nesting: u32,
        path: &mut Vec<Arc<str>>,
        scalars: &mut Vec<(Arc<str>, Item)>,
        lists: &mut Vec<(String, Vec<Item>)>,
    ) {
        let mut dicts: Vec<(Arc<str>, Entries)> = Vec::new();
        for (k, v) in map {
            if path.is_empty() && k == C_DLT_ID {
                continue;
            }
            let (norm, suspect) = self.key(&k);
            self.suspect_keys |= suspect;
            let col_name: Arc<str> = if path.is_empty() {
                norm.clone()
            } else {
                path.push(norm.clone());
                let name = self.path_name(path);
                path.pop();
                name
            };
            match v {
                Item::Object(_) | Item::Array(_)
                    if self.keep_whole(table, &col_name, level, max_nesting) =>
                {
                    scalars.push((col_name, v));
                }
                Item::Object(m) => {
                    if !m.is_empty() {
                        dicts.push((norm, m));
                    }
                }
                Item::Array(items) => {
                    if !items.is_empty() {
                        let mut frags: Vec<&str> = path.iter().map(|p| &**p).collect();
                        frags.push(&norm);
                        lists.push((frags.join(self.naming.separator()), items));
                    }
                }
                scalar => scalars.push((col_name, scalar)),
            }
        }
        for (norm, m) in dicts.into_iter().rev() {
            path.push(norm);
            self.flatten(table, m, level + 1, max_nesting, path, scalars, lists);
            path.pop();
        }
    }

    /// A dict or list is kept whole (a `json` column) below the nesting limit or when its
    /// column is typed `json`.
    fn keep_whole(&mut self, table: &str, column: &str, level: u32, max_nesting: u32) -> bool {
        if level + 1 > max_nesting {
            return true;
        }
        self.schema.table(table).is_some_and(|t| {
            self.columns
                .find(t, column)
                .is_some_and(|i| t.columns[i].data_type == Some(DataType::Json))
        })
    }

    /// The column name of the normalized key path `path`.
    fn path_name(&mut self, path: &[Arc<str>]) -> Arc<str> {
        if let Some(n) = self.path_cache.get(path) {
            return n.clone();
        }
        let frags: Vec<&str> = path.iter().map(|p| &**p).collect();
        let n: Arc<str> = self.naming.make_path(&frags, self.max_len).into();
        if self.path_cache.len() < 100_000 {
            self.path_cache.insert(path.into(), n.clone());
        }
        n
    }

    /// The normalized key, and whether it may collide with another key of its item.
    fn key(&mut self, raw: &str) -> (Arc<str>, bool) {
        if let Some(n) = self.key_cache.get(raw) {
            return n.clone();
        }
        let n: Arc<str> = self.naming.normalize_key(raw, self.max_len).into();
        let suspect = *n != *raw || raw.contains(self.naming.separator());
        if self.key_cache.len() < 100_000 {
            self.key_cache.insert(raw.to_string(), (n.clone(), suspect));
        }
        (n, suspect)
    }

    /// Records the columns and nested tables that several keys of one item became.
    fn note_collisions(
        &mut self,
        table: &str,
        scalars: &[(Arc<str>, Item)],
        lists: &[(String, Vec<Item>)],
    ) {
        let columns = duplicates(scalars.iter().map(|(n, _)| &**n));
        let nested = duplicates(lists.iter().map(|(n, _)| n.as_str()));
        for name in columns.into_iter().chain(nested) {
            if self.collisions.len() < MAX_COLLISIONS {
                self.collisions.insert(KeyCollision {
                    table: table.to_string(),
                    column: name.to_string(),
                });
            }
        }
    }

    /// dlt's `nested_hints` of root table `root`: each hinted nested table is made (with its
    /// parent link and the root's disposition) and takes its column hints and contract,
    /// shorter paths first.
    fn apply_nested_hints(
        &mut self,
        root: &str,
        nested: &[NestedHints],
    ) -> Result<(), NormalizeError> {
        let (naming, max_len) = (self.naming, self.max_len);
        let mut sorted: Vec<&NestedHints> = nested.iter().collect();
        sorted.sort_by_key(|n| n.path.len());
        for n in sorted.into_iter().filter(|n| !n.path.is_empty()) {
            let mut fragments = vec![root.to_string()];
            for p in &n.path {
                fragments.push(naming.normalize_path(p, max_len)?);
            }
            let refs: Vec<&str> = fragments.iter().map(String::as_str).collect();
            let name = naming.make_path(&refs, max_len);
            let parent = naming.make_path(&refs[..refs.len() - 1], max_len);
            let new = self.schema.table(&name).is_none();
            self.ensure_nested_table(&name, &parent);
            if new {
                // made at extract, as dlt does: before a state table that never had a row
                self.before_unseen_state(&name);
            }
            let table = table_of_mut(&mut self.schema, &name)?;
            let before = table.clone();
            for c in &n.columns {
                let mut c = c.clone();
                c.name = naming.normalize_path(&c.name, max_len)?;
                match table.column_mut(&c.name) {
                    Some(existing) => existing.merge_hints(&c),
                    None => table.columns.push(c),
                }
            }
            if let Some(c) = &n.schema_contract {
                table.schema_contract = Some(c.clone());
            }
            if *table != before {
                self.changed = true;
            }
        }
        Ok(())
    }

    /// Moves table `name` (the last one) before dlt's state table while that never had a
    /// row: dlt adds its state table after the tables of the first extract.
    fn before_unseen_state(&mut self, name: &str) {
        let state = self
            .schema
            .tables
            .iter()
            .position(|t| t.name == STATE_TABLE && !t.seen_data);
        let at = self.schema.tables.iter().position(|t| t.name == name);
        if let (Some(state), Some(at)) = (state, at) {
            if at > state {
                let table = self.schema.tables.remove(at);
                self.schema.tables.insert(state, table);
            }
        }
    }

    fn ensure_nested_table(&mut self, name: &str, parent: &str) {
        if self.schema.table(name).is_some() {
            return;
        }
        let disposition = self
            .schema
            .table(parent)
            .map(|p| p.disposition)
            .unwrap_or_default();
        let mut t = TableSchema::new(name);
        t.parent = Some(parent.to_string());
        t.disposition = disposition;
        self.schema.tables.push(t);
        self.changed = true;
    }

    /// Stores a data value: coerced into its column, or into a variant column when the
    /// column has another type the value cannot be coerced to.
    fn put(
        &mut self,
        table: &str,
        name: &str,
        value: Item,
        row: &mut Row,
    ) -> Result<(), NormalizeError> {
        if let Item::Null = value {
            return Ok(());
        }
        let max_len = self.max_len;
        let naming = self.naming;
        let changed = &mut self.changed;
        let t = table_of_mut(&mut self.schema, table)?;
        let found = self.columns.find(t, name);
        // the common cases move the value instead of converting a copy
        let value = match found.map(|i| (i, &t.columns[i])) {
            Some((idx, col)) => match (col.data_type, value) {
                (Some(DataType::Text), Item::String(s)) => {
                    row.set(idx, Value::Text(s));
                    return Ok(());
                }
                (Some(DataType::Bool), Item::Bool(b)) => {
                    row.set(idx, Value::Bool(b));
                    return Ok(());
                }
                (Some(DataType::Bigint), Item::Int(i)) if col.precision.is_none() => {
                    row.set(idx, Value::Int(i));
                    return Ok(());
                }
                (_, v) => v.into_json(),
            },
            None => value.into_json(),
        };
        let idx = match found {
            Some(i) => i,
            None => {
                let Some(ty) = infer_type(&value) else {
                    return Ok(());
                };
                t.columns.push(default_column(name, ty));
                *changed = true;
                t.columns.len() - 1
            }
        };
        let mut idx = idx;
        if t.columns[idx].data_type.is_none() {
            // as dlt's `merge_columns`: an incomplete (hint-only) column that becomes
            // complete is removed and added again, so it comes after the columns before it
            let mut col = t.columns.remove(idx);
            col.data_type = infer_type(&value);
            // dlt merges the inferred column into the hinted one: its `nullable` is stated
            col.nullable_stated = true;
            t.columns.push(col);
            for (i, _) in row.values.iter_mut() {
                if *i > idx {
                    *i -= 1;
                }
            }
            idx = t.columns.len() - 1;
            *changed = true;
        }
        let col = &mut t.columns[idx];
        if let Ok(v) = coerce(&value, col) {
            row.set(idx, v);
            return Ok(());
        }
        // variant column: named `<col>__v_<python type of the value>` as dlt does, typed
        // with the inferred type (an ISO timestamp string goes to `<col>__v_text`, typed
        // timestamp)
        let (Some(value_type), Some(column_type)) = (value_type(&value), infer_type(&value)) else {
            return Ok(());
        };
        let variant = naming.make_path(&[name, &format!("v_{}", value_type.as_str())], max_len);
        let vidx = match self.columns.find(t, &variant) {
            Some(i) => i,
            None => {
                let mut c = default_column(&variant, column_type);
                c.variant = true;
                // dlt's description, naming the variant column itself (as dlt's does)
                c.other.insert(
                    "description".into(),
                    format!("Variant of column {variant} generated by dlt").into(),
                );
                t.columns.push(c);
                *changed = true;
                t.columns.len() - 1
            }
        };
        match coerce(&value, &t.columns[vidx]) {
            Ok(v) => {
                row.set(vidx, v);
                Ok(())
            }
            Err(_) => Err(NormalizeError::CannotCoerce {
                table: table.to_string(),
                column: name.to_string(),
                variant,
                value_type,
            }),
        }
    }

    fn put_system(
        &mut self,
        table: &str,
        name: &str,
        ty: DataType,
        value: Value,
        row: &mut Row,
    ) -> Result<(), NormalizeError> {
        let t = table_of_mut(&mut self.schema, table)?;
        let idx = match self.columns.find(t, name) {
            Some(i) => i,
            None => {
                t.columns.push(system_column(name, ty));
                self.changed = true;
                t.columns.len() - 1
            }
        };
        row.set(idx, value);
        Ok(())
    }
}

/// Column positions by table and column name. An entry is checked against the table on
/// every use, and a name not found is looked up in the table itself, so a stale entry (a
/// column inserted in front, as scd2's validity columns are) costs one scan, never a wrong
/// column.
#[derive(Debug, Default)]
struct ColumnIndex(FxHashMap<String, FxHashMap<String, usize>>);

impl ColumnIndex {
    fn find(&mut self, t: &TableSchema, name: &str) -> Option<usize> {
        let positions = match self.0.get_mut(&t.name) {
            Some(p) => p,
            None => self.0.entry(t.name.clone()).or_default(),
        };
        if let Some(&i) = positions.get(name) {
            if t.columns.get(i).is_some_and(|c| c.name == name) {
                return Some(i);
            }
        }
        let i = t.column_index(name)?;
        positions.insert(name.to_string(), i);
        Some(i)
    }
}

struct RowCtx<'a> {
    settings: &'a RootSettings,
    /// `_dlt_id` of the root row, for nested rows.
    root_id: Option<&'a str>,
}

fn table_of<'a>(schema: &'a Schema, name: &str) -> Result<&'a TableSchema, NormalizeError> {
    schema
        .table(name)
        .ok_or_else(|| NormalizeError::UnknownTable(name.to_string()))
}

fn table_of_mut<'a>(
    schema: &'a mut Schema,
    name: &str,
) -> Result<&'a mut TableSchema, NormalizeError> {
    schema
        .table_mut(name)
        .ok_or_else(|| NormalizeError::UnknownTable(name.to_string()))
}

/// A new data column: nullable, no hints.
fn default_column(name: &str, ty: DataType) -> Column {
    Column::new(name, ty)
}

/// The names that occur more than once.
fn duplicates<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    names.filter(|n| !seen.insert(n)).collect()
}

/// dlt's default hints for its system columns.
pub(crate) fn system_column(name: &str, ty: DataType) -> Column {
    let mut c = Column::new(name, ty).not_null();
    match name {
        C_DLT_ID => {
            c.unique = true;
            c.row_key = true;
        }
        C_DLT_PARENT_ID => c.parent_key = true,
        C_DLT_ROOT_ID => c.root_key = true,
        _ => {}
    }
    c
}

/// dlt's check of a table that received rows (`verify_normalized_table`): a column that
/// got no data type (no item had a value for it) but is not nullable — a primary or merge
/// key named in the hints that is not in the data — cannot be created, and dlt raises
/// `UnboundColumnException`. Returns the incomplete nullable columns that carry a hint
/// (dlt warns about those).
pub fn check_unbound_columns(t: &TableSchema) -> Result<Vec<&str>, NormalizeError> {
    let mut warn = Vec::new();
    for c in t.columns.iter().filter(|c| !c.is_complete()) {
        if !c.nullable {
            let what = if c.merge_key {
                "merge key"
            } else if c.primary_key {
                "primary key"
            } else {
                "non-nullable column"
            };
            return Err(NormalizeError::UnboundColumn {
                table: t.name.clone(),
                column: c.name.clone(),
                what,
            });
        }
        warn.push(c.name.as_str());
    }
    Ok(warn)
}

fn check_not_null(t: &TableSchema, row: &Row) -> Result<(), NormalizeError> {
    for (i, c) in t.columns.iter().enumerate() {
        if !c.nullable
            && c.is_complete()
            && !row.values.iter().any(|(idx, v)| *idx == i && !v.is_null())
        {
            return Err(NormalizeError::NullInNotNull {
                table: t.name.clone(),
                column: c.name.clone(),
            });
        }
    }
    Ok(())
}

#[path = "contract.rs"]
mod contract;
use contract::Admit;
pub use contract::{ArrowRule, ContractDiscard, ContractViolation};

#[cfg(test)]
#[path = "relational_tests.rs"]
mod tests;

//! dlt's schema contracts in the normalizer (`apply_schema_contract`): which new tables,
//! columns and variant columns a table's contract lets in, and what it leaves out.

use std::sync::Arc;

use dest_core::{Column, ContractEntity, ContractMode, ContractModes, TableSchema};
use serde_json::Value as Json;

use super::{table_of, Item, NormalizeError, Normalizer};
use crate::coerce::{coerce, infer_type, value_type};

/// A change a `freeze` contract does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractViolation {
    pub table: String,
    /// What the change is: `new table`, ``new column `c` ``, …
    pub what: String,
    pub entity: ContractEntity,
    /// The offending value (JSON, shortened), when there is one.
    pub value: Option<String>,
}

impl ContractViolation {
    pub(super) fn new(
        table: &str,
        what: String,
        entity: ContractEntity,
        value: Option<&Json>,
    ) -> Self {
        ContractViolation {
            table: table.to_string(),
            what,
            entity,
            value: value.map(short_json),
        }
    }

    pub(super) fn value_text(&self) -> String {
        match &self.value {
            Some(v) => format!(", value {v}"),
            None => String::new(),
        }
    }
}

/// `v` as JSON text of at most about 100 characters.
fn short_json(v: &Json) -> String {
    let text = v.to_string();
    match text.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// What a `discard_row` or `discard_value` contract left out, for the caller to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractDiscard {
    pub table: String,
    pub entity: ContractEntity,
    pub mode: ContractMode,
    /// The new table, column or variant column that was not let in.
    pub name: String,
    /// Rows (`discard_row`, and every row of a new table) or values left out.
    pub count: u64,
}

/// What a contract does with one column of Arrow data ([`Normalizer::arrow_contract`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrowRule {
    Keep,
    /// The column is removed (`discard_value`): named as in the table, with the entity and
    /// mode that removed it.
    Drop(ContractEntity, ContractMode, String),
    /// The column is removed with the rows that have a value in it (`discard_row`).
    DropRowsWithValue(ContractEntity, ContractMode, String),
}

/// How a contract treats one row.
pub(super) enum Admit {
    Row,
    /// The row (and its nested rows) is left out.
    Discard,
}

impl Normalizer {
    /// What `discard_row` / `discard_value` contracts left out since the last call.
    pub fn take_discards(&mut self) -> Vec<ContractDiscard> {
        std::mem::take(&mut self.discards)
            .into_iter()
            .map(|((table, entity, name), (mode, count))| ContractDiscard {
                table,
                entity,
                mode,
                name,
                count,
            })
            .collect()
    }

    /// Records what a discarding contract left out (reported by [`Self::take_discards`]).
    pub fn note_discard(
        &mut self,
        table: &str,
        entity: ContractEntity,
        name: &str,
        mode: ContractMode,
        count: u64,
    ) {
        let slot = self
            .discards
            .entry((table.to_string(), entity, name.to_string()))
            .or_insert((mode, 0));
        slot.1 += count;
    }

    /// The contract of table `name` (a nested table not in the schema yet: its parent's).
    pub(super) fn contract(
        &mut self,
        name: &str,
        parent: Option<&str>,
    ) -> Result<ContractModes, NormalizeError> {
        if let Some(m) = self.contracts.get(name) {
            return Ok(*m);
        }
        let of = match parent {
            Some(p) if self.schema.table(name).is_none() => p,
            _ => name,
        };
        let modes = self.schema.contract_for(of)?;
        self.contracts.insert(name.to_string(), modes);
        Ok(modes)
    }

    /// Whether the rows of nested table `child` (of `parent`) may load: a new table under
    /// a contract that does not let tables evolve fails (`freeze`) or is left out.
    pub(super) fn admit_table(
        &mut self,
        child: &str,
        parent: &str,
        elements: &[Item],
    ) -> Result<Admit, NormalizeError> {
        let rows = elements.len() as u64;
        if let Some(&mode) = self.filtered_tables.get(child) {
            self.note_discard(child, ContractEntity::Tables, child, mode, rows);
            return Ok(Admit::Discard);
        }
        if !self.schema.is_new_table(child) {
            return Ok(Admit::Row);
        }
        match self.contract(child, Some(parent))?.tables {
            ContractMode::Evolve => Ok(Admit::Row),
            ContractMode::Freeze => {
                let first = elements.first().map(Item::to_json);
                Err(NormalizeError::ContractViolation(ContractViolation::new(
                    child,
                    "new table".into(),
                    ContractEntity::Tables,
                    first.as_ref(),
                )))
            }
            mode => {
                self.filtered_tables.insert(child.to_string(), mode);
                self.note_discard(child, ContractEntity::Tables, child, mode, rows);
                Ok(Admit::Discard)
            }
        }
    }

    /// dlt's contract check of a row of `table` (`apply_schema_contract`): a value that
    /// would add a column (`columns`) or a variant column (`data_type`) fails the load
    /// (`freeze`), leaves out the row (`discard_row`) or its value (`discard_value`,
    /// removed from `scalars`). dlt's own columns always evolve; a new table (or one whose
    /// columns may evolve once) takes new columns whatever `columns` says.
    pub(super) fn admit_row(
        &mut self,
        table: &str,
        modes: ContractModes,
        scalars: &mut Vec<(Arc<str>, Item)>,
    ) -> Result<Admit, NormalizeError> {
        let max_len = self.max_len;
        let t = table_of(&self.schema, table)?;
        let column_mode = if t.evolve_columns_once || !t.columns.iter().any(Column::is_complete) {
            ContractMode::Evolve
        } else {
            modes.columns
        };
        let mut dropped = Vec::new();
        let mut verdict = Admit::Row;
        let mut notes: Vec<(ContractEntity, String, ContractMode)> = Vec::new();
        for (i, (name, value)) in scalars.iter().enumerate() {
            if matches!(value, Item::Null) || name.starts_with("_dlt") {
                continue;
            }
            let existing = self
                .columns
                .find(t, name)
                .map(|i| &t.columns[i])
                .filter(|c| c.is_complete());
            let (entity, mode, column, json) = match existing {
                None if column_mode == ContractMode::Evolve => continue,
                None => {
                    let json = value.to_json();
                    if infer_type(&json).is_none() {
                        continue;
                    }
                    (ContractEntity::Columns, column_mode, name.to_string(), json)
                }
                Some(_) if modes.data_type == ContractMode::Evolve => continue,
                Some(col) => {
                    let json = value.to_json();
                    if coerce(&json, col).is_ok() {
                        continue;
                    }
                    let Some(vt) = value_type(&json) else {
                        continue;
                    };
                    let variant = self
                        .naming
                        .make_path(&[name, &format!("v_{}", vt.as_str())], max_len);
                    if t.column(&variant).is_some_and(Column::is_complete) {
                        continue;
                    }
                    (ContractEntity::DataType, modes.data_type, variant, json)
                }
            };
            match mode {
                ContractMode::Evolve => {}
                ContractMode::Freeze => {
                    let what = match entity {
                        ContractEntity::DataType => format!(
                            "a value of column `{name}` that needs variant column `{column}`"
                        ),
                        _ => format!("new column `{column}`"),
                    };
                    return Err(NormalizeError::ContractViolation(ContractViolation::new(
                        table,
                        what,
                        entity,
                        Some(&json),
                    )));
                }
                ContractMode::DiscardRow => {
                    notes.push((entity, column, mode));
                    verdict = Admit::Discard;
                    break;
                }
                ContractMode::DiscardValue => {
                    notes.push((entity, column, mode));
                    dropped.push(i);
                }
            }
        }
        for (entity, name, mode) in notes {
            self.note_discard(table, entity, &name, mode, 1);
        }
        if let Admit::Discard = verdict {
            return Ok(verdict);
        }
        for i in dropped.into_iter().rev() {
            scalars.remove(i);
        }
        Ok(Admit::Row)
    }

    /// Whether the rows of root table `root` (a name returned by [`Self::apply_hints`]) may
    /// load at all, for data that does not go through [`Self::normalize_item`] (Arrow):
    /// `false` for a new table a contract keeps out (its `rows` are noted), an error when
    /// `freeze` refuses the resource's table or hints.
    pub fn admit_root(&mut self, root: &str, rows: u64) -> Result<bool, NormalizeError> {
        if rows == 0 {
            return Ok(!self.kept_out(root));
        }
        if let Some(v) = self.blocked_roots.get(root) {
            return Err(NormalizeError::ContractViolation(v.clone()));
        }
        if let Some(&mode) = self.filtered_tables.get(root) {
            self.note_discard(root, ContractEntity::Tables, root, mode, rows);
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether a contract keeps root table `root` out (or blocks it): no row of it loads.
    pub fn kept_out(&self, root: &str) -> bool {
        self.blocked_roots.contains_key(root) || self.filtered_tables.contains_key(root)
    }

    /// dlt's contract on the columns of Arrow data of root table `root` (`columns` named as
    /// in the data), as dlt's Arrow extractor applies it: a new column, or one whose type
    /// differs from the table's, under a contract that does not let it evolve fails the
    /// load (`freeze`) or is removed, with the rows that have a value in it (`discard_row`)
    /// or not (`discard_value`).
    pub fn arrow_contract(
        &mut self,
        root: &str,
        columns: &[Column],
    ) -> Result<Vec<ArrowRule>, NormalizeError> {
        let keep = vec![ArrowRule::Keep; columns.len()];
        if !self.contracts_active {
            return Ok(keep);
        }
        let modes = self.contract(root, None)?;
        if modes.evolves() {
            return Ok(keep);
        }
        let t = table_of(&self.schema, root)?;
        let column_mode = if t.evolve_columns_once || !t.columns.iter().any(Column::is_complete) {
            ContractMode::Evolve
        } else {
            modes.columns
        };
        let mut rules = keep;
        for (c, rule) in columns.iter().zip(rules.iter_mut()) {
            let name = self.naming.normalize_key(&c.name, self.max_len);
            if name.starts_with("_dlt") {
                continue;
            }
            let (entity, mode, what) = match t.column(&name).filter(|e| e.is_complete()) {
                None => (
                    ContractEntity::Columns,
                    column_mode,
                    format!("new column `{name}`"),
                ),
                Some(e) if c.data_type.is_some() && c.data_type != e.data_type => (
                    ContractEntity::DataType,
                    modes.data_type,
                    format!(
                        "Arrow column `{name}` of type {} (the table's is {})",
                        c.data_type.map(|d| d.as_str()).unwrap_or_default(),
                        e.data_type.map(|d| d.as_str()).unwrap_or_default()
                    ),
                ),
                Some(_) => continue,
            };
            *rule = match mode {
                ContractMode::Evolve => ArrowRule::Keep,
                ContractMode::Freeze => {
                    return Err(NormalizeError::ContractViolation(ContractViolation::new(
                        root, what, entity, None,
                    )))
                }
                ContractMode::DiscardRow => ArrowRule::DropRowsWithValue(entity, mode, name),
                ContractMode::DiscardValue => ArrowRule::Drop(entity, mode, name),
            };
        }
        Ok(rules)
    }

    /// dlt's contract check of a resource's hints on existing table `name` (done at extract
    /// in dlt): a declared column the table lacks is a new column, a declared type that
    /// differs from a column's a data type change. `freeze` blocks the resource (its first
    /// item fails); a `discard_*` mode drops the hint.
    pub(super) fn contract_hints(
        &mut self,
        name: &str,
        table: Option<&TableSchema>,
        modes: ContractModes,
        declared: &mut Vec<Column>,
        pk: &mut Vec<String>,
        mk: &mut Vec<String>,
    ) {
        let Some(table) = table else {
            return;
        };
        let mut violation = None;
        declared.retain(|c| {
            let (entity, mode) = match table.column(&c.name) {
                None => (ContractEntity::Columns, modes.columns),
                Some(e)
                    if e.is_complete()
                        && c.data_type.is_some()
                        && (c.data_type != e.data_type
                            || c.precision.is_some() && c.precision != e.precision
                            || c.scale.is_some() && c.scale != e.scale) =>
                {
                    (ContractEntity::DataType, modes.data_type)
                }
                Some(_) => return true,
            };
            match mode {
                ContractMode::Evolve => true,
                ContractMode::Freeze => {
                    let what = match entity {
                        ContractEntity::DataType => {
                            format!("the hint changing the type of column `{}`", c.name)
                        }
                        _ => format!("new column `{}` of the hints", c.name),
                    };
                    violation.get_or_insert(ContractViolation::new(name, what, entity, None));
                    true
                }
                _ => false,
            }
        });
        if modes.columns != ContractMode::Evolve {
            for keys in [pk, mk] {
                for k in keys.iter() {
                    if table.column(k).is_none() && modes.columns == ContractMode::Freeze {
                        violation.get_or_insert(ContractViolation::new(
                            name,
                            format!("new key column `{k}`"),
                            ContractEntity::Columns,
                            None,
                        ));
                    }
                }
                keys.retain(|k| table.column(k).is_some() || declared.iter().any(|c| &c.name == k));
            }
        }
        if let Some(v) = violation {
            self.blocked_roots.insert(name.to_string(), v);
        }
    }
}

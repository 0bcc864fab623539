//! dlt's schema contracts: how far a load may change the schema.
//!
//! A contract gives a [`ContractMode`] to each of three entities: new `tables` (a root or
//! nested table the schema does not have, or has only hinted columns of), new `columns`
//! of a table that has data, and `data_type` (a value that would need a variant column,
//! or a hint that changes a column's type). It is set as one mode for all (`"freeze"`) or
//! per entity (`{"columns": "discard_value"}`, the others `evolve`), on a root table (its
//! nested tables inherit it) or in the schema's settings, and kept in the stored schema
//! as given ([`SchemaContract`]), exactly as dlt 1.31 keeps it.

use std::fmt;

use serde_json::Value as Json;

/// What a contract allows for one entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractMode {
    /// The schema changes as the data asks.
    #[default]
    Evolve,
    /// The change fails the run; nothing of its package is loaded.
    Freeze,
    /// The row that would change the schema is left out (with its nested rows).
    DiscardRow,
    /// The value that would change the schema is left out; the rest of the row loads.
    DiscardValue,
}

impl ContractMode {
    /// Every mode, as dlt names them.
    pub const ALL: [ContractMode; 4] = [
        ContractMode::Evolve,
        ContractMode::Freeze,
        ContractMode::DiscardRow,
        ContractMode::DiscardValue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractMode::Evolve => "evolve",
            ContractMode::Freeze => "freeze",
            ContractMode::DiscardRow => "discard_row",
            ContractMode::DiscardValue => "discard_value",
        }
    }

    /// A mode by dlt's name; an unknown name is an error naming the modes.
    pub fn parse(name: &str) -> Result<Self, ContractError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| ContractError(format!("unknown schema contract mode `{name}`")))
    }
}

impl fmt::Display for ContractMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three things a contract rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContractEntity {
    Tables,
    Columns,
    DataType,
}

impl ContractEntity {
    pub const ALL: [ContractEntity; 3] = [
        ContractEntity::Tables,
        ContractEntity::Columns,
        ContractEntity::DataType,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractEntity::Tables => "tables",
            ContractEntity::Columns => "columns",
            ContractEntity::DataType => "data_type",
        }
    }
}

impl fmt::Display for ContractEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A malformed contract: an unknown mode or entity, or a value of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} (modes: evolve, freeze, discard_row, discard_value; entities: tables, columns, data_type)"
)]
pub struct ContractError(String);

/// dlt's `schema_contract` as given: one mode for every entity, or modes for some
/// entities (in the order given; the others evolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaContract {
    All(ContractMode),
    Entities(Vec<(ContractEntity, ContractMode)>),
}

impl SchemaContract {
    /// From its stored (or configured) JSON: a mode name or an object of entity to mode.
    pub fn from_json(value: &Json) -> Result<Self, ContractError> {
        match value {
            Json::String(s) => Ok(SchemaContract::All(ContractMode::parse(s)?)),
            Json::Object(m) => {
                let mut entities = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let entity = ContractEntity::ALL
                        .into_iter()
                        .find(|e| e.as_str() == k)
                        .ok_or_else(|| {
                            ContractError(format!("unknown schema contract entity `{k}`"))
                        })?;
                    let Json::String(mode) = v else {
                        return Err(ContractError(format!(
                            "schema contract entity `{k}`: expected a mode name, got {v}"
                        )));
                    };
                    entities.push((entity, ContractMode::parse(mode)?));
                }
                Ok(SchemaContract::Entities(entities))
            }
            other => Err(ContractError(format!(
                "a schema contract is a mode name or an object of entity to mode, not {other}"
            ))),
        }
    }

    /// From a command-line value: a mode name, or a JSON object of entity to mode.
    pub fn parse(text: &str) -> Result<Self, ContractError> {
        let text = text.trim();
        if text.starts_with('{') {
            let value: Json = serde_json::from_str(text).map_err(|e| {
                ContractError(format!("the schema contract is not valid JSON: {e}"))
            })?;
            Self::from_json(&value)
        } else {
            Ok(SchemaContract::All(ContractMode::parse(text)?))
        }
    }

    /// As stored: the mode name, or the object as given.
    pub fn to_json(&self) -> Json {
        match self {
            SchemaContract::All(m) => Json::String(m.as_str().into()),
            SchemaContract::Entities(e) => Json::Object(
                e.iter()
                    .map(|(k, m)| (k.as_str().to_string(), Json::String(m.as_str().into())))
                    .collect(),
            ),
        }
    }

    /// The mode of every entity (dlt's `expand_schema_contract_settings`).
    pub fn modes(&self) -> ContractModes {
        match self {
            SchemaContract::All(m) => ContractModes {
                tables: *m,
                columns: *m,
                data_type: *m,
            },
            SchemaContract::Entities(entities) => {
                let mut modes = ContractModes::default();
                for (entity, mode) in entities {
                    match entity {
                        ContractEntity::Tables => modes.tables = *mode,
                        ContractEntity::Columns => modes.columns = *mode,
                        ContractEntity::DataType => modes.data_type = *mode,
                    }
                }
                modes
            }
        }
    }
}

impl fmt::Display for SchemaContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaContract::All(m) => write!(f, "{m}"),
            SchemaContract::Entities(_) => write!(f, "{}", self.to_json()),
        }
    }
}

impl serde::Serialize for SchemaContract {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for SchemaContract {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Json::deserialize(d)?;
        SchemaContract::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// The mode of each entity, as a table's contract resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContractModes {
    pub tables: ContractMode,
    pub columns: ContractMode,
    pub data_type: ContractMode,
}

impl ContractModes {
    /// Everything evolves (no contract).
    pub fn evolves(&self) -> bool {
        *self == ContractModes::default()
    }

    pub fn of(&self, entity: ContractEntity) -> ContractMode {
        match entity {
            ContractEntity::Tables => self.tables,
            ContractEntity::Columns => self.columns,
            ContractEntity::DataType => self.data_type,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn contracts_parse_as_dlt_writes_them() {
        let c = SchemaContract::parse("freeze").unwrap();
        assert_eq!(c.modes().columns, ContractMode::Freeze);
        let c =
            SchemaContract::parse(r#"{"columns": "discard_value", "tables": "freeze"}"#).unwrap();
        let m = c.modes();
        assert_eq!(
            (m.tables, m.columns, m.data_type),
            (
                ContractMode::Freeze,
                ContractMode::DiscardValue,
                ContractMode::Evolve
            )
        );
        // the object keeps the order it was given in
        assert_eq!(
            c.to_json().to_string(),
            r#"{"columns":"discard_value","tables":"freeze"}"#
        );
        assert!(SchemaContract::parse("frozen").is_err());
        assert!(SchemaContract::parse(r#"{"column": "freeze"}"#).is_err());
        assert!(SchemaContract::parse(r#"{"columns": 1}"#).is_err());
    }
}

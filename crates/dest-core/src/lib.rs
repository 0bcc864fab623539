//! The destination contract of dlt-rs.
//!
//! Everything a destination and the pipeline agree on lives here: the schema model
//! ([`Schema`], [`TableSchema`], [`Column`], [`DataType`]), the normalized row value
//! ([`Value`]), capabilities as data ([`Capabilities`]), the object-safe traits the
//! pipeline holds ([`Destination`], [`LoadClient`], [`WriteDisposition`], [`FileFormat`]),
//! typed errors that say transient or terminal ([`Error`]), configuration lookup
//! ([`config`]) and the `inventory` registry of destinations by name ([`registry`]).
//!
//! Architecture invariant: this crate depends on no database driver and knows no
//! destination by name.

pub mod config;
mod contract;
mod dbt;
mod destination;
mod disposition;
mod error;
mod format;
mod read;
pub mod registry;
mod schema;
mod secret;
mod stored;
mod value;

pub use contract::{ContractEntity, ContractError, ContractMode, ContractModes, SchemaContract};
pub use dbt::{DbtProfile, DbtSecret, ProfileValue};
pub use destination::{
    staging_dataset_name, Capabilities, DatasetRef, Destination, FollowUpJob, JobOutcome,
    LoadClient, LoadJob, LoadSession, Prepared, QueryRows, StagingLock, StoredSchema, StoredState,
};
pub use disposition::{
    parse_write_disposition, Append, ChainPlan, DispositionKind, FollowUp, LoadTarget, Merge,
    MergeStrategy, Replace, ReplaceStrategy, RowIdKind, Scd2Options, TableDisposition,
    WriteDisposition,
};
pub use error::{DestinationError, Error, Result, Retry};
pub use format::{FileFormat, JobWriter, LoaderFileFormat};
pub use read::{Comparison, Filter, ReadColumn, ReadRequest, RowCursor, TableRead};
pub use schema::{
    loads_table, state_table, version_table, Column, DataType, Schema, SortOrder, TableSchema,
    ENGINE_VERSION, LOADS_TABLE, STATE_TABLE, VERSION_TABLE,
};
pub use secret::Secret;
pub use stored::canonical_json;
pub use value::{decode_hex, hex_text, push_hex, Value};

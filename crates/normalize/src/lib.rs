//! The relational normalizer: JSON items to typed rows of dlt-named tables. Pure: no IO.
//!
//! [`Normalizer`] follows dlt's relational normalizer: nested objects are flattened into
//! `parent__child` columns, lists become nested tables (`table__field`) linked by
//! `_dlt_parent_id` / `_dlt_list_idx` (and `_dlt_root_id` for merge), every row gets a
//! `_dlt_id`, types are inferred for new columns, values are coerced into existing
//! columns, and values that cannot be coerced go to variant columns (`col__v_text`).
//! The schema it is given evolves as items arrive; rows are handed to a [`RowSink`].
//!
//! Architecture invariant: this crate does no IO.

pub mod coerce;
pub mod ids;
mod item;
pub mod naming;
mod relational;

pub use item::{parse_item, Entries, Item};
pub use relational::{
    check_unbound_columns, ArrowRule, ContractDiscard, ContractViolation, KeyCollision,
    NestedHints, NormalizeError, Normalizer, ResourceHints, Row, RowSink,
};

//! The registry of destinations by name, filled through `inventory`.
//!
//! A destination crate submits a `const` [`DestinationDescriptor`]; nothing runs at
//! registration time. A binary must link every destination crate it needs (for example
//! with `use dest_postgres as _;`), or the submission is dropped by the linker.

use std::fmt;

use crate::config::ConfigSource;
use crate::{Destination, Error, Result};

/// What a destination factory gets to build itself.
#[derive(Debug, Clone, Copy)]
pub struct DestinationContext<'a> {
    /// Destination name as configured (dlt's `destination_name`, defaults to the type name).
    pub destination_name: &'a str,
    pub pipeline_name: Option<&'a str>,
    /// Where the factory reads its `destination.<name>` section and credentials.
    pub config: &'a dyn ConfigSource,
}

/// A registered destination.
pub struct DestinationDescriptor {
    /// Registry name: lowercase, underscores, named after the service.
    pub name: &'static str,
    /// One line for listings.
    pub description: &'static str,
    /// An example `.dlt/` configuration (TOML) for `init` and docs.
    pub example_config: &'static str,
    /// Builds the destination from configuration. Must not do IO beyond reading config.
    pub factory: fn(&DestinationContext<'_>) -> Result<Box<dyn Destination>>,
}

impl DestinationDescriptor {
    pub const fn new(
        name: &'static str,
        description: &'static str,
        example_config: &'static str,
        factory: fn(&DestinationContext<'_>) -> Result<Box<dyn Destination>>,
    ) -> Self {
        DestinationDescriptor {
            name,
            description,
            example_config,
            factory,
        }
    }
}

impl fmt::Debug for DestinationDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestinationDescriptor")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

inventory::collect!(DestinationDescriptor);

/// Registered destination names, sorted.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = inventory::iter::<DestinationDescriptor>
        .into_iter()
        .map(|d| d.name)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Looks a destination up by name; an unknown name is an error listing the known ones.
pub fn find(name: &str) -> Result<&'static DestinationDescriptor> {
    inventory::iter::<DestinationDescriptor>
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Error::UnknownDestination {
            name: name.to_string(),
            known: names().into_iter().map(String::from).collect(),
        })
}

/// Finds and builds a destination.
pub fn create(name: &str, ctx: &DestinationContext<'_>) -> Result<Box<dyn Destination>> {
    (find(name)?.factory)(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_name_lists_known() {
        let err = find("no_such_destination").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("unknown destination `no_such_destination`"),
            "{msg}"
        );
        assert!(msg.contains("known destinations"), "{msg}");
    }
}

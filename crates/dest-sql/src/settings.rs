//! The settings every SQL destination reads the same way (section `destination.<name>`).

use dest_core::config::Resolver;
use dest_core::{ReplaceStrategy, Result};

/// `create_indexes`, `staging_dataset_name_layout` and `replace_strategy` of a SQL
/// destination: each from `destination.<name>.<field>`, `destination.<field>` or `<field>`
/// (dlt's lookup, first under the pipeline name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSettings {
    /// Create UNIQUE constraints for `unique` columns (default true).
    pub create_indexes: bool,
    /// Name of the staging dataset; `%s` is replaced by the dataset name.
    pub staging_dataset_name_layout: String,
    /// dlt's `destination.<name>.replace_strategy`: the strategy of `replace` where a
    /// resource names none (`None`: `truncate-and-insert`).
    pub replace_strategy: Option<ReplaceStrategy>,
}

impl Default for SqlSettings {
    fn default() -> Self {
        SqlSettings {
            create_indexes: true,
            staging_dataset_name_layout: "%s_staging".into(),
            replace_strategy: None,
        }
    }
}

impl SqlSettings {
    /// Resolves the settings of destination `destination_name`.
    ///
    /// # Errors
    /// [`dest_core::Error::InvalidConfig`] for a value of the wrong type or an unknown
    /// replace strategy.
    pub fn resolve(r: &Resolver<'_>, destination_name: &str) -> Result<Self> {
        let defaults = SqlSettings::default();
        let find = |field: &str| r.find(&["destination", destination_name, field], "");
        let create_indexes = match find("create_indexes") {
            Some(f) => f.as_bool()?,
            None => defaults.create_indexes,
        };
        let staging_dataset_name_layout = match find("staging_dataset_name_layout") {
            Some(f) => f.as_string()?,
            None => defaults.staging_dataset_name_layout,
        };
        let replace_strategy = match find("replace_strategy") {
            Some(f) => {
                let s = f.as_string()?;
                let strategy = s.trim().parse::<ReplaceStrategy>().map_err(|_| {
                    f.invalid(&format!(
                        "unknown replace strategy `{}`; expected one of {}",
                        s.trim(),
                        ReplaceStrategy::ALL.map(ReplaceStrategy::as_str).join(", ")
                    ))
                })?;
                Some(strategy)
            }
            None => None,
        };
        Ok(SqlSettings {
            create_indexes,
            staging_dataset_name_layout,
            replace_strategy,
        })
    }
}

//! Write dispositions: types that plan what happens to a table chain (a root table and
//! its nested tables). A destination turns the [`ChainPlan`] into its own SQL.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, TableSchema};

/// append, replace or merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DispositionKind {
    Append,
    Replace,
    Merge,
}

impl DispositionKind {
    pub const ALL: [DispositionKind; 3] = [
        DispositionKind::Append,
        DispositionKind::Replace,
        DispositionKind::Merge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DispositionKind::Append => "append",
            DispositionKind::Replace => "replace",
            DispositionKind::Merge => "merge",
        }
    }
}

/// A table's write disposition with its strategy: what the schema stores (as dlt's
/// `write_disposition` and, beside it, the strategy's name), and what a destination's
/// [`Capabilities`](crate::Capabilities) are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "StoredDisposition", into = "StoredDisposition")]
pub enum TableDisposition {
    #[default]
    Append,
    Replace(ReplaceStrategy),
    Merge(MergeStrategy),
    /// dlt's `skip`: a system table no job loads (`_dlt_version`, `_dlt_loads`).
    Skip,
}

impl TableDisposition {
    /// append, replace or merge; `None` for `skip`.
    pub fn kind(self) -> Option<DispositionKind> {
        match self {
            TableDisposition::Append => Some(DispositionKind::Append),
            TableDisposition::Replace(_) => Some(DispositionKind::Replace),
            TableDisposition::Merge(_) => Some(DispositionKind::Merge),
            TableDisposition::Skip => None,
        }
    }

    /// The disposition's name in dlt's schema (`append`, `replace`, `merge`, `skip`).
    pub fn name(self) -> &'static str {
        self.kind().map_or("skip", DispositionKind::as_str)
    }

    /// The strategy's name (`truncate-and-insert`, `delete-insert`, ...), where there is one.
    pub fn strategy_name(self) -> Option<&'static str> {
        match self {
            TableDisposition::Replace(s) => Some(s.as_str()),
            TableDisposition::Merge(s) => Some(s.as_str()),
            TableDisposition::Append | TableDisposition::Skip => None,
        }
    }

    /// Parses user-facing names (`merge`, `upsert`); no strategy is the disposition's default.
    ///
    /// # Errors
    /// [`Error::Config`] naming an unknown disposition or strategy, or a strategy given to
    /// a disposition that has none.
    pub fn parse(disposition: &str, strategy: Option<&str>) -> Result<Self> {
        Ok(match (disposition, strategy) {
            ("append", None) => TableDisposition::Append,
            ("skip", None) => TableDisposition::Skip,
            ("replace", s) => {
                TableDisposition::Replace(s.map(str::parse).transpose()?.unwrap_or_default())
            }
            ("merge", s) => {
                TableDisposition::Merge(s.map(str::parse).transpose()?.unwrap_or_default())
            }
            ("append" | "skip", Some(s)) => {
                return Err(Error::Config(format!(
                    "write disposition `{disposition}` has no strategy, got `{s}`"
                )))
            }
            (other, _) => {
                return Err(Error::Config(format!(
                "unknown write disposition `{other}`; known dispositions: append, replace, merge"
            )))
            }
        })
    }
}

impl fmt::Display for TableDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.strategy_name() {
            Some(s) => write!(f, "{} ({s})", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// How the schema stores a [`TableDisposition`]: two names side by side.
#[derive(Serialize, Deserialize)]
struct StoredDisposition {
    write_disposition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    strategy: Option<String>,
}

impl TryFrom<StoredDisposition> for TableDisposition {
    type Error = Error;
    fn try_from(s: StoredDisposition) -> Result<Self> {
        TableDisposition::parse(&s.write_disposition, s.strategy.as_deref())
    }
}

impl From<TableDisposition> for StoredDisposition {
    fn from(d: TableDisposition) -> Self {
        StoredDisposition {
            write_disposition: d.name().to_string(),
            strategy: d.strategy_name().map(str::to_string),
        }
    }
}

/// Where a chain's data jobs load into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadTarget {
    /// The dataset itself.
    Dataset,
    /// The staging dataset (`<dataset>_staging`), moved over by a follow-up.
    Staging,
}

/// What runs after all data jobs of a chain loaded into staging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FollowUp {
    /// replace / insert-from-staging: truncate, then copy every table of the chain.
    InsertFromStaging,
    /// replace / staging-optimized: swap the staging tables in.
    SwapStaging,
    /// merge / delete-insert.
    DeleteInsert,
    /// merge / upsert.
    Upsert,
    /// merge / insert-only.
    InsertOnly,
    /// merge / scd2.
    Scd2,
}

/// The plan for one table chain in one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPlan {
    pub target: LoadTarget,
    /// Empty the chain's tables in the dataset before loading (replace).
    pub truncate_before: bool,
    pub follow_up: Option<FollowUp>,
}

/// How the root table's `_dlt_id` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowIdKind {
    /// Random 10 bytes (append, replace, delete-insert).
    Random,
    /// A hash of the primary key values (upsert).
    KeyHash,
    /// A hash of the whole source item (scd2).
    RowHash,
}

/// A write disposition with its strategy. Open set: a new strategy is a new type.
pub trait WriteDisposition: fmt::Debug + Send + Sync {
    fn kind(&self) -> DispositionKind;
    /// The disposition with its strategy, as the schema stores it.
    fn disposition(&self) -> TableDisposition;
    /// Plans a chain whose root table is `chain[0]`.
    fn plan(&self, chain: &[&TableSchema]) -> Result<ChainPlan>;
    /// How root rows get their `_dlt_id`.
    fn row_id(&self) -> RowIdKind {
        RowIdKind::Random
    }
    /// Whether nested rows carry `_dlt_root_id`.
    fn propagates_root_key(&self) -> bool {
        false
    }
    /// The scd2 options, for the scd2 strategy.
    fn scd2(&self) -> Option<&Scd2Options> {
        None
    }
}

/// Rows are added to the tables as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Append;

impl WriteDisposition for Append {
    fn kind(&self) -> DispositionKind {
        DispositionKind::Append
    }
    fn disposition(&self) -> TableDisposition {
        TableDisposition::Append
    }
    fn plan(&self, _chain: &[&TableSchema]) -> Result<ChainPlan> {
        Ok(ChainPlan {
            target: LoadTarget::Dataset,
            truncate_before: false,
            follow_up: None,
        })
    }
}

/// replace strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceStrategy {
    #[default]
    TruncateAndInsert,
    InsertFromStaging,
    StagingOptimized,
}

impl ReplaceStrategy {
    pub const ALL: [ReplaceStrategy; 3] = [
        ReplaceStrategy::TruncateAndInsert,
        ReplaceStrategy::InsertFromStaging,
        ReplaceStrategy::StagingOptimized,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceStrategy::TruncateAndInsert => "truncate-and-insert",
            ReplaceStrategy::InsertFromStaging => "insert-from-staging",
            ReplaceStrategy::StagingOptimized => "staging-optimized",
        }
    }
}

impl FromStr for ReplaceStrategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "truncate-and-insert" => Ok(Self::TruncateAndInsert),
            "insert-from-staging" => Ok(Self::InsertFromStaging),
            "staging-optimized" => Ok(Self::StagingOptimized),
            other => Err(Error::Config(format!(
                "unknown replace strategy `{other}`; known strategies: {}",
                Self::ALL.map(Self::as_str).join(", ")
            ))),
        }
    }
}

/// The table chain is replaced by the rows of this load.
#[derive(Debug, Clone, Copy, Default)]
pub struct Replace {
    pub strategy: ReplaceStrategy,
}

impl WriteDisposition for Replace {
    fn kind(&self) -> DispositionKind {
        DispositionKind::Replace
    }
    fn disposition(&self) -> TableDisposition {
        TableDisposition::Replace(self.strategy)
    }
    fn plan(&self, _chain: &[&TableSchema]) -> Result<ChainPlan> {
        Ok(match self.strategy {
            ReplaceStrategy::TruncateAndInsert => ChainPlan {
                target: LoadTarget::Dataset,
                truncate_before: true,
                follow_up: None,
            },
            ReplaceStrategy::InsertFromStaging => ChainPlan {
                target: LoadTarget::Staging,
                truncate_before: false,
                follow_up: Some(FollowUp::InsertFromStaging),
            },
            ReplaceStrategy::StagingOptimized => ChainPlan {
                target: LoadTarget::Staging,
                truncate_before: false,
                follow_up: Some(FollowUp::SwapStaging),
            },
        })
    }
}

/// merge strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStrategy {
    #[default]
    DeleteInsert,
    Upsert,
    /// dlt's `insert-only`: rows whose primary key is new are inserted, existing rows never
    /// change.
    InsertOnly,
    Scd2,
}

impl MergeStrategy {
    pub const ALL: [MergeStrategy; 4] = [
        MergeStrategy::DeleteInsert,
        MergeStrategy::Upsert,
        MergeStrategy::InsertOnly,
        MergeStrategy::Scd2,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MergeStrategy::DeleteInsert => "delete-insert",
            MergeStrategy::Upsert => "upsert",
            MergeStrategy::InsertOnly => "insert-only",
            MergeStrategy::Scd2 => "scd2",
        }
    }
}

impl FromStr for MergeStrategy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "delete-insert" => Ok(Self::DeleteInsert),
            "upsert" => Ok(Self::Upsert),
            "insert-only" => Ok(Self::InsertOnly),
            "scd2" => Ok(Self::Scd2),
            other => Err(Error::Config(format!(
                "unknown merge strategy `{other}`; known strategies: {}",
                Self::ALL.map(Self::as_str).join(", ")
            ))),
        }
    }
}

/// Options of the scd2 merge strategy (dlt's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scd2Options {
    /// `validity_column_names`: start and end of a record version's validity.
    pub valid_from: String,
    pub valid_to: String,
    /// `active_record_timestamp`: the `valid_to` of active records, ISO text; `None` is NULL.
    pub active_record_timestamp: Option<String>,
}

impl Default for Scd2Options {
    fn default() -> Self {
        Scd2Options {
            valid_from: "_dlt_valid_from".into(),
            valid_to: "_dlt_valid_to".into(),
            active_record_timestamp: None,
        }
    }
}

/// Rows are merged into the tables by key.
#[derive(Debug, Clone, Default)]
pub struct Merge {
    pub strategy: MergeStrategy,
    /// Used by the scd2 strategy only.
    pub scd2: Scd2Options,
}

impl Merge {
    pub fn new(strategy: MergeStrategy) -> Self {
        Merge {
            strategy,
            scd2: Scd2Options::default(),
        }
    }
}

impl WriteDisposition for Merge {
    fn kind(&self) -> DispositionKind {
        DispositionKind::Merge
    }
    fn disposition(&self) -> TableDisposition {
        TableDisposition::Merge(self.strategy)
    }
    fn plan(&self, chain: &[&TableSchema]) -> Result<ChainPlan> {
        let root = chain
            .first()
            .ok_or_else(|| Error::Internal("merge plan for an empty chain".into()))?;
        if matches!(
            self.strategy,
            MergeStrategy::Upsert | MergeStrategy::InsertOnly
        ) && !root.columns.iter().any(|c| c.primary_key)
        {
            return Err(Error::InvalidSchema(format!(
                "table `{}` uses the {} merge strategy but has no primary key; set one with --primary-key or the resource's primary_key",
                root.name,
                self.strategy.as_str()
            )));
        }
        Ok(ChainPlan {
            target: LoadTarget::Staging,
            truncate_before: false,
            follow_up: Some(match self.strategy {
                MergeStrategy::DeleteInsert => FollowUp::DeleteInsert,
                MergeStrategy::Upsert => FollowUp::Upsert,
                MergeStrategy::InsertOnly => FollowUp::InsertOnly,
                MergeStrategy::Scd2 => FollowUp::Scd2,
            }),
        })
    }
    fn row_id(&self) -> RowIdKind {
        match self.strategy {
            MergeStrategy::DeleteInsert => RowIdKind::Random,
            MergeStrategy::Upsert | MergeStrategy::InsertOnly => RowIdKind::KeyHash,
            MergeStrategy::Scd2 => RowIdKind::RowHash,
        }
    }
    fn propagates_root_key(&self) -> bool {
        matches!(
            self.strategy,
            MergeStrategy::DeleteInsert | MergeStrategy::Upsert | MergeStrategy::InsertOnly
        )
    }
    fn scd2(&self) -> Option<&Scd2Options> {
        (self.strategy == MergeStrategy::Scd2).then_some(&self.scd2)
    }
}

/// Parses user-facing disposition and strategy names (`merge`, `upsert`) into a disposition.
pub fn parse_write_disposition(
    disposition: &str,
    strategy: Option<&str>,
) -> Result<Arc<dyn WriteDisposition>> {
    TableDisposition::parse(disposition, strategy)?.write_disposition()
}

impl TableDisposition {
    /// The [`WriteDisposition`] that plans this disposition's chains (scd2 with its default
    /// options; `skip` has none).
    ///
    /// # Errors
    /// [`Error::Internal`] for `skip`.
    pub fn write_disposition(self) -> Result<Arc<dyn WriteDisposition>> {
        Ok(match self {
            TableDisposition::Append => Arc::new(Append),
            TableDisposition::Replace(strategy) => Arc::new(Replace { strategy }),
            TableDisposition::Merge(strategy) => Arc::new(Merge::new(strategy)),
            TableDisposition::Skip => {
                return Err(Error::Internal(
                    "a `skip` table has no write disposition to plan".into(),
                ))
            }
        })
    }
}

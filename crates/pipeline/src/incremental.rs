//! Incremental loading cursors, as dlt's `dlt.sources.incremental`.
//!
//! An [`Incremental`] names a cursor field of the items (`"updated_at"`, `"meta.ts"`) and
//! how it moves (`max` by default, or `min`). Each extraction [`Incremental::begin`]s an
//! [`IncrementalRun`] from the cursor's saved state; the run filters items with
//! [`IncrementalRun::keep`] and yields the state to save with [`IncrementalRun::into_state`].
//!
//! Semantics follow dlt's `JsonIncremental` transform:
//!
//! * the range is closed at the start value (the saved `last_value`, or `initial_value` on
//!   the first run) and open at `end_value`: for `max`, items with `cursor < start` and
//!   `cursor >= end_value` are dropped;
//! * items whose cursor equals the start value are dropped when their dedup hash is among
//!   the saved `unique_hashes` (they were loaded by the previous run); new items at that
//!   value are kept;
//! * the state keeps the running `last_value` and the hashes of the items whose cursor
//!   equals it, so the next run can deduplicate at the boundary;
//! * with `end_value` the run is a stateless backfill: the saved state is neither read nor
//!   written, and boundary deduplication is off.
//!
//! Cursor values compare like this: numbers numerically and exactly (on their JSON text,
//! so integers beyond 64 bits work); two strings that both parse as ISO timestamps as
//! instants (`2024-01-01T10:00:00+02:00` < `2024-01-01T09:00:00Z`); other strings by code
//! point; booleans `false < true`; anything else is [`IncrementalError::NotComparable`].
//!
//! The dedup hash is dlt's (before 1.29): base64 of 15 bytes of SHAKE-128 over the compact
//! JSON with sorted keys of the primary key value (one column: its value; several: the
//! list of values) or, without a primary key, of the whole item.
//!
//! The state layout is dlt's `{"initial_value", "last_value", "unique_hashes"}` kept at
//! [`state_path`] inside the source's section of the pipeline state.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

/// Bytes of SHAKE-128 in a dedup hash (dlt's `digest128` default: 20 base64 characters).
const DEDUP_HASH_BYTES: usize = 15;

/// Characters of an item shown in an error message.
const ITEM_PREVIEW_CHARS: usize = 200;

/// How the cursor moves: which of two values is the "later" one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LastValueFunc {
    /// The cursor grows (dlt's default `max`): newer items have higher values.
    #[default]
    Max,
    /// The cursor shrinks (`min`): newer items have lower values.
    Min,
}

/// Whether a bound of the range is in it (dlt's `range_start` / `range_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeBound {
    /// Items at the bound are in the range.
    Closed,
    /// Items at the bound are not.
    Open,
}

/// The order in which a source yields items, by the cursor (dlt's `row_order`): once an
/// item is out of range on the side the order moves away from, no later item can be in
/// range, and the resource stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowOrder {
    /// Ascending as the last value function orders: the resource stops at the first item
    /// at or past `end_value`.
    Asc,
    /// Descending: the resource stops at the first item before the start value (or at it,
    /// and already loaded).
    Desc,
}

/// What to do with an item that has no cursor value (path missing or `null`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnMissing {
    /// Fail the extraction (dlt's default).
    #[default]
    Raise,
    /// Keep the item; it does not move the cursor.
    Include,
    /// Drop the item.
    Exclude,
}

/// Errors of incremental filtering; every message names the cursor path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncrementalError {
    #[error(
        "incremental cursor `{path}` was not found in the data item {item}; every item must \
         contain it (use the field names of the source data, not the normalized column names) \
         or set on_cursor_value_missing to include or exclude"
    )]
    CursorMissing { path: String, item: String },

    #[error(
        "incremental cursor `{path}`: lag {lag} cannot be applied to the last value {value}: \
         lag needs a number, an ISO date or an ISO timestamp"
    )]
    LagNotApplicable {
        path: String,
        lag: f64,
        value: String,
    },

    #[error(
        "incremental cursor `{path}` is null in the data item {item}; set \
         on_cursor_value_missing to include or exclude such items"
    )]
    CursorNull { path: String, item: String },

    #[error(
        "incremental cursor `{path}`: the item's value {value} ({value_type}) cannot be \
         compared with the {against} {other} ({other_type}); cursor values must be of one type"
    )]
    NotComparable {
        path: String,
        value: String,
        value_type: &'static str,
        against: &'static str,
        other: String,
        other_type: &'static str,
    },

    #[error(
        "incremental cursor `{path}`: primary key column `{column}` used for deduplication is \
         missing in the data item {item}"
    )]
    PrimaryKeyMissing {
        path: String,
        column: String,
        item: String,
    },

    #[error("incremental cursor `{path}`: invalid cursor path: {reason}")]
    InvalidCursorPath { path: String, reason: String },

    #[error("incremental cursor `{path}`: {reason}")]
    InvalidRange { path: String, reason: String },

    #[error("incremental cursor `{path}`: the saved state is invalid: {reason}")]
    InvalidState { path: String, reason: String },
}

/// Where dlt keeps a cursor's state, relative to the source's section of the pipeline
/// state (`sources.<source name>`): `resources.<resource>.incremental.<cursor path>`.
pub fn state_path(resource: &str, cursor_path: &str) -> Vec<String> {
    vec![
        "resources".to_string(),
        resource.to_string(),
        "incremental".to_string(),
        cursor_path.to_string(),
    ]
}

/// Configuration of a cursor, given by the user.
#[derive(Debug, Clone)]
pub struct Incremental {
    cursor_path: String,
    initial_value: Option<Value>,
    end_value: Option<Value>,
    last_value_func: LastValueFunc,
    /// `None`: hash the whole item; `Some([])`: no deduplication; else these columns.
    primary_key: Option<Vec<String>>,
    on_missing: OnMissing,
    lag: Option<f64>,
    range_start: RangeBound,
    range_end: RangeBound,
    row_order: Option<RowOrder>,
}

impl Incremental {
    /// A cursor at `cursor_path`: a field name, a dotted path (`"meta.ts"`) or a simple
    /// JSONPath (`"$.meta.ts"`, `"events[0].ts"`, `"events[*].ts"`: the first match).
    pub fn new(cursor_path: &str) -> Self {
        Incremental {
            cursor_path: cursor_path.to_string(),
            initial_value: None,
            end_value: None,
            last_value_func: LastValueFunc::Max,
            primary_key: None,
            on_missing: OnMissing::Raise,
            lag: None,
            range_start: RangeBound::Closed,
            range_end: RangeBound::Open,
            row_order: None,
        }
    }

    /// dlt's `lag`: each run starts this far before the saved last value (seconds for a
    /// timestamp cursor, days for a date, the number itself for a numeric one), never
    /// before `initial_value`, to load again what arrived late; the saved last value still
    /// only moves forward. No boundary deduplication (the destination merges the overlap),
    /// and no effect with `end_value`.
    pub fn lag(mut self, lag: f64) -> Self {
        self.lag = (lag != 0.0).then_some(lag);
        self
    }

    /// dlt's `range_start`: [`RangeBound::Closed`] (default) keeps items at the start
    /// value (deduplicated against the previous run), `Open` drops them.
    pub fn range_start(mut self, bound: RangeBound) -> Self {
        self.range_start = bound;
        self
    }

    /// dlt's `range_end`: [`RangeBound::Open`] (default) drops items at `end_value`,
    /// `Closed` keeps them.
    pub fn range_end(mut self, bound: RangeBound) -> Self {
        self.range_end = bound;
        self
    }

    /// dlt's `row_order`: the order the source yields items in, so the resource stops
    /// reading once the rest cannot be in range.
    pub fn row_order(mut self, order: RowOrder) -> Self {
        self.row_order = Some(order);
        self
    }

    /// The start value of the first run (when no state is saved). A JSON `null` unsets it.
    pub fn initial_value(mut self, v: impl Into<Value>) -> Self {
        self.initial_value = non_null(v.into());
        self
    }

    /// The exclusive end of the range (dlt's `range_end="open"`). Setting it makes runs
    /// stateless backfills of `[initial_value, end_value)`. A JSON `null` unsets it.
    pub fn end_value(mut self, v: impl Into<Value>) -> Self {
        self.end_value = non_null(v.into());
        self
    }

    /// How the cursor moves: [`LastValueFunc::Max`] (default) or [`LastValueFunc::Min`].
    pub fn last_value_func(mut self, f: LastValueFunc) -> Self {
        self.last_value_func = f;
        self
    }

    /// The columns (top-level fields of the item) that identify an item when deduplicating
    /// at the boundary. Default: the whole item. No columns: no deduplication.
    pub fn primary_key<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.primary_key = Some(cols.into_iter().map(Into::into).collect());
        self
    }

    /// What to do with items without a cursor value; default [`OnMissing::Raise`].
    pub fn on_cursor_value_missing(mut self, m: OnMissing) -> Self {
        self.on_missing = m;
        self
    }

    /// The cursor path as given.
    pub fn cursor_path(&self) -> &str {
        &self.cursor_path
    }

    /// The value a source should start from: the saved `last_value` if there is one,
    /// else `initial_value`. With `end_value` set, always `initial_value` (the saved state
    /// is not used).
    pub fn start_value(&self, state: Option<&Value>) -> Option<Value> {
        if self.end_value.is_some() {
            return self.initial_value.clone();
        }
        let saved = state
            .and_then(|s| s.get("last_value"))
            .and_then(|v| non_null(v.clone()));
        match (self.lag, saved) {
            (Some(lag), Some(last)) => {
                let initial = state
                    .and_then(|s| s.get("initial_value"))
                    .and_then(|v| non_null(v.clone()))
                    .or_else(|| self.initial_value.clone());
                // a value lag cannot move is used as it is (`begin` reports it)
                Some(apply_lag(lag, initial.as_ref(), &last, self.last_value_func).unwrap_or(last))
            }
            (_, saved) => saved.or_else(|| self.initial_value.clone()),
        }
    }

    /// Begins one extraction: `state` is this cursor's saved state (`None` on the first
    /// run). Fails on an invalid cursor path, an `end_value` without `initial_value` or
    /// before it, or a saved state that is not dlt's layout.
    pub fn begin(&self, state: Option<&Value>) -> Result<IncrementalRun, IncrementalError> {
        let path = parse_path(&self.cursor_path).map_err(|reason| {
            IncrementalError::InvalidCursorPath {
                path: self.cursor_path.clone(),
                reason,
            }
        })?;
        self.check_range()?;

        // dlt's `compute_deduplication_disabled`
        let dedup = self.end_value.is_none()
            && self.range_start == RangeBound::Closed
            && self.lag.is_none()
            && self.primary_key.as_ref().is_none_or(|k| !k.is_empty());
        let mut run = IncrementalRun {
            cursor_path: self.cursor_path.clone(),
            path,
            func: self.last_value_func,
            on_missing: self.on_missing,
            primary_key: self.primary_key.clone(),
            initial_value: self.initial_value.clone(),
            start_value: self.initial_value.clone(),
            end_value: self.end_value.clone(),
            last_value: self.initial_value.clone(),
            start_hashes: HashSet::new(),
            boundary_hashes: BTreeSet::new(),
            dedup,
            saves_state: self.end_value.is_none(),
            previous_state: state.cloned(),
            range_start: self.range_start,
            range_end: self.range_end,
            row_order: self.row_order,
            lag: self.lag,
            kept_any: false,
            start_out_of_range: false,
            end_out_of_range: false,
        };
        if !run.saves_state {
            // a backfill ignores the saved state (dlt uses a throw-away one)
            return Ok(run);
        }
        let Some(state) = state else {
            return Ok(run);
        };
        let obj = state
            .as_object()
            .ok_or_else(|| IncrementalError::InvalidState {
                path: self.cursor_path.clone(),
                reason: format!("expected an object, got {}", type_name(state)),
            })?;
        // the first run's initial value stays (dlt keeps the saved one)
        if let Some(initial) = obj.get("initial_value").and_then(|v| non_null(v.clone())) {
            run.initial_value = Some(initial);
        }
        if let (Some(lag), Some(last)) = (self.lag, obj.get("last_value")) {
            if !last.is_null()
                && apply_lag(lag, run.initial_value.as_ref(), last, self.last_value_func).is_none()
            {
                return Err(IncrementalError::LagNotApplicable {
                    path: self.cursor_path.clone(),
                    lag,
                    value: preview(last),
                });
            }
        }
        run.start_value = self.start_value(Some(state));
        run.last_value = run.start_value.clone();
        match obj.get("unique_hashes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(hashes)) => {
                for h in hashes {
                    let h = h.as_str().ok_or_else(|| IncrementalError::InvalidState {
                        path: self.cursor_path.clone(),
                        reason: format!("`unique_hashes` holds a {}, not a string", type_name(h)),
                    })?;
                    run.start_hashes.insert(h.to_string());
                    // hashes at the start value stay valid while the cursor does not move
                    run.boundary_hashes.insert(h.to_string());
                }
            }
            Some(other) => {
                return Err(IncrementalError::InvalidState {
                    path: self.cursor_path.clone(),
                    reason: format!("`unique_hashes` is a {}, not a list", type_name(other)),
                })
            }
        }
        if !run.dedup {
            run.boundary_hashes.clear();
        }
        Ok(run)
    }

    /// dlt's `on_resolved` checks: `end_value` needs `initial_value` and must not be
    /// "before" it.
    fn check_range(&self) -> Result<(), IncrementalError> {
        let Some(end) = &self.end_value else {
            return Ok(());
        };
        let Some(initial) = &self.initial_value else {
            return Err(IncrementalError::InvalidRange {
                path: self.cursor_path.clone(),
                reason: "`end_value` was set without `initial_value`; `initial_value` is \
                         required when using `end_value`"
                    .to_string(),
            });
        };
        match advance_cmp(self.last_value_func, end, initial) {
            Some(Ordering::Less) => {
                let adjective = match self.last_value_func {
                    LastValueFunc::Max => "higher",
                    LastValueFunc::Min => "lower",
                };
                Err(IncrementalError::InvalidRange {
                    path: self.cursor_path.clone(),
                    reason: format!(
                        "`initial_value={}` is {adjective} than `end_value={}`; `end_value` \
                         must be {adjective} than `initial_value`",
                        preview(initial),
                        preview(end)
                    ),
                })
            }
            Some(_) => Ok(()),
            None => Err(IncrementalError::InvalidRange {
                path: self.cursor_path.clone(),
                reason: format!(
                    "`initial_value={}` ({}) and `end_value={}` ({}) are not comparable",
                    preview(initial),
                    type_name(initial),
                    preview(end),
                    type_name(end)
                ),
            }),
        }
    }
}

/// One extraction's filter.
#[derive(Debug, Clone)]
pub struct IncrementalRun {
    cursor_path: String,
    path: Vec<PathToken>,
    func: LastValueFunc,
    on_missing: OnMissing,
    primary_key: Option<Vec<String>>,
    /// `initial_value` as saved in the state (the configured one on the first run).
    initial_value: Option<Value>,
    start_value: Option<Value>,
    end_value: Option<Value>,
    last_value: Option<Value>,
    /// Hashes of the items loaded at `start_value` by the previous run.
    start_hashes: HashSet<String>,
    /// Hashes of the kept items whose cursor equals `last_value`.
    boundary_hashes: BTreeSet<String>,
    dedup: bool,
    saves_state: bool,
    previous_state: Option<Value>,
    range_start: RangeBound,
    range_end: RangeBound,
    row_order: Option<RowOrder>,
    lag: Option<f64>,
    /// An item was kept (dlt then records the run's `start_value` in the state).
    kept_any: bool,
    /// The last item offered was before the range (or at its start and dropped).
    start_out_of_range: bool,
    /// The last item offered was at or past the end of the range.
    end_out_of_range: bool,
}

impl IncrementalRun {
    /// Whether to keep `item`: drops items before the start value (for `Max`:
    /// `cursor < start`), items at or past `end_value`, and items at the start value whose
    /// dedup hash was seen by the previous run. Moves the running last value and records
    /// the hashes of kept items at it.
    pub fn keep(&mut self, item: &Value) -> Result<bool, IncrementalError> {
        let kept = self.keep_in_range(item)?;
        self.kept_any |= kept;
        Ok(kept)
    }

    /// Whether the resource may stop reading: its [`RowOrder`] is known and the last item
    /// offered was out of range on the side the order moves away from (dlt's `can_close`).
    pub fn can_close(&self) -> bool {
        match self.row_order {
            Some(RowOrder::Asc) => self.end_out_of_range,
            Some(RowOrder::Desc) => self.start_out_of_range,
            None => false,
        }
    }

    fn keep_in_range(&mut self, item: &Value) -> Result<bool, IncrementalError> {
        self.start_out_of_range = false;
        self.end_out_of_range = false;
        let Some(row_value) = self.cursor_value(item)? else {
            return Ok(self.on_missing == OnMissing::Include);
        };

        if let Some(end) = &self.end_value {
            // past the end, or at an open end: dropped
            let to_end = self.compare(row_value, end, "end_value")?;
            if to_end == Ordering::Greater
                || (to_end == Ordering::Equal && self.range_end == RangeBound::Open)
            {
                self.end_out_of_range = true;
                return Ok(false);
            }
        }

        let Some(last) = &self.last_value else {
            self.advance(row_value, item)?;
            return Ok(true);
        };
        let to_last = self.compare(row_value, last, "last value")?;
        if to_last == Ordering::Greater {
            self.advance(row_value, item)?;
            return Ok(true);
        }

        if let Some(start) = &self.start_value {
            match self.compare(row_value, start, "start value")? {
                Ordering::Less => {
                    self.start_out_of_range = true;
                    return Ok(false);
                }
                Ordering::Equal => {
                    if self.range_start == RangeBound::Open
                        || (self.dedup && self.start_hashes.contains(&self.dedup_hash(item)?))
                    {
                        self.start_out_of_range = true;
                        return Ok(false);
                    }
                }
                Ordering::Greater => {}
            }
        }
        if to_last == Ordering::Equal && self.dedup {
            let hash = self.dedup_hash(item)?;
            self.boundary_hashes.insert(hash);
        }
        Ok(true)
    }

    /// The top-level fields [`Self::keep`] reads of an item: the cursor's first field and the
    /// primary key columns; `None` when it hashes whole items (boundary deduplication
    /// without a primary key). Lets tabular data build only those fields.
    pub fn item_fields(&self) -> Option<Vec<&str>> {
        if self.dedup && self.primary_key.is_none() {
            return None;
        }
        let mut fields: Vec<&str> = self
            .path
            .first()
            .and_then(|t| match t {
                PathToken::Field(k) => Some(k.as_str()),
                _ => None,
            })
            .into_iter()
            .collect();
        if self.dedup {
            fields.extend(self.primary_key.iter().flatten().map(String::as_str));
        }
        Some(fields)
    }

    /// Whether the state of this run is to be saved: `false` for a backfill with
    /// `end_value`, where [`IncrementalRun::into_state`] gives back the state it began with.
    pub fn saves_state(&self) -> bool {
        self.saves_state
    }

    /// The value this run started from (the saved `last_value` or `initial_value`).
    pub fn start_value(&self) -> Option<&Value> {
        self.start_value.as_ref()
    }

    /// The cursor's current last value (the start value until an item moves it).
    pub fn last_value(&self) -> Option<&Value> {
        self.last_value.as_ref()
    }

    /// The exclusive end of the range, if any.
    pub fn end_value(&self) -> Option<&Value> {
        self.end_value.as_ref()
    }

    /// The state to save after this extraction, dlt's layout:
    /// `{"initial_value": …, "last_value": …, "unique_hashes": […]}` (hashes sorted, so an
    /// unchanged cursor gives an identical document). For a backfill with `end_value`
    /// (see [`IncrementalRun::saves_state`]) it is the state given to
    /// [`Incremental::begin`], unchanged, or `null` if there was none.
    pub fn into_state(self) -> Value {
        if !self.saves_state {
            return self.previous_state.unwrap_or(Value::Null);
        }
        let saved = |key: &str| {
            self.previous_state
                .as_ref()
                .and_then(|s| s.get(key))
                .filter(|v| !v.is_null())
                .cloned()
        };
        // the last value of the state before this run (a first run: the initial value)
        let before = saved("last_value").or_else(|| self.initial_value.clone());
        let mut last_value = self.last_value;
        if self.lag.is_some() {
            // lag re-reads from before the saved last value, which only moves forward
            if let (Some(run), Some(prev)) = (&last_value, &before) {
                if advance_cmp(self.func, prev, run) == Some(Ordering::Greater) {
                    last_value = Some(prev.clone());
                }
            }
        }
        let start_value = match self.kept_any {
            true => Some(before.unwrap_or(Value::Null)),
            false => saved("start_value"),
        };
        let mut state = Map::new();
        state.insert(
            "initial_value".to_string(),
            self.initial_value.unwrap_or(Value::Null),
        );
        state.insert("last_value".to_string(), last_value.unwrap_or(Value::Null));
        state.insert(
            "unique_hashes".to_string(),
            Value::Array(
                self.boundary_hashes
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        );
        // dlt 1.31 records where the last run that kept items started
        if let Some(v) = start_value {
            state.insert("start_value".to_string(), v);
        }
        Value::Object(state)
    }

    /// The cursor moved to `row_value`: only `item` is at the new last value.
    fn advance(&mut self, row_value: &Value, item: &Value) -> Result<(), IncrementalError> {
        self.boundary_hashes.clear();
        if self.dedup {
            let hash = self.dedup_hash(item)?;
            self.boundary_hashes.insert(hash);
        }
        self.last_value = Some(row_value.clone());
        Ok(())
    }

    /// The item's cursor value; `None` when missing or null and not raising.
    fn cursor_value<'a>(&self, item: &'a Value) -> Result<Option<&'a Value>, IncrementalError> {
        match find_first(item, &self.path) {
            Some(Value::Null) => match self.on_missing {
                OnMissing::Raise => Err(IncrementalError::CursorNull {
                    path: self.cursor_path.clone(),
                    item: preview(item),
                }),
                OnMissing::Include | OnMissing::Exclude => Ok(None),
            },
            Some(v) => Ok(Some(v)),
            None => match self.on_missing {
                OnMissing::Raise => Err(IncrementalError::CursorMissing {
                    path: self.cursor_path.clone(),
                    item: preview(item),
                }),
                OnMissing::Include | OnMissing::Exclude => Ok(None),
            },
        }
    }

    /// `row_value` against a bound, oriented by the last value function: `Greater` means
    /// "later" (higher for `Max`, lower for `Min`).
    fn compare(
        &self,
        row_value: &Value,
        other: &Value,
        against: &'static str,
    ) -> Result<Ordering, IncrementalError> {
        advance_cmp(self.func, row_value, other).ok_or_else(|| IncrementalError::NotComparable {
            path: self.cursor_path.clone(),
            value: preview(row_value),
            value_type: type_name(row_value),
            against,
            other: preview(other),
            other_type: type_name(other),
        })
    }

    /// dlt's dedup hash of an item (see the module doc).
    fn dedup_hash(&self, item: &Value) -> Result<String, IncrementalError> {
        let text = match self.primary_key.as_deref() {
            None => ::normalize::coerce::to_json_text(item, true),
            Some([column]) => {
                ::normalize::coerce::to_json_text(self.key_value(item, column)?, true)
            }
            Some(columns) => {
                let values = columns
                    .iter()
                    .map(|c| self.key_value(item, c).cloned())
                    .collect::<Result<Vec<_>, _>>()?;
                ::normalize::coerce::to_json_text(&Value::Array(values), true)
            }
        };
        Ok(::normalize::ids::digest128(
            text.as_bytes(),
            DEDUP_HASH_BYTES,
        ))
    }

    fn key_value<'a>(&self, item: &'a Value, column: &str) -> Result<&'a Value, IncrementalError> {
        item.get(column)
            .ok_or_else(|| IncrementalError::PrimaryKeyMissing {
                path: self.cursor_path.clone(),
                column: column.to_string(),
                item: preview(item),
            })
    }
}

// ---------------------------------------------------------------------------------------
// Comparison of cursor values

/// `a` against `b` oriented by `func` (`Greater` = later); `None` if not comparable.
fn advance_cmp(func: LastValueFunc, a: &Value, b: &Value) -> Option<Ordering> {
    let ord = compare_values(a, b)?;
    Some(match func {
        LastValueFunc::Max => ord,
        LastValueFunc::Min => ord.reverse(),
    })
}

/// The natural order of two cursor values; `None` if they are not comparable.
fn compare_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                Decimal::parse(&x.to_string())?,
                Decimal::parse(&y.to_string())?,
            );
            Some(x.cmp(&y))
        }
        (Value::String(x), Value::String(y)) => {
            match (
                ::normalize::coerce::parse_iso_timestamp(x),
                ::normalize::coerce::parse_iso_timestamp(y),
            ) {
                (Some(tx), Some(ty)) => Some(tx.cmp(&ty)),
                _ => Some(x.as_str().cmp(y.as_str())),
            }
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// An exact decimal: `(-1)^negative × 0.digits × 10^magnitude`, `digits` without leading or
/// trailing zeros (empty for zero).
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    magnitude: i128,
}

impl Decimal {
    /// Parses the text of a JSON number (`-12.5e3`).
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], rest[at + 1..].parse::<i128>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        if !all.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // value = 0.all × 10^(int.len() + exponent)
        let leading = all.iter().take_while(|d| **d == b'0').count();
        let digits = all[leading..].to_vec();
        let digits: Vec<u8> = match digits.iter().rposition(|d| *d != b'0') {
            Some(last) => digits[..=last].to_vec(),
            None => Vec::new(),
        };
        let magnitude = int.len() as i128 - leading as i128 + exponent;
        Some(Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            magnitude,
        })
    }

    fn cmp_abs(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => self
                .magnitude
                .cmp(&other.magnitude)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_abs(other),
            (true, true) => other.cmp_abs(self),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Cursor paths

/// One step of a cursor path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathToken {
    Field(String),
    Index(usize),
    /// `*` / `[*]`: every element of a list or value of an object.
    Wildcard,
}

/// Parses `a.b`, `$.a.b`, `a[0].b`, `a[*].b`, `['a.b']`, `a.*`.
fn parse_path(path: &str) -> Result<Vec<PathToken>, String> {
    let rest = path.trim();
    let rest = rest.strip_prefix('$').unwrap_or(rest);
    let chars: Vec<char> = rest.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    // a field name is expected at the start and after a dot
    let mut expect_field = !rest.is_empty() && !rest.starts_with('.') && !rest.starts_with('[');
    while i < chars.len() || expect_field {
        if expect_field {
            let start = i;
            while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if name.is_empty() {
                return Err(format!("empty field name in `{path}`"));
            }
            tokens.push(if name == "*" {
                PathToken::Wildcard
            } else {
                PathToken::Field(name)
            });
            expect_field = false;
            continue;
        }
        match chars[i] {
            '.' => {
                i += 1;
                expect_field = true;
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or_else(|| format!("unclosed `[` in `{path}`"))?;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                tokens.push(if let Some(name) = quoted {
                    PathToken::Field(name.to_string())
                } else if inner == "*" {
                    PathToken::Wildcard
                } else {
                    PathToken::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("unsupported selector `[{inner}]` in `{path}`"))?,
                    )
                });
                i = close + 1;
            }
            c => return Err(format!("unexpected `{c}` in `{path}`")),
        }
    }
    if tokens.is_empty() {
        return Err("the path is empty".to_string());
    }
    Ok(tokens)
}

/// The first value at `path` in document order (dlt takes the first JSONPath match).
fn find_first<'a>(value: &'a Value, path: &[PathToken]) -> Option<&'a Value> {
    let Some((token, rest)) = path.split_first() else {
        return Some(value);
    };
    match (token, value) {
        (PathToken::Field(name), Value::Object(map)) => find_first(map.get(name)?, rest),
        (PathToken::Index(i), Value::Array(items)) => find_first(items.get(*i)?, rest),
        (PathToken::Wildcard, Value::Array(items)) => {
            items.iter().find_map(|v| find_first(v, rest))
        }
        (PathToken::Wildcard, Value::Object(map)) => map.values().find_map(|v| find_first(v, rest)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

// ---------------------------------------------------------------------------------------
// Lag

/// dlt's `apply_lag`: `last` moved back by `lag` (forward for [`LastValueFunc::Min`]), but
/// not past `initial`. `None` for a value lag does not apply to.
fn apply_lag(
    lag: f64,
    initial: Option<&Value>,
    last: &Value,
    func: LastValueFunc,
) -> Option<Value> {
    let signed = match func {
        LastValueFunc::Max => -lag,
        LastValueFunc::Min => lag,
    };
    let lagged = lag_value(signed, last)?;
    if let Some(init) = initial {
        // dlt: `last_value_func((initial_value, lagged)) == initial_value`
        if advance_cmp(func, init, &lagged).is_some_and(|o| o != Ordering::Less) {
            return Some(init.clone());
        }
    }
    Some(lagged)
}

/// `value` moved by `by`: a number by itself (an integer stays one, truncated as Python's
/// `int()`), an ISO date by whole days (Python's `timedelta` floors), an ISO timestamp by
/// seconds, written back in its own format (dlt's `detect_datetime_format` shapes).
fn lag_value(by: f64, value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                if by.fract() == 0.0 && by.abs() < 9.0e15 {
                    return i.checked_add(by as i64).map(Value::from);
                }
                let moved = (i as f64 + by).trunc();
                return (moved.abs() < 9.2e18).then(|| Value::from(moved as i64));
            }
            serde_json::Number::from_f64(n.as_f64()? + by).map(Value::Number)
        }
        Value::String(s) => lag_text(by, s).map(Value::String),
        _ => None,
    }
}

/// The ISO date or timestamp `s` moved by `by` days (a date) or seconds, in its format.
fn lag_text(by: f64, s: &str) -> Option<String> {
    use chrono::{Duration, NaiveDate, NaiveDateTime};
    if s.len() == 10 {
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let moved = date.checked_add_signed(Duration::days(by.floor() as i64))?;
        return Some(moved.format("%Y-%m-%d").to_string());
    }
    let shift = Duration::microseconds((by * 1e6).round() as i64);
    let (body, zone) = split_zone(s)?;
    let (format, out_format) = match (body.len(), body.contains('.')) {
        (13, false) => ("%Y-%m-%dT%H", "%Y-%m-%dT%H"),
        (16, false) => ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M"),
        (19, false) => ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S"),
        (21..=26, true) => ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.6f"),
        _ => return None,
    };
    // hour and minute precision: chrono wants the missing fields
    let padded = match body.len() {
        13 => format!("{body}:00:00"),
        16 => format!("{body}:00"),
        _ => body.to_string(),
    };
    let parse_format = match body.len() {
        13 | 16 => "%Y-%m-%dT%H:%M:%S",
        _ => format,
    };
    let naive = NaiveDateTime::parse_from_str(&padded, parse_format).ok()?;
    // a fixed offset moves the instant and the wall clock alike
    let moved = naive.checked_add_signed(shift)?;
    if zone.is_some() && body.len() < 19 {
        return None;
    }
    Some(format!(
        "{}{}",
        moved.format(out_format),
        zone.unwrap_or("")
    ))
}

/// `s` split into its date and time and its zone (`Z`, `+01:00`, `-0130`), when it has one
/// in one of dlt's shapes.
fn split_zone(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(body) = s.strip_suffix('Z') {
        return Some((body, Some("Z")));
    }
    let b = s.as_bytes();
    for len in [6usize, 5] {
        if b.len() > len + 10 && s.is_char_boundary(b.len() - len) {
            let at = b.len() - len;
            let zone = &s[at..];
            let zb = zone.as_bytes();
            let sign = zb[0] == b'+' || zb[0] == b'-';
            let shape = match len {
                6 => zb[3] == b':' && zb[1..3].iter().chain(&zb[4..]).all(u8::is_ascii_digit),
                _ => zb[1..].iter().all(u8::is_ascii_digit),
            };
            // a date's `-` is not a zone: the zone follows the time
            if sign && shape && s[..at].contains('T') && s[..at].contains(':') {
                return Some((&s[..at], Some(zone)));
            }
        }
    }
    s.contains('T').then_some((s, None))
}

fn non_null(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n)
            if n.is_i64() || n.is_u64() || !n.to_string().contains(['.', 'e', 'E']) =>
        {
            "integer"
        }
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Compact JSON of `v`, shortened for messages.
fn preview(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= ITEM_PREVIEW_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(ITEM_PREVIEW_CHARS).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Runs `items` through a run begun from `state`; returns the kept items and the state.
    fn run(inc: &Incremental, state: Option<&Value>, items: &[Value]) -> (Vec<Value>, Value) {
        let mut r = inc.begin(state).unwrap();
        let kept = items
            .iter()
            .filter(|i| r.keep(i).unwrap())
            .cloned()
            .collect();
        (kept, r.into_state())
    }

    /// The state as it comes back from `state.json` or the destination.
    fn round_trip(state: &Value) -> Value {
        serde_json::from_str(&serde_json::to_string(state).unwrap()).unwrap()
    }

    fn ids(items: &[Value]) -> Vec<i64> {
        items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
    }

    fn hash_of(v: &Value) -> String {
        ::normalize::ids::digest128(
            ::normalize::coerce::to_json_text(v, true).as_bytes(),
            DEDUP_HASH_BYTES,
        )
    }

    fn hashes(state: &Value) -> Vec<String> {
        state["unique_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn first_then_second_run_from_restored_state() {
        let inc = Incremental::new("ts").initial_value(10);
        let first = vec![
            json!({"id": 1, "ts": 9}),
            json!({"id": 2, "ts": 10}),
            json!({"id": 3, "ts": 12}),
            json!({"id": 4, "ts": 15}),
            json!({"id": 5, "ts": 11}),
            json!({"id": 6, "ts": 15}),
        ];
        let (kept, state) = run(&inc, None, &first);
        assert_eq!(ids(&kept), vec![2, 3, 4, 5, 6]);
        assert_eq!(state["initial_value"], json!(10));
        assert_eq!(state["last_value"], json!(15));
        // only the items at the final last value are remembered
        let mut expected = vec![hash_of(&first[3]), hash_of(&first[5])];
        expected.sort();
        assert_eq!(hashes(&state), expected);
        assert!(hashes(&state).iter().all(|h| h.len() == 20));

        let restored = round_trip(&state);
        assert_eq!(inc.start_value(Some(&restored)), Some(json!(15)));
        let second = vec![
            json!({"id": 3, "ts": 12}), // old
            json!({"id": 4, "ts": 15}), // loaded before at the boundary
            json!({"id": 7, "ts": 15}), // new at the boundary
            json!({"id": 6, "ts": 15}), // loaded before at the boundary
            json!({"id": 8, "ts": 16}),
            json!({"id": 9, "ts": 14}), // old
        ];
        let (kept, state2) = run(&inc, Some(&restored), &second);
        assert_eq!(ids(&kept), vec![7, 8]);
        assert_eq!(state2["last_value"], json!(16));
        assert_eq!(state2["initial_value"], json!(10));
        assert_eq!(hashes(&state2), vec![hash_of(&second[4])]);

        // a third run with nothing new keeps the cursor and its hashes
        let (kept, state3) = run(&inc, Some(&round_trip(&state2)), &second);
        assert!(kept.is_empty());
        assert_eq!(state3, state2);
    }

    #[test]
    fn boundary_hashes_accumulate_when_cursor_does_not_move() {
        let inc = Incremental::new("ts");
        let (_, s1) = run(&inc, None, &[json!({"id": 1, "ts": 5})]);
        let (kept, s2) = run(
            &inc,
            Some(&round_trip(&s1)),
            &[json!({"id": 1, "ts": 5}), json!({"id": 2, "ts": 5})],
        );
        assert_eq!(ids(&kept), vec![2]);
        assert_eq!(s2["last_value"], json!(5));
        assert_eq!(hashes(&s2).len(), 2);
        let (kept, _) = run(
            &inc,
            Some(&round_trip(&s2)),
            &[json!({"id": 1, "ts": 5}), json!({"id": 2, "ts": 5})],
        );
        assert!(kept.is_empty());
    }

    #[test]
    fn no_initial_value_no_items() {
        let inc = Incremental::new("ts");
        assert_eq!(inc.start_value(None), None);
        let (kept, state) = run(&inc, None, &[]);
        assert!(kept.is_empty());
        assert_eq!(
            state,
            json!({"initial_value": null, "last_value": null, "unique_hashes": []})
        );
        // a later initial value is used while nothing was loaded
        let inc = inc.initial_value(3);
        assert_eq!(inc.start_value(Some(&state)), Some(json!(3)));
        let (kept, _) = run(&inc, Some(&state), &[json!({"id": 1, "ts": 2})]);
        assert!(kept.is_empty());
    }

    #[test]
    fn primary_key_dedup() {
        let cases: Vec<(Incremental, Vec<i64>)> = vec![
            // whole item: the changed payload of id 1 makes it a new item
            (Incremental::new("ts"), vec![1, 2]),
            // by id: id 1 was loaded
            (Incremental::new("ts").primary_key(["id"]), vec![2]),
            (Incremental::new("ts").primary_key(["id", "ts"]), vec![2]),
            // no key: no deduplication at the boundary
            (
                Incremental::new("ts").primary_key(Vec::<String>::new()),
                vec![1, 2],
            ),
        ];
        for (inc, expected) in cases {
            let (_, s1) = run(&inc, None, &[json!({"id": 1, "ts": 5, "v": "a"})]);
            let (kept, _) = run(
                &inc,
                Some(&round_trip(&s1)),
                &[
                    json!({"id": 1, "ts": 5, "v": "b"}),
                    json!({"id": 2, "ts": 5, "v": "c"}),
                ],
            );
            assert_eq!(ids(&kept), expected, "{inc:?}");
        }
        // dlt's hash of a single key is over the value, of a compound key over the list
        let inc = Incremental::new("ts").primary_key(["id"]);
        let (_, s) = run(&inc, None, &[json!({"id": 1, "ts": 5})]);
        assert_eq!(hashes(&s), vec![hash_of(&json!(1))]);
        let inc = Incremental::new("ts").primary_key(["id", "ts"]);
        let (_, s) = run(&inc, None, &[json!({"id": 1, "ts": 5})]);
        assert_eq!(hashes(&s), vec![hash_of(&json!([1, 5]))]);
        // with dedup disabled nothing is stored
        let inc = Incremental::new("ts").primary_key(Vec::<String>::new());
        let (_, s) = run(&inc, None, &[json!({"id": 1, "ts": 5})]);
        assert!(hashes(&s).is_empty());
    }

    #[test]
    fn primary_key_missing_is_an_error() {
        let inc = Incremental::new("ts").primary_key(["id"]);
        let mut r = inc.begin(None).unwrap();
        let err = r.keep(&json!({"ts": 5})).unwrap_err();
        assert!(matches!(err, IncrementalError::PrimaryKeyMissing { .. }));
        assert!(err.to_string().contains("`id`"), "{err}");
        assert!(err.to_string().contains("`ts`"), "{err}");
    }

    #[test]
    fn dedup_hash_matches_dlt() {
        // dlt: digest128(json.dumps({"b": 1, "a": "x"}, sort_keys=True)), SHAKE-128, 15 bytes
        let inc = Incremental::new("b");
        let (_, s) = run(&inc, None, &[json!({"b": 1, "a": "x"})]);
        // vectors from Python: base64(hashlib.shake_128(text).digest(15)), padding stripped
        assert_eq!(hashes(&s), vec!["t8htE3Gr5XylG9k8IRHg"]);
        let cases = [
            (
                Incremental::new("ts").primary_key(["id"]),
                "669czW83KR00ut4bv/U5",
            ),
            (
                Incremental::new("ts").primary_key(["id", "ts"]),
                "PtFdsx6B36azA0n4lY9u",
            ),
        ];
        for (inc, expected) in cases {
            let (_, s) = run(&inc, None, &[json!({"id": 1, "ts": 5, "x": 0})]);
            assert_eq!(hashes(&s), vec![expected]);
        }
    }

    #[test]
    fn min_function() {
        let inc = Incremental::new("ts")
            .initial_value(100)
            .last_value_func(LastValueFunc::Min);
        let items = vec![
            json!({"id": 1, "ts": 101}),
            json!({"id": 2, "ts": 100}),
            json!({"id": 3, "ts": 90}),
            json!({"id": 4, "ts": 95}),
            json!({"id": 5, "ts": 90}),
        ];
        let (kept, state) = run(&inc, None, &items);
        assert_eq!(ids(&kept), vec![2, 3, 4, 5]);
        assert_eq!(state["last_value"], json!(90));
        assert_eq!(hashes(&state).len(), 2);
        let (kept, state) = run(
            &inc,
            Some(&round_trip(&state)),
            &[
                json!({"id": 3, "ts": 90}),
                json!({"id": 6, "ts": 91}),
                json!({"id": 7, "ts": 80}),
            ],
        );
        assert_eq!(ids(&kept), vec![7]);
        assert_eq!(state["last_value"], json!(80));
    }

    #[test]
    fn end_value_is_a_stateless_backfill() {
        let inc = Incremental::new("ts").initial_value(10).end_value(20);
        let saved = json!({"initial_value": 0, "last_value": 50, "unique_hashes": []});
        // the saved state is ignored: the range is [initial_value, end_value)
        assert_eq!(inc.start_value(Some(&saved)), Some(json!(10)));
        let items = vec![
            json!({"id": 1, "ts": 9}),
            json!({"id": 2, "ts": 10}),
            json!({"id": 3, "ts": 19}),
            json!({"id": 4, "ts": 20}),
            json!({"id": 5, "ts": 21}),
            json!({"id": 6, "ts": 15}),
        ];
        let mut r = inc.begin(Some(&saved)).unwrap();
        assert!(!r.saves_state());
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| r.keep(i).unwrap())
            .cloned()
            .collect();
        assert_eq!(ids(&kept), vec![2, 3, 6]);
        assert_eq!(r.last_value(), Some(&json!(19)));
        assert_eq!(r.end_value(), Some(&json!(20)));
        // the saved state comes back unchanged; without one there is nothing to save
        assert_eq!(r.into_state(), saved);
        let (_, state) = run(&inc, None, &items);
        assert_eq!(state, Value::Null);

        // the same items twice: no boundary deduplication in a backfill
        let (kept, _) = run(
            &inc,
            None,
            &[json!({"id": 2, "ts": 10}), json!({"id": 2, "ts": 10})],
        );
        assert_eq!(kept.len(), 2);

        // Min: the end is below the start
        let inc = Incremental::new("ts")
            .initial_value(20)
            .end_value(10)
            .last_value_func(LastValueFunc::Min);
        let (kept, _) = run(&inc, None, &items);
        assert_eq!(ids(&kept), vec![3, 4, 6]);
    }

    #[test]
    fn invalid_ranges() {
        let cases: Vec<(Incremental, &str)> = vec![
            (
                Incremental::new("ts").end_value(5),
                "without `initial_value`",
            ),
            (
                Incremental::new("ts").initial_value(5).end_value(4),
                "must be higher",
            ),
            (
                Incremental::new("ts")
                    .initial_value(4)
                    .end_value(5)
                    .last_value_func(LastValueFunc::Min),
                "must be lower",
            ),
            (
                Incremental::new("ts").initial_value("a").end_value(5),
                "not comparable",
            ),
        ];
        for (inc, message) in cases {
            let err = inc.begin(None).unwrap_err();
            assert!(
                matches!(err, IncrementalError::InvalidRange { .. }),
                "{err}"
            );
            assert!(err.to_string().contains(message), "{err}");
            assert!(err.to_string().contains("`ts`"), "{err}");
        }
        // equal bounds are accepted (an empty range)
        assert!(Incremental::new("ts")
            .initial_value(5)
            .end_value(5)
            .begin(None)
            .is_ok());
    }

    #[test]
    fn missing_cursor_modes() {
        let items = [json!({"id": 1}), json!({"id": 2, "ts": null})];
        // kept per item, or a word of the error per item
        type Expected = Result<[bool; 2], [&'static str; 2]>;
        let cases: Vec<(OnMissing, Expected)> = vec![
            (OnMissing::Raise, Err(["not found", "is null"])),
            (OnMissing::Include, Ok([true, true])),
            (OnMissing::Exclude, Ok([false, false])),
        ];
        for (mode, expected) in cases {
            let inc = Incremental::new("ts")
                .initial_value(1)
                .on_cursor_value_missing(mode);
            let mut r = inc.begin(None).unwrap();
            for (i, item) in items.iter().enumerate() {
                match &expected {
                    Ok(kept) => assert_eq!(r.keep(item).unwrap(), kept[i], "{mode:?} {item}"),
                    Err(messages) => {
                        let err = r.keep(item).unwrap_err();
                        let text = err.to_string();
                        assert!(text.contains(messages[i]), "{text}");
                        assert!(text.contains("`ts`"), "{text}");
                    }
                }
            }
            // items without cursor do not move it
            assert_eq!(r.into_state()["last_value"], json!(1), "{mode:?}");
        }
        let mut r = Incremental::new("ts").begin(None).unwrap();
        assert!(matches!(
            r.keep(&json!({"id": 1})),
            Err(IncrementalError::CursorMissing { .. })
        ));
        assert!(matches!(
            r.keep(&json!({"ts": null})),
            Err(IncrementalError::CursorNull { .. })
        ));
    }

    #[test]
    fn iso_timestamps_compare_as_instants() {
        let inc = Incremental::new("ts").initial_value("2024-01-01T08:30:00Z");
        let items = vec![
            json!({"id": 1, "ts": "2024-01-01T10:00:00+02:00"}), // 08:00Z: before the start
            json!({"id": 2, "ts": "2024-01-01T09:00:00Z"}),
            json!({"id": 3, "ts": "2024-01-01T11:30:00+02:00"}), // 09:30Z
            json!({"id": 4, "ts": "2024-01-01T04:30:00-05:00"}), // 09:30Z, equal
            json!({"id": 5, "ts": "2024-01-01T09:15:00.5+00:00"}),
        ];
        let (kept, state) = run(&inc, None, &items);
        assert_eq!(ids(&kept), vec![2, 3, 4, 5]);
        // the stored value is the item's own text
        assert_eq!(state["last_value"], json!("2024-01-01T11:30:00+02:00"));
        assert_eq!(hashes(&state).len(), 2);
        let (kept, _) = run(
            &inc,
            Some(&round_trip(&state)),
            &[
                json!({"id": 4, "ts": "2024-01-01T04:30:00-05:00"}), // seen
                json!({"id": 6, "ts": "2024-01-01T09:30:00Z"}),      // same instant, new
                json!({"id": 7, "ts": "2024-01-01T09:29:59Z"}),
            ],
        );
        assert_eq!(ids(&kept), vec![6]);

        let cases = [
            (
                "2024-01-01T10:00:00+02:00",
                "2024-01-01T09:00:00Z",
                Ordering::Less,
            ),
            (
                "2024-01-01T10:00:00",
                "2024-01-01T10:00:00Z",
                Ordering::Equal,
            ),
            (
                "2024-01-01T10:00:00.000001Z",
                "2024-01-01T10:00:00Z",
                Ordering::Greater,
            ),
            // not timestamps: by code point
            ("2024-01-02", "2024-01-10", Ordering::Less),
            ("b", "a", Ordering::Greater),
            ("Z", "a", Ordering::Less),
        ];
        for (a, b, expected) in cases {
            assert_eq!(
                compare_values(&json!(a), &json!(b)),
                Some(expected),
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn numbers_compare_exactly() {
        let parse = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
        let cases = [
            (
                "123456789012345678901234567890",
                "123456789012345678901234567891",
                Ordering::Less,
            ),
            (
                "-123456789012345678901234567890",
                "-123456789012345678901234567891",
                Ordering::Greater,
            ),
            (
                "18446744073709551616",
                "18446744073709551615",
                Ordering::Greater,
            ),
            ("1", "1.0", Ordering::Equal),
            ("1.5", "2", Ordering::Less),
            ("-0.0", "0", Ordering::Equal),
            ("1e3", "999", Ordering::Greater),
            ("1E-3", "0.001", Ordering::Equal),
            ("0.1", "0.09", Ordering::Greater),
            ("-1", "0.5", Ordering::Less),
            ("12", "1.2e1", Ordering::Equal),
            ("100", "99.99999999999999999999", Ordering::Greater),
        ];
        for (a, b, expected) in cases {
            assert_eq!(
                compare_values(&parse(a), &parse(b)),
                Some(expected),
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn big_integer_cursor() {
        let big = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
        let inc = Incremental::new("seq").initial_value(big("100000000000000000000000000000"));
        let items: Vec<Value> = [
            r#"{"id": 1, "seq": 99999999999999999999999999999}"#,
            r#"{"id": 2, "seq": 100000000000000000000000000001}"#,
            r#"{"id": 3, "seq": 100000000000000000000000000002}"#,
        ]
        .iter()
        .map(|s| big(s))
        .collect();
        let (kept, state) = run(&inc, None, &items);
        assert_eq!(ids(&kept), vec![2, 3]);
        let text = serde_json::to_string(&state).unwrap();
        assert!(
            text.contains(r#""last_value":100000000000000000000000000002"#),
            "{text}"
        );
        let (kept, _) = run(&inc, Some(&round_trip(&state)), &items);
        assert!(kept.is_empty());
    }

    #[test]
    fn nested_cursor_paths() {
        let item = json!({
            "id": 1,
            "meta": {"ts": 7, "a.b": 3},
            "events": [{"ts": 4}, {"ts": 5}],
            "maybe": [{"x": 1}, {"ts": 6}],
        });
        let cases = [
            ("meta.ts", json!(7)),
            ("$.meta.ts", json!(7)),
            ("$['meta']['a.b']", json!(3)),
            ("events[1].ts", json!(5)),
            ("events[*].ts", json!(4)),
            ("maybe[*].ts", json!(6)),
            ("meta.*", json!(7)),
            ("id", json!(1)),
        ];
        for (path, expected) in cases {
            let mut r = Incremental::new(path).begin(None).unwrap();
            assert!(r.keep(&item).unwrap(), "{path}");
            assert_eq!(r.last_value(), Some(&expected), "{path}");
        }
        for path in ["meta.nope", "events[5].ts", "id.x"] {
            let mut r = Incremental::new(path).begin(None).unwrap();
            let err = r.keep(&item).unwrap_err();
            assert!(
                matches!(err, IncrementalError::CursorMissing { .. }),
                "{path}"
            );
            assert!(err.to_string().contains(path), "{err}");
        }
        for path in ["", "a..b", "a[", "a[x]", "a.", "$"] {
            let err = Incremental::new(path).begin(None).unwrap_err();
            assert!(
                matches!(err, IncrementalError::InvalidCursorPath { .. }),
                "{path}: {err}"
            );
        }
        // the state lives under the path as given
        assert_eq!(
            state_path("events", "meta.ts"),
            vec!["resources", "events", "incremental", "meta.ts"]
        );
    }

    #[test]
    fn not_comparable_types() {
        let cases: Vec<(Incremental, Vec<Value>, [&str; 3])> = vec![
            (
                Incremental::new("ts").initial_value(5),
                vec![json!({"ts": "2024-01-01T00:00:00Z"})],
                ["string", "integer", "last value"],
            ),
            (
                Incremental::new("ts"),
                vec![json!({"ts": 1.5}), json!({"ts": "x"})],
                ["string", "float", "last value"],
            ),
            (
                Incremental::new("ts").initial_value(1).end_value(9),
                vec![json!({"ts": true})],
                ["boolean", "integer", "end_value"],
            ),
            (
                Incremental::new("ts"),
                vec![json!({"ts": [1]}), json!({"ts": [2]})],
                ["list", "list", "last value"],
            ),
        ];
        for (inc, items, words) in cases {
            let mut r = inc.begin(None).unwrap();
            let (last, head) = items.split_last().unwrap();
            for item in head {
                assert!(r.keep(item).unwrap());
            }
            let err = r.keep(last).unwrap_err();
            assert!(
                matches!(err, IncrementalError::NotComparable { .. }),
                "{err}"
            );
            let text = err.to_string();
            assert!(text.contains("`ts`"), "{text}");
            for w in words {
                assert!(text.contains(w), "{w}: {text}");
            }
        }
    }

    #[test]
    fn invalid_states() {
        let inc = Incremental::new("ts");
        for state in [
            json!([1]),
            json!({"last_value": 1, "unique_hashes": "abc"}),
            json!({"last_value": 1, "unique_hashes": [1]}),
        ] {
            let err = inc.begin(Some(&state)).unwrap_err();
            assert!(
                matches!(err, IncrementalError::InvalidState { .. }),
                "{err}"
            );
        }
        // a partial state is fine
        let r = inc.begin(Some(&json!({"last_value": 3}))).unwrap();
        assert_eq!(r.start_value(), Some(&json!(3)));
        // the saved initial value wins over a changed configured one, like dlt
        let state = json!({"initial_value": 1, "last_value": 3, "unique_hashes": []});
        let r = inc.clone().initial_value(2).begin(Some(&state)).unwrap();
        assert_eq!(r.into_state()["initial_value"], json!(1));
    }

    #[test]
    fn lag_moves_the_start_back_but_not_the_saved_last_value() {
        let inc = Incremental::new("ts").initial_value(0).lag(2.0);
        let items: Vec<Value> = (0..10).map(|i| json!({"id": i, "ts": i})).collect();
        let (kept, state) = run(&inc, None, &items);
        assert_eq!(kept.len(), 10);
        assert_eq!(state["last_value"], json!(9));
        assert_eq!(state["start_value"], json!(0));
        // the second run starts at 9 - 2 and keeps the overlap (no deduplication)
        let (kept, state) = run(&inc, Some(&round_trip(&state)), &items);
        assert_eq!(ids(&kept), vec![7, 8, 9]);
        assert_eq!(state["unique_hashes"], json!([]));
        assert_eq!(state["start_value"], json!(9));
        // late items only: the saved last value does not move back
        let late = [json!({"id": 20, "ts": 8})];
        let (kept, state) = run(&inc, Some(&state), &late);
        assert_eq!(ids(&kept), vec![20]);
        assert_eq!(state["last_value"], json!(9));
        // never before the initial value
        let inc = Incremental::new("ts").initial_value(8).lag(5.0);
        assert_eq!(
            inc.start_value(Some(&json!({"last_value": 9}))),
            Some(json!(8))
        );
    }

    #[test]
    fn lag_keeps_the_shape_of_dates_and_timestamps() {
        let cases = [
            ("2024-01-21T20:00:00Z", 259_200.0, "2024-01-18T20:00:00Z"),
            (
                "2024-01-21T20:00:00.5Z",
                0.25,
                "2024-01-21T20:00:00.250000Z",
            ),
            (
                "2024-01-21T20:00:00+02:00",
                3600.0,
                "2024-01-21T19:00:00+02:00",
            ),
            ("2024-01-21T20:00:00-0130", 60.0, "2024-01-21T19:59:00-0130"),
            ("2024-01-21T20:00:00", 86_400.0, "2024-01-20T20:00:00"),
            ("2024-01-21T20:00", 60.0, "2024-01-21T19:59"),
            ("2024-03-01", 1.0, "2024-02-29"),
            ("2024-03-01", 1.5, "2024-02-28"),
        ];
        for (last, lag, want) in cases {
            let got = apply_lag(lag, None, &json!(last), LastValueFunc::Max);
            assert_eq!(got, Some(json!(want)), "{last} - {lag}");
        }
        // `min` moves forward; integers stay integers, as Python's `int()`
        assert_eq!(
            apply_lag(1.5, None, &json!(10), LastValueFunc::Min),
            Some(json!(11))
        );
        assert_eq!(
            apply_lag(1.5, None, &json!(10), LastValueFunc::Max),
            Some(json!(8))
        );
        assert_eq!(
            apply_lag(1.0, None, &json!("soon"), LastValueFunc::Max),
            None
        );
        let inc = Incremental::new("ts").lag(1.0);
        assert!(matches!(
            inc.begin(Some(&json!({"last_value": "soon"}))),
            Err(IncrementalError::LagNotApplicable { .. })
        ));
    }

    #[test]
    fn open_and_closed_range_bounds() {
        let items: Vec<Value> = (1..=5).map(|i| json!({"id": i, "ts": i})).collect();
        let inc = Incremental::new("ts")
            .initial_value(2)
            .range_start(RangeBound::Open);
        let (kept, state) = run(&inc, None, &items);
        assert_eq!(ids(&kept), vec![3, 4, 5]);
        assert_eq!(state["unique_hashes"], json!([]));
        let inc = Incremental::new("ts")
            .initial_value(2)
            .end_value(4)
            .range_end(RangeBound::Closed);
        assert_eq!(ids(&run(&inc, None, &items).0), vec![2, 3, 4]);
        let inc = Incremental::new("ts").initial_value(2).end_value(4);
        assert_eq!(ids(&run(&inc, None, &items).0), vec![2, 3]);
    }

    #[test]
    fn a_known_row_order_stops_at_the_first_item_out_of_range() {
        let inc = Incremental::new("ts")
            .initial_value(1)
            .end_value(3)
            .row_order(RowOrder::Asc);
        let mut r = inc.begin(None).unwrap();
        assert!(r.keep(&json!({"ts": 2})).unwrap());
        assert!(!r.can_close());
        assert!(!r.keep(&json!({"ts": 3})).unwrap());
        assert!(r.can_close());
        let inc = Incremental::new("ts").row_order(RowOrder::Desc);
        let state = json!({"initial_value": null, "last_value": 5, "unique_hashes": []});
        let mut r = inc.begin(Some(&state)).unwrap();
        assert!(r.keep(&json!({"ts": 7})).unwrap());
        assert!(!r.keep(&json!({"ts": 4})).unwrap());
        assert!(r.can_close());
        // without a row order nothing stops
        let mut r = Incremental::new("ts").begin(Some(&state)).unwrap();
        assert!(!r.keep(&json!({"ts": 4})).unwrap());
        assert!(!r.can_close());
    }
}

//! The SQL of follow-up jobs: moving a table chain (a root table and its nested tables)
//! from the staging schema into the dataset. Pure functions: a chain and the schema names
//! in, statements out; [`crate::follow_up`] runs them in one transaction.
//!
//! The statements follow dlt's `sql_jobs.py` (and `PostgresStagingReplaceJob`) with these
//! differences, all of which keep dlt's results on well-formed input:
//! * temporary tables are `ON COMMIT DROP` tables in `pg_temp` named `<root>_delete` /
//!   `<root>_insert` (no random suffix: they live for one transaction only);
//! * nested rows are deduplicated by their row key (`_dlt_id`) on every insert, and root
//!   rows by their row key where dlt selects them through the insert temp table, so a job
//!   loaded twice into staging does not duplicate rows;
//! * upsert deduplicates the staging root by the primary key (ordered by `dedup_sort`)
//!   where dlt lets MERGE fail on duplicate keys;
//! * scd2 inserts one row per row hash (dlt inserts exact duplicates of a batch twice);
//! * the `dedup_sort` column is quoted (dlt writes it unquoted).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use dest_core::{Column, DataType, Error, FollowUp, Result, SortOrder, TableSchema};

use crate::sql::{literal, qualified, quote_ident};

/// Name of the ledger of completed follow-ups, a table in the staging schema.
pub(crate) const LEDGER_TABLE: &str = "_dlt_rs_follow_ups";

/// Alias of the numbered subquery of a deduplicating select (as dlt).
const DEDUP_ALIAS: &str = "_dlt_dedup_numbered";
/// `ORDER BY` of a deduplication without `dedup_sort`: any row wins.
const ANY_ORDER: &str = "(SELECT NULL)";
/// PostgreSQL's identifier limit in bytes.
const MAX_IDENT: usize = 63;

/// The dataset schema and its staging schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schemas<'a> {
    pub dataset: &'a str,
    pub staging: &'a str,
}

impl Schemas<'_> {
    /// `"dataset"."table"`.
    fn d(&self, table: &str) -> String {
        qualified(self.dataset, table)
    }
    /// `"staging"."table"`.
    fn s(&self, table: &str) -> String {
        qualified(self.staging, table)
    }
}

/// How a follow-up is called in messages: `merge (delete-insert)`.
pub(crate) fn strategy_name(kind: FollowUp) -> &'static str {
    match kind {
        FollowUp::InsertFromStaging => "replace (insert-from-staging)",
        FollowUp::SwapStaging => "replace (staging-optimized)",
        FollowUp::DeleteInsert => "merge (delete-insert)",
        FollowUp::Upsert => "merge (upsert)",
        FollowUp::Scd2 => "merge (scd2)",
    }
}

/// The statements of follow-up `kind` for `chain` (root first, parents before children).
/// `created_at` (the package creation time) is the validity boundary of scd2.
pub(crate) fn follow_up_sql(
    kind: FollowUp,
    schemas: Schemas<'_>,
    chain: &[&TableSchema],
    created_at: DateTime<Utc>,
) -> Result<Vec<String>> {
    match kind {
        FollowUp::InsertFromStaging => insert_from_staging(schemas, chain),
        FollowUp::SwapStaging => swap_staging(schemas, chain),
        FollowUp::DeleteInsert => delete_insert(schemas, chain),
        FollowUp::Upsert => upsert(schemas, chain),
        FollowUp::Scd2 => scd2(schemas, chain, created_at),
    }
}

/// `CREATE TABLE IF NOT EXISTS` of the ledger in the staging schema.
pub(crate) fn ledger_ddl(staging: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\"load_id\" varchar NOT NULL, \"root_table\" varchar NOT NULL, \
         \"done_at\" timestamptz NOT NULL, PRIMARY KEY (\"load_id\", \"root_table\"))",
        qualified(staging, LEDGER_TABLE)
    )
}

/// Whether a follow-up ran: `$1` load id, `$2` root table.
pub(crate) fn ledger_lookup(staging: &str) -> String {
    format!(
        "SELECT 1 FROM {} WHERE \"load_id\" = $1 AND \"root_table\" = $2",
        qualified(staging, LEDGER_TABLE)
    )
}

/// Records a follow-up: `$1` load id, `$2` root table.
pub(crate) fn ledger_record(staging: &str) -> String {
    format!(
        "INSERT INTO {}(\"load_id\", \"root_table\", \"done_at\") VALUES ($1, $2, now())",
        qualified(staging, LEDGER_TABLE)
    )
}

// ---------------------------------------------------------------------------------------
// replace

/// replace / insert-from-staging: for each table, root to leaves, empty it in the dataset
/// and copy the staging rows in.
pub(crate) fn insert_from_staging(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    let kind = FollowUp::InsertFromStaging;
    root_of(kind, chain)?;
    let mut sql = Vec::new();
    for t in chain {
        let cols = col_list(&columns(kind, chain, t)?);
        sql.push(format!("TRUNCATE TABLE {}", s.d(&t.name)));
        sql.push(format!(
            "INSERT INTO {}({cols}) SELECT {cols} FROM {}",
            s.d(&t.name),
            s.s(&t.name)
        ));
    }
    Ok(sql)
}

/// replace / staging-optimized: each staging table replaces its dataset table, and an empty
/// copy of it is created in staging. As in dlt, the dataset tables are physically replaced:
/// views, grants and anything else depending on them is lost (the `DROP` fails while a
/// view depends on a table).
pub(crate) fn swap_staging(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    root_of(FollowUp::SwapStaging, chain)?;
    let mut sql = Vec::new();
    for t in chain {
        sql.push(format!("DROP TABLE IF EXISTS {}", s.d(&t.name)));
        sql.push(format!(
            "ALTER TABLE {} SET SCHEMA {}",
            s.s(&t.name),
            quote_ident(s.dataset)
        ));
        sql.push(format!(
            "CREATE TABLE {} (LIKE {} INCLUDING ALL)",
            s.s(&t.name),
            s.d(&t.name)
        ));
    }
    Ok(sql)
}

// ---------------------------------------------------------------------------------------
// merge

/// merge / delete-insert.
///
/// With a primary key and/or a merge key: dataset root rows matching a staging row on the
/// primary key (all columns) or on the merge key (all columns) are deleted with their
/// nested rows (linked by the root key), then the staging rows are inserted: one per
/// primary key (the first by `dedup_sort`) when there is a primary key, all of them
/// otherwise, and never the rows flagged by the `hard_delete` column. Without any key the
/// chain is appended (dlt's "staged append").
pub(crate) fn delete_insert(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    let kind = FollowUp::DeleteInsert;
    let root = root_of(kind, chain)?;
    let nested = &chain[1..];
    let pks = quoted_with(root, |c| c.primary_key);
    let mks = quoted_with(root, |c| c.merge_key);
    let hard = HardDelete::of(kind, chain, root)?;
    let order = dedup_order(root);
    let staged_append = pks.is_empty() && mks.is_empty();
    let not_deleted = hard
        .as_ref()
        .map_or_else(|| "1 = 1".to_string(), |h| h.not_deleted(None));
    let d_root = s.d(&root.name);
    let s_root = s.s(&root.name);

    // nested rows are tied to root rows through the temp tables when there are keys or
    // rows to leave out
    let linked = !nested.is_empty() && (!staged_append || hard.is_some());
    let row_key = if linked {
        Some(row_key(kind, chain, root)?)
    } else {
        None
    };
    let root_keys = if linked {
        nested
            .iter()
            .map(|t| root_key(kind, chain, t))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };

    let mut sql = Vec::new();
    if !staged_append {
        let mut key_clauses = Vec::new();
        for keys in [&pks, &mks] {
            if !keys.is_empty() {
                key_clauses.push(
                    keys.iter()
                        .map(|c| format!("d.{c} = s.{c}"))
                        .collect::<Vec<_>>()
                        .join(" AND "),
                );
            }
        }
        let matching = format!(
            "FROM {d_root} AS d WHERE EXISTS (SELECT 1 FROM {s_root} AS s WHERE {})",
            key_clauses.join(" OR ")
        );
        match &row_key {
            None => sql.push(format!("DELETE {matching}")),
            Some(rk) => {
                let (create, temp) = temp_table(&root.name, "delete");
                sql.push(format!("{create} AS SELECT d.{rk} {matching}"));
                for (t, key) in nested.iter().zip(&root_keys) {
                    sql.push(format!(
                        "DELETE FROM {} WHERE {key} IN (SELECT * FROM {temp})",
                        s.d(&t.name)
                    ));
                }
                sql.push(format!(
                    "DELETE FROM {d_root} WHERE {rk} IN (SELECT * FROM {temp})"
                ));
            }
        }
    }

    // the row keys of the root rows to insert, when not all staging rows go in
    let insert_temp = match &row_key {
        Some(rk) if !pks.is_empty() || hard.is_some() => {
            let (create, temp) = temp_table(&root.name, "insert");
            let select = if pks.is_empty() {
                format!("SELECT {rk} FROM {s_root} WHERE {not_deleted}")
            } else {
                let mut inner = vec![rk.clone()];
                if let Some(h) = &hard {
                    inner.push(h.column.clone());
                }
                dedup_select(&s_root, &pks, &order, rk, &inner, &not_deleted)
            };
            sql.push(format!("{create} AS {select}"));
            Some(temp)
        }
        _ => None,
    };

    for (i, t) in chain.iter().enumerate() {
        let cols = columns(kind, chain, t)?;
        let list = col_list(&cols);
        let select = if i == 0 {
            match (&insert_temp, &row_key) {
                (Some(temp), Some(rk)) if !pks.is_empty() => dedup_select(
                    &s_root,
                    std::slice::from_ref(rk),
                    ANY_ORDER,
                    &list,
                    &cols,
                    &format!("{rk} IN (SELECT * FROM {temp})"),
                ),
                _ if !pks.is_empty() && nested.is_empty() => {
                    dedup_select(&s_root, &pks, &order, &list, &cols, &not_deleted)
                }
                _ => format!("SELECT {list} FROM {s_root} WHERE {not_deleted}"),
            }
        } else {
            let cond = match (&insert_temp, root_keys.get(i - 1)) {
                (Some(temp), Some(key)) => format!("{key} IN (SELECT * FROM {temp})"),
                (Some(_), None) => {
                    return Err(Error::Internal(format!(
                        "no root key for nested table `{}`",
                        t.name
                    )))
                }
                (None, _) => "1 = 1".to_string(),
            };
            select_unique(kind, chain, t, &s.s(&t.name), &list, &cols, &cond)
        };
        sql.push(format!("INSERT INTO {}({list}) {select}", s.d(&t.name)));
    }
    Ok(sql)
}

/// merge / upsert (PostgreSQL 15+: MERGE). The root is merged on the primary key (one
/// staging row per key, the first by `dedup_sort`): matching rows flagged by `hard_delete`
/// are deleted, other matching rows updated (all columns), new keys inserted. Nested rows
/// of the staged roots that are no longer in staging are deleted, the staged nested rows
/// merged on their row key, and the nested rows of flagged roots deleted.
pub(crate) fn upsert(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    let kind = FollowUp::Upsert;
    let root = root_of(kind, chain)?;
    let pks = quoted_with(root, |c| c.primary_key);
    if pks.is_empty() {
        return Err(chain_err(
            kind,
            chain,
            format!("table `{}` has no primary key", root.name),
        ));
    }
    let hard = HardDelete::of(kind, chain, root)?;
    let s_root = s.s(&root.name);
    let cols = columns(kind, chain, root)?;
    let list = col_list(&cols);
    let source = dedup_select(&s_root, &pks, &dedup_order(root), &list, &cols, "1 = 1");
    let on = pks
        .iter()
        .map(|c| format!("d.{c} = s.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let delete = hard
        .as_ref()
        .map(|h| format!("WHEN MATCHED AND ({}) THEN DELETE ", h.deleted(Some("s"))))
        .unwrap_or_default();
    let mut sql = vec![merge_statement(
        &s.d(&root.name),
        &source,
        &on,
        &delete,
        &cols,
    )];

    let nested = &chain[1..];
    if nested.is_empty() {
        return Ok(sql);
    }
    let root_row_key = row_key(kind, chain, root)?;
    for t in nested {
        let rk = row_key(kind, chain, t)?;
        let key = root_key(kind, chain, t)?;
        let d_t = s.d(&t.name);
        let s_t = s.s(&t.name);
        // elements no longer in the lists of the staged roots
        sql.push(format!(
            "DELETE FROM {d_t} WHERE {key} IN (SELECT {root_row_key} FROM {s_root}) \
             AND {rk} NOT IN (SELECT {rk} FROM {s_t})"
        ));
        let cols = columns(kind, chain, t)?;
        let list = col_list(&cols);
        let source = dedup_select(
            &s_t,
            std::slice::from_ref(&rk),
            ANY_ORDER,
            &list,
            &cols,
            "1 = 1",
        );
        sql.push(merge_statement(
            &d_t,
            &source,
            &format!("d.{rk} = s.{rk}"),
            "",
            &cols,
        ));
        if let Some(h) = &hard {
            sql.push(format!(
                "DELETE FROM {d_t} WHERE {key} IN (SELECT {root_row_key} FROM {s_root} WHERE {})",
                h.deleted(None)
            ));
        }
    }
    Ok(sql)
}

/// merge / scd2. Root rows hold history: active versions of records missing from the
/// staged snapshot (by row hash; with a merge key only those whose key is in the
/// snapshot) are retired by setting their valid-to to the boundary; staged versions that
/// are not active are inserted with valid-from = boundary and valid-to = the active
/// value (NULL or `active_record_timestamp`). Nested tables are insert-only.
pub(crate) fn scd2(
    s: Schemas<'_>,
    chain: &[&TableSchema],
    boundary: DateTime<Utc>,
) -> Result<Vec<String>> {
    let kind = FollowUp::Scd2;
    let root = root_of(kind, chain)?;
    let from = validity_column(kind, chain, root, |c| c.valid_from, "_dlt_valid_from")?;
    let to = validity_column(kind, chain, root, |c| c.valid_to, "_dlt_valid_to")?;
    let hash = match root
        .complete_columns()
        .find(|c| c.row_version)
        .or_else(|| root.complete_columns().find(|c| c.name == "_dlt_id"))
    {
        Some(c) => quote_ident(&c.name),
        None => {
            return Err(chain_err(
                kind,
                chain,
                format!(
                    "table `{}` has no row version column (`x-row-version` or `_dlt_id`)",
                    root.name
                ),
            ))
        }
    };
    let boundary = timestamp_literal(kind, chain, boundary)?;
    let (active_value, is_active) = match &root.active_record_timestamp {
        None => ("NULL".to_string(), format!("{to} IS NULL")),
        Some(ts) => {
            let lit = timestamp_literal(kind, chain, parse_timestamp(kind, chain, root, ts)?)?;
            (lit.clone(), format!("{to} = {lit}"))
        }
    };
    let d_root = s.d(&root.name);
    let s_root = s.s(&root.name);

    let mut retire = format!(
        "UPDATE {d_root} SET {to} = {boundary} WHERE {is_active} \
         AND {hash} NOT IN (SELECT {hash} FROM {s_root})"
    );
    let mks = quoted_with(root, |c| c.merge_key);
    if !mks.is_empty() {
        let key = if mks.len() == 1 {
            mks[0].clone()
        } else {
            format!("CONCAT({})", mks.join(", "))
        };
        retire.push_str(&format!(" AND {key} IN (SELECT {key} FROM {s_root})"));
    }
    let mut sql = vec![retire];

    let cols: Vec<String> = columns(kind, chain, root)?
        .into_iter()
        .filter(|c| *c != from && *c != to)
        .collect();
    let list = col_list(&cols);
    let outer = format!("{list}, {boundary} AS {from}, {active_value} AS {to}");
    let select = dedup_select(
        &s_root,
        std::slice::from_ref(&hash),
        ANY_ORDER,
        &outer,
        &cols,
        &format!("{hash} NOT IN (SELECT {hash} FROM {d_root} WHERE {is_active})"),
    );
    sql.push(format!(
        "INSERT INTO {d_root}({list}, {from}, {to}) {select}"
    ));

    for t in &chain[1..] {
        let rk = row_key(kind, chain, t)?;
        let cols = columns(kind, chain, t)?;
        let list = col_list(&cols);
        let d_t = s.d(&t.name);
        let select = dedup_select(
            &s.s(&t.name),
            std::slice::from_ref(&rk),
            ANY_ORDER,
            &list,
            &cols,
            &format!("{rk} NOT IN (SELECT {rk} FROM {d_t})"),
        );
        sql.push(format!("INSERT INTO {d_t}({list}) {select}"));
    }
    Ok(sql)
}

// ---------------------------------------------------------------------------------------
// helpers

fn chain_err(kind: FollowUp, chain: &[&TableSchema], reason: String) -> Error {
    let root = chain.first().map_or("?", |t| t.name.as_str());
    Error::InvalidSchema(format!(
        "{} of table chain `{root}` ({}): {reason}",
        strategy_name(kind),
        chain
            .iter()
            .map(|t| format!("`{}`", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn root_of<'a>(kind: FollowUp, chain: &[&'a TableSchema]) -> Result<&'a TableSchema> {
    chain.first().copied().ok_or_else(|| {
        Error::Internal(format!(
            "{} follow-up for an empty table chain",
            strategy_name(kind)
        ))
    })
}

/// The quoted complete columns of `t`, in schema order.
fn columns(kind: FollowUp, chain: &[&TableSchema], t: &TableSchema) -> Result<Vec<String>> {
    let cols: Vec<String> = t.complete_columns().map(|c| quote_ident(&c.name)).collect();
    if cols.is_empty() {
        return Err(chain_err(
            kind,
            chain,
            format!("table `{}` has no columns with a data type", t.name),
        ));
    }
    Ok(cols)
}

fn col_list(cols: &[String]) -> String {
    cols.join(", ")
}

/// The quoted complete columns of `t` that have a hint.
fn quoted_with(t: &TableSchema, hint: impl Fn(&Column) -> bool) -> Vec<String> {
    t.complete_columns()
        .filter(|c| hint(c))
        .map(|c| quote_ident(&c.name))
        .collect()
}

/// The row key of `t` (quoted): the first `row_key` column, else the first `unique` one,
/// else its single primary key column.
fn row_key(kind: FollowUp, chain: &[&TableSchema], t: &TableSchema) -> Result<String> {
    if let Some(c) = t
        .complete_columns()
        .find(|c| c.row_key)
        .or_else(|| t.complete_columns().find(|c| c.unique))
    {
        return Ok(quote_ident(&c.name));
    }
    let pks = quoted_with(t, |c| c.primary_key);
    match pks.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(chain_err(
            kind,
            chain,
            format!(
                "table `{}` has no row key (a `row_key` or `unique` column such as `_dlt_id`, or a single primary key column)",
                t.name
            ),
        )),
        _ => Err(chain_err(
            kind,
            chain,
            format!(
                "table `{}` has no `row_key` or `unique` column and several primary key columns, which cannot serve as row key",
                t.name
            ),
        )),
    }
}

/// The column linking nested table `t` to the root (quoted): its `root_key` column, or
/// its `parent_key` column when its parent is the root.
fn root_key(kind: FollowUp, chain: &[&TableSchema], t: &TableSchema) -> Result<String> {
    if let Some(c) = t.complete_columns().find(|c| c.root_key) {
        return Ok(quote_ident(&c.name));
    }
    let root = chain.first().map_or("", |r| r.name.as_str());
    if t.parent.as_deref() == Some(root) {
        if let Some(c) = t.complete_columns().find(|c| c.parent_key) {
            return Ok(quote_ident(&c.name));
        }
        return Err(chain_err(
            kind,
            chain,
            format!(
                "nested table `{}` has neither a root key (`_dlt_root_id`) nor a parent key (`_dlt_parent_id`) column",
                t.name
            ),
        ));
    }
    Err(chain_err(
        kind,
        chain,
        format!(
            "nested table `{}` has no root key column (`_dlt_root_id`), so its rows cannot be tied to rows of `{root}`; \
             the root key is propagated for merge with delete-insert or upsert, so the table was probably created \
             under another write disposition: drop it or load with `refresh`",
            t.name
        ),
    ))
}

/// `"col" ASC|DESC` of the root's `dedup_sort` column, else any order.
fn dedup_order(t: &TableSchema) -> String {
    t.complete_columns()
        .find_map(|c| {
            c.dedup_sort.map(|o| {
                let dir = match o {
                    SortOrder::Asc => "ASC",
                    SortOrder::Desc => "DESC",
                };
                format!("{} {dir}", quote_ident(&c.name))
            })
        })
        .unwrap_or_else(|| ANY_ORDER.to_string())
}

/// dlt's deduplicating select: `outer` from the rows of `table` numbered per `partition`
/// (`inner` are the columns the numbered subquery carries), first row of each partition
/// that meets `cond`.
fn dedup_select(
    table: &str,
    partition: &[String],
    order: &str,
    outer: &str,
    inner: &[String],
    cond: &str,
) -> String {
    format!(
        "SELECT {outer} FROM (SELECT ROW_NUMBER() OVER (partition BY {} ORDER BY {order}) AS _dlt_dedup_rn, {} \
         FROM {table}) AS {DEDUP_ALIAS} WHERE _dlt_dedup_rn = 1 AND ({cond})",
        partition.join(", "),
        inner.join(", ")
    )
}

/// The rows of nested table `t` in staging that meet `cond`, one per row key (or all of
/// them when the table has no row key).
fn select_unique(
    kind: FollowUp,
    chain: &[&TableSchema],
    t: &TableSchema,
    table: &str,
    list: &str,
    cols: &[String],
    cond: &str,
) -> String {
    match row_key(kind, chain, t) {
        Ok(rk) => dedup_select(
            table,
            std::slice::from_ref(&rk),
            ANY_ORDER,
            list,
            cols,
            cond,
        ),
        Err(_) => format!("SELECT {list} FROM {table} WHERE {cond}"),
    }
}

/// `CREATE TEMPORARY TABLE ... ON COMMIT DROP` (without the `AS` query) and the name to
/// select from. The table lives in `pg_temp` for the follow-up's transaction only.
fn temp_table(root: &str, op: &str) -> (String, String) {
    let suffix = format!("_{op}");
    let mut end = root.len().min(MAX_IDENT - suffix.len());
    while !root.is_char_boundary(end) {
        end -= 1;
    }
    let name = qualified("pg_temp", &format!("{}{suffix}", &root[..end]));
    (
        format!("CREATE TEMPORARY TABLE {name} ON COMMIT DROP"),
        name,
    )
}

/// A `merge`: `MERGE INTO target AS d USING (source) AS s ON on [extra] WHEN MATCHED THEN
/// UPDATE ... WHEN NOT MATCHED THEN INSERT ...` over `cols`.
fn merge_statement(target: &str, source: &str, on: &str, extra: &str, cols: &[String]) -> String {
    let update = cols
        .iter()
        .map(|c| format!("{c} = s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let values = cols
        .iter()
        .map(|c| format!("s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "MERGE INTO {target} AS d USING ({source}) AS s ON {on} {extra}\
         WHEN MATCHED THEN UPDATE SET {update} \
         WHEN NOT MATCHED THEN INSERT ({}) VALUES ({values})",
        col_list(cols)
    )
}

/// The root's `hard_delete` column.
struct HardDelete {
    /// Quoted name.
    column: String,
    is_bool: bool,
}

impl HardDelete {
    fn of(kind: FollowUp, chain: &[&TableSchema], root: &TableSchema) -> Result<Option<Self>> {
        let mut flagged = root.complete_columns().filter(|c| c.hard_delete);
        let Some(c) = flagged.next() else {
            return Ok(None);
        };
        if let Some(other) = flagged.next() {
            return Err(chain_err(
                kind,
                chain,
                format!(
                    "table `{}` has more than one `hard_delete` column (`{}`, `{}`)",
                    root.name, c.name, other.name
                ),
            ));
        }
        Ok(Some(HardDelete {
            column: quote_ident(&c.name),
            is_bool: c.data_type == Some(DataType::Bool),
        }))
    }

    fn col(&self, alias: Option<&str>) -> String {
        match alias {
            Some(a) => format!("{a}.{}", self.column),
            None => self.column.clone(),
        }
    }

    /// Rows flagged as deleted: `h = TRUE` for a bool column, `h IS NOT NULL` for others.
    fn deleted(&self, alias: Option<&str>) -> String {
        let c = self.col(alias);
        if self.is_bool {
            format!("{c} = TRUE")
        } else {
            format!("{c} IS NOT NULL")
        }
    }

    /// Rows not flagged: `h IS NULL OR h = FALSE` for a bool column, `h IS NULL` for others.
    fn not_deleted(&self, alias: Option<&str>) -> String {
        let c = self.col(alias);
        if self.is_bool {
            format!("{c} IS NULL OR {c} = FALSE")
        } else {
            format!("{c} IS NULL")
        }
    }
}

/// The quoted validity column of an scd2 root: the flagged one, else `default` if the
/// table has it.
fn validity_column(
    kind: FollowUp,
    chain: &[&TableSchema],
    root: &TableSchema,
    flag: impl Fn(&Column) -> bool,
    default: &str,
) -> Result<String> {
    root.complete_columns()
        .find(|c| flag(c))
        .or_else(|| root.complete_columns().find(|c| c.name == default))
        .map(|c| quote_ident(&c.name))
        .ok_or_else(|| {
            chain_err(
                kind,
                chain,
                format!(
                    "table `{}` has no validity column `{default}` (nor one flagged as such)",
                    root.name
                ),
            )
        })
}

/// A UTC timestamp as dlt renders it for PostgreSQL: `'2026-11-24 03:13:09.747648+00:00'`
/// (through [`literal`], so `E'...'`).
fn timestamp_literal(kind: FollowUp, chain: &[&TableSchema], ts: DateTime<Utc>) -> Result<String> {
    literal(&ts.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
        .map_err(|e| chain_err(kind, chain, e.to_string()))
}

/// An ISO timestamp (`active_record_timestamp`): with an offset, or naive (UTC), or a date.
fn parse_timestamp(
    kind: FollowUp,
    chain: &[&TableSchema],
    root: &TableSchema,
    s: &str,
) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(s) {
        return Ok(ts.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(ts) = DateTime::parse_from_str(s, f) {
            return Ok(ts.with_timezone(&Utc));
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(ts) = NaiveDateTime::parse_from_str(s, f) {
            return Ok(ts.and_utc());
        }
    }
    if let Some(ts) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(ts.and_utc());
    }
    Err(chain_err(
        kind,
        chain,
        format!(
            "table `{}`: active record timestamp `{s}` is not an ISO 8601 timestamp",
            root.name
        ),
    ))
}

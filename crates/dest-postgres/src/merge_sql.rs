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
        "CREATE TABLE IF NOT EXISTS {} (\"load_id\" varchar NOT NULL, \
         \"root_table\" varchar NOT NULL, \"done_at\" timestamptz NOT NULL, \
         PRIMARY KEY (\"load_id\", \"root_table\"))",
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
/// copy of it is created in staging. As in dlt, the dataset tables are physically replaced,
/// so whatever hangs on the old tables is lost: grants, comments, indexes and constraints
/// not made by the loader, and dependent views (a view actually makes the plain
/// `DROP TABLE` fail, so the follow-up fails and changes nothing, as in dlt).
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
/// merged on their row key, and the nested rows of flagged roots deleted. As in dlt, a
/// flagged staging row whose key is not in the dataset is inserted (`WHEN NOT MATCHED`),
/// without its nested rows.
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
                "table `{}` has no row key (a `row_key` or `unique` column such as `_dlt_id`, \
                 or a single primary key column)",
                t.name
            ),
        )),
        _ => Err(chain_err(
            kind,
            chain,
            format!(
                "table `{}` has no `row_key` or `unique` column and several primary key \
                 columns, which cannot serve as row key",
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
                "nested table `{}` has neither a root key (`_dlt_root_id`) nor a parent key \
                 (`_dlt_parent_id`) column",
                t.name
            ),
        ));
    }
    Err(chain_err(
        kind,
        chain,
        format!(
            "nested table `{}` has no root key column (`_dlt_root_id`), so its rows cannot be \
             tied to rows of `{root}`; the root key is propagated for merge with delete-insert \
             or upsert, so the table was probably created under another write disposition: \
             drop it or load with `refresh`",
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
        "SELECT {outer} FROM (SELECT ROW_NUMBER() OVER (partition BY {} ORDER BY {order}) \
         AS _dlt_dedup_rn, {} FROM {table}) AS {DEDUP_ALIAS} WHERE _dlt_dedup_rn = 1 AND ({cond})",
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
/// (through [`literal`], so `E'...'`), rounded to the microsecond.
fn timestamp_literal(kind: FollowUp, chain: &[&TableSchema], ts: DateTime<Utc>) -> Result<String> {
    let rounded = ts + chrono::Duration::nanoseconds(500);
    literal(&rounded.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string())
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use dest_core::DataType::{Bigint, Bool, Text, Timestamp};
    use expect_test::{expect, Expect};

    const S: Schemas<'static> = Schemas {
        dataset: "ds",
        staging: "ds_staging",
    };

    pub(crate) fn col(name: &str, ty: DataType) -> Column {
        Column::new(name, ty)
    }

    pub(crate) fn with(name: &str, ty: DataType, f: impl FnOnce(&mut Column)) -> Column {
        let mut c = Column::new(name, ty);
        f(&mut c);
        c
    }

    pub(crate) fn pk(name: &str) -> Column {
        with(name, Bigint, |c| {
            c.primary_key = true;
            c.nullable = false;
        })
    }

    pub(crate) fn row_id() -> Column {
        with("_dlt_id", Text, |c| {
            c.nullable = false;
            c.unique = true;
            c.row_key = true;
        })
    }

    /// A root table: `data` columns, then `_dlt_load_id`, `_dlt_id`.
    pub(crate) fn root_table(name: &str, data: Vec<Column>) -> TableSchema {
        let mut t = TableSchema::new(name);
        t.write_disposition = "merge".into();
        t.columns = data;
        t.columns.push(col("_dlt_load_id", Text).not_null());
        t.columns.push(row_id());
        t
    }

    /// A nested table: `data` columns, then [`_dlt_root_id`], `_dlt_parent_id`,
    /// `_dlt_list_idx`, `_dlt_id`.
    pub(crate) fn nested_table(
        name: &str,
        parent: &str,
        data: Vec<Column>,
        with_root_key: bool,
    ) -> TableSchema {
        let mut t = TableSchema::new(name);
        t.write_disposition = "merge".into();
        t.parent = Some(parent.into());
        t.columns = data;
        if with_root_key {
            t.columns.push(with("_dlt_root_id", Text, |c| {
                c.nullable = false;
                c.root_key = true;
            }));
        }
        t.columns.push(with("_dlt_parent_id", Text, |c| {
            c.nullable = false;
            c.parent_key = true;
        }));
        t.columns.push(col("_dlt_list_idx", Bigint).not_null());
        t.columns.push(row_id());
        t
    }

    fn check(sql: Result<Vec<String>>, expect: Expect) {
        match sql {
            Ok(sql) => expect.assert_eq(&sql.join(";\n")),
            Err(e) => expect.assert_eq(&format!("error: {e}")),
        }
    }

    fn users() -> TableSchema {
        root_table(
            "users",
            vec![pk("id"), col("name", Text), col("score", Bigint)],
        )
    }

    fn orders() -> Vec<TableSchema> {
        vec![
            root_table("orders", vec![pk("id")]),
            nested_table(
                "orders__lines",
                "orders",
                vec![col("sku", Text), col("n", Bigint)],
                true,
            ),
            nested_table(
                "orders__lines__tags",
                "orders__lines",
                vec![col("value", Text)],
                true,
            ),
        ]
    }

    fn refs(tables: &[TableSchema]) -> Vec<&TableSchema> {
        tables.iter().collect()
    }

    #[test]
    fn delete_insert_root_only() {
        check(
            delete_insert(S, &[&users()]),
            expect![[r#"
            DELETE FROM "ds"."users" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."users" AS s WHERE d."id" = s."id");
            INSERT INTO "ds"."users"("id", "name", "score", "_dlt_load_id", "_dlt_id") SELECT "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."users") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
    }

    #[test]
    fn delete_insert_nested() {
        check(
            delete_insert(S, &refs(&orders())),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_delete" ON COMMIT DROP AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders__lines__tags" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            CREATE TEMPORARY TABLE "pg_temp"."orders_insert" ON COMMIT DROP AS SELECT "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1);
            INSERT INTO "ds"."orders"("id", "_dlt_load_id", "_dlt_id") SELECT "id", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"))"#]],
        );
    }

    #[test]
    fn delete_insert_merge_key() {
        let mut t = root_table("events", vec![col("day", Text), col("v", Bigint)]);
        t.columns[0].merge_key = true;
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."events" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."events" AS s WHERE d."day" = s."day");
            INSERT INTO "ds"."events"("day", "v", "_dlt_load_id", "_dlt_id") SELECT "day", "v", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."events" WHERE 1 = 1"#]],
        );
        // with nested tables: all rows of the batch go in, nested rows without dedup condition
        let mut chain = orders();
        chain[0].columns[0].primary_key = false;
        chain[0].columns[0].merge_key = true;
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_delete" ON COMMIT DROP AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders__lines__tags" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            INSERT INTO "ds"."orders"("id", "_dlt_load_id", "_dlt_id") SELECT "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders" WHERE 1 = 1;
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1);
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
    }

    #[test]
    fn delete_insert_pk_and_merge_key() {
        let mut t = root_table(
            "events",
            vec![pk("id"), pk("part"), col("day", Text), col("v", Bigint)],
        );
        t.columns[2].merge_key = true;
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."events" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."events" AS s WHERE d."id" = s."id" AND d."part" = s."part" OR d."day" = s."day");
            INSERT INTO "ds"."events"("id", "part", "day", "v", "_dlt_load_id", "_dlt_id") SELECT "id", "part", "day", "v", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id", "part" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "part", "day", "v", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."events") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
    }

    #[test]
    fn delete_insert_without_keys_appends_the_chain() {
        let mut chain = orders();
        chain[0].columns[0].primary_key = false;
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            INSERT INTO "ds"."orders"("id", "_dlt_load_id", "_dlt_id") SELECT "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders" WHERE 1 = 1;
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1);
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
    }

    #[test]
    fn delete_insert_dedup_sort() {
        let mut t = users();
        t.columns[2].dedup_sort = Some(SortOrder::Desc);
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."users" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."users" AS s WHERE d."id" = s."id");
            INSERT INTO "ds"."users"("id", "name", "score", "_dlt_load_id", "_dlt_id") SELECT "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "score" DESC) AS _dlt_dedup_rn, "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."users") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
        t.columns[2].dedup_sort = Some(SortOrder::Asc);
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."users" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."users" AS s WHERE d."id" = s."id");
            INSERT INTO "ds"."users"("id", "name", "score", "_dlt_load_id", "_dlt_id") SELECT "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "score" ASC) AS _dlt_dedup_rn, "id", "name", "score", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."users") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)"#]],
        );
        // with nested tables the order picks the root rows of the insert temp table
        let mut chain = orders();
        chain[0].columns.insert(1, col("ts", Timestamp));
        chain[0].columns[1].dedup_sort = Some(SortOrder::Desc);
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_delete" ON COMMIT DROP AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders__lines__tags" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            CREATE TEMPORARY TABLE "pg_temp"."orders_insert" ON COMMIT DROP AS SELECT "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "ts" DESC) AS _dlt_dedup_rn, "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1);
            INSERT INTO "ds"."orders"("id", "ts", "_dlt_load_id", "_dlt_id") SELECT "id", "ts", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "ts", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"))"#]],
        );
    }

    #[test]
    fn delete_insert_hard_delete() {
        let mut t = root_table(
            "items",
            vec![pk("id"), col("v", Text), col("deleted", Bool)],
        );
        t.columns[2].hard_delete = true;
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."items" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."items" AS s WHERE d."id" = s."id");
            INSERT INTO "ds"."items"("id", "v", "deleted", "_dlt_load_id", "_dlt_id") SELECT "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("deleted" IS NULL OR "deleted" = FALSE)"#]],
        );
        // a non-bool column: any value deletes
        t.columns[2] = with("deleted_at", Timestamp, |c| c.hard_delete = true);
        check(
            delete_insert(S, &[&t]),
            expect![[r#"
            DELETE FROM "ds"."items" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."items" AS s WHERE d."id" = s."id");
            INSERT INTO "ds"."items"("id", "v", "deleted_at", "_dlt_load_id", "_dlt_id") SELECT "id", "v", "deleted_at", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "deleted_at", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("deleted_at" IS NULL)"#]],
        );
        // with nested tables
        let mut chain = orders();
        chain[0]
            .columns
            .insert(1, with("deleted", Bool, |c| c.hard_delete = true));
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_delete" ON COMMIT DROP AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders__lines__tags" WHERE "_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            CREATE TEMPORARY TABLE "pg_temp"."orders_insert" ON COMMIT DROP AS SELECT "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "_dlt_id", "deleted" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("deleted" IS NULL OR "deleted" = FALSE);
            INSERT INTO "ds"."orders"("id", "deleted", "_dlt_load_id", "_dlt_id") SELECT "id", "deleted", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "deleted", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"))"#]],
        );
        // without keys: a staged append that leaves out flagged rows and their nested rows
        chain[0].columns[0].primary_key = false;
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_insert" ON COMMIT DROP AS SELECT "_dlt_id" FROM "ds_staging"."orders" WHERE "deleted" IS NULL OR "deleted" = FALSE;
            INSERT INTO "ds"."orders"("id", "deleted", "_dlt_load_id", "_dlt_id") SELECT "id", "deleted", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders" WHERE "deleted" IS NULL OR "deleted" = FALSE;
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_root_id" IN (SELECT * FROM "pg_temp"."orders_insert"))"#]],
        );
    }

    #[test]
    fn delete_insert_nested_without_root_key() {
        // level 1 falls back to the parent key
        let chain = [
            root_table("orders", vec![pk("id")]),
            nested_table("orders__lines", "orders", vec![col("sku", Text)], false),
        ];
        check(
            delete_insert(S, &refs(&chain)),
            expect![[r#"
            CREATE TEMPORARY TABLE "pg_temp"."orders_delete" ON COMMIT DROP AS SELECT d."_dlt_id" FROM "ds"."orders" AS d WHERE EXISTS (SELECT 1 FROM "ds_staging"."orders" AS s WHERE d."id" = s."id");
            DELETE FROM "ds"."orders__lines" WHERE "_dlt_parent_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            DELETE FROM "ds"."orders" WHERE "_dlt_id" IN (SELECT * FROM "pg_temp"."orders_delete");
            CREATE TEMPORARY TABLE "pg_temp"."orders_insert" ON COMMIT DROP AS SELECT "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1);
            INSERT INTO "ds"."orders"("id", "_dlt_load_id", "_dlt_id") SELECT "id", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" IN (SELECT * FROM "pg_temp"."orders_insert"));
            INSERT INTO "ds"."orders__lines"("sku", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "sku", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_parent_id" IN (SELECT * FROM "pg_temp"."orders_insert"))"#]],
        );
        // deeper: an error naming the table
        let mut chain = orders();
        chain[2] = nested_table(
            "orders__lines__tags",
            "orders__lines",
            vec![col("value", Text)],
            false,
        );
        check(delete_insert(S, &refs(&chain)), expect!["error: invalid schema: merge (delete-insert) of table chain `orders` (`orders`, `orders__lines`, `orders__lines__tags`): nested table `orders__lines__tags` has no root key column (`_dlt_root_id`), so its rows cannot be tied to rows of `orders`; the root key is propagated for merge with delete-insert or upsert, so the table was probably created under another write disposition: drop it or load with `refresh`"]);
        // root without a row key
        let mut chain = orders();
        chain[0].columns.retain(|c| c.name != "_dlt_id");
        chain[0].columns.push(pk("id2"));
        check(delete_insert(S, &refs(&chain)), expect!["error: invalid schema: merge (delete-insert) of table chain `orders` (`orders`, `orders__lines`, `orders__lines__tags`): table `orders` has no `row_key` or `unique` column and several primary key columns, which cannot serve as row key"]);
    }

    #[test]
    fn upsert_nested_and_hard_delete() {
        let mut chain = vec![
            root_table(
                "items",
                vec![
                    pk("id"),
                    col("v", Text),
                    with("deleted", Bool, |c| c.hard_delete = true),
                ],
            ),
            nested_table("items__kids", "items", vec![col("value", Bigint)], true),
        ];
        check(
            upsert(S, &refs(&chain)),
            expect![[r#"
            MERGE INTO "ds"."items" AS d USING (SELECT "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s ON d."id" = s."id" WHEN MATCHED AND (s."deleted" = TRUE) THEN DELETE WHEN MATCHED THEN UPDATE SET "id" = s."id", "v" = s."v", "deleted" = s."deleted", "_dlt_load_id" = s."_dlt_load_id", "_dlt_id" = s."_dlt_id" WHEN NOT MATCHED THEN INSERT ("id", "v", "deleted", "_dlt_load_id", "_dlt_id") VALUES (s."id", s."v", s."deleted", s."_dlt_load_id", s."_dlt_id");
            DELETE FROM "ds"."items__kids" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "ds_staging"."items") AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."items__kids");
            MERGE INTO "ds"."items__kids" AS d USING (SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."items__kids") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s ON d."_dlt_id" = s."_dlt_id" WHEN MATCHED THEN UPDATE SET "value" = s."value", "_dlt_root_id" = s."_dlt_root_id", "_dlt_parent_id" = s."_dlt_parent_id", "_dlt_list_idx" = s."_dlt_list_idx", "_dlt_id" = s."_dlt_id" WHEN NOT MATCHED THEN INSERT ("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") VALUES (s."value", s."_dlt_root_id", s."_dlt_parent_id", s."_dlt_list_idx", s."_dlt_id");
            DELETE FROM "ds"."items__kids" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "ds_staging"."items" WHERE "deleted" = TRUE)"#]],
        );
        chain[0].columns[2] = col("deleted", Bool);
        chain[0].columns[1].dedup_sort = Some(SortOrder::Asc);
        check(
            upsert(S, &refs(&chain[..1])),
            expect![[
                r#"MERGE INTO "ds"."items" AS d USING (SELECT "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY "v" ASC) AS _dlt_dedup_rn, "id", "v", "deleted", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s ON d."id" = s."id" WHEN MATCHED THEN UPDATE SET "id" = s."id", "v" = s."v", "deleted" = s."deleted", "_dlt_load_id" = s."_dlt_load_id", "_dlt_id" = s."_dlt_id" WHEN NOT MATCHED THEN INSERT ("id", "v", "deleted", "_dlt_load_id", "_dlt_id") VALUES (s."id", s."v", s."deleted", s."_dlt_load_id", s."_dlt_id")"#
            ]],
        );
        chain[0].columns[0].primary_key = false;
        check(upsert(S, &refs(&chain)), expect!["error: invalid schema: merge (upsert) of table chain `items` (`items`, `items__kids`): table `items` has no primary key"]);
    }

    fn dim() -> Vec<TableSchema> {
        let mut root = root_table("dim", vec![col("id", Bigint), col("v", Text)]);
        root.columns
            .insert(0, with("_dlt_valid_to", Timestamp, |c| c.valid_to = true));
        root.columns.insert(
            0,
            with("_dlt_valid_from", Timestamp, |c| c.valid_from = true),
        );
        if let Some(id) = root.column_mut("_dlt_id") {
            id.unique = false;
            id.row_key = false;
            id.row_version = true;
        }
        vec![
            root,
            nested_table("dim__l", "dim", vec![col("a", Bigint)], false),
        ]
    }

    fn boundary() -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_489_989, 747_647_800)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn scd2_nested() {
        check(
            scd2(S, &refs(&dim()), boundary()),
            expect![[r#"
                UPDATE "ds"."dim" SET "_dlt_valid_to" = E'2026-11-24 03:13:09.747648+00:00' WHERE "_dlt_valid_to" IS NULL AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim");
                INSERT INTO "ds"."dim"("id", "v", "_dlt_load_id", "_dlt_id", "_dlt_valid_from", "_dlt_valid_to") SELECT "id", "v", "_dlt_load_id", "_dlt_id", E'2026-11-24 03:13:09.747648+00:00' AS "_dlt_valid_from", NULL AS "_dlt_valid_to" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."dim") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim" WHERE "_dlt_valid_to" IS NULL));
                INSERT INTO "ds"."dim__l"("a", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "a", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "a", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."dim__l") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim__l"))"#]],
        );
    }

    #[test]
    fn scd2_active_record_timestamp() {
        let mut chain = dim();
        chain[0].active_record_timestamp = Some("9999-12-31T00:00:00".into());
        check(
            scd2(S, &refs(&chain[..1]), boundary()),
            expect![[r#"
                UPDATE "ds"."dim" SET "_dlt_valid_to" = E'2026-11-24 03:13:09.747648+00:00' WHERE "_dlt_valid_to" = E'9999-12-31 00:00:00.000000+00:00' AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim");
                INSERT INTO "ds"."dim"("id", "v", "_dlt_load_id", "_dlt_id", "_dlt_valid_from", "_dlt_valid_to") SELECT "id", "v", "_dlt_load_id", "_dlt_id", E'2026-11-24 03:13:09.747648+00:00' AS "_dlt_valid_from", E'9999-12-31 00:00:00.000000+00:00' AS "_dlt_valid_to" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."dim") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim" WHERE "_dlt_valid_to" = E'9999-12-31 00:00:00.000000+00:00'))"#]],
        );
        chain[0].active_record_timestamp = Some("2100-01-01".into());
        let sql = scd2(S, &refs(&chain[..1]), boundary()).unwrap();
        assert!(
            sql[0].contains("= E'2100-01-01 00:00:00.000000+00:00'"),
            "{sql:?}"
        );
        chain[0].active_record_timestamp = Some("not a date".into());
        check(scd2(S, &refs(&chain[..1]), boundary()), expect!["error: invalid schema: merge (scd2) of table chain `dim` (`dim`): table `dim`: active record timestamp `not a date` is not an ISO 8601 timestamp"]);
    }

    #[test]
    fn scd2_merge_key() {
        let mut chain = dim();
        chain[0].columns[2].merge_key = true;
        check(
            scd2(S, &refs(&chain[..1]), boundary()),
            expect![[r#"
                UPDATE "ds"."dim" SET "_dlt_valid_to" = E'2026-11-24 03:13:09.747648+00:00' WHERE "_dlt_valid_to" IS NULL AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim") AND "id" IN (SELECT "id" FROM "ds_staging"."dim");
                INSERT INTO "ds"."dim"("id", "v", "_dlt_load_id", "_dlt_id", "_dlt_valid_from", "_dlt_valid_to") SELECT "id", "v", "_dlt_load_id", "_dlt_id", E'2026-11-24 03:13:09.747648+00:00' AS "_dlt_valid_from", NULL AS "_dlt_valid_to" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "v", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."dim") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim" WHERE "_dlt_valid_to" IS NULL))"#]],
        );
        // a compound merge key
        chain[0].columns[3].merge_key = true;
        let sql = scd2(S, &refs(&chain[..1]), boundary()).unwrap();
        expect![[r#"UPDATE "ds"."dim" SET "_dlt_valid_to" = E'2026-11-24 03:13:09.747648+00:00' WHERE "_dlt_valid_to" IS NULL AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim") AND CONCAT("id", "v") IN (SELECT CONCAT("id", "v") FROM "ds_staging"."dim")"#]].assert_eq(&sql[0]);
    }

    #[test]
    fn scd2_custom_validity_columns() {
        let mut root = root_table("dim", vec![col("id", Bigint)]);
        root.columns
            .push(with("since", Timestamp, |c| c.valid_from = true));
        root.columns
            .push(with("until", Timestamp, |c| c.valid_to = true));
        check(
            scd2(S, &[&root], boundary()),
            expect![[r#"
                UPDATE "ds"."dim" SET "until" = E'2026-11-24 03:13:09.747648+00:00' WHERE "until" IS NULL AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds_staging"."dim");
                INSERT INTO "ds"."dim"("id", "_dlt_load_id", "_dlt_id", "since", "until") SELECT "id", "_dlt_load_id", "_dlt_id", E'2026-11-24 03:13:09.747648+00:00' AS "since", NULL AS "until" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."dim") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("_dlt_id" NOT IN (SELECT "_dlt_id" FROM "ds"."dim" WHERE "until" IS NULL))"#]],
        );
        root.columns.truncate(3);
        check(scd2(S, &[&root], boundary()), expect!["error: invalid schema: merge (scd2) of table chain `dim` (`dim`): table `dim` has no validity column `_dlt_valid_from` (nor one flagged as such)"]);
    }

    #[test]
    fn replace_strategies() {
        let tables = orders();
        let chain = refs(&tables);
        check(
            insert_from_staging(S, &chain),
            expect![[r#"
            TRUNCATE TABLE "ds"."orders";
            INSERT INTO "ds"."orders"("id", "_dlt_load_id", "_dlt_id") SELECT "id", "_dlt_load_id", "_dlt_id" FROM "ds_staging"."orders";
            TRUNCATE TABLE "ds"."orders__lines";
            INSERT INTO "ds"."orders__lines"("sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "sku", "n", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines";
            TRUNCATE TABLE "ds"."orders__lines__tags";
            INSERT INTO "ds"."orders__lines__tags"("value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id") SELECT "value", "_dlt_root_id", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id" FROM "ds_staging"."orders__lines__tags""#]],
        );
        check(
            swap_staging(S, &chain),
            expect![[r#"
            DROP TABLE IF EXISTS "ds"."orders";
            ALTER TABLE "ds_staging"."orders" SET SCHEMA "ds";
            CREATE TABLE "ds_staging"."orders" (LIKE "ds"."orders" INCLUDING ALL);
            DROP TABLE IF EXISTS "ds"."orders__lines";
            ALTER TABLE "ds_staging"."orders__lines" SET SCHEMA "ds";
            CREATE TABLE "ds_staging"."orders__lines" (LIKE "ds"."orders__lines" INCLUDING ALL);
            DROP TABLE IF EXISTS "ds"."orders__lines__tags";
            ALTER TABLE "ds_staging"."orders__lines__tags" SET SCHEMA "ds";
            CREATE TABLE "ds_staging"."orders__lines__tags" (LIKE "ds"."orders__lines__tags" INCLUDING ALL)"#]],
        );
    }

    #[test]
    fn dispatch_ledger_and_names() {
        let tables = orders();
        let chain = refs(&tables);
        for kind in [
            FollowUp::InsertFromStaging,
            FollowUp::SwapStaging,
            FollowUp::DeleteInsert,
            FollowUp::Upsert,
        ] {
            assert!(
                follow_up_sql(kind, S, &chain, boundary()).is_ok(),
                "{kind:?}"
            );
        }
        check(
            follow_up_sql(FollowUp::DeleteInsert, S, &[], boundary()),
            expect!["error: internal error (a bug in dlt-rs, please report it): merge (delete-insert) follow-up for an empty table chain"],
        );
        expect![[r#"
            CREATE TABLE IF NOT EXISTS "st"."_dlt_rs_follow_ups" ("load_id" varchar NOT NULL, "root_table" varchar NOT NULL, "done_at" timestamptz NOT NULL, PRIMARY KEY ("load_id", "root_table"));
            SELECT 1 FROM "st"."_dlt_rs_follow_ups" WHERE "load_id" = $1 AND "root_table" = $2;
            INSERT INTO "st"."_dlt_rs_follow_ups"("load_id", "root_table", "done_at") VALUES ($1, $2, now())"#]]
            .assert_eq(&[ledger_ddl("st"), ledger_lookup("st"), ledger_record("st")].join(";\n"));
        let long = "x".repeat(70);
        let (create, name) = temp_table(&long, "delete");
        assert_eq!(name, format!("\"pg_temp\".\"{}_delete\"", "x".repeat(56)));
        assert!(create.ends_with("ON COMMIT DROP"));
        let (_, name) = temp_table(&format!("{}é", "x".repeat(55)), "insert");
        assert_eq!(name, format!("\"pg_temp\".\"{}_insert\"", "x".repeat(55)));
    }
}

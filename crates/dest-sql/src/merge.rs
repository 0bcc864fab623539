//! The SQL of follow-up jobs: moving a table chain (a root table and its nested tables)
//! from the staging dataset into the dataset. Pure functions: a dialect, a chain and the
//! dataset names in, statements out; the destination runs them in one transaction.
//!
//! The statements follow dlt's `sql_jobs.py` (and `PostgresStagingReplaceJob`) with these
//! differences, all of which keep dlt's results on well-formed input:
//! * temporary tables are named `<root>_delete` / `<root>_insert` (no random suffix: they
//!   live for one transaction only; [`Dialect::temp_table`]);
//! * nested rows are deduplicated by their row key (`_dlt_id`) on every insert, and root
//!   rows by their row key where dlt selects them through the insert temp table, so a job
//!   loaded twice into staging does not duplicate rows;
//! * upsert deduplicates the staging root by the primary key (ordered by `dedup_sort`)
//!   where dlt lets MERGE fail on duplicate keys; a database without MERGE gets the same
//!   result from a temporary table of the deduplicated staging rows (delete the flagged
//!   matches, update the other matches, insert the rows that matched nothing);
//! * scd2 inserts one row per row hash (dlt inserts exact duplicates of a batch twice);
//! * the `dedup_sort` column is quoted (dlt writes it unquoted).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use dest_core::{Column, DataType, Error, FollowUp, Result, SortOrder, TableSchema};

use crate::{truncate_ident, Datasets, Dialect, TempTable};

/// Alias of the numbered subquery of a deduplicating select (as dlt).
const DEDUP_ALIAS: &str = "_dlt_dedup_numbered";
/// `ORDER BY` of a deduplication without `dedup_sort`: any row wins.
const ANY_ORDER: &str = "(SELECT NULL)";
/// The column of an upsert temp table that says whether the row's key was in the dataset.
const MATCHED: &str = "_dlt_rs_matched";

/// A dialect and the two datasets: what every statement of a follow-up needs.
#[derive(Clone, Copy)]
struct Sql<'a> {
    d: &'a dyn Dialect,
    s: Datasets<'a>,
}

impl Sql<'_> {
    /// `"dataset"."table"`.
    fn ds(&self, table: &str) -> String {
        self.d.qualified(self.s.dataset, table)
    }
    /// `"staging"."table"`.
    fn st(&self, table: &str) -> String {
        self.d.qualified(self.s.staging, table)
    }
    fn q(&self, name: &str) -> String {
        self.d.quote_ident(name)
    }
}

/// How a follow-up is called in messages: `merge (delete-insert)`.
pub fn strategy_name(kind: FollowUp) -> &'static str {
    match kind {
        FollowUp::InsertFromStaging => "replace (insert-from-staging)",
        FollowUp::SwapStaging => "replace (staging-optimized)",
        FollowUp::DeleteInsert => "merge (delete-insert)",
        FollowUp::Upsert => "merge (upsert)",
        FollowUp::InsertOnly => "merge (insert-only)",
        FollowUp::Scd2 => "merge (scd2)",
    }
}

/// The statements of follow-up `kind` for `chain` (root first, parents before children).
/// `created_at` (the package creation time) is the validity boundary of scd2.
pub fn follow_up_sql(
    d: &dyn Dialect,
    kind: FollowUp,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
    created_at: DateTime<Utc>,
) -> Result<Vec<String>> {
    match kind {
        FollowUp::InsertFromStaging => insert_from_staging(d, datasets, chain),
        FollowUp::SwapStaging => swap_staging(d, datasets, chain),
        FollowUp::DeleteInsert => delete_insert(d, datasets, chain),
        FollowUp::Upsert => upsert(d, datasets, chain),
        FollowUp::InsertOnly => insert_only(d, datasets, chain),
        FollowUp::Scd2 => scd2(d, datasets, chain, created_at),
    }
}

// ---------------------------------------------------------------------------------------
// replace

/// replace / insert-from-staging: for each table, root to leaves, empty it in the dataset
/// and copy the staging rows in.
pub fn insert_from_staging(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    let kind = FollowUp::InsertFromStaging;
    root_of(kind, chain)?;
    let mut sql = Vec::new();
    for t in chain {
        let cols = col_list(&columns(g, kind, chain, t)?);
        sql.push(d.truncate_table(&g.ds(&t.name)));
        sql.push(format!(
            "INSERT INTO {}({cols}) SELECT {cols} FROM {}",
            g.ds(&t.name),
            g.st(&t.name)
        ));
    }
    Ok(sql)
}

/// replace / staging-optimized: each staging table replaces its dataset table, and an empty
/// copy of it is created in staging. As in dlt, the dataset tables are physically replaced,
/// so whatever hangs on the old tables is lost: grants, comments, indexes and constraints
/// not made by the loader, and dependent views (a view actually makes the plain
/// `DROP TABLE` fail, so the follow-up fails and changes nothing, as in dlt).
///
/// # Errors
/// [`Error::Unsupported`] for a dialect that cannot move a table between datasets
/// ([`Dialect::move_table`]).
pub fn swap_staging(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    root_of(FollowUp::SwapStaging, chain)?;
    let mut sql = Vec::new();
    for t in chain {
        sql.push(format!("DROP TABLE IF EXISTS {}", g.ds(&t.name)));
        let moved = d
            .move_table(&g.st(&t.name), datasets.dataset, &g.ds(&t.name))
            .ok_or_else(|| Error::Unsupported {
                destination: d.destination().into(),
                what: "replace strategy `staging-optimized` (it moves tables between datasets)"
                    .into(),
                hint: Some("use `insert-from-staging` or `truncate-and-insert`".into()),
            })?;
        sql.extend(moved);
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
pub fn delete_insert(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    let kind = FollowUp::DeleteInsert;
    let root = root_of(kind, chain)?;
    let nested = &chain[1..];
    let pks = quoted_with(g, root, |c| c.primary_key);
    let mks = quoted_with(g, root, |c| c.merge_key);
    let hard = HardDelete::of(g, kind, chain, root)?;
    let order = dedup_order(g, root);
    let staged_append = pks.is_empty() && mks.is_empty();
    let not_deleted = hard
        .as_ref()
        .map_or_else(|| "1 = 1".to_string(), |h| h.not_deleted(None));
    let d_root = g.ds(&root.name);
    let s_root = g.st(&root.name);

    // nested rows are tied to root rows through the temp tables when there are keys or
    // rows to leave out
    let linked = !nested.is_empty() && (!staged_append || hard.is_some());
    let row_key = if linked {
        Some(row_key(g, kind, chain, root)?)
    } else {
        None
    };
    let root_keys = if linked {
        nested
            .iter()
            .map(|t| root_key(g, kind, chain, t))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };

    let mut sql = Vec::new();
    let mut drops = Vec::new();
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
                let temp = temp_table(d, &root.name, "delete");
                sql.push(format!("{} AS SELECT d.{rk} {matching}", temp.create));
                for (t, key) in nested.iter().zip(&root_keys) {
                    sql.push(format!(
                        "DELETE FROM {} WHERE {key} IN (SELECT * FROM {})",
                        g.ds(&t.name),
                        temp.name
                    ));
                }
                sql.push(format!(
                    "DELETE FROM {d_root} WHERE {rk} IN (SELECT * FROM {})",
                    temp.name
                ));
                drops.extend(temp.drop);
            }
        }
    }

    // the row keys of the root rows to insert, when not all staging rows go in
    let insert_temp = match &row_key {
        Some(rk) if !pks.is_empty() || hard.is_some() => {
            let temp = temp_table(d, &root.name, "insert");
            let select = if pks.is_empty() {
                format!("SELECT {rk} FROM {s_root} WHERE {not_deleted}")
            } else {
                let mut inner = vec![rk.clone()];
                if let Some(h) = &hard {
                    inner.push(h.column.clone());
                }
                dedup_select(&s_root, &pks, &order, rk, &inner, &not_deleted)
            };
            sql.push(format!("{} AS {select}", temp.create));
            drops.extend(temp.drop);
            Some(temp.name)
        }
        _ => None,
    };

    for (i, t) in chain.iter().enumerate() {
        let cols = columns(g, kind, chain, t)?;
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
            select_unique(g, kind, chain, t, &g.st(&t.name), &list, &cols, &cond)
        };
        sql.push(format!("INSERT INTO {}({list}) {select}", g.ds(&t.name)));
    }
    sql.extend(drops);
    Ok(sql)
}

/// merge / upsert. The root is merged on the primary key (one staging row per key, the
/// first by `dedup_sort`): matching rows flagged by `hard_delete` are deleted, other
/// matching rows updated (all columns), new keys inserted. Nested rows of the staged roots
/// that are no longer in staging are deleted, the staged nested rows merged on their row
/// key, and the nested rows of flagged roots deleted. As in dlt, a flagged staging row
/// whose key is not in the dataset is inserted (`WHEN NOT MATCHED`), without its nested
/// rows. With `MERGE` (PostgreSQL 15+) each merge is one statement; otherwise
/// [`merge_statements`] spells it out.
pub fn upsert(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    let kind = FollowUp::Upsert;
    let (root, pks, on) = keyed_root(g, kind, chain)?;
    let hard = HardDelete::of(g, kind, chain, root)?;
    let s_root = g.st(&root.name);
    let cols = columns(g, kind, chain, root)?;
    let list = col_list(&cols);
    let source = dedup_select(&s_root, &pks, &dedup_order(g, root), &list, &cols, "1 = 1");
    let mut sql = merge_statements(
        d,
        &MergeInto {
            target: &g.ds(&root.name),
            target_name: &root.name,
            source: &source,
            on: &on,
            delete_when: hard.as_ref().map(|h| h.deleted(Some("s"))).as_deref(),
            cols: &cols,
        },
    );

    let nested = &chain[1..];
    if nested.is_empty() {
        return Ok(sql);
    }
    let root_row_key = row_key(g, kind, chain, root)?;
    for t in nested {
        let rk = row_key(g, kind, chain, t)?;
        let key = root_key(g, kind, chain, t)?;
        let d_t = g.ds(&t.name);
        let s_t = g.st(&t.name);
        // elements no longer in the lists of the staged roots
        sql.push(format!(
            "DELETE FROM {d_t} WHERE {key} IN (SELECT {root_row_key} FROM {s_root}) \
             AND {rk} NOT IN (SELECT {rk} FROM {s_t})"
        ));
        let cols = columns(g, kind, chain, t)?;
        let list = col_list(&cols);
        let source = dedup_select(
            &s_t,
            std::slice::from_ref(&rk),
            ANY_ORDER,
            &list,
            &cols,
            "1 = 1",
        );
        sql.extend(merge_statements(
            d,
            &MergeInto {
                target: &d_t,
                target_name: &t.name,
                source: &source,
                on: &format!("d.{rk} = s.{rk}"),
                delete_when: None,
                cols: &cols,
            },
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

/// merge / insert-only, as dlt's (`MERGE ... WHEN NOT MATCHED THEN INSERT`): staged root
/// rows whose primary key is not in the dataset are inserted, one per key, leaving out rows
/// a `hard_delete` column flags; rows in the dataset are never updated or deleted. Nested
/// rows are inserted where their row key is new.
pub fn insert_only(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    let kind = FollowUp::InsertOnly;
    let (root, pks, on) = keyed_root(g, kind, chain)?;
    let keep = match HardDelete::of(g, kind, chain, root)? {
        Some(h) => h.not_deleted(None),
        None => "1 = 1".to_string(),
    };
    let cols = columns(g, kind, chain, root)?;
    let list = col_list(&cols);
    let source = dedup_select(
        &g.st(&root.name),
        &pks,
        &dedup_order(g, root),
        &list,
        &cols,
        &keep,
    );
    let mut sql = vec![insert_new(&g.ds(&root.name), &list, &source, &on)];
    for t in &chain[1..] {
        let rk = row_key(g, kind, chain, t)?;
        let cols = columns(g, kind, chain, t)?;
        let list = col_list(&cols);
        let source = dedup_select(
            &g.st(&t.name),
            std::slice::from_ref(&rk),
            ANY_ORDER,
            &list,
            &cols,
            "1 = 1",
        );
        let on = format!("d.{rk} = s.{rk}");
        sql.push(insert_new(&g.ds(&t.name), &list, &source, &on));
    }
    Ok(sql)
}

/// The root of an upsert or insert-only chain, its quoted primary key columns and the
/// condition that matches a dataset row `d` with a staged row `s` on them.
fn keyed_root<'c>(
    g: Sql<'_>,
    kind: FollowUp,
    chain: &[&'c TableSchema],
) -> Result<(&'c TableSchema, Vec<String>, String)> {
    let root = root_of(kind, chain)?;
    let pks = quoted_with(g, root, |c| c.primary_key);
    if pks.is_empty() {
        return Err(chain_err(
            kind,
            chain,
            format!("table `{}` has no primary key", root.name),
        ));
    }
    let on = pks
        .iter()
        .map(|c| format!("d.{c} = s.{c}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    Ok((root, pks, on))
}

/// Inserts the rows of `source` that no row of `target` matches on `on` (`d` the target,
/// `s` the source).
fn insert_new(target: &str, list: &str, source: &str, on: &str) -> String {
    format!(
        "INSERT INTO {target}({list}) SELECT {list} FROM ({source}) AS s \
         WHERE NOT EXISTS (SELECT 1 FROM {target} AS d WHERE {on})"
    )
}

/// merge / scd2. Root rows hold history: active versions of records missing from the
/// staged snapshot (by row hash; with a merge key only those whose key is in the
/// snapshot) are retired by setting their valid-to to the boundary; staged versions that
/// are not active are inserted with valid-from = boundary and valid-to = the active
/// value (NULL or `active_record_timestamp`). Nested tables are insert-only.
pub fn scd2(
    d: &dyn Dialect,
    datasets: Datasets<'_>,
    chain: &[&TableSchema],
    boundary: DateTime<Utc>,
) -> Result<Vec<String>> {
    let g = Sql { d, s: datasets };
    let kind = FollowUp::Scd2;
    let root = root_of(kind, chain)?;
    let from = validity_column(g, kind, chain, root, |c| c.valid_from, "_dlt_valid_from")?;
    let to = validity_column(g, kind, chain, root, |c| c.valid_to, "_dlt_valid_to")?;
    let hash = match root
        .complete_columns()
        .find(|c| c.row_version)
        .or_else(|| root.complete_columns().find(|c| c.name == "_dlt_id"))
    {
        Some(c) => g.q(&c.name),
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
    let boundary = timestamp_literal(d, kind, chain, boundary)?;
    let (active_value, is_active) = match &root.active_record_timestamp {
        None => ("NULL".to_string(), format!("{to} IS NULL")),
        Some(ts) => {
            let lit = timestamp_literal(d, kind, chain, parse_timestamp(kind, chain, root, ts)?)?;
            (lit.clone(), format!("{to} = {lit}"))
        }
    };
    let d_root = g.ds(&root.name);
    let s_root = g.st(&root.name);

    let mut retire = format!(
        "UPDATE {d_root} SET {to} = {boundary} WHERE {is_active} \
         AND {hash} NOT IN (SELECT {hash} FROM {s_root})"
    );
    let mks = quoted_with(g, root, |c| c.merge_key);
    if !mks.is_empty() {
        let key = if mks.len() == 1 {
            mks[0].clone()
        } else {
            format!("CONCAT({})", mks.join(", "))
        };
        retire.push_str(&format!(" AND {key} IN (SELECT {key} FROM {s_root})"));
    }
    let mut sql = vec![retire];

    let cols: Vec<String> = columns(g, kind, chain, root)?
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
        let rk = row_key(g, kind, chain, t)?;
        let cols = columns(g, kind, chain, t)?;
        let list = col_list(&cols);
        let d_t = g.ds(&t.name);
        let select = dedup_select(
            &g.st(&t.name),
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
// merge statements

/// One merge of deduplicated `source` rows into `target` on condition `on` (over aliases
/// `d` and `s`).
#[derive(Debug, Clone, Copy)]
pub struct MergeInto<'a> {
    /// The qualified target table.
    pub target: &'a str,
    /// The target's table name (the temporary table of a database without MERGE is named
    /// after it).
    pub target_name: &'a str,
    /// A select of the source rows, at most one per key of `on`.
    pub source: &'a str,
    pub on: &'a str,
    /// Matched target rows whose source row meets this condition (over `s`) are deleted.
    pub delete_when: Option<&'a str>,
    /// The quoted columns of target and source.
    pub cols: &'a [String],
}

/// The statements of a merge: `MERGE INTO target AS d USING (source) AS s ON on [WHEN
/// MATCHED AND (delete_when) THEN DELETE] WHEN MATCHED THEN UPDATE ... WHEN NOT MATCHED
/// THEN INSERT ...` where the dialect has MERGE. Otherwise the same in four steps over a
/// temporary table of the source rows that records whether each matched: delete the
/// matched target rows to delete, update the other matched ones, insert the source rows
/// that matched nothing (flagged or not, as MERGE does), drop the temporary table.
pub fn merge_statements(d: &dyn Dialect, m: &MergeInto<'_>) -> Vec<String> {
    let MergeInto {
        target,
        target_name,
        source,
        on,
        delete_when,
        cols,
    } = *m;
    let update = cols
        .iter()
        .map(|c| format!("{c} = s.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let list = col_list(cols);
    if d.has_merge() {
        let values = cols
            .iter()
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let extra = delete_when
            .map(|cond| format!("WHEN MATCHED AND ({cond}) THEN DELETE "))
            .unwrap_or_default();
        return vec![format!(
            "MERGE INTO {target} AS d USING ({source}) AS s ON {on} {extra}\
             WHEN MATCHED THEN UPDATE SET {update} \
             WHEN NOT MATCHED THEN INSERT ({list}) VALUES ({values})"
        )];
    }
    let temp = temp_table(d, target_name, "merge");
    let matched = d.quote_ident(MATCHED);
    let t = &temp.name;
    let mut sql = vec![format!(
        "{} AS SELECT {list}, EXISTS (SELECT 1 FROM {target} AS d WHERE {on}) AS {matched} \
         FROM ({source}) AS s",
        temp.create
    )];
    if let Some(cond) = delete_when {
        sql.push(format!(
            "DELETE FROM {target} AS d WHERE EXISTS (SELECT 1 FROM {t} AS s WHERE {on} AND ({cond}))"
        ));
    }
    sql.push(format!(
        "UPDATE {target} AS d SET {update} FROM {t} AS s WHERE {on}"
    ));
    sql.push(format!(
        "INSERT INTO {target}({list}) SELECT {list} FROM {t} WHERE NOT {matched}"
    ));
    sql.extend(temp.drop);
    sql
}

/// The temporary table `<base>_<op>`, `base` cut so the name fits the identifier limit.
pub fn temp_table(d: &dyn Dialect, base: &str, op: &str) -> TempTable {
    let suffix = format!("_{op}");
    let max = d.max_identifier_length().saturating_sub(suffix.len());
    d.temp_table(&format!("{}{suffix}", truncate_ident(base, max)))
}

// ---------------------------------------------------------------------------------------
// helpers

/// An invalid-schema error naming the strategy and the chain.
pub fn chain_err(kind: FollowUp, chain: &[&TableSchema], reason: String) -> Error {
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
fn columns(
    g: Sql<'_>,
    kind: FollowUp,
    chain: &[&TableSchema],
    t: &TableSchema,
) -> Result<Vec<String>> {
    let cols: Vec<String> = t.complete_columns().map(|c| g.q(&c.name)).collect();
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
fn quoted_with(g: Sql<'_>, t: &TableSchema, hint: impl Fn(&Column) -> bool) -> Vec<String> {
    t.complete_columns()
        .filter(|c| hint(c))
        .map(|c| g.q(&c.name))
        .collect()
}

/// The row key of `t` (quoted): the first `row_key` column, else the first `unique` one,
/// else its single primary key column.
fn row_key(g: Sql<'_>, kind: FollowUp, chain: &[&TableSchema], t: &TableSchema) -> Result<String> {
    if let Some(c) = t
        .complete_columns()
        .find(|c| c.row_key)
        .or_else(|| t.complete_columns().find(|c| c.unique))
    {
        return Ok(g.q(&c.name));
    }
    let pks = quoted_with(g, t, |c| c.primary_key);
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
fn root_key(g: Sql<'_>, kind: FollowUp, chain: &[&TableSchema], t: &TableSchema) -> Result<String> {
    if let Some(c) = t.complete_columns().find(|c| c.root_key) {
        return Ok(g.q(&c.name));
    }
    let root = chain.first().map_or("", |r| r.name.as_str());
    if t.parent.as_deref() == Some(root) {
        if let Some(c) = t.complete_columns().find(|c| c.parent_key) {
            return Ok(g.q(&c.name));
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
fn dedup_order(g: Sql<'_>, t: &TableSchema) -> String {
    t.complete_columns()
        .find_map(|c| {
            c.dedup_sort.map(|o| {
                let dir = match o {
                    SortOrder::Asc => "ASC",
                    SortOrder::Desc => "DESC",
                };
                format!("{} {dir}", g.q(&c.name))
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
#[allow(clippy::too_many_arguments)]
fn select_unique(
    g: Sql<'_>,
    kind: FollowUp,
    chain: &[&TableSchema],
    t: &TableSchema,
    table: &str,
    list: &str,
    cols: &[String],
    cond: &str,
) -> String {
    match row_key(g, kind, chain, t) {
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

/// The root's `hard_delete` column.
struct HardDelete {
    /// Quoted name.
    column: String,
    is_bool: bool,
}

impl HardDelete {
    fn of(
        g: Sql<'_>,
        kind: FollowUp,
        chain: &[&TableSchema],
        root: &TableSchema,
    ) -> Result<Option<Self>> {
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
            column: g.q(&c.name),
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
    g: Sql<'_>,
    kind: FollowUp,
    chain: &[&TableSchema],
    root: &TableSchema,
    flag: impl Fn(&Column) -> bool,
    default: &str,
) -> Result<String> {
    root.complete_columns()
        .find(|c| flag(c))
        .or_else(|| root.complete_columns().find(|c| c.name == default))
        .map(|c| g.q(&c.name))
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

/// A UTC timestamp through the dialect, rounded to the microsecond.
fn timestamp_literal(
    d: &dyn Dialect,
    kind: FollowUp,
    chain: &[&TableSchema],
    ts: DateTime<Utc>,
) -> Result<String> {
    use chrono::Timelike;
    let rounded = ts + chrono::Duration::nanoseconds(500);
    let nanos = rounded.nanosecond();
    let rounded = rounded
        .with_nanosecond(nanos - nanos % 1000)
        .unwrap_or(rounded);
    d.timestamp_literal(rounded)
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
mod tests {
    use super::*;
    use crate::test_dialect::Ansi;
    use dest_core::DataType::{Bigint, Bool, Text};
    use expect_test::expect;

    const S: Datasets<'static> = Datasets {
        dataset: "ds",
        staging: "st",
    };

    fn table(name: &str, parent: Option<&str>, cols: Vec<Column>) -> TableSchema {
        let mut t = TableSchema::new(name);
        t.parent = parent.map(String::from);
        t.columns = cols;
        let mut id = Column::new("_dlt_id", Text).not_null();
        id.unique = true;
        id.row_key = true;
        t.columns.push(id);
        t
    }

    fn items() -> Vec<TableSchema> {
        let mut pk = Column::new("id", Bigint).not_null();
        pk.primary_key = true;
        let mut del = Column::new("deleted", Bool);
        del.hard_delete = true;
        let mut root_key = Column::new("_dlt_root_id", Text).not_null();
        root_key.root_key = true;
        vec![
            table("items", None, vec![pk, del]),
            table("items__kids", Some("items"), vec![root_key]),
        ]
    }

    #[test]
    fn upsert_without_merge_statement() {
        let tables = items();
        let chain: Vec<&TableSchema> = tables.iter().collect();
        let sql = upsert(&Ansi { merge: false }, S, &chain).unwrap();
        expect![[r#"
            CREATE TABLE "temp"."items_merge" AS SELECT "id", "deleted", "_dlt_id", EXISTS (SELECT 1 FROM "ds"."items" AS d WHERE d."id" = s."id") AS "_dlt_rs_matched" FROM (SELECT "id", "deleted", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "deleted", "_dlt_id" FROM "st"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s;
            DELETE FROM "ds"."items" AS d WHERE EXISTS (SELECT 1 FROM "temp"."items_merge" AS s WHERE d."id" = s."id" AND (s."deleted" = TRUE));
            UPDATE "ds"."items" AS d SET "id" = s."id", "deleted" = s."deleted", "_dlt_id" = s."_dlt_id" FROM "temp"."items_merge" AS s WHERE d."id" = s."id";
            INSERT INTO "ds"."items"("id", "deleted", "_dlt_id") SELECT "id", "deleted", "_dlt_id" FROM "temp"."items_merge" WHERE NOT "_dlt_rs_matched";
            DROP TABLE "temp"."items_merge";
            DELETE FROM "ds"."items__kids" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "st"."items") AND "_dlt_id" NOT IN (SELECT "_dlt_id" FROM "st"."items__kids");
            CREATE TABLE "temp"."items__kids_merge" AS SELECT "_dlt_root_id", "_dlt_id", EXISTS (SELECT 1 FROM "ds"."items__kids" AS d WHERE d."_dlt_id" = s."_dlt_id") AS "_dlt_rs_matched" FROM (SELECT "_dlt_root_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "_dlt_root_id", "_dlt_id" FROM "st"."items__kids") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s;
            UPDATE "ds"."items__kids" AS d SET "_dlt_root_id" = s."_dlt_root_id", "_dlt_id" = s."_dlt_id" FROM "temp"."items__kids_merge" AS s WHERE d."_dlt_id" = s."_dlt_id";
            INSERT INTO "ds"."items__kids"("_dlt_root_id", "_dlt_id") SELECT "_dlt_root_id", "_dlt_id" FROM "temp"."items__kids_merge" WHERE NOT "_dlt_rs_matched";
            DROP TABLE "temp"."items__kids_merge";
            DELETE FROM "ds"."items__kids" WHERE "_dlt_root_id" IN (SELECT "_dlt_id" FROM "st"."items" WHERE "deleted" = TRUE)"#]]
        .assert_eq(&sql.join(";\n"));
        let with_merge = upsert(&Ansi { merge: true }, S, &chain[..1]).unwrap();
        assert_eq!(with_merge.len(), 1);
        assert!(with_merge[0].starts_with("MERGE INTO \"ds\".\"items\" AS d USING"));
    }

    #[test]
    fn insert_only_inserts_new_keys_and_changes_nothing() {
        let tables = items();
        let chain: Vec<&TableSchema> = tables.iter().collect();
        let sql = insert_only(&Ansi { merge: false }, S, &chain).unwrap();
        expect![[r#"
            INSERT INTO "ds"."items"("id", "deleted", "_dlt_id") SELECT "id", "deleted", "_dlt_id" FROM (SELECT "id", "deleted", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "id", "deleted", "_dlt_id" FROM "st"."items") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND ("deleted" IS NULL OR "deleted" = FALSE)) AS s WHERE NOT EXISTS (SELECT 1 FROM "ds"."items" AS d WHERE d."id" = s."id");
            INSERT INTO "ds"."items__kids"("_dlt_root_id", "_dlt_id") SELECT "_dlt_root_id", "_dlt_id" FROM (SELECT "_dlt_root_id", "_dlt_id" FROM (SELECT ROW_NUMBER() OVER (partition BY "_dlt_id" ORDER BY (SELECT NULL)) AS _dlt_dedup_rn, "_dlt_root_id", "_dlt_id" FROM "st"."items__kids") AS _dlt_dedup_numbered WHERE _dlt_dedup_rn = 1 AND (1 = 1)) AS s WHERE NOT EXISTS (SELECT 1 FROM "ds"."items__kids" AS d WHERE d."_dlt_id" = s."_dlt_id")"#]]
        .assert_eq(&sql.join(";\n"));
        assert!(sql
            .iter()
            .all(|s| !s.starts_with("UPDATE") && !s.starts_with("DELETE")));
    }

    #[test]
    fn temp_tables_are_dropped_and_swap_needs_move_table() {
        let tables = items();
        let chain: Vec<&TableSchema> = tables.iter().collect();
        let sql = delete_insert(&Ansi { merge: false }, S, &chain).unwrap();
        let drops: Vec<&String> = sql.iter().filter(|s| s.starts_with("DROP")).collect();
        expect![[
            r#"["DROP TABLE \"temp\".\"items_delete\"", "DROP TABLE \"temp\".\"items_insert\""]"#
        ]]
        .assert_eq(&format!("{drops:?}"));
        assert!(sql.last().is_some_and(|s| s.starts_with("DROP")));
        let err = swap_staging(&Ansi { merge: false }, S, &chain).unwrap_err();
        expect!["replace strategy `staging-optimized` (it moves tables between datasets) is not supported by destination `ansi`; use `insert-from-staging` or `truncate-and-insert`"]
            .assert_eq(&err.to_string());
        let sql = insert_from_staging(&Ansi { merge: false }, S, &chain[..1]).unwrap();
        expect![[r#"
            DELETE FROM "ds"."items";
            INSERT INTO "ds"."items"("id", "deleted", "_dlt_id") SELECT "id", "deleted", "_dlt_id" FROM "st"."items""#]]
        .assert_eq(&sql.join(";\n"));
    }
}

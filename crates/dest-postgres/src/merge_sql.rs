//! Snapshots of the follow-ups' SQL in PostgreSQL's dialect (a test module): `dest-sql`'s
//! replace and merge statements (and its follow-up ledger) in the
//! [`PostgresDialect`](crate::PostgresDialect), which `dest_sql::SqlClient` runs in one
//! transaction.
//!
//! PostgreSQL's shape of them: temporary tables are `ON COMMIT DROP` tables in `pg_temp`,
//! upsert is one `MERGE` per table (PostgreSQL 15+), staging-optimized moves tables with
//! `ALTER TABLE ... SET SCHEMA`, literals are `E'...'`. The tests below pin the exact text.

use chrono::{DateTime, Utc};
use dest_core::{FollowUp, Result, TableSchema};
use dest_sql::{system, Datasets};

use crate::sql::PG;

#[cfg(test)]
use dest_core::{Column, DataType, SortOrder};

/// The dataset schema and its staging schema.
pub(crate) type Schemas<'a> = Datasets<'a>;

/// The statements of follow-up `kind` for `chain` (root first, parents before children).
/// `created_at` (the package creation time) is the validity boundary of scd2.
pub(crate) fn follow_up_sql(
    kind: FollowUp,
    schemas: Schemas<'_>,
    chain: &[&TableSchema],
    created_at: DateTime<Utc>,
) -> Result<Vec<String>> {
    dest_sql::follow_up_sql(&PG, kind, schemas, chain, created_at)
}

/// `CREATE TABLE IF NOT EXISTS` of the ledger in the staging schema.
pub(crate) fn ledger_ddl(staging: &str) -> String {
    system::follow_ups_ddl(&PG, staging)
}

/// Whether a follow-up ran: `$1` load id, `$2` root table.
pub(crate) fn ledger_lookup(staging: &str) -> String {
    system::follow_ups_lookup(&PG, staging)
}

/// Records a follow-up: `$1` load id, `$2` root table.
pub(crate) fn ledger_record(staging: &str) -> String {
    system::follow_ups_record(&PG, staging)
}

#[cfg(test)]
fn insert_from_staging(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    dest_sql::merge::insert_from_staging(&PG, s, chain)
}

#[cfg(test)]
fn swap_staging(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    dest_sql::merge::swap_staging(&PG, s, chain)
}

#[cfg(test)]
fn delete_insert(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    dest_sql::merge::delete_insert(&PG, s, chain)
}

#[cfg(test)]
fn upsert(s: Schemas<'_>, chain: &[&TableSchema]) -> Result<Vec<String>> {
    dest_sql::merge::upsert(&PG, s, chain)
}

#[cfg(test)]
fn scd2(s: Schemas<'_>, chain: &[&TableSchema], boundary: DateTime<Utc>) -> Result<Vec<String>> {
    dest_sql::merge::scd2(&PG, s, chain, boundary)
}

/// The `CREATE ...` of a temporary table and the name to select from.
#[cfg(test)]
fn temp_table(root: &str, op: &str) -> (String, String) {
    let t = dest_sql::merge::temp_table(&PG, root, op);
    (t.create, t.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dest_core::DataType::{Bigint, Bool, Text, Timestamp};
    use expect_test::{expect, Expect};

    const S: Schemas<'static> = Schemas {
        dataset: "ds",
        staging: "ds_staging",
    };

    fn col(name: &str, ty: DataType) -> Column {
        Column::new(name, ty)
    }

    fn with(name: &str, ty: DataType, f: impl FnOnce(&mut Column)) -> Column {
        let mut c = Column::new(name, ty);
        f(&mut c);
        c
    }

    fn pk(name: &str) -> Column {
        with(name, Bigint, |c| {
            c.primary_key = true;
            c.nullable = false;
        })
    }

    fn row_id() -> Column {
        with("_dlt_id", Text, |c| {
            c.nullable = false;
            c.unique = true;
            c.row_key = true;
        })
    }

    /// A root table: `data` columns, then `_dlt_load_id`, `_dlt_id`.
    fn root_table(name: &str, data: Vec<Column>) -> TableSchema {
        let mut t = TableSchema::new(name);
        t.disposition = dest_core::TableDisposition::Merge(dest_core::MergeStrategy::DeleteInsert);
        t.columns = data;
        t.columns.push(col("_dlt_load_id", Text).not_null());
        t.columns.push(row_id());
        t
    }

    /// A nested table: `data` columns, then [`_dlt_root_id`], `_dlt_parent_id`,
    /// `_dlt_list_idx`, `_dlt_id`.
    fn nested_table(
        name: &str,
        parent: &str,
        data: Vec<Column>,
        with_root_key: bool,
    ) -> TableSchema {
        let mut t = TableSchema::new(name);
        t.disposition = dest_core::TableDisposition::Merge(dest_core::MergeStrategy::DeleteInsert);
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

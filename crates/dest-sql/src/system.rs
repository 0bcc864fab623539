//! Statements on dlt's system tables and on dlt-rs's two ledgers.
//!
//! dlt's tables (`_dlt_version`, `_dlt_loads`, `_dlt_pipeline_state`) are created like
//! user tables ([`crate::create_table`] of [`dest_core::version_table`],
//! [`dest_core::loads_table`], [`dest_core::state_table`]: `IF NOT EXISTS`, dlt's columns).
//! The ledgers live in the staging dataset, so the user's dataset gets no extra table:
//!
//! * the job ledger [`JOBS_TABLE`]: a job's key (`<table>.<file id>`) is written in the
//!   transaction that commits its rows, so a package loaded again after a crash skips the
//!   jobs that committed;
//! * the follow-up ledger [`FOLLOW_UPS_TABLE`]: `(load id, root table)` of each follow-up,
//!   written in the follow-up's transaction, so a follow-up runs at most once.
//!
//! Parameters are positional ([`Dialect::param`]); each function says what they are.

use dest_core::{Column, DataType, LOADS_TABLE, STATE_TABLE, VERSION_TABLE};

use crate::Dialect;

/// The job ledger, a table in the staging dataset.
pub const JOBS_TABLE: &str = "_dlt_rs_jobs";
/// The follow-up ledger, a table in the staging dataset.
pub const FOLLOW_UPS_TABLE: &str = "_dlt_rs_follow_ups";

/// The type of the ledgers' text columns: the dialect's type of a dlt `text` column.
fn text_type(d: &dyn Dialect) -> String {
    d.column_type(&Column::new("", DataType::Text))
        .unwrap_or_else(|_| "text".into())
}

/// `CREATE TABLE IF NOT EXISTS` of the job ledger in `staging`.
pub fn jobs_ddl(d: &dyn Dialect, staging: &str) -> String {
    let text = text_type(d);
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\"load_id\" {text} NOT NULL, \"job\" {text} NOT NULL, \
         \"committed_at\" {} NOT NULL DEFAULT {}, PRIMARY KEY (\"load_id\", \"job\"))",
        d.qualified(staging, JOBS_TABLE),
        d.ledger_timestamp_type(),
        d.now()
    )
}

/// Records one committed job: parameter 1 the load id, 2 the job key. A key already there
/// (a staged job loaded again after staging was emptied) stays as it is.
pub fn jobs_record(d: &dyn Dialect, staging: &str) -> String {
    format!(
        "INSERT INTO {} (\"load_id\", \"job\") VALUES ({}, {}) ON CONFLICT DO NOTHING",
        d.qualified(staging, JOBS_TABLE),
        d.param(1),
        d.param(2)
    )
}

/// The keys of a load's committed jobs: parameter 1 the load id.
pub fn jobs_committed(d: &dyn Dialect, staging: &str) -> String {
    format!(
        "SELECT \"job\" FROM {} WHERE \"load_id\" = {}",
        d.qualified(staging, JOBS_TABLE),
        d.param(1)
    )
}

/// Forgets a completed load's jobs: parameter 1 the load id.
pub fn jobs_forget(d: &dyn Dialect, staging: &str) -> String {
    format!(
        "DELETE FROM {} WHERE \"load_id\" = {}",
        d.qualified(staging, JOBS_TABLE),
        d.param(1)
    )
}

/// `CREATE TABLE IF NOT EXISTS` of the follow-up ledger in `staging`.
pub fn follow_ups_ddl(d: &dyn Dialect, staging: &str) -> String {
    let text = text_type(d);
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\"load_id\" {text} NOT NULL, \
         \"root_table\" {text} NOT NULL, \"done_at\" {} NOT NULL, \
         PRIMARY KEY (\"load_id\", \"root_table\"))",
        d.qualified(staging, FOLLOW_UPS_TABLE),
        d.ledger_timestamp_type()
    )
}

/// Whether a follow-up ran: parameter 1 the load id, 2 the chain's ledger key
/// (`<schema>.<root table>`, `dest_core::FollowUpJob::ledger_key`).
pub fn follow_ups_lookup(d: &dyn Dialect, staging: &str) -> String {
    format!(
        "SELECT 1 FROM {} WHERE \"load_id\" = {} AND \"root_table\" = {}",
        d.qualified(staging, FOLLOW_UPS_TABLE),
        d.param(1),
        d.param(2)
    )
}

/// Records a follow-up: parameter 1 the load id, 2 the chain's ledger key.
pub fn follow_ups_record(d: &dyn Dialect, staging: &str) -> String {
    format!(
        "INSERT INTO {}(\"load_id\", \"root_table\", \"done_at\") VALUES ({}, {}, {})",
        d.qualified(staging, FOLLOW_UPS_TABLE),
        d.param(1),
        d.param(2),
        d.now()
    )
}

/// Whether a schema version is stored in `dataset`: parameter 1 the version hash.
pub fn version_stored(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "SELECT 1 FROM {} WHERE \"version_hash\" = {} LIMIT 1",
        d.qualified(dataset, VERSION_TABLE),
        d.param(1)
    )
}

/// Stores a schema version in `dataset`: parameters 1 version, 2 engine version, 3 schema
/// name, 4 version hash, 5 the schema (JSON).
pub fn version_insert(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "INSERT INTO {}(\"version\", \"engine_version\", \"inserted_at\", \"schema_name\", \
         \"version_hash\", \"schema\") VALUES ({}, {}, {}, {}, {}, {})",
        d.qualified(dataset, VERSION_TABLE),
        d.param(1),
        d.param(2),
        d.now(),
        d.param(3),
        d.param(4),
        d.param(5)
    )
}

/// The newest stored version of a schema: parameter 1 the schema name; columns `version`,
/// `version_hash`, `schema`.
pub fn stored_schema(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "SELECT \"version\", \"version_hash\", \"schema\" FROM {} WHERE \"schema_name\" = {} \
         ORDER BY \"inserted_at\" DESC LIMIT 1",
        d.qualified(dataset, VERSION_TABLE),
        d.param(1)
    )
}

/// Deletes every stored version of a schema: parameter 1 the schema name.
pub fn versions_delete(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "DELETE FROM {} WHERE \"schema_name\" = {}",
        d.qualified(dataset, VERSION_TABLE),
        d.param(1)
    )
}

/// Records a completed load (status 0) once per load id and schema (two pipelines whose
/// load ids happen to be equal each get their row): parameters 1 load id, 2 schema name,
/// 3 schema version hash.
pub fn complete_load(d: &dyn Dialect, dataset: &str) -> String {
    let loads = d.qualified(dataset, LOADS_TABLE);
    format!(
        "INSERT INTO {loads}(\"load_id\", \"schema_name\", \"status\", \"inserted_at\", \
         \"schema_version_hash\") SELECT {p1}, {p2}, 0, {}, {} WHERE NOT EXISTS \
         (SELECT 1 FROM {loads} WHERE \"load_id\" = {p1} AND \"schema_name\" = {p2} \
         AND \"status\" = 0)",
        d.now(),
        d.text_param(3),
        p1 = d.text_param(1),
        p2 = d.text_param(2),
    )
}

/// The newest state of a pipeline that belongs to a completed load: parameter 1 the
/// pipeline name; columns `version`, `engine_version`, `pipeline_name`, `state`,
/// `_dlt_load_id`.
pub fn stored_state(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "SELECT s.\"version\", s.\"engine_version\", s.\"pipeline_name\", s.\"state\", \
         s.\"_dlt_load_id\" FROM {} AS s JOIN {} AS l ON l.\"load_id\" = s.\"_dlt_load_id\" \
         WHERE s.\"pipeline_name\" = {} AND l.\"status\" = 0 ORDER BY l.\"load_id\" DESC LIMIT 1",
        d.qualified(dataset, STATE_TABLE),
        d.qualified(dataset, LOADS_TABLE),
        d.param(1)
    )
}

/// The number of rows of `table`.
pub fn row_count(d: &dyn Dialect, dataset: &str, table: &str) -> String {
    format!("SELECT count(*) FROM {}", d.qualified(dataset, table))
}

/// The newest completed loads: parameter 1 how many; columns `load_id`, `status`,
/// `inserted_at`.
pub fn recent_loads(d: &dyn Dialect, dataset: &str) -> String {
    format!(
        "SELECT \"load_id\", \"status\", \"inserted_at\" FROM {} \
         ORDER BY \"inserted_at\" DESC, \"load_id\" DESC LIMIT {}",
        d.qualified(dataset, LOADS_TABLE),
        d.param(1)
    )
}

/// Drops `table` of `dataset` if it exists.
pub fn drop_table(d: &dyn Dialect, dataset: &str, table: &str) -> String {
    format!("DROP TABLE IF EXISTS {}", d.qualified(dataset, table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dialect::Ansi;
    use expect_test::expect;

    #[test]
    fn statements() {
        let d = Ansi { merge: false };
        expect![[r#"
            CREATE TABLE IF NOT EXISTS "st"."_dlt_rs_jobs" ("load_id" TEXT NOT NULL, "job" TEXT NOT NULL, "committed_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY ("load_id", "job"));
            INSERT INTO "st"."_dlt_rs_jobs" ("load_id", "job") VALUES (?1, ?2) ON CONFLICT DO NOTHING;
            SELECT "job" FROM "st"."_dlt_rs_jobs" WHERE "load_id" = ?1;
            DELETE FROM "st"."_dlt_rs_jobs" WHERE "load_id" = ?1;
            CREATE TABLE IF NOT EXISTS "st"."_dlt_rs_follow_ups" ("load_id" TEXT NOT NULL, "root_table" TEXT NOT NULL, "done_at" TIMESTAMP NOT NULL, PRIMARY KEY ("load_id", "root_table"));
            SELECT 1 FROM "st"."_dlt_rs_follow_ups" WHERE "load_id" = ?1 AND "root_table" = ?2;
            INSERT INTO "st"."_dlt_rs_follow_ups"("load_id", "root_table", "done_at") VALUES (?1, ?2, CURRENT_TIMESTAMP);
            SELECT 1 FROM "ds"."_dlt_version" WHERE "version_hash" = ?1 LIMIT 1;
            INSERT INTO "ds"."_dlt_version"("version", "engine_version", "inserted_at", "schema_name", "version_hash", "schema") VALUES (?1, ?2, CURRENT_TIMESTAMP, ?3, ?4, ?5);
            SELECT "version", "version_hash", "schema" FROM "ds"."_dlt_version" WHERE "schema_name" = ?1 ORDER BY "inserted_at" DESC LIMIT 1;
            DELETE FROM "ds"."_dlt_version" WHERE "schema_name" = ?1;
            INSERT INTO "ds"."_dlt_loads"("load_id", "schema_name", "status", "inserted_at", "schema_version_hash") SELECT ?1, ?2, 0, CURRENT_TIMESTAMP, ?3 WHERE NOT EXISTS (SELECT 1 FROM "ds"."_dlt_loads" WHERE "load_id" = ?1 AND "schema_name" = ?2 AND "status" = 0);
            SELECT s."version", s."engine_version", s."pipeline_name", s."state", s."_dlt_load_id" FROM "ds"."_dlt_pipeline_state" AS s JOIN "ds"."_dlt_loads" AS l ON l."load_id" = s."_dlt_load_id" WHERE s."pipeline_name" = ?1 AND l."status" = 0 ORDER BY l."load_id" DESC LIMIT 1"#]]
        .assert_eq(
            &[
                jobs_ddl(&d, "st"),
                jobs_record(&d, "st"),
                jobs_committed(&d, "st"),
                jobs_forget(&d, "st"),
                follow_ups_ddl(&d, "st"),
                follow_ups_lookup(&d, "st"),
                follow_ups_record(&d, "st"),
                version_stored(&d, "ds"),
                version_insert(&d, "ds"),
                stored_schema(&d, "ds"),
                versions_delete(&d, "ds"),
                complete_load(&d, "ds"),
                stored_state(&d, "ds"),
            ]
            .join(";\n"),
        );
    }
}

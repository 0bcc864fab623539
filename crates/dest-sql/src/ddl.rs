//! DDL from dlt's schema: `CREATE TABLE`, `ALTER TABLE ... ADD COLUMN`, UNIQUE constraints.
//!
//! Errors name the column (the caller adds the schema and table).

use std::fmt::Write as _;

use dest_core::{Column, TableSchema};

use crate::{truncate_ident, Dialect, SqlTextError};

/// `"name" type [UNIQUE] [NOT NULL]`.
pub fn column_def(
    d: &dyn Dialect,
    c: &Column,
    create_indexes: bool,
) -> Result<String, SqlTextError> {
    let mut def = format!("{} {}", d.quote_ident(&c.name), d.column_type(c)?);
    if c.unique && create_indexes {
        def.push_str(" UNIQUE");
    }
    if !c.nullable {
        def.push_str(" NOT NULL");
    }
    Ok(def)
}

/// `CREATE TABLE` of the complete columns of `table` in `dataset` (`IF NOT EXISTS` for
/// dlt's system tables); `unique` columns get a UNIQUE constraint when `create_indexes`.
pub fn create_table(
    d: &dyn Dialect,
    dataset: &str,
    table: &TableSchema,
    create_indexes: bool,
) -> Result<String, SqlTextError> {
    let defs = table
        .complete_columns()
        .map(|c| column_def(d, c, create_indexes))
        .collect::<Result<Vec<_>, _>>()?;
    let if_not_exists = if table.is_system() {
        "IF NOT EXISTS "
    } else {
        ""
    };
    Ok(format!(
        "CREATE TABLE {if_not_exists}{} (\n{})",
        d.qualified(dataset, &table.name),
        defs.join(",\n")
    ))
}

/// The statements that add `columns` to `table` (none for no columns).
///
/// In one `ALTER TABLE` where the dialect can ([`Dialect::add_columns_in_one_statement`]);
/// otherwise one per column, each added as nullable (a database that cannot add a NOT NULL
/// column without a default, SQLite, would refuse it) and followed, for a `unique` column
/// when `create_indexes`, by a UNIQUE index named `<table>_<column>_key` (PostgreSQL's name
/// for the constraint).
pub fn add_columns(
    d: &dyn Dialect,
    dataset: &str,
    table: &str,
    columns: &[&Column],
    create_indexes: bool,
) -> Result<Vec<String>, SqlTextError> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let target = d.qualified(dataset, table);
    if d.add_columns_in_one_statement() {
        let mut sql = format!("ALTER TABLE {target}\n");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(",\n");
            }
            let _ = write!(sql, "ADD COLUMN {}", column_def(d, c, create_indexes)?);
        }
        return Ok(vec![sql]);
    }
    let mut sql = Vec::new();
    for c in columns {
        sql.push(format!(
            "ALTER TABLE {target} ADD COLUMN {} {}",
            d.quote_ident(&c.name),
            d.column_type(c)?
        ));
        if c.unique && create_indexes {
            let index = format!("{table}_{}_key", c.name);
            let index = truncate_ident(&index, d.max_identifier_length());
            sql.push(format!(
                "CREATE UNIQUE INDEX {} ON {} ({})",
                d.qualified(dataset, index),
                d.quote_ident(table),
                d.quote_ident(&c.name)
            ));
        }
    }
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dialect::Ansi;
    use dest_core::DataType;
    use expect_test::expect;

    #[test]
    fn one_statement_per_column() {
        let d = Ansi { merge: false };
        let a = Column::new("a", DataType::Bigint).not_null();
        let b = Column {
            unique: true,
            ..Column::new("b", DataType::Text)
        };
        let sql = add_columns(&d, "ds", "t", &[&a, &b], true).unwrap();
        expect![[r#"
            ALTER TABLE "ds"."t" ADD COLUMN "a" BIGINT;
            ALTER TABLE "ds"."t" ADD COLUMN "b" TEXT;
            CREATE UNIQUE INDEX "ds"."t_b_key" ON "t" ("b")"#]]
        .assert_eq(&sql.join(";\n"));
        assert_eq!(add_columns(&d, "ds", "t", &[&b], false).unwrap().len(), 1);
        assert!(add_columns(&d, "ds", "t", &[], true).unwrap().is_empty());
        let mut t = TableSchema::new("t");
        t.columns = vec![a, b, Column::incomplete("c")];
        expect![[r#"
            CREATE TABLE "ds"."t" (
            "a" BIGINT NOT NULL,
            "b" TEXT UNIQUE)"#]]
        .assert_eq(&create_table(&d, "ds", &t, true).unwrap());
    }
}

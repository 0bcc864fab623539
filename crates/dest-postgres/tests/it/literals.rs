//! Property test of the one literal renderer against a real PostgreSQL: whatever value
//! goes in through an `INSERT ... VALUES` literal comes back unchanged, and nothing else
//! is executed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dest_core::Value;
use dest_postgres::render_value;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn literal(v: &Value) -> String {
    let mut out = Vec::new();
    render_value(&mut out, v).unwrap();
    String::from_utf8(out).unwrap()
}

struct Db {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    schema: String,
}

impl Db {
    fn new(test: &str, ddl: &str) -> Db {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, schema) = rt.block_on(async {
            let client = test_support::connect().await;
            let schema = test_support::fresh_schema(&client, test).await;
            client
                .batch_execute(&format!(
                    "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t ({ddl})"
                ))
                .await
                .unwrap();
            (client, schema)
        });
        Db { rt, client, schema }
    }

    /// Inserts one literal and reads the value back as text; also checks the table holds
    /// exactly that one row (an escaped literal that ran extra SQL would change that).
    fn round_trip(&self, lit: &str) -> Option<String> {
        self.rt.block_on(async {
            let s = &self.schema;
            self.client
                .batch_execute(&format!(
                    "TRUNCATE {s}.t; INSERT INTO {s}.t(v) VALUES ({lit})"
                ))
                .await
                .unwrap_or_else(|e| panic!("literal {lit:?} failed: {e}"));
            let rows =
                test_support::query_rows(&self.client, &format!("SELECT v::text FROM {s}.t")).await;
            assert_eq!(
                rows.len(),
                1,
                "literal {lit:?} produced {} rows",
                rows.len()
            );
            rows.into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .flatten()
        })
    }
}

#[test]
fn text_round_trips() {
    let db = Db::new("literals::text_round_trips", "v varchar");
    let mut runner = TestRunner::new(Config::with_cases(400));
    let hostile = "[\\\\'\"\n\r\t $;%_\\-a-zE{}()\u{1F980}é]{0,60}";
    let strategy = prop_oneof![any::<String>(), hostile];
    runner
        .run(&strategy, |s| {
            if s.contains('\0') {
                let mut out = Vec::new();
                prop_assert!(render_value(&mut out, &Value::Text(s.clone())).is_err());
                return Ok(());
            }
            let got = db.round_trip(&literal(&Value::Text(s.clone())));
            prop_assert_eq!(got, Some(s));
            Ok(())
        })
        .unwrap();
}

#[test]
fn numbers_round_trip() {
    let db = Db::new(
        "literals::numbers_round_trip",
        "v double precision, i bigint, n numeric",
    );
    let mut runner = TestRunner::new(Config::with_cases(300));
    runner
        .run(&any::<f64>(), |f| {
            let got = db.round_trip(&literal(&Value::Double(f)));
            if f.is_finite() {
                let back: f64 = got.unwrap().parse().unwrap();
                // exact, except that SQL reads `-0.0` as minus applied to 0: the sign of zero is lost
                prop_assert!(back.to_bits() == f.to_bits() || (f == 0.0 && back == 0.0));
            } else {
                prop_assert_eq!(got, None);
            }
            Ok(())
        })
        .unwrap();
    let ints = Db::new("literals::ints_round_trip", "v bigint");
    runner
        .run(&any::<i64>(), |i| {
            prop_assert_eq!(
                ints.round_trip(&literal(&Value::Int(i))),
                Some(i.to_string())
            );
            Ok(())
        })
        .unwrap();
    let big = Db::new("literals::bigs_round_trip", "v numeric");
    runner
        .run(&"-?[1-9][0-9]{0,120}", |digits| {
            prop_assert_eq!(
                big.round_trip(&literal(&Value::Number(digits.clone()))),
                Some(digits)
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn json_round_trips() {
    let db = Db::new("literals::json_round_trips", "v jsonb");
    let leaf = prop_oneof![
        any::<i32>().prop_map(serde_json::Value::from),
        "[^\u{0}]{0,20}".prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    let tree = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z'\\\\\"]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let mut runner = TestRunner::new(Config::with_cases(200));
    runner
        .run(&tree, |j| {
            let got = db.round_trip(&literal(&Value::Json(j.clone()))).unwrap();
            let back: serde_json::Value = serde_json::from_str(&got).unwrap();
            prop_assert_eq!(back, j);
            Ok(())
        })
        .unwrap();
}

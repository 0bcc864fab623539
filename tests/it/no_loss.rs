//! Nothing lost, nothing doubled: the cases users hit with ordinary mistakes and ordinary
//! deployments (long dataset names, a primary key not in the data, two pipelines merging
//! into one table at once, a loader that owns its schemas but may not create schemas, an
//! empty replace). Each test loads through the library into a real PostgreSQL and asserts
//! the rows that landed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pipeline::{Pipeline, PipelineError, Resource};
use serde_json::{json, Value};
use test_support::{connect, fresh_schema, pg_url, query_rows, quote_ident};

use dest_postgres as _;

/// Configuration that ignores the developer's own `.dlt/` folders and environment.
fn isolated(dir: &std::path::Path) -> dlt_config::ConfigBuilder {
    dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(false)
}

fn pipeline_with(
    name: &str,
    dataset: &str,
    dir: &std::path::Path,
    url: &str,
    config: impl FnOnce(dlt_config::ConfigBuilder) -> dlt_config::ConfigBuilder,
) -> Pipeline {
    Pipeline::builder(name)
        .destination("postgres")
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(url)
        .config(config(isolated(dir)))
        .build()
        .expect("pipeline builds")
}

fn pipeline(name: &str, dataset: &str, dir: &std::path::Path) -> Pipeline {
    pipeline_with(name, dataset, dir, &pg_url(), |c| c)
}

/// `n` items with ids `from..from + n`, a `v` of `tag` and a nested list each.
fn items(from: u64, n: u64, tag: &str) -> Vec<Value> {
    (from..from + n)
        .map(|i| json!({"id": i, "v": format!("{tag}{i}"), "kids": [{"k": i}, {"k": i + 1}]}))
        .collect()
}

async fn one(db: &tokio_postgres::Client, sql: &str) -> String {
    let rows = query_rows(db, sql).await;
    rows.first()
        .and_then(|r| r.first().cloned().flatten())
        .unwrap_or_else(|| "NULL".into())
}

/// Schemas whose name starts with `prefix`.
async fn schemas_like(db: &tokio_postgres::Client, prefix: &str) -> Vec<String> {
    query_rows(
        db,
        &format!(
            "select nspname from pg_namespace where starts_with(nspname, '{prefix}') order by 1"
        ),
    )
    .await
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .collect()
}

async fn drop_schemas_like(db: &tokio_postgres::Client, prefix: &str) {
    for s in schemas_like(db, prefix).await {
        db.batch_execute(&format!("drop schema {} cascade", quote_ident(&s)))
            .await
            .unwrap();
    }
}

/// A dataset name past PostgreSQL's 63 bytes: the staging schema must not be cut back to
/// the dataset's own name (it was, and merge and insert-from-staging then emptied the table
/// while reporting every row loaded).
#[tokio::test]
async fn a_dataset_name_past_63_bytes_keeps_every_row_of_a_merge_and_a_replace() {
    let db = connect().await;
    let prefix = "noloss_long_";
    drop_schemas_like(&db, prefix).await;
    let long = format!("{prefix}{}", "f".repeat(70));
    let dir = tempfile::tempdir().unwrap();

    let cases: [(&str, Option<&str>, &str); 4] = [
        ("merge", None, "merge_tbl"),
        ("merge", Some("upsert"), "upsert_tbl"),
        ("replace", Some("insert-from-staging"), "ifs_tbl"),
        ("replace", Some("staging-optimized"), "so_tbl"),
    ];
    for (disposition, strategy, table) in cases {
        for round in 0..2 {
            let mut p = pipeline("long_ds", &long, dir.path());
            let r = Resource::new(table, items(0, 1000, &format!("r{round}_")))
                .primary_key(["id"])
                .write_disposition(disposition, strategy)
                .unwrap();
            p.run(vec![r]).await.unwrap();
            let ds = quote_ident(p.dataset_name());
            assert_eq!(
                one(
                    &db,
                    &format!(
                        "select count(*) || ' ' || count(distinct id) || ' ' || min(v) \
                         from {ds}.{table}"
                    )
                )
                .await,
                format!("1000 1000 r{round}_0"),
                "{disposition} {strategy:?}, run {round}"
            );
            assert_eq!(
                one(&db, &format!("select count(*) from {ds}.{table}__kids")).await,
                "2000",
                "{disposition} {strategy:?}, run {round}: child rows"
            );
        }
    }
    // two schemas: the dataset and a staging schema of its own, both within 63 bytes, and
    // the ledgers are in staging, not in the user's dataset
    let schemas = schemas_like(&db, prefix).await;
    assert_eq!(schemas.len(), 2, "{schemas:?}");
    assert!(schemas.iter().all(|s| s.len() <= 63), "{schemas:?}");
    let dataset = pipeline("long_ds", &long, dir.path())
        .dataset_name()
        .to_string();
    let in_dataset = one(
        &db,
        &format!(
            "select count(*) from information_schema.tables where table_schema = '{dataset}' \
             and table_name like '\\_dlt\\_rs%'"
        ),
    )
    .await;
    assert_eq!(in_dataset, "0", "dlt-rs ledgers in the user's dataset");
    drop_schemas_like(&db, prefix).await;
}

/// `url` with the user and password replaced.
fn url_as(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host}")
}

/// A loader that owns its dataset and staging schemas (made for it by an administrator)
/// but may not create schemas loads: `CREATE SCHEMA IF NOT EXISTS` needs CREATE on the
/// database even when the schema exists, so only missing schemas are created.
#[tokio::test]
async fn a_loader_that_owns_its_schemas_but_may_not_create_schemas_loads() {
    let db = connect().await;
    let ds = fresh_schema(&db, "no_loss::owned_schemas").await;
    let role = "dlt_rs_noloss_loader";
    let drop_role = format!(
        "do $$ begin if exists (select from pg_roles where rolname = '{role}') then \
         execute 'drop owned by {role} cascade'; execute 'drop role {role}'; end if; end $$"
    );
    db.batch_execute(&drop_role).await.unwrap();
    db.batch_execute(&format!(
        "create role {role} login password 'pw-noloss'; \
         create schema {ds} authorization {role}; \
         create schema {ds}_staging authorization {role};"
    ))
    .await
    .unwrap();
    let may_create: String = one(
        &db,
        &format!("select has_database_privilege('{role}', current_database(), 'CREATE')::text"),
    )
    .await;
    assert_eq!(
        may_create, "false",
        "the test needs a loader without CREATE"
    );

    let dir = tempfile::tempdir().unwrap();
    let url = url_as(&pg_url(), role, "pw-noloss");
    for round in 0..2 {
        let mut p = pipeline_with("owned", &ds, dir.path(), &url, |c| c);
        let appended = Resource::new("events", items(round * 100, 100, "e"));
        let merged = Resource::new("users", items(0, 50, &format!("u{round}_")))
            .primary_key(["id"])
            .write_disposition("merge", None)
            .unwrap();
        p.run(vec![appended, merged]).await.unwrap();
    }
    assert_eq!(
        one(
            &db,
            &format!(
                "select (select count(*) from {ds}.events) || ' ' || \
                 (select count(*) || ' ' || min(v) from {ds}.users)"
            )
        )
        .await,
        "200 50 u1_0"
    );
    db.batch_execute(&format!(
        "drop schema {ds} cascade; drop schema {ds}_staging cascade; {drop_role}"
    ))
    .await
    .unwrap();
}

/// A primary key that is not in the data is refused before anything loads (dlt:
/// `UnboundColumnException`); it was silently dropped and every merge appended. The key
/// corrected, the same pipeline loads.
#[tokio::test]
async fn a_primary_key_not_in_the_data_is_refused_and_nothing_loads() {
    let db = connect().await;
    let ds = fresh_schema(&db, "no_loss::unbound_key").await;
    for overlap in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let table = format!("users_{overlap}");
        let build = || {
            pipeline_with("unbound", &ds, dir.path(), &pg_url(), |c| {
                c.set("load.overlap", overlap)
            })
        };
        let resource = |key: &str, tag: &str| {
            Resource::new(&table, items(0, 1000, tag))
                .primary_key([key])
                .write_disposition("merge", None)
                .unwrap()
        };
        let err = build()
            .run(vec![resource("nosuchcol", "a")])
            .await
            .unwrap_err();
        match &err {
            PipelineError::Schema(e) => match e.as_ref() {
                normalize::NormalizeError::UnboundColumn {
                    table: t,
                    column,
                    what,
                } => {
                    assert_eq!(
                        (t.as_str(), column.as_str(), *what),
                        (table.as_str(), "nosuchcol", "primary key")
                    );
                }
                other => panic!("overlap {overlap}: {other}"),
            },
            other => panic!("overlap {overlap}: {other}"),
        }
        let tables = one(
            &db,
            &format!(
                "select count(*) from information_schema.tables where table_schema = '{ds}' \
                 and starts_with(table_name, '{table}')"
            ),
        )
        .await;
        assert_eq!(tables, "0", "overlap {overlap}: nothing may load");

        // `ID` normalizes to `id`, which is in the data; run twice: merged, not appended
        for tag in ["b", "c"] {
            build().run(vec![resource("ID", tag)]).await.unwrap();
        }
        assert_eq!(
            one(
                &db,
                &format!("select count(*) || ' ' || min(v) from {ds}.{table}")
            )
            .await,
            "1000 c0",
            "overlap {overlap}"
        );
    }
}

/// Two pipelines merge into one dataset and table at the same time, five times: every run
/// of each keeps its rows (they shared `<dataset>_staging.<table>`, and one run's rows were
/// lost while both reported success). Staged loads into one staging schema take turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pipelines_merging_into_one_table_at_once_keep_every_row() {
    let db = connect().await;
    let ds = fresh_schema(&db, "no_loss::concurrent_merge").await;
    let n = 5_000u64;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for round in 0..5 {
        let mut runs = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let dir = dirs[i].path().to_path_buf();
            let ds = ds.clone();
            runs.push(tokio::spawn(async move {
                let mut p = pipeline(name, &ds, &dir);
                let r = Resource::new("shared", items(i as u64 * n, n, &format!("{name}{round}_")))
                    .primary_key(["id"])
                    .write_disposition("merge", None)
                    .unwrap();
                p.run(vec![r]).await
            }));
        }
        let mut infos = Vec::new();
        for run in runs {
            infos.push(run.await.unwrap().unwrap().to_string());
        }
        assert_eq!(
            one(
                &db,
                &format!(
                    "select count(*) || ' ' || count(distinct id) || ' ' || \
                     count(*) filter (where v = 'a{round}_' || id) || ' ' || \
                     count(*) filter (where v = 'b{round}_' || id) || ' ' || \
                     (select count(*) from {ds}.shared__kids) from {ds}.shared"
                )
            )
            .await,
            format!("{} {} {n} {n} {}", 2 * n, 2 * n, 4 * n),
            "round {round}: rows, ids, a's rows of this round, b's rows of this round, kids; \
             the runs: {infos:#?}"
        );
    }
}

/// A replace whose source yields nothing empties the table, as dlt does, and says so: the
/// summary names each table, that it was replaced by 0 rows, and how many rows went.
#[tokio::test]
async fn an_empty_replace_empties_the_table_and_says_how_many_rows_went() {
    let db = connect().await;
    let ds = fresh_schema(&db, "no_loss::empty_replace").await;
    for strategy in [
        "truncate-and-insert",
        "insert-from-staging",
        "staging-optimized",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let table = format!("snap_{}", strategy.replace('-', "_"));
        let resource = |items: Vec<Value>| {
            Resource::new(&table, items)
                .write_disposition("replace", Some(strategy))
                .unwrap()
        };
        let mut p = pipeline("empty_replace", &ds, dir.path());
        p.run(vec![resource(items(0, 1000, "s"))]).await.unwrap();
        let info = p.run(vec![resource(Vec::new())]).await.unwrap();
        assert_eq!(info.packages.len(), 1, "{strategy}: {info}");
        let removed = &info.packages[0].replaced_empty;
        assert_eq!(removed.get(&table), Some(&1000), "{strategy}: {info}");
        assert_eq!(
            removed.get(&format!("{table}__kids")),
            Some(&2000),
            "{strategy}: {info}"
        );
        let summary = info.to_string();
        assert!(
            summary.contains(&format!(
                "table {table} replaced by 0 rows (1000 row(s) removed)"
            )),
            "{strategy}: {summary}"
        );
        assert_eq!(
            one(&db, &format!("select count(*) from {ds}.{table}")).await,
            "0",
            "{strategy}: dlt's semantics, the table is empty"
        );
    }
}

/// Passwords never print: every public type that holds configuration or credentials, in
/// `Debug` (and `Display` where it has one), with the password set every way it can be.
#[test]
fn passwords_never_print_in_any_configuration_or_credentials_type() {
    use clap::Parser;
    let pw = "Pa55-never-printed-7c1e";
    let url = format!("postgresql://loader:{pw}@127.0.0.1:5432/db?sslmode=disable");
    let dir = tempfile::tempdir().unwrap();
    let mut printed: Vec<(&str, String)> = Vec::new();

    let config_builder = || {
        isolated(dir.path())
            .set("destination.postgres.credentials", url.as_str())
            .set("destination.postgres.credentials.password", pw)
            .set("sources.anything.api_key", pw)
    };
    printed.push(("ConfigBuilder", format!("{:?}", config_builder())));
    let config = config_builder().build().unwrap();
    printed.push(("Config", format!("{config:?}")));
    let resolver = config.resolver(Some("p"));
    printed.push(("Resolver", format!("{resolver:?}")));
    let found = resolver
        .find(&["destination", "postgres", "credentials"], "password")
        .unwrap();
    assert_eq!(found.as_string().unwrap(), pw, "the password is configured");
    printed.push(("Found", format!("{found:?}")));

    let creds = dest_postgres::PostgresCredentials::parse_url(&url).unwrap();
    printed.push(("PostgresCredentials", format!("{creds:?}")));
    printed.push(("PostgresCredentials (Display)", creds.to_string()));
    let secret = dest_core::Secret::new(pw);
    printed.push(("Secret", format!("{secret:?}")));
    printed.push(("Secret (Display)", secret.to_string()));

    let builder = Pipeline::builder("p")
        .dataset_name("d")
        .pipelines_dir(dir.path())
        .credentials(&url)
        .config(config_builder());
    printed.push(("PipelineBuilder", format!("{builder:?}")));
    let pipeline = builder.build().unwrap();
    printed.push(("Pipeline", format!("{pipeline:?}")));
    printed.push(("Destination", format!("{:?}", pipeline.destination())));
    let profile = pipeline.destination().dbt_profile("d").unwrap();
    printed.push(("DbtProfile", format!("{profile:?}")));
    let overrides = pipeline::PipelineOverrides {
        credentials: Some(url.clone()),
        ..Default::default()
    };
    printed.push(("PipelineOverrides", format!("{overrides:?}")));

    let load = [
        "dlt-rs",
        "load",
        "f.jsonl",
        "--pipeline",
        "p",
        "--table",
        "t",
    ];
    let cli =
        cli::Cli::try_parse_from(load.iter().copied().chain(["--credentials", &url])).unwrap();
    printed.push(("Cli load", format!("{cli:?}")));
    let show = ["dlt-rs", "pipeline", "p", "show", "--credentials", &url];
    let cli = cli::Cli::try_parse_from(show).unwrap();
    printed.push(("Cli pipeline", format!("{cli:?}")));

    for (what, text) in &printed {
        assert!(!text.contains(pw), "{what} prints the password: {text}");
    }
}

/// The working folder stays bounded across runs: a loaded package's job files are deleted
/// (a listing of them stays) and only the newest `keep_loaded_packages` packages are kept;
/// `delete_completed_jobs = false` keeps the files, as dlt's default does.
#[tokio::test]
async fn loaded_packages_do_not_grow_the_working_folder() {
    let db = connect().await;
    let ds = fresh_schema(&db, "no_loss::bounded_disk").await;
    let size = |dir: &std::path::Path| -> (usize, usize) {
        let loaded = dir.join("load").join("loaded");
        let packages: Vec<_> = std::fs::read_dir(&loaded).unwrap().flatten().collect();
        let job_files = packages
            .iter()
            .filter_map(|p| std::fs::read_dir(p.path().join("completed_jobs")).ok())
            .map(|d| d.count())
            .sum();
        (packages.len(), job_files)
    };
    let dir = tempfile::tempdir().unwrap();
    for run in 0..5 {
        let mut p = pipeline_with("bounded", &ds, dir.path(), &pg_url(), |c| {
            c.set("load.keep_loaded_packages", 3)
        });
        p.run(vec![Resource::new("events", items(run * 10, 10, "e"))])
            .await
            .unwrap();
    }
    assert_eq!(
        size(&dir.path().join("bounded")),
        (3, 0),
        "3 packages, no job files"
    );
    assert_eq!(
        one(&db, &format!("select count(*) from {ds}.events")).await,
        "50"
    );

    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let mut p = pipeline_with("kept", &ds, dir.path(), &pg_url(), |c| {
            c.set("load.delete_completed_jobs", false)
        });
        p.run(vec![Resource::new("kept", items(run * 10, 10, "k"))])
            .await
            .unwrap();
    }
    let (packages, job_files) = size(&dir.path().join("kept"));
    assert_eq!(packages, 2);
    assert!(job_files >= 4, "job files kept: {job_files}");
}

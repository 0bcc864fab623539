//! The profile made for the PostgreSQL destination, and the errors before dbt runs (no
//! database and no dbt needed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use dest_core::{Capabilities, DatasetRef, Destination, FileFormat, LoadClient};
use dest_postgres::{Postgres, PostgresCredentials, PostgresSettings};
use dlt_dbt::{render_profiles_yml, DbtError, DbtOptions};
use expect_test::expect;

const SECRET: &str = "Top$ecret-pw";

fn postgres(url: &str) -> Postgres {
    Postgres::new(
        PostgresCredentials::parse_url(url).unwrap(),
        PostgresSettings::default(),
    )
}

fn fixture_project() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt_project")
}

#[test]
fn postgres_profile_keeps_the_password_out() {
    let dest = postgres(&format!(
        "postgresql://loader:{}@db.example.com:5433/dlt_data?sslmode=verify-ca\
         &sslrootcert=/etc/ca.pem&sslcert=/etc/client.pem&sslkey=/etc/client.key\
         &connect_timeout=7&application_name=reports",
        SECRET.replace('$', "%24")
    ));
    let profile = dest.dbt_profile("analytics").unwrap();
    assert_eq!(profile.adapter, "postgres");
    assert_eq!(profile.secrets.len(), 1);
    assert_eq!(profile.secrets[0].value, SECRET);
    assert!(!format!("{profile:?}").contains(SECRET));

    let text = render_profiles_yml(&profile, 8);
    assert!(!text.contains(SECRET), "{text}");
    expect![[r#"
        # Written by dlt-rs for one dbt run from the destination's credentials.
        # Secrets are not in this file: dbt reads them from environment variables.
        dlt_rs:
          target: dlt_rs
          outputs:
            dlt_rs:
              type: "postgres"
              host: "db.example.com"
              port: 5433
              user: "loader"
              dbname: "dlt_data"
              schema: "analytics"
              connect_timeout: 7
              sslmode: "verify-ca"
              sslrootcert: "/etc/ca.pem"
              sslcert: "/etc/client.pem"
              sslkey: "/etc/client.key"
              application_name: "reports"
              password: "{{ env_var('DLT_RS_DBT_PASSWORD') }}"
              threads: 8
    "#]]
    .assert_eq(&text);
}

#[test]
fn postgres_profile_defaults() {
    let dest = postgres("postgresql://postgres@127.0.0.1/postgres");
    let text = render_profiles_yml(&dest.dbt_profile("raw").unwrap(), 4);
    expect![[r#"
        # Written by dlt-rs for one dbt run from the destination's credentials.
        # Secrets are not in this file: dbt reads them from environment variables.
        dlt_rs:
          target: dlt_rs
          outputs:
            dlt_rs:
              type: "postgres"
              host: "127.0.0.1"
              port: 5432
              user: "postgres"
              dbname: "postgres"
              schema: "raw"
              connect_timeout: 15
              sslmode: "prefer"
              password: "{{ env_var('DLT_RS_DBT_PASSWORD') }}"
              threads: 4
    "#]]
    .assert_eq(&text);
}

#[tokio::test]
async fn no_dbt_in_the_venv_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("empty-venv");
    let dest = postgres("postgresql://postgres@127.0.0.1/postgres");
    let err = dlt_dbt::run_with_destination(
        &dest,
        "raw",
        &fixture_project(),
        &DbtOptions::default().venv(&venv),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DbtError::NotFound { .. }), "{msg}");
    assert!(
        msg.contains(&venv.join("bin/dbt").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("pip install dbt-postgres"), "{msg}");
}

#[tokio::test]
async fn a_folder_without_dbt_project_yml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dest = postgres("postgresql://postgres@127.0.0.1/postgres");
    let err = dlt_dbt::run_with_destination(&dest, "raw", dir.path(), &DbtOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DbtError::NotAProject { .. }), "{err}");
    assert!(err.to_string().contains("no dbt_project.yml"), "{err}");
}

/// A destination that keeps the trait's default `dbt_profile`.
#[derive(Debug)]
struct NoDbt;

#[async_trait::async_trait]
impl Destination for NoDbt {
    fn name(&self) -> &str {
        "no_dbt"
    }
    fn capabilities(&self) -> &Capabilities {
        unimplemented!()
    }
    fn file_format(&self, _format: dest_core::LoaderFileFormat) -> Option<Arc<dyn FileFormat>> {
        None
    }
    fn workers(&self) -> usize {
        1
    }
    async fn client(&self, _dataset: &DatasetRef) -> dest_core::Result<Arc<dyn LoadClient>> {
        unimplemented!()
    }
}

#[tokio::test]
async fn a_destination_without_dbt_support_is_an_error() {
    let err =
        dlt_dbt::run_with_destination(&NoDbt, "raw", &fixture_project(), &DbtOptions::default())
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "running dbt is not supported by destination `no_dbt`"
    );
}

//! One case's surroundings: its dataset, its pipelines' working folder, runs that record
//! their load ids, and queries answered as text.

use std::path::Path;

use dest_core::{Capabilities, DispositionKind};
use pipeline::{LoadInfo, Pipeline, PipelineError, Resource};

use crate::Harness;

/// A case in progress: a clean dataset, a temporary pipelines folder, the destination's
/// capabilities and the ids of every load the case's runs reported.
pub struct Ctx<'h> {
    pub h: &'h dyn Harness,
    /// The case name; also the pipeline name.
    pub case: String,
    pub dataset: String,
    pub caps: Capabilities,
    dir: tempfile::TempDir,
    format: Option<String>,
    /// Load ids of the packages the runs loaded, in order.
    pub loads: Vec<String>,
    runs: usize,
}

impl<'h> Ctx<'h> {
    /// Starts `case`: a fresh dataset and a new pipelines folder.
    pub async fn new(h: &'h dyn Harness, case: &str) -> Ctx<'h> {
        let name = crate::naming::dataset_name(h.destination(), case);
        let dataset = h.fresh_dataset(&name).await;
        let dir = tempfile::tempdir().expect("a temporary pipelines folder");
        let caps = build(h, case, &dataset, dir.path(), &h.credentials(), None)
            .destination()
            .capabilities()
            .clone();
        Ctx {
            h,
            case: case.to_string(),
            dataset,
            caps,
            dir,
            format: None,
            loads: Vec::new(),
            runs: 0,
        }
    }

    /// The same case loading with `format` (`Pipeline::builder().loader_file_format`).
    pub fn with_format(mut self, format: &str) -> Self {
        self.format = Some(format.to_string());
        self
    }

    /// The case's pipeline (a new `Pipeline` on the same working folder: like running the
    /// program again).
    pub fn pipeline(&self) -> Pipeline {
        self.pipeline_in(self.dir.path(), &self.h.credentials())
    }

    /// The case's pipeline with a working folder of its own and other credentials.
    pub fn pipeline_in(&self, dir: &Path, credentials: &str) -> Pipeline {
        build(
            self.h,
            &self.case,
            &self.dataset,
            dir,
            credentials,
            self.format.as_deref(),
        )
    }

    /// The case's working folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `resources` in the case's pipeline; panics when the run fails. Records the
    /// load ids of the packages it loaded.
    pub async fn run(&mut self, resources: Vec<Resource>) -> LoadInfo {
        let mut p = self.pipeline();
        self.run_pipeline(&mut p, resources).await
    }

    /// Runs `resources` in `p`; panics when the run fails.
    pub async fn run_pipeline(&mut self, p: &mut Pipeline, resources: Vec<Resource>) -> LoadInfo {
        self.runs += 1;
        match p.run(resources).await {
            Ok(info) => {
                self.loads
                    .extend(info.packages.iter().map(|p| p.load_id.clone()));
                info
            }
            Err(e) => panic!(
                "{}: run {} failed: {e}{}",
                self.case,
                self.runs,
                sources(&e)
            ),
        }
    }

    /// Runs `resources`, which must fail; returns the error.
    pub async fn run_err(&mut self, resources: Vec<Resource>) -> PipelineError {
        let mut p = self.pipeline();
        self.runs += 1;
        match p.run(resources).await {
            Ok(info) => panic!(
                "{}: run {} should have failed but loaded: {info}",
                self.case, self.runs
            ),
            Err(e) => e,
        }
    }

    /// `table` as the destination's SQL names it.
    pub fn t(&self, table: &str) -> String {
        self.h.table(&self.dataset, table)
    }

    /// `ident` quoted.
    pub fn q(&self, ident: &str) -> String {
        self.h.quote(ident)
    }

    /// A comma-separated list of column names, each quoted: `"id", "name"`.
    pub fn cols(&self, names: &str) -> String {
        names
            .split(',')
            .map(|c| self.q(c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rows of `sql`, NULL as `NULL`.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.h
            .query(&self.dataset, sql)
            .await
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect()
    }

    /// The one value `sql` returns.
    pub async fn value(&self, sql: &str) -> String {
        let rows = self.rows(sql).await;
        match rows.as_slice() {
            [row] if row.len() == 1 => row[0].clone(),
            _ => panic!("{}: expected one value from {sql}, got {rows:?}", self.case),
        }
    }

    /// `SELECT count(*) FROM table [WHERE ...]` as a number.
    pub async fn count(&self, table: &str, filter: &str) -> u64 {
        let mut sql = format!("SELECT count(*) FROM {}", self.t(table));
        if !filter.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(filter);
        }
        let v = self.value(&sql).await;
        v.parse()
            .unwrap_or_else(|_| panic!("{}: count(*) gave {v:?}: {sql}", self.case))
    }

    /// The column names of `table` in table order (empty when it does not exist).
    pub async fn col_names(&self, table: &str) -> Vec<String> {
        self.h
            .columns(&self.dataset, table)
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// The destination's type of `column` in `table`; panics when there is no such column.
    pub async fn col_type(&self, table: &str, column: &str) -> String {
        let cols = self.h.columns(&self.dataset, table).await;
        match cols.iter().find(|(n, _)| n == column) {
            Some((_, t)) => t.clone(),
            None => panic!(
                "{}: table {table} has no column {column}; it has {:?}",
                self.case,
                cols.iter().map(|(n, _)| n).collect::<Vec<_>>()
            ),
        }
    }

    /// Whether the destination supports `kind` with `strategy` (its capabilities).
    pub fn supports(&self, kind: DispositionKind, strategy: &str) -> bool {
        dest_core::TableDisposition::parse(kind.as_str(), Some(strategy))
            .and_then(|d| self.caps.check_disposition(self.h.destination(), d))
            .is_ok()
    }

    /// The loads table holds exactly the loads the case's runs reported, once each, all
    /// with status 0 and the pipeline's schema name; and every row of `root_tables` belongs
    /// to one of them.
    pub async fn check_loads(&self, root_tables: &[&str]) {
        let loads = self.t("_dlt_loads");
        let got = self
            .rows(&format!(
                "SELECT {} FROM {loads} ORDER BY {}",
                self.cols("load_id, status, schema_name"),
                self.q("load_id")
            ))
            .await;
        let mut want: Vec<Vec<String>> = self
            .loads
            .iter()
            .map(|id| vec![id.clone(), "0".into(), self.case.clone()])
            .collect();
        want.sort();
        assert_eq!(
            got, want,
            "{}: _dlt_loads must have one row with status 0 per load (load_id, status, schema_name)",
            self.case
        );
        for table in root_tables {
            let orphans = self
                .count(
                    table,
                    &format!(
                        "{} NOT IN (SELECT {} FROM {loads})",
                        self.q("_dlt_load_id"),
                        self.q("load_id")
                    ),
                )
                .await;
            assert_eq!(
                orphans, 0,
                "{}: rows of {table} whose _dlt_load_id is not in _dlt_loads",
                self.case
            );
        }
    }
}

/// The causes of `e`, each on its own line.
fn sources(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(&format!("\n  caused by: {c}"));
        cur = c.source();
    }
    out
}

/// Pipeline `case` of `h`'s destination into `dataset`, working in `dir`, reading no
/// configuration but what is given here (not the developer's `.dlt/` or environment).
fn build(
    h: &dyn Harness,
    case: &str,
    dataset: &str,
    dir: &Path,
    credentials: &str,
    format: Option<&str>,
) -> Pipeline {
    let config = dlt_config::Config::builder()
        .project_dir(dir)
        .no_global_dir()
        .env(false);
    let mut b = Pipeline::builder(case)
        .destination(h.destination())
        .dataset_name(dataset)
        .pipelines_dir(dir)
        .credentials(credentials)
        .config(config);
    if let Some(f) = format {
        b = b.loader_file_format(f);
    }
    match b.build() {
        Ok(p) => p,
        Err(e) => panic!("{case}: the pipeline does not build: {e}"),
    }
}

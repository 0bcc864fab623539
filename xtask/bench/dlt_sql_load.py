#!/usr/bin/env python3
"""The real dlt `sql_database` runner of `cargo xtask bench`: copy one PostgreSQL table into a
dataset with dlt's `sql_database` source and its `pyarrow` backend, and time it.

    dlt_sql_load.py SOURCE_SCHEMA TABLE SCHEMA --dsn URL --pipelines-dir DIR
                    [--backend pyarrow|sqlalchemy]

* Drops SCHEMA (and SCHEMA_staging) and DIR first, so every invocation starts cold.
* The source is `sql_database(credentials, schema=SOURCE_SCHEMA, table_names=[TABLE],
  backend=...)` through SQLAlchemy with psycopg2 (`postgresql+psycopg2://`), dlt's default
  reflection (`reflection_level="full"`) and chunk size (50,000 rows); `pipeline.run(source)`
  with dlt's default loader file format for the data (Arrow data into postgres: `csv` without
  the ADBC driver).
* Timed region = `pipeline.run()` (reflection, extract, normalize, load), wall clock.

Needs `dlt[postgres]==1.31.0`, `sqlalchemy<2.1` and `pyarrow` in the venv.

Prints `RESULT <label> rows=<n> seconds=<s>` (n = rows in the table) and an `INFO` line with
dlt's own step times and the job file formats dlt used.
"""
import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
import psycopg2  # noqa: E402
import pyarrow  # noqa: E402,F401
import sqlalchemy  # noqa: E402
from dlt.sources.sql_database import sql_database  # noqa: E402


def sql(dsn: str, query: str, fetch: bool = False):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return cur.fetchall() if fetch else None
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("source_schema")
    ap.add_argument("table")
    ap.add_argument("schema")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--pipelines-dir", required=True)
    ap.add_argument("--backend", default="pyarrow", choices=["pyarrow", "sqlalchemy"])
    a = ap.parse_args()

    label = f"dlt-sql-{a.backend}-{a.table}"
    sql(a.dsn, "SET client_min_messages = warning; "
               f'DROP SCHEMA IF EXISTS "{a.schema}" CASCADE; '
               f'DROP SCHEMA IF EXISTS "{a.schema}_staging" CASCADE')
    shutil.rmtree(a.pipelines_dir, ignore_errors=True)

    source_url = a.dsn
    for scheme in ("postgresql://", "postgres://"):
        if source_url.startswith(scheme):
            source_url = "postgresql+psycopg2://" + source_url[len(scheme):]
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{a.schema}",
        pipelines_dir=a.pipelines_dir,
        destination=dlt.destinations.postgres(credentials=a.dsn),
        dataset_name=a.schema,
    )
    source = sql_database(
        credentials=source_url,
        schema=a.source_schema,
        table_names=[a.table],
        backend=a.backend,
    )
    t0 = time.perf_counter()
    info = pipeline.run(source)
    secs = time.perf_counter() - t0
    info.raise_on_failed_jobs()

    # ---- reporting (outside the timed region)
    steps = {s.step: (s.finished_at - s.started_at).total_seconds()
             for s in pipeline.last_trace.steps if s.started_at and s.finished_at}
    rows = sql(a.dsn, f'SELECT count(*) FROM "{a.schema}"."{a.table}"', fetch=True)[0][0]
    files = {}
    for job in pipeline.last_trace.last_load_info.load_packages[0].jobs["completed_jobs"]:
        ext = job.job_file_info.file_format
        files[ext] = files.get(ext, 0) + 1
    print(f"INFO {label} steps " + " ".join(f"{k}={v:.3f}" for k, v in steps.items())
          + f" load_jobs={files}", flush=True)
    print(f"INFO {label} dlt={dlt.__version__} sqlalchemy={sqlalchemy.__version__} "
          f"pyarrow={pyarrow.__version__} python={sys.version.split()[0]}", flush=True)
    print(f"RESULT {label} rows={rows} seconds={secs:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

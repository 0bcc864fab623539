#!/usr/bin/env python3
"""The real dlt Arrow runner of `cargo xtask bench`: load one Parquet file into PostgreSQL the
way dlt's docs show for Arrow data, and time it.

    dlt_arrow_load.py FILE.parquet SCHEMA --dsn URL --pipelines-dir DIR --table NAME
                      [--format insert_values|csv|parquet]

* Drops SCHEMA (and SCHEMA_staging) and DIR first, so every invocation starts cold (no dlt
  state, no destination tables); `cargo xtask bench` has done so already, this is a guard.
* The file is read with `pyarrow.parquet.read_table` and passed as one `pyarrow.Table` to
  `pipeline.run(table, table_name=NAME)` ("Arrow Table / Pandas" in dlt's docs). dlt picks the
  loader file format (its default for Arrow data into postgres) unless --format is given.
* dlt 1.31 without the ADBC driver (`adbc-driver-postgresql`, not installed by the bench)
  normalizes Arrow data for postgres into `csv` job files (COPY), and its csv loads empty
  strings as NULL (`FORCE_NULL`); the bench's content check knows that difference.
* Timed region = reading the file + `pipeline.run()` (extract + normalize + load; not the
  interpreter start or the imports), wall clock. `dlt_load.py` reads its JSON Lines inside
  `pipeline.run()` (a generator), so both runners time reading the input, as `dlt-rs` does.

Prints `RESULT <label> rows=<n> seconds=<s>` (n = rows in the table) and `INFO` lines with the
read time, dlt's own step times and the job file formats dlt used.
"""
import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
import psycopg2  # noqa: E402
import pyarrow  # noqa: E402
import pyarrow.dataset  # noqa: E402,F401  (read_table imports it: an import, not reading)
import pyarrow.parquet as pq  # noqa: E402


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
    ap.add_argument("file")
    ap.add_argument("schema")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--pipelines-dir", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--format", choices=["insert_values", "csv", "parquet"])
    ap.add_argument("--label")
    a = ap.parse_args()

    label = a.label or f"dlt-arrow{'-' + a.format if a.format else ''}-{a.table}"

    sql(a.dsn, "SET client_min_messages = warning; "
               f'DROP SCHEMA IF EXISTS "{a.schema}" CASCADE; '
               f'DROP SCHEMA IF EXISTS "{a.schema}_staging" CASCADE')
    shutil.rmtree(a.pipelines_dir, ignore_errors=True)

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{a.schema}",
        pipelines_dir=a.pipelines_dir,
        destination=dlt.destinations.postgres(credentials=a.dsn),
        dataset_name=a.schema,
    )

    kw = {"table_name": a.table}
    if a.format:
        kw["loader_file_format"] = a.format
    t0 = time.perf_counter()
    table = pq.read_table(a.file)
    read_secs = time.perf_counter() - t0
    info = pipeline.run(table, **kw)
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
    print(f"INFO {label} read_seconds={read_secs:.3f} rows_read={table.num_rows} steps "
          + " ".join(f"{k}={v:.3f}" for k, v in steps.items()) + f" load_jobs={files}",
          flush=True)
    print(f"INFO {label} dlt={dlt.__version__} pyarrow={pyarrow.__version__} "
          f"python={sys.version.split()[0]}", flush=True)
    print(f"RESULT {label} rows={rows} seconds={secs:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

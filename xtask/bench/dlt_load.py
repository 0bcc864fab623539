#!/usr/bin/env python3
"""The real dlt runner of `cargo xtask bench`: load one JSONL file into PostgreSQL and time it.

    dlt_load.py FILE.jsonl SCHEMA --dsn URL --pipelines-dir DIR
                [--format insert_values|csv] [--merge] [--table NAME] [--batch N]

* Drops SCHEMA (and SCHEMA_staging) and DIR first, so every invocation starts cold (no dlt
  state, no destination tables); `cargo xtask bench` has done so already, this is a guard.
* The whole file is one dlt resource (table NAME, default: the file stem); rows are parsed with
  orjson (dlt's own JSON dependency) and yielded in lists of --batch rows (default 1000, as
  dlt's filesystem `read_jsonl` does).
* Timed region = `pipeline.run()` only (extract + normalize + load, not interpreter start or
  imports), wall clock.
* --merge: write_disposition="merge", primary_key="id"; the file is loaded twice and the
  *second* (merge-into-existing) run is the one reported.

Prints `RESULT <label> rows=<n> seconds=<s>` (n = rows in the root table) and `INFO` lines with
dlt's own step times. Same method as the reference harness's `bench/dlt_load.py`.
"""
import argparse
import os
import shutil
import sys
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
import psycopg2  # noqa: E402

try:
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover
    import json

    loads = json.loads


def read_jsonl(path: str, batch: int):
    with open(path, "rb") as f:
        if batch <= 1:
            for line in f:
                yield loads(line)
            return
        buf = []
        for line in f:
            buf.append(loads(line))
            if len(buf) >= batch:
                yield buf
                buf = []
        if buf:
            yield buf


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
    ap.add_argument("--format", choices=["insert_values", "csv"], default="insert_values")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("--table")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--label")
    a = ap.parse_args()

    table = a.table or os.path.splitext(os.path.basename(a.file))[0]
    label = a.label or f"dlt-{a.format}{'-merge' if a.merge else ''}-{table}"

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

    def make_resource():
        kw = dict(name=table, table_name=table)
        if a.merge:
            kw.update(write_disposition="merge", primary_key="id")
        else:
            kw.update(write_disposition="append")
        return dlt.resource(read_jsonl(a.file, a.batch), **kw)

    def run_once():
        t0 = time.perf_counter()
        info = pipeline.run(make_resource(), loader_file_format=a.format)
        secs = time.perf_counter() - t0
        info.raise_on_failed_jobs()
        steps = {s.step: (s.finished_at - s.started_at).total_seconds()
                 for s in pipeline.last_trace.steps if s.started_at and s.finished_at}
        return secs, steps

    if a.merge:
        secs1, steps1 = run_once()
        print(f"INFO {label} first_run_seconds={secs1:.3f} "
              + " ".join(f"{k}={v:.3f}" for k, v in steps1.items()), flush=True)
    secs, steps = run_once()

    # ---- reporting (outside the timed region)
    rows = sql(a.dsn, f'SELECT count(*) FROM "{a.schema}"."{table}"', fetch=True)[0][0]
    files = {}
    for job in pipeline.last_trace.last_load_info.load_packages[0].jobs["completed_jobs"]:
        ext = job.job_file_info.file_format
        files[ext] = files.get(ext, 0) + 1
    print(f"INFO {label} steps " + " ".join(f"{k}={v:.3f}" for k, v in steps.items())
          + f" load_jobs={files}", flush=True)
    print(f"INFO {label} dlt={dlt.__version__} python={sys.version.split()[0]}", flush=True)
    print(f"RESULT {label} rows={rows} seconds={secs:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Runs the rest_api cases of crates/source-rest/tests/cases with REAL dlt (1.31) against
the fixture API and writes the reference outputs dlt-rs is compared with.

For each case `<name>` (`<name>.json`: a dlt RESTAPIConfig dict; `<name>.steps.json`,
optional: runs and fixture control calls), the runner

  1. resets the fixture (`POST /_control/reset`), drops the schemas `dltref_<name>` and
     `dltref_<name>_staging` and makes a fresh pipelines dir;
  2. performs the steps (default: one run). A control step is an HTTP call to the fixture;
     a run step replaces `{FIXTURE}` in every string of the config with the fixture's URL,
     and runs `dlt.pipeline(pipeline_name="rest_api_<name>", destination="postgres",
     dataset_name="dltref_<name>").run(rest_api_source(config))`;
  3. after each run, dumps the dataset with the two canonical queries (see README.md) to
     `<name>.expected` (one run) or `<name>.<run>.expected` (several), a dlt error as a
     first line `## error <step>: <Type>: <message>`; and writes `<name>.trace.json`: per
     run, the error (if any), the rows per table that dlt's trace reports, and the requests
     the fixture received (method, path, query, body, status).

usage: run_dlt.py [--fixture-url URL | --fixture-bin PATH] [--out-dir DIR] [CASE ...]
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE.parent / "cases"
DLT_VERSION = "1.31.0"
PLACEHOLDER = "{FIXTURE}"
CASE_FILE = re.compile(r"^([a-z0-9_]+)\.json$")
DEFAULT_PG = "postgresql://postgres:x@127.0.0.1:5432/postgres"

# the two canonical queries: the Rust tests run the same ones
COLUMNS_SQL = (
    "SELECT table_name || '|' || column_name || '|' || data_type || '|' || is_nullable\n"
    "FROM information_schema.columns WHERE table_schema = %(dataset)s"
    " AND table_name NOT LIKE '\\_dlt%%'\n"
    "ORDER BY table_name, ordinal_position"
)
ROWS_SQL = (
    "SELECT (to_jsonb(t) - '_dlt_load_id' - '_dlt_id' - '_dlt_parent_id' - '_dlt_root_id')::text"
    ' AS r FROM "{dataset}"."{table}" t ORDER BY r'
)


class Fixture:
    """The fixture API: a running one (its URL) or the `rest-fixture` binary started here
    with a pipe on its stdin (it stops when the pipe closes)."""

    def __init__(self, url=None, binary=None):
        self.proc = None
        if url:
            self.url = url.rstrip("/")
            return
        self.proc = subprocess.Popen(
            [binary, "--port", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"rest-fixture did not print its URL (got {self.url!r})")

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read().decode() or "null")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"fixture control {method} {path}: {e.code} {e.read().decode()}")

    def close(self):
        if self.proc:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def substitute(value, url):
    """`value` with `{FIXTURE}` replaced by `url` in every string (keys too)."""
    if isinstance(value, str):
        return value.replace(PLACEHOLDER, url)
    if isinstance(value, list):
        return [substitute(v, url) for v in value]
    if isinstance(value, dict):
        return {substitute(k, url): substitute(v, url) for k, v in value.items()}
    return value


def sanitize(text, fixture_url, tmp_dirs):
    text = text.replace(fixture_url, PLACEHOLDER)
    text = re.sub(r"http://127\.0\.0\.1:\d+", PLACEHOLDER, text)
    text = re.sub(r"load_id=\d+(\.\d+)?", "load_id=<load_id>", text)
    for d in tmp_dirs:
        text = text.replace(d, "<tmp>")
    return text


def error_chain(exc):
    chain = []
    while exc is not None and all(exc is not e for e in chain):
        chain.append(exc)
        # the explicit cause, else the exception being handled unless `raise ... from None`
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return chain


def describe_error(exc, fixture_url, tmp_dirs):
    """`<step>: <RootType>: <first line of the root cause>` and the whole chain."""
    chain = error_chain(exc)
    # the deepest exception that says something (a JSON decoder's StopIteration does not)
    root = next((e for e in reversed(chain) if str(e).strip()), chain[-1])
    step = getattr(chain[0], "step", None)
    first_line = (str(root).strip().splitlines() or [""])[0]
    line = f"{type(root).__name__}: {first_line}"
    if step:
        line = f"{step}: {line}"
    described = [f"{type(e).__name__}: {str(e).strip()}" for e in chain]
    return (
        sanitize(line, fixture_url, tmp_dirs),
        [sanitize(d, fixture_url, tmp_dirs) for d in described],
    )


def dump_dataset(conn, dataset):
    """The canonical dump: `## columns`, the column lines, then `## table <name>` and its
    rows for each table, in the order of the columns query."""
    lines = ["## columns"]
    with conn.cursor() as cur:
        cur.execute(COLUMNS_SQL, {"dataset": dataset})
        columns = [r[0] for r in cur.fetchall()]
        lines += columns
        tables = []
        for c in columns:
            t = c.split("|", 1)[0]
            if t not in tables:
                tables.append(t)
        for t in tables:
            lines.append(f"## table {t}")
            cur.execute(ROWS_SQL.format(dataset=dataset, table=t))
            lines += [r[0] for r in cur.fetchall()]
    return lines


def request_json(r):
    body = r.get("body") or ""
    try:
        body = json.loads(body) if body else None
    except ValueError:
        pass
    return {
        "method": r["method"],
        "path": r["path"],
        "query": r["query"],
        "body": body,
        "status": r["status"],
        "fault": r.get("fault"),
    }


def load_steps(name):
    path = CASES_DIR / f"{name}.steps.json"
    if not path.exists():
        return [{"run": "run1"}]
    return json.loads(path.read_text())["steps"]


def run_case(name, fixture, conn, out_dir, pg_url):
    import dlt
    from dlt.sources.rest_api import rest_api_source

    config_text = (CASES_DIR / f"{name}.json").read_text()
    steps = load_steps(name)
    runs = [s["run"] for s in steps if "run" in s]
    dataset = f"dltref_{name}"
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
        cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}_staging" CASCADE')
    fixture.control("POST", "/_control/reset")
    pipelines_dir = tempfile.mkdtemp(prefix="dltref-pipelines-")
    pipeline = dlt.pipeline(
        pipeline_name=f"rest_api_{name}",
        destination=dlt.destinations.postgres(credentials=pg_url),
        dataset_name=dataset,
        pipelines_dir=pipelines_dir,
    )
    trace = {"case": name, "dlt_version": dlt.__version__, "runs": []}
    summary = []
    for step in steps:
        if "control" in step:
            c = step["control"]
            fixture.control(c["method"], c["path"], c.get("body"))
            continue
        run = step["run"]
        fixture.control("POST", "/_control/requests/clear")
        config = substitute(json.loads(config_text), fixture.url)
        error, chain, row_counts = None, None, None
        try:
            pipeline.run(rest_api_source(config))
            try:
                counts = pipeline.last_trace.last_normalize_info.row_counts
                row_counts = {
                    t: n for t, n in sorted(counts.items()) if not t.startswith("_dlt")
                }
            except Exception:  # noqa: BLE001 - the counts are optional
                row_counts = None
        except Exception as e:  # noqa: BLE001 - dlt's error is the expected output
            error, chain = describe_error(e, fixture.url, [pipelines_dir])
        requests = fixture.control("GET", "/_control/requests")["requests"]
        lines = [f"## error {error}"] if error else []
        lines += dump_dataset(conn, dataset)
        file = f"{name}.expected" if len(runs) == 1 else f"{name}.{run}.expected"
        (out_dir / file).write_text("\n".join(lines) + "\n")
        trace["runs"].append(
            {
                "run": run,
                "expected": file,
                "error": error,
                "error_chain": chain,
                "row_counts": row_counts,
                "requests": [request_json(r) for r in requests],
            }
        )
        summary.append(f"{run}: " + (f"ERROR {error}" if error else f"rows {row_counts}"))
    (out_dir / f"{name}.trace.json").write_text(
        json.dumps(trace, indent=1, ensure_ascii=False) + "\n"
    )
    return summary


def all_cases():
    return sorted(m.group(1) for f in CASES_DIR.iterdir() if (m := CASE_FILE.match(f.name)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="case names (default: all)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--fixture-url", help="the URL of a running rest-fixture")
    src.add_argument("--fixture-bin", help="the rest-fixture binary to start")
    ap.add_argument("--out-dir", default=str(CASES_DIR), help="where to write (default: cases/)")
    ap.add_argument("--pg", default=os.environ.get("DLT_REF_PG", DEFAULT_PG), help="PostgreSQL URL")
    ap.add_argument("--any-dlt-version", action="store_true", help=f"run with a dlt other than {DLT_VERSION}")
    args = ap.parse_args()

    out_dir = Path(args.out_dir).resolve()
    fixture_bin = str(Path(args.fixture_bin).resolve()) if args.fixture_bin else None
    work = tempfile.mkdtemp(prefix="dltref-")
    # no .dlt folder, config or secrets but ours; no telemetry; quiet
    os.environ.update(
        {
            "DLT_PROJECT_DIR": work,
            "DLT_DATA_DIR": work,
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "ERROR",
        }
    )
    os.chdir(work)
    import dlt
    import psycopg2

    if dlt.__version__ != DLT_VERSION and not args.any_dlt_version:
        sys.exit(f"dlt {dlt.__version__} found, the references are made with {DLT_VERSION}")
    names = args.cases or all_cases()
    unknown = [n for n in names if not (CASES_DIR / f"{n}.json").exists()]
    if unknown:
        sys.exit(f"unknown cases: {unknown}")
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = psycopg2.connect(args.pg)
    conn.autocommit = True
    fixture = Fixture(url=args.fixture_url, binary=fixture_bin)
    try:
        for name in names:
            for line in run_case(name, fixture, conn, out_dir, args.pg):
                print(f"{name} {line}", flush=True)
    finally:
        fixture.close()
        conn.close()


if __name__ == "__main__":
    main()

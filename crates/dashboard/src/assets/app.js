// dlt-rs dashboard: reads the JSON of /api and draws the views; nothing is fetched from
// anywhere but this server. Errors of the page itself are shown in #errors (a test reads it).
"use strict";

const errors = document.getElementById("errors");
function report(message) {
  errors.textContent += message + "\n";
}
window.addEventListener("error", (e) => report("error: " + e.message));
window.addEventListener("unhandledrejection", (e) => report("error: " + (e.reason && e.reason.message || e.reason)));
const consoleError = console.error.bind(console);
console.error = (...args) => { report("console: " + args.join(" ")); consoleError(...args); };

const COLORS = ["#2f6fed", "#f39c12", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d35400", "#7f8c8d", "#2c3e50", "#e84393"];

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) {
    throw new Error(body.error || r.statusText);
  }
  return body;
}

function seconds(a, b) {
  if (!a || !b) return null;
  return (Date.parse(b) - Date.parse(a)) / 1000;
}

function cell(v) {
  if (v === null || v === undefined) return '<td class="null">NULL</td>';
  if (typeof v === "number") return '<td class="num">' + esc(v) + "</td>";
  if (typeof v === "object") return "<td>" + esc(JSON.stringify(v)) + "</td>";
  return "<td>" + esc(v) + "</td>";
}

function ready(view) {
  document.body.dataset.ready = view;
}

let pipelinesCache = null;

async function drawNav(current) {
  if (!pipelinesCache) pipelinesCache = await api("/api/pipelines");
  document.getElementById("folder").textContent = pipelinesCache.pipelines_dir;
  const nav = document.getElementById("pipelines");
  nav.innerHTML = pipelinesCache.pipelines.map((p) =>
    '<a href="#/p/' + encodeURIComponent(p.name) + '"' + (p.name === current ? ' class="current"' : "") + ">" +
    esc(p.name) + '<span class="sub">' + esc(p.destination || "?") + " · " + esc(p.dataset || "?") + "</span></a>").join("") ||
    '<p class="muted" style="padding:0 1.2em">No pipelines.</p>';
}

function overview() {
  const rows = pipelinesCache.pipelines.map((p) => "<tr><td><a href=\"#/p/" + encodeURIComponent(p.name) + "\">" + esc(p.name) + "</a></td>" +
    cell(p.destination) + cell(p.dataset) + cell(p.packages) + cell(p.pending) + cell(p.failed_jobs) + cell(p.last_load) + "</tr>").join("");
  return "<h2>Pipelines</h2>" +
    '<table class="grid" id="pipeline-list"><tr><th>pipeline</th><th>destination</th><th>dataset</th><th>packages</th><th>pending</th><th>failed jobs</th><th>last load</th></tr>' +
    rows + "</table>";
}

function tabs(name, current) {
  const t = [["loads", "Loads"], ["schema", "Schema"], ["data", "Data"], ["failed", "Failed jobs"], ["state", "State"]];
  return '<div class="tabs">' + t.map(([k, label]) =>
    '<a href="#/p/' + encodeURIComponent(name) + "/" + k + '"' + (k === current ? ' class="current"' : "") + ">" + label + "</a>").join("") + "</div>";
}

function loadsView(p) {
  const loads = p.loads.slice().sort((a, b) => a.load_id.localeCompare(b.load_id));
  if (!loads.length) return '<p class="muted">No loads yet.</p>';
  const tables = [...new Set(loads.flatMap((l) => Object.keys(l.rows || {})))];
  const color = (t) => COLORS[tables.indexOf(t) % COLORS.length];
  const total = (l) => Object.values(l.rows || {}).reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...loads.map(total));
  const W = 60, H = 200, left = 60, bar = 36;
  const width = left + loads.length * W + 20;
  let svg = '<svg id="loads-chart" width="' + width + '" height="' + (H + 50) + '" role="img" aria-label="rows per load">';
  svg += '<line class="axis" x1="' + left + '" y1="' + H + '" x2="' + width + '" y2="' + H + '"/>';
  svg += '<text x="' + (left - 6) + '" y="12" text-anchor="end">' + max + "</text>";
  svg += '<text x="' + (left - 6) + '" y="' + H + '" text-anchor="end">0</text>';
  loads.forEach((l, i) => {
    let y = H;
    const x = left + i * W + (W - bar) / 2;
    for (const t of tables) {
      const n = (l.rows || {})[t] || 0;
      if (!n) continue;
      const h = (n / max) * (H - 10);
      y -= h;
      svg += '<rect x="' + x + '" y="' + y + '" width="' + bar + '" height="' + h + '" fill="' + color(t) + '"><title>' + esc(t + ": " + n + (n === 1 ? " row" : " rows")) + "</title></rect>";
    }
    svg += '<text x="' + (x + bar / 2) + '" y="' + (H + 16) + '" text-anchor="middle">' + (i + 1) + "</text>";
    if (l.status !== "loaded") svg += '<text x="' + (x + bar / 2) + '" y="' + (H + 32) + '" text-anchor="middle" class="bad">' + esc(l.status) + "</text>";
  });
  svg += "</svg>";
  const legend = '<div class="legend">' + tables.map((t) => '<span><i style="background:' + color(t) + '"></i>' + esc(t) + "</span>").join("") + "</div>";
  const rows = loads.map((l, i) => {
    const d = seconds(l.created_at, l.completed_at);
    return "<tr>" + cell(i + 1) + cell(l.load_id) + '<td><span class="pill ' + esc(l.status) + '">' + esc(l.status) + "</span></td>" +
      cell(l.created_at) + cell(d === null ? null : d.toFixed(2) + " s") + cell(total(l)) + cell(l.jobs) + cell(l.failed_jobs) +
      "<td>" + Object.entries(l.rows || {}).map(([t, n]) => esc(t) + ": " + n).join("<br>") + "</td></tr>";
  }).join("");
  return "<h3>Rows per load</h3>" + svg + legend +
    '<h3>Loads</h3><table class="grid" id="loads"><tr><th>#</th><th>load id</th><th>status</th><th>started</th><th>duration</th><th>rows</th><th>jobs</th><th>failed jobs</th><th>rows per table</th></tr>' + rows + "</table>";
}

function hints(c) {
  const h = [];
  for (const k of ["primary_key", "merge_key", "unique", "partition", "cluster", "sort", "root_key", "parent_key", "row_key", "hard_delete", "dedup_sort", "incremental"]) {
    if (c[k]) h.push(k);
  }
  if (c.nullable === false) h.push("not null");
  return h.join(", ");
}

function schemaView(p) {
  // data tables first, dlt's system tables after them
  const tables = p.tables.filter((t) => !t.name.startsWith("_dlt")).concat(p.tables.filter((t) => t.name.startsWith("_dlt")));
  if (!tables.length) return '<p class="muted">No tables yet.</p>';
  const byName = new Map(tables.map((t) => [t.name, t]));
  const depth = (t) => (t.parent && byName.has(t.parent) ? 1 + depth(byName.get(t.parent)) : 0);
  const BOX = 300, GAP = 60, ROW = 16, HEAD = 22;
  const colY = new Map();
  const pos = new Map();
  // a column per nesting level, tables stacked in schema order
  for (const t of tables) {
    const d = depth(t);
    const cols = Object.values(t.columns || {}).filter((c) => c.data_type);
    const y = colY.get(d) || 10;
    const h = HEAD + cols.length * ROW + 8;
    pos.set(t.name, { x: 10 + d * (BOX + GAP), y, h, cols });
    colY.set(d, y + h + 24);
  }
  const width = 20 + (Math.max(...[...pos.values()].map((q) => q.x)) + BOX);
  const height = Math.max(...colY.values()) + 10;
  let svg = '<svg id="schema-diagram" width="' + width + '" height="' + height + '" role="img" aria-label="schema">';
  for (const t of tables) {
    if (!t.parent || !pos.has(t.parent)) continue;
    const a = pos.get(t.parent), b = pos.get(t.name);
    const x1 = a.x + BOX, y1 = a.y + HEAD / 2, x2 = b.x, y2 = b.y + HEAD / 2;
    svg += '<path class="link" d="M' + x1 + "," + y1 + " C" + (x1 + GAP / 2) + "," + y1 + " " + (x2 - GAP / 2) + "," + y2 + " " + x2 + "," + y2 + '"><title>' + esc(t.parent + " → " + t.name) + "</title></path>";
  }
  for (const t of tables) {
    const q = pos.get(t.name);
    svg += '<g class="table" data-table="' + esc(t.name) + '">';
    svg += '<rect class="box" x="' + q.x + '" y="' + q.y + '" width="' + BOX + '" height="' + q.h + '" rx="3"/>';
    svg += '<rect class="head" x="' + q.x + '" y="' + q.y + '" width="' + BOX + '" height="' + HEAD + '" rx="3"/>';
    svg += '<text x="' + (q.x + 8) + '" y="' + (q.y + 15) + '" style="font-weight:600">' + esc(t.name) + (t.write_disposition ? "  (" + esc(t.write_disposition) + ")" : "") + "</text>";
    q.cols.forEach((c, i) => {
      const y = q.y + HEAD + 13 + i * ROW;
      svg += '<text x="' + (q.x + 8) + '" y="' + y + '"' + (c.nullable === false ? ' style="font-weight:600"' : "") + ">" + esc(c.name) + "</text>";
      svg += '<text x="' + (q.x + 150) + '" y="' + y + '" fill="#6b7385">' + esc(c.data_type) + "</text>";
      const h = hints(c).split(", ").filter((x) => x && x !== "not null").join(", ");
      if (h) svg += '<text x="' + (q.x + BOX - 6) + '" y="' + y + '" text-anchor="end" fill="#2f6fed">' + esc(h) + "</text>";
    });
    svg += "</g>";
  }
  svg += "</svg>";
  const list = tables.map((t) => "<tr>" + cell(t.name) + cell(t.parent || null) + cell(t.write_disposition || null) +
    "<td>" + Object.values(t.columns || {}).filter((c) => c.data_type).map((c) => esc(c.name) + " <span class=\"muted\">" + esc(c.data_type) + "</span>" + (hints(c) ? " <span class=\"muted\">[" + esc(hints(c)) + "]</span>" : "")).join("<br>") + "</td></tr>").join("");
  return "<h3>Schema " + esc(p.schema_name || "") + ' <span class="muted">version ' + esc(p.schema_version) + " · bold: not null</span></h3>" + svg +
    '<h3>Tables</h3><table class="grid" id="schema-tables"><tr><th>table</th><th>parent</th><th>write disposition</th><th>columns</th></tr>' + list + "</table>";
}

const PAGE = 50;

async function dataView(p, table, offset) {
  const names = p.tables.filter((t) => !t.name.startsWith("_dlt")).map((t) => t.name);
  if (!names.length) return '<p class="muted">No tables yet.</p>';
  const counts = await Promise.all(names.map((t) =>
    api("/api/pipelines/" + encodeURIComponent(p.name) + "/tables/" + encodeURIComponent(t) + "?limit=1").then((r) => r.count, (e) => "error: " + e.message)));
  const list = '<table class="grid" id="table-list"><tr><th>table</th><th>rows</th></tr>' + names.map((t, i) =>
    '<tr><td><a href="#/p/' + encodeURIComponent(p.name) + "/data/" + encodeURIComponent(t) + '/0">' + esc(t) + "</a></td>" + cell(counts[i]) + "</tr>").join("") + "</table>";
  const current = table || names[0];
  const r = await api("/api/pipelines/" + encodeURIComponent(p.name) + "/tables/" + encodeURIComponent(current) + "?offset=" + offset + "&limit=" + PAGE);
  const base = "#/p/" + encodeURIComponent(p.name) + "/data/" + encodeURIComponent(current) + "/";
  const last = Math.min(r.offset + r.rows.length, r.count);
  const pager = '<div class="pager">' + (r.offset > 0 ? '<a href="' + base + Math.max(0, r.offset - PAGE) + '">← previous</a>' : "") +
    "<span>rows " + (r.rows.length ? r.offset + 1 : 0) + "–" + last + " of " + r.count + "</span>" +
    (last < r.count ? '<a href="' + base + (r.offset + PAGE) + '">next →</a>' : "") + "</div>";
  const head = "<tr>" + r.columns.map((c) => "<th title=\"" + esc(c.data_type || "") + "\">" + esc(c.name) + "</th>").join("") + "</tr>";
  const body = r.rows.map((row) => "<tr>" + row.map(cell).join("") + "</tr>").join("");
  return list + "<h3>" + esc(current) + "</h3>" + pager + '<table class="grid" id="rows">' + head + body + "</table>";
}

function failedView(p) {
  if (!p.failed_jobs.length) return '<p class="muted" id="no-failed-jobs">No failed jobs.</p>';
  return '<table class="grid" id="failed-jobs"><tr><th>load id</th><th>table</th><th>job</th><th>error</th></tr>' +
    p.failed_jobs.map((j) => "<tr>" + cell(j.load_id) + cell(j.table) + cell(j.job) + '<td class="bad" style="white-space:pre-wrap">' + esc(j.error || "") + "</td></tr>").join("") + "</table>";
}

function stateView(p) {
  const cursors = [];
  const walk = (v, path) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if ("last_value" in v) cursors.push([path.join("."), v]);
      for (const [k, x] of Object.entries(v)) walk(x, path.concat(k));
    }
  };
  walk(p.state || {}, []);
  const table = cursors.length ? '<h3>Incremental cursors</h3><table class="grid" id="cursors"><tr><th>resource</th><th>cursor</th><th>last value</th><th>initial value</th></tr>' +
    cursors.map(([where, c]) => {
      const path = where.split(".");
      const resource = path.length >= 4 && path[path.length - 2] === "incremental" ? path[path.length - 3] : path.slice(0, -1).join(".");
      return "<tr>" + cell(resource) + cell(path[path.length - 1]) + cell(c.last_value) + cell(c.initial_value === undefined ? null : c.initial_value) + "</tr>";
    }).join("") + "</table>"
    : '<p class="muted">No incremental cursors.</p>';
  return table + '<h3>Source state</h3><pre class="json" id="state">' + esc(JSON.stringify(p.state || {}, null, 2)) + "</pre>";
}

async function route() {
  const view = document.getElementById("view");
  delete document.body.dataset.ready;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] !== "p" || !parts[1]) {
      await drawNav(null);
      view.innerHTML = overview();
      ready("pipelines");
      return;
    }
    const name = parts[1], tab = parts[2] || "loads";
    await drawNav(name);
    const p = await api("/api/pipelines/" + encodeURIComponent(name));
    const head = "<h2>" + esc(p.name) + '</h2><div class="muted">' + esc(p.destination || "?") + " · dataset " + esc(p.dataset || "?") +
      (p.last_run ? " · last run " + esc(p.last_run.finished_at) + (p.last_run.error ? ' <span class="bad">failed</span>' : "") : "") + "</div>";
    let body;
    if (tab === "schema") body = schemaView(p);
    else if (tab === "data") body = await dataView(p, parts[3], Number(parts[4] || 0));
    else if (tab === "failed") body = failedView(p);
    else if (tab === "state") body = stateView(p);
    else body = loadsView(p);
    view.innerHTML = head + tabs(name, tab) + body;
    ready(tab);
  } catch (e) {
    view.innerHTML = '<p class="bad" id="view-error">' + esc(e.message) + "</p>";
    ready("error");
  }
}

window.addEventListener("hashchange", route);
route();

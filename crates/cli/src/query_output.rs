//! `dlt-rs pipeline NAME query`: the rows of a query as an aligned table, CSV or JSON.

use std::fmt::Write as _;

use anyhow::Result;
use dest_core::QueryRows;

use crate::pipeline_cmd::QueryFormat;

/// `rows` in `format`, ending with a newline.
pub(crate) fn render(rows: &QueryRows, format: QueryFormat) -> Result<String> {
    Ok(match format {
        QueryFormat::Table => table(rows),
        QueryFormat::Csv => csv(rows),
        QueryFormat::Json => {
            let list: Vec<serde_json::Value> = rows
                .rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        rows.columns
                            .iter()
                            .cloned()
                            .zip(r.iter().map(|v| match v {
                                Some(s) => serde_json::Value::String(s.clone()),
                                None => serde_json::Value::Null,
                            }))
                            .collect(),
                    )
                })
                .collect();
            let mut text = serde_json::to_string_pretty(&list)?;
            text.push('\n');
            text
        }
    })
}

/// Columns aligned under their names, a rule below the header, NULL as nothing, and the
/// row count, as psql prints them.
fn table(rows: &QueryRows) -> String {
    let cell = |v: &Option<String>| v.as_deref().unwrap_or("").replace('\n', "\\n");
    let mut widths: Vec<usize> = rows.columns.iter().map(|c| c.chars().count()).collect();
    for r in &rows.rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell(v).chars().count());
        }
    }
    let line = |values: Vec<String>| -> String {
        let cells: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        cells.join(" | ").trim_end().to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(rows.columns.clone()));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let _ = writeln!(out, "{}", rule.join("-+-"));
    for r in &rows.rows {
        let _ = writeln!(out, "{}", line(r.iter().map(cell).collect()));
    }
    let n = rows.rows.len();
    let _ = writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" });
    out
}

/// RFC 4180: a header line, fields with a comma, quote or line end quoted (quotes
/// doubled), NULL as an empty field, CRLF line ends.
fn csv(rows: &QueryRows) -> String {
    let field = |v: &str| -> String {
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    let mut out = String::new();
    let header: Vec<String> = rows.columns.iter().map(|c| field(c)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for r in &rows.rows {
        let cells: Vec<String> = r
            .iter()
            .map(|v| field(v.as_deref().unwrap_or("")))
            .collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> QueryRows {
        QueryRows {
            columns: vec!["id".into(), "note".into()],
            rows: vec![
                vec![Some("1".into()), Some("a, \"b\"\nc".into())],
                vec![Some("2".into()), None],
            ],
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            render(&rows(), QueryFormat::Csv).unwrap_or_default(),
            "id,note\r\n1,\"a, \"\"b\"\"\nc\"\r\n2,\r\n"
        );
    }

    #[test]
    fn table_aligns_and_counts() {
        let text = render(&rows(), QueryFormat::Table).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id | note");
        assert_eq!(lines[1], "---+----------");
        assert_eq!(lines[2], "1  | a, \"b\"\\nc");
        assert_eq!(lines.last(), Some(&"(2 rows)"));
    }

    #[test]
    fn json_has_an_object_per_row() {
        let text = render(&rows(), QueryFormat::Json).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v[1]["note"], serde_json::Value::Null);
        assert_eq!(v[0]["id"], "1");
    }
}

//! MySQL / MariaDB as a source: reflection, types and rows as dlt 1.31's `sql_database`
//! gives them (checked against it on MariaDB 10.11 with SQLAlchemy 2.0 and PyMySQL), values
//! dlt loses kept, an incremental merge that reads only the changed rows, and the errors a
//! user can cause.

use crate::{pipeline, text};
use source_sql::{SqlDatabase, SqlSourceError};
use test_support::mysql::{fresh_mysql_database, mysql_execute, mysql_url};
use test_support::{connect, fresh_schema, query_rows, quote_ident};

fn source(db: &str) -> SqlDatabase {
    SqlDatabase::from_url(&format!("{}/{db}", mysql_url())).expect("a mysql:// URL")
}

/// `column|data_type|is_nullable|precision|scale` of a table of a dataset.
async fn columns(client: &tokio_postgres::Client, dataset: &str, table: &str) -> Vec<String> {
    query_rows(
        client,
        &format!(
            "SELECT column_name, data_type, is_nullable, \
             coalesce(numeric_precision::text, ''), coalesce(numeric_scale::text, '') \
             FROM information_schema.columns WHERE table_schema = '{dataset}' \
             AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        r.into_iter()
            .map(Option::unwrap_or_default)
            .collect::<Vec<_>>()
            .join("|")
    })
    .collect()
}

const TYPES_DDL: &str = r#"
CREATE TABLE items (id int unsigned auto_increment PRIMARY KEY, price decimal(12,2) NOT NULL,
  amount decimal(38,9), score double, ratio float, small smallint, ok tinyint(1), born date,
  at_local datetime(6), at_ts timestamp(6) NULL, clock time, note text, code char(3),
  doc json, raw blob, vb varbinary(10), big bigint unsigned, yr year, bits bit(8),
  e enum('a','b'), uid char(36), `Hostile "Name`` ; --` varchar(20));
INSERT INTO items (price, amount, score, ratio, small, ok, born, at_local, at_ts, clock, note,
  code, doc, raw, vb, big, yr, bits, e, uid, `Hostile "Name`` ; --`) VALUES
 (12.50, 12345678901234567890.123456789, 1.5, 0.25, -32768, 1, '1900-01-02',
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05', '10:11:12', 'quote '' "dq"\nline\\',
  'ab', '{"b": 1, "a": [1, 2]}', x'00ff10', x'01', 18446744073709551615, 2024, b'101', 'b',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x'),
 (0.01, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', NULL, NULL, '', NULL, 5,
  NULL, NULL, NULL, NULL, NULL);
CREATE TABLE `Order "Lines"` (k int, v text);
INSERT INTO `Order "Lines"` VALUES (1, 'one');
"#;

#[tokio::test(flavor = "multi_thread")]
async fn mysql_tables_load_with_reflected_types_and_rows() {
    let client = connect().await;
    let test = "sql mysql types";
    let db_name = fresh_mysql_database(test, TYPES_DDL).await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();

    let db = source(&db_name);
    let tables = db.reflect(&[]).await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Order \"Lines\"", "items"]);
    assert_eq!(tables[1].primary_key, ["id"]);
    let resources = tables.iter().map(|t| db.resource(t)).collect();
    pipeline("sql_mysql_types", &dataset, dir.path())
        .run(resources)
        .await
        .expect("load");

    // dlt 1.31's tables (SQLAlchemy 2.0, PyMySQL), but for `big`: `bigint unsigned` is
    // numeric(20,0) here, where dlt makes a bigint and fails on values past 2^63
    assert_eq!(
        columns(&client, &dataset, "items").await,
        [
            "id|bigint|NO|64|0",
            "price|numeric|NO|12|2",
            "amount|numeric|YES|38|9",
            "score|numeric|YES|38|9",
            "ratio|double precision|YES|53|",
            "small|bigint|YES|64|0",
            "ok|bigint|YES|64|0",
            "born|date|YES||",
            "at_local|timestamp without time zone|YES||",
            "at_ts|timestamp without time zone|YES||",
            "clock|time without time zone|YES||",
            "note|character varying|YES||",
            "code|character varying|YES||",
            "doc|character varying|YES||",
            "raw|bytea|YES||",
            "vb|bytea|YES||",
            "big|numeric|YES|20|0",
            "e|character varying|YES||",
            "uid|character varying|YES||",
            "hostile_namexxx|character varying|YES||",
            "yr|bigint|YES|64|0",
            "bits|bigint|YES|64|0",
            "_dlt_load_id|character varying|NO||",
            "_dlt_id|character varying|NO||",
        ]
    );
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id, price, amount, score, ratio, small, ok, born, at_local, at_ts, clock, \
             note, code, doc, raw, vb, big, yr, bits, e, uid, hostile_namexxx \
             FROM {}.items ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    assert_eq!(
        rows,
        [
            text(&[
                "1",
                "12.50",
                "12345678901234567890.123456789",
                "1.500000000",
                "0.25",
                "-32768",
                "1",
                "1900-01-02",
                "2024-01-02 03:04:05.123456",
                "2024-01-02 03:04:05",
                "10:11:12",
                "quote ' \"dq\"\nline\\",
                "ab",
                "{\"b\": 1, \"a\": [1, 2]}",
                "\\x00ff10",
                "\\x01",
                "18446744073709551615",
                "2024",
                "5",
                "b",
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "x",
            ]),
            text(&[
                "2", "0.01", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL",
                "NULL", "", "NULL", "NULL", "\\x", "NULL", "5", "NULL", "NULL", "NULL", "NULL",
                "NULL",
            ]),
        ]
    );
    assert_eq!(
        columns(&client, &dataset, "order_linesx").await[..2],
        ["k|bigint|YES|64|0", "v|character varying|YES||"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_merge_reads_only_changed_rows() {
    let client = connect().await;
    let test = "sql mysql incremental";
    let db_name = fresh_mysql_database(
        test,
        "CREATE TABLE users (id int PRIMARY KEY, name text, updated datetime(6)); \
         INSERT INTO users VALUES (1, 'ann', '2024-01-01 00:00:00'), \
           (2, 'bob', '2024-01-02 00:00:00.5');",
    )
    .await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();
    let db = source(&db_name);
    let names = ["users".to_string()];
    let run = || async {
        let tables = db.reflect(&names).await.unwrap();
        let resource = db
            .incremental_resource(&tables[0], "updated", None)
            .unwrap()
            .write_disposition("merge", None)
            .unwrap();
        pipeline("sql_mysql_incremental", &dataset, dir.path())
            .run(vec![resource])
            .await
            .expect("load")
    };
    assert_eq!(run().await.items, 2);
    mysql_execute(
        &db_name,
        "UPDATE users SET name = 'bo', updated = '2024-01-03 00:00:00' WHERE id = 2; \
         INSERT INTO users VALUES (3, 'cy', '2024-01-04 00:00:00'), (4, 'dee', NULL);",
    )
    .await;
    // the changed and the new row; the NULL cursor is not read
    assert_eq!(run().await.items, 2);
    let rows = query_rows(
        &client,
        &format!(
            "SELECT id::text || '=' || name || '@' || updated::text FROM {}.users ORDER BY id",
            quote_ident(&dataset)
        ),
    )
    .await;
    let rows: Vec<String> = rows.into_iter().flatten().flatten().collect();
    assert_eq!(
        rows,
        [
            "1=ann@2024-01-01 00:00:00",
            "2=bo@2024-01-03 00:00:00",
            "3=cy@2024-01-04 00:00:00"
        ]
    );
    // nothing changed: nothing but the row at the last value is read, and it is dropped
    assert_eq!(run().await.items, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_errors_name_what_is_wrong() {
    let db_name = fresh_mysql_database("sql mysql errors", "CREATE TABLE known (a int);").await;
    let e = source(&db_name)
        .reflect(&["nope".into(), "known".into()])
        .await
        .unwrap_err();
    match &e {
        SqlSourceError::UnknownTables { schema, tables } => {
            assert_eq!(schema, &db_name);
            assert_eq!(tables, &["nope"]);
        }
        other => panic!("not UnknownTables: {other:?}"),
    }
    // a wrong password: the error does not show it
    let url = mysql_url().replacen("root@", "root:s3cret-pw@", 1);
    let e = SqlDatabase::from_url(&format!("{url}/{db_name}"))
        .unwrap()
        .reflect(&[])
        .await
        .unwrap_err();
    assert!(matches!(e, SqlSourceError::Mysql { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("s3cret-pw"));
    // a URL without a database and no schema
    let e = SqlDatabase::from_url(&mysql_url())
        .unwrap()
        .reflect(&[])
        .await
        .unwrap_err();
    assert!(matches!(e, SqlSourceError::BadUrl { .. }), "{e:?}");
}

/// A TCP proxy on loopback to the MySQL server that closes every connection once the server
/// has sent it more than `limit` bytes: a server that drops the connection mid-read, at the
/// same place every time. Returns the proxy's port.
fn cutting_proxy(target: std::net::SocketAddr, limit: usize) -> u16 {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(target) else {
                return;
            };
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut c_in, &mut s_out));
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let mut sent = 0usize;
                let mut buf = [0u8; 8192];
                loop {
                    let n = match s_in.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n.min(limit.saturating_sub(sent)),
                    };
                    if n == 0 || c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
                c_out.shutdown(Shutdown::Both).ok();
                s_in.shutdown(Shutdown::Both).ok();
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_dropped_mid_read_fails_the_run_and_loads_nothing() {
    let client = connect().await;
    let test = "sql mysql dropped";
    let db_name = fresh_mysql_database(
        test,
        "CREATE TABLE big (id int PRIMARY KEY, v varchar(100)); \
         INSERT INTO big SELECT seq, CONCAT('row ', seq, ' ', REPEAT('x', 60)) FROM seq_1_to_20000;",
    )
    .await;
    let dataset = fresh_schema(&client, test).await;
    let dir = tempfile::tempdir().unwrap();
    let server_url = mysql_url();
    let host_port = server_url
        .rsplit('@')
        .next()
        .unwrap()
        .trim_start_matches("mysql://");
    let target: std::net::SocketAddr = host_port.parse().unwrap();
    // the catalog's answers fit in 256 KiB; the table's 1.6 MB of rows do not
    let port = cutting_proxy(target, 256 * 1024);
    let proxied = server_url.replacen(host_port, &format!("127.0.0.1:{port}"), 1);
    // (`prefer_socket=false`: the driver would otherwise switch to the server's local socket)
    let db = SqlDatabase::from_url(&format!("{proxied}/{db_name}?prefer_socket=false")).unwrap();
    let tables = db.reflect(&[]).await.unwrap();
    let e = pipeline("sql_mysql_dropped", &dataset, dir.path())
        .run(vec![db.resource(&tables[0])])
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(message.contains(&format!("`{db_name}.big`")), "{message}");
    // nothing of the table loaded
    let loaded = query_rows(
        &client,
        &format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{dataset}' \
             AND table_name = 'big'"
        ),
    )
    .await;
    assert_eq!(loaded, [[Some("0".to_string())]]);
    // the next run, on a good connection, loads every row once
    let db = source(&db_name);
    let tables = db.reflect(&[]).await.unwrap();
    pipeline("sql_mysql_dropped", &dataset, dir.path())
        .run(vec![db.resource(&tables[0])])
        .await
        .expect("load");
    let rows = query_rows(
        &client,
        &format!(
            "SELECT count(*), count(DISTINCT id) FROM {}.big",
            quote_ident(&dataset)
        ),
    )
    .await;
    assert_eq!(
        rows,
        [[Some("20000".to_string()), Some("20000".to_string())]]
    );
}

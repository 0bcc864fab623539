//! dlt's detection (`dlt.sources.helpers.rest_client.detector`): where the records are in a
//! response (the `data_selector` when none is configured), the paginator of a response
//! (when none is configured, or `auto`), and whether an endpoint path returns one entity.

use serde_json::{Map, Value as Json};

use crate::jsonpath::join_path;
use crate::paginate::{
    link_header_url, python_int, CursorPaginator, CursorParams, HeaderLinkPaginator,
    JsonLinkPaginator, PageNumberParams, Paginator, RangePaginator, SinglePagePaginator,
};
use crate::request::Response;

/// Keys whose list holds the records (compared exactly).
pub(crate) const RECORD_KEY_PATTERNS: &[&str] = &[
    "data", "items", "results", "entries", "records", "rows", "entities", "payload", "content",
    "objects", "values",
];

/// Keys whose list does not hold records.
pub(crate) const NON_RECORD_KEY_PATTERNS: &[&str] = &[
    "meta",
    "metadata",
    "pagination",
    "links",
    "extras",
    "headers",
];

/// Whether the last segment of an endpoint `path` is a path parameter
/// (`/users/{user_id}`): the endpoint returns one entity.
pub(crate) fn single_entity_path(path: &str) -> bool {
    // PurePosixPath(path).name: the last component, `.` and empty ones dropped
    let name = path
        .split('/')
        .rfind(|c| !c.is_empty() && *c != ".")
        .unwrap_or("");
    // re.search(r"\{([a-zA-Z0-9\.\-_]+)\}", name)
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'{' {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'.' | b'-' | b'_'))
            {
                j += 1;
            }
            if j > i + 1 && b.get(j) == Some(&b'}') {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// `re.match(pattern, key.lower())` for `next`, `href`, `url` (a prefix).
fn starts_with_any(key: &str, prefixes: &[&str]) -> bool {
    let key = key.to_lowercase();
    prefixes.iter().any(|p| key.starts_with(p))
}

/// `^total_pages$`, `^pages$`, `^totalpages$` on the key in lower case.
fn is_total_pages_key(key: &str) -> bool {
    matches!(
        key.to_lowercase().as_str(),
        "total_pages" | "pages" | "totalpages"
    )
}

/// `isinstance(value, (str, int, float))` (a boolean is an int in Python).
fn is_scalar(value: &Json) -> bool {
    matches!(value, Json::String(_) | Json::Number(_) | Json::Bool(_))
}

/// dlt's `find_all_lists`: the lists in `dict` and in its objects down to three keys deep,
/// depth first, with their keys.
fn find_all_lists<'a>(
    dict: &'a Map<String, Json>,
    path: &mut Vec<String>,
    result: &mut Vec<(Vec<String>, &'a Json)>,
) {
    if path.len() > 2 {
        return;
    }
    for (key, value) in dict {
        match value {
            Json::Array(_) => {
                let mut p = path.clone();
                p.push(key.clone());
                result.push((p, value));
            }
            Json::Object(inner) => {
                path.push(key.clone());
                find_all_lists(inner, path, result);
                path.pop();
            }
            _ => {}
        }
    }
}

/// dlt's `find_response_page_data`: the keys of the records in a response and the records.
/// The root (`["$"]`) when the response is not an object or has no list; otherwise the
/// first list (depth first, three keys deep at most) whose key is a record key (`data`,
/// `items`, `results`...), or else the first list.
pub(crate) fn find_response_page_data(body: &Json) -> (Vec<String>, &Json) {
    let root = || (vec!["$".to_string()], body);
    let Json::Object(map) = body else {
        return root();
    };
    let mut lists = Vec::new();
    find_all_lists(map, &mut Vec::new(), &mut lists);
    let pick = lists
        .iter()
        .position(|(path, _)| {
            path.last().is_some_and(|k| {
                RECORD_KEY_PATTERNS.contains(&k.as_str())
                    && !NON_RECORD_KEY_PATTERNS.contains(&k.as_str())
            })
        })
        .unwrap_or(0);
    if lists.is_empty() {
        return root();
    }
    lists.swap_remove(pick)
}

/// dlt's `find_next_page_path`: the first key (depth first) starting with `next` whose
/// value is a string, number or boolean, or is an object with such a value under a key
/// starting with `href` or `url` (`{"next": {"href": ...}}`).
pub(crate) fn find_next_page_path(body: &Json) -> Option<(Vec<String>, &Json)> {
    let Json::Object(map) = body else {
        return None;
    };
    find_next_in(map, &mut Vec::new())
}

fn find_next_in<'a>(
    map: &'a Map<String, Json>,
    path: &mut Vec<String>,
) -> Option<(Vec<String>, &'a Json)> {
    for (key, value) in map {
        if starts_with_any(key, &["next"]) {
            match value {
                Json::Object(inner) => {
                    for (k, v) in inner {
                        if starts_with_any(k, &["href", "url"]) && is_scalar(v) {
                            let mut p = path.clone();
                            p.push(key.clone());
                            p.push(k.clone());
                            return Some((p, v));
                        }
                    }
                }
                v if is_scalar(v) => {
                    let mut p = path.clone();
                    p.push(key.clone());
                    return Some((p, v));
                }
                _ => {}
            }
        }
        if let Json::Object(inner) = value {
            path.push(key.clone());
            let found = find_next_in(inner, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

/// dlt's `find_total_pages_path`: the first key (depth first) named `total_pages`,
/// `pages` or `totalPages` (any case) whose value is a string, number or boolean.
pub(crate) fn find_total_pages_path(body: &Json) -> Option<(Vec<String>, &Json)> {
    let Json::Object(map) = body else {
        return None;
    };
    find_total_in(map, &mut Vec::new())
}

fn find_total_in<'a>(
    map: &'a Map<String, Json>,
    path: &mut Vec<String>,
) -> Option<(Vec<String>, &'a Json)> {
    for (key, value) in map {
        if is_total_pages_key(key) && is_scalar(value) {
            let mut p = path.clone();
            p.push(key.clone());
            return Some((p, value));
        }
        if let Json::Object(inner) = value {
            path.push(key.clone());
            let found = find_total_in(inner, path);
            path.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn header_links_detector(response: &Response) -> Option<(Box<dyn Paginator>, f64)> {
    link_header_url(response, "next")?;
    Some((
        Box::new(HeaderLinkPaginator::new(Some("next".to_string()))),
        1.0,
    ))
}

fn json_links_detector(body: &Json) -> Option<(Box<dyn Paginator>, f64)> {
    let (parts, next) = find_next_page_path(body)?;
    let next = next.as_str()?;
    if !(next.starts_with("http") || next.starts_with('/')) {
        return None;
    }
    let paginator = JsonLinkPaginator::new(&join_path(&parts)).ok()?;
    Some((Box::new(paginator), 1.0))
}

fn pages_number_paginator_detector(body: &Json) -> Option<(Box<dyn Paginator>, f64)> {
    let (parts, total) = find_total_pages_path(body)?;
    python_int(total)?;
    let paginator = RangePaginator::page_number(PageNumberParams {
        total_path: Some(join_path(&parts)),
        ..PageNumberParams::default()
    })
    .ok()?;
    Some((Box::new(paginator), 0.5))
}

fn cursor_paginator_detector(body: &Json) -> Option<(Box<dyn Paginator>, f64)> {
    let (parts, _) = find_next_page_path(body)?;
    let paginator = CursorPaginator::new(CursorParams {
        cursor_path: join_path(&parts),
        ..CursorParams::default()
    })
    .ok()?;
    Some((Box::new(paginator), 0.5))
}

/// dlt's `PaginatorFactory.create_paginator`: the paginator of a response and the
/// confidence of the detection (1.0 sure, 0.5 some settings guessed, 0.0 the fallback),
/// trying in order: a `Link` header with `rel="next"` (`header_link`, 1.0), a next-page
/// URL in the JSON (`json_link`, 1.0), a total page count (`page_number`, 0.5), a
/// next-page value that is not a URL (`cursor`, 0.5), and else `single_page` (0.0).
/// `body` is the response's JSON (`None`: not JSON, only the header is looked at).
pub(crate) fn create_paginator(
    response: &Response,
    body: Option<&Json>,
) -> (Option<Box<dyn Paginator>>, f64) {
    let found = header_links_detector(response).or_else(|| {
        body.and_then(|body| {
            json_links_detector(body)
                .or_else(|| pages_number_paginator_detector(body))
                .or_else(|| cursor_paginator_detector(body))
        })
    });
    match found {
        Some((paginator, score)) => (Some(paginator), score),
        None => (Some(Box::new(SinglePagePaginator::new())), 0.0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::request::{Method, Request};
    use serde_json::json;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response {
            url: "https://api.example.com/items".to_string(),
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_lowercase(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn parts(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn detect(body: &Json) -> (&'static str, f64, String) {
        let (p, score) = create_paginator(&response(&[]), Some(body));
        let p = p.unwrap();
        (p.kind(), score, p.describe())
    }

    #[test]
    fn page_data_at_the_root() {
        let list = json!([{"id": 1}]);
        assert_eq!(find_response_page_data(&list), (parts(&["$"]), &list));
        let scalar = json!("x");
        assert_eq!(find_response_page_data(&scalar).0, parts(&["$"]));
        let null = json!(null);
        assert_eq!(find_response_page_data(&null).0, parts(&["$"]));
        let entity = json!({"id": 1, "name": "a", "owner": {"id": 2}});
        assert_eq!(find_response_page_data(&entity), (parts(&["$"]), &entity));
        assert_eq!(join_path(&find_response_page_data(&entity).0), "$");
    }

    #[test]
    fn page_data_under_a_record_key() {
        let body = json!({"meta": {"total": 2}, "tags": ["a"], "results": [{"id": 1}]});
        let (path, data) = find_response_page_data(&body);
        assert_eq!(path, parts(&["results"]));
        assert_eq!(data, &json!([{"id": 1}]));
        // record keys are matched exactly (case-sensitive)
        let body = json!({"Items": [1], "others": [2]});
        assert_eq!(find_response_page_data(&body).0, parts(&["Items"]));
        // nested, depth first
        let body = json!({"response": {"links": [1], "body": {"items": [2]}}, "values": [3]});
        assert_eq!(
            find_response_page_data(&body).0,
            parts(&["response", "body", "items"])
        );
        assert_eq!(
            join_path(&find_response_page_data(&body).0),
            "response.body.items"
        );
        // a non-record key that is a list: skipped for a record key found later
        let body = json!({"links": [1], "data": {"objects": [2]}});
        assert_eq!(
            find_response_page_data(&body).0,
            parts(&["data", "objects"])
        );
        // no record key: the first list found
        let body = json!({"a": {"b": [1]}, "c": [2]});
        assert_eq!(find_response_page_data(&body).0, parts(&["a", "b"]));
        // odd keys are quoted in the selector
        let body = json!({"the data": {"x.y": [1]}});
        assert_eq!(
            join_path(&find_response_page_data(&body).0),
            "\"the data\".\"x.y\""
        );
    }

    #[test]
    fn page_data_nesting_depth() {
        // lists three keys deep are found; deeper ones are not
        let body = json!({"a": {"b": {"data": [1]}}});
        assert_eq!(find_response_page_data(&body).0, parts(&["a", "b", "data"]));
        let body = json!({"a": {"b": {"c": {"data": [1]}}}});
        assert_eq!(find_response_page_data(&body), (parts(&["$"]), &body));
        let body = json!({"a": {"b": {"c": {"data": [1]}}}, "z": [2]});
        assert_eq!(find_response_page_data(&body).0, parts(&["z"]));
    }

    #[test]
    fn next_page_paths() {
        let body = json!({"next": "https://x/2"});
        assert_eq!(
            find_next_page_path(&body),
            Some((parts(&["next"]), &json!("https://x/2")))
        );
        let body = json!({"links": {"next": {"rel": "n", "href": "/2"}}});
        assert_eq!(
            find_next_page_path(&body).unwrap().0,
            parts(&["links", "next", "href"])
        );
        // keys starting with `next`, any case; values: strings, numbers, booleans
        let body = json!({"paging": {"NextPageToken": 5}});
        assert_eq!(
            find_next_page_path(&body).unwrap().0,
            parts(&["paging", "NextPageToken"])
        );
        let body = json!({"next_page": true});
        assert_eq!(find_next_page_path(&body).unwrap().0, parts(&["next_page"]));
        let body = json!({"next": {"urls": "u"}});
        assert_eq!(
            find_next_page_path(&body).unwrap().0,
            parts(&["next", "urls"])
        );
        // a null next, an object without href/url (searched inside), a list
        let body = json!({"next": null, "page": {"nextCursor": "c"}});
        assert_eq!(
            find_next_page_path(&body).unwrap().0,
            parts(&["page", "nextCursor"])
        );
        let body = json!({"next": {"page": {"next": "p"}}});
        assert_eq!(
            find_next_page_path(&body).unwrap().0,
            parts(&["next", "page", "next"])
        );
        assert_eq!(find_next_page_path(&json!({"next": [1]})), None);
        assert_eq!(find_next_page_path(&json!({"previous": "x"})), None);
        assert_eq!(find_next_page_path(&json!([{"next": "x"}])), None);
    }

    #[test]
    fn total_pages_paths() {
        let body = json!({"meta": {"totalPages": 3}});
        assert_eq!(
            find_total_pages_path(&body),
            Some((parts(&["meta", "totalPages"]), &json!(3)))
        );
        assert_eq!(
            find_total_pages_path(&json!({"pages": "4"})).unwrap().0,
            parts(&["pages"])
        );
        assert_eq!(
            find_total_pages_path(&json!({"TOTAL_PAGES": 1})).unwrap().0,
            parts(&["TOTAL_PAGES"])
        );
        // exact names only
        assert_eq!(
            find_total_pages_path(&json!({"total_pages_count": 1, "page": 1})),
            None
        );
        assert_eq!(find_total_pages_path(&json!({"pages": [1]})), None);
        assert_eq!(find_total_pages_path(&json!({"pages": null})), None);
        assert_eq!(find_total_pages_path(&json!([1])), None);
    }

    #[test]
    fn detects_header_link_first() {
        let r = response(&[(
            "Link",
            "<https://api.example.com/items?page=2>; rel=\"next\"",
        )]);
        let (p, score) = create_paginator(&r, Some(&json!({"next": "https://other/2"})));
        assert_eq!((p.unwrap().kind(), score), ("header_link", 1.0));
        let (p, score) = create_paginator(&r, None);
        assert_eq!((p.unwrap().kind(), score), ("header_link", 1.0));
        // a link that is not `next` is not a paginator
        let r = response(&[(
            "Link",
            "<https://api.example.com/items?page=1>; rel=\"prev\"",
        )]);
        let (p, score) = create_paginator(&r, None);
        assert_eq!((p.unwrap().kind(), score), ("single_page", 0.0));
    }

    #[test]
    fn detects_json_links() {
        let (kind, score, describe) =
            detect(&json!({"data": [1], "links": {"next": "https://x/2"}}));
        assert_eq!((kind, score), ("json_link", 1.0));
        assert!(describe.contains("links.next"), "{describe}");
        let (kind, score, describe) =
            detect(&json!({"data": [1], "links": {"next": {"href": "/items?page=2"}}}));
        assert_eq!((kind, score), ("json_link", 1.0));
        assert!(describe.contains("links.next.href"), "{describe}");
        // `http` prefix or an absolute path; otherwise a cursor
        let (kind, score, describe) = detect(&json!({"items": [1], "next_cursor": "abc"}));
        assert_eq!((kind, score), ("cursor", 0.5));
        assert!(describe.contains("next_cursor"), "{describe}");
        let (kind, score, _) = detect(&json!({"items": [1], "meta": {"next": 2}}));
        assert_eq!((kind, score), ("cursor", 0.5));
        let (kind, score, _) = detect(&json!({"items": [1], "next": ""}));
        assert_eq!((kind, score), ("cursor", 0.5));
    }

    #[test]
    fn detects_page_numbers_before_cursors() {
        let (kind, score, describe) =
            detect(&json!({"items": [1], "page": 1, "total_pages": 10, "next_token": "t"}));
        assert_eq!((kind, score), ("page_number", 0.5));
        assert!(describe.contains("total_path: total_pages"), "{describe}");
        assert!(describe.contains("page_param: page"), "{describe}");
        assert!(describe.contains("current page: 0"), "{describe}");
        // but not before a next URL
        let (kind, _, _) = detect(&json!({"total_pages": 10, "next": "https://x/2"}));
        assert_eq!(kind, "json_link");
        // a total that int() cannot read is skipped
        let (kind, _, _) = detect(&json!({"items": [1], "pages": "many"}));
        assert_eq!(kind, "single_page");
        let (kind, _, _) = detect(&json!({"items": [1], "meta": {"pages": "12"}}));
        assert_eq!(kind, "page_number");
    }

    #[test]
    fn falls_back_to_single_page() {
        for body in [
            json!([1, 2]),
            json!({"id": 1}),
            json!({"items": []}),
            json!(null),
        ] {
            let (kind, score, _) = detect(&body);
            assert_eq!((kind, score), ("single_page", 0.0), "{body}");
        }
        let (p, score) = create_paginator(&response(&[]), None);
        assert_eq!((p.unwrap().kind(), score), ("single_page", 0.0));
    }

    #[test]
    fn detected_paginators_paginate() {
        let body = json!({"data": [1], "links": {"next": {"href": "/items?page=2"}}});
        let (p, _) = create_paginator(&response(&[]), Some(&body));
        let mut p = p.unwrap();
        let mut req = Request::new(Method::Get, "https://api.example.com/items");
        p.update_state(&response(&[]), Some(&body), Some(&[json!(1)]))
            .unwrap();
        p.update_request(&mut req);
        assert!(p.has_next_page());
        assert_eq!(req.url, "https://api.example.com/items?page=2");

        let body = json!({"items": [1], "meta": {"next cursor": "c2"}});
        let (p, score) = create_paginator(&response(&[]), Some(&body));
        assert_eq!(score, 0.5);
        let mut p = p.unwrap();
        let mut req = Request::new(Method::Get, "https://api.example.com/items");
        p.update_state(&response(&[]), Some(&body), Some(&[json!(1)]))
            .unwrap();
        p.update_request(&mut req);
        assert_eq!(req.query_value("cursor"), Some(&json!("c2")));
    }

    #[test]
    fn single_entity_paths() {
        assert!(single_entity_path("/users/{user_id}"));
        assert!(single_entity_path("users/{id}/"));
        assert!(single_entity_path("users/{id}/."));
        assert!(single_entity_path("repos/{owner.name-x_1}"));
        assert!(single_entity_path("file_{id}.json"));
        assert!(single_entity_path("{id}"));
        assert!(!single_entity_path("/users/{user_id}/posts"));
        assert!(!single_entity_path("/users"));
        assert!(!single_entity_path("/users/{}"));
        assert!(!single_entity_path("/users/{a b}"));
        assert!(!single_entity_path("/users/{id"));
        assert!(!single_entity_path(""));
        assert!(!single_entity_path("/"));
    }
}

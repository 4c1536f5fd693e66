//! Listing: label filters, states, sorting and cursor pages; the older page-numbered list.

use crate::common::App;
use axum::http::{Method, StatusCode};
use serde_json::json;

fn names(list: &serde_json::Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_sorting_and_cursor_pages() {
    let app = App::new().await;
    for (name, team) in [("a1", "x"), ("b2", "y"), ("c3", "x")] {
        app.create(json!({"name": name, "labels": {"team": team}})).await;
    }
    let (_, c3) = app.call(Method::POST, "/sandbox/c3/stop", None).await;
    assert_eq!(c3["state"], "stopped");

    let labels = urlencode(r#"{"team":"x"}"#);
    let (status, list) = app.call(Method::GET, &format!("/sandbox?labels={labels}&sort=name&order=asc"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list), ["a1", "c3"]);
    assert_eq!(list["nextCursor"], json!(null));

    let (_, list) = app.call(Method::GET, "/sandbox?states=stopped", None).await;
    assert_eq!(names(&list), ["c3"]);
    let (_, list) = app.call(Method::GET, "/sandbox?states=started&states=stopped&sort=name&order=desc", None).await;
    assert_eq!(names(&list), ["c3", "b2", "a1"]);
    let (_, list) = app.call(Method::GET, "/sandbox?name=b", None).await;
    assert_eq!(names(&list), ["b2"]);

    // Walk cursor pages of one: every sandbox exactly once, then no cursor.
    let mut seen = Vec::new();
    let mut path = "/sandbox?limit=1&sort=name&order=asc".to_string();
    loop {
        let (status, page) = app.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(names(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/sandbox?limit=1&sort=name&order=asc&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["a1", "b2", "c3"]);

    let (status, paged) = app.call(Method::GET, "/sandbox/paginated?page=2&limit=2&sort=name&order=asc", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&paged), ["c3"]);
    assert_eq!(
        (paged["total"].clone(), paged["page"].clone(), paged["totalPages"].clone()),
        (json!(3), json!(2), json!(2))
    );

    // Deleted sandboxes disappear from lists unless asked for.
    app.call(Method::DELETE, "/sandbox/b2", None).await;
    let (_, list) = app.call(Method::GET, "/sandbox?sort=name&order=asc", None).await;
    assert_eq!(names(&list), ["a1", "c3"]);
    let (_, list) = app.call(Method::GET, "/sandbox?sort=name&order=asc&includeErroredDeleted=true", None).await;
    assert_eq!(names(&list), ["a1", "b2", "c3"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_list_the_default_image() {
    let app = App::new().await;
    let (status, list) = app.call(Method::GET, "/snapshots?page=1&limit=10", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    let default = &list["items"][0];
    assert_eq!(
        (default["name"].as_str(), default["state"].as_str(), default["general"].as_bool()),
        (Some("default"), Some("active"), Some(true))
    );
    assert!(default["mem"].is_i64() && default["cpu"].is_i64());
    let (status, by_id) = app.call(Method::GET, &format!("/snapshots/{}", default["id"].as_str().unwrap()), None).await;
    assert_eq!((status, by_id["name"].as_str()), (StatusCode::OK, Some("default")));
    let (status, body) =
        app.call(Method::POST, "/snapshots", Some(json!({"name": "py", "imageName": "python:3.12"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("python:3.12"), "{body}");
    let (status, _) = app.call(Method::DELETE, "/snapshots/default", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_past_any_end_is_empty_not_an_overflow() {
    // Found by the API fuzzer: (page - 1) * limit overflowed and answered 500.
    let app = App::new().await;
    app.create(json!({"name": "only"})).await;
    for path in ["/snapshots?page=9223372036854775807", "/sandbox/paginated?page=9223372036854775807&limit=200"] {
        let (status, list) = app.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {list}");
        assert_eq!((list["items"].as_array().map(Vec::len), list["total"].as_i64()), (Some(0), Some(1)), "{path}");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

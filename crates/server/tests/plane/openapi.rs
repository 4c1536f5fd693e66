//! The served OpenAPI document lists exactly the routes the router serves: the route table in
//! the router's sources and the document's operations are the same set, every documented
//! operation reaches a handler (not the fallback, not a 405), and every schema it refers to is in
//! the document.

use crate::common::App;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// The router's sources: `http::router` (its `/api` routes, then the top-level ones) and the
/// toolbox's router, nested under `/toolbox/{sandbox_id}`.
const SERVER_ROUTES: &str = include_str!("../../src/http/mod.rs");
const TOOLBOX_ROUTES: &str = include_str!("../../../toolbox/src/routes.rs");

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(METHOD, path)` of every `.route("path", get(..).post(..))` in `source`, `{param}` names
/// replaced by `{}` (the document uses Daytona's names, the router its own).
fn routes_in(source: &str, prefix: impl Fn(&str) -> String) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for piece in source.split(".route(").skip(1) {
        let Some(path) = piece.split('"').nth(1) else { continue };
        // The route's arguments end at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = piece
            .char_indices()
            .find_map(|(i, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                (depth == 0).then_some(i)
            })
            .expect("a .route( call closes");
        let args = &piece[..end];
        for method in METHODS {
            let call = format!("{method}(");
            let called = args.match_indices(&call).any(|(i, _)| {
                let before = args[..i].chars().last();
                matches!(before, None | Some('.' | ' ' | '\n' | '(' | ':' | ','))
                    && !args[..i].ends_with("routes::")
                    && !args[..i].ends_with("interpreter::")
            });
            if called {
                found.insert((method.to_uppercase(), normalize(&prefix(path))));
            }
        }
    }
    found
}

fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

fn router_routes() -> BTreeSet<(String, String)> {
    // In `http::router`, routes before `let routes =` are nested under `/api`; after it they are
    // mounted as written.
    let (nested, top) = SERVER_ROUTES.split_once("let routes =").expect("http::router builds `routes`");
    let mut all = routes_in(nested, |p| format!("/api{p}"));
    all.extend(routes_in(top, str::to_string));
    all.extend(routes_in(TOOLBOX_ROUTES, |p| format!("/toolbox/{{sandbox_id}}{p}")));
    all
}

async fn document(app: &App) -> Value {
    let request = Request::get("/api-json").body(Body::empty()).unwrap();
    let (status, document) = app.send(request).await;
    assert_eq!(status, StatusCode::OK, "the document is served without a key: {document}");
    document
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            ops.push((method.to_uppercase(), path.clone(), op));
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let app = App::new().await;
    let document = document(&app).await;
    let documented: BTreeSet<_> = operations(&document).into_iter().map(|(m, p, _)| (m, normalize(&p))).collect();
    let routed = router_routes();
    assert!(routed.len() > 80, "the route parser found only {} routes: {routed:?}", routed.len());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes the document does not list: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented operations the router does not serve: {unrouted:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_reaches_a_handler() {
    let app = App::new().await;
    let document = document(&app).await;
    for (method, path, op) in operations(&document) {
        // Path parameters get values of their type; sandboxes and sessions do not exist, which
        // is a 404 from a handler or the toolbox's lookup, never from the fallback.
        let mut uri = path.clone();
        for parameter in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "path") {
            let value = match parameter["schema"]["type"].as_str() {
                Some("integer") => "5",
                Some("boolean") => "true",
                _ => "probe",
            };
            uri = uri.replace(&format!("{{{}}}", parameter["name"].as_str().unwrap()), value);
        }
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri)
            .header("authorization", format!("Bearer {}", crate::common::KEY))
            .header("content-type", "application/json")
            .body(Body::empty())
            .unwrap();
        let (status, body) = app.send(request).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri} is not routed");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(!message.starts_with("no route for"), "{method} {uri} fell through to the fallback: {body}");
        assert!(status.as_u16() < 500, "{method} {uri} answered {status}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_reference_resolves_and_errors_and_auth_are_declared() {
    let app = App::new().await;
    let document = document(&app).await;
    assert!(document["openapi"].as_str().unwrap_or_default().starts_with("3."), "{}", document["openapi"]);
    let schemas = document["components"]["schemas"].as_object().expect("component schemas");
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("odd $ref {reference}"));
        assert!(schemas.contains_key(name), "{reference} is not in the document");
    }
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(document["security"][0]["bearer"], serde_json::json!([]));
    for (method, path, op) in operations(&document) {
        assert_eq!(
            op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{method} {path} declares the error body"
        );
        let public = op["security"] == serde_json::json!([]);
        assert_eq!(public, ["/api/health", "/api/config", "/api-json"].contains(&path.as_str()), "{method} {path}");
    }
    // The error body is the one both the API and the toolbox send.
    let error = &schemas["ErrorBody"]["properties"];
    for key in ["statusCode", "message", "code"] {
        assert!(error.get(key).is_some(), "ErrorBody has no {key}: {error}");
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

//! Request tracing: one span per request with its method, route template, sandbox id, status and
//! latency, so a slow or failing call can be found in the log by the sandbox it touched.

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::Request;
use axum::Router;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::{Level, Span};

/// `router` with the layer around every route: spans at debug level, responses logged at debug
/// with their latency, 5xx answers at error.
pub fn around<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        TraceLayer::new_for_http()
            .make_span_with(span as fn(&Request<Body>) -> Span)
            .on_response(DefaultOnResponse::new().level(Level::DEBUG).latency_unit(LatencyUnit::Micros))
            .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
    )
}

fn span(request: &Request<Body>) -> Span {
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let sandbox_id = route.and_then(|route| sandbox_segment(route, request.uri().path())).unwrap_or("");
    tracing::debug_span!(
        "request",
        method = %request.method(),
        route = route.unwrap_or("<unmatched>"),
        sandbox_id,
    )
}

/// The sandbox id of a request path, read at the position its route template names it
/// (`/api/sandbox/{id}/...`, `/toolbox/{sandbox_id}/...`); other routes have none.
fn sandbox_segment<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let position = route.split('/').position(|segment| segment == "{sandbox_id}").or_else(|| {
        route.starts_with("/api/sandbox/{id}").then_some(3) // "", "api", "sandbox", "{id}"
    })?;
    path.split('/').nth(position).filter(|segment| !segment.is_empty())
}

#[cfg(test)]
mod tests {
    use super::sandbox_segment;

    #[test]
    fn sandbox_ids_come_from_the_route_position() {
        assert_eq!(sandbox_segment("/api/sandbox/{id}/start", "/api/sandbox/abc/start"), Some("abc"));
        assert_eq!(sandbox_segment("/api/sandbox/{id}", "/api/sandbox/abc"), Some("abc"));
        assert_eq!(
            sandbox_segment("/toolbox/{sandbox_id}/process/execute", "/toolbox/s-1/process/execute"),
            Some("s-1")
        );
        assert_eq!(sandbox_segment("/api/sandbox", "/api/sandbox"), None);
        assert_eq!(sandbox_segment("/api/snapshots/{id}", "/api/snapshots/x"), None);
    }
}

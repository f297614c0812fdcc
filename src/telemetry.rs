//! Logging. Redaction rules: a log line carries the request id, method, the *route template*
//! (`/api/v1/notes/{id}`, never the concrete path or query string), status and latency — never a
//! client address, a user id, a header, a body, a token or SQL. Statement logging is off in
//! `db.rs`; errors are logged by kind in `error.rs`.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use futures_util::FutureExt;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::error::{PROBLEM_JSON, problem_response};
use crate::settings::LogSettings;

/// Installs the global subscriber once; later calls (several test servers) are no-ops.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if settings.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Gives every request an id, logs one redacted line per request, turns a panic into a generic
/// 500 (the server keeps serving), and gives framework errors (unknown route, wrong method)
/// the problem+json shape every other error has.
pub async fn request_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %request_id);
    let started = Instant::now();

    let outcome = AssertUnwindSafe(next.call(req))
        .catch_unwind()
        .instrument(span.clone())
        .await;
    // The request cannot be cloned before routing (actix needs it unshared), so a panic is
    // answered through an error, which actix renders with `ApiError`'s problem+json.
    let mut res = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(err)) => return Err(err),
        Err(_panic) => {
            span.in_scope(|| tracing::error!(method = %method, "handler panicked"));
            return Err(crate::error::ApiError::Internal.into());
        }
    };

    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let (code, title) = match status {
            StatusCode::NOT_FOUND => ("not_found", "Not found"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
            s if s.is_server_error() => ("internal_error", "Internal server error"),
            _ => ("bad_request", "Bad request"),
        };
        let detail = match status {
            StatusCode::NOT_FOUND => "No such resource.",
            StatusCode::METHOD_NOT_ALLOWED => "This method is not allowed here.",
            s if s.is_server_error() => "Something went wrong on our side.",
            _ => "The request could not be processed.",
        };
        let (req, _) = res.into_parts();
        res = ServiceResponse::new(
            req,
            problem_response(status, code, title, detail.into(), None, None),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".into());
    if let Some(state) = res
        .request()
        .app_data::<actix_web::web::Data<crate::startup::AppState>>()
    {
        state
            .metrics
            .record(&method, &route, status.as_u16(), started.elapsed());
    }
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route = %route,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, HttpServer, middleware::from_fn, test, web};

    use super::*;

    async fn boom() -> HttpResponse {
        panic!("handler bug")
    }

    #[actix_web::test]
    async fn a_panicking_handler_gets_a_generic_500_and_the_server_keeps_serving() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(|| {
            App::new()
                .wrap(from_fn(request_middleware))
                .route("/boom", web::get().to(boom))
                .route("/ok", web::get().to(HttpResponse::Ok))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let res = client
                .get(format!("http://127.0.0.1:{port}/boom"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 500);
            assert_eq!(res.headers()["content-type"], PROBLEM_JSON);
            let text = res.text().await.unwrap();
            assert!(text.contains("\"code\":\"internal_error\""), "{text}");
            assert!(!text.contains("handler bug"), "{text}");
            let res = client
                .get(format!("http://127.0.0.1:{port}/ok"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200);
        }
        handle.stop(true).await;
    }

    #[actix_web::test]
    async fn an_unknown_route_gets_problem_json() {
        let app = test::init_service(App::new().wrap(from_fn(request_middleware))).await;
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/nope").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            res.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
    }
}

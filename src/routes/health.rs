use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// Routes at the root, outside `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}

/// Liveness: the process serves HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "Database unreachable", body = crate::error::Problem))
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let unavailable = |detail: &str| {
        crate::error::problem_response(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "Service unavailable",
            detail.into(),
            None,
            None,
        )
    };
    if state.writer.failure().is_some() {
        // The cause is in the log (at error level when it happened), not in the answer.
        return Ok(unavailable(
            "New notes cannot be made durable; the service must be restarted.",
        ));
    }
    match crate::db::ping(&state.db).await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Ok(unavailable("The database does not answer."))
        }
    }
    .map_err(|e: ApiError| e)
}

/// Prometheus metrics (when `metrics.enabled`; bearer `metrics.token` when set).
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"), (status = 401, body = crate::error::Problem), (status = 404, body = crate::error::Problem))
)]
#[get("/metrics")]
async fn metrics(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    use secrecy::ExposeSecret;
    let m = &state.settings.metrics;
    if !m.enabled {
        return Err(ApiError::NotFound);
    }
    let expected = m.token.expose_secret();
    if !expected.is_empty() {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare digests, so the comparison's time says nothing about the token.
        if crate::auth::tokens::hash_opaque(given) != crate::auth::tokens::hash_opaque(expected) {
            return Err(ApiError::Unauthorized);
        }
    }
    let outbox = crate::metrics::Outboxes {
        mail: crate::mail::pending_count(&state.db).await?,
        webhooks: crate::store::webhooks::pending_count(&state.db).await?,
    };
    let (size, idle) = match state.db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let p = state.db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => {
            let p = state.db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("content-type", "text/plain; version=0.0.4"))
        .body(state.metrics.render(outbox, size, idle)))
}

use actix_web::{HttpResponse, get, web};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz);
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
    match crate::db::ping(&state.db).await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Ok(crate::error::problem_response(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Service unavailable",
                "The database does not answer.".into(),
                None,
                None,
            ))
        }
    }
    .map_err(|e: ApiError| e)
}

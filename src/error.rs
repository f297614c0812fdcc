//! One error type for every handler: `ApiError`, rendered as `application/problem+json`
//! (RFC 9457) with a stable snake_case `code`. Bodies never carry input values, SQL, `DbErr`
//! text or internal messages: unexpected failures are logged and answered with an opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub type ApiResult<T> = Result<T, ApiError>;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request")]
    BadRequest { code: &'static str, detail: String },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized")]
    Unauthorized,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict {
        code: &'static str,
        detail: String,
        extra: Option<Value>,
    },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("unprocessable")]
    Unprocessable {
        code: &'static str,
        detail: String,
        extra: Option<Value>,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    /// Logs an unexpected failure (its kind, never request content) and hides it behind a 500.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "internal error");
        Self::Internal
    }

    fn parts(&self) -> (&'static str, &'static str, String) {
        match self {
            Self::BadRequest { code, detail } => (code, "Bad request", detail.clone()),
            Self::Validation(_) => (
                "validation_failed",
                "Validation failed",
                "One or more fields are invalid.".into(),
            ),
            Self::Unauthorized => (
                "unauthorized",
                "Unauthorized",
                "A valid bearer token is required.".into(),
            ),
            Self::InvalidCredentials => (
                "invalid_credentials",
                "Unauthorized",
                "The email or password is incorrect.".into(),
            ),
            Self::Forbidden(detail) => ("forbidden", "Forbidden", (*detail).into()),
            Self::NotFound => ("not_found", "Not found", "No such resource.".into()),
            Self::Conflict { code, detail, .. } => (code, "Conflict", detail.clone()),
            Self::PreconditionFailed => (
                "precondition_failed",
                "Precondition failed",
                "The resource changed since it was read (If-Match).".into(),
            ),
            Self::PayloadTooLarge => (
                "payload_too_large",
                "Payload too large",
                "The request body is larger than this route accepts.".into(),
            ),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                "Unsupported media type",
                "Send the body as application/json.".into(),
            ),
            Self::Unprocessable { code, detail, .. } => {
                (code, "Unprocessable content", detail.clone())
            }
            Self::TooManyRequests { .. } => (
                "rate_limited",
                "Too many requests",
                "Too many attempts; retry later.".into(),
            ),
            Self::Internal => (
                "internal_error",
                "Internal server error",
                "Something went wrong on our side.".into(),
            ),
        }
    }
}

/// Builds a problem+json response; also used by the middleware that catches panics and
/// framework errors, so every error body has one shape.
pub fn problem_response(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
    errors: Option<Vec<FieldError>>,
    extra: Option<&Value>,
) -> HttpResponse {
    let mut body = json!(Problem {
        type_: format!("urn:backchannel:problem:{code}"),
        title: title.into(),
        status: status.as_u16(),
        detail,
        code: code.into(),
        errors,
    });
    if let (Some(Value::Object(extra)), Value::Object(map)) = (extra, &mut body) {
        for (k, v) in extra {
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.to_string())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, title, detail) = self.parts();
        let errors = match self {
            Self::Validation(errors) => Some(errors.clone()),
            _ => None,
        };
        let extra = match self {
            Self::Conflict { extra, .. } | Self::Unprocessable { extra, .. } => extra.as_ref(),
            _ => None,
        };
        let mut response = problem_response(self.status_code(), code, title, detail, errors, extra);
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(&1).to_owned()),
                );
            }
            Self::Unauthorized | Self::InvalidCredentials => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => Self::conflict(
                "already_exists",
                "A resource with these unique fields already exists.",
            ),
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => Self::conflict(
                "reference_conflict",
                "A referenced resource does not exist or is still in use.",
            ),
            _ => Self::internal("database", err),
        }
    }
}

/// The JSON extractor's errors, without serde's message (it would echo input).
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::ContentType => ApiError::UnsupportedMediaType,
        J::Overflow { .. } | J::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        J::Deserialize(e) if e.is_data() => ApiError::bad_request(
            "invalid_body",
            "The body does not match the expected fields and types (unknown fields are refused).",
        ),
        J::Deserialize(_) => ApiError::bad_request("malformed_json", "The body is not valid JSON."),
        _ => ApiError::bad_request("malformed_body", "The request body could not be read."),
    };
    api.into()
}

pub fn query_error(
    _err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(
        "invalid_query",
        "The query string has unknown or invalid parameters.",
    )
    .into()
}

pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

//! The route table: every route of the service, registered through `utoipa_actix_web` so that a
//! handler cannot be served without appearing in the OpenAPI document.

pub mod agenda;
pub mod auth;
pub mod dialogues;
pub mod feed;
pub mod health;
pub mod invitations;
pub mod me;
pub mod notes;
pub mod participants;
pub mod rounds;
pub mod tokens;
pub mod users;
pub mod webhooks;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, mime, web};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};

use crate::error::{ApiError, FieldError, Problem};

/// Marks a response not to be kept by any cache: for notes, rosters, audit entries and secrets
/// (DESIGN.md §4.7).
pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// Routes under `/api/v1`. Routes that share a first segment and its parameter are served
/// from one scope, so a request is matched against the few routes of its scope rather than
/// against every route in turn (path matching had been a seventh of a note post's time).
pub fn api(cfg: &mut ServiceConfig) {
    cfg.service(
        scope("/rounds/{round_id}")
            .configure(rounds::round)
            .configure(participants::round)
            .configure(invitations::round)
            .configure(agenda::round)
            .configure(notes::round),
    )
    .service(
        scope("/agenda/{item_id}")
            .configure(agenda::item)
            .configure(notes::item),
    )
    .service(scope("/notes/{note_id}").configure(notes::note))
    .service(
        scope("/dialogues/{dialogue_id}")
            .configure(dialogues::dialogue)
            .configure(rounds::dialogue)
            .configure(agenda::dialogue)
            .configure(webhooks::dialogue),
    )
    .service(
        scope("/me")
            .configure(me::me)
            .configure(notes::me)
            .configure(tokens::me)
            .configure(feed::me),
    )
    .configure(auth::configure)
    .configure(users::configure)
    .configure(dialogues::configure)
    .configure(invitations::configure)
    .configure(webhooks::configure);
}

/// Routes at the root.
pub fn root(cfg: &mut ServiceConfig) {
    cfg.configure(health::configure)
        .configure(feed::configure_root);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "backchannel",
        description = "Off-the-record Track II dialogue rounds under the Chatham House Rule."
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldError))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("bct_…")
                    .description(Some(
                        "An API token from POST /api/v1/me/tokens; the operation's scope is listed with it",
                    ))
                    .build(),
            ),
        );
    }
}

/// Lists the `api_token` scheme, with the scope it needs, on every operation an API token may
/// use: taken from `domain::scopes`, the table that enforces it, so the two cannot drift.
fn add_api_token_security(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for (path, item) in api.paths.paths.iter_mut() {
        for (method, op) in [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ] {
            if let (Some(op), Some(scope)) =
                (op.as_mut(), crate::domain::scopes::required(method, path))
            {
                op.security
                    .get_or_insert_with(Vec::new)
                    .push(SecurityRequirement::new("api_token", [scope.as_str()]));
            }
        }
    }
}

/// The OpenAPI document of every registered route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(root)
        .service(scope::scope("/api/v1").configure(api))
        .split_for_parts();
    let mut api = api;
    add_api_token_security(&mut api);
    add_body_errors(&mut api);
    api
}

/// Every operation with a JSON body can answer 413 (over `http.json_limit_bytes`) and 415
/// (missing or wrong Content-Type): the JSON extractor's answers, documented in one place.
fn add_body_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{Ref, ResponseBuilder, content::ContentBuilder};
    let problem = || {
        ResponseBuilder::new().content(
            crate::error::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        for op in [&mut item.post, &mut item.put, &mut item.patch]
            .into_iter()
            .flatten()
        {
            if op.request_body.is_none() {
                continue;
            }
            let responses = &mut op.responses.responses;
            responses.entry("413".into()).or_insert_with(|| {
                problem()
                    .description("The body is larger than this route accepts")
                    .build()
                    .into()
            });
            responses.entry("415".into()).or_insert_with(|| {
                problem()
                    .description("The body is not application/json")
                    .build()
                    .into()
            });
        }
    }
}

/// Every request body of this API is a JSON object, but serde's derived `Deserialize` also reads
/// a struct from a JSON array of its fields in order (`[null, null]` would pass as `{}`). This
/// middleware refuses a JSON body that opens with `[` with the JSON extractor's own 400, before
/// any handler; it reads only up to the first non-blank byte and hands the body on unchanged.
pub async fn refuse_array_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    use futures_util::StreamExt;
    // The JSON extractor's test for a JSON body; anything else is refused by it with 415.
    let is_json = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if is_json {
        // Blank space past the body limit is left to the extractor, which answers 413.
        let limit = req
            .app_data::<web::Data<crate::startup::AppState>>()
            .map_or(0, |s| s.settings.http.json_limit_bytes);
        let mut payload = req.take_payload();
        let mut head = web::BytesMut::new();
        while head.len() <= limit
            && head
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            match payload.next().await {
                Some(chunk) => head.extend_from_slice(&chunk?),
                None => break,
            }
        }
        if head
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            == Some(&b'[')
        {
            return Err(ApiError::bad_request(
                "invalid_body",
                "The body does not match the expected fields and types (unknown fields are refused).",
            )
            .into());
        }
        let head = head.freeze();
        req.set_payload(Payload::Stream {
            payload: Box::pin(futures_util::stream::once(async move { Ok(head) }).chain(payload)),
        });
    }
    next.call(req).await
}

pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(doc.0.clone())
}

pub struct OpenApiJson(pub String);

/// `?limit=&cursor=` on every list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100; 50 when absent.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 200)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u64, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=100).contains(&n) => Ok(n as u64),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 100")),
        }
    }

    /// The cursor of a list paged by a number (a round's sequence, a version, an entry id).
    pub fn number_cursor(&self) -> Result<Option<i32>, ApiError> {
        self.cursor()?
            .map(|c| {
                c.parse::<i32>()
                    .map_err(|_| ApiError::invalid("cursor", "is not a cursor from this list"))
            })
            .transpose()
    }

    pub fn cursor(&self) -> Result<Option<&str>, ApiError> {
        match self.cursor.as_deref() {
            Some(c) if c.len() > 200 || c.chars().any(char::is_control) => Err(ApiError::invalid(
                "cursor",
                "is not a cursor from this list",
            )),
            other => Ok(other),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit` rows, with the cursor taken from the last one when the page is full.
    pub fn new(items: Vec<T>, limit: u64, cursor_of: impl Fn(&T) -> String) -> Self {
        let next_cursor = (items.len() as u64 == limit)
            .then(|| items.last().map(&cursor_of))
            .flatten();
        Self { items, next_cursor }
    }
}

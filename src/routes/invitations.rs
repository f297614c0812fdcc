//! Invitations: an organizer (or the convenor) invites one email to one round, on one side, in
//! one role. The token — 256 bits from the OS — is shown once in the 201 body and mailed; only
//! its hash is stored. Tokens travel only in request bodies, never in paths or queries.
//! Unknown, expired, revoked, used and wrong-round tokens all get one identical answer.
//!
//! Accepting creates the account for a new email; for an existing account it requires that
//! account's bearer token, so a forwarded link is useless to anyone else. The side and role
//! always come from the stored invitation.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::no_store;
use crate::access::{self, RoundCaller};
use crate::auth::AuthUser;
use crate::auth::tokens::{hash_opaque, new_opaque_token};
use crate::domain::account::{Email, NewAccount};
use crate::domain::rights::{Action, Role};
use crate::domain::round::RoundStatus;
use crate::domain::text;
use crate::domain::webhooks::Event;
use crate::entities::{dialogue, invitation, round};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::mail::{self, OutgoingMail};
use crate::routes::rounds::Venue;
use crate::routes::{Page, PageQuery};
use crate::startup::AppState;
use crate::store::audit::Entry;
use crate::store::invitations::{ACCEPTED, DECLINED, PENDING, REVOKED};
use crate::{db, ratelimit, store};

/// Routes under a round, `/rounds/{round_id}`: paths here are relative to it.
pub fn round(cfg: &mut ServiceConfig) {
    cfg.service(create_invitation).service(list_invitations);
}

/// Routes at the top of `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(preview)
        .service(accept)
        .service(decline)
        .service(revoke)
        .service(resend);
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "delegate@example.org", "name": "Aisha Khan", "side": "pakistan", "role": "delegate",
    "message": "We would be glad to have you at the Bhurban round.", "expires_in_days": 14
}))]
pub struct CreateInvitation {
    pub email: String,
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// A side key of the dialogue.
    pub side: String,
    pub role: Role,
    #[schema(min_length = 1, max_length = 2000)]
    pub message: Option<String>,
    /// 1–90; 14 by default.
    #[schema(minimum = 1, maximum = 90)]
    pub expires_in_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    pub id: String,
    pub round_id: String,
    pub email: String,
    pub name: String,
    pub side: String,
    pub role: String,
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
}

/// An invitation as created or resent: the only time its token is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    #[serde(flatten)]
    pub invitation: InvitationView,
    /// The secret invitation token (256 bits); shown once, and mailed.
    pub token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "the token from the invitation mail"}))]
pub struct TokenBody {
    #[schema(value_type = String)]
    pub token: SecretString,
    /// Optional: the round the invitee expects; a token of another round is refused alike.
    pub round_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "the token from the mail", "display_name": "Aisha Khan", "password": "a long passphrase of mine"}))]
pub struct AcceptBody {
    #[schema(value_type = String)]
    pub token: SecretString,
    pub round_id: Option<String>,
    /// New accounts: the name to show (defaults to the invitation's).
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    /// New accounts: the password to set (12–128 characters).
    #[schema(value_type = Option<String>, format = Password)]
    pub password: Option<SecretString>,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationPreview {
    pub dialogue_name: String,
    pub round_title: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub venue: Venue,
    pub side: String,
    pub role: String,
    pub expires_at: DateTime<Utc>,
    /// Whether accepting needs the existing account's sign-in (else a password creates one).
    pub account_exists: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Membership {
    pub round_id: String,
    pub dialogue_id: String,
    pub user_id: String,
    pub side: String,
    pub role: String,
}

fn status_of(i: &invitation::Model) -> String {
    if i.status == PENDING && i.expires_at <= store::now() {
        "expired".into()
    } else {
        i.status.clone()
    }
}

fn view(i: invitation::Model) -> InvitationView {
    InvitationView {
        status: status_of(&i),
        id: i.id,
        round_id: i.round_id,
        email: i.email,
        name: i.name,
        side: i.side_key,
        role: i.role,
        expires_at: i.expires_at,
        created_at: i.created_at,
        responded_at: i.responded_at,
    }
}

/// The one answer for every token that does not open an invitation.
fn invalid_token() -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_invitation",
        detail:
            "This invitation link is not valid: it may have expired, been used or been withdrawn."
                .into(),
        extra: None,
    }
}

fn expiry_days(value: Option<i64>, default: i64) -> ApiResult<i64> {
    match value {
        None => Ok(default),
        Some(d) if (1..=90).contains(&d) => Ok(d),
        Some(_) => Err(ApiError::invalid(
            "expires_in_days",
            "must be between 1 and 90",
        )),
    }
}

fn invitation_mail(
    state: &AppState,
    d: &dialogue::Model,
    r: &round::Model,
    i: &invitation::Model,
    side_name: &str,
    token: &SecretString,
) -> OutgoingMail {
    let link = format!(
        "{}#token={}",
        state.settings.invitations.accept_url,
        token.expose_secret()
    );
    let venue = [r.venue_city.as_deref(), r.venue_country.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let mut body = format!(
        "Dear {name},\n\nYou are invited to {dialogue}, {title} ({starts} to {ends}{venue}), \
         on the {side} side as {role}.\n\nThe meeting is held under the Chatham House Rule.\n",
        name = i.name,
        dialogue = d.name,
        title = r.title,
        starts = r.starts_on,
        ends = r.ends_on,
        venue = if venue.is_empty() {
            String::new()
        } else {
            format!(", {venue}")
        },
        side = side_name,
        role = i.role.replace('_', "-"),
    );
    if let Some(m) = &i.message {
        body.push_str(&format!("\n{m}\n"));
    }
    body.push_str(&format!(
        "\nTo accept or decline, open:\n{link}\n\nor give this invitation code to the application: {code}\n\n\
         The invitation is for you alone and expires on {expires} (UTC). Please do not forward it.\n",
        code = token.expose_secret(),
        expires = i.expires_at.format("%Y-%m-%d %H:%M"),
    ));
    OutgoingMail {
        to: i.email.clone(),
        subject: format!("Invitation: {}", r.title),
        body,
    }
}

/// Invites one email to the round (organizers and the convenor; draft and scheduled rounds).
#[utoipa::path(
    tag = "invitations",
    security(("bearer" = [])),
    params(("round_id" = String, Path)),
    request_body = CreateInvitation,
    responses((status = 201, body = CreatedInvitation), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/invitations")] // /rounds/{round_id}/invitations
async fn create_invitation(
    caller: RoundCaller,
    state: web::Data<AppState>,
    body: web::Json<CreateInvitation>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { auth, access } = caller;
    access.require_or_hide(Action::ManageRound)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    let email = Email::parse("email", &body.email)
        .map_err(|e| errors.push(e))
        .ok();
    let name = text::line("name", &body.name, 200)
        .map_err(|e| errors.push(e))
        .ok();
    let message = body.message.as_deref().and_then(|m| {
        text::body("message", m, 2000)
            .map_err(|e| errors.push(e))
            .ok()
    });
    let days = expiry_days(
        body.expires_in_days,
        state.settings.invitations.default_expiry_days,
    )
    .map_err(|e| {
        if let ApiError::Validation(v) = e {
            errors.extend(v)
        }
    });
    let sides = store::dialogues::sides(&state.db, &access.dialogue.id).await?;
    let side = sides.iter().find(|s| s.key == body.side);
    if side.is_none() {
        errors.push(FieldError::new("side", "is not a side of this dialogue"));
    }
    let (Some(email), Some(name), Some(side), Ok(days)) = (email, name, side, days) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if !access.status().accepts_invitations() {
        return Err(ApiError::conflict(
            "round_closed_for_invitations",
            "Invitations can be sent while a round is draft or scheduled.",
        ));
    }
    let (token, token_hash) = new_opaque_token();
    let tx = db::begin_write(&state.db).await?;
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    if let Some(user) = store::users::find_by_email_key(&tx, &email.key()).await?
        && store::participants::find(&tx, &access.round.id, &user.id)
            .await?
            .is_some()
    {
        return Err(ApiError::conflict(
            "already_participant",
            "This person already takes part in the round.",
        ));
    }
    if store::invitations::open_for_email(&tx, &access.round.id, &email.key(), None).await? {
        return Err(ApiError::conflict(
            "already_invited",
            "This email already has a pending invitation to the round.",
        ));
    }
    let taken = store::participants::count_on_side(&tx, &access.round.id, &side.key).await?
        + store::invitations::open_on_side(&tx, &access.round.id, &side.key).await?;
    if taken >= side.delegation_limit as u64 {
        return Err(ApiError::conflict(
            "delegation_full",
            "The side's delegation limit is reached (participants and pending invitations).",
        ));
    }
    let inv = store::invitations::create(
        &tx,
        store::invitations::NewInvitation {
            round_id: access.round.id.clone(),
            email_key: email.key(),
            email: email.into_inner(),
            name,
            side: side.key.clone(),
            role: body.role,
            message,
            token_hash,
            expires_at: store::now() + Duration::days(days),
            created_by: auth.id().to_owned(),
        },
    )
    .await?;
    mail::enqueue(
        &tx,
        &state.cipher,
        "invitation",
        &invitation_mail(
            &state,
            &access.dialogue,
            &access.round,
            &inv,
            &side.name,
            &token,
        ),
    )
    .await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.dialogue.id,
            round_id: Some(&access.round.id),
            actor_id: Some(auth.id()),
            action: "invitation.created",
            target_type: "invitation",
            target_id: Some(&inv.id),
            detail: Some(json!({"side": inv.side_key, "role": inv.role})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Created()).json(CreatedInvitation {
        invitation: view(inv),
        token: token.expose_secret().to_owned(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvitationsQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(max_length = 200)]
    pub cursor: Option<String>,
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    #[param(pattern = "^(pending|accepted|declined|revoked|expired)$")]
    pub status: Option<String>,
}

/// The round's invitations (organizers and the convenor).
#[utoipa::path(
    tag = "invitations",
    security(("bearer" = [])),
    params(("round_id" = String, Path), InvitationsQuery),
    responses((status = 200, body = Page<InvitationView>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 404, body = Problem))
)]
#[get("/invitations")] // /rounds/{round_id}/invitations
async fn list_invitations(
    caller: RoundCaller,
    state: web::Data<AppState>,
    query: web::Query<InvitationsQuery>,
) -> ApiResult<HttpResponse> {
    let RoundCaller { access, .. } = caller;
    access.require_or_hide(Action::ManageRound)?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()?;
    let status = query.status.as_deref();
    if status.is_some_and(|s| ![PENDING, ACCEPTED, DECLINED, REVOKED, "expired"].contains(&s)) {
        return Err(ApiError::invalid(
            "status",
            "must be pending, accepted, declined, revoked or expired",
        ));
    }
    let found =
        store::invitations::list(&state.db, &access.round.id, status, page.cursor()?, limit)
            .await?;
    let items: Vec<InvitationView> = found.into_iter().map(view).collect();
    Ok(no_store(HttpResponse::Ok()).json(Page::new(items, limit, |i| i.id.clone())))
}

/// Loads an invitation and checks the caller may manage its round; 404 otherwise.
async fn managed(
    state: &AppState,
    auth: &AuthUser,
    id: &str,
) -> ApiResult<(invitation::Model, access::RoundAccess)> {
    let inv = store::invitations::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = access::round(&state.reader, auth, &inv.round_id).await?;
    access.require_or_hide(Action::ManageRound)?;
    Ok((inv, access))
}

/// Withdraws a pending invitation.
#[utoipa::path(
    tag = "invitations",
    security(("bearer" = [])),
    params(("invitation_id" = String, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[delete("/invitations/{invitation_id}")]
async fn revoke(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (inv, access) = managed(&state, &auth, &path).await?;
    let tx = db::begin_write(&state.db).await?;
    if !store::invitations::respond(&tx, &inv.id, REVOKED, None).await? {
        return Err(ApiError::conflict(
            "invitation_not_pending",
            "Only a pending invitation can be revoked.",
        ));
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.dialogue.id,
            round_id: Some(&inv.round_id),
            actor_id: Some(auth.id()),
            action: "invitation.revoked",
            target_type: "invitation",
            target_id: Some(&inv.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Issues a new token and expiry for a pending or expired invitation and mails it again; the
/// old token stops working.
#[utoipa::path(
    tag = "invitations",
    security(("bearer" = [])),
    params(("invitation_id" = String, Path)),
    responses((status = 201, body = CreatedInvitation), (status = 401, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem))
)]
#[post("/invitations/{invitation_id}/resend")]
async fn resend(
    auth: AuthUser,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let (inv, access) = managed(&state, &auth, &path).await?;
    if inv.status != PENDING {
        return Err(ApiError::conflict(
            "invitation_not_pending",
            "Only a pending or expired invitation can be resent.",
        ));
    }
    if !access.status().accepts_invitations() {
        return Err(ApiError::conflict(
            "round_closed_for_invitations",
            "Invitations can be sent while a round is draft or scheduled.",
        ));
    }
    let sides = store::dialogues::sides(&state.db, &access.dialogue.id).await?;
    let side_name = sides
        .iter()
        .find(|s| s.key == inv.side_key)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let (token, token_hash) = new_opaque_token();
    let tx = db::begin_write(&state.db).await?;
    // Reopening an expired invitation takes a place again: the checks of a new invitation hold.
    store::lock_row(&tx, "rounds", &access.round.id).await?;
    if store::invitations::open_for_email(&tx, &access.round.id, &inv.email_key, Some(&inv.id))
        .await?
    {
        return Err(ApiError::conflict(
            "already_invited",
            "This email already has another pending invitation to the round.",
        ));
    }
    let still_open = u64::from(inv.expires_at > store::now());
    let taken = store::participants::count_on_side(&tx, &access.round.id, &inv.side_key).await?
        + store::invitations::open_on_side(&tx, &access.round.id, &inv.side_key).await?;
    let limit = sides
        .iter()
        .find(|s| s.key == inv.side_key)
        .map(|s| s.delegation_limit as u64)
        .unwrap_or(0);
    if taken - still_open.min(taken) >= limit {
        return Err(ApiError::conflict(
            "delegation_full",
            "The side's delegation limit is reached (participants and pending invitations).",
        ));
    }
    let expires = store::now() + Duration::days(state.settings.invitations.default_expiry_days);
    let inv = store::invitations::renew(&tx, inv, token_hash, expires).await?;
    mail::enqueue(
        &tx,
        &state.cipher,
        "invitation",
        &invitation_mail(
            &state,
            &access.dialogue,
            &access.round,
            &inv,
            &side_name,
            &token,
        ),
    )
    .await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &access.dialogue.id,
            round_id: Some(&inv.round_id),
            actor_id: Some(auth.id()),
            action: "invitation.resent",
            target_type: "invitation",
            target_id: Some(&inv.id),
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Created()).json(CreatedInvitation {
        invitation: view(inv),
        token: token.expose_secret().to_owned(),
    }))
}

/// The open invitation a token names, with its round and dialogue; the one identical error
/// for anything else.
async fn open_invitation(
    state: &AppState,
    req: &HttpRequest,
    token: &SecretString,
    round_id: Option<&str>,
) -> ApiResult<(invitation::Model, round::Model, dialogue::Model)> {
    if let Some(ip) = ratelimit::client_ip(req, &state.settings.http.trusted_proxies) {
        state.limits.invitation_ip.check(&ip.to_string())?;
    }
    let hash = hash_opaque(token.expose_secret());
    let inv = store::invitations::find_open_by_token(&state.db, &hash)
        .await?
        .ok_or_else(invalid_token)?;
    state.limits.invitation_account.check(&inv.email_key)?;
    if round_id.is_some_and(|r| r != inv.round_id) {
        return Err(invalid_token());
    }
    let round = store::rounds::find(&state.db, &inv.round_id)
        .await?
        .ok_or_else(invalid_token)?;
    let status: RoundStatus = round.status.parse().unwrap_or(RoundStatus::Archived);
    if status.is_read_only() || status == RoundStatus::Concluded {
        return Err(invalid_token());
    }
    let dialogue = store::dialogues::find(&state.db, &round.dialogue_id)
        .await?
        .ok_or_else(invalid_token)?;
    Ok((inv, round, dialogue))
}

/// What an invitation is for: the round, dates, venue, side and role — nothing about others.
#[utoipa::path(
    tag = "invitations",
    request_body = TokenBody,
    responses((status = 200, body = InvitationPreview), (status = 400, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem))
)]
#[post("/invitations/preview")]
async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> ApiResult<HttpResponse> {
    let (inv, round, dialogue) =
        open_invitation(&state, &req, &body.token, body.round_id.as_deref()).await?;
    let sides = store::dialogues::sides(&state.db, &dialogue.id).await?;
    let account_exists = store::users::find_by_email_key(&state.db, &inv.email_key)
        .await?
        .is_some();
    Ok(no_store(HttpResponse::Ok()).json(InvitationPreview {
        dialogue_name: dialogue.name,
        round_title: round.title,
        starts_on: round.starts_on,
        ends_on: round.ends_on,
        venue: Venue {
            name: round.venue_name,
            city: round.venue_city,
            country: round.venue_country,
        },
        side: sides
            .into_iter()
            .find(|s| s.key == inv.side_key)
            .map(|s| s.name)
            .unwrap_or(inv.side_key),
        role: inv.role,
        expires_at: inv.expires_at,
        account_exists,
    }))
}

/// Accepts an invitation: joins the round on the invitation's side and role, creating the
/// account for a new email. An existing account must be signed in.
#[utoipa::path(
    tag = "invitations",
    request_body = AcceptBody,
    responses(
        (status = 201, body = Membership), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem)
    )
)]
#[post("/invitations/accept")]
async fn accept(
    req: HttpRequest,
    auth: Option<AuthUser>,
    state: web::Data<AppState>,
    body: web::Json<AcceptBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let (inv, round, _dialogue) =
        open_invitation(&state, &req, &body.token, body.round_id.as_deref()).await?;
    let existing = store::users::find_by_email_key(&state.db, &inv.email_key).await?;
    // Hash a new account's password before the write transaction: it takes a while.
    let new_account = match (&existing, &auth) {
        (Some(user), Some(auth)) if auth.id() == user.id => None,
        (Some(_), Some(_)) => {
            return Err(ApiError::Forbidden(
                "This invitation is for another account.",
            ));
        }
        (Some(_), None) => return Err(ApiError::Unauthorized),
        (None, Some(_)) => {
            return Err(ApiError::Forbidden(
                "This invitation is for another email address.",
            ));
        }
        (None, None) => {
            let password = body.password.ok_or_else(|| {
                ApiError::invalid("password", "is required to create your account")
            })?;
            state.passwords.check_policy("password", &password)?;
            let name = body.display_name.as_deref().unwrap_or(&inv.name);
            let account = NewAccount::parse(&inv.email, name, None, false)?;
            Some((account, state.passwords.hash(password).await?))
        }
    };
    let sides = store::dialogues::sides(&state.db, &round.dialogue_id).await?;
    let limit = sides
        .iter()
        .find(|s| s.key == inv.side_key)
        .map(|s| s.delegation_limit)
        .unwrap_or(0);

    let tx = db::begin_write(&state.db).await?;
    // One accept per round at a time: counts and the single-use check cannot interleave.
    store::lock_row(&tx, "rounds", &round.id).await?;
    let still_open = store::invitations::find_open_by_token(&tx, &inv.token_hash)
        .await?
        .is_some_and(|i| i.id == inv.id);
    if !still_open {
        return Err(invalid_token());
    }
    let user_id = match new_account {
        None => existing.map(|u| u.id).ok_or(ApiError::Unauthorized)?,
        Some((account, hash)) => {
            if store::users::find_by_email_key(&tx, &inv.email_key)
                .await?
                .is_some()
            {
                return Err(invalid_token());
            }
            store::users::create(&tx, account, hash).await?.id
        }
    };
    if store::participants::find(&tx, &round.id, &user_id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "already_participant",
            "You already take part in this round.",
        ));
    }
    if store::participants::count_on_side(&tx, &round.id, &inv.side_key).await? >= limit as u64 {
        return Err(ApiError::conflict(
            "delegation_full",
            "The delegation for this side is full.",
        ));
    }
    if !store::invitations::respond(&tx, &inv.id, ACCEPTED, Some(&user_id)).await? {
        return Err(invalid_token());
    }
    let role: Role = inv.role.parse().map_err(|_| ApiError::Internal)?;
    store::participants::add(&tx, &round.id, &user_id, &inv.side_key, role).await?;
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &round.dialogue_id,
            round_id: Some(&round.id),
            actor_id: Some(&user_id),
            action: "invitation.accepted",
            target_type: "invitation",
            target_id: Some(&inv.id),
            detail: None,
        },
    )
    .await?;
    store::webhooks::emit(
        &tx,
        &round.dialogue_id,
        Event::InvitationAccepted,
        json!({"round_id": round.id, "invitation_id": inv.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(no_store(HttpResponse::Created()).json(Membership {
        round_id: round.id,
        dialogue_id: round.dialogue_id,
        user_id,
        side: inv.side_key,
        role: inv.role,
    }))
}

/// Declines an invitation.
#[utoipa::path(
    tag = "invitations",
    request_body = TokenBody,
    responses((status = 204, description = "Declined"), (status = 400, body = Problem), (status = 422, body = Problem), (status = 429, body = Problem))
)]
#[post("/invitations/decline")]
async fn decline(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<TokenBody>,
) -> ApiResult<HttpResponse> {
    let (inv, round, _) =
        open_invitation(&state, &req, &body.token, body.round_id.as_deref()).await?;
    let tx = db::begin_write(&state.db).await?;
    if !store::invitations::respond(&tx, &inv.id, DECLINED, None).await? {
        return Err(invalid_token());
    }
    store::audit::record(
        &tx,
        Entry {
            dialogue_id: &round.dialogue_id,
            round_id: Some(&round.id),
            actor_id: None,
            action: "invitation.declined",
            target_type: "invitation",
            target_id: Some(&inv.id),
            detail: None,
        },
    )
    .await?;
    store::webhooks::emit(
        &tx,
        &round.dialogue_id,
        Event::InvitationDeclined,
        json!({"round_id": round.id, "invitation_id": inv.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Queues a reminder for pending invitations about to expire. The reminder carries no token:
/// it points to the original mail, and organizers can resend.
pub async fn send_reminders(state: &AppState) -> ApiResult<usize> {
    let horizon = store::now() + Duration::hours(state.settings.invitations.reminder_before_hours);
    let due = store::invitations::due_for_reminder(&state.db, horizon, 50).await?;
    let mut sent = 0;
    for inv in due {
        let Some(round) = store::rounds::find(&state.db, &inv.round_id).await? else {
            continue;
        };
        let tx = db::begin_write(&state.db).await?;
        if store::invitations::mark_reminded(&tx, &inv.id).await? {
            let mail = OutgoingMail {
                to: inv.email.clone(),
                subject: format!("Reminder: invitation to {}", round.title),
                body: format!(
                    "Dear {},\n\nYour invitation to {} expires on {} (UTC). Please use the link in the \
                     invitation we sent you; if you no longer have it, ask the organizers to send it again.\n",
                    inv.name,
                    round.title,
                    inv.expires_at.format("%Y-%m-%d %H:%M"),
                ),
            };
            mail::enqueue(&tx, &state.cipher, "invitation_reminder", &mail).await?;
            sent += 1;
        }
        tx.commit().await?;
    }
    Ok(sent)
}

//! CHECKS 22–26 and the invitation flow around them: a token carries 256 random bits, is shown
//! once and stored only as a hash; accepting is single-use and race-free, also against the
//! delegation limit; every token that opens no invitation gets one identical answer, behind a
//! rate limit; only organizers and the convenor manage invitations, and the side and role come
//! from the stored invitation; tokens travel in POST bodies only and never reach the logs.
//! Also: existing accounts, new accounts, decline, resend, preview, the invitation mail, its
//! durability across a restart, and reminders.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use backchannel::entities::{dialogue_side, invitation, mail_outbox, participant, user};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use reqwest::{Method, Response, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Statement,
};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_problem, binary_command, create_account_with_binary, free_port,
    fresh_database_url, spawn_app, spawn_app_with, spawn_second_node, wait_until_ready,
};

/// A new account's password in accept bodies (12+ characters).
const PASSWORD: &str = "a long passphrase of mine";

/// An app whose invitation rate limit stays out of the way of tests that send many requests.
async fn spawn_unlimited() -> TestApp {
    spawn_app_with(|s| s.rate_limit.invitation_per_ip_per_minute = 100_000).await
}

fn unique_email(label: &str) -> String {
    format!(
        "{label}-{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A token of the real shape (32 random bytes, base64url) that no invitation has.
fn unknown_token() -> String {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn invite_response(
    app: &TestApp,
    bearer: &str,
    round_id: &str,
    email: &str,
    name: &str,
    side: &str,
    role: &str,
) -> Response {
    app.post_json(
        &format!("/api/v1/rounds/{round_id}/invitations"),
        Some(bearer),
        &json!({"email": email, "name": name, "side": side, "role": role}),
    )
    .await
}

/// Invites `email` as `bearer`; returns the 201 body (with the token).
async fn invite(
    app: &TestApp,
    bearer: &str,
    round_id: &str,
    email: &str,
    name: &str,
    side: &str,
    role: &str,
) -> Value {
    let res = invite_response(app, bearer, round_id, email, name, side, role).await;
    assert_eq!(res.status(), StatusCode::CREATED, "invite {email}");
    res.json().await.unwrap()
}

fn token_of(created: &Value) -> String {
    created["token"].as_str().expect("a token").to_owned()
}

fn id_of(created: &Value) -> String {
    created["id"].as_str().expect("an id").to_owned()
}

/// An accept body for the new-account path.
fn new_account(token: &str) -> Value {
    json!({"token": token, "display_name": "New Delegate", "password": PASSWORD})
}

async fn accept(app: &TestApp, body: &Value, bearer: Option<&str>) -> Response {
    app.post_json("/api/v1/invitations/accept", bearer, body)
        .await
}

async fn preview(app: &TestApp, token: &str) -> Response {
    app.post_json(
        "/api/v1/invitations/preview",
        None,
        &json!({"token": token}),
    )
    .await
}

async fn decline(app: &TestApp, token: &str) -> Response {
    app.post_json(
        "/api/v1/invitations/decline",
        None,
        &json!({"token": token}),
    )
    .await
}

/// Status, content type and full body: what "an identical answer" compares.
async fn answer(res: Response) -> (StatusCode, Option<String>, Value) {
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

/// The answer to a token that opens nothing, as a sanity reference.
fn assert_invalid_answer(answer: &(StatusCode, Option<String>, Value), what: &str) {
    assert_eq!(
        answer.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {answer:?}"
    );
    assert_eq!(answer.2["code"], "invalid_invitation", "{what}: {answer:?}");
}

async fn stored_invitation(app: &TestApp, id: &str) -> invitation::Model {
    invitation::Entity::find_by_id(id.to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the invitation row")
}

async fn set_expiry(app: &TestApp, id: &str, at: chrono::DateTime<chrono::Utc>) {
    invitation::Entity::update_many()
        .col_expr(invitation::Column::ExpiresAt, Expr::value(at))
        .filter(invitation::Column::Id.eq(id))
        .exec(&app.db)
        .await
        .unwrap();
}

async fn set_side_limit(app: &TestApp, dialogue_id: &str, side: &str, limit: i32) {
    let res = dialogue_side::Entity::update_many()
        .col_expr(dialogue_side::Column::DelegationLimit, Expr::value(limit))
        .filter(dialogue_side::Column::DialogueId.eq(dialogue_id))
        .filter(dialogue_side::Column::Key.eq(side))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(res.rows_affected, 1, "side {side}");
}

async fn participant_rows(app: &TestApp, round_id: &str) -> u64 {
    participant::Entity::find()
        .filter(participant::Column::RoundId.eq(round_id))
        .count(&app.db)
        .await
        .unwrap()
}

/// Waits until every queued mail was sent and its outbox row deleted.
async fn wait_for_empty_outbox(app: &TestApp) {
    let started = Instant::now();
    while mail_outbox::Entity::find().count(&app.db).await.unwrap() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the outbox was not drained"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Removes quoted-printable soft line breaks, which may split a long token in a mail.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "").replace("=\n", "")
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// How many rows of `table` (`invitations` or `mail_outbox`) hold `needle` in any column.
async fn rows_holding(app: &TestApp, table: &str, needle: &str) -> u64 {
    if app.settings.uses_sqlite() {
        // Every mapped column, through the rows' Debug form (the file scan covers the rest).
        let rows: Vec<String> = match table {
            "invitations" => invitation::Entity::find()
                .all(&app.db)
                .await
                .unwrap()
                .iter()
                .map(|r| format!("{r:?}"))
                .collect(),
            "mail_outbox" => mail_outbox::Entity::find()
                .all(&app.db)
                .await
                .unwrap()
                .iter()
                .map(|r| format!("{r:?}"))
                .collect(),
            other => panic!("no table {other}"),
        };
        rows.iter().filter(|r| r.contains(needle)).count() as u64
    } else {
        // Every column, as PostgreSQL renders the whole row as text.
        let row = app
            .db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT count(*) FROM {table} t WHERE position($1 in t::text) > 0"),
                [needle.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap() as u64
    }
}

/// No row of `invitations` or `mail_outbox` holds the token in any column.
async fn assert_token_in_no_row(app: &TestApp, token: &str) {
    assert_eq!(rows_holding(app, "invitations", token).await, 0);
    assert_eq!(rows_holding(app, "mail_outbox", token).await, 0);
}

// CHECKS 22

#[tokio::test]
async fn invitation_tokens_carry_256_random_bits_and_only_their_hash_is_stored() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let first = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("first"),
        "First Invitee",
        "india",
        "delegate",
    )
    .await;
    let second = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("second"),
        "Second Invitee",
        "pakistan",
        "delegate",
    )
    .await;
    let token = token_of(&first);

    let bytes = URL_SAFE_NO_PAD
        .decode(&token)
        .expect("the token is base64url");
    assert_eq!(bytes.len(), 32, "256 bits");
    assert_ne!(token, token_of(&second));

    let stored = stored_invitation(&app, &id_of(&first)).await;
    assert_ne!(stored.token_hash, token);
    assert!(!stored.token_hash.contains(&token));
    // The search below does see what the rows hold: the hash is found.
    assert_eq!(
        rows_holding(&app, "invitations", &stored.token_hash).await,
        1
    );
    // Before the mail is sent, its outbox row exists, sealed.
    assert_token_in_no_row(&app, &token).await;

    app.mailed(2).await;
    wait_for_empty_outbox(&app).await;
    assert_token_in_no_row(&app, &token).await;
    if app.settings.uses_sqlite() {
        let dir = &app.settings.storage.data_dir;
        let mut scanned = Vec::new();
        // The scan does see the database's content: the stored hash is found.
        let mut hash_found = false;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let content = std::fs::read(&path).unwrap();
            assert!(
                !contains_bytes(&content, token.as_bytes()),
                "the token is in {}",
                path.display()
            );
            if contains_bytes(&content, stored.token_hash.as_bytes()) {
                hash_found = true;
            }
            scanned.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        assert!(
            scanned.contains(&"backchannel.db".to_owned()),
            "{scanned:?}"
        );
        assert!(hash_found, "the token hash is in the database files");
    }
}

// CHECKS 23

#[tokio::test]
async fn an_accepted_invitation_is_single_use() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("once"),
        "Once Only",
        "india",
        "delegate",
    )
    .await;
    let token = token_of(&created);
    assert_eq!(
        accept(&app, &new_account(&token), None).await.status(),
        StatusCode::CREATED
    );

    let again = answer(accept(&app, &new_account(&token), None).await).await;
    let unknown = answer(accept(&app, &new_account(&unknown_token()), None).await).await;
    assert_invalid_answer(&again, "second accept");
    assert_eq!(again, unknown);
    assert_eq!(participant_rows(&app, &f.round_id).await, 1);
}

#[tokio::test]
async fn twenty_concurrent_accepts_of_one_token_give_one_success_and_one_membership() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let email = unique_email("racer");
    let invitation = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &email,
        "Race Condition",
        "india",
        "delegate",
    )
    .await;
    let body = new_account(&token_of(&invitation));

    let answers =
        join_all((0..20).map(|_| async { answer(accept(&app, &body, None).await).await })).await;

    let created: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    for a in answers.iter().filter(|a| a.0 != StatusCode::CREATED) {
        assert_invalid_answer(a, "a losing accept");
    }
    assert_eq!(participant_rows(&app, &f.round_id).await, 1);
    let accounts = user::Entity::find()
        .filter(user::Column::EmailKey.eq(email.to_lowercase()))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 1);
    let stored = stored_invitation(&app, &id_of(&invitation)).await;
    assert_eq!(stored.status, "accepted");
    assert_eq!(stored.user_id.as_deref(), created[0].2["user_id"].as_str());
}

#[tokio::test]
async fn concurrent_accepts_of_different_tokens_fill_a_delegation_exactly_to_its_limit() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    set_side_limit(&app, &f.dialogue_id, "india", 3).await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        let created = invite(
            &app,
            &f.organizer_token,
            &f.round_id,
            &unique_email(&format!("member{i}")),
            "Delegation Member",
            "india",
            "delegate",
        )
        .await;
        tokens.push(token_of(&created));
    }
    // Pending invitations hold their places.
    let fourth = invite_response(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("fourth"),
        "One Too Many",
        "india",
        "delegate",
    )
    .await;
    assert_problem(fourth, StatusCode::CONFLICT, "delegation_full").await;

    let bodies: Vec<Value> = tokens.iter().map(|t| new_account(t)).collect();
    let answers = join_all(
        bodies
            .iter()
            .map(|b| async { answer(accept(&app, b, None).await).await }),
    )
    .await;
    for a in &answers {
        assert_eq!(a.0, StatusCode::CREATED, "{a:?}");
    }
    assert_eq!(participant_rows(&app, &f.round_id).await, 3);

    let fourth = invite_response(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("fourth"),
        "One Too Many",
        "india",
        "delegate",
    )
    .await;
    assert_problem(fourth, StatusCode::CONFLICT, "delegation_full").await;
}

#[tokio::test]
async fn concurrent_accepts_never_exceed_a_lowered_delegation_limit() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    set_side_limit(&app, &f.dialogue_id, "india", 3).await;
    let mut bodies = Vec::new();
    let mut emails = Vec::new();
    for i in 0..3 {
        let email = unique_email(&format!("member{i}"));
        let created = invite(
            &app,
            &f.organizer_token,
            &f.round_id,
            &email,
            "Delegation Member",
            "india",
            "delegate",
        )
        .await;
        bodies.push(new_account(&token_of(&created)));
        emails.push(email);
    }
    set_side_limit(&app, &f.dialogue_id, "india", 2).await;

    let answers = join_all(
        bodies
            .iter()
            .map(|b| async { answer(accept(&app, b, None).await).await }),
    )
    .await;

    let created = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    assert_eq!(created, 2, "{answers:?}");
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.0 != StatusCode::CREATED)
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, StatusCode::CONFLICT, "{refused:?}");
    assert_eq!(refused[0].2["code"], "delegation_full");
    assert_eq!(participant_rows(&app, &f.round_id).await, 2);
    // The refused accept had created its account inside the transaction before it found the
    // delegation full: nothing of it is left, and its invitation is still open.
    let accounts = user::Entity::find()
        .filter(user::Column::Email.is_in(emails.iter().map(String::as_str)))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(accounts, 2, "the refused accept left an account behind");
    let invitations = invitation::Entity::find()
        .filter(invitation::Column::RoundId.eq(f.round_id.as_str()))
        .all(&app.db)
        .await
        .unwrap();
    let mut statuses: Vec<&str> = invitations.iter().map(|i| i.status.as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, ["accepted", "accepted", "pending"]);
}

// CHECKS 24

#[tokio::test]
async fn expired_revoked_used_declined_unknown_and_wrong_round_tokens_get_one_identical_answer() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let other_round = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let mut invited = Vec::new();
    for label in ["expired", "revoked", "used", "declined", "wrong-round"] {
        invited.push(
            invite(
                &app,
                &f.organizer_token,
                &f.round_id,
                &unique_email(label),
                "Some Invitee",
                "india",
                "delegate",
            )
            .await,
        );
    }
    let [expired, revoked, used, declined, wrong_round] = &invited[..] else {
        unreachable!()
    };
    set_expiry(
        &app,
        &id_of(expired),
        chrono::Utc::now() - chrono::Duration::minutes(1),
    )
    .await;
    let revoke = app
        .request(
            Method::DELETE,
            &format!("/api/v1/invitations/{}", id_of(revoked)),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        accept(&app, &new_account(&token_of(used)), None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        decline(&app, &token_of(declined)).await.status(),
        StatusCode::NO_CONTENT
    );

    // (what, token, round_id)
    let unknown = unknown_token();
    let cases = [
        ("unknown", unknown.clone(), None),
        ("expired", token_of(expired), None),
        ("revoked", token_of(revoked), None),
        ("used", token_of(used), None),
        ("declined", token_of(declined), None),
        (
            "wrong round",
            token_of(wrong_round),
            Some(other_round.clone()),
        ),
    ];
    for endpoint in ["preview", "accept", "decline"] {
        let mut answers = Vec::new();
        for (what, token, round_id) in &cases {
            let mut body = if endpoint == "accept" {
                new_account(token)
            } else {
                json!({"token": token})
            };
            if let Some(round_id) = round_id {
                body["round_id"] = json!(round_id);
            }
            let res = app
                .post_json(&format!("/api/v1/invitations/{endpoint}"), None, &body)
                .await;
            answers.push((*what, answer(res).await));
        }
        let reference = &answers[0].1;
        assert_invalid_answer(reference, endpoint);
        for (what, a) in &answers {
            assert_eq!(a, reference, "{endpoint} with a {what} token");
        }
    }

    // The wrong-round attempts changed nothing: with its own round the token still works.
    assert_eq!(
        stored_invitation(&app, &id_of(wrong_round)).await.status,
        "pending"
    );
    let mut body = new_account(&token_of(wrong_round));
    body["round_id"] = json!(f.round_id);
    assert_eq!(
        accept(&app, &body, None).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_accept_endpoint_is_rate_limited_per_client_whatever_the_token() {
    let app = spawn_app_with(|s| s.rate_limit.invitation_per_ip_per_minute = 5).await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("limited"),
        "Rate Limited",
        "india",
        "delegate",
    )
    .await;
    for _ in 0..5 {
        let res = accept(&app, &new_account(&unknown_token()), None).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    // The sixth request carries a valid token: it is refused all the same.
    let res = accept(&app, &new_account(&token_of(&created)), None).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let retry_after: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    assert_eq!(
        stored_invitation(&app, &id_of(&created)).await.status,
        "pending"
    );
    assert_eq!(participant_rows(&app, &f.round_id).await, 0);
}

// CHECKS 25

#[tokio::test]
async fn only_organizers_and_the_convenor_manage_a_rounds_invitations_everyone_else_gets_404() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let round = f.round_id.clone();
    let other_round = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;

    let delegate = app.user("Round Delegate").await;
    app.join(&round, &delegate, "india", "delegate").await;
    let co_chair = app.user("Round Co Chair").await;
    app.join(&round, &co_chair, "pakistan", "co_chair").await;
    let other_organizer = app.user("Other Organizer").await;
    app.dialogue_for(&other_organizer, "Chaophraya Dialogue")
        .await;
    let admin = app.admin().await;
    let other_member = app.user("Other Round Convenor").await;
    app.join(&other_round, &other_member, "india", "convenor")
        .await;
    let convenor = app.user("Round Convenor").await;
    app.join(&round, &convenor, "india", "convenor").await;

    let created = invite(
        &app,
        &f.organizer_token,
        &round,
        &unique_email("target"),
        "Target Invitee",
        "india",
        "delegate",
    )
    .await;
    let id = id_of(&created);
    let unknown = uuid::Uuid::new_v4().to_string();
    let body = json!({"email": unique_email("smuggled"), "name": "Smuggled", "side": "india", "role": "delegate"});

    let outsiders = [
        ("delegate of the round", &delegate),
        ("co-chair of the round", &co_chair),
        ("organizer of another dialogue", &other_organizer),
        ("platform admin", &admin),
        ("member of another round", &other_member),
    ];
    for (who, principal) in outsiders {
        let token = app.token(principal).await;
        let token = Some(token.as_str());
        let pairs = [
            (
                "create",
                app.post_json(&format!("/api/v1/rounds/{round}/invitations"), token, &body)
                    .await,
                app.post_json(
                    &format!("/api/v1/rounds/{unknown}/invitations"),
                    token,
                    &body,
                )
                .await,
            ),
            (
                "list",
                app.get(&format!("/api/v1/rounds/{round}/invitations"), token)
                    .await,
                app.get(&format!("/api/v1/rounds/{unknown}/invitations"), token)
                    .await,
            ),
            (
                "resend",
                app.post_json(
                    &format!("/api/v1/invitations/{id}/resend"),
                    token,
                    &json!({}),
                )
                .await,
                app.post_json(
                    &format!("/api/v1/invitations/{unknown}/resend"),
                    token,
                    &json!({}),
                )
                .await,
            ),
            (
                "revoke",
                app.request(Method::DELETE, &format!("/api/v1/invitations/{id}"), token)
                    .send()
                    .await
                    .unwrap(),
                app.request(
                    Method::DELETE,
                    &format!("/api/v1/invitations/{unknown}"),
                    token,
                )
                .send()
                .await
                .unwrap(),
            ),
        ];
        for (action, real, missing) in pairs {
            let real = answer(real).await;
            let missing = answer(missing).await;
            assert_eq!(missing.0, StatusCode::NOT_FOUND, "{who} {action} unknown");
            assert_eq!(real, missing, "{who} may not {action}");
        }
    }
    // Nothing changed: one invitation, still pending, its token still opens it.
    let list: Value = app
        .get(
            &format!("/api/v1/rounds/{round}/invitations"),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["status"], "pending");
    assert_eq!(
        preview(&app, &token_of(&created)).await.status(),
        StatusCode::OK
    );

    // The convenor may do all four.
    let token = app.token(&convenor).await;
    let mine = invite(
        &app,
        &token,
        &round,
        &unique_email("convenors"),
        "Convenor Guest",
        "pakistan",
        "observer",
    )
    .await;
    let list = app
        .get(&format!("/api/v1/rounds/{round}/invitations"), Some(&token))
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let resent = app
        .post_json(
            &format!("/api/v1/invitations/{}/resend", id_of(&mine)),
            Some(&token),
            &json!({}),
        )
        .await;
    assert_eq!(resent.status(), StatusCode::CREATED);
    let revoked = app
        .request(
            Method::DELETE,
            &format!("/api/v1/invitations/{}", id_of(&mine)),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_role_and_side_come_from_the_stored_invitation_never_from_the_accept_body() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("modest"),
        "Modest Delegate",
        "india",
        "delegate",
    )
    .await;
    let token = token_of(&created);

    for (field, value) in [
        ("role", "organizer"),
        ("role", "convenor"),
        ("side", "pakistan"),
        ("is_organizer", "true"),
    ] {
        let mut body = new_account(&token);
        body[field] = json!(value);
        let res = accept(&app, &body, None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}: {value}");
    }
    assert_eq!(participant_rows(&app, &f.round_id).await, 0);
    assert_eq!(
        stored_invitation(&app, &id_of(&created)).await.status,
        "pending"
    );

    let res = accept(&app, &new_account(&token), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let membership: Value = res.json().await.unwrap();
    assert_eq!(membership["side"], "india");
    assert_eq!(membership["role"], "delegate");
    let roster: Value = app
        .get(
            &format!("/api/v1/rounds/{}/participants", f.round_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let items = roster["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{roster}");
    assert_eq!(items[0]["user_id"], membership["user_id"]);
    assert_eq!(items[0]["side"], "india");
    assert_eq!(items[0]["role"], "delegate");
}

// CHECKS 26

#[tokio::test]
async fn tokens_in_a_query_string_or_path_are_never_accepted() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("query"),
        "Query String",
        "india",
        "delegate",
    )
    .await;
    let token = token_of(&created);

    let res = app
        .get(&format!("/api/v1/invitations/preview?token={token}"), None)
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app
        .post_json(
            &format!("/api/v1/invitations/accept?token={token}"),
            None,
            &json!({}),
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = app
        .post_json(
            &format!(
                "/api/v1/invitations/accept?token={token}&password={}",
                "a+long+passphrase+of+mine"
            ),
            None,
            &json!({}),
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());

    for (method, path) in [
        (Method::GET, format!("/api/v1/invitations/{token}")),
        (Method::POST, format!("/api/v1/invitations/{token}")),
        (Method::GET, format!("/api/v1/invitations/{token}/accept")),
        (Method::POST, format!("/api/v1/invitations/{token}/accept")),
        (Method::GET, format!("/api/v1/invitations/accept/{token}")),
        (Method::POST, format!("/api/v1/invitations/accept/{token}")),
    ] {
        let res = app
            .request(method.clone(), &path, None)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }

    assert_eq!(participant_rows(&app, &f.round_id).await, 0);
    assert_eq!(
        stored_invitation(&app, &id_of(&created)).await.status,
        "pending"
    );
}

#[tokio::test]
async fn a_full_invite_and_accept_flow_leaves_no_token_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let db_url = fresh_database_url().await;
    let port = free_port();
    let organizer_password = "organizer-password-51c0e2";

    let mut logs = create_account_with_binary(
        &data_dir,
        &db_url,
        port,
        ("organizer@example.org", "Organizer Person"),
        true,
        organizer_password,
    );

    let mut server = binary_command(&data_dir, &db_url, port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_ready(&client, &base).await;
    let post = |path: &str, bearer: Option<&str>, body: Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(bearer) = bearer {
            req = req.bearer_auth(bearer);
        }
        async move { req.send().await.unwrap() }
    };
    let body_of_201 = |res: Response| async move {
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json::<Value>().await.unwrap()
    };

    let pair: Value = post(
        "/api/v1/auth/login",
        None,
        json!({"email": "organizer@example.org", "password": organizer_password}),
    )
    .await
    .json()
    .await
    .unwrap();
    let organizer = pair["access_token"].as_str().unwrap().to_owned();
    let dialogue = body_of_201(
        post(
            "/api/v1/dialogues",
            Some(&organizer),
            json!({"name": "Neemrana Dialogue", "format": "neemrana"}),
        )
        .await,
    )
    .await;
    let side = dialogue["sides"][0]["key"].as_str().unwrap().to_owned();
    let round = body_of_201(
        post(
            &format!("/api/v1/dialogues/{}/rounds", dialogue["id"].as_str().unwrap()),
            Some(&organizer),
            json!({"title": "Round 1", "timezone": "Asia/Kolkata", "starts_on": "2027-02-10",
                   "ends_on": "2027-02-12", "venue": {"name": "Neemrana Fort-Palace", "city": "Neemrana"}}),
        )
        .await,
    )
    .await;
    let round_id = round["id"].as_str().unwrap().to_owned();
    let invitation = body_of_201(
        post(
            &format!("/api/v1/rounds/{round_id}/invitations"),
            Some(&organizer),
            json!({"email": "invitee@example.org", "name": "Invited Person", "side": side, "role": "delegate"}),
        )
        .await,
    )
    .await;
    let token = token_of(&invitation);
    let previewed = post("/api/v1/invitations/preview", None, json!({"token": token})).await;
    assert_eq!(previewed.status(), StatusCode::OK);
    let invitee_password = "invitee-password-9d24b7";
    let membership = body_of_201(
        post(
            "/api/v1/invitations/accept",
            None,
            json!({"token": token, "round_id": round_id, "display_name": "Invited Person", "password": invitee_password}),
        )
        .await,
    )
    .await;
    assert_eq!(membership["side"], side.as_str());
    let login = post(
        "/api/v1/auth/login",
        None,
        json!({"email": "invitee@example.org", "password": invitee_password}),
    )
    .await;
    assert_eq!(login.status(), StatusCode::OK);
    // Let the sender deliver (and log) the invitation mail before stopping.
    let started = Instant::now();
    while std::fs::read_dir(data_dir.join("outbox"))
        .map(|d| d.count())
        .unwrap_or(0)
        == 0
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no mail sent");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    logs.push_str(&out);
    assert!(
        logs.contains("\"route\":\"/api/v1/invitations/accept\""),
        "request lines are logged: {logs}"
    );
    assert!(
        logs.contains("mail sent"),
        "the sender's lines are logged: {logs}"
    );
    // The mail sender logs neither recipients nor bodies (src/mail.rs), and no request line
    // carries a body.
    for secret in [
        token.as_str(),
        invitee_password,
        organizer_password,
        "invitee@example.org",
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret:?}");
    }
}

// Accounts, decline, resend and preview

#[tokio::test]
async fn an_invitation_to_an_existing_account_needs_that_accounts_sign_in() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let invitee = app.user("Existing Invitee").await;
    let someone_else = app.user("Someone Else").await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &invitee.email.to_uppercase(),
        "Existing Invitee",
        "pakistan",
        "rapporteur",
    )
    .await;
    let body = json!({"token": token_of(&created)});

    let res = accept(&app, &body, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A password does not replace the sign-in either.
    let res = accept(&app, &new_account(&token_of(&created)), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let other_token = app.token(&someone_else).await;
    let res = accept(&app, &body, Some(&other_token)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(participant_rows(&app, &f.round_id).await, 0);

    let token = app.token(&invitee).await;
    let res = accept(&app, &body, Some(&token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let membership: Value = res.json().await.unwrap();
    assert_eq!(membership["user_id"], invitee.id.as_str());
    assert_eq!(membership["round_id"], f.round_id.as_str());
    assert_eq!(membership["side"], "pakistan");
    assert_eq!(membership["role"], "rapporteur");
    // The invitee is now a member: the round's roster opens to them.
    let roster = app
        .get(
            &format!("/api/v1/rounds/{}/participants", f.round_id),
            Some(&token),
        )
        .await;
    assert_eq!(roster.status(), StatusCode::OK);
    let roster: Value = roster.json().await.unwrap();
    assert_eq!(
        roster["items"][0]["user_id"],
        invitee.id.as_str(),
        "{roster}"
    );
    // The other account gained nothing.
    let other = app
        .get(
            &format!("/api/v1/rounds/{}/participants", f.round_id),
            Some(&other_token),
        )
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_invitation_to_a_new_email_creates_an_account_that_can_log_in() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let email = unique_email("newcomer");
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &email,
        "Invited Name",
        "india",
        "observer",
    )
    .await;
    let body =
        json!({"token": token_of(&created), "display_name": "Chosen Name", "password": PASSWORD});

    // Someone signed in to another account cannot take a new email's invitation.
    let stranger = app.user("Stranger").await;
    let res = accept(&app, &body, Some(&app.token(&stranger).await)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A short password is refused, and the invitation stays open.
    let mut short = body.clone();
    short["password"] = json!("short");
    let res = accept(&app, &short, None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = accept(&app, &body, None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let membership: Value = res.json().await.unwrap();
    let login = app.login_response(&email, PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    let access: Value = login.json().await.unwrap();
    let roster: Value = app
        .get(
            &format!("/api/v1/rounds/{}/participants", f.round_id),
            access["access_token"].as_str(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(roster["items"][0]["user_id"], membership["user_id"]);
    assert_eq!(roster["items"][0]["display_name"], "Chosen Name");
    assert_eq!(roster["items"][0]["role"], "observer");
}

#[tokio::test]
async fn a_declined_invitation_cannot_then_be_accepted() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("decliner"),
        "Polite Decliner",
        "india",
        "delegate",
    )
    .await;
    let token = token_of(&created);
    assert_eq!(decline(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        stored_invitation(&app, &id_of(&created)).await.status,
        "declined"
    );

    let after = answer(accept(&app, &new_account(&token), None).await).await;
    let unknown = answer(accept(&app, &new_account(&unknown_token()), None).await).await;
    assert_invalid_answer(&after, "accept after decline");
    assert_eq!(after, unknown);
    assert_eq!(
        answer(decline(&app, &token).await).await,
        answer(decline(&app, &unknown_token()).await).await
    );
    assert_eq!(participant_rows(&app, &f.round_id).await, 0);
}

#[tokio::test]
async fn a_resent_invitation_has_a_new_token_and_the_old_one_stops_working() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("resent"),
        "Lost Mail",
        "india",
        "delegate",
    )
    .await;
    let old = token_of(&created);
    let res = app
        .post_json(
            &format!("/api/v1/invitations/{}/resend", id_of(&created)),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let resent: Value = res.json().await.unwrap();
    let new = token_of(&resent);
    assert_ne!(new, old);
    assert_eq!(URL_SAFE_NO_PAD.decode(&new).unwrap().len(), 32);
    assert_eq!(id_of(&resent), id_of(&created));

    let unknown = answer(preview(&app, &unknown_token()).await).await;
    assert_eq!(answer(preview(&app, &old).await).await, unknown);
    let unknown = answer(accept(&app, &new_account(&unknown_token()), None).await).await;
    assert_eq!(
        answer(accept(&app, &new_account(&old), None).await).await,
        unknown
    );
    assert_invalid_answer(&unknown, "unknown token");

    assert_eq!(preview(&app, &new).await.status(), StatusCode::OK);
    assert_eq!(
        accept(&app, &new_account(&new), None).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(participant_rows(&app, &f.round_id).await, 1);
}

#[tokio::test]
async fn the_preview_shows_the_round_side_and_role_and_nothing_about_other_invitees() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    let other_email = unique_email("other.invitee");
    let member = app.user("Sitting Member").await;
    app.join(&f.round_id, &member, "pakistan", "co_chair").await;
    invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &other_email,
        "Zafar Qureshi",
        "pakistan",
        "co_chair",
    )
    .await;
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &unique_email("previewer"),
        "Previewing Person",
        "india",
        "facilitator",
    )
    .await;

    let res = preview(&app, &token_of(&created)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["round_title"], "Round 1");
    assert_eq!(body["starts_on"], "2027-02-10");
    assert_eq!(body["ends_on"], "2027-02-12");
    assert_eq!(body["venue"]["name"], "Neemrana Fort-Palace");
    assert_eq!(body["venue"]["city"], "Neemrana");
    assert_eq!(body["side"], "India");
    assert_eq!(body["role"], "facilitator");
    let text = body.to_string();
    for other in [
        other_email.as_str(),
        "Zafar Qureshi",
        member.email.as_str(),
        "Sitting Member",
        member.id.as_str(),
        f.organizer.email.as_str(),
        "Organizer Person",
    ] {
        assert!(!text.contains(other), "the preview shows {other:?}: {text}");
    }
    // The token itself opens the preview: it is not echoed back.
    assert!(!text.contains(&token_of(&created)));
}

// Mail

#[tokio::test]
async fn the_invitation_mail_carries_the_same_token_as_the_201_body() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let email = unique_email("mailed");
    let created = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        &email,
        "Mailed Invitee",
        "india",
        "delegate",
    )
    .await;
    assert_eq!(app.mailed_token(&email).await, token_of(&created));
    let mails = app.mailed(1).await;
    let (_, text) = mails
        .iter()
        .find(|(to, _)| to.eq_ignore_ascii_case(&email))
        .unwrap();
    assert!(text.contains("Round 1"), "{text}");
}

#[tokio::test]
async fn an_invitation_queued_while_mail_cannot_be_delivered_is_sent_after_a_restart() {
    // The first node runs on its own runtime, so that stopping it stops its mail sender too.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let closed_port = free_port();
    let first_dir = data_dir.clone();
    let (url, email, token) = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = runtime.block_on(async move {
            let app = spawn_app_with(move |s| {
                s.storage.data_dir = first_dir;
                s.mail.transport = "smtp".into();
                s.mail.smtp_host = "127.0.0.1".into();
                s.mail.smtp_port = closed_port;
                s.mail.smtp_security = "none".into();
            })
            .await;
            let f = app.round_fixture().await;
            let email = unique_email("patient");
            let created = invite(
                &app,
                &f.organizer_token,
                &f.round_id,
                &email,
                "Patient Invitee",
                "india",
                "delegate",
            )
            .await;
            // The first attempt fails and leaves the message queued for a later one.
            let started = Instant::now();
            loop {
                let rows = mail_outbox::Entity::find().all(&app.db).await.unwrap();
                assert_eq!(rows.len(), 1);
                if rows[0].attempts >= 1 {
                    assert!(!rows[0].failed);
                    assert!(rows[0].last_error.is_some());
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "no delivery attempt"
                );
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert_eq!(backchannel::mail::pending_count(&app.db).await.unwrap(), 1);
            let eml = std::fs::read_dir(app.outbox_dir())
                .map(|d| d.count())
                .unwrap_or(0);
            assert_eq!(eml, 0, "nothing was written to the outbox directory");
            (app.settings.database.url.clone(), email, token_of(&created))
        });
        runtime.shutdown_timeout(Duration::from_secs(2));
        result
    })
    .join()
    .expect("the first node ran");

    let second = spawn_app_with(move |s| {
        s.storage.data_dir = data_dir;
        s.database.url = url;
    })
    .await;
    assert_eq!(second.mailed_token(&email).await, token);
    wait_for_empty_outbox(&second).await;
    assert_eq!(
        backchannel::mail::pending_count(&second.db).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn an_invitation_about_to_expire_gets_one_reminder_without_its_token() {
    let first = spawn_app().await;
    let f = first.round_fixture().await;
    let email = unique_email("forgetful");
    let created = invite(
        &first,
        &f.organizer_token,
        &f.round_id,
        &email,
        "Forgetful Invitee",
        "india",
        "delegate",
    )
    .await;
    first.mailed(1).await;
    set_expiry(
        &first,
        &id_of(&created),
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
    .await;

    // The reminder pass runs at start and then every minute: a second node on the same data
    // makes it run now.
    let second = spawn_second_node(&first).await;
    let mails = second.mailed(2).await;
    let to_invitee: Vec<_> = mails
        .iter()
        .filter(|(to, _)| to.eq_ignore_ascii_case(&email))
        .collect();
    assert_eq!(to_invitee.len(), 2, "{mails:?}");
    let reminder = to_invitee
        .iter()
        .map(|(_, text)| unfolded(text))
        .find(|text| text.contains("Subject: Reminder"))
        .expect("a reminder");
    assert!(!reminder.contains(&token_of(&created)), "{reminder}");
    assert!(!reminder.contains("#token="), "{reminder}");
    assert!(
        stored_invitation(&second, &id_of(&created))
            .await
            .reminder_sent_at
            .is_some()
    );
    // A third start sends no second reminder.
    let (data_dir, url) = (
        second.settings.storage.data_dir.clone(),
        second.settings.database.url.clone(),
    );
    let third = spawn_app_with(move |s| {
        s.storage.data_dir = data_dir;
        s.database.url = url;
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_for_empty_outbox(&third).await;
    assert_eq!(third.mailed(0).await.len(), 2);
}

#[tokio::test]
async fn resending_an_expired_invitation_respects_the_delegation_limit_and_duplicate_emails() {
    let app = spawn_unlimited().await;
    let f = app.round_fixture().await;
    set_side_limit(&app, &f.dialogue_id, "india", 2).await;
    let a = invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        "a@example.org",
        "A",
        "india",
        "delegate",
    )
    .await;
    set_expiry(
        &app,
        &id_of(&a),
        chrono::Utc::now() - chrono::Duration::hours(1),
    )
    .await;
    invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        "b@example.org",
        "B",
        "india",
        "delegate",
    )
    .await;
    invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        "c@example.org",
        "C",
        "india",
        "delegate",
    )
    .await;
    // The two open places are taken: reopening A would make three.
    let res = app
        .post_json(
            &format!("/api/v1/invitations/{}/resend", id_of(&a)),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "delegation_full").await;
    assert_eq!(
        stored_invitation(&app, &id_of(&a)).await.token_hash,
        backchannel::auth::tokens::hash_opaque(&token_of(&a)),
        "unchanged"
    );

    // A second, open invitation to the same email blocks reopening the expired one.
    set_side_limit(&app, &f.dialogue_id, "india", 8).await;
    invite(
        &app,
        &f.organizer_token,
        &f.round_id,
        "a@example.org",
        "A again",
        "india",
        "delegate",
    )
    .await;
    let res = app
        .post_json(
            &format!("/api/v1/invitations/{}/resend", id_of(&a)),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "already_invited").await;
    // A pending, unexpired invitation can always be resent (it already holds its place).
    set_side_limit(&app, &f.dialogue_id, "india", 3).await;
    let b_id = invitation::Entity::find()
        .filter(invitation::Column::EmailKey.eq("b@example.org"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let res = app
        .post_json(
            &format!("/api/v1/invitations/{b_id}/resend"),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

//! API tokens: scoped, hashed at rest, never more than their owner, never near notes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn an_api_token_acts_within_its_scopes_and_its_owners_current_rights() {
    use backchannel::entities::api_token;
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            Some(&f.organizer_token),
            &json!({"name": "Travel desk", "scopes": ["rounds:read", "participants:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("bct_"));
    let stored = api_token::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].token_hash.contains(&token[4..]),
        "only a hash is stored"
    );

    let round = format!("/api/v1/rounds/{}", f.round_id);
    assert_eq!(app.get(&round, Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("{round}/participants"), Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
    // Outside its scopes, and never notes, the record or account management.
    let res = app
        .send_json(
            Method::PATCH,
            &round,
            Some(&token),
            &json!({"title": "By token"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    for path in [
        format!("{round}/notes"),
        format!("{round}/record"),
        "/api/v1/me/notes".to_owned(),
        "/api/v1/me/tokens".to_owned(),
    ] {
        assert_problem(
            app.get(&path, Some(&token)).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    let res = app
        .post_json(
            &format!("{round}/notes"),
            Some(&token),
            &json!({"visibility": "private", "body": "x"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    // The owner stops organizing: the token loses the round on the next request.
    let other = app.user("Other Organizer").await;
    backchannel::store::dialogues::add_organizer(&app.db, &f.dialogue_id, &other.id)
        .await
        .unwrap();
    backchannel::store::dialogues::remove_organizer(&app.db, &f.dialogue_id, &f.organizer.id)
        .await
        .unwrap();
    assert_problem(
        app.get(&round, Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The list shows last use; revoking stops the token at once.
    let list: Value = app
        .get("/api/v1/me/tokens", Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"][0]["last_used_at"].is_string());
    assert!(list["items"][0].get("token").is_none());
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{}", created["id"].as_str().unwrap()),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get("/api/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn bad_token_requests_are_refused_and_expired_or_foreign_tokens_do_nothing() {
    use backchannel::entities::api_token;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app().await;
    let user = app.user("Integrator").await;
    let session = app.token(&user).await;
    for (body, field) in [
        (json!({"name": "", "scopes": ["rounds:read"]}), "name"),
        (json!({"name": "x", "scopes": []}), "scopes"),
        (
            json!({"name": "x", "scopes": ["rounds:read"], "expires_in_days": 400}),
            "expires_in_days",
        ),
    ] {
        let res = app
            .post_json("/api/v1/me/tokens", Some(&session), &body)
            .await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            Some(&session),
            &json!({"name": "x", "scopes": ["notes:read"]}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;

    let created: Value = app
        .post_json(
            "/api/v1/me/tokens",
            Some(&session),
            &json!({"name": "x", "scopes": ["rounds:read"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(token)).await.status(),
        StatusCode::OK
    );
    // A token cannot mint tokens.
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            Some(token),
            &json!({"name": "y", "scopes": ["rounds:read"]}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Another account cannot revoke it.
    let other = app.user("Other").await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/me/tokens/{}", created["id"].as_str().unwrap()),
            Some(&app.token(&other).await),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // Expired.
    api_token::Entity::update_many()
        .col_expr(
            api_token::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)),
        )
        .filter(api_token::Column::Id.eq(created["id"].as_str().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    assert_problem(
        app.get("/api/v1/me", Some(token)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.get("/api/v1/me", Some("bct_not-a-real-token")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

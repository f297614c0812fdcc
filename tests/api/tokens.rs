//! CHECKS 5–7: forged, mistyped and expired tokens get 401; logout, password change and
//! deactivation stop old tokens on the next request; refresh tokens rotate and reuse revokes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn signing_key(app: &TestApp) -> Vec<u8> {
    std::fs::read_to_string(app.settings.storage.data_dir.join("signing.key"))
        .unwrap()
        .trim()
        .as_bytes()
        .to_vec()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/api/v1/me", Some(token)).await.status()
}

#[tokio::test]
async fn forged_and_mistyped_tokens_get_401() {
    let app = spawn_app().await;
    let user = app.user("Token Holder").await;
    let pair = app.login(&user).await;
    let good = pair["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, good).await, StatusCode::OK);
    let key = signing_key(&app);
    let claims = claims_of(good);
    // A token re-signed with the real key and unchanged claims is accepted: the forgeries
    // below fail for the one thing each changes.
    assert_eq!(
        me_status(&app, &sign(&claims, Algorithm::HS256, &key)).await,
        StatusCode::OK
    );

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut forged = vec![
        ("alg none", format!("{header_none}.{body}.")),
        ("HS384", sign(&claims, Algorithm::HS384, &key)),
        ("HS512", sign(&claims, Algorithm::HS512, &key)),
        (
            "another key",
            sign(
                &claims,
                Algorithm::HS256,
                b"another-key-another-key-another-key-0123",
            ),
        ),
        (
            "refresh token as access token",
            pair["refresh_token"].as_str().unwrap().to_owned(),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    let mut flipped = good.as_bytes().to_vec();
    let i = flipped.len() - 3;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    forged.push((
        "flipped signature byte",
        String::from_utf8(flipped).unwrap(),
    ));

    for (name, token) in forged {
        let res = app.get("/api/v1/me", Some(&token)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        let body = assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert!(!body.to_string().contains(&user.email), "{name}");
    }
}

#[tokio::test]
async fn expired_incomplete_and_misaddressed_claims_get_401() {
    let app = spawn_app().await;
    let user = app.user("Claims").await;
    let good = app.token(&user).await;
    let key = signing_key(&app);
    let base = claims_of(&good);
    let now = chrono::Utc::now().timestamp();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = base.as_object().unwrap().clone();
        f(&mut c);
        sign(&Value::Object(c), Algorithm::HS256, &key)
    };
    let cases = vec![
        (
            "expired beyond leeway",
            with(&|c| {
                c.insert("exp".into(), json!(now - 120));
            }),
        ),
        (
            "missing exp",
            with(&|c| {
                c.remove("exp");
            }),
        ),
        (
            "missing iss",
            with(&|c| {
                c.remove("iss");
            }),
        ),
        (
            "missing aud",
            with(&|c| {
                c.remove("aud");
            }),
        ),
        (
            "missing sub",
            with(&|c| {
                c.remove("sub");
            }),
        ),
        (
            "missing jti",
            with(&|c| {
                c.remove("jti");
            }),
        ),
        (
            "wrong iss",
            with(&|c| {
                c.insert("iss".into(), json!("someone-else"));
            }),
        ),
        (
            "wrong aud",
            with(&|c| {
                c.insert("aud".into(), json!("another-api"));
            }),
        ),
        (
            "exp as a string",
            with(&|c| {
                c.insert("exp".into(), json!("never"));
            }),
        ),
        (
            "nbf as a string",
            with(&|c| {
                c.insert("nbf".into(), json!("never"));
            }),
        ),
        (
            "not yet valid",
            with(&|c| {
                c.insert("nbf".into(), json!(now + 600));
            }),
        ),
        (
            "another type",
            with(&|c| {
                c.insert("typ".into(), json!("refresh"));
            }),
        ),
        (
            "old token version",
            with(&|c| {
                c.insert("ver".into(), json!(-1));
            }),
        ),
        (
            "unknown session",
            with(&|c| {
                c.insert("sid".into(), json!(uuid::Uuid::new_v4().to_string()));
            }),
        ),
    ];
    for (name, token) in cases {
        assert_eq!(
            me_status(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{name}"
        );
    }
    assert_eq!(me_status(&app, &good).await, StatusCode::OK);
}

#[tokio::test]
async fn the_service_refuses_to_start_with_a_short_signing_secret() {
    let mut settings = crate::helpers::test_settings();
    let dir = tempfile::tempdir().unwrap();
    settings.storage.data_dir = dir.path().join("data");
    settings.auth.signing_secret = "only-31-bytes-long-secret-value".to_owned().into();
    let err = backchannel::startup::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("auth.signing_secret"), "{err}");
}

#[tokio::test]
async fn after_logout_the_old_access_token_gets_401() {
    let app = spawn_app().await;
    let user = app.user("Logout").await;
    let pair = app.login(&user).await;
    let other_session = app.token(&user).await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Logging out one session leaves the others alone.
    assert_eq!(me_status(&app, &other_session).await, StatusCode::OK);
}

#[tokio::test]
async fn a_password_change_revokes_every_older_token_and_returns_a_new_pair() {
    let app = spawn_app().await;
    let user = app.user("Changer").await;
    let first = app.login(&user).await;
    let second = app.login(&user).await;
    let res = app
        .post_json(
            "/api/v1/me/password",
            first["access_token"].as_str(),
            &json!({"current_password": user.password, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let fresh: Value = res.json().await.unwrap();
    for old in [&first, &second] {
        assert_eq!(
            me_status(&app, old["access_token"].as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED
        );
        let res = app
            .post_json(
                "/api/v1/auth/refresh",
                None,
                &json!({"refresh_token": old["refresh_token"]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        me_status(&app, fresh["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    assert_eq!(
        app.login_response(&user.email, &user.password)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_response(&user.email, "a brand new passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = spawn_app().await;
    let user = app.user("Careful").await;
    let token = app.token(&user).await;
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": "not my password", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(me_status(&app, &token).await, StatusCode::OK);
    assert_eq!(
        app.login_response(&user.email, &user.password)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deactivating_an_account_stops_its_tokens_on_the_next_request() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let admin_token = app.token(&admin).await;
    let user = app.user("Deactivated").await;
    let pair = app.login(&user).await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(me_status(&app, access).await, StatusCode::OK);
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", user.id),
            Some(&admin_token),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_whole_session() {
    let app = spawn_app().await;
    let user = app.user("Rotator").await;
    let first = app.login(&user).await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        me_status(&app, second["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );

    // The first refresh token again: theft is assumed, the whole session ends.
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = app
        .post_json(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": second["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_status(&app, second["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_tokens_are_256_bit_and_stored_only_as_a_hash() {
    use backchannel::entities::refresh_token;
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let user = app.user("Hashed").await;
    let pair = app.login(&user).await;
    let token = pair["refresh_token"].as_str().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(token).unwrap().len(), 32);
    let rows = refresh_token::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].token_hash, token);
    assert!(!rows[0].token_hash.contains(token));
}

/// Round routes read the session in the same query as the caller's seat in the round: a
/// member's token stops working there too once the member signs out, changes password or is
/// deactivated, with the 401 of any stale token and never the round's 404 or its content.
#[tokio::test]
async fn round_routes_refuse_a_stale_session_before_looking_at_the_round() {
    let app = spawn_app().await;
    let fixture = app.round_fixture().await;
    let admin_token = app.token(&app.admin().await).await;
    let round = format!("/api/v1/rounds/{}", fixture.round_id);
    let missing = format!("/api/v1/rounds/{}", uuid::Uuid::new_v4());
    let notes = format!("{round}/notes");
    let note = json!({"visibility": "private", "body": "my own note"});
    let outsider = app.token(&app.user("Outsider Person").await).await;
    assert_eq!(
        app.get(&round, Some(&outsider)).await.status(),
        StatusCode::NOT_FOUND
    );

    let mut members = Vec::new();
    for name in ["Signed Out", "Password Changer", "Deactivated Member"] {
        let member = app.user(name).await;
        app.join(&fixture.round_id, &member, "india", "delegate")
            .await;
        let pair = app.login(&member).await;
        let access = pair["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            app.get(&round, Some(&access)).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.get(&missing, Some(&access)).await.status(),
            StatusCode::NOT_FOUND
        );
        // A member hears that the draft round takes no notes yet; a stale token hears less.
        assert_eq!(
            app.post_json(&notes, Some(&access), &note).await.status(),
            StatusCode::CONFLICT
        );
        members.push((member, pair, access));
    }
    let [(_, out_pair, _), (changer, _, changer_access), (gone, _, _)] = &members[..] else {
        unreachable!()
    };
    let res = app
        .post_json(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": out_pair["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .post_json(
            "/api/v1/me/password",
            Some(changer_access),
            &json!({"current_password": changer.password, "new_password": "a-new-password-long-enough"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", gone.id),
            Some(&admin_token),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    for (_, _, access) in &members {
        for path in [&round, &missing] {
            let res = app.get(path, Some(access)).await;
            assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        let res = app.post_json(&notes, Some(access), &note).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_eq!(me_status(&app, access).await, StatusCode::UNAUTHORIZED);
    }
}

/// Round requests keep the caller's session and seat between requests (`access::Seats`). Every
/// change to what that read found is seen by the very next request when this process made it
/// (through a route or through its pool), and within `SEAT_TTL` when another process did.
#[tokio::test]
async fn a_kept_seat_gives_way_at_once_to_every_change_behind_it() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let round = format!("/api/v1/rounds/{}", f.round_id);
    let member = app.user("Kept Member").await;
    app.join(&f.round_id, &member, "india", "delegate").await;
    let token = app.token(&member).await;
    let seen = |field: &'static str| {
        let (app, round, token) = (&app, &round, &token);
        async move {
            let res = app.get(round, Some(token)).await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()[field].clone()
        }
    };
    // Read twice, so the second answer came from the kept read.
    assert_eq!(seen("my_role").await, "delegate");
    assert_eq!(seen("my_role").await, "delegate");

    // The seat, changed through a route.
    let seat = format!("{round}/participants/{}", member.id);
    let res = app
        .send_json(
            Method::PATCH,
            &seat,
            Some(&f.organizer_token),
            &json!({"role": "rapporteur"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen("my_role").await, "rapporteur");

    // The round itself.
    let res = app
        .send_json(
            Method::PATCH,
            &round,
            Some(&f.organizer_token),
            &json!({"title": "Round 1, renamed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen("title").await, "Round 1, renamed");

    // The seat, changed through this process's pool past every route.
    use backchannel::entities::participant;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    participant::Entity::update_many()
        .col_expr(
            participant::Column::Role,
            sea_orm::sea_query::Expr::value("observer"),
        )
        .filter(participant::Column::UserId.eq(&member.id))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(seen("my_role").await, "observer");

    // Removed from the round, and seated again.
    let res = app
        .request(Method::DELETE, &seat, Some(&f.organizer_token))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "removal: {}", res.status());
    let res = app.get(&round, Some(&token)).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    app.join(&f.round_id, &member, "india", "delegate").await;
    assert_eq!(seen("my_role").await, "delegate");

    // Disabled by another process, which this one cannot count: seen within SEAT_TTL.
    assert_eq!(seen("my_role").await, "delegate");
    if app.settings.uses_sqlite() {
        let path = app
            .db
            .get_sqlite_connection_pool()
            .connect_options()
            .get_filename()
            .to_owned();
        let other = rusqlite::Connection::open(path).unwrap();
        other
            .busy_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        let changed = other
            .execute("UPDATE users SET disabled = 1 WHERE id = ?1", [&member.id])
            .unwrap();
        assert_eq!(changed, 1);
    } else {
        use backchannel::entities::user;
        user::Entity::update_many()
            .col_expr(
                user::Column::Disabled,
                sea_orm::sea_query::Expr::value(true),
            )
            .filter(user::Column::Id.eq(&member.id))
            .exec(&app.db)
            .await
            .unwrap();
    }
    tokio::time::sleep(backchannel::access::SEAT_TTL + std::time::Duration::from_millis(50)).await;
    let res = app.get(&round, Some(&token)).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

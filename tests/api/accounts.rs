//! Accounts: admin creation and administration, own profile.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn an_admin_creates_an_account_that_can_log_in() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let res = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &json!({"email": "Meera.Rao@Example.org", "display_name": "Meera Rao",
                    "affiliation": "Convening Institute", "password": "organizer passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "Meera.Rao@Example.org");
    assert!(body.get("password_hash").is_none() && body.get("token_version").is_none());
    assert_eq!(
        app.login_response("meera.rao@example.org", "organizer passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_duplicate_email_in_any_case_gets_409() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let body = |email: &str| json!({"email": email, "display_name": "Dup", "password": "duplicate passphrase"});
    assert_eq!(
        app.post_json("/api/v1/users", Some(&token), &body("dup@example.org"))
            .await
            .status(),
        StatusCode::CREATED
    );
    let res = app
        .post_json("/api/v1/users", Some(&token), &body("DUP@example.ORG"))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "already_exists").await;
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = spawn_app().await;
    let user = app.user("Not Admin").await;
    let token = app.token(&user).await;
    let create =
        json!({"email": "x@example.org", "display_name": "X", "password": "some long passphrase"});
    assert_problem(
        app.post_json("/api/v1/users", Some(&token), &create).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get("/api/v1/users", Some(&token)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", user.id),
            Some(&token),
            &json!({"is_admin": true}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    for res in [
        app.post_json("/api/v1/users", None, &create).await,
        app.get("/api/v1/users", None).await,
        app.get("/api/v1/me", None).await,
    ] {
        assert_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], false);
}

#[tokio::test]
async fn the_account_list_pages_by_cursor() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    for i in 0..4 {
        app.user(&format!("Paged {i}")).await;
    }
    let first: Value = app
        .get("/api/v1/users?limit=3", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/users?limit=3&cursor={cursor}"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    let mut ids: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|u| u["id"].clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn an_unknown_or_malformed_user_id_gets_404() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "not-an-id",
        "%27%20OR%201%3D1",
    ] {
        let res = app
            .send_json(
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                Some(&token),
                &json!({"disabled": true}),
            )
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn the_profile_can_be_edited_and_the_affiliation_cleared() {
    let app = spawn_app().await;
    let user = app.user("Editable").await;
    let token = app.token(&user).await;
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            &json!({"display_name": "Edited", "affiliation": null}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Edited");
    assert!(me["affiliation"].is_null());
}

#[tokio::test]
async fn me_lists_every_membership_and_organized_dialogue_and_nothing_of_others() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let second = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let person = app.user("Seated Person").await;
    app.join(&f.round_id, &person, "india", "delegate").await;
    app.join(&second, &person, "pakistan", "co_chair").await;
    let own_dialogue = app.dialogue_for(&person, "Own Dialogue").await;
    // Someone else's seats do not show.
    let other = app.user("Other Person").await;
    app.join(&f.round_id, &other, "pakistan", "observer").await;

    let me: Value = app
        .get("/api/v1/me", Some(&app.token(&person).await))
        .await
        .json()
        .await
        .unwrap();
    let mut expected = vec![
        json!({"round_id": f.round_id, "side": "india", "role": "delegate"}),
        json!({"round_id": second, "side": "pakistan", "role": "co_chair"}),
    ];
    expected.sort_by_key(|m| m["round_id"].as_str().unwrap().to_owned());
    assert_eq!(me["memberships"], json!(expected));
    assert_eq!(me["organizer_of"], json!([own_dialogue]));

    let organizer: Value = app
        .get("/api/v1/me", Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(organizer["memberships"], json!([]));
    assert_eq!(organizer["organizer_of"], json!([f.dialogue_id]));
}

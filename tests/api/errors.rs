//! CHECKS 12, 27–29 and 39: unknown fields, array bodies, body limits, content types, malformed
//! JSON, string limits and pagination bounds, all answered with generic problem+json.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn extra_fields_are_rejected_and_nothing_changes() {
    let app = spawn_app().await;
    let user = app.user("Plain Member").await;
    let token = app.token(&user).await;
    for extra in [
        json!({"display_name": "New Name", "is_admin": true}),
        json!({"display_name": "New Name", "role": "organizer"}),
        json!({"display_name": "New Name", "created_at": "2020-01-01T00:00:00Z"}),
        json!({"display_name": "New Name", "author_id": "x"}),
    ] {
        let res = app
            .send_json(Method::PATCH, "/api/v1/me", Some(&token), &extra)
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    }
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Plain Member");
    assert_eq!(me["is_admin"], false);

    let res = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"email": user.email, "password": user.password, "role": "admin"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn a_json_array_is_not_read_as_the_fields_of_a_body() {
    let app = spawn_app().await;
    let user = app.user("Plain Member").await;
    let token = app.token(&user).await;
    // serde reads a struct from an array of its fields in order; the API takes objects only.
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            &json!(["New Name", null]),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    // Also when the array opens after blank space, in a later chunk or many kilobytes in.
    let res = app
        .request(Method::PATCH, "/api/v1/me", Some(&token))
        .header("content-type", "application/json")
        .body(format!("{}[\"New Name\", null]", " ".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"  \n"), Ok(b" [\"New Name\""), Ok(b", null]")];
    let res = app
        .request(Method::PATCH, "/api/v1/me", Some(&token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Plain Member");

    // An object after blank space in its own chunk still reaches the handler whole.
    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![
        Ok(b" \r\n"),
        Ok(b"{\"display_name\": "),
        Ok(b"\"New Name\"}"),
    ];
    let res = app
        .request(Method::PATCH, "/api/v1/me", Some(&token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["display_name"], "New Name");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_with_or_without_content_length() {
    let app = spawn_app().await;
    let user = app.user("Big Body").await;
    let token = app.token(&user).await;
    let big = json!({"display_name": "x".repeat(70_000)}).to_string();
    let res = app
        .request(Method::PATCH, "/api/v1/me", Some(&token))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Chunked: no Content-Length, the limit still holds.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(4096)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .request(Method::PATCH, "/api/v1/me", Some(&token))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], "Big Body");
}

#[tokio::test]
async fn a_missing_or_wrong_content_type_gets_415() {
    let app = spawn_app().await;
    let body = r#"{"email":"a@example.org","password":"whatever password"}"#;
    let res = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_gets_a_generic_400_that_echoes_nothing() {
    let app = spawn_app().await;
    for body in [
        r#"{"email": "canary-echo@example.org", "password": "#,
        "canary-echo",
        r#"{"email": 42, "password": "canary-echo"}"#,
    ] {
        let res = app
            .request(Method::POST, "/api/v1/auth/login", None)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let text = res.text().await.unwrap();
        assert!(!text.contains("canary-echo"), "{text}");
        assert!(
            !text.contains("line") && !text.contains("column"),
            "serde message leaked: {text}"
        );
    }
}

#[tokio::test]
async fn string_limits_and_control_characters_are_enforced_and_unicode_round_trips() {
    let app = spawn_app().await;
    let user = app.user("Limits").await;
    let token = app.token(&user).await;
    for (value, field) in [
        (json!({"display_name": "x".repeat(201)}), "display_name"),
        (json!({"display_name": "nul\u{0}byte"}), "display_name"),
        (json!({"display_name": "bell\u{7}"}), "display_name"),
        (json!({"display_name": ""}), "display_name"),
        (json!({"affiliation": "y".repeat(201)}), "affiliation"),
    ] {
        let res = app
            .send_json(Method::PATCH, "/api/v1/me", Some(&token), &value)
            .await;
        let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field);
    }
    let name = "Ñandú Ölçer — नीमराना 🕊";
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            &json!({"display_name": name}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = app
        .get("/api/v1/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["display_name"], name);
}

#[tokio::test]
async fn pagination_bounds_are_enforced() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    for q in [
        "limit=0",
        "limit=-1",
        "limit=101",
        "limit=99999999999999999999",
        "limit=abc",
        "colour=blue",
    ] {
        let res = app.get(&format!("/api/v1/users?{q}"), Some(&token)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(
        app.get("/api/v1/users?limit=100", Some(&token))
            .await
            .status(),
        StatusCode::OK
    );
}

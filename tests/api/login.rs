//! CHECKS 1–4 and 31: login answers, password storage and policy, the blocking pool, rate limits.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;

use backchannel::entities::user;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_identical_answers_in_similar_time() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_per_ip_per_minute = 10_000;
        s.rate_limit.login_per_account_per_minute = 10_000;
    })
    .await;
    let user = app.user("Aisha Khan").await;

    let wrong = app
        .login_response(&user.email, "not the right password")
        .await;
    let unknown = app
        .login_response("nobody@example.org", "not the right password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());

    // Interleaved samples so machine noise hits both sides alike. Without the dummy hash the
    // unknown-email path is 50-100x faster; on a quiet machine the medians sit within ~10% of
    // each other, and the 3x bound keeps the test meaningful while the whole suite (or another
    // process) loads both cores.
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for _ in 0..25 {
        let t = Instant::now();
        app.login_response(&user.email, "not the right password")
            .await;
        known_times.push(t.elapsed());
        let t = Instant::now();
        app.login_response("nobody@example.org", "not the right password")
            .await;
        unknown_times.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (k, u) = (median(&mut known_times), median(&mut unknown_times));
    let ratio = k.max(u) / k.min(u);
    assert!(
        ratio < 3.0,
        "median wrong-password {k:.4}s vs unknown-email {u:.4}s"
    );
}

#[tokio::test]
async fn stored_passwords_are_salted_argon2id_with_owasp_parameters() {
    let app = spawn_app().await;
    let a = app
        .create_user("a@example.org", "Ayesha Siddiqa", false)
        .await;
    let b = app
        .create_user("b@example.org", "Bharat Karnad", false)
        .await;
    // Give b the same password as a, through the API (admin creation).
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let res = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &json!({"email": "c@example.org", "display_name": "C", "password": a.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let users = user::Entity::find().all(&app.db).await.unwrap();
    let hash_of = |email: &str| {
        users
            .iter()
            .find(|u| u.email == email)
            .unwrap()
            .password_hash
            .clone()
    };
    for email in [&a.email, &b.email, &"c@example.org".to_owned()] {
        let h = hash_of(email);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }
    assert_ne!(hash_of(&a.email), hash_of("c@example.org"));
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_after_a_successful_login() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let app = spawn_app().await;
    let u = app.user("Old Hash").await;
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8192, 1, 1, None).unwrap(),
    )
    .hash_password(
        u.password.as_bytes(),
        &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
    )
    .unwrap()
    .to_string();
    let mut model = user::Entity::find_by_id(u.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    model.password_hash = Set(weak.clone());
    model.update(&app.db).await.unwrap();

    app.login(&u).await;
    let stored = user::Entity::find_by_id(u.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    app.login(&u).await;
}

#[tokio::test]
async fn the_password_policy_holds_at_account_creation_and_login_never_truncates() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let create = |email: &str, password: String| json!({"email": email, "display_name": "Policy Person", "password": password});
    let too_short = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &create("s@example.org", "elevenchars".into()),
        )
        .await;
    let body = assert_problem(too_short, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "password");

    let too_long = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &create("l@example.org", "x".repeat(129)),
        )
        .await;
    let body = assert_problem(too_long, StatusCode::BAD_REQUEST, "validation_failed").await;
    assert!(!body.to_string().contains("xxxxxxxx"), "no echo: {body}");

    let sixty_four = "p".repeat(64);
    let res = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &create("sf@example.org", sixty_four.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let unicode = "пароль-ñandú-पासवर्ड-密码".to_owned();
    let res = app
        .post_json(
            "/api/v1/users",
            Some(&token),
            &create("u@example.org", unicode.clone()),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    assert_eq!(
        app.login_response("sf@example.org", &sixty_four)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_response("u@example.org", &unicode).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_response("SF@Example.org", &sixty_four[..63])
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let mut chars: Vec<char> = unicode.chars().collect();
    chars.pop();
    let shorter: String = chars.into_iter().collect();
    assert_eq!(
        app.login_response("u@example.org", &shorter).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn healthz_stays_fast_while_fifty_logins_hash_at_once() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_per_ip_per_minute = 10_000;
        s.rate_limit.login_per_account_per_minute = 10_000;
    })
    .await;
    let user = app.user("Storm").await;
    let mut storm = Vec::new();
    for _ in 0..50 {
        let (client, url, email, password) = (
            app.client.clone(),
            app.url("/api/v1/auth/login"),
            user.email.clone(),
            user.password.clone(),
        );
        storm.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut latencies = Vec::new();
    while !storm.iter().all(|h| h.is_finished()) {
        let t = Instant::now();
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
        latencies.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for h in storm {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    // Hashing on the async workers would hold healthz behind ~25 hashes per worker (seconds);
    // the bound is loose because the test suite shares two cores. The bench measures it properly.
    assert!(
        latencies.len() >= 5,
        "the storm ended too fast to measure: {}",
        latencies.len()
    );
    assert!(
        p99 < Duration::from_millis(500),
        "healthz p99 during the login storm: {p99:?}"
    );
}

#[tokio::test]
async fn login_is_rate_limited_per_account_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_per_account_per_minute = 3;
        s.rate_limit.login_per_ip_per_minute = 1000;
    })
    .await;
    let user = app.user("Limited").await;
    for _ in 0..3 {
        assert_eq!(
            app.login_response(&user.email, "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app
        .login_response(&user.email.to_uppercase(), &user.password)
        .await;
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(retry.unwrap() >= 1);
    // Another account from the same address is unaffected.
    let other = app.user("Other").await;
    assert_eq!(
        app.login_response(&other.email, &other.password)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn login_is_rate_limited_per_address_and_a_spoofed_forwarded_for_changes_nothing() {
    let app = spawn_app_with(|s| {
        s.rate_limit.login_per_ip_per_minute = 4;
        s.rate_limit.login_per_account_per_minute = 1000;
    })
    .await;
    for i in 0..4 {
        let res = app
            .request(reqwest::Method::POST, "/api/v1/auth/login", None)
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": format!("n{i}@example.org"), "password": "whatever password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .request(reqwest::Method::POST, "/api/v1/auth/login", None)
        .header("x-forwarded-for", "198.51.100.77")
        .json(&json!({"email": "fresh@example.org", "password": "whatever password"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let user = app.user("Soon Disabled").await;
    let res = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", user.id),
            Some(&token),
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.login_response(&user.email, &user.password).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

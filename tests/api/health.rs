use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_route_and_a_wrong_method_get_problem_json() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .request(reqwest::Method::DELETE, "/healthz", None)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_behind_their_setting_and_token() {
    let app =
        crate::helpers::spawn_app_with(|s| s.metrics.token = "metrics-secret".to_owned().into())
            .await;
    let f = app.round_fixture().await;
    assert_eq!(
        app.get(
            &format!("/api/v1/rounds/{}", f.round_id),
            Some(&f.organizer_token)
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_problem(
        app.get("/metrics", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let res = app
        .request(reqwest::Method::GET, "/metrics", None)
        .bearer_auth("metrics-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains(r#"backchannel_http_requests_total{method="GET",route="/api/v1/rounds/{round_id}",status="200"} 1"#), "{text}");
    assert!(!text.contains(&f.round_id), "no ids in metrics");
    assert!(
        text.contains("backchannel_mail_outbox_pending")
            && text.contains("backchannel_webhook_deliveries_pending 0")
            && text.contains("backchannel_db_pool_connections"),
        "{text}"
    );

    let off = crate::helpers::spawn_app_with(|s| s.metrics.enabled = false).await;
    assert_problem(
        off.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

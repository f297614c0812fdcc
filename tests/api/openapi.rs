//! The OpenAPI document describes every registered route: the checked-in route list
//! (`tests/api/routes.txt`) must equal the document's operations, and every listed route is
//! actually served (no route-not-found answer).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

fn listed_routes() -> BTreeSet<(String, String)> {
    include_str!("routes.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (method, path) = l.split_once(' ').expect("METHOD /path");
            (method.to_owned(), path.trim().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
                let op = &item[method];
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} has responses"
                );
            }
        }
    }
    assert_eq!(
        documented,
        listed_routes(),
        "routes.txt and the OpenAPI document differ"
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    for (method, path) in listed_routes() {
        // The feed's secret is its path: an unknown one is the 404 of a missing feed
        // (tests/api/feeds.rs shows the route is served).
        if path == "/calendar/{feed_token}.ics" {
            continue;
        }
        let concrete = [
            "{user_id}",
            "{dialogue_id}",
            "{round_id}",
            "{invitation_id}",
        ]
        .iter()
        .fold(path.clone(), |p, k| {
            p.replace(k, "00000000-0000-0000-0000-000000000000")
        });
        let res = app
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                None,
            )
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        // Anonymous: every route answers something of its own (401, 400, 200...), never the
        // unknown-route 404.
        assert_ne!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{method} {path} is not served"
        );
        assert_ne!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
}

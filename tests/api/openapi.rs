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

#[tokio::test]
async fn every_request_body_in_the_openapi_document_has_an_example() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(schema) =
                op["requestBody"]["content"]["application/json"]["schema"].as_object()
            else {
                continue;
            };
            let has_example = match schema.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    let name = r.rsplit('/').next().unwrap();
                    let component = &doc["components"]["schemas"][name];
                    component.get("example").is_some() || component.get("examples").is_some()
                }
                None => schema.contains_key("example"),
            };
            if !has_example {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
            for status in ["413", "415"] {
                if op["responses"].get(status).is_none() {
                    missing.push(format!(
                        "{} {path}: no {status} response",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "request bodies without an example: {missing:?}"
    );
}

#[tokio::test]
async fn the_document_shows_which_operations_api_tokens_reach_and_never_notes() {
    let app = spawn_app().await;
    let doc: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(doc["components"]["securitySchemes"]["api_token"].is_object());
    let schemes = |method: &str, path: &str| doc["paths"][path][method]["security"].to_string();
    assert!(
        schemes("get", "/api/v1/rounds/{round_id}").contains(r#"{"api_token":["rounds:read"]}"#),
        "{}",
        schemes("get", "/api/v1/rounds/{round_id}")
    );
    assert!(
        schemes("patch", "/api/v1/agenda/{item_id}").contains(r#"{"api_token":["agenda:write"]}"#)
    );
    for (method, path) in [
        ("post", "/api/v1/rounds/{round_id}/notes"),
        ("get", "/api/v1/rounds/{round_id}/notes"),
        ("get", "/api/v1/notes/{note_id}"),
        ("get", "/api/v1/rounds/{round_id}/record"),
        ("post", "/api/v1/me/tokens"),
    ] {
        assert!(
            !schemes(method, path).contains("api_token"),
            "{method} {path}"
        );
        assert!(schemes(method, path).contains("bearer"), "{method} {path}");
    }
}

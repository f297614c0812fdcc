//! The edit key of a shared note stays its writer's control, even after leaving the round.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_writer_removed_from_the_round_can_still_delete_their_shared_note_with_its_key() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let writer = app.user("Writer").await;
    app.join(&f.round_id, &writer, "india", "delegate").await;
    for s in ["scheduled", "in_session"] {
        app.post_json(
            &format!("/api/v1/rounds/{}/status", f.round_id),
            Some(&f.organizer_token),
            &json!({"status": s, "force": true}),
        )
        .await;
    }
    let token = app.token(&writer).await;
    let created: Value = app
        .post_json(
            &format!("/api/v1/rounds/{}/notes", f.round_id),
            Some(&token),
            &json!({"visibility": "chatham", "body": "A view that may be regretted."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/notes/{}", created["id"].as_str().unwrap());
    let key = created["edit_key"].as_str().unwrap();

    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rounds/{}/participants/{}", f.round_id, writer.id),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Without the key: nothing. With it: the note, and its deletion.
    assert_problem(
        app.get(&path, Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app
        .request(Method::GET, &path, Some(&token))
        .header("edit-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .request(Method::DELETE, &path, Some(&token))
        .header("edit-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .request(Method::GET, &path, Some(&token))
        .header("edit-key", key)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

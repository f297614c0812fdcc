//! The personal calendar feed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn the_feed_lists_the_accounts_rounds_and_a_new_url_revokes_the_old_one() {
    use icalendar::{Calendar, CalendarComponent, Component};
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let member = app.user("Feed Reader").await;
    app.join(&f.round_id, &member, "india", "delegate").await;
    let token = app.token(&member).await;
    let res = app
        .post_json(&format!("/api/v1/rounds/{}/agenda", f.round_id), Some(&f.organizer_token),
            &json!({"title": "Opening", "starts_at": "2027-02-10T09:00:00+05:30", "ends_at": "2027-02-10T10:00:00+05:30"}))
        .await;
    let item: Value = res.json().await.unwrap();
    app.post_json(
        &format!("/api/v1/rounds/{}/agenda/publish", f.round_id),
        Some(&f.organizer_token),
        &json!({}),
    )
    .await;
    // A round the member is not in stays out of the feed.
    let other = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;

    let feed: Value = app
        .post_json("/api/v1/me/calendar-feed", Some(&token), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let url = feed["url"].as_str().unwrap().to_owned();
    let res = app.get(&url, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = res.text().await.unwrap();
    let parsed: Calendar = text.parse().expect("valid iCalendar");
    let uids: Vec<String> = parsed
        .components
        .iter()
        .filter_map(|c| {
            if let CalendarComponent::Event(e) = c {
                e.get_uid().map(str::to_owned)
            } else {
                None
            }
        })
        .collect();
    assert!(
        uids.contains(&format!("round-{}@backchannel", f.round_id)),
        "{uids:?}"
    );
    assert!(
        uids.contains(&format!(
            "agenda-{}@backchannel",
            item["id"].as_str().unwrap()
        )),
        "{uids:?}"
    );
    assert!(!uids.contains(&format!("round-{other}@backchannel")));

    let again: Value = app
        .post_json("/api/v1/me/calendar-feed", Some(&token), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(again["url"], feed["url"]);
    assert_problem(
        app.get(&url, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get(again["url"].as_str().unwrap(), None).await.status(),
        StatusCode::OK
    );
    assert_problem(
        app.get("/calendar/not-a-feed.ics", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

//! The agenda: slots in the venue's zone, ETags, ordering under concurrency, statuses and
//! outcomes, carrying items forward, topics across rounds, publication and the calendar feed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RoundFixture, TestApp, assert_problem, spawn_app};

async fn add_item(app: &TestApp, f: &RoundFixture, body: Value) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/rounds/{}/agenda", f.round_id),
        Some(&f.organizer_token),
        &body,
    )
    .await
}

/// The round's agenda as its organizer sees it (the working draft).
async fn organizer_agenda(app: &TestApp, f: &RoundFixture) -> Value {
    app.get(
        &format!("/api/v1/rounds/{}/agenda", f.round_id),
        Some(&f.organizer_token),
    )
    .await
    .json()
    .await
    .unwrap()
}

async fn item(app: &TestApp, f: &RoundFixture, title: &str, slot: Option<(&str, &str)>) -> Value {
    let mut body = json!({"title": title, "topics": ["Water"]});
    if let Some((s, e)) = slot {
        body["starts_at"] = json!(s);
        body["ends_at"] = json!(e);
    }
    let res = add_item(app, f, body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "{title}");
    res.json().await.unwrap()
}

#[tokio::test]
async fn slots_are_checked_in_the_venues_zone_and_returned_with_its_offset() {
    let app = spawn_app().await;
    let f = app.round_fixture().await; // Asia/Kolkata, 2027-02-10 to 2027-02-12
    // Given in UTC, returned in the venue's zone.
    let water = item(
        &app,
        &f,
        "Water",
        Some(("2027-02-10T04:00:00Z", "2027-02-10T05:30:00Z")),
    )
    .await;
    assert_eq!(water["starts_at"], "2027-02-10T09:30:00+05:30");
    assert_eq!(water["timezone"], "Asia/Kolkata");

    for (s, e, field) in [
        ("2027-02-09T17:00:00Z", "2027-02-09T19:00:00Z", "starts_at"), // 22:30–00:30 local, starts the day before
        (
            "2027-02-10T11:00:00+05:30",
            "2027-02-10T10:00:00+05:30",
            "ends_at",
        ),
        ("2027-02-10 11:00", "2027-02-10T12:00:00+05:30", "starts_at"),
    ] {
        let res = add_item(
            &app,
            &f,
            json!({"title": "Bad slot", "starts_at": s, "ends_at": e}),
        )
        .await;
        let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(
            body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["field"] == field),
            "{s}–{e}: {body}"
        );
    }
    let res = add_item(&app, &f, json!({"title": "Clash", "starts_at": "2027-02-10T10:00:00+05:30", "ends_at": "2027-02-10T12:00:00+05:30"})).await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "slot_overlap").await;
    assert_eq!(body["clashes_with"]["id"], water["id"]);
    // Back to back is fine.
    item(
        &app,
        &f,
        "Trade",
        Some(("2027-02-10T11:00:00+05:30", "2027-02-10T12:00:00+05:30")),
    )
    .await;
    let agenda = organizer_agenda(&app, &f).await;
    assert_eq!(
        agenda["items"].as_array().unwrap().len(),
        2,
        "refused items were not stored"
    );
}

#[tokio::test]
async fn a_slot_on_a_daylight_saving_day_keeps_its_instants() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/rounds/{}", f.round_id),
        Some(&f.organizer_token),
        &json!({"timezone": "Europe/London", "starts_on": "2027-03-27", "ends_on": "2027-03-29"}),
    )
    .await;
    let night = item(
        &app,
        &f,
        "Night session",
        Some(("2027-03-28T00:30:00Z", "2027-03-28T02:30:00Z")),
    )
    .await;
    assert_eq!(
        night["starts_at"], "2027-03-28T00:30:00Z",
        "GMT before the change"
    );
    assert_eq!(
        night["ends_at"], "2027-03-28T03:30:00+01:00",
        "BST after the change"
    );
}

#[tokio::test]
async fn input_limits_hold_for_titles_topics_and_leads() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let outsider = app.user("Not In Round").await;
    let topics: Vec<String> = (0..21).map(|i| format!("topic {i}")).collect();
    for (body, field) in [
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "T", "topics": topics}), "topics"),
        (json!({"title": "T", "leads": [outsider.id]}), "leads[0]"),
        (json!({"title": "T", "kind": "banquet"}), "kind"),
        (json!({"title": "T", "topics": ["!!!"]}), "topics[0]"),
    ] {
        let res = add_item(&app, &f, body).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field}: {problem}"
        );
    }
    let lead = app.user("Lead Person").await;
    app.join(&f.round_id, &lead, "india", "co_chair").await;
    let res = add_item(&app, &f, json!({"title": "Cyber", "topics": ["Cyber Security", "cyber-security", "People-to-People Contacts"], "leads": [lead.id], "kind": "session"})).await;
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        created["topics"],
        json!(["cyber-security", "people-to-people-contacts"])
    );
    assert_eq!(created["leads"][0]["display_name"], "Lead Person");

    // The dialogue's topics page by name.
    let path = format!("/api/v1/dialogues/{}/topics?limit=1", f.dialogue_id);
    let first: Value = app
        .get(&path, Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"][0]["topic"], "cyber-security");
    assert_eq!(first["next_cursor"], "cyber-security");
    let second: Value = app
        .get(
            &format!("{path}&cursor=cyber-security"),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["topic"], "people-to-people-contacts");
    let last: Value = app
        .get(
            &format!("{path}&cursor=people-to-people-contacts"),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last, json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn patch_honours_if_match_and_a_stale_etag_changes_nothing() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let created = item(&app, &f, "Kashmir", None).await;
    let path = format!("/api/v1/agenda/{}", created["id"].as_str().unwrap());
    let res = app.get(&path, Some(&f.organizer_token)).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let res = app
        .request(Method::PATCH, &path, Some(&f.organizer_token))
        .header("if-match", &etag)
        .json(&json!({"title": "Kashmir (LoC)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let res = app
        .request(Method::PATCH, &path, Some(&f.organizer_token))
        .header("if-match", &etag)
        .json(&json!({"title": "Lost update"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let now: Value = app
        .get(&path, Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now["title"], "Kashmir (LoC)");
}

#[tokio::test]
async fn ordering_takes_exact_permutations_and_stays_dense_under_concurrency() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let mut ids = Vec::new();
    for t in ["A", "B", "C"] {
        ids.push(
            item(&app, &f, t, None).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let order = format!("/api/v1/rounds/{}/agenda/order", f.round_id);
    for bad in [
        json!([ids[0], ids[1]]),
        json!([ids[0], ids[0], ids[1]]),
        json!([ids[0], ids[1], ids[2], "x"]),
    ] {
        let res = app
            .post_json(&order, Some(&f.organizer_token), &json!({"item_ids": bad}))
            .await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "not_a_permutation").await;
    }
    let res = app
        .post_json(
            &order,
            Some(&f.organizer_token),
            &json!({"item_ids": [ids[2], ids[0], ids[1]]}),
        )
        .await;
    let agenda: Value = res.json().await.unwrap();
    let titles: Vec<&str> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["C", "A", "B"]);

    // Concurrent reorders and inserts: positions end up 1..n, each once.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (client, token) = (app.client.clone(), f.organizer_token.clone());
        let (order_url, add_url) = (
            app.url(&order),
            app.url(&format!("/api/v1/rounds/{}/agenda", f.round_id)),
        );
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                client
                    .post(add_url)
                    .bearer_auth(token)
                    .json(&json!({"title": format!("New {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            } else {
                let mut rotated = ids.clone();
                rotated.rotate_left(i % 3);
                // May race with inserts (then it is no longer a permutation: 422).
                client
                    .post(order_url)
                    .bearer_auth(token)
                    .json(&json!({"item_ids": rotated}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(
            s == StatusCode::CREATED
                || s == StatusCode::OK
                || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{s}"
        );
    }
    let agenda = organizer_agenda(&app, &f).await;
    let positions: Vec<i64> = agenda["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn statuses_follow_the_lifecycle_and_outcomes_pass_the_attribution_guard() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let rapporteur = app
        .create_user("imran.rapp@example.org", "Imran Qureshi", false)
        .await;
    app.join(&f.round_id, &rapporteur, "pakistan", "rapporteur")
        .await;
    let token = app.token(&rapporteur).await;
    let created = item(&app, &f, "Trade", None).await;
    let status = format!("/api/v1/agenda/{}/status", created["id"].as_str().unwrap());
    // The rapporteur is no editor: it sees items once the agenda is published.
    assert_problem(
        app.post_json(&status, Some(&token), &json!({"status": "in_discussion"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.post_json(
        &format!("/api/v1/rounds/{}/agenda/publish", f.round_id),
        Some(&f.organizer_token),
        &json!({}),
    )
    .await;

    // Organizers run logistics, not the discussion.
    assert_problem(
        app.post_json(
            &status,
            Some(&f.organizer_token),
            &json!({"status": "in_discussion"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .post_json(&status, Some(&token), &json!({"status": "concluded"}))
        .await;
    let body = assert_problem(res, StatusCode::CONFLICT, "illegal_transition").await;
    assert_eq!(
        body["allowed"],
        json!(["in_discussion", "deferred", "dropped"])
    );
    assert_eq!(
        app.post_json(&status, Some(&token), &json!({"status": "in_discussion"}))
            .await
            .status(),
        StatusCode::OK
    );

    let res = app.post_json(&status, Some(&token), &json!({"status": "concluded", "outcome": "Qureshi proposed reopening the Wagah route."})).await;
    let body = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    assert_eq!(body["spans"][0]["kind"], "participant");
    assert!(
        !body.to_string().contains("Qureshi"),
        "the refusal does not echo the text"
    );
    let item_now: Value = app
        .get(
            &format!("/api/v1/agenda/{}", created["id"].as_str().unwrap()),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item_now["status"], "in_discussion", "nothing changed");

    let res = app.post_json(&status, Some(&token), &json!({"status": "concluded", "outcome": "Qureshi proposed reopening the Wagah route.", "redact": true})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["status"], "concluded");
    assert_eq!(
        done["outcome"],
        "[a participant] proposed reopening the Wagah route."
    );
    // Organizers do not read the record unless they are members.
    let seen: Value = app
        .get(
            &format!("/api/v1/agenda/{}", created["id"].as_str().unwrap()),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(seen["outcome"].is_null());
    // The stored outcome is sealed.
    let model = <backchannel::entities::agenda_item::Entity as sea_orm::EntityTrait>::find_by_id(
        created["id"].as_str().unwrap().to_owned(),
    )
    .one(&app.db)
    .await
    .unwrap()
    .unwrap();
    assert!(!model.outcome_sealed.unwrap().contains("Wagah"));
}

#[tokio::test]
async fn items_carry_forward_within_their_dialogue_and_keep_their_lineage() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let chair = app.user("Chair").await;
    app.join(&f.round_id, &chair, "india", "co_chair").await;
    let chair_token = app.token(&chair).await;
    let water = item(&app, &f, "Water", None).await;
    let water_id = water["id"].as_str().unwrap();
    let status = format!("/api/v1/agenda/{water_id}/status");
    app.post_json(
        &status,
        Some(&chair_token),
        &json!({"status": "in_discussion"}),
    )
    .await;
    app.post_json(
        &status,
        Some(&chair_token),
        &json!({"status": "deferred", "outcome": "Needs hydrological data first."}),
    )
    .await;

    let round2 = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let round3 = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 3")
        .await;
    let carry = format!("/api/v1/agenda/{water_id}/carry-forward");
    let res = app
        .post_json(
            &carry,
            Some(&f.organizer_token),
            &json!({"round_id": round2}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let in2: Value = res.json().await.unwrap();
    assert_eq!(in2["lineage_id"], water["lineage_id"]);
    assert_eq!(in2["status"], "planned");
    assert_problem(
        app.post_json(
            &carry,
            Some(&f.organizer_token),
            &json!({"round_id": round2}),
        )
        .await,
        StatusCode::CONFLICT,
        "already_carried_forward",
    )
    .await;
    let back = format!(
        "/api/v1/agenda/{}/carry-forward",
        in2["id"].as_str().unwrap()
    );
    assert_problem(
        app.post_json(
            &back,
            Some(&f.organizer_token),
            &json!({"round_id": f.round_id}),
        )
        .await,
        StatusCode::CONFLICT,
        "not_a_later_round",
    )
    .await;
    let other = app.dialogue_for(&f.organizer, "Another Dialogue").await;
    let other_round = app
        .create_round(&f.organizer_token, &other, "Elsewhere")
        .await;
    assert_problem(
        app.post_json(
            &carry,
            Some(&f.organizer_token),
            &json!({"round_id": other_round}),
        )
        .await,
        StatusCode::CONFLICT,
        "other_dialogue",
    )
    .await;
    assert_eq!(
        app.post_json(
            &back,
            Some(&f.organizer_token),
            &json!({"round_id": round3})
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    // The chair (a member of round 1 only) sees round 1's entry with its outcome and history.
    let lineage: Value = app
        .get(
            &format!("/api/v1/agenda/{water_id}/lineage"),
            Some(&chair_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lineage.as_array().unwrap().len(), 1);
    assert_eq!(lineage[0]["outcome"], "Needs hydrological data first.");
    assert_eq!(lineage[0]["history"].as_array().unwrap().len(), 2);
    // The organizer sees all three rounds, without outcomes.
    let lineage: Value = app
        .get(
            &format!("/api/v1/agenda/{water_id}/lineage"),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let seqs: Vec<i64> = lineage
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["round_sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(lineage[0]["status"], "deferred");
    assert!(lineage[0]["outcome"].is_null());

    let topics: Value = app
        .get(
            &format!("/api/v1/dialogues/{}/topics", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        topics,
        json!({"items": [{"topic": "water", "items": 3, "rounds": 3}], "next_cursor": null})
    );
    let history: Value = app
        .get(
            &format!("/api/v1/dialogues/{}/topics/Water", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let rounds: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["round_sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(rounds, [1, 2, 3]);
    assert!(history["next_cursor"].is_null());
    // Paged two rounds at a time, in order, with nothing lost or repeated.
    let path = format!("/api/v1/dialogues/{}/topics/water?limit=2", f.dialogue_id);
    let first: Value = app
        .get(&path, Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let second: Value = app
        .get(&format!("{path}&cursor={cursor}"), Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    let paged: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|r| r["round_sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(paged, [1, 2, 3]);
    assert!(second["next_cursor"].is_null());
    for bad in ["x", "1.5", "-"] {
        let res = app
            .get(&format!("{path}&cursor={bad}"), Some(&f.organizer_token))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    }
    assert_problem(
        app.get(
            &format!("/api/v1/dialogues/{}/topics/nuclear", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn participants_see_the_published_version_and_versions_show_their_changes() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let delegate = app.user("Delegate").await;
    app.join(&f.round_id, &delegate, "pakistan", "delegate")
        .await;
    let delegate_token = app.token(&delegate).await;
    let a = item(
        &app,
        &f,
        "Security",
        Some(("2027-02-10T09:00:00+05:30", "2027-02-10T10:00:00+05:30")),
    )
    .await;
    let b = item(&app, &f, "Trade", None).await;
    let agenda_path = format!("/api/v1/rounds/{}/agenda", f.round_id);

    let seen: Value = app
        .get(&agenda_path, Some(&delegate_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["view"], "published");
    assert_eq!(seen["items"], json!([]));
    assert_problem(
        app.get(
            &format!("/api/v1/agenda/{}", a["id"].as_str().unwrap()),
            Some(&delegate_token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let publish = format!("/api/v1/rounds/{}/agenda/publish", f.round_id);
    assert_problem(
        app.post_json(&publish, Some(&delegate_token), &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let v1: Value = app
        .post_json(&publish, Some(&f.organizer_token), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v1["number"], 1);
    assert_eq!(v1["changes"]["added"].as_array().unwrap().len(), 2);

    // Draft changes after publication stay invisible to participants until the next version.
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/agenda/{}", a["id"].as_str().unwrap()),
        Some(&f.organizer_token),
        &json!({"starts_at": "2027-02-10T10:00:00+05:30", "ends_at": "2027-02-10T11:00:00+05:30"}),
    )
    .await;
    let c = item(&app, &f, "Cyber", None).await;
    app.request(
        Method::DELETE,
        &format!("/api/v1/agenda/{}", b["id"].as_str().unwrap()),
        Some(&f.organizer_token),
    )
    .send()
    .await
    .unwrap();
    let seen: Value = app
        .get(&agenda_path, Some(&delegate_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["published_version"], 1);
    assert_eq!(seen["items"][0]["starts_at"], "2027-02-10T09:00:00+05:30");
    let draft: Value = app
        .get(&agenda_path, Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["view"], "draft");
    assert_eq!(draft["items"].as_array().unwrap().len(), 2);

    let v2: Value = app
        .post_json(&publish, Some(&f.organizer_token), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v2["changes"]["added"], json!([c["id"]]));
    assert_eq!(v2["changes"]["removed"], json!([b["id"]]));
    assert_eq!(v2["changes"]["retimed"], json!([a["id"]]));
    let versions: Value = app
        .get(&format!("{agenda_path}/versions"), Some(&delegate_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    assert_eq!(versions["items"][1]["number"], 2);
    let first: Value = app
        .get(
            &format!("{agenda_path}/versions?limit=1"),
            Some(&delegate_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"][0]["number"], 1);
    assert_eq!(first["next_cursor"], "1");
    let second: Value = app
        .get(
            &format!("{agenda_path}/versions?limit=1&cursor=1"),
            Some(&delegate_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["number"], 2);
    let again: Value = app
        .get(&format!("{agenda_path}/versions/2"), Some(&delegate_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["changes"], v2["changes"]);
    assert_problem(
        app.get(&format!("{agenda_path}/versions/3"), Some(&delegate_token))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Readiness now sees a published agenda.
    let readiness: Value = app
        .get(
            &format!("/api/v1/rounds/{}/readiness", f.round_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let agenda_check = readiness["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "agenda")
        .unwrap()
        .clone();
    assert_eq!(agenda_check["passed"], true, "{agenda_check}");
}

#[tokio::test]
async fn the_calendar_parses_with_a_real_icalendar_parser_and_sequences_grow_on_change() {
    use icalendar::{Calendar, CalendarComponent, Component};
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let a = item(
        &app,
        &f,
        "Security; nuclear, CBMs",
        Some(("2027-02-10T09:00:00+05:30", "2027-02-10T10:00:00+05:30")),
    )
    .await;
    item(&app, &f, "Untimed", None).await;
    let path = format!("/api/v1/rounds/{}/calendar.ics", f.round_id);
    let res = app.get(&path, Some(&f.organizer_token)).await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let text = res.text().await.unwrap();
    let parsed: Calendar = text.parse().expect("valid iCalendar");
    let events: Vec<_> = parsed
        .components
        .iter()
        .filter_map(|c| {
            if let CalendarComponent::Event(e) = c {
                Some(e)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(events.len(), 2, "the round and the one timed item");
    let uid = format!("agenda-{}@backchannel", a["id"].as_str().unwrap());
    let event = events
        .iter()
        .find(|e| e.get_uid() == Some(uid.as_str()))
        .expect("the item's event");
    assert_eq!(event.get_summary(), Some("Security; nuclear, CBMs"));
    assert!(
        text.contains("BEGIN:VTIMEZONE")
            && text.contains("TZID:Asia/Kolkata")
            && text.contains("DTSTART;TZID=Asia/Kolkata:20270210T090000"),
        "{text}"
    );
    let sequence = |t: &str| -> i64 {
        let unfolded = t.replace("\r\n ", "");
        let block = unfolded
            .split("BEGIN:VEVENT")
            .find(|b| b.contains(&uid))
            .unwrap()
            .to_owned();
        block
            .lines()
            .find_map(|l| l.strip_prefix("SEQUENCE:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = sequence(&text);
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/agenda/{}", a["id"].as_str().unwrap()),
        Some(&f.organizer_token),
        &json!({"title": "Security"}),
    )
    .await;
    let after_text = app
        .get(&path, Some(&f.organizer_token))
        .await
        .text()
        .await
        .unwrap();
    assert!(sequence(&after_text) > before);
    // Non-members get the 404 of a missing round.
    let outsider = app.user("Outsider").await;
    assert_problem(
        app.get(&path, Some(&app.token(&outsider).await)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn unpublished_agenda_content_stays_hidden_from_those_who_see_the_published_version() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let delegate = app.user("Delegate").await;
    app.join(&f.round_id, &delegate, "india", "delegate").await;
    let token = app.token(&delegate).await;
    let published = item(&app, &f, "Published Title", None).await;
    let id = published["id"].as_str().unwrap();
    app.post_json(
        &format!("/api/v1/rounds/{}/agenda/publish", f.round_id),
        Some(&f.organizer_token),
        &json!({}),
    )
    .await;
    // Draft changes and a draft-only item after publication.
    app.send_json(
        Method::PATCH,
        &format!("/api/v1/agenda/{id}"),
        Some(&f.organizer_token),
        &json!({"title": "Draft Title", "topics": ["draft-only"]}),
    )
    .await;
    let res = add_item(
        &app,
        &f,
        json!({"title": "Unpublished Item", "topics": ["secret topic"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Carried into a round 2 whose agenda is unpublished.
    let round2 = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    app.join(&round2, &delegate, "india", "delegate").await;
    app.post_json(
        &format!("/api/v1/agenda/{id}/carry-forward"),
        Some(&f.organizer_token),
        &json!({"round_id": round2}),
    )
    .await;

    let single: Value = app
        .get(&format!("/api/v1/agenda/{id}"), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(single["title"], "Published Title");
    assert_eq!(single["topics"], json!(["water"]));
    let lineage = app
        .get(&format!("/api/v1/agenda/{id}/lineage"), Some(&token))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        lineage.contains("Published Title") && !lineage.contains("Draft Title"),
        "{lineage}"
    );
    let entries: Value = serde_json::from_str(&lineage).unwrap();
    assert_eq!(
        entries.as_array().unwrap().len(),
        1,
        "the unpublished round-2 entry is hidden"
    );
    let topics = app
        .get(
            &format!("/api/v1/dialogues/{}/topics", f.dialogue_id),
            Some(&token),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !topics.contains("secret") && !topics.contains("draft-only"),
        "{topics}"
    );
    for topic in ["secret-topic", "draft-only"] {
        let res = app
            .get(
                &format!("/api/v1/dialogues/{}/topics/{topic}", f.dialogue_id),
                Some(&token),
            )
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Editors still see the draft.
    let topics = app
        .get(
            &format!("/api/v1/dialogues/{}/topics", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(topics.contains("secret-topic"), "{topics}");
}

#[tokio::test]
async fn a_rounds_agenda_lists_each_item_with_exactly_its_own_topics_and_leads() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let lead_a = app.user("Lead Alpha").await;
    let lead_b = app.user("Lead Beta").await;
    app.join(&f.round_id, &lead_a, "india", "co_chair").await;
    app.join(&f.round_id, &lead_b, "pakistan", "co_chair").await;
    // Another round of the same dialogue, with its own items on the same topics and leads.
    let other = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    app.join(&other, &lead_a, "india", "co_chair").await;
    for (round_id, title, topics, leads) in [
        (
            &f.round_id,
            "Water",
            json!(["Water", "Indus"]),
            json!([lead_b.id, lead_a.id]),
        ),
        (&f.round_id, "Trade", json!(["Trade"]), json!([])),
        (&f.round_id, "Break", json!([]), json!([lead_a.id])),
        (
            &other,
            "Elsewhere",
            json!(["Water", "Cyber"]),
            json!([lead_a.id]),
        ),
    ] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{round_id}/agenda"),
                Some(&f.organizer_token),
                &json!({"title": title, "topics": topics, "leads": leads}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{title}");
    }

    let agenda = organizer_agenda(&app, &f).await;
    let items = agenda["items"].as_array().unwrap();
    let seen: Vec<(&str, Value, Vec<&str>)> = items
        .iter()
        .map(|i| {
            let leads = i["leads"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["display_name"].as_str().unwrap())
                .collect();
            (i["title"].as_str().unwrap(), i["topics"].clone(), leads)
        })
        .collect();
    let mut both = vec!["Lead Alpha", "Lead Beta"];
    both.sort_by_key(|name| {
        if *name == "Lead Alpha" {
            &lead_a.id
        } else {
            &lead_b.id
        }
    });
    assert_eq!(
        seen,
        vec![
            ("Water", json!(["indus", "water"]), both),
            ("Trade", json!(["trade"]), vec![]),
            ("Break", json!([]), vec!["Lead Alpha"]),
        ]
    );
}

/// The server keeps each round's agenda list as sent; every change to what it shows must
/// retire it at once, for every view: a lead's new name, a publication, a new time zone, a
/// deletion, and changes made straight in the database rather than through the API.
#[tokio::test]
async fn a_kept_agenda_list_gives_way_at_once_to_every_change_behind_it() {
    use backchannel::entities::{agenda_item, agenda_topic};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let lead = app.user("Lead Alpha").await;
    app.join(&f.round_id, &lead, "india", "co_chair").await;
    let delegate = app.user("Plain Delegate").await;
    app.join(&f.round_id, &delegate, "pakistan", "delegate")
        .await;
    let delegate_token = app.token(&delegate).await;
    let res = add_item(
        &app,
        &f,
        json!({"title": "Water", "topics": ["water"], "leads": [lead.id]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let item_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/rounds/{}/agenda", f.round_id);
    let delegates_view = || async {
        app.get(&path, Some(&delegate_token))
            .await
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = |v: &Value| v["items"][0].clone();

    let draft = organizer_agenda(&app, &f).await;
    assert_eq!(first(&draft)["leads"][0]["display_name"], "Lead Alpha");
    assert_eq!(
        delegates_view().await["items"],
        json!([]),
        "nothing published yet"
    );

    // A lead's new name.
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&app.token(&lead).await),
            &json!({"display_name": "Lead Renamed"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let draft = organizer_agenda(&app, &f).await;
    assert_eq!(first(&draft)["leads"][0]["display_name"], "Lead Renamed");

    // A publication changes the delegates' view and not the organizers'.
    let res = app
        .post_json(
            &format!("{path}/publish"),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert!(res.status().is_success(), "publish: {}", res.status());
    assert_eq!(first(&delegates_view().await)["title"], "Water");
    assert_eq!(organizer_agenda(&app, &f).await["view"], "draft");

    // Changes in the database itself, past every route: an item's title and a new topic.
    agenda_item::Entity::update_many()
        .col_expr(agenda_item::Column::Title, Expr::value("Changed directly"))
        .filter(agenda_item::Column::Id.eq(&item_id))
        .exec(&app.db)
        .await
        .unwrap();
    agenda_topic::ActiveModel {
        item_id: Set(item_id.clone()),
        topic: Set("cyber".into()),
    }
    .insert(&app.db)
    .await
    .unwrap();
    let draft = organizer_agenda(&app, &f).await;
    assert_eq!(first(&draft)["title"], "Changed directly");
    assert_eq!(first(&draft)["topics"], json!(["cyber", "water"]));
    // The delegates read the published title, and the live topics of a published item.
    let published = first(&delegates_view().await);
    assert_eq!(published["title"], "Water");

    // The round's time zone.
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{}", f.round_id),
            Some(&f.organizer_token),
            &json!({"timezone": "Asia/Karachi"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "time zone");
    assert_eq!(
        first(&organizer_agenda(&app, &f).await)["timezone"],
        "Asia/Karachi"
    );
    assert_eq!(first(&delegates_view().await)["timezone"], "Asia/Karachi");

    // A deletion.
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/agenda/{item_id}"),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "delete: {}", res.status());
    assert_eq!(organizer_agenda(&app, &f).await["items"], json!([]));
    assert_eq!(delegates_view().await["items"], json!([]));
}

//! Dialogues and rounds: formats, validation, the lifecycle table, sequence numbers under
//! concurrency, role changes taking effect at once (CHECKS 11), the roster's confidentiality
//! (CHECKS 20), and canaries of one round never reaching another round's members (CHECKS 13).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn formats_fill_sides_and_only_organizers_and_admins_create_dialogues() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let admin_token = app.token(&admin).await;
    let formats: Value = app
        .get("/api/v1/formats", Some(&admin_token))
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = formats
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["neemrana", "chaophraya", "custom"]);

    let res = app
        .post_json(
            "/api/v1/dialogues",
            Some(&admin_token),
            &json!({"name": "Chaophraya Dialogue", "format": "chaophraya",
            "sides": [{"key": "india", "name": "India"}, {"key": "pakistan", "name": "Pakistan"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let d: Value = res.json().await.unwrap();
    let sides: Vec<(&str, bool)> = d["sides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].as_str().unwrap(), s["neutral"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        sides,
        [("india", false), ("pakistan", false), ("neutral", true)]
    );
    assert_eq!(d["rule"], "chatham_house");
    assert!(
        d["next_venue_country"].is_null(),
        "neutral venues are not suggested"
    );

    // A plain account may not create a dialogue; an organizer of one may create another.
    let plain = app.user("Plain").await;
    let plain_token = app.token(&plain).await;
    let body = json!({"name": "Mine", "format": "custom", "sides": [{"key": "a", "name": "A"}, {"key": "b", "name": "B"}, {"key": "c", "name": "C"}]});
    assert_problem(
        app.post_json("/api/v1/dialogues", Some(&plain_token), &body)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    app.dialogue_for(&plain, "Seed").await;
    assert_eq!(
        app.post_json("/api/v1/dialogues", Some(&plain_token), &body)
            .await
            .status(),
        StatusCode::CREATED
    );

    // With open creation, anyone may.
    let open = spawn_app_with(|s| s.dialogues.open_creation = true).await;
    let anyone = open.user("Anyone").await;
    let t = open.token(&anyone).await;
    assert_eq!(
        open.post_json("/api/v1/dialogues", Some(&t), &body)
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn bad_dialogue_and_round_input_is_refused_field_by_field_and_creates_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let token = app.token(&admin).await;
    let res = app
        .post_json("/api/v1/dialogues", Some(&token), &json!({"name": "x".repeat(201), "format": "neemrana",
            "sides": [{"key": "Bad Key", "name": "A"}], "parity_tolerance": 99, "rule": "on_the_record"}))
        .await;
    let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
    let fields: BTreeSet<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["name", "sides[0].key", "sides", "parity_tolerance", "rule"] {
        assert!(fields.contains(f), "{f} in {fields:?}");
    }
    let list: Value = app
        .get("/api/v1/dialogues", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);

    let f = app.round_fixture().await;
    for (body, field) in [
        (
            json!({"title": "R", "timezone": "Mars/Olympus", "starts_on": "2027-01-01", "ends_on": "2027-01-02"}),
            "timezone",
        ),
        (
            json!({"title": "R", "timezone": "Asia/Kolkata", "starts_on": "2027-01-05", "ends_on": "2027-01-02"}),
            "ends_on",
        ),
        (
            json!({"title": "R", "timezone": "Asia/Kolkata", "starts_on": "2027-13-01", "ends_on": "2027-01-02"}),
            "starts_on",
        ),
        (
            json!({"title": "R", "timezone": "Asia/Kolkata", "starts_on": "1/2/2027", "ends_on": "2027-01-02"}),
            "starts_on",
        ),
        (
            json!({"title": "", "timezone": "Asia/Kolkata", "starts_on": "2027-01-01", "ends_on": "2027-01-02"}),
            "title",
        ),
        (
            json!({"title": "R\u{0}", "timezone": "Asia/Kolkata", "starts_on": "2027-01-01", "ends_on": "2027-01-02"}),
            "title",
        ),
    ] {
        let res = app
            .post_json(
                &format!("/api/v1/dialogues/{}/rounds", f.dialogue_id),
                Some(&f.organizer_token),
                &body,
            )
            .await;
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
    let res = app
        .post_json(&format!("/api/v1/dialogues/{}/rounds", f.dialogue_id), Some(&f.organizer_token),
            &json!({"title": "R", "timezone": "Asia/Kolkata", "starts_on": "2027-01-01", "ends_on": "2027-01-02", "sequence": 7}))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
    let rounds: Value = app
        .get(
            &format!("/api/v1/dialogues/{}/rounds", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        rounds["items"].as_array().unwrap().len(),
        1,
        "only the fixture's round"
    );
}

#[tokio::test]
async fn the_lifecycle_allows_exactly_the_designed_transitions_over_http() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let status = |to: &str| json!({"status": to, "force": true});
    let path = format!("/api/v1/rounds/{}/status", f.round_id);

    let res = app
        .post_json(&path, Some(&f.organizer_token), &status("concluded"))
        .await;
    let body = assert_problem(res, StatusCode::CONFLICT, "illegal_transition").await;
    assert_eq!(body["allowed"], json!(["scheduled", "cancelled"]));
    for to in ["scheduled", "in_session", "concluded", "archived"] {
        let res = app
            .post_json(&path, Some(&f.organizer_token), &status(to))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "→ {to}");
        assert_eq!(res.json::<Value>().await.unwrap()["status"], to);
    }
    let res = app
        .post_json(&path, Some(&f.organizer_token), &status("draft"))
        .await;
    let body = assert_problem(res, StatusCode::CONFLICT, "illegal_transition").await;
    assert_eq!(body["allowed"], json!([]));
    // Archived is read-only.
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{}", f.round_id),
            Some(&f.organizer_token),
            &json!({"title": "Changed"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "round_read_only").await;
    let res = app
        .post_json(
            &path,
            Some(&f.organizer_token),
            &json!({"status": "paused"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;

    // Cancelled from scheduled; invitations are then refused.
    let r2 = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let p2 = format!("/api/v1/rounds/{r2}/status");
    assert_eq!(
        app.post_json(&p2, Some(&f.organizer_token), &status("scheduled"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_json(&p2, Some(&f.organizer_token), &status("cancelled"))
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{r2}/invitations"),
            Some(&f.organizer_token),
            &json!({"email": "x@example.org", "name": "X", "side": "india", "role": "delegate"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "round_closed_for_invitations").await;

    // Forcing into session was audited as such.
    let audit: Value = app
        .get(
            &format!(
                "/api/v1/dialogues/{}/audit?action=round.status_forced",
                f.dialogue_id
            ),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    assert_eq!(audit["items"][0]["detail"]["to"], "in_session");
}

#[tokio::test]
async fn only_an_organizer_may_force_a_round_into_session() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let convenor = app.user("Convenor").await;
    app.join(&f.round_id, &convenor, "india", "convenor").await;
    let token = app.token(&convenor).await;
    let path = format!("/api/v1/rounds/{}/status", f.round_id);
    assert_eq!(
        app.post_json(&path, Some(&token), &json!({"status": "scheduled"}))
            .await
            .status(),
        StatusCode::OK
    );
    let res = app
        .post_json(
            &path,
            Some(&token),
            &json!({"status": "in_session", "force": true}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let round: Value = app
        .get(&format!("/api/v1/rounds/{}", f.round_id), Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(round["status"], "scheduled");
}

#[tokio::test]
async fn concurrent_round_creation_numbers_rounds_without_gaps_or_duplicates() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let second = app.user("Second Organizer").await;
    store_add_organizer(&app, &f.dialogue_id, &second.id).await;
    let second_token = app.token(&second).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/api/v1/dialogues/{}/rounds", f.dialogue_id)),
        );
        let token = if i % 2 == 0 {
            f.organizer_token.clone()
        } else {
            second_token.clone()
        };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("Parallel {i}"), "timezone": "UTC", "starts_on": "2027-05-01", "ends_on": "2027-05-02"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let rounds: Value = app
        .get(
            &format!("/api/v1/dialogues/{}/rounds?limit=100", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let sequences: Vec<i64> = rounds["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=13).collect::<Vec<_>>());
}

async fn store_add_organizer(app: &crate::helpers::TestApp, dialogue_id: &str, user_id: &str) {
    backchannel::store::dialogues::add_organizer(&app.db, dialogue_id, user_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_removal_or_role_change_applies_to_the_participants_very_next_request() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let convenor = app.user("Soon Demoted").await;
    let delegate = app.user("Soon Removed").await;
    app.join(&f.round_id, &convenor, "india", "convenor").await;
    app.join(&f.round_id, &delegate, "pakistan", "delegate")
        .await;
    let convenor_token = app.token(&convenor).await;
    let delegate_token = app.token(&delegate).await;
    let round_path = format!("/api/v1/rounds/{}", f.round_id);

    assert_eq!(
        app.send_json(
            Method::PATCH,
            &round_path,
            Some(&convenor_token),
            &json!({"title": "By the convenor"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{}/participants/{}", f.round_id, convenor.id),
            Some(&f.organizer_token),
            &json!({"role": "delegate"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .send_json(
            Method::PATCH,
            &round_path,
            Some(&convenor_token),
            &json!({"title": "Again"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    assert_eq!(
        app.get(&round_path, Some(&delegate_token)).await.status(),
        StatusCode::OK
    );
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rounds/{}/participants/{}", f.round_id, delegate.id),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&round_path, Some(&delegate_token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let me: Value = app
        .get("/api/v1/me", Some(&delegate_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["memberships"], json!([]));

    let res = app
        .get(
            &format!("/api/v1/dialogues/{}/audit", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await;
    // Entries name the people who acted: they are not to be cached.
    assert_eq!(res.headers()["cache-control"], "no-store");
    let audit: Value = res.json().await.unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"participant.role_changed") && actions.contains(&"participant.removed"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_side_change_respects_the_delegation_limit() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    for i in 0..8 {
        let u = app.user(&format!("Pakistani {i}")).await;
        app.join(&f.round_id, &u, "pakistan", "delegate").await;
    }
    let mover = app.user("Mover").await;
    app.join(&f.round_id, &mover, "india", "delegate").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{}/participants/{}", f.round_id, mover.id),
            Some(&f.organizer_token),
            &json!({"side": "pakistan"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "delegation_full").await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{}/participants/{}", f.round_id, mover.id),
            Some(&f.organizer_token),
            &json!({"side": "atlantis"}),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
}

#[tokio::test]
async fn the_roster_goes_only_to_members_and_emails_only_to_organizers() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let member = app.user("Roster Member").await;
    app.join(&f.round_id, &member, "india", "co_chair").await;
    let outsider = app.user("Outsider").await;
    let admin = app.admin().await;
    let path = format!("/api/v1/rounds/{}/participants", f.round_id);

    let res = app.get(&path, Some(&f.organizer_token)).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let roster: Value = res.json().await.unwrap();
    assert_eq!(roster["items"][0]["email"], member.email);
    let seen: Value = app
        .get(&path, Some(&app.token(&member).await))
        .await
        .json()
        .await
        .unwrap();
    assert!(seen["items"][0].get("email").is_none());
    assert_eq!(seen["items"][0]["role"], "co_chair");
    for token in [app.token(&outsider).await, app.token(&admin).await] {
        let res = app.get(&path, Some(&token)).await;
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&member.email) && !text.contains("Roster Member"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn no_response_to_another_rounds_members_carries_a_canary_of_this_round() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let canaries = [
        "CANARY-TITLE-7731",
        "CANARY-VENUE-7732",
        "canary-invitee-7733@example.org",
        "CANARY-INVITEE-7734",
        "CANARY-MESSAGE-7735",
        "CANARY-MEMBER-7736",
    ];
    let round_a = format!("/api/v1/rounds/{}", f.round_id);
    app.send_json(
        Method::PATCH,
        &round_a,
        Some(&f.organizer_token),
        &json!({"title": canaries[0], "venue": {"name": canaries[1]}}),
    )
    .await;
    let res = app
        .post_json(&format!("{round_a}/invitations"), Some(&f.organizer_token), &json!({"email": canaries[2], "name": canaries[3], "side": "india", "role": "delegate", "message": canaries[4]}))
        .await;
    let invitation: Value = res.json().await.unwrap();
    let member_a = app
        .create_user("member-a@example.org", canaries[5], false)
        .await;
    app.join(&f.round_id, &member_a, "india", "delegate").await;

    // Round B, in another dialogue, with its own member and organizer.
    let organizer_b = app.user("Organizer B").await;
    let organizer_b_token = app.token(&organizer_b).await;
    let dialogue_b = app.dialogue_for(&organizer_b, "Other Dialogue").await;
    let round_b = app
        .create_round(&organizer_b_token, &dialogue_b, "Round B")
        .await;
    let member_b = app.user("Member B").await;
    app.join(&round_b, &member_b, "india", "delegate").await;
    let member_b_token = app.token(&member_b).await;

    let inv_id = invitation["id"].as_str().unwrap();
    let paths = [
        "/api/v1/me".to_owned(),
        "/api/v1/dialogues".to_owned(),
        "/api/v1/formats".to_owned(),
        format!("/api/v1/dialogues/{dialogue_b}"),
        format!("/api/v1/dialogues/{dialogue_b}/rounds"),
        format!("/api/v1/dialogues/{dialogue_b}/audit"),
        format!("/api/v1/rounds/{round_b}"),
        format!("/api/v1/rounds/{round_b}/participants"),
        format!("/api/v1/rounds/{round_b}/readiness"),
        format!("/api/v1/dialogues/{}", f.dialogue_id),
        format!("/api/v1/dialogues/{}/rounds", f.dialogue_id),
        format!("/api/v1/dialogues/{}/audit", f.dialogue_id),
        round_a.clone(),
        format!("{round_a}/participants"),
        format!("{round_a}/invitations"),
        format!("{round_a}/readiness"),
        format!(
            "/api/v1/rounds/{round_b}/participants?cursor={}",
            member_a.id
        ),
    ];
    for token in [&member_b_token, &organizer_b_token] {
        for path in &paths {
            let text = app.get(path, Some(token)).await.text().await.unwrap();
            for canary in canaries {
                assert!(!text.contains(canary), "{path} leaks {canary}: {text}");
            }
        }
        for (method, path) in [
            (Method::DELETE, format!("/api/v1/invitations/{inv_id}")),
            (Method::POST, format!("/api/v1/invitations/{inv_id}/resend")),
        ] {
            let res = app
                .request(method, &path, Some(token))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND);
            let text = res.text().await.unwrap();
            assert!(canaries.iter().all(|c| !text.contains(c)), "{path}: {text}");
        }
    }
    // The invitation was untouched by those attempts.
    let list: Value = app
        .get(&format!("{round_a}/invitations"), Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["status"], "pending");
}

#[tokio::test]
async fn the_last_organizer_cannot_be_removed_and_members_cannot_edit_the_dialogue() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let res = app
        .request(
            Method::DELETE,
            &format!(
                "/api/v1/dialogues/{}/organizers/{}",
                f.dialogue_id, f.organizer.id
            ),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::CONFLICT, "last_organizer").await;
    let member = app.user("Member").await;
    app.join(&f.round_id, &member, "india", "co_chair").await;
    let token = app.token(&member).await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/dialogues/{}", f.dialogue_id),
            Some(&token),
            &json!({"name": "Taken over"}),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let d: Value = app
        .get(
            &format!("/api/v1/dialogues/{}", f.dialogue_id),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["name"], "Neemrana Dialogue");
    assert!(
        d.get("organizers").is_none(),
        "members do not see the organizer list"
    );
    let res = app
        .send_json(Method::PATCH, &format!("/api/v1/dialogues/{}", f.dialogue_id), Some(&f.organizer_token),
            &json!({"description": "Since 1991", "sides": [{"key": "india", "delegation_limit": 5}]}))
        .await;
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["description"], "Since 1991");
    assert_eq!(d["sides"][0]["delegation_limit"], 5);
}

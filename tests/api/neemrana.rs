//! The end-to-end walk: an organizer sets up a Neemrana-style dialogue and round 1,
//! invites four delegates per side, a co-chair per side and a rapporteur; each accepts from the
//! mailed link; readiness reports every check passing but the agenda; a participant of round 1
//! gets 404 for everything of a round 2 they are not in.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_neemrana_round_is_set_up_end_to_end_over_http() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let admin_token = app.token(&admin).await;

    // The admin creates the series and hands it to an organizer.
    let organizer = app.user("Meera Rao").await;
    let res = app
        .post_json(
            "/api/v1/dialogues",
            Some(&admin_token),
            &json!({"name": "Neemrana Dialogue", "format": "neemrana",
                    "sides": [{"key": "india", "name": "India", "country": "India", "delegation_limit": 8},
                              {"key": "pakistan", "name": "Pakistan", "country": "Pakistan", "delegation_limit": 8}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let dialogue: Value = res.json().await.unwrap();
    let dialogue_id = dialogue["id"].as_str().unwrap().to_owned();
    assert_eq!(dialogue["next_venue_country"], "India");
    let res = app
        .post_json(
            &format!("/api/v1/dialogues/{dialogue_id}/organizers"),
            Some(&admin_token),
            &json!({"email": organizer.email}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/dialogues/{dialogue_id}/organizers/{}", admin.id),
            Some(&admin_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(
            &format!("/api/v1/dialogues/{dialogue_id}"),
            Some(&admin_token)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );

    let token = app.token(&organizer).await;
    let res = app
        .post_json(
            &format!("/api/v1/dialogues/{dialogue_id}/rounds"),
            Some(&token),
            &json!({"title": "Round 1", "timezone": "Asia/Kolkata", "starts_on": "2027-02-10", "ends_on": "2027-02-12",
                    "venue": {"name": "Neemrana Fort-Palace", "city": "Neemrana"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let round: Value = res.json().await.unwrap();
    let round_id = round["id"].as_str().unwrap().to_owned();
    assert_eq!(round["sequence"], 1);
    assert_eq!(round["status"], "draft");
    assert_eq!(
        round["venue"]["country"], "India",
        "the first Neemrana round is suggested in the first side's country"
    );

    // Invitations: a co-chair and four delegates per side, and a rapporteur.
    let mut invitees = Vec::new();
    for side in ["india", "pakistan"] {
        invitees.push((
            format!("chair.{side}@example.org"),
            format!("Chair {side}"),
            side,
            "co_chair",
        ));
        for i in 0..4 {
            invitees.push((
                format!("delegate{i}.{side}@example.org"),
                format!("Delegate {i} {side}"),
                side,
                "delegate",
            ));
        }
    }
    invitees.push((
        "rapporteur@example.org".into(),
        "The Rapporteur".into(),
        "india",
        "rapporteur",
    ));
    for (email, name, side, role) in &invitees {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{round_id}/invitations"),
                Some(&token),
                &json!({"email": email, "name": name, "side": side, "role": role}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "invite {email}");
    }

    // Each accepts from the link mailed to them, creating their account.
    let mails = app.mailed(invitees.len()).await;
    assert_eq!(mails.len(), invitees.len());
    for (email, name, side, role) in &invitees {
        let mailed_token = app.mailed_token(email).await;
        let preview: Value = app
            .post_json(
                "/api/v1/invitations/preview",
                None,
                &json!({"token": mailed_token}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(preview["round_title"], "Round 1");
        assert_eq!(preview["role"], *role);
        let res = app
            .post_json(
                "/api/v1/invitations/accept",
                None,
                &json!({"token": mailed_token, "display_name": name, "password": format!("{email}-passphrase")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "accept {email}");
        let membership: Value = res.json().await.unwrap();
        assert_eq!(membership["side"], *side);
        assert_eq!(membership["role"], *role);
    }

    // Readiness: everything but the agenda.
    let readiness: Value = app
        .get(
            &format!("/api/v1/rounds/{round_id}/readiness"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(readiness["ready"], false);
    for check in readiness["checks"].as_array().unwrap() {
        let expected = check["key"] != "agenda";
        assert_eq!(check["passed"], expected, "{check}");
    }
    assert_eq!(readiness["checks"][4]["detail"], "no agenda items");

    // The roster shows everyone; the organizer sees emails, a delegate does not.
    let roster: Value = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participants"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(roster["items"].as_array().unwrap().len(), 11);
    assert!(roster["items"][0]["email"].is_string());
    let delegate = crate::helpers::TestUser {
        id: String::new(),
        email: "delegate0.india@example.org".into(),
        password: "delegate0.india@example.org-passphrase".into(),
    };
    let delegate_token = app.token(&delegate).await;
    let seen: Value = app
        .get(
            &format!("/api/v1/rounds/{round_id}/participants"),
            Some(&delegate_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["items"].as_array().unwrap().len(), 11);
    assert!(
        seen["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("email").is_none())
    );

    // Scheduling and going into session: refused while the agenda check fails, unless forced.
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round_id}/status"),
            Some(&token),
            &json!({"status": "scheduled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round_id}/status"),
            Some(&token),
            &json!({"status": "in_session"}),
        )
        .await;
    let body = assert_problem(res, StatusCode::CONFLICT, "not_ready").await;
    assert!(
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "agenda" && c["passed"] == false)
    );

    // Round 2 of the same dialogue: the delegate of round 1 sees none of it.
    let res = app
        .post_json(
            &format!("/api/v1/dialogues/{dialogue_id}/rounds"),
            Some(&token),
            &json!({"title": "Round 2", "timezone": "Asia/Karachi", "starts_on": "2027-09-01", "ends_on": "2027-09-03"}),
        )
        .await;
    let round2: Value = res.json().await.unwrap();
    assert_eq!(round2["sequence"], 2);
    assert_eq!(round2["venue"]["country"], "Pakistan", "venues alternate");
    let round2_id = round2["id"].as_str().unwrap();
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round2_id}/invitations"),
            Some(&token),
            &json!({"email": "r2@example.org", "name": "R2", "side": "india", "role": "delegate"}),
        )
        .await;
    let invitation2: Value = res.json().await.unwrap();
    let unknown = "00000000-0000-0000-0000-000000000000";
    let reference = app
        .get(&format!("/api/v1/rounds/{unknown}"), Some(&delegate_token))
        .await
        .text()
        .await
        .unwrap();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/rounds/{round2_id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/rounds/{round2_id}"),
            Some(json!({"title": "x"})),
        ),
        (
            Method::GET,
            format!("/api/v1/rounds/{round2_id}/participants"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/rounds/{round2_id}/readiness"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/rounds/{round2_id}/invitations"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/rounds/{round2_id}/status"),
            Some(json!({"status": "scheduled"})),
        ),
        (
            Method::DELETE,
            format!(
                "/api/v1/invitations/{}",
                invitation2["id"].as_str().unwrap()
            ),
            None,
        ),
        (
            Method::POST,
            format!(
                "/api/v1/invitations/{}/resend",
                invitation2["id"].as_str().unwrap()
            ),
            None,
        ),
    ] {
        let mut req = app.request(method.clone(), &path, Some(&delegate_token));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(
            res.text().await.unwrap(),
            reference,
            "{method} {path}: same body as a missing round"
        );
    }
    // The dialogue lists only the delegate's own round.
    let rounds: Value = app
        .get(
            &format!("/api/v1/dialogues/{dialogue_id}/rounds"),
            Some(&delegate_token),
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = rounds["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![round_id.as_str()]);

    // The audit trail saw all of it.
    let audit: Value = app
        .get(
            &format!("/api/v1/dialogues/{dialogue_id}/audit?limit=100"),
            Some(&token),
        )
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "dialogue.created",
        "organizer.added",
        "organizer.removed",
        "round.created",
        "invitation.created",
        "invitation.accepted",
        "round.status_changed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "invitation.accepted")
            .count(),
        11
    );
}

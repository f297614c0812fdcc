//! Summaries, the joint statement and the round's record.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app};

struct Session {
    round_id: String,
    /// The organizer (no round role).
    organizer_token: String,
    chair_india: String,
    chair_pakistan: String,
    rapporteur: String,
    delegate: String,
    item_id: String,
}

/// A round in session: two co-chairs, a rapporteur and two delegates (five participants), and a
/// published agenda with one item.
async fn session(app: &TestApp) -> Session {
    let f = app.round_fixture().await;
    let mut tokens = Vec::new();
    for (email, name, side, role) in [
        ("chair.in@example.org", "Vikram Sood", "india", "co_chair"),
        (
            "chair.pk@example.org",
            "Riaz Khokhar",
            "pakistan",
            "co_chair",
        ),
        (
            "rapp@example.org",
            "Meenakshi Gopinath",
            "india",
            "rapporteur",
        ),
        ("del1@example.org", "Ayesha Siddiqa", "pakistan", "delegate"),
        ("del2@example.org", "Happymon Jacob", "india", "delegate"),
    ] {
        let email = format!(
            "{}-{email}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let u: TestUser = app.create_user(&email, name, false).await;
        app.join(&f.round_id, &u, side, role).await;
        tokens.push(app.token(&u).await);
    }
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{}/agenda", f.round_id),
            Some(&f.organizer_token),
            &json!({"title": "Trade and connectivity", "topics": ["trade"]}),
        )
        .await;
    let item_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_json(
        &format!("/api/v1/rounds/{}/agenda/publish", f.round_id),
        Some(&f.organizer_token),
        &json!({}),
    )
    .await;
    for s in ["scheduled", "in_session"] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/status", f.round_id),
                Some(&f.organizer_token),
                &json!({"status": s, "force": true}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{s}");
    }
    Session {
        round_id: f.round_id,
        organizer_token: f.organizer_token,
        chair_india: tokens[0].clone(),
        chair_pakistan: tokens[1].clone(),
        rapporteur: tokens[2].clone(),
        delegate: tokens[3].clone(),
        item_id,
    }
}

#[tokio::test]
async fn the_statement_is_adopted_when_a_co_chair_of_every_side_approves_the_current_version() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let path = format!("/api/v1/rounds/{}/statement", s.round_id);
    assert_problem(
        app.send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.delegate),
            &json!({"body": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({"body": "Both sides agree to meet again within six months."}),
        )
        .await;
    let v1: Value = res.json().await.unwrap();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["required_sides"], json!(["india", "pakistan"]));

    let approve = format!("{path}/approve");
    assert_problem(
        app.post_json(&approve, Some(&s.rapporteur), &json!({"version": 1}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let after: Value = app
        .post_json(&approve, Some(&s.chair_india), &json!({"version": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["approved_sides"], json!(["india"]));
    assert_eq!(after["adopted"], false);
    assert!(!after.to_string().contains("Vikram"), "sides, never who");

    // An edit clears approvals; approving the stale version is refused.
    let v2: Value = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.chair_pakistan),
            &json!({"body": "Both sides agree to meet again within four months."}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["approved_sides"], json!([]));
    let res = app
        .post_json(&approve, Some(&s.chair_pakistan), &json!({"version": 1}))
        .await;
    let body = assert_problem(res, StatusCode::CONFLICT, "stale_version").await;
    assert_eq!(body["current_version"], 2);
    app.post_json(&approve, Some(&s.chair_pakistan), &json!({"version": 2}))
        .await;
    let done: Value = app
        .post_json(&approve, Some(&s.chair_india), &json!({"version": 2}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["adopted"], true);
    assert_eq!(done["approved_sides"], json!(["india", "pakistan"]));
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({"body": "Rewritten"}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "statement_adopted").await;

    // A statement naming a participant is refused, or redacted on request.
    let round2 = session(&app).await;
    let p2 = format!("/api/v1/rounds/{}/statement", round2.round_id);
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &p2,
            Some(&round2.rapporteur),
            &json!({"body": "As the co-chair Vikram Sood said, trade matters."}),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &p2,
            Some(&round2.rapporteur),
            &json!({"body": "As the co-chair Vikram Sood said, trade matters.", "redact": true}),
        )
        .await;
    let redacted: Value = res.json().await.unwrap();
    assert_eq!(
        redacted["body"],
        "As the [a role-holder] [a participant] said, trade matters."
    );
}

/// A summary passes the attribution guard as a note does: a surname is refused with its span
/// and nothing is stored; on request it is redacted, and what is stored is the redacted text.
#[tokio::test]
async fn a_summary_naming_a_participant_is_refused_or_stored_redacted() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let path = format!("/api/v1/agenda/{}/summary", s.item_id);
    let body = "Khokhar stressed that trade through Wagah could resume.";
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({ "body": body }),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    let spans = problem["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 1, "{problem}");
    assert_eq!(
        (&spans[0]["start"], &spans[0]["end"]),
        (&json!(0), &json!(7)),
        "{problem}"
    );
    assert_eq!(spans[0]["kind"], "participant", "{problem}");
    // The refusal points at the words; it does not repeat them, or the name they matched.
    assert!(!problem.to_string().contains("Khokhar"), "{problem}");
    assert!(!problem.to_string().contains("Riaz"), "{problem}");
    let res = app.get(&path, Some(&s.delegate)).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a refused summary is not stored"
    );

    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({ "body": body, "redact": true }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let expected = "[a participant] stressed that trade through Wagah could resume.";
    assert_eq!(res.json::<Value>().await.unwrap()["body"], expected);
    let res = app.get(&path, Some(&s.delegate)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers().get("cache-control").unwrap(),
        "no-store",
        "a summary is not cached"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["body"], expected);
}

/// Once the round is archived its statement no longer changes: neither an edit nor an
/// approval is taken, and the statement stays as it was.
#[tokio::test]
async fn an_archived_round_takes_no_approval_of_its_statement() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let path = format!("/api/v1/rounds/{}/statement", s.round_id);
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({"body": "Both sides agree to meet again within six months."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for to in ["concluded", "archived"] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/status", s.round_id),
                Some(&s.organizer_token),
                &json!({"status": to, "force": true}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{to}");
    }
    for chair in [&s.chair_india, &s.chair_pakistan] {
        let res = app
            .post_json(
                &format!("{path}/approve"),
                Some(chair),
                &json!({"version": 1}),
            )
            .await;
        assert_problem(res, StatusCode::CONFLICT, "round_read_only").await;
    }
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &path,
            Some(&s.rapporteur),
            &json!({"body": "Rewritten after the round."}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "round_read_only").await;
    let res = app.get(&path, Some(&s.delegate)).await;
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let statement: Value = res.json().await.unwrap();
    assert_eq!(statement["version"], 1);
    assert_eq!(statement["approved_sides"], json!([]));
    assert_eq!(statement["adopted"], false);
}

#[tokio::test]
async fn the_record_carries_content_only_and_refuses_to_export_a_newly_attributable_text() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let notes = format!("/api/v1/rounds/{}/notes", s.round_id);
    for body in [
        "Cross-LoC trade could resume with third-party verification.",
        "Visa regimes for businesspeople deserve a pilot.",
    ] {
        let res = app
            .post_json(
                &notes,
                Some(&s.delegate),
                &json!({"visibility": "chatham", "body": body, "agenda_item_id": s.item_id}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    app.post_json(
        &notes,
        Some(&s.delegate),
        &json!({"visibility": "private", "body": "PRIVATE-CANARY-4471"}),
    )
    .await;
    let res = app
        .send_json(
            reqwest::Method::PUT,
            &format!("/api/v1/agenda/{}/summary", s.item_id),
            Some(&s.rapporteur),
            &json!({"body": "Trade was discussed with cautious optimism."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        app.send_json(
            reqwest::Method::PUT,
            &format!("/api/v1/agenda/{}/summary", s.item_id),
            Some(&s.delegate),
            &json!({"body": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let status = format!("/api/v1/agenda/{}/status", s.item_id);
    app.post_json(
        &status,
        Some(&s.chair_india),
        &json!({"status": "in_discussion"}),
    )
    .await;
    let res = app
        .post_json(
            &status,
            Some(&s.chair_india),
            &json!({"status": "concluded", "outcome": "A working group on trade facilitation."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // Concluding the item released its notes (five participants ≥ the release group of four).
    let listed: Value = app
        .get(&notes, Some(&s.delegate))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    let record: Value = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&s.delegate),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["agenda"][0]["notes"].as_array().unwrap().len(), 2);
    assert_eq!(
        record["agenda"][0]["summary"],
        "Trade was discussed with cautious optimism."
    );
    assert_eq!(
        record["agenda"][0]["outcome"],
        "A working group on trade facilitation."
    );
    let text = record.to_string();
    for leak in [
        "PRIVATE-CANARY-4471",
        "Ayesha",
        "Siddiqa",
        "Vikram",
        "@example.org",
        "Test Institute",
        "participants",
        "created_at",
    ] {
        assert!(!text.contains(leak), "the record carries {leak}: {text}");
    }
    let res = app
        .get(
            &format!("/api/v1/rounds/{}/record?format=markdown", s.round_id),
            Some(&s.delegate),
        )
        .await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/markdown")
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let md = res.text().await.unwrap();
    assert!(
        md.contains("Trade and connectivity") && md.contains("Visa regimes"),
        "{md}"
    );
    assert_problem(
        app.get(
            &format!("/api/v1/rounds/{}/record?format=pdf", s.round_id),
            Some(&s.delegate),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    )
    .await;
    // Organizers read the record only as participants.
    assert_problem(
        app.get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&s.organizer_token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Someone whose surname appears in a released note joins later: the record is no longer
    // safe to export, and says so rather than leak.
    let late = app
        .create_user("third@example.org", "Priya Third-Party", false)
        .await;
    app.join(&s.round_id, &late, "india", "delegate").await;
    let res = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&s.delegate),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "attribution_risk").await;
    // The notes list reads them through today's roster too.
    let listed = app
        .get(&notes, Some(&s.delegate))
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.to_lowercase().contains("third-party"), "{listed}");
    assert!(
        listed.contains("with [a participant] verification"),
        "{listed}"
    );
}

fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    use secrecy::ExposeSecret;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BACKCHANNEL_CONFIG_DIR", crate::helpers::config_dir())
        .env("BACKCHANNEL_ENV", "test")
        .env(
            "BACKCHANNEL_STORAGE__DATA_DIR",
            &app.settings.storage.data_dir,
        )
        .env(
            "BACKCHANNEL_DATABASE__URL",
            app.settings.database.url.expose_secret(),
        )
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn the_cli_exports_a_record_and_rotates_keys_resumably() {
    use backchannel::entities::{agenda_item, chatham_note, private_note};
    use sea_orm::EntityTrait;
    let app = spawn_app().await;
    let s = session(&app).await;
    let notes = format!("/api/v1/rounds/{}/notes", s.round_id);
    let created: Value = app
        .post_json(&notes, Some(&s.delegate), &json!({"visibility": "chatham", "body": "A joint water data centre was floated.", "agenda_item_id": s.item_id}))
        .await
        .json()
        .await
        .unwrap();
    let private: Value = app
        .post_json(
            &notes,
            Some(&s.delegate),
            &json!({"visibility": "private", "body": "Ask about the Tulbul project."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let status = format!("/api/v1/agenda/{}/status", s.item_id);
    app.post_json(
        &status,
        Some(&s.chair_india),
        &json!({"status": "in_discussion"}),
    )
    .await;
    app.post_json(
        &status,
        Some(&s.chair_india),
        &json!({"status": "concluded", "outcome": "Experts to meet."}),
    )
    .await;

    let (ok, out) = cli(
        &app,
        &["export", "round", &s.round_id, "--format", "markdown"],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("# Neemrana Dialogue — Round 1")
            && out.contains("A joint water data centre was floated.")
            && out.contains("Experts to meet."),
        "{out}"
    );
    assert!(
        !out.contains("Tulbul"),
        "private notes never reach the record"
    );
    let (ok, out) = cli(
        &app,
        &["export", "round", "00000000-0000-0000-0000-000000000000"],
    );
    assert!(!ok && out.contains("no round"), "{out}");

    let old_kid = chatham_note::Entity::find_by_id(created["id"].as_str().unwrap().to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .key_id;
    let (ok, out) = cli(&app, &["keys", "rotate"]);
    assert!(ok, "{out}");
    let new_kid = chatham_note::Entity::find_by_id(created["id"].as_str().unwrap().to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .key_id;
    assert_ne!(new_kid, old_kid);
    assert!(out.contains(&format!("current key {new_kid}")), "{out}");
    let p = private_note::Entity::find_by_id(private["id"].as_str().unwrap().to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.key_id, new_kid);
    let item = agenda_item::Entity::find_by_id(s.item_id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.outcome_key_id.as_deref(), Some(new_kid.as_str()));
    // Resuming finds nothing left; retiring drops the old key, which no row uses any more.
    let (ok, out) = cli(&app, &["keys", "rotate", "--resume", "--retire"]);
    assert!(
        ok && out.contains("0 rows re-sealed, 1 old keys retired"),
        "{out}"
    );
    let ring = std::fs::read_to_string(app.settings.storage.data_dir.join("notes.key")).unwrap();
    assert!(
        ring.starts_with(&new_kid) && !ring.contains(&old_kid),
        "{ring}"
    );

    // A restarted server reads everything under the new key.
    let (data_dir, url) = (
        app.settings.storage.data_dir.clone(),
        app.settings.database.url.clone(),
    );
    let restarted = crate::helpers::spawn_app_with(move |st| {
        st.storage.data_dir = data_dir;
        st.database.url = url;
    })
    .await;
    let mine: Value = restarted
        .get(
            &format!("/api/v1/notes/{}", private["id"].as_str().unwrap()),
            Some(&s.delegate),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["body"], "Ask about the Tulbul project.");
    let record: Value = restarted
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&s.delegate),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["agenda"][0]["outcome"], "Experts to meet.");
}

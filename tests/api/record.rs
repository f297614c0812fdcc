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
    let res = put(
        &app,
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
    let v2: Value = put(
        &app,
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
    let res = put(
        &app,
        &path,
        Some(&s.rapporteur),
        &json!({"body": "Rewritten"}),
    )
    .await;
    assert_problem(res, StatusCode::CONFLICT, "statement_adopted").await;

    // A statement naming a participant is refused, or redacted on request.
    let round2 = session(&app).await;
    let p2 = format!("/api/v1/rounds/{}/statement", round2.round_id);
    let res = put(
        &app,
        &p2,
        Some(&round2.rapporteur),
        &json!({"body": "As the co-chair Vikram Sood said, trade matters."}),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    let res = put(
        &app,
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

/// A PUT of `body` to `path`.
async fn put(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    app.send_json(reqwest::Method::PUT, path, token, body).await
}

/// A summary passes the attribution guard as a note does: a surname is refused with its span
/// and nothing is stored; on request it is redacted, and what is stored is the redacted text.
#[tokio::test]
async fn a_summary_naming_a_participant_is_refused_or_stored_redacted() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let path = format!("/api/v1/agenda/{}/summary", s.item_id);
    let body = "Khokhar stressed that trade through Wagah could resume.";
    let res = put(&app, &path, Some(&s.rapporteur), &json!({ "body": body })).await;
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

    let res = put(
        &app,
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
    let res = put(
        &app,
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
    let res = put(
        &app,
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

/// The final guard pass covers what organizers wrote too: an agenda item titled after a
/// participant would attribute every note under it, so the export is refused until the title
/// is changed and the agenda published again.
#[tokio::test]
async fn an_agenda_title_naming_a_participant_fails_the_export_until_it_is_changed() {
    let app = spawn_app().await;
    let s = session(&app).await;
    let agenda = format!("/api/v1/rounds/{}/agenda", s.round_id);
    let res = app
        .post_json(
            &agenda,
            Some(&s.organizer_token),
            &json!({"title": "Briefing by Happymon Jacob", "topics": ["water"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let briefing = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let publish = format!("{agenda}/publish");
    let res = app
        .post_json(&publish, Some(&s.organizer_token), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "publish");
    let record = format!("/api/v1/rounds/{}/record", s.round_id);
    for query in ["", "?format=markdown"] {
        let res = app
            .get(&format!("{record}{query}"), Some(&s.delegate))
            .await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "attribution_risk").await;
        assert_eq!(problem["parts"], json!(["agenda item 2"]), "{problem}");
        assert!(!problem.to_string().contains("Jacob"), "{problem}");
    }

    let res = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/agenda/{briefing}"),
            Some(&s.organizer_token),
            &json!({"title": "Briefing on water"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "retitle");
    let res = app
        .post_json(&publish, Some(&s.organizer_token), &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "publish again");
    let res = app.get(&record, Some(&s.delegate)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(text.contains("Briefing on water"), "{text}");
    assert!(!text.contains("Jacob"), "{text}");
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
    let problem = assert_problem(res, StatusCode::CONFLICT, "attribution_risk").await;
    // It says where, and repeats no word of the text.
    assert_eq!(problem["parts"], json!(["agenda item 1"]), "{problem}");
    assert!(
        !problem.to_string().to_lowercase().contains("third"),
        "{problem}"
    );
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
    cli_with(app, &[], args)
}

/// The binary run with `app`'s data directory and database, and `env` besides.
fn cli_with(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
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
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The key ids of (a chatham note, a private note, an agenda item's outcome).
async fn sealed_under(app: &TestApp, (chatham, private, item): (&str, &str, &str)) -> [String; 3] {
    use backchannel::entities::{agenda_item, chatham_note, private_note};
    use sea_orm::EntityTrait;
    let chatham = chatham_note::Entity::find_by_id(chatham.to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let private = private_note::Entity::find_by_id(private.to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let item = agenda_item::Entity::find_by_id(item.to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    [
        chatham.key_id,
        private.key_id,
        item.outcome_key_id.expect("an outcome"),
    ]
}

#[tokio::test]
async fn the_cli_exports_a_record_and_rotates_keys_resumably() {
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

    let rows = (
        created["id"].as_str().unwrap(),
        private["id"].as_str().unwrap(),
        s.item_id.as_str(),
    );
    let [old_kid, ..] = sealed_under(&app, rows).await;
    let (ok, out) = cli(&app, &["keys", "rotate"]);
    assert!(ok, "{out}");
    let [new_kid, private_kid, outcome_kid] = sealed_under(&app, rows).await;
    assert_ne!(new_kid, old_kid);
    assert!(out.contains(&format!("current key {new_kid}")), "{out}");
    assert_eq!([&private_kid, &outcome_kid], [&new_kid, &new_kid]);
    // Resuming finds nothing left; retiring drops the old key, which no row uses any more.
    let (ok, out) = cli(&app, &["keys", "rotate", "--resume", "--retire"]);
    assert!(
        ok && out.contains("0 rows re-sealed, 1 old keys retired"),
        "{out}"
    );
    let ring_file = app.settings.storage.data_dir.join("notes.key");
    let ring = std::fs::read_to_string(&ring_file).unwrap();
    assert!(
        ring.starts_with(&new_kid) && !ring.contains(&old_kid),
        "{ring}"
    );

    // A rotation interrupted right after it put its new key first in the ring has re-sealed
    // nothing yet: `--resume` re-seals every row under that key, the private note, the shared
    // note and the outcome among them.
    let (ok, entry) = cli(&app, &["keys", "new"]);
    assert!(ok, "{entry}");
    let entry = entry.trim().to_owned();
    let (newest_kid, _) = entry.split_once(':').expect("<key id>:<key>");
    std::fs::write(&ring_file, format!("{entry}\n{ring}")).unwrap();
    let (ok, out) = cli(&app, &["keys", "rotate", "--resume"]);
    assert!(
        ok && out.contains(&format!("current key {newest_kid}")),
        "{out}"
    );
    let resealed: u64 = out
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(resealed >= 3, "{out}");
    assert_eq!(sealed_under(&app, rows).await, [newest_kid; 3]);
    let (ok, out) = cli(&app, &["keys", "rotate", "--resume"]);
    assert!(ok && out.contains("0 rows re-sealed"), "{out}");

    // A restarted server reads everything under the new key.
    let restarted = restart(&app, None).await;
    let mine = note_body(&restarted, private["id"].as_str().unwrap(), &s.delegate).await;
    assert_eq!(mine, "Ask about the Tulbul project.");
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

/// With `storage.notes_key` set, the ring comes from settings: no key file is made, rows are
/// sealed under the configured key, and rotation works by changing the setting and resuming.
#[tokio::test]
async fn a_key_ring_from_settings_seals_and_rotates_without_a_key_file() {
    use backchannel::entities::private_note;
    use sea_orm::EntityTrait;
    let first = "c0ffee01:".to_owned() + &"A".repeat(43);
    let configured = first.clone();
    let app = crate::helpers::spawn_app_with(move |st| {
        st.storage.notes_key = configured.into();
    })
    .await;
    let s = session(&app).await;
    let note: Value = app
        .post_json(
            &format!("/api/v1/rounds/{}/notes", s.round_id),
            Some(&s.delegate),
            &json!({"visibility": "private", "body": "Ask about the Tulbul project."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let row = private_note::Entity::find_by_id(note["id"].as_str().unwrap().to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.key_id, "c0ffee01");
    assert!(
        !app.settings.storage.data_dir.join("notes.key").exists(),
        "no key file beside a configured ring"
    );

    // The ring is the operator's: a rotation that would add a key is refused and says how.
    let env = [("BACKCHANNEL_STORAGE__NOTES_KEY", first.as_str())];
    let (ok, out) = cli_with(&app, &env, &["keys", "rotate"]);
    assert!(!ok && out.contains("keys rotate --resume"), "{out}");
    assert!(
        !out.contains(&"A".repeat(43)),
        "a refusal never repeats a key: {out}"
    );

    // A new key first in the setting, then `--resume`: every row moves to it, and `--retire`
    // names the key no row uses any more instead of editing the setting.
    let (ok, entry) = cli(&app, &["keys", "new"]);
    assert!(ok, "{entry}");
    let entry = entry.trim().to_owned();
    let (new_kid, _) = entry.split_once(':').unwrap();
    let ring = format!("{entry},{first}");
    let env = [("BACKCHANNEL_STORAGE__NOTES_KEY", ring.as_str())];
    let (ok, out) = cli_with(&app, &env, &["keys", "rotate", "--resume"]);
    assert!(
        ok && out.contains(&format!("current key {new_kid}")),
        "{out}"
    );
    let row = private_note::Entity::find_by_id(note["id"].as_str().unwrap().to_owned())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.key_id, new_kid);
    let (ok, out) = cli_with(&app, &env, &["keys", "rotate", "--resume", "--retire"]);
    assert!(ok && out.contains("no row uses c0ffee01 any more"), "{out}");
    assert!(!app.settings.storage.data_dir.join("notes.key").exists());

    // A server given only the new key reads the note.
    let restarted = restart(&app, Some(entry)).await;
    let mine = note_body(&restarted, note["id"].as_str().unwrap(), &s.delegate).await;
    assert_eq!(mine, "Ask about the Tulbul project.");
}

/// A second server on `app`'s data directory and database, with `notes_key` if given.
async fn restart(app: &TestApp, notes_key: Option<String>) -> TestApp {
    let (data_dir, url) = (
        app.settings.storage.data_dir.clone(),
        app.settings.database.url.clone(),
    );
    crate::helpers::spawn_app_with(move |st| {
        st.storage.data_dir = data_dir;
        st.database.url = url;
        if let Some(ring) = notes_key {
            st.storage.notes_key = ring.into();
        }
    })
    .await
}

/// The body of note `id` as `token` reads it.
async fn note_body(app: &TestApp, id: &str, token: &str) -> Value {
    let note: Value = app
        .get(&format!("/api/v1/notes/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    note["body"].clone()
}

/// A rotation refuses to run beside a server on the same data directory (the server would go
/// on sealing under its old key), and runs once the server has stopped.
#[tokio::test]
async fn keys_rotate_refuses_to_run_while_the_service_runs() {
    use secrecy::ExposeSecret;
    let app = spawn_app().await;
    let log = app.settings.storage.data_dir.join("server.log");
    let mut server = crate::notes::Server::start(
        &app.settings.storage.data_dir,
        app.settings.database.url.expose_secret(),
        "info",
        &log,
    )
    .await;
    let (ok, out) = cli(&app, &["keys", "rotate"]);
    assert!(!ok && out.contains("the service is running"), "{out}");
    let ring = std::fs::read_to_string(app.settings.storage.data_dir.join("notes.key")).unwrap();
    assert_eq!(ring.trim().lines().count(), 1, "no key was added: {ring}");
    assert!(server.signal(libc::SIGTERM).success());
    let (ok, out) = cli(&app, &["keys", "rotate"]);
    assert!(ok, "{out}");
}

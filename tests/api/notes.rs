//! Notes under the Chatham House Rule (DESIGN.md §4): CHECKS 10, 14–21, 33, 34, 38 and 40, the
//! attribution guard through the API, and the rights around notes. Each test is named after the
//! check it performs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backchannel::auth::password::Passwords;
use backchannel::domain::account::NewAccount;
use backchannel::entities::{chatham_note, private_note};
use backchannel::settings::Settings;
use backchannel::store;
use futures_util::future::join_all;
use reqwest::{Client, Method, Response, StatusCode};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use serde_json::{Map, Value, json};

use crate::helpers::{
    TestApp, TestUser, assert_problem, config_dir, free_port, fresh_database_url, spawn_app,
    test_settings,
};

/// The fields a note may carry, to anyone.
const NOTE_FIELDS: &[&str] = &[
    "id",
    "visibility",
    "round_id",
    "agenda_item_id",
    "body",
    "created_on",
    "released",
];

/// Keys that would attribute a note (or pseudonymise its author).
const AUTHORISH: &[&str] = &[
    "author",
    "author_id",
    "author_name",
    "author_email",
    "author_pseudonym",
    "pseudonym",
    "user",
    "user_id",
    "created_by",
    "updated_by",
    "written_by",
    "owner",
    "owner_id",
    "side",
    "role",
    "affiliation",
];

/// Keys that would time or version a note more finely than the day.
const TIMED: &[&str] = &[
    "created_at",
    "updated_at",
    "updated_on",
    "edited",
    "edited_at",
    "edited_on",
    "modified",
    "modified_at",
    "revision",
    "revisions",
    "version",
    "versions",
    "history",
    "timestamp",
];

/// The default session roster: two co-chairs, a rapporteur and two delegates.
const FIVE: [(&str, &str, &str); 5] = [
    ("Vikram Sood", "india", "co_chair"),
    ("Riaz Khokhar", "pakistan", "co_chair"),
    ("Meenakshi Gopinath", "india", "rapporteur"),
    ("Ayesha Siddiqa", "pakistan", "delegate"),
    ("Happymon Jacob", "india", "delegate"),
];

fn short() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

struct Person {
    user: TestUser,
    token: String,
    name: String,
}

struct Session {
    dialogue_id: String,
    round_id: String,
    organizer_token: String,
    members: Vec<Person>,
    items: Vec<String>,
}

impl Session {
    /// Vikram Sood, co-chair (india).
    fn chair(&self) -> &Person {
        &self.members[0]
    }
    /// Meenakshi Gopinath, rapporteur.
    fn rapporteur(&self) -> &Person {
        &self.members[2]
    }
    /// Ayesha Siddiqa, delegate: the author in most tests.
    fn author(&self) -> &Person {
        &self.members[3]
    }
    /// Happymon Jacob, delegate.
    fn other(&self) -> &Person {
        &self.members[4]
    }
    fn notes(&self) -> String {
        format!("/api/v1/rounds/{}/notes", self.round_id)
    }
}

/// A round in session with the five-person roster and a published agenda of `items`.
async fn session(app: &TestApp, items: &[&str]) -> Session {
    session_with(app, &FIVE, items).await
}

async fn session_with(app: &TestApp, roster: &[(&str, &str, &str)], items: &[&str]) -> Session {
    let f = app.round_fixture().await;
    let mut members = Vec::new();
    for (name, side, role) in roster {
        let email = format!(
            "{}-{}@example.org",
            short(),
            name.to_lowercase().replace(' ', ".")
        );
        let user = app.create_user(&email, name, false).await;
        app.join(&f.round_id, &user, side, role).await;
        let token = app.token(&user).await;
        members.push(Person {
            user,
            token,
            name: (*name).to_owned(),
        });
    }
    let mut item_ids = Vec::new();
    for title in items {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/agenda", f.round_id),
                Some(&f.organizer_token),
                &json!({"title": title, "topics": ["water"]}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "agenda item");
        let item: Value = res.json().await.unwrap();
        item_ids.push(item["id"].as_str().unwrap().to_owned());
    }
    if !items.is_empty() {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/agenda/publish", f.round_id),
                Some(&f.organizer_token),
                &json!({}),
            )
            .await;
        assert!(res.status().is_success(), "publish: {}", res.status());
    }
    for status in ["scheduled", "in_session"] {
        let res = round_status(app, &f.organizer_token, &f.round_id, status).await;
        assert_eq!(res.status(), StatusCode::OK, "{status}");
    }
    Session {
        dialogue_id: f.dialogue_id,
        round_id: f.round_id,
        organizer_token: f.organizer_token,
        members,
        items: item_ids,
    }
}

async fn round_status(app: &TestApp, token: &str, round_id: &str, status: &str) -> Response {
    app.post_json(
        &format!("/api/v1/rounds/{round_id}/status"),
        Some(token),
        &json!({"status": status, "force": true}),
    )
    .await
}

/// A co-chair takes the item through discussion to its conclusion.
async fn conclude_item(app: &TestApp, token: &str, item_id: &str) {
    for status in ["in_discussion", "concluded"] {
        let res = app
            .post_json(
                &format!("/api/v1/agenda/{item_id}/status"),
                Some(token),
                &json!({"status": status}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "item {status}");
    }
}

/// A manual release of the session's round is refused as too small a group, and nothing is
/// released.
async fn assert_release_refused(app: &TestApp, s: &Session, when: &str) {
    let res = release_request(app, s).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "release {when}");
    assert_problem(res, StatusCode::CONFLICT, "release_group_too_small").await;
    let released = chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(s.round_id.as_str()))
        .filter(chatham_note::Column::Released.eq(true))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(released, 0, "notes were released {when}");
}

/// The organizer's manual release of the session's round.
async fn release_request(app: &TestApp, s: &Session) -> Response {
    app.post_json(
        &format!("{}/release", s.notes()),
        Some(&s.organizer_token),
        &json!({}),
    )
    .await
}

async fn release(app: &TestApp, s: &Session) -> Value {
    let res = release_request(app, s).await;
    assert_eq!(res.status(), StatusCode::OK, "release");
    res.json().await.unwrap()
}

struct Shared {
    id: String,
    key: String,
    created: Value,
}

async fn post_note(app: &TestApp, token: &str, round_id: &str, body: &Value) -> Response {
    app.post_json(
        &format!("/api/v1/rounds/{round_id}/notes"),
        Some(token),
        body,
    )
    .await
}

async fn chatham(
    app: &TestApp,
    token: &str,
    round_id: &str,
    text: &str,
    item: Option<&str>,
) -> Shared {
    let res = post_note(
        app,
        token,
        round_id,
        &json!({"visibility": "chatham", "body": text, "agenda_item_id": item}),
    )
    .await;
    let status = res.status();
    let created: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "chatham note: {created}");
    Shared {
        id: created["id"].as_str().unwrap().to_owned(),
        key: created["edit_key"]
            .as_str()
            .expect("an edit key, once")
            .to_owned(),
        created,
    }
}

async fn private(
    app: &TestApp,
    token: &str,
    round_id: &str,
    text: &str,
    item: Option<&str>,
) -> String {
    let res = post_note(
        app,
        token,
        round_id,
        &json!({"visibility": "private", "body": text, "agenda_item_id": item}),
    )
    .await;
    let status = res.status();
    let created: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "private note: {created}");
    assert!(
        created.get("edit_key").is_none(),
        "a private note has no edit key"
    );
    created["id"].as_str().unwrap().to_owned()
}

/// `METHOD /api/v1/notes/{id}` with an optional bearer token, `Edit-Key` and JSON body.
async fn note_request(
    app: &TestApp,
    method: Method,
    id: &str,
    token: Option<&str>,
    key: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut req = app.request(method, &format!("/api/v1/notes/{id}"), token);
    if let Some(key) = key {
        req = req.header("Edit-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.expect("request")
}

/// Status and exact body text.
async fn seen(res: Response) -> (u16, String) {
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn listed_ids(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let res = app.get(path, Some(token)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let page: Value = res.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every JSON object inside `v`, `v` included.
fn objects(v: &Value) -> Vec<&Map<String, Value>> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                out.push(m);
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    out
}

/// The objects that are notes.
fn note_objects(v: &Value) -> Vec<&Map<String, Value>> {
    objects(v)
        .into_iter()
        .filter(|m| {
            m.contains_key("body")
                && (m.contains_key("visibility")
                    || m.contains_key("released")
                    || m.contains_key("created_on"))
        })
        .collect()
}

/// No note object carries a field beyond [`NOTE_FIELDS`] (`edit_key` in the 201 answer only),
/// and no object at all carries an author-ish key.
fn assert_unattributed(v: &Value, context: &str) {
    for m in note_objects(v) {
        for k in m.keys() {
            assert!(
                NOTE_FIELDS.contains(&k.as_str()) || k == "edit_key",
                "{context}: a note carries `{k}`: {v}"
            );
        }
    }
    for m in objects(v) {
        for k in m.keys() {
            assert!(
                !AUTHORISH.contains(&k.as_str()),
                "{context}: `{k}` in a note-bearing response: {v}"
            );
        }
    }
}

/// `HH:MM` somewhere in `s`.
fn has_clock_time(s: &str) -> bool {
    s.as_bytes().windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    })
}

/// Note objects carry `created_on` (a day) and nothing timed or versioned.
fn assert_day_only(v: &Value, context: &str) {
    let notes = note_objects(v);
    assert!(!notes.is_empty(), "{context}: no note in {v}");
    let today = chrono::Utc::now().date_naive();
    for m in notes {
        let day = m["created_on"].as_str().unwrap_or_else(|| {
            panic!("{context}: created_on is a string: {v}");
        });
        assert_eq!(day.len(), 10, "{context}: {day}");
        let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .unwrap_or_else(|_| panic!("{context}: created_on {day} is YYYY-MM-DD"));
        assert!(
            (date - today).num_days().abs() <= 1,
            "{context}: created_on {day} is today"
        );
        for (k, value) in m {
            if k != "body"
                && let Some(s) = value.as_str()
            {
                assert!(!has_clock_time(s), "{context}: `{k}` carries a time: {v}");
            }
        }
    }
    for m in objects(v) {
        for k in m.keys() {
            assert!(
                !TIMED.contains(&k.as_str()),
                "{context}: `{k}` in a note payload: {v}"
            );
        }
    }
}

fn assert_no_store(res: &Response, what: &str) {
    assert_eq!(
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
            .as_deref(),
        Some("no-store"),
        "{what} carries Cache-Control: no-store"
    );
}

/// The principals other than the author and the round's own members used as readers:
/// (label, token). Anonymous has no token.
async fn outsiders(app: &TestApp, s: &Session) -> Vec<(String, Option<String>)> {
    let admin = app.admin().await;
    let round2 = app
        .create_round(&s.organizer_token, &s.dialogue_id, "Round 2")
        .await;
    let elsewhere = app.user("Zorawar Elsewhere").await;
    app.join(&round2, &elsewhere, "india", "delegate").await;
    let organizer2 = app.user("Other Convenor").await;
    app.dialogue_for(&organizer2, "Chaophraya Dialogue").await;
    vec![
        ("the organizer".into(), Some(s.organizer_token.clone())),
        ("a platform admin".into(), Some(app.token(&admin).await)),
        (
            "a member of another round".into(),
            Some(app.token(&elsewhere).await),
        ),
        (
            "the organizer of another dialogue".into(),
            Some(app.token(&organizer2).await),
        ),
        ("anonymous".into(), None),
    ]
}

/// Every principal but the author: the other members, then the outsiders.
async fn everyone_but_the_author(app: &TestApp, s: &Session) -> Vec<(String, Option<String>)> {
    let mut all = vec![
        ("another participant".into(), Some(s.other().token.clone())),
        ("a co-chair".into(), Some(s.chair().token.clone())),
        (
            "the other co-chair".into(),
            Some(s.members[1].token.clone()),
        ),
        ("the rapporteur".into(), Some(s.rapporteur().token.clone())),
    ];
    all.extend(outsiders(app, s).await);
    all
}

/// Every list, export and count a principal could read about the round.
fn round_views(s: &Session) -> Vec<String> {
    let (r, d) = (&s.round_id, &s.dialogue_id);
    let mut paths = vec![
        format!("/api/v1/rounds/{r}/notes"),
        format!("/api/v1/rounds/{r}/notes?limit=100"),
        "/api/v1/me/notes".to_owned(),
        format!("/api/v1/me/notes?round_id={r}"),
        format!("/api/v1/rounds/{r}/record"),
        format!("/api/v1/rounds/{r}/record?format=markdown"),
        format!("/api/v1/dialogues/{d}/audit"),
        format!("/api/v1/dialogues/{d}"),
        format!("/api/v1/dialogues/{d}/rounds"),
        format!("/api/v1/dialogues/{d}/topics"),
        format!("/api/v1/rounds/{r}"),
        format!("/api/v1/rounds/{r}/readiness"),
        format!("/api/v1/rounds/{r}/agenda"),
        format!("/api/v1/rounds/{r}/participants"),
        "/api/v1/me".to_owned(),
    ];
    for item in &s.items {
        paths.push(format!("/api/v1/rounds/{r}/notes?agenda_item_id={item}"));
        paths.push(format!("/api/v1/me/notes?agenda_item_id={item}"));
        paths.push(format!("/api/v1/agenda/{item}"));
        paths.push(format!("/api/v1/agenda/{item}/lineage"));
        paths.push(format!("/api/v1/agenda/{item}/summary"));
    }
    paths
}

/// (principal, path, status, body) of every view for every principal.
async fn snapshot(
    app: &TestApp,
    principals: &[(String, Option<String>)],
    paths: &[String],
) -> Vec<(String, String, u16, String)> {
    let mut out = Vec::new();
    for (label, token) in principals {
        for path in paths {
            let (status, body) = seen(app.get(path, token.as_deref()).await).await;
            out.push((label.clone(), path.clone(), status, body));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// CHECKS 10

#[tokio::test]
async fn checks_10_a_private_note_answers_its_author_alone_and_changes_no_list_seen_by_anyone_else()
{
    let app = spawn_app().await;
    let s = session(&app, &["Water resources"]).await;
    let item = s.items[0].clone();
    let principals = everyone_but_the_author(&app, &s).await;

    // Content others legitimately see, so the views compared below are not empty.
    chatham(
        &app,
        &s.other().token,
        &s.round_id,
        "A joint hydrological data centre could be piloted.",
        Some(&item),
    )
    .await;
    assert_eq!(release(&app, &s).await["released"], 1);
    private(
        &app,
        &s.other().token,
        &s.round_id,
        "Baseline remark kept by the other delegate.",
        None,
    )
    .await;

    let paths = round_views(&s);
    let before = snapshot(&app, &principals, &paths).await;

    let canary = format!("PRIVATE-CANARY-{}", short());
    let text = format!("{canary} on the water item: follow up on flood data.");
    let id = private(&app, &s.author().token, &s.round_id, &text, Some(&item)).await;
    let second = private(
        &app,
        &s.author().token,
        &s.round_id,
        "A second private remark.",
        None,
    )
    .await;
    let res = note_request(
        &app,
        Method::PATCH,
        &second,
        Some(&s.author().token),
        None,
        Some(&json!({"body": "A second private remark, edited."})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "the author edits");

    let after = snapshot(&app, &principals, &paths).await;
    for ((label, path, status, body), (_, _, status_after, body_after)) in before.iter().zip(&after)
    {
        assert_eq!(
            (status, body),
            (status_after, body_after),
            "{label} sees {path} change when the author writes a private note"
        );
        for leak in [&canary, &id, &second] {
            assert!(
                !body_after.contains(leak.as_str()),
                "{label}: {path} carries {leak}"
            );
        }
    }

    // The author alone reads it.
    let res = note_request(&app, Method::GET, &id, Some(&s.author().token), None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let note: Value = res.json().await.unwrap();
    assert_eq!(note["body"], text);
    assert_eq!(note["visibility"], "private");
    let mine = listed_ids(&app, &s.author().token, "/api/v1/me/notes").await;
    assert!(mine.contains(&id) && mine.contains(&second), "{mine:?}");

    let stored = private_note::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    let edit = json!({"body": "Overwritten by someone else."});
    for (label, token) in &principals {
        for (method, body, key) in [
            (Method::GET, None, None),
            (Method::GET, None, Some("guessed-edit-key")),
            (Method::PATCH, Some(&edit), None),
            (Method::PATCH, Some(&edit), Some("guessed-edit-key")),
            (Method::DELETE, None, None),
            (Method::DELETE, None, Some("guessed-edit-key")),
        ] {
            let real =
                seen(note_request(&app, method.clone(), &id, token.as_deref(), key, body).await)
                    .await;
            let none = seen(
                note_request(&app, method.clone(), &unknown, token.as_deref(), key, body).await,
            )
            .await;
            assert_eq!(
                real, none,
                "{label}: {method} of the private note differs from an unknown id"
            );
            let expected = if token.is_some() { 404 } else { 401 };
            assert_eq!(real.0, expected, "{label}: {method}: {}", real.1);
            assert!(!real.1.contains(&canary));
        }
    }
    let unchanged = private_note::Entity::find_by_id(id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .expect("nobody but the author deleted it");
    assert_eq!(unchanged, stored, "nobody but the author changed it");
    let res = note_request(&app, Method::GET, &id, Some(&s.author().token), None, None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["body"], text);
}

// ---------------------------------------------------------------------------------------------
// CHECKS 14

#[tokio::test]
async fn checks_14_no_response_to_anyone_but_the_author_carries_the_author_of_a_chatham_note() {
    let app = spawn_app().await;
    let s = session(&app, &["Water resources"]).await;
    let item = s.items[0].clone();
    let author = s.author();
    let affiliation = "Centre for Riverine Cooperation";
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&author.token),
            &json!({"affiliation": affiliation}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the author's affiliation");
    let principals = everyone_but_the_author(&app, &s).await;
    let roster = format!("/api/v1/rounds/{}/participants", s.round_id);
    let mut rosters_before = Vec::new();
    for (_, token) in &principals {
        rosters_before.push(seen(app.get(&roster, token.as_deref()).await).await);
    }

    let n1 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Data on glacier melt should be pooled.",
        Some(&item),
    )
    .await;
    let n2 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Transit trade could be reopened in phases.",
        None,
    )
    .await;
    conclude_item(&app, &s.chair().token, &item).await;
    assert_eq!(release(&app, &s).await["released"], 1, "n2");
    let n3 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Fisheries disputes need a standing mechanism.",
        None,
    )
    .await;
    let notes = [&n1, &n2, &n3];
    for n in notes {
        assert_unattributed(&n.created, "the 201 answer");
    }

    let surname = author.name.split(' ').next_back().unwrap();
    let first = author.name.split(' ').next().unwrap();
    let forbidden = [
        author.user.id.clone(),
        author.user.email.to_lowercase(),
        author.user.email.split('@').next().unwrap().to_lowercase(),
        author.name.to_lowercase(),
        surname.to_lowercase(),
        first.to_lowercase(),
        affiliation.to_lowercase(),
    ];
    let wrong = json!({"body": "Overwritten without the key."});
    for (label, token) in &principals {
        let token = token.as_deref();
        // (what, response text, carries notes)
        let mut responses: Vec<(String, u16, String, bool)> = Vec::new();
        for path in round_views(&s) {
            if path.ends_with("/participants") {
                continue;
            }
            let (status, body) = seen(app.get(&path, token).await).await;
            let note_bearing = path.contains("/notes") || path.contains("/record");
            responses.push((path, status, body, note_bearing));
        }
        for n in notes {
            for (method, key, body) in [
                (Method::GET, None, None),
                (Method::GET, Some("wrong-edit-key"), None),
                (Method::PATCH, None, Some(&wrong)),
                (Method::PATCH, Some("wrong-edit-key"), Some(&wrong)),
                (Method::DELETE, Some("wrong-edit-key"), None),
            ] {
                let (status, text) =
                    seen(note_request(&app, method.clone(), &n.id, token, key, body).await).await;
                responses.push((
                    format!("{method} /notes/{} key {key:?}", n.id),
                    status,
                    text,
                    true,
                ));
            }
        }
        let reads = responses
            .iter()
            .any(|(_, status, text, _)| *status == 200 && text.contains("glacier melt"));
        let member = label == "another participant"
            || label.contains("co-chair")
            || label == "the rapporteur";
        assert_eq!(reads, member, "{label}: only members read released notes");
        for (what, status, text, note_bearing) in &responses {
            let lower = text.to_lowercase();
            for f in &forbidden {
                assert!(
                    !lower.contains(f.as_str()),
                    "{label}: {what} ({status}) carries the author's `{f}`: {text}"
                );
            }
            for n in notes {
                assert!(
                    !text.contains(&n.key),
                    "{label}: {what} carries an edit key"
                );
            }
            if *note_bearing && let Ok(v) = serde_json::from_str::<Value>(text) {
                assert_unattributed(&v, &format!("{label}: {what}"));
            }
        }
    }
    // The roster is the same with or without the author's notes, and says nothing of them.
    for ((label, token), before) in principals.iter().zip(&rosters_before) {
        let after = seen(app.get(&roster, token.as_deref()).await).await;
        assert_eq!(&after, before, "{label}: the roster changes with notes");
        for n in notes {
            assert!(!after.1.contains(&n.id), "{label}: the roster names a note");
        }
        assert!(
            !after.1.contains("note"),
            "{label}: the roster counts notes: {}",
            after.1
        );
    }
    // The wrong-key attempts changed nothing.
    let res = note_request(
        &app,
        Method::GET,
        &n3.id,
        Some(&author.token),
        Some(&n3.key),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["body"],
        "Fisheries disputes need a standing mechanism."
    );
    assert_eq!(
        chatham_note::Entity::find()
            .filter(chatham_note::Column::RoundId.eq(&s.round_id))
            .count(&app.db)
            .await
            .unwrap(),
        3
    );
}

// ---------------------------------------------------------------------------------------------
// CHECKS 15

#[tokio::test]
async fn checks_15_fifty_chatham_note_ids_are_random_uuid_v4_and_not_monotonic() {
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let n = chatham(
            &app,
            &s.author().token,
            &s.round_id,
            &format!("Observation {i} on monsoon forecasting."),
            None,
        )
        .await;
        ids.push(n.id);
    }
    for id in &ids {
        assert!(id.parse::<i128>().is_err(), "{id} is an integer");
        assert_eq!(id.len(), 36, "{id} is a hyphenated UUID, not a ULID");
        let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id} is a UUID"));
        assert_eq!(uuid.get_version_num(), 4, "{id} is UUIDv4 (not v1/v6/v7)");
        assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122, "{id}");
        assert_eq!(&id[14..15], "4", "{id}: version nibble");
        assert!("89ab".contains(&id[19..20]), "{id}: variant 10xx");
    }
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 50, "distinct");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_ne!(ids, sorted, "ids grow with creation order");
    sorted.reverse();
    assert_ne!(ids, sorted, "ids shrink with creation order");
    // A random order has ~24.5 ascents of 49 (sd ~2); a time-ordered id 49.
    let ascents = ids.windows(2).filter(|w| w[0] < w[1]).count();
    assert!(
        (10..=39).contains(&ascents),
        "{ascents} of 49 consecutive ids ascend"
    );
    let prefixes = ids.iter().map(|id| &id[..8]).collect::<BTreeSet<_>>();
    assert!(
        prefixes.len() >= 45,
        "ids share time-like prefixes: {prefixes:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// CHECKS 16

#[tokio::test]
async fn checks_16_chatham_notes_carry_the_day_only_and_have_no_edit_history() {
    let app = spawn_app().await;
    let s = session(&app, &["Trade"]).await;
    let item = s.items[0].clone();
    let n = chatham(
        &app,
        &s.author().token,
        &s.round_id,
        "Cross-border trade could resume with verification.",
        Some(&item),
    )
    .await;
    assert_day_only(&n.created, "the 201 answer");
    let fresh_keys: BTreeSet<String> = n
        .created
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "edit_key")
        .cloned()
        .collect();

    let res = note_request(
        &app,
        Method::GET,
        &n.id,
        Some(&s.author().token),
        Some(&n.key),
        None,
    )
    .await;
    assert!(
        res.headers().get("last-modified").is_none(),
        "Last-Modified"
    );
    let read: Value = res.json().await.unwrap();
    assert_day_only(&read, "GET with the key");

    let res = note_request(
        &app,
        Method::PATCH,
        &n.id,
        Some(&s.author().token),
        Some(&n.key),
        Some(&json!({"body": "Cross-border trade could resume with joint verification."})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "the key holder edits");
    assert!(
        res.headers().get("last-modified").is_none(),
        "Last-Modified"
    );
    let edited: Value = res.json().await.unwrap();
    assert_day_only(&edited, "the PATCH answer");
    assert_eq!(edited["created_on"], n.created["created_on"]);
    let edited_keys: BTreeSet<String> = edited.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        edited_keys, fresh_keys,
        "an edited note looks like a fresh one"
    );

    for suffix in ["history", "revisions", "versions", "edits"] {
        let res = app
            .request(
                Method::GET,
                &format!("/api/v1/notes/{}/{suffix}", n.id),
                Some(&s.author().token),
            )
            .header("Edit-Key", &n.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "/notes/{{id}}/{suffix}"
        );
    }

    conclude_item(&app, &s.chair().token, &item).await;
    let res = app.get(&s.notes(), Some(&s.other().token)).await;
    assert!(
        res.headers().get("last-modified").is_none(),
        "Last-Modified"
    );
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_day_only(&page, "the released list");
    let listed_keys: BTreeSet<String> = page["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(listed_keys, fresh_keys, "the list shows no edit marker");
    let res = note_request(&app, Method::GET, &n.id, Some(&s.other().token), None, None).await;
    assert_day_only(&res.json().await.unwrap(), "GET after release");

    let p = private(&app, &s.author().token, &s.round_id, "Private aside.", None).await;
    let res = note_request(&app, Method::GET, &p, Some(&s.author().token), None, None).await;
    assert_day_only(&res.json().await.unwrap(), "a private note");
    let res = app.get("/api/v1/me/notes", Some(&s.author().token)).await;
    assert_day_only(&res.json().await.unwrap(), "/me/notes");
}

// ---------------------------------------------------------------------------------------------
// CHECKS 17

#[tokio::test]
async fn checks_17_notes_inserted_a_b_c_in_turn_are_listed_by_id_not_insertion_and_stably() {
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let authors = [s.author(), s.other(), s.rapporteur()];
    let mut inserted = Vec::new();
    let mut author_of = HashMap::new();
    let mut body_of = HashMap::new();
    for i in 0..51 {
        let a = i % 3;
        let body = format!("Observation number {i} on regional connectivity.");
        let n = chatham(&app, &authors[a].token, &s.round_id, &body, None).await;
        author_of.insert(n.id.clone(), a);
        body_of.insert(n.id.clone(), body);
        inserted.push(n.id);
    }
    assert_eq!(release(&app, &s).await["released"], 51);

    let reader = &s.chair().token;
    let first = app
        .get(&format!("{}?limit=100", s.notes()), Some(reader))
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first = first.text().await.unwrap();
    let page: Value = serde_json::from_str(&first).unwrap();
    let listed: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), 51);

    let mut by_id = inserted.clone();
    by_id.sort();
    assert_eq!(listed, by_id, "listed in id order");
    assert_ne!(listed, inserted, "listed in insertion order");
    let sequence: Vec<usize> = listed.iter().map(|id| author_of[id]).collect();
    assert!(
        !(0..sequence.len()).all(|i| sequence[i] == sequence[i % 3]),
        "the listing replays the A,B,C author pattern: {sequence:?}"
    );

    let second = app
        .get(&format!("{}?limit=100", s.notes()), Some(reader))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(first, second, "two listings are identical");

    // Paging walks the same order.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{}?limit=10&cursor={c}", s.notes()),
            None => format!("{}?limit=10", s.notes()),
        };
        let page: Value = app.get(&path, Some(reader)).await.json().await.unwrap();
        for n in page["items"].as_array().unwrap() {
            paged.push(n["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(paged.len() <= 51, "paging does not end");
    }
    assert_eq!(paged, listed, "pages follow the listing");

    // The record lists the same bodies in the same order.
    let record: Value = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(reader),
        )
        .await
        .json()
        .await
        .unwrap();
    let bodies: Vec<&str> = listed.iter().map(|id| body_of[id].as_str()).collect();
    let general: Vec<&str> = record["general_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert_eq!(general, bodies, "the record follows the listing");
}

// ---------------------------------------------------------------------------------------------
// CHECKS 18

/// No mail in the outbox carries `text`: notes are not pushed or notified.
fn assert_not_mailed(app: &TestApp, text: &str) {
    if let Ok(entries) = std::fs::read_dir(app.outbox_dir()) {
        for entry in entries.flatten() {
            let mail = std::fs::read_to_string(entry.path()).unwrap_or_default();
            assert!(!mail.contains(text), "a mail carries a note");
        }
    }
}

#[tokio::test]
async fn checks_18_a_chatham_note_is_held_until_its_item_or_the_round_concludes_or_an_organizer_releases()
 {
    let app = spawn_app().await;
    let s = session(&app, &["Water resources", "Trade"]).await;
    let (item1, item2) = (s.items[0].clone(), s.items[1].clone());
    let author = s.author();
    let reader = &s.other().token;
    let n1 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Flood warnings should be shared in real time.",
        Some(&item1),
    )
    .await;
    let n2 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "A trade facilitation desk could help.",
        Some(&item2),
    )
    .await;
    let n3 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Both sides should meet again soon.",
        None,
    )
    .await;
    assert_eq!(n1.created["released"], false);
    let unknown = uuid::Uuid::new_v4().to_string();
    let absent =
        seen(note_request(&app, Method::GET, &unknown, Some(reader), None, None).await).await;
    let absent_to_author =
        seen(note_request(&app, Method::GET, &unknown, Some(&author.token), None, None).await)
            .await;

    // Held: nobody sees them, the author only with the key.
    assert!(listed_ids(&app, reader, &s.notes()).await.is_empty());
    assert!(
        listed_ids(
            &app,
            reader,
            &format!("{}?agenda_item_id={item1}", s.notes())
        )
        .await
        .is_empty()
    );
    assert!(listed_ids(&app, &author.token, &s.notes()).await.is_empty());
    for n in [&n1, &n2, &n3] {
        let other =
            seen(note_request(&app, Method::GET, &n.id, Some(reader), None, None).await).await;
        assert_eq!(other, absent, "another member reads a held note");
        let chair =
            seen(note_request(&app, Method::GET, &n.id, Some(&s.chair().token), None, None).await)
                .await;
        assert_eq!(chair, absent, "a co-chair reads a held note");
        let keyless =
            seen(note_request(&app, Method::GET, &n.id, Some(&author.token), None, None).await)
                .await;
        assert_eq!(
            keyless, absent_to_author,
            "the author without the key reads a held note"
        );
        let res = note_request(
            &app,
            Method::GET,
            &n.id,
            Some(&author.token),
            Some(&n.key),
            None,
        )
        .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "the key holder reads a held note"
        );
        let held: Value = res.json().await.unwrap();
        assert_eq!(held["released"], false);
    }
    let record: Value = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(reader),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(!record.to_string().contains("Flood warnings"), "{record}");

    // Concluding item 1 releases item 1's notes, and only those.
    conclude_item(&app, &s.chair().token, &item1).await;
    assert_eq!(
        listed_ids(&app, reader, &s.notes()).await,
        vec![n1.id.clone()]
    );
    let res = note_request(&app, Method::GET, &n1.id, Some(reader), None, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let released: Value = res.json().await.unwrap();
    assert_eq!(
        released["body"],
        "Flood warnings should be shared in real time."
    );
    assert_eq!(released["released"], true);
    for n in [&n2, &n3] {
        let other =
            seen(note_request(&app, Method::GET, &n.id, Some(reader), None, None).await).await;
        assert_eq!(
            other, absent,
            "a note of another item or of no item was released"
        );
    }
    let record: Value = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(reader),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        record["agenda"][0]["notes"],
        json!(["Flood warnings should be shared in real time."])
    );
    assert_eq!(record["agenda"][1]["notes"], json!([]));
    assert_eq!(record["general_notes"], json!([]));

    // An organizer releases the rest.
    assert_eq!(release(&app, &s).await["released"], 2);
    let mut all = listed_ids(&app, reader, &s.notes()).await;
    all.sort();
    let mut expected = vec![n1.id.clone(), n2.id.clone(), n3.id.clone()];
    expected.sort();
    assert_eq!(all, expected);

    // In another round, concluding the round releases every held note.
    let t = session(&app, &["Water resources"]).await;
    let m1 = chatham(
        &app,
        &t.author().token,
        &t.round_id,
        "Flood warnings should be shared in real time.",
        Some(&t.items[0]),
    )
    .await;
    let m2 = chatham(
        &app,
        &t.author().token,
        &t.round_id,
        "Both sides should meet again soon.",
        None,
    )
    .await;
    assert!(
        listed_ids(&app, &t.other().token, &t.notes())
            .await
            .is_empty()
    );
    let res = round_status(&app, &t.organizer_token, &t.round_id, "concluded").await;
    assert_eq!(res.status(), StatusCode::OK, "the round concludes");
    let mut all = listed_ids(&app, &t.other().token, &t.notes()).await;
    all.sort();
    let mut expected = vec![m1.id.clone(), m2.id.clone()];
    expected.sort();
    assert_eq!(
        all, expected,
        "concluding the round releases its held notes"
    );

    for text in [
        "Flood warnings",
        "trade facilitation desk",
        "meet again soon",
    ] {
        assert_not_mailed(&app, text);
    }
}

/// `GET /me/notes` gives the author their own private notes: by round, by agenda item, and in
/// pages that together hold each note once; never anyone else's, nor a shared note.
#[tokio::test]
async fn my_notes_filter_by_round_and_item_and_page_through_each_note_once() {
    let app = spawn_app().await;
    let a = session(&app, &["Water resources", "Trade"]).await;
    let b = session(&app, &["Visas"]).await;
    let author = a.author();
    app.join(&b.round_id, &author.user, "pakistan", "delegate")
        .await;
    let (water, trade) = (a.items[0].as_str(), a.items[1].as_str());
    let mut on_water = Vec::new();
    for n in 0..3 {
        on_water.push(
            private(
                &app,
                &author.token,
                &a.round_id,
                &format!("water {n}"),
                Some(water),
            )
            .await,
        );
    }
    let on_trade = private(&app, &author.token, &a.round_id, "trade", Some(trade)).await;
    let general = private(&app, &author.token, &a.round_id, "general", None).await;
    let in_b = private(&app, &author.token, &b.round_id, "visas", Some(&b.items[0])).await;
    // Not the author's, or not private: never listed.
    private(
        &app,
        &a.other().token,
        &a.round_id,
        "someone else's",
        Some(water),
    )
    .await;
    chatham(
        &app,
        &author.token,
        &a.round_id,
        "A shared thought.",
        Some(water),
    )
    .await;

    let sorted = |mut ids: Vec<String>| {
        ids.sort();
        ids
    };
    let listed = |query: String| {
        let token = author.token.clone();
        let app = &app;
        async move { sorted(listed_ids(app, &token, &format!("/api/v1/me/notes{query}")).await) }
    };
    let mut in_a = on_water.clone();
    in_a.extend([on_trade.clone(), general.clone()]);
    let mut all = in_a.clone();
    all.push(in_b.clone());
    assert_eq!(listed(String::new()).await, sorted(all.clone()));
    assert_eq!(
        listed(format!("?round_id={}", a.round_id)).await,
        sorted(in_a)
    );
    assert_eq!(
        listed(format!("?round_id={}", b.round_id)).await,
        [in_b.as_str()]
    );
    assert_eq!(
        listed(format!("?agenda_item_id={water}")).await,
        sorted(on_water.clone())
    );
    assert_eq!(
        listed(format!("?round_id={}&agenda_item_id={trade}", a.round_id)).await,
        [on_trade]
    );
    // An item of another round under this round: nothing, rather than an error that tells.
    assert!(
        listed(format!(
            "?round_id={}&agenda_item_id={}",
            a.round_id, b.items[0]
        ))
        .await
        .is_empty()
    );

    // Pages of two: every note once, and the last page says there is no more.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page: Value = app
            .get(&format!("/api/v1/me/notes{query}"), Some(&author.token))
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        paged.extend(items.iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "the pages ended");
    assert_eq!(sorted(paged), sorted(all));
}

// ---------------------------------------------------------------------------------------------
// CHECKS 19

#[tokio::test]
async fn checks_19_notes_are_never_released_in_a_round_smaller_than_the_release_group() {
    let app = spawn_app().await;
    let three = [FIVE[0], FIVE[1], FIVE[3]];
    let s = session_with(&app, &three, &["Water resources"]).await;
    let item = s.items[0].clone();
    let (chair, author, reader) = (&s.members[0], &s.members[2], &s.members[1]);
    let n1 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Flood warnings should be shared in real time.",
        Some(&item),
    )
    .await;
    let n2 = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Both sides should meet again soon.",
        None,
    )
    .await;

    let res = app
        .post_json(
            &format!("{}/release", s.notes()),
            Some(&s.organizer_token),
            &json!({}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "release_group_too_small").await;
    assert_eq!(problem["min_release_group"], 4, "{problem}");

    conclude_item(&app, &chair.token, &item).await;
    assert!(
        listed_ids(&app, &reader.token, &s.notes()).await.is_empty(),
        "concluding the item released notes of a 3-person round"
    );
    let res = round_status(&app, &s.organizer_token, &s.round_id, "concluded").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        listed_ids(&app, &reader.token, &s.notes()).await.is_empty(),
        "concluding the round released notes of a 3-person round"
    );
    for n in [&n1, &n2] {
        let res = note_request(&app, Method::GET, &n.id, Some(&reader.token), None, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let row = chatham_note::Entity::find_by_id(n.id.clone())
            .one(&app.db)
            .await
            .unwrap()
            .unwrap();
        assert!(!row.released, "held in the database too");
    }
    let record: Value = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&reader.token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(!record.to_string().contains("Flood warnings"), "{record}");

    // Observers cannot write shared notes, so they do not widen the crowd a note hides in:
    // three delegates and two observers are still three possible writers.
    for name in ["First Observer", "Second Observer"] {
        let observer = app.user(name).await;
        app.join(&s.round_id, &observer, "india", "observer").await;
    }
    assert_release_refused(&app, &s, "with two observers").await;

    // A fourth delegate marked absent is presumed not to have written anything either.
    let fourth = app.user("Fourth Member").await;
    app.join(&s.round_id, &fourth, "pakistan", "delegate").await;
    let membership = format!("/api/v1/rounds/{}/participants/{}", s.round_id, fourth.id);
    let absent = json!({"attendance": "absent"});
    let attended = json!({"attendance": "attended"});
    let attendance =
        |body| app.send_json(Method::PATCH, &membership, Some(&s.organizer_token), body);
    assert_eq!(attendance(&absent).await.status(), StatusCode::OK);
    assert_release_refused(&app, &s, "with the fourth delegate absent").await;

    // Once the fourth delegate attends, the round has four possible writers and a manual
    // release works.
    assert_eq!(attendance(&attended).await.status(), StatusCode::OK);
    assert_eq!(release(&app, &s).await["released"], 2);
    let mut listed = listed_ids(&app, &reader.token, &s.notes()).await;
    listed.sort();
    let mut expected = vec![n1.id.clone(), n2.id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
}

// ---------------------------------------------------------------------------------------------
// CHECKS 20

#[tokio::test]
async fn checks_20_the_record_and_the_notes_list_carry_note_content_only() {
    let app = spawn_app().await;
    let s = session(&app, &["Water resources", "Trade"]).await;
    let observer = app.user("Quiet Observer").await;
    app.join(&s.round_id, &observer, "india", "observer").await;
    let participants = s.members.len() + 1;
    let author = s.author();
    let bodies = [
        "Flood warnings should be shared in real time.",
        "Hydrological data could be exchanged monthly.",
        "A trade facilitation desk could help.",
        "Both sides should meet again soon.",
    ];
    chatham(
        &app,
        &author.token,
        &s.round_id,
        bodies[0],
        Some(&s.items[0]),
    )
    .await;
    chatham(
        &app,
        &s.other().token,
        &s.round_id,
        bodies[1],
        Some(&s.items[0]),
    )
    .await;
    chatham(
        &app,
        &s.chair().token,
        &s.round_id,
        bodies[2],
        Some(&s.items[1]),
    )
    .await;
    chatham(&app, &author.token, &s.round_id, bodies[3], None).await;
    let res = round_status(&app, &s.organizer_token, &s.round_id, "concluded").await;
    assert_eq!(res.status(), StatusCode::OK);

    let mut words: Vec<String> = vec![
        "test institute".into(),
        "co_chair".into(),
        "co-chair".into(),
        "rapporteur".into(),
        "delegate".into(),
        "observer".into(),
        "participant".into(),
        "attendee".into(),
        "attendance".into(),
        "roster".into(),
    ];
    let mut people: Vec<(String, String)> = s
        .members
        .iter()
        .map(|m| (m.name.clone(), m.user.email.clone()))
        .collect();
    people.push(("Quiet Observer".into(), observer.email.clone()));
    for (name, email) in &people {
        words.push(name.to_lowercase());
        words.extend(
            name.split(' ')
                .filter(|w| w.len() >= 3)
                .map(str::to_lowercase),
        );
        words.push(email.to_lowercase());
        words.push(email.split('@').next().unwrap().to_lowercase());
    }
    let scan = |what: &str, text: &str| {
        let lower = text.to_lowercase();
        for w in &words {
            assert!(!lower.contains(w.as_str()), "{what} carries `{w}`: {text}");
        }
    };

    let res = app
        .get(
            &format!("/api/v1/rounds/{}/record", s.round_id),
            Some(&s.other().token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let record: Value = res.json().await.unwrap();
    let text = record.to_string();
    for body in bodies {
        assert!(text.contains(body), "the record carries the notes: {text}");
    }
    scan("the record", &text);
    for m in objects(&record) {
        for k in m.keys() {
            for bad in [
                "participant",
                "attend",
                "roster",
                "member",
                "author",
                "email",
                "affiliation",
                "role",
                "name",
                "delegat",
                "people",
                "user",
                "invit",
            ] {
                assert!(!k.contains(bad), "the record has a `{k}` field: {record}");
            }
            assert!(
                !k.split('_')
                    .any(|w| ["count", "counts", "total", "size"].contains(&w)),
                "the record has a `{k}` field: {record}"
            );
        }
    }
    let mut numbers = Vec::new();
    let mut stack = vec![&record];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) => numbers.push(n.as_u64().unwrap_or(0) as usize),
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    assert!(
        !numbers.contains(&participants),
        "the record carries the attendee count {participants}: {record}"
    );

    let res = app
        .get(
            &format!("/api/v1/rounds/{}/record?format=markdown", s.round_id),
            Some(&s.other().token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let md = res.text().await.unwrap();
    for body in bodies {
        assert!(md.contains(body), "the markdown carries the notes: {md}");
    }
    scan("the markdown record", &md);

    let page: Value = app
        .get(&format!("{}?limit=100", s.notes()), Some(&s.other().token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    assert_unattributed(&page, "the notes list");
    scan("the notes list", &page.to_string());
    for m in objects(&page) {
        for k in m.keys() {
            assert!(
                !k.contains("count") && !k.contains("total") && !k.contains("participant"),
                "the notes list has `{k}`: {page}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CHECKS 21

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Folds the WAL into the database file and truncates it, retrying while a reader holds it.
async fn checkpoint(db: &DatabaseConnection) {
    for _ in 0..200 {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await
            .unwrap()
            .unwrap();
        let busy: i64 = row.try_get_by_index(0).unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the WAL checkpoint stays busy");
}

/// The database file and its WAL.
fn database_files(app: &TestApp) -> Vec<(PathBuf, Vec<u8>)> {
    let db = app.settings.storage.data_dir.join("backchannel.db");
    let wal = app.settings.storage.data_dir.join("backchannel.db-wal");
    let files: Vec<(PathBuf, Vec<u8>)> = [db, wal]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(!files.is_empty(), "the SQLite file exists");
    files
}

fn in_files(files: &[(PathBuf, Vec<u8>)], needle: &str) -> Option<PathBuf> {
    files
        .iter()
        .find(|(_, bytes)| contains_bytes(bytes, needle.as_bytes()))
        .map(|(p, _)| p.clone())
}

/// PostgreSQL: how many rows of `table` hold `needle` in any column (the row as text).
async fn pg_rows_holding(app: &TestApp, table: &str, needle: &str) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT count(*) FROM {table} t WHERE position($1 in t::text) > 0"),
            [needle.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn checks_21_a_deleted_note_is_gone_and_no_note_body_is_ever_in_the_database_files_in_clear()
{
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let author = s.author();
    let chatham_canary = format!("CHATHAM-CANARY-{}", short());
    let private_canary = format!("PRIVATE-CANARY-{}", short());
    let c = chatham(
        &app,
        &author.token,
        &s.round_id,
        &format!("{chatham_canary} river data should be shared."),
        None,
    )
    .await;
    let p = private(
        &app,
        &author.token,
        &s.round_id,
        &format!("{private_canary} remember to follow up."),
        None,
    )
    .await;
    let c_row = chatham_note::Entity::find_by_id(c.id.clone())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the chatham row");
    let p_row = private_note::Entity::find_by_id(p.clone())
        .one(&app.db)
        .await
        .unwrap()
        .expect("the private row");
    assert!(
        !format!("{c_row:?}").contains(&chatham_canary),
        "sealed at rest"
    );
    assert!(
        !format!("{p_row:?}").contains(&private_canary),
        "sealed at rest"
    );
    assert!(
        !format!("{c_row:?}").contains(&c.key),
        "only the key's hash is stored"
    );

    let sqlite = app.settings.uses_sqlite();
    if sqlite {
        checkpoint(&app.db).await;
        let files = database_files(&app);
        for canary in [&chatham_canary, &private_canary, &c.key] {
            assert_eq!(
                in_files(&files, canary),
                None,
                "{canary} in clear in the file"
            );
        }
        // The scan does see the rows: their sealed bodies are there.
        assert!(
            in_files(&files, &c_row.body_sealed).is_some(),
            "the scan sees the chatham row"
        );
        assert!(
            in_files(&files, &p_row.body_sealed).is_some(),
            "the scan sees the private row"
        );
    } else {
        for table in ["chatham_notes", "private_notes"] {
            for canary in [&chatham_canary, &private_canary, &c.key] {
                assert_eq!(
                    pg_rows_holding(&app, table, canary).await,
                    0,
                    "{canary} in {table}"
                );
            }
        }
        assert_eq!(
            pg_rows_holding(&app, "chatham_notes", &c_row.body_sealed).await,
            1
        );
    }

    let res = note_request(
        &app,
        Method::DELETE,
        &c.id,
        Some(&author.token),
        Some(&c.key),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = note_request(&app, Method::DELETE, &p, Some(&author.token), None, None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(
        chatham_note::Entity::find_by_id(c.id.clone())
            .one(&app.db)
            .await
            .unwrap()
            .is_none(),
        "the chatham row is gone"
    );
    assert!(
        private_note::Entity::find_by_id(p.clone())
            .one(&app.db)
            .await
            .unwrap()
            .is_none(),
        "the private row is gone"
    );
    let res = note_request(
        &app,
        Method::GET,
        &c.id,
        Some(&author.token),
        Some(&c.key),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = note_request(&app, Method::GET, &p, Some(&author.token), None, None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    if sqlite {
        checkpoint(&app.db).await;
        let files = database_files(&app);
        for (what, needle) in [
            ("the chatham canary", chatham_canary.as_str()),
            ("the private canary", private_canary.as_str()),
            ("the chatham sealed body", c_row.body_sealed.as_str()),
            ("the private sealed body", p_row.body_sealed.as_str()),
            ("the edit key hash", c_row.edit_key_hash.as_str()),
        ] {
            assert_eq!(in_files(&files, needle), None, "{what} survives deletion");
        }
    } else {
        // PostgreSQL keeps dead row versions until VACUUM (README, "Where the guarantees
        // end"); what the service controls is that no live row of any table, audit and
        // outbox included, still holds the note, its id or its sealed text.
        let tables = app
            .db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            ))
            .await
            .unwrap();
        let tables: Vec<String> = tables
            .iter()
            .map(|r| r.try_get_by_index(0).unwrap())
            .collect();
        assert!(tables.iter().any(|t| t == "chatham_notes"), "{tables:?}");
        for table in &tables {
            for needle in [
                &chatham_canary,
                &private_canary,
                &c.id,
                &p,
                &c_row.body_sealed,
                &p_row.body_sealed,
                &c_row.edit_key_hash,
            ] {
                assert_eq!(
                    pg_rows_holding(&app, table, needle).await,
                    0,
                    "{needle} in {table}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The attribution guard through the API

#[tokio::test]
async fn the_attribution_guard_refuses_or_redacts_a_chatham_note_naming_a_participant() {
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let token = &s.other().token;
    let count = || async {
        chatham_note::Entity::find()
            .filter(chatham_note::Column::RoundId.eq(&s.round_id))
            .count(&app.db)
            .await
            .unwrap()
    };
    let rapporteur_email = s.rapporteur().user.email.clone();
    let rao = app.user("Nirupama Rao").await;
    app.join(&s.round_id, &rao, "india", "delegate").await;
    let refused = [
        // (text, span start, span end, kind, the words that must not be echoed)
        (
            "Siddiqa favoured a hotline.",
            0,
            7,
            "participant",
            "siddiqa",
        ),
        (
            "We heard Meenakshi Gopinath on water.",
            9,
            27,
            "participant",
            "gopinath",
        ),
        (
            "SIDDÍQA favoured a hotline.",
            0,
            7,
            "participant",
            "siddíqa",
        ),
        ("As Rao put it, rivers matter.", 3, 6, "participant", "rao "),
        (
            "A view from Test Institute on trade.",
            12,
            26,
            "institution",
            "test institute",
        ),
        (
            "The co-chair said trade should resume.",
            4,
            12,
            "role_holder",
            "co-chair",
        ),
        (
            "The rapporteur noted a thaw.",
            4,
            14,
            "role_holder",
            "rapporteur",
        ),
    ];
    for (text, start, end, kind, echo) in refused {
        let res = post_note(
            &app,
            token,
            &s.round_id,
            &json!({"visibility": "chatham", "body": text}),
        )
        .await;
        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
        let spans = problem["spans"]
            .as_array()
            .unwrap_or_else(|| panic!("spans: {problem}"));
        assert_eq!(spans.len(), 1, "{text}: {problem}");
        assert_eq!(spans[0]["start"], start, "{text}: {problem}");
        assert_eq!(spans[0]["end"], end, "{text}: {problem}");
        assert_eq!(spans[0]["kind"], kind, "{text}: {problem}");
        let keys: BTreeSet<&str> = spans[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["start", "end", "kind"]),
            "spans carry offsets only"
        );
        assert!(
            !problem.to_string().to_lowercase().contains(echo),
            "the refusal echoes {echo}: {problem}"
        );
    }
    let text = format!("Ask {rapporteur_email} about the minutes.");
    let res = post_note(
        &app,
        token,
        &s.round_id,
        &json!({"visibility": "chatham", "body": text}),
    )
    .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    assert!(
        !problem.to_string().contains(&rapporteur_email),
        "{problem}"
    );
    assert_eq!(problem["spans"][0]["start"], 4, "{problem}");
    assert_eq!(count().await, 0, "a refused note leaves no row");

    for (text, redacted) in [
        (
            "Siddiqa favoured a hotline.",
            "[a participant] favoured a hotline.",
        ),
        (
            "The co-chair said trade should resume.",
            "The [a role-holder] said trade should resume.",
        ),
        (
            "A view from Test Institute on trade.",
            "A view from [an institution] on trade.",
        ),
    ] {
        let res = post_note(
            &app,
            token,
            &s.round_id,
            &json!({"visibility": "chatham", "body": text, "redact": true}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{text}");
        let note: Value = res.json().await.unwrap();
        assert_eq!(note["body"], redacted);
        let res = note_request(
            &app,
            Method::GET,
            note["id"].as_str().unwrap(),
            Some(token),
            note["edit_key"].as_str(),
            None,
        )
        .await;
        assert_eq!(
            res.json::<Value>().await.unwrap()["body"],
            redacted,
            "stored redacted"
        );
    }

    for text in [
        "India proposed a hotline; Pakistan agreed.",
        "Jacobean architecture and Soodland were discussed.",
        "A delegate said trade matters.",
    ] {
        let res = post_note(
            &app,
            token,
            &s.round_id,
            &json!({"visibility": "chatham", "body": text}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED, "{text} is allowed");
        assert_eq!(res.json::<Value>().await.unwrap()["body"], text);
    }

    // An edit goes through the guard too, and a refused edit changes nothing.
    let n = chatham(
        &app,
        token,
        &s.round_id,
        "Water data should be pooled.",
        None,
    )
    .await;
    let res = note_request(
        &app,
        Method::PATCH,
        &n.id,
        Some(token),
        Some(&n.key),
        Some(&json!({"body": "Khokhar wants water data pooled."})),
    )
    .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "attribution_risk").await;
    let res = note_request(&app, Method::GET, &n.id, Some(token), Some(&n.key), None).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["body"],
        "Water data should be pooled."
    );
    // Private notes are the author's own: the guard does not apply.
    private(
        &app,
        token,
        &s.round_id,
        "Siddiqa and the co-chair spoke well.",
        None,
    )
    .await;
}

/// A chatham note by the round's other delegate: its status, and the problem's span kind if
/// refused.
async fn guarded(app: &TestApp, s: &Session, text: &str) -> (StatusCode, Option<String>) {
    let res = post_note(
        app,
        &s.other().token,
        &s.round_id,
        &json!({"visibility": "chatham", "body": text}),
    )
    .await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (status, body["spans"][0]["kind"].as_str().map(str::to_owned))
}

/// The server keeps each round's guard between requests; every change to what the guard reads
/// must retire it at once: a name, an affiliation, a role, a newcomer, a departure, a side, and
/// a change made straight in the database rather than through the API.
#[tokio::test]
async fn a_kept_guard_gives_way_at_once_to_every_change_in_what_it_reads() {
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let refused = |kind: &str| (StatusCode::UNPROCESSABLE_ENTITY, Some(kind.to_owned()));
    let passed = (StatusCode::CREATED, None);
    let text = "Lindqvist raised river data.";

    // A new display name.
    assert_eq!(guarded(&app, &s, text).await, passed, "before the rename");
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&s.author().token),
            &json!({"display_name": "Ayesha Lindqvist"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "rename");
    assert_eq!(guarded(&app, &s, text).await, refused("participant"));

    // A side's country may always be named, even where it spells a participant's name part.
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/dialogues/{}", s.dialogue_id),
            Some(&s.organizer_token),
            &json!({"sides": [{"key": "pakistan", "country": "Lindqvist"}]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "side patch");
    assert_eq!(guarded(&app, &s, text).await, passed, "a side's country");

    // A new affiliation.
    let text = "A view from Harbour Institute.";
    assert_eq!(
        guarded(&app, &s, text).await,
        passed,
        "before the affiliation"
    );
    let res = app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&s.author().token),
            &json!({"affiliation": "Harbour Institute"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "affiliation");
    assert_eq!(guarded(&app, &s, text).await, refused("institution"));

    // A role now held by one person.
    let text = "The facilitator summed up.";
    assert_eq!(
        guarded(&app, &s, text).await,
        passed,
        "nobody facilitates yet"
    );
    let res = app
        .send_json(
            Method::PATCH,
            &format!(
                "/api/v1/rounds/{}/participants/{}",
                s.round_id,
                s.author().user.id
            ),
            Some(&s.organizer_token),
            &json!({"role": "facilitator"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "role change");
    assert_eq!(guarded(&app, &s, text).await, refused("role_holder"));

    // A newcomer, seated by the store directly, and then their departure.
    let text = "Wiśniewski spoke of water.";
    assert_eq!(guarded(&app, &s, text).await, passed, "before the newcomer");
    let newcomer = app.user("Tomasz Wiśniewski").await;
    app.join(&s.round_id, &newcomer, "india", "delegate").await;
    assert_eq!(guarded(&app, &s, text).await, refused("participant"));
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/rounds/{}/participants/{}", s.round_id, newcomer.id),
            Some(&s.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "removal: {}", res.status());
    assert_eq!(guarded(&app, &s, text).await, passed, "after the departure");

    // A change made in the database itself, past every route.
    let text = "Marchetti spoke of trade.";
    assert_eq!(guarded(&app, &s, text).await, passed, "before the change");
    backchannel::entities::user::Entity::update_many()
        .col_expr(
            backchannel::entities::user::Column::DisplayName,
            sea_orm::sea_query::Expr::value("Ayesha Marchetti"),
        )
        .filter(backchannel::entities::user::Column::Id.eq(&s.author().user.id))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(guarded(&app, &s, text).await, refused("participant"));
}

// ---------------------------------------------------------------------------------------------
// CHECKS 33

#[tokio::test]
async fn checks_33_fifty_concurrent_writers_of_twenty_notes_each_lose_nothing_and_never_see_a_locked_database()
 {
    const WRITERS: usize = 50;
    const EACH: usize = 20;
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let writers: Vec<(TestUser, String)> = join_all((0..WRITERS).map(|w| {
        let app = &app;
        let round = &f.round_id;
        async move {
            let user = app.user(&format!("Writer{w:02}")).await;
            let side = if w % 2 == 0 { "india" } else { "pakistan" };
            app.join(round, &user, side, "delegate").await;
            let token = app.token(&user).await;
            (user, token)
        }
    }))
    .await;
    for status in ["scheduled", "in_session"] {
        let res = round_status(&app, &f.organizer_token, &f.round_id, status).await;
        assert_eq!(res.status(), StatusCode::OK, "{status}");
    }
    let url = format!("/api/v1/rounds/{}/notes", f.round_id);
    let started = Instant::now();
    let results: Vec<Vec<(&str, u16, String)>> = join_all(writers.iter().enumerate().map(|(w, (_, token))| {
        let app = &app;
        let url = &url;
        async move {
            let mut out = Vec::new();
            for j in 0..EACH {
                let visibility = if (w + j) % 2 == 0 { "private" } else { "chatham" };
                let res = app
                    .post_json(
                        url,
                        Some(token),
                        &json!({"visibility": visibility, "body": format!("Observation {j} from voice {w} on river data.")}),
                    )
                    .await;
                let status = res.status().as_u16();
                out.push((visibility, status, res.text().await.unwrap()));
            }
            out
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let all: Vec<&(&str, u16, String)> = results.iter().flatten().collect();
    assert_eq!(all.len(), WRITERS * EACH);
    for (visibility, status, body) in &all {
        assert!(*status < 500, "{visibility}: {status} {body}");
        assert!(
            !body.to_lowercase().contains("locked"),
            "{visibility}: {body}"
        );
        assert_eq!(*status, 201, "{visibility}: {body}");
    }
    let expected_private = all.iter().filter(|(v, _, _)| *v == "private").count() as u64;
    let expected_chatham = all.iter().filter(|(v, _, _)| *v == "chatham").count() as u64;
    assert_eq!(expected_private + expected_chatham, (WRITERS * EACH) as u64);
    let private_rows = private_note::Entity::find()
        .filter(private_note::Column::RoundId.eq(&f.round_id))
        .count(&app.db)
        .await
        .unwrap();
    let chatham_rows = chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(&f.round_id))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(private_rows, expected_private, "private rows");
    assert_eq!(chatham_rows, expected_chatham, "chatham rows");
    println!(
        "{} notes by {WRITERS} concurrent writers in {elapsed:?} ({})",
        WRITERS * EACH,
        if app.settings.uses_sqlite() {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
}

// ---------------------------------------------------------------------------------------------
// The real binary: CHECKS 34, 38 and 40

/// The server as a child process; killed if the test fails midway.
pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts the binary on a fresh port, logging (JSON, at `level`) into `log`, and waits
    /// until it is ready.
    pub(crate) async fn start(data_dir: &Path, db_url: &str, level: &str, log: &Path) -> Server {
        let port = free_port();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_backchannel"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BACKCHANNEL_CONFIG_DIR", config_dir())
            .env("BACKCHANNEL_STORAGE__DATA_DIR", data_dir)
            .env("BACKCHANNEL_HTTP__PORT", port.to_string())
            .env("BACKCHANNEL_LOG__LEVEL", level)
            .env("BACKCHANNEL_LOG__FORMAT", "json")
            .env("BACKCHANNEL_DATABASE__URL", db_url)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let mut server = Server { child, port };
        let client = Client::new();
        let started = Instant::now();
        loop {
            let ready = client
                .get(format!("{}/readyz", server.base()))
                .send()
                .await
                .map(|r| r.status() == StatusCode::OK)
                .unwrap_or(false);
            if ready {
                return server;
            }
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "the server exited: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn signal(&mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: kill(2) on the pid of our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A round in session on a running binary: an organizer and four participants, seeded
/// through the library into the server's database, the round set up over HTTP.
struct Seeded {
    db: DatabaseConnection,
    round_id: String,
    organizer_token: String,
    /// Vikram Sood (co-chair), Riaz Khokhar (co-chair), Ayesha Siddiqa (delegate, the author),
    /// Happymon Jacob (delegate).
    people: Vec<(TestUser, String)>,
}

fn binary_settings(data_dir: &Path, db_url: &str) -> Settings {
    let mut settings = test_settings();
    settings.storage.data_dir = data_dir.to_owned();
    settings.database.url = db_url.to_owned().into();
    settings
}

async fn login(client: &Client, base: &str, user: &TestUser) -> String {
    let res = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login");
    res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn seed(client: &Client, base: &str, settings: &Settings) -> Seeded {
    use backchannel::domain::dialogue::{Format, Rule, Side};
    let db = backchannel::db::connect(settings).await.unwrap();
    let passwords = Passwords::new(&settings.auth).unwrap();
    let make = async |name: &str| {
        let email = format!(
            "{}-{}@example.org",
            short(),
            name.to_lowercase().replace(' ', ".")
        );
        let password = format!("pw-{}-long-enough", short());
        let account = NewAccount::parse(&email, name, Some("Test Institute"), false).unwrap();
        let hash = passwords.hash(password.clone().into()).await.unwrap();
        let user = store::users::create(&db, account, hash).await.unwrap();
        TestUser {
            id: user.id,
            email,
            password,
        }
    };
    let organizer = make("Organizer Person").await;
    let mut people = Vec::new();
    for (name, _, _) in [FIVE[0], FIVE[1], FIVE[3], FIVE[4]] {
        people.push(make(name).await);
    }
    let side = |key: &str, name: &str| Side {
        key: key.into(),
        name: name.into(),
        country: Some(name.into()),
        delegation_limit: 8,
        neutral: false,
    };
    let dialogue = store::dialogues::create(
        &db,
        store::dialogues::NewDialogue {
            name: "Neemrana Dialogue".into(),
            description: None,
            format: Format::Neemrana,
            parity_tolerance: 1,
            rule: Rule::ChathamHouse,
            sides: vec![side("india", "India"), side("pakistan", "Pakistan")],
        },
        &organizer.id,
    )
    .await
    .unwrap();
    let organizer_token = login(client, base, &organizer).await;
    let res = client
        .post(format!("{base}/api/v1/dialogues/{}/rounds", dialogue.id))
        .bearer_auth(&organizer_token)
        .json(&json!({"title": "Round 1", "timezone": "Asia/Kolkata", "starts_on": "2027-02-10", "ends_on": "2027-02-12",
                      "venue": {"name": "Neemrana Fort-Palace", "city": "Neemrana"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED, "round");
    let round_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (user, (_, side, role)) in people.iter().zip([FIVE[0], FIVE[1], FIVE[3], FIVE[4]]) {
        store::participants::add(&db, &round_id, &user.id, side, role.parse().unwrap())
            .await
            .unwrap();
    }
    for status in ["scheduled", "in_session"] {
        let res = client
            .post(format!("{base}/api/v1/rounds/{round_id}/status"))
            .bearer_auth(&organizer_token)
            .json(&json!({"status": status, "force": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{status}");
    }
    let mut with_tokens = Vec::new();
    for user in people {
        let token = login(client, base, &user).await;
        with_tokens.push((user, token));
    }
    Seeded {
        db,
        round_id,
        organizer_token,
        people: with_tokens,
    }
}

async fn count_notes(db: &DatabaseConnection, round_id: &str) -> (u64, u64) {
    let private = private_note::Entity::find()
        .filter(private_note::Column::RoundId.eq(round_id))
        .count(db)
        .await
        .unwrap();
    let chatham = chatham_note::Entity::find()
        .filter(chatham_note::Column::RoundId.eq(round_id))
        .count(db)
        .await
        .unwrap();
    (private, chatham)
}

#[tokio::test]
async fn checks_34_a_note_answered_201_survives_kill_9_and_a_refused_note_leaves_no_row() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    let db_url = fresh_database_url().await;
    let client = Client::new();
    let mut server = Server::start(&data_dir, &db_url, "info", &log).await;
    let base = server.base();
    let seeded = seed(&client, &base, &binary_settings(&data_dir, &db_url)).await;
    let (author, token) = &seeded.people[2];
    let notes = format!("{base}/api/v1/rounds/{}/notes", seeded.round_id);

    // Refused before anything is written: no row, no partial row.
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "chatham", "body": "Khokhar wants water data pooled."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "chatham", "body": "Fine text.", "agenda_item_id": uuid::Uuid::new_v4().to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        count_notes(&seeded.db, &seeded.round_id).await,
        (0, 0),
        "refused notes left rows"
    );

    let private_text = format!("Private durable remark {}", short());
    let chatham_text = format!("Shared durable remark {} on river data.", short());
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "private", "body": private_text}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let private_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "chatham", "body": chatham_text}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    // kill -9 as soon as the 201 is in.
    let status = server.signal(libc::SIGKILL);
    assert!(!status.success(), "killed: {status:?}");
    let chatham_id = created["id"].as_str().unwrap().to_owned();
    let key = created["edit_key"].as_str().unwrap().to_owned();

    let mut restarted = Server::start(&data_dir, &db_url, "info", &log).await;
    let base = restarted.base();
    let token = login(&client, &base, author).await;
    let res = client
        .get(format!("{base}/api/v1/notes/{private_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the private note survived");
    assert_eq!(
        res.json::<Value>().await.unwrap()["body"],
        private_text.as_str()
    );
    let res = client
        .get(format!("{base}/api/v1/notes/{chatham_id}"))
        .bearer_auth(&token)
        .header("Edit-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the chatham note survived");
    let read: Value = res.json().await.unwrap();
    assert_eq!(read["body"], chatham_text.as_str());
    assert_eq!(read["released"], false);
    assert_eq!(
        count_notes(&seeded.db, &seeded.round_id).await,
        (1, 1),
        "exactly the acknowledged notes"
    );
    assert!(restarted.signal(libc::SIGTERM).success());
}

#[tokio::test]
async fn checks_38_and_40_note_requests_log_no_author_address_body_or_key_and_note_responses_are_not_cached()
 {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    let db_url = fresh_database_url().await;
    let client = Client::new();
    let mut server = Server::start(&data_dir, &db_url, "debug", &log).await;
    let base = server.base();
    let seeded = seed(&client, &base, &binary_settings(&data_dir, &db_url)).await;
    let (_, token) = &seeded.people[2];
    let (_, other) = &seeded.people[3];
    let api = format!("{base}/api/v1");
    let notes = format!("{api}/rounds/{}/notes", seeded.round_id);
    let tag = short();
    let bodies = [
        format!("PRIVATE-LOG-CANARY-{tag} first thought"),
        format!("PRIVATE-LOG-CANARY-{tag} second thought"),
        format!("CHATHAM-LOG-CANARY-{tag} shared view on rivers."),
        format!("CHATHAM-LOG-CANARY-{tag} revised view on rivers."),
        format!("REFUSED-LOG-CANARY-{tag} Siddiqa said so."),
    ];
    let wrong_key = format!("WRONG-KEY-CANARY-{tag}");
    let bad_token = format!("BAD-TOKEN-CANARY-{tag}");

    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "private", "body": bodies[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_no_store(&res, "create (private)");
    let private_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "chatham", "body": bodies[2]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_no_store(&res, "create (chatham)");
    let created: Value = res.json().await.unwrap();
    let chatham_id = created["id"].as_str().unwrap().to_owned();
    let key = created["edit_key"].as_str().unwrap().to_owned();

    let res = client
        .get(format!("{api}/notes/{private_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "a private note");
    let res = client
        .get(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(token)
        .header("Edit-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "a held chatham note");
    let res = client
        .patch(format!("{api}/notes/{private_id}"))
        .bearer_auth(token)
        .json(&json!({"body": bodies[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "an edited private note");
    let res = client
        .patch(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(token)
        .header("Edit-Key", &key)
        .json(&json!({"body": bodies[3]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "an edited chatham note");
    let res = client
        .get(format!("{api}/me/notes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "/me/notes");
    let res = client
        .get(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(other)
        .header("Edit-Key", &wrong_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = client
        .post(&notes)
        .bearer_auth(token)
        .json(&json!({"visibility": "chatham", "body": bodies[4]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = client
        .get(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(&bad_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = client
        .post(format!("{notes}/release"))
        .bearer_auth(&seeded.organizer_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "release");
    let res = client.get(&notes).bearer_auth(other).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "the notes list");
    assert!(res.text().await.unwrap().contains(&bodies[3]));
    let res = client
        .get(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "a released chatham note");
    for query in ["", "?format=markdown"] {
        let res = client
            .get(format!("{api}/rounds/{}/record{query}", seeded.round_id))
            .bearer_auth(other)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_no_store(&res, &format!("the record{query}"));
    }
    let res = client
        .get(format!("{api}/rounds/{}/participants", seeded.round_id))
        .bearer_auth(other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_no_store(&res, "the participants");
    let res = client
        .delete(format!("{api}/notes/{chatham_id}"))
        .bearer_auth(token)
        .header("Edit-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = client
        .delete(format!("{api}/notes/{private_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let status = server.signal(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let logs = std::fs::read_to_string(&log).unwrap();
    for route in ["/api/v1/notes/{note_id}", "/api/v1/rounds/{round_id}/notes"] {
        assert!(
            logs.contains(&format!("\"route\":\"{route}\"")),
            "request lines for {route} are logged: {logs}"
        );
    }
    let mut canaries: Vec<(String, String)> = vec![
        ("the edit key".into(), key.clone()),
        ("a wrong edit key".into(), wrong_key),
        ("a bad token".into(), bad_token),
        ("the author's token".into(), token.clone()),
        ("the private note id".into(), private_id),
        ("the chatham note id".into(), chatham_id),
        (
            "the round id (a concrete path)".into(),
            seeded.round_id.clone(),
        ),
        ("a log canary".into(), format!("LOG-CANARY-{tag}")),
    ];
    for (i, body) in bodies.iter().enumerate() {
        canaries.push((format!("note body {i}"), body.clone()));
    }
    for (user, _) in &seeded.people {
        canaries.push((format!("the user id of {}", user.email), user.id.clone()));
        canaries.push(("an email".into(), user.email.clone()));
    }
    for line in logs.lines() {
        for (what, canary) in &canaries {
            assert!(
                !line.contains(canary.as_str()),
                "a log line carries {what}: {line}"
            );
        }
        // The only address in the logs is the server's own listening one.
        let own = format!("127.0.0.1:{}", server.port);
        let mut rest = line;
        while let Some(at) = rest.find("127.0.0.1") {
            let tail = &rest[at..];
            let is_own = tail.starts_with(&own)
                && !tail[own.len()..].starts_with(|c: char| c.is_ascii_digit());
            assert!(is_own, "a log line carries a client address: {line}");
            rest = &tail[9..];
        }
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            for m in objects(&v) {
                for k in m.keys() {
                    assert!(
                        ![
                            "peer_addr",
                            "remote_addr",
                            "client_ip",
                            "ip",
                            "user_id",
                            "author_id",
                            "sub",
                        ]
                        .contains(&k.as_str()),
                        "a log line has `{k}`: {line}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rights

#[tokio::test]
async fn note_rights_follow_the_role_the_round_status_and_the_rule() {
    let app = spawn_app().await;
    let s = session(&app, &["Water resources"]).await;
    let shared = |body: &str| json!({"visibility": "chatham", "body": body});
    let mine = |body: &str| json!({"visibility": "private", "body": body});

    // Observers keep private notes but do not post shared ones.
    let observer = app.user("Quiet Observer").await;
    app.join(&s.round_id, &observer, "india", "observer").await;
    let observer_token = app.token(&observer).await;
    let res = post_note(
        &app,
        &observer_token,
        &s.round_id,
        &shared("Shared by an observer."),
    )
    .await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = post_note(
        &app,
        &observer_token,
        &s.round_id,
        &mine("Kept by an observer."),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);

    // Organizers who are not members: 403 writing, 404 reading.
    for body in [
        shared("Shared by the organizer."),
        mine("Kept by the organizer."),
    ] {
        let res = post_note(&app, &s.organizer_token, &s.round_id, &body).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let n = chatham(
        &app,
        &s.author().token,
        &s.round_id,
        "Water data should be pooled.",
        None,
    )
    .await;
    release(&app, &s).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let real = seen(
        note_request(
            &app,
            Method::GET,
            &n.id,
            Some(&s.organizer_token),
            None,
            None,
        )
        .await,
    )
    .await;
    let none = seen(
        note_request(
            &app,
            Method::GET,
            &unknown,
            Some(&s.organizer_token),
            None,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        real.0, 404,
        "the organizer reads a released note: {}",
        real.1
    );
    assert_eq!(real, none);
    let res = app.get(&s.notes(), Some(&s.organizer_token)).await;
    assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;

    // An agenda item of another round, or of none.
    let round2 = app
        .create_round(&s.organizer_token, &s.dialogue_id, "Round 2")
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round2}/agenda"),
            Some(&s.organizer_token),
            &json!({"title": "Trade"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let foreign_item = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for item in [foreign_item, uuid::Uuid::new_v4().to_string()] {
        for visibility in ["private", "chatham"] {
            let res = post_note(
                &app,
                &s.author().token,
                &s.round_id,
                &json!({"visibility": visibility, "body": "On another round's item.", "agenda_item_id": item}),
            )
            .await;
            assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        }
    }

    // Notes are written in session and after, never before or once archived.
    let author = &s.author().user;
    let token = &s.author().token;
    let round3 = app
        .create_round(&s.organizer_token, &s.dialogue_id, "Round 3")
        .await;
    app.join(&round3, author, "pakistan", "delegate").await;
    let attempt = async |round: &str, expect_open: bool, stage: &str| {
        for body in [
            shared("A view on rivers."),
            mine("A private view on rivers."),
        ] {
            let res = post_note(&app, token, round, &body).await;
            if expect_open {
                assert_eq!(res.status(), StatusCode::CREATED, "{stage}");
            } else {
                assert_problem(res, StatusCode::CONFLICT, "round_not_in_session").await;
            }
        }
    };
    attempt(&round3, false, "draft").await;
    for (status, open) in [
        ("scheduled", false),
        ("in_session", true),
        ("concluded", true),
        ("archived", false),
    ] {
        let res = round_status(&app, &s.organizer_token, &round3, status).await;
        assert_eq!(res.status(), StatusCode::OK, "{status}");
        attempt(&round3, open, status).await;
    }
    let round4 = app
        .create_round(&s.organizer_token, &s.dialogue_id, "Round 4")
        .await;
    app.join(&round4, author, "pakistan", "delegate").await;
    assert_eq!(
        round_status(&app, &s.organizer_token, &round4, "cancelled")
            .await
            .status(),
        StatusCode::OK
    );
    attempt(&round4, false, "cancelled").await;

    // A round kept under private_notes_only refuses shared notes.
    let res = app
        .post_json(
            &format!("/api/v1/dialogues/{}/rounds", s.dialogue_id),
            Some(&s.organizer_token),
            &json!({"title": "Round 5", "timezone": "Asia/Kolkata", "starts_on": "2027-06-10", "ends_on": "2027-06-12", "rule": "private_notes_only"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let round5 = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.join(&round5, author, "pakistan", "delegate").await;
    for status in ["scheduled", "in_session"] {
        assert_eq!(
            round_status(&app, &s.organizer_token, &round5, status)
                .await
                .status(),
            StatusCode::OK
        );
    }
    let res = post_note(&app, token, &round5, &shared("A view on rivers.")).await;
    assert_problem(res, StatusCode::CONFLICT, "shared_notes_disabled").await;
    let res = post_note(&app, token, &round5, &mine("A private view on rivers.")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

// ---------------------------------------------------------------------------------------------
// Deletion stays in the author's hands

#[tokio::test]
async fn a_key_holder_deletes_a_chatham_note_at_any_time_after_release_archival_or_leaving_the_round()
 {
    let app = spawn_app().await;
    let s = session(&app, &[]).await;
    let author = s.author();
    let held = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Water data should be pooled.",
        None,
    )
    .await;
    let released = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Trade could resume in phases.",
        None,
    )
    .await;
    release(&app, &s).await;
    let kept = chatham(
        &app,
        &author.token,
        &s.round_id,
        "Fisheries need a mechanism.",
        None,
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Without the key nobody deletes it, members included; with a wrong key neither.
    for token in [&s.other().token, &s.chair().token, &author.token] {
        for key in [None, Some("wrong-edit-key")] {
            let real = seen(
                note_request(&app, Method::DELETE, &released.id, Some(token), key, None).await,
            )
            .await;
            let none =
                seen(note_request(&app, Method::DELETE, &unknown, Some(token), key, None).await)
                    .await;
            assert_eq!(real.0, 404, "{}", real.1);
            assert_eq!(real, none);
        }
    }
    let res = note_request(
        &app,
        Method::DELETE,
        &released.id,
        Some(&author.token),
        Some(&released.key),
        None,
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "deleted after release"
    );
    assert!(
        !listed_ids(&app, &s.other().token, &s.notes())
            .await
            .contains(&released.id)
    );

    // The author leaves the round: the key still deletes the note.
    let res = app
        .request(
            Method::DELETE,
            &format!(
                "/api/v1/rounds/{}/participants/{}",
                s.round_id, author.user.id
            ),
            Some(&s.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "the author is removed"
    );
    let res = note_request(
        &app,
        Method::DELETE,
        &held.id,
        Some(&author.token),
        Some(&held.key),
        None,
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "deleted after leaving the round"
    );

    // Archived: the key still deletes, and the author still deletes a private note.
    let p = private(
        &app,
        &s.other().token,
        &s.round_id,
        "Mine to the end.",
        None,
    )
    .await;
    let other_kept = chatham(
        &app,
        &s.other().token,
        &s.round_id,
        "Rivers need joint data.",
        None,
    )
    .await;
    for status in ["concluded", "archived"] {
        assert_eq!(
            round_status(&app, &s.organizer_token, &s.round_id, status)
                .await
                .status(),
            StatusCode::OK
        );
    }
    let res = note_request(
        &app,
        Method::DELETE,
        &other_kept.id,
        Some(&s.other().token),
        Some(&other_kept.key),
        None,
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "deleted in an archived round"
    );
    let res = note_request(&app, Method::DELETE, &p, Some(&s.other().token), None, None).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "a private note deleted in an archived round"
    );
    for id in [&held.id, &released.id, &other_kept.id] {
        assert!(
            chatham_note::Entity::find_by_id(id.clone())
                .one(&app.db)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        private_note::Entity::find_by_id(p)
            .one(&app.db)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        chatham_note::Entity::find_by_id(kept.id.clone())
            .one(&app.db)
            .await
            .unwrap()
            .is_some(),
        "the author's other note is untouched"
    );
}

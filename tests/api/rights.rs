//! CHECKS 8: the authorization matrix. `rights.tsv` is the checked-in rights table (DESIGN.md
//! §2 applied to every route); this test sends every row as every principal, each against a
//! fresh fixture state, and fails once with every cell whose status differs. Every served route
//! (`routes.txt`) must have a row or a stated exclusion, so a new route without a rights row
//! fails here. CHECKS 9 (malformed ids): a malformed id gets exactly the 404 of an unknown one.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use backchannel::entities::{dialogue_side, round};
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app};

const MATRIX: &str = include_str!("rights.tsv");
const ROUTES: &str = include_str!("routes.txt");

/// The principal columns of `rights.tsv`, in order.
const PRINCIPALS: [&str; 11] = [
    "anonymous",
    "admin",
    "organizer",
    "other_organizer",
    "convenor",
    "co_chair",
    "facilitator",
    "rapporteur",
    "delegate",
    "observer",
    "other_member",
];

/// The six round roles, as column names and as role names in round A.
const ROLES: [&str; 6] = [
    "convenor",
    "co_chair",
    "facilitator",
    "rapporteur",
    "delegate",
    "observer",
];

struct Row {
    method: String,
    path: String,
    /// One expected status per entry of `PRINCIPALS`.
    expected: Vec<u16>,
}

struct Matrix {
    rows: Vec<Row>,
    /// `METHOD /path` of the routes the file declares not principal-based.
    excluded: Vec<String>,
}

fn route_key(method: &str, path: &str) -> String {
    format!("{method} {path}")
}

fn parse_matrix(text: &str) -> Matrix {
    let mut rows: Vec<Row> = Vec::new();
    let mut excluded = Vec::new();
    let mut header_seen = false;
    for (i, line) in text.lines().enumerate() {
        let at = format!("rights.tsv line {}", i + 1);
        if let Some(rest) = line.strip_prefix("# excluded:") {
            let mut words = rest.split_whitespace();
            let (Some(method), Some(path)) = (words.next(), words.next()) else {
                panic!("{at}: `# excluded:` needs METHOD /path");
            };
            excluded.push(route_key(method, path));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        if !header_seen {
            let mut want = vec!["method", "path"];
            want.extend(PRINCIPALS);
            assert_eq!(cells, want, "{at}: the header names the principal columns");
            header_seen = true;
            continue;
        }
        assert_eq!(
            cells.len(),
            2 + PRINCIPALS.len(),
            "{at}: a method, a path and one status per principal, tab separated"
        );
        let expected = cells[2..]
            .iter()
            .zip(PRINCIPALS)
            .map(|(cell, who)| {
                cell.parse::<u16>()
                    .ok()
                    .filter(|s| (100..600).contains(s))
                    .unwrap_or_else(|| panic!("{at}: `{cell}` for {who} is not an HTTP status"))
            })
            .collect();
        let key = route_key(cells[0], cells[1]);
        assert!(
            !rows.iter().any(|r| route_key(&r.method, &r.path) == key),
            "{at}: {key} has two rows"
        );
        rows.push(Row {
            method: cells[0].to_owned(),
            path: cells[1].to_owned(),
            expected,
        });
    }
    assert!(header_seen, "rights.tsv has a header line");
    Matrix { rows, excluded }
}

/// Every route the service serves, as `METHOD /path`.
fn served_routes() -> Vec<String> {
    ROUTES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn every_served_route_has_a_rights_row_or_a_stated_exclusion() {
    let matrix = parse_matrix(MATRIX);
    let served: BTreeSet<String> = served_routes().into_iter().collect();
    let rows: BTreeSet<String> = matrix
        .rows
        .iter()
        .map(|r| route_key(&r.method, &r.path))
        .collect();
    let excluded: BTreeSet<String> = matrix.excluded.iter().cloned().collect();
    let mut problems = Vec::new();
    for route in &served {
        match (rows.contains(route), excluded.contains(route)) {
            (false, false) => problems.push(format!(
                "{route}: served but has no row in rights.tsv (and is not excluded), so nothing \
                 states who may call it"
            )),
            (true, true) => problems.push(format!("{route}: both a row and excluded")),
            _ => {}
        }
    }
    for route in rows.union(&excluded) {
        if !served.contains(route) {
            problems.push(format!("{route}: in rights.tsv but not in routes.txt"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

struct Principal {
    name: &'static str,
    user: Option<TestUser>,
    token: Option<String>,
}

/// Dialogue A with its draft round A, the principals of `PRINCIPALS`, and round B of another
/// dialogue. Round A has a published agenda (its items carry the topic `water`); round A2, a
/// later round of dialogue A where every member of round A holds the same role, is where items
/// are carried forward to.
struct World {
    app: TestApp,
    dialogue_id: String,
    round_id: String,
    later_round_id: String,
    /// A published item of round A.
    item_id: String,
    principals: Vec<Principal>,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}@example.org",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn round_body(title: &str) -> Value {
    json!({"title": title, "timezone": "Asia/Kolkata", "starts_on": "2027-08-10",
           "ends_on": "2027-08-12", "venue": {"name": "Bhurban", "city": "Murree"}})
}

/// A webhook nobody listens to (its deliveries simply fail and retry).
fn webhook_body() -> Value {
    json!({"url": "https://hooks.example.org/backchannel", "events": ["round.updated"]})
}

fn invitation_body(email: &str) -> Value {
    json!({"email": email, "name": "Invited Person", "side": "india", "role": "delegate"})
}

/// Texts of notes, summaries and statements: they name no participant, institution or
/// role-holder of round A, so the attribution guard lets them through and the record exports.
const PRIVATE_TEXT: &str = "Keep the river data question for later.";
const CHATHAM_TEXT: &str = "Pooling river flow data was proposed.";
const SUMMARY_TEXT: &str = "A neutral account.";
const STATEMENT_TEXT: &str = "Both sides agree to meet again.";

/// The topic of every agenda item this file makes, and the `{topic}` of its paths.
const TOPIC: &str = "water";

/// A new item at the end of the round's agenda, made by an editor; returns its id.
async fn add_agenda_item(app: &TestApp, token: &str, round_id: &str, title: &str) -> String {
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round_id}/agenda"),
            Some(token),
            &json!({"title": title, "topics": [TOPIC]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "setup: an agenda item");
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Publishes the round's current agenda as its next version, as an editor.
async fn publish_agenda(app: &TestApp, token: &str, round_id: &str) {
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round_id}/agenda/publish"),
            Some(token),
            &json!({}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "setup: publish the agenda"
    );
}

impl World {
    async fn build() -> World {
        let app = spawn_app().await;
        let f = app.round_fixture().await;
        // Throw-away participants and invitations accumulate; keep every side far from full.
        dialogue_side::Entity::update_many()
            .col_expr(dialogue_side::Column::DelegationLimit, Expr::value(200))
            .filter(dialogue_side::Column::DialogueId.eq(&f.dialogue_id))
            .exec(&app.db)
            .await
            .unwrap();

        let mut principals = vec![Principal {
            name: "anonymous",
            user: None,
            token: None,
        }];
        let admin = app.admin().await;
        principals.push(Principal {
            name: "admin",
            token: Some(app.token(&admin).await),
            user: Some(admin),
        });
        principals.push(Principal {
            name: "organizer",
            token: Some(f.organizer_token.clone()),
            user: Some(f.organizer),
        });
        let other_organizer = app.user("Other Organizer").await;
        let other_token = app.token(&other_organizer).await;
        let other_dialogue = app
            .dialogue_for(&other_organizer, "Chaophraya Dialogue")
            .await;
        let round_b = app
            .create_round(&other_token, &other_dialogue, "Round B")
            .await;
        principals.push(Principal {
            name: "other_organizer",
            token: Some(other_token),
            user: Some(other_organizer),
        });
        let later_round_id = app
            .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
            .await;
        for (i, role) in ROLES.into_iter().enumerate() {
            let user = app.user(&format!("Member {role}")).await;
            let side = if i % 2 == 0 { "india" } else { "pakistan" };
            app.join(&f.round_id, &user, side, role).await;
            // The same role in round A2, so carrying forward is decided by the role alone.
            app.join(&later_round_id, &user, side, role).await;
            principals.push(Principal {
                name: role,
                token: Some(app.token(&user).await),
                user: Some(user),
            });
        }
        let other_member = app.user("Other Member").await;
        app.join(&round_b, &other_member, "india", "delegate").await;
        principals.push(Principal {
            name: "other_member",
            token: Some(app.token(&other_member).await),
            user: Some(other_member),
        });
        let names: Vec<&str> = principals.iter().map(|p| p.name).collect();
        assert_eq!(names, PRINCIPALS);
        // Non-editors see only the published agenda: publish the item the read rows use.
        let item_id = add_agenda_item(&app, &f.organizer_token, &f.round_id, "Water").await;
        publish_agenda(&app, &f.organizer_token, &f.round_id).await;
        World {
            app,
            dialogue_id: f.dialogue_id,
            round_id: f.round_id,
            later_round_id,
            item_id,
            principals,
        }
    }

    /// The organizer's current token, for setting things up over HTTP.
    fn organizer_token(&self) -> &str {
        self.principals[2].token.as_deref().unwrap()
    }

    async fn reset_round_to_draft(&self) {
        round::Entity::update_many()
            .col_expr(round::Column::Status, Expr::value("draft"))
            .filter(round::Column::Id.eq(&self.round_id))
            .exec(&self.app.db)
            .await
            .unwrap();
    }

    /// A pending invitation to round A, made by the organizer.
    async fn fresh_invitation(&self) -> String {
        let res = self
            .app
            .post_json(
                &format!("/api/v1/rounds/{}/invitations", self.round_id),
                Some(self.organizer_token()),
                &invitation_body(&unique("pending")),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "setup: an invitation");
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A webhook of dialogue A, registered by the organizer. Earlier ones are removed first:
    /// a dialogue keeps at most 20.
    async fn fresh_webhook(&self) -> String {
        backchannel::entities::webhook::Entity::delete_many()
            .filter(backchannel::entities::webhook::Column::DialogueId.eq(&self.dialogue_id))
            .exec(&self.app.db)
            .await
            .unwrap();
        let res = self
            .app
            .post_json(
                &format!("/api/v1/dialogues/{}/webhooks", self.dialogue_id),
                Some(self.organizer_token()),
                &webhook_body(),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "setup: a webhook");
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A throw-away delegate of round A.
    async fn fresh_participant(&self) -> String {
        let user = self.app.user("Throwaway Participant").await;
        self.app
            .join(&self.round_id, &user, "pakistan", "delegate")
            .await;
        user.id
    }

    /// A throw-away co-organizer of dialogue A, added by the organizer.
    async fn fresh_co_organizer(&self) -> String {
        let user = self.app.user("Throwaway Organizer").await;
        let res = self
            .app
            .post_json(
                &format!("/api/v1/dialogues/{}/organizers", self.dialogue_id),
                Some(self.organizer_token()),
                &json!({"user_id": user.id}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "setup: a co-organizer");
        user.id
    }

    /// A new `planned` item of round A, published at once, so that every member sees it and
    /// only the rights of the caller decide what happens to it.
    async fn fresh_published_item(&self) -> String {
        let token = self.organizer_token();
        let id = add_agenda_item(&self.app, token, &self.round_id, "Extra item").await;
        publish_agenda(&self.app, token, &self.round_id).await;
        id
    }

    /// Every item id of round A (the organizer sees the working agenda), in reverse order.
    async fn reversed_item_ids(&self) -> Vec<String> {
        let res = self
            .app
            .get(
                &format!("/api/v1/rounds/{}/agenda", self.round_id),
                Some(self.organizer_token()),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "setup: read the agenda");
        let agenda: Value = res.json().await.unwrap();
        let mut ids: Vec<String> = agenda["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        ids.reverse();
        ids
    }

    /// The current token of the principal called `name`.
    fn token_of(&self, name: &str) -> &str {
        self.principals
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.token.as_deref())
            .unwrap_or_else(|| panic!("no principal {name} with a token"))
    }

    /// Puts round A in session (notes are written only while a round is in session or
    /// concluded), as the organizer, unless it already is. The status row leaves it in draft.
    async fn ensure_in_session(&self) {
        let status = round::Entity::find_by_id(self.round_id.clone())
            .one(&self.app.db)
            .await
            .unwrap()
            .expect("round A exists")
            .status;
        let steps: &[&str] = match status.as_str() {
            "in_session" => &[],
            "scheduled" => &["in_session"],
            "draft" => &["scheduled", "in_session"],
            other => panic!("setup: round A is {other}, not on the way to a session"),
        };
        for step in steps {
            let res = self
                .app
                .post_json(
                    &format!("/api/v1/rounds/{}/status", self.round_id),
                    Some(self.organizer_token()),
                    &json!({"status": step, "force": true}),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK, "setup: round A to {step}");
        }
    }

    /// A new note in round A (in session) by `author`; returns the 201 body (`id`, and for a
    /// chatham note its `edit_key`).
    async fn post_note(&self, author: &str, visibility: &str, body: &str) -> Value {
        self.ensure_in_session().await;
        let res = self
            .app
            .post_json(
                &format!("/api/v1/rounds/{}/notes", self.round_id),
                Some(self.token_of(author)),
                &json!({"visibility": visibility, "body": body}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "setup: a {visibility} note"
        );
        res.json().await.unwrap()
    }

    /// Releases round A's held chatham notes, as the organizer.
    async fn release_notes(&self) {
        let res = self
            .app
            .post_json(
                &format!("/api/v1/rounds/{}/notes/release", self.round_id),
                Some(self.organizer_token()),
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "setup: release the notes");
    }

    /// A chatham note of round A written by the delegate and released by the organizer.
    async fn fresh_released_note(&self) -> String {
        let note = self.post_note("delegate", "chatham", CHATHAM_TEXT).await;
        self.release_notes().await;
        note["id"].as_str().unwrap().to_owned()
    }

    /// A private note of round A written by the delegate.
    async fn fresh_private_note(&self) -> String {
        let note = self.post_note("delegate", "private", PRIVATE_TEXT).await;
        note["id"].as_str().unwrap().to_owned()
    }

    /// A summary of the fixed item exists: written by the rapporteur unless there is one.
    async fn ensure_summary(&self) {
        let path = format!("/api/v1/agenda/{}/summary", self.item_id);
        let rapporteur = self.token_of("rapporteur");
        if self.app.get(&path, Some(rapporteur)).await.status() == StatusCode::OK {
            return;
        }
        let res = self
            .app
            .send_json(
                Method::PUT,
                &path,
                Some(rapporteur),
                &json!({"body": SUMMARY_TEXT}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "setup: a summary");
    }

    /// The current version of round A's statement, drafted by the rapporteur unless there is
    /// one. Round A has one co-chair, for one of its two sides, so it is never adopted.
    async fn statement_version(&self) -> i64 {
        let path = format!("/api/v1/rounds/{}/statement", self.round_id);
        let rapporteur = self.token_of("rapporteur");
        let res = self.app.get(&path, Some(rapporteur)).await;
        let res = if res.status() == StatusCode::NOT_FOUND {
            self.app
                .send_json(
                    Method::PUT,
                    &path,
                    Some(rapporteur),
                    &json!({"body": STATEMENT_TEXT}),
                )
                .await
        } else {
            res
        };
        assert_eq!(res.status(), StatusCode::OK, "setup: a statement");
        let statement: Value = res.json().await.unwrap();
        assert_eq!(statement["adopted"], false, "setup: a statement still open");
        statement["version"].as_i64().unwrap()
    }

    /// The concrete path and body for one attempt at `method template` by `who`, with any
    /// state the attempt consumes made afresh. `None`: this file has no recipe for the route.
    async fn prepare(
        &self,
        method: &str,
        template: &str,
        who: &Principal,
    ) -> Option<(String, Option<Value>)> {
        let path = template
            .replace("{dialogue_id}", &self.dialogue_id)
            .replace("{round_id}", &self.round_id);
        let prepared = match (method, template) {
            ("GET", "/api/v1/me")
            | ("GET", "/api/v1/users")
            | ("GET", "/api/v1/formats")
            | ("GET", "/api/v1/dialogues")
            | ("GET", "/api/v1/dialogues/{dialogue_id}")
            | ("GET", "/api/v1/dialogues/{dialogue_id}/audit")
            | ("GET", "/api/v1/dialogues/{dialogue_id}/rounds")
            | ("GET", "/api/v1/rounds/{round_id}")
            | ("GET", "/api/v1/rounds/{round_id}/readiness")
            | ("GET", "/api/v1/rounds/{round_id}/invitations")
            | ("GET", "/api/v1/rounds/{round_id}/participants")
            | ("GET", "/api/v1/rounds/{round_id}/agenda")
            | ("GET", "/api/v1/rounds/{round_id}/agenda/versions")
            | ("GET", "/api/v1/rounds/{round_id}/calendar.ics")
            | ("GET", "/api/v1/dialogues/{dialogue_id}/topics")
            | ("POST", "/api/v1/rounds/{round_id}/agenda/publish") => (path, None),
            // Named so that no participant's name matches a title the matrix writes ("Renamed",
            // "Extra item"): the record's guard would rightly refuse the export.
            ("PATCH", "/api/v1/me") => (path, Some(json!({"display_name": "Changed Person"}))),
            ("POST", "/api/v1/me/password") => {
                let current = who
                    .user
                    .as_ref()
                    .map_or("no account, no password", |u| &u.password);
                (
                    path,
                    Some(json!({"current_password": current,
                                "new_password": format!("{current}-and-then-some")})),
                )
            }
            ("GET", "/api/v1/me/tokens") | ("POST", "/api/v1/me/calendar-feed") => (path, None),
            ("POST", "/api/v1/me/tokens") => (
                path,
                Some(json!({"name": "Integration", "scopes": ["rounds:read"]})),
            ),
            ("DELETE", "/api/v1/me/tokens/{token_id}") => {
                // A token of the principal's own (anonymous: any id, the answer is 401 anyway).
                let id = match &who.token {
                    Some(t) => {
                        let res = self
                            .app
                            .post_json(
                                "/api/v1/me/tokens",
                                Some(t),
                                &json!({"name": "Throwaway", "scopes": ["rounds:read"]}),
                            )
                            .await;
                        res.json::<Value>().await.unwrap()["id"]
                            .as_str()
                            .unwrap()
                            .to_owned()
                    }
                    None => uuid::Uuid::new_v4().to_string(),
                };
                (path.replace("{token_id}", &id), None)
            }
            ("POST", "/api/v1/users") => (
                path,
                Some(
                    json!({"email": unique("account"), "display_name": "New Account",
                            "password": "a long enough passphrase"}),
                ),
            ),
            ("PATCH", "/api/v1/users/{user_id}") => {
                let user = self.app.user("Throwaway Account").await;
                (
                    path.replace("{user_id}", &user.id),
                    Some(json!({"is_admin": false})),
                )
            }
            ("POST", "/api/v1/dialogues") => (
                path,
                Some(json!({"name": "Another Dialogue", "format": "neemrana"})),
            ),
            ("PATCH", "/api/v1/dialogues/{dialogue_id}") => {
                (path, Some(json!({"description": "Updated description"})))
            }
            ("POST", "/api/v1/dialogues/{dialogue_id}/organizers") => {
                let user = self.app.user("Prospective Organizer").await;
                (path, Some(json!({"email": user.email})))
            }
            ("DELETE", "/api/v1/dialogues/{dialogue_id}/organizers/{user_id}") => (
                path.replace("{user_id}", &self.fresh_co_organizer().await),
                None,
            ),
            ("POST", "/api/v1/dialogues/{dialogue_id}/rounds") => {
                (path, Some(round_body("Another round")))
            }
            ("GET", "/api/v1/dialogues/{dialogue_id}/webhooks") => (path, None),
            ("POST", "/api/v1/dialogues/{dialogue_id}/webhooks") => (path, Some(webhook_body())),
            ("DELETE", "/api/v1/webhooks/{webhook_id}")
            | ("GET", "/api/v1/webhooks/{webhook_id}/deliveries")
            | ("POST", "/api/v1/webhooks/{webhook_id}/test") => (
                path.replace("{webhook_id}", &self.fresh_webhook().await),
                None,
            ),
            ("PATCH", "/api/v1/rounds/{round_id}") => (path, Some(json!({"title": "Renamed"}))),
            ("POST", "/api/v1/rounds/{round_id}/status") => {
                self.reset_round_to_draft().await;
                (path, Some(json!({"status": "scheduled"})))
            }
            ("POST", "/api/v1/rounds/{round_id}/invitations") => {
                (path, Some(invitation_body(&unique("invitee"))))
            }
            ("DELETE", "/api/v1/invitations/{invitation_id}")
            | ("POST", "/api/v1/invitations/{invitation_id}/resend") => (
                path.replace("{invitation_id}", &self.fresh_invitation().await),
                None,
            ),
            ("PATCH", "/api/v1/rounds/{round_id}/participants/{user_id}") => (
                path.replace("{user_id}", &self.fresh_participant().await),
                Some(json!({"role": "observer"})),
            ),
            ("DELETE", "/api/v1/rounds/{round_id}/participants/{user_id}") => (
                path.replace("{user_id}", &self.fresh_participant().await),
                None,
            ),
            // Version 1 is the fixture's first publication.
            ("GET", "/api/v1/rounds/{round_id}/agenda/versions/{number}") => {
                (path.replace("{number}", "1"), None)
            }
            ("GET", "/api/v1/dialogues/{dialogue_id}/topics/{topic}") => {
                (path.replace("{topic}", TOPIC), None)
            }
            ("GET", "/api/v1/agenda/{item_id}") | ("GET", "/api/v1/agenda/{item_id}/lineage") => {
                (path.replace("{item_id}", &self.item_id), None)
            }
            ("POST", "/api/v1/rounds/{round_id}/agenda") => (
                path,
                Some(json!({"title": "Another item", "topics": [TOPIC]})),
            ),
            ("POST", "/api/v1/rounds/{round_id}/agenda/order") => (
                path,
                Some(json!({"item_ids": self.reversed_item_ids().await})),
            ),
            ("PATCH", "/api/v1/agenda/{item_id}") => (
                path.replace("{item_id}", &self.fresh_published_item().await),
                Some(json!({"title": "Renamed item"})),
            ),
            // Only a planned item can be deleted, and only once.
            ("DELETE", "/api/v1/agenda/{item_id}") => (
                path.replace("{item_id}", &self.fresh_published_item().await),
                None,
            ),
            // `planned -> in_discussion` happens once per item.
            ("POST", "/api/v1/agenda/{item_id}/status") => (
                path.replace("{item_id}", &self.fresh_published_item().await),
                Some(json!({"status": "in_discussion"})),
            ),
            // An item's lineage enters a given round once.
            ("POST", "/api/v1/agenda/{item_id}/carry-forward") => (
                path.replace("{item_id}", &self.fresh_published_item().await),
                Some(json!({"round_id": self.later_round_id})),
            ),
            // Notes and the record: round A in session (`ensure_in_session`), its texts free of
            // anything the attribution guard flags.
            ("POST", "/api/v1/rounds/{round_id}/notes") => {
                self.ensure_in_session().await;
                (
                    path,
                    Some(json!({"visibility": "private", "body": PRIVATE_TEXT})),
                )
            }
            ("GET", "/api/v1/rounds/{round_id}/notes")
            | ("GET", "/api/v1/me/notes")
            | ("POST", "/api/v1/rounds/{round_id}/notes/release")
            | ("GET", "/api/v1/rounds/{round_id}/record") => {
                self.ensure_in_session().await;
                (path, None)
            }
            // A released chatham note: any member of the round reads it.
            ("GET", "/api/v1/notes/{note_id}") => (
                path.replace("{note_id}", &self.fresh_released_note().await),
                None,
            ),
            // A private note of the delegate: the delegate column is its author.
            ("PATCH", "/api/v1/notes/{note_id}") => (
                path.replace("{note_id}", &self.fresh_private_note().await),
                Some(json!({"body": "Revisit the river data question tomorrow."})),
            ),
            ("DELETE", "/api/v1/notes/{note_id}") => (
                path.replace("{note_id}", &self.fresh_private_note().await),
                None,
            ),
            ("PUT", "/api/v1/agenda/{item_id}/summary") => {
                self.ensure_in_session().await;
                (
                    path.replace("{item_id}", &self.item_id),
                    Some(json!({"body": SUMMARY_TEXT})),
                )
            }
            ("GET", "/api/v1/agenda/{item_id}/summary") => {
                self.ensure_in_session().await;
                self.ensure_summary().await;
                (path.replace("{item_id}", &self.item_id), None)
            }
            ("PUT", "/api/v1/rounds/{round_id}/statement") => {
                self.ensure_in_session().await;
                (path, Some(json!({"body": STATEMENT_TEXT})))
            }
            ("GET", "/api/v1/rounds/{round_id}/statement") => {
                self.ensure_in_session().await;
                self.statement_version().await;
                (path, None)
            }
            ("POST", "/api/v1/rounds/{round_id}/statement/approve") => {
                self.ensure_in_session().await;
                let version = self.statement_version().await;
                (path, Some(json!({"version": version})))
            }
            _ => return None,
        };
        Some(prepared)
    }
}

struct Mismatch {
    method: String,
    path: String,
    principal: &'static str,
    expected: String,
    got: String,
}

fn table(mismatches: &[Mismatch], cells: usize) -> String {
    let head = ["method", "path", "principal", "expected", "got"];
    let lines: Vec<[&str; 5]> = mismatches
        .iter()
        .map(|m| {
            [
                m.method.as_str(),
                m.path.as_str(),
                m.principal,
                m.expected.as_str(),
                m.got.as_str(),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = format!(
        "{} of {cells} cells differ from tests/api/rights.tsv:\n",
        mismatches.len()
    );
    for line in std::iter::once(head).chain(lines) {
        for (i, cell) in line.iter().enumerate() {
            let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn every_route_and_principal_gets_exactly_the_status_of_the_rights_matrix() {
    let matrix = parse_matrix(MATRIX);
    let mut world = World::build().await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for row in &matrix.rows {
        let method = Method::from_bytes(row.method.as_bytes()).expect("an HTTP method");
        for (p, &expected) in row.expected.iter().enumerate() {
            cells += 1;
            let who = &world.principals[p];
            let Some((path, body)) = world.prepare(&row.method, &row.path, who).await else {
                mismatches.push(Mismatch {
                    method: row.method.clone(),
                    path: row.path.clone(),
                    principal: who.name,
                    expected: expected.to_string(),
                    got: "no request recipe in rights.rs".into(),
                });
                continue;
            };
            let mut req = world
                .app
                .request(method.clone(), &path, who.token.as_deref());
            if let Some(body) = &body {
                req = req.json(body);
            }
            let res = req.send().await.expect("request");
            let status = res.status().as_u16();
            let answer: Value = res.json().await.unwrap_or(Value::Null);
            if row.path == "/api/v1/me/password" && status == 200 {
                // The old tokens stop working: carry on with the new pair and password.
                let new_password = body.as_ref().unwrap()["new_password"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let who = &mut world.principals[p];
                who.token = Some(answer["access_token"].as_str().unwrap().to_owned());
                who.user.as_mut().unwrap().password = new_password;
            }
            if status != expected {
                let code = answer["code"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default();
                mismatches.push(Mismatch {
                    method: row.method.clone(),
                    path: row.path.clone(),
                    principal: world.principals[p].name,
                    expected: expected.to_string(),
                    got: format!("{status}{code}"),
                });
            }
        }
    }
    assert!(mismatches.is_empty(), "\n{}", table(&mismatches, cells));
}

/// The matrix posts private notes; chatham posting is a right of its own (DESIGN.md §2): every
/// round role but the observer, never an organizer without a role, and a non-member gets 404.
#[tokio::test]
async fn chatham_posting_rights() {
    let world = World::build().await;
    world.ensure_in_session().await;
    let expected: [u16; 11] = [401, 404, 403, 404, 201, 201, 201, 201, 201, 403, 404];
    let path = format!("/api/v1/rounds/{}/notes", world.round_id);
    let mut problems = Vec::new();
    for (who, want) in world.principals.iter().zip(expected) {
        let res = world
            .app
            .post_json(
                &path,
                who.token.as_deref(),
                &json!({"visibility": "chatham", "body": CHATHAM_TEXT}),
            )
            .await;
        let got = res.status().as_u16();
        let answer: Value = res.json().await.unwrap_or(Value::Null);
        if got != want {
            problems.push(format!("{}: got {got} {answer}, want {want}", who.name));
        } else if got == 201 {
            // The key is the only link to the note; there is no author field.
            assert!(answer["edit_key"].is_string(), "{}: {answer}", who.name);
            assert!(answer.get("author_id").is_none(), "{}: {answer}", who.name);
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// A chatham note has no author: its `Edit-Key` alone decides who may read it before release,
/// edit it until release and delete it at any time (DESIGN.md §3, §4 item 2). Without the key,
/// or with a wrong one, a held note answers 404 even to the member who wrote it.
#[tokio::test]
async fn edit_keys_decide_chatham_note_access() {
    let world = World::build().await;
    let app = &world.app;
    // The delegate writes the notes; the facilitator, another member, presents the key.
    let author = world.token_of("delegate");
    let holder = world.token_of("facilitator");
    let edit = json!({"body": "Pooling river flow data was proposed twice."});
    let send = |method: Method, path: String, token: &str, key: Option<&str>| {
        let mut req = app.request(method.clone(), &path, Some(token));
        if let Some(key) = key {
            req = req.header("Edit-Key", key);
        }
        if method == Method::PATCH {
            req = req.json(&edit);
        }
        req.send()
    };
    let wrong = "not-the-edit-key-of-this-note";

    let note = world.post_note("delegate", "chatham", CHATHAM_TEXT).await;
    assert_eq!(note["released"], false);
    let key = note["edit_key"].as_str().unwrap();
    let path = format!("/api/v1/notes/{}", note["id"].as_str().unwrap());
    // Held: without the key, or with a wrong one, the note does not exist, for its writer too.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        for token in [author, holder] {
            for attempt in [None, Some(wrong)] {
                let res = send(method.clone(), path.clone(), token, attempt)
                    .await
                    .unwrap();
                assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            }
        }
    }
    // With the key, as a member: read, edit, delete.
    let res = send(Method::GET, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["body"], CHATHAM_TEXT);
    let res = send(Method::PATCH, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["body"], edit["body"]);
    let res = send(Method::DELETE, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = send(Method::GET, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    // Released: the key no longer edits (409), but it still deletes.
    let note = world.post_note("delegate", "chatham", CHATHAM_TEXT).await;
    let key = note["edit_key"].as_str().unwrap();
    let path = format!("/api/v1/notes/{}", note["id"].as_str().unwrap());
    world.release_notes().await;
    let res = send(Method::PATCH, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_problem(res, StatusCode::CONFLICT, "note_released").await;
    let res = send(Method::DELETE, path.clone(), holder, Some(key))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = send(Method::GET, path, author, None).await.unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

/// A body each route accepts, so its answer depends on the ids alone. `later_round_id`: a later
/// round of the same dialogue, for carrying forward.
fn valid_body(method: &str, template: &str, later_round_id: &str) -> Option<Value> {
    match (method, template) {
        ("PATCH", "/api/v1/dialogues/{dialogue_id}") => Some(json!({"description": "x"})),
        ("POST", "/api/v1/dialogues/{dialogue_id}/organizers") => {
            Some(json!({"email": "nobody@example.org"}))
        }
        ("POST", "/api/v1/dialogues/{dialogue_id}/rounds") => Some(round_body("Round")),
        ("PATCH", "/api/v1/rounds/{round_id}") => Some(json!({"title": "Renamed"})),
        ("POST", "/api/v1/rounds/{round_id}/status") => Some(json!({"status": "scheduled"})),
        ("POST", "/api/v1/rounds/{round_id}/invitations") => {
            Some(invitation_body("invitee@example.org"))
        }
        ("PATCH", "/api/v1/rounds/{round_id}/participants/{user_id}") => {
            Some(json!({"role": "observer"}))
        }
        ("POST", "/api/v1/rounds/{round_id}/agenda") => Some(json!({"title": "Item"})),
        // The permutation is checked after the round and the caller's rights.
        ("POST", "/api/v1/rounds/{round_id}/agenda/order") => Some(json!({"item_ids": []})),
        ("PATCH", "/api/v1/agenda/{item_id}") => Some(json!({"title": "Renamed"})),
        ("POST", "/api/v1/agenda/{item_id}/status") => Some(json!({"status": "in_discussion"})),
        ("POST", "/api/v1/agenda/{item_id}/carry-forward") => {
            Some(json!({"round_id": later_round_id}))
        }
        ("POST", "/api/v1/rounds/{round_id}/notes") => {
            Some(json!({"visibility": "private", "body": PRIVATE_TEXT}))
        }
        ("PATCH", "/api/v1/notes/{note_id}")
        | ("PUT", "/api/v1/agenda/{item_id}/summary")
        | ("PUT", "/api/v1/rounds/{round_id}/statement") => Some(json!({"body": SUMMARY_TEXT})),
        ("POST", "/api/v1/rounds/{round_id}/statement/approve") => Some(json!({"version": 1})),
        ("POST", "/api/v1/dialogues/{dialogue_id}/webhooks") => Some(webhook_body()),
        _ => None,
    }
}

/// The `{placeholders}` of a route template, in order.
fn placeholders(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter(|s| s.starts_with('{') && s.ends_with('}'))
        .collect()
}

#[tokio::test]
async fn malformed_ids_get_the_same_404_as_unknown_ids() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let convenor = app.user("Convenor Person").await;
    app.join(&f.round_id, &convenor, "india", "convenor").await;
    let convenor_token = app.token(&convenor).await;
    let delegate = app.user("Delegate Person").await;
    app.join(&f.round_id, &delegate, "pakistan", "delegate")
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{}/invitations", f.round_id),
            Some(&f.organizer_token),
            &invitation_body("pending@example.org"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let invitation_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An item of round A and a published version 1 (so that version numbers other than 1 are
    // unknown rather than all absent), and a later round to carry the item into.
    let item_id = add_agenda_item(&app, &f.organizer_token, &f.round_id, "Water").await;
    publish_agenda(&app, &f.organizer_token, &f.round_id).await;
    let later_round_id = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    app.join(&later_round_id, &convenor, "india", "convenor")
        .await;

    let malformed = ["not-an-id", "%27%3B%20drop%20table%20rounds%3B%20--"];
    // A version number is no UUID: beyond the malformed ids above, a non-number, a number with
    // no version, and one beyond `i32` must all answer like an unknown id.
    let malformed_numbers = ["abc", "999", "99999999999"];
    let mut problems = Vec::new();
    let mut checked = 0;
    for route in served_routes() {
        let (method, template) = route.split_once(' ').unwrap();
        let holes = placeholders(template);
        let scoped = [
            "/api/v1/rounds/",
            "/api/v1/dialogues/",
            "/api/v1/invitations/",
            "/api/v1/agenda/",
            "/api/v1/webhooks/",
            // A note id is the only id of its routes: unknown, malformed and (the matrix)
            // someone else's note all answer this same 404.
            "/api/v1/notes/",
        ]
        .iter()
        .any(|p| template.starts_with(p));
        if !scoped || holes.is_empty() {
            continue;
        }
        for (k, hole) in holes.iter().enumerate() {
            // A topic is no id but a free-text label the server turns into a slug: every string
            // names some topic, and an unknown one answers 404 because no visible item carries
            // it (tests/api/agenda.rs), so there is no malformed topic to compare. The
            // route's `{dialogue_id}` is still checked, with the topic `water`.
            if *hole == "{topic}" {
                continue;
            }
            // The first id as a member of round A; a second id (a user in the dialogue or
            // round, a version number) as the organizer, who may act on it, so that only the
            // id decides.
            let token = if k == 0 {
                &convenor_token
            } else {
                &f.organizer_token
            };
            let path_with = |bad: &str| {
                let mut path = template.to_owned();
                for (j, h) in holes.iter().enumerate() {
                    let value = if j == k {
                        bad
                    } else {
                        match *h {
                            "{dialogue_id}" => f.dialogue_id.as_str(),
                            "{round_id}" => f.round_id.as_str(),
                            "{invitation_id}" => invitation_id.as_str(),
                            "{user_id}" if template.contains("/organizers/") => &f.organizer.id,
                            "{user_id}" => delegate.id.as_str(),
                            "{item_id}" => item_id.as_str(),
                            "{number}" => "1",
                            "{topic}" => TOPIC,
                            other => panic!("{route}: no known value for {other}"),
                        }
                    };
                    path = path.replacen(h, value, 1);
                }
                path
            };
            let send = |path: String| {
                let verb = Method::from_bytes(method.as_bytes()).unwrap();
                let mut req = app.request(verb, &path, Some(token));
                if let Some(body) = valid_body(method, template, &later_round_id) {
                    req = req.json(&body);
                }
                req.send()
            };
            let unknown = send(path_with(&uuid::Uuid::new_v4().to_string()))
                .await
                .unwrap();
            let unknown_status = unknown.status();
            let unknown_type = unknown.headers().get("content-type").cloned();
            let unknown: Value = unknown.json().await.unwrap_or(Value::Null);
            if unknown_status != StatusCode::NOT_FOUND
                || unknown_type.as_ref().and_then(|t| t.to_str().ok())
                    != Some("application/problem+json")
                || unknown["code"] != "not_found"
            {
                problems.push(format!(
                    "{method} {template} with {hole} = an unknown UUID: got {unknown_status} \
                     {unknown}, want a 404 not_found problem"
                ));
            }
            let extra: &[&str] = if *hole == "{number}" {
                &malformed_numbers
            } else {
                &[]
            };
            for &bad in malformed.iter().chain(extra) {
                checked += 1;
                let res = send(path_with(bad)).await.unwrap();
                let status = res.status();
                let content_type = res.headers().get("content-type").cloned();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if status != StatusCode::NOT_FOUND
                    || content_type != unknown_type
                    || body != unknown
                {
                    problems.push(format!(
                        "{method} {template} with {hole} = {bad}: got {status} {body}, \
                         an unknown id gets 404 {unknown}"
                    ));
                }
            }
        }
    }
    assert!(checked > 0);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

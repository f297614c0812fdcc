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

use crate::helpers::{TestApp, TestUser, spawn_app};

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
/// dialogue.
struct World {
    app: TestApp,
    dialogue_id: String,
    round_id: String,
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

fn invitation_body(email: &str) -> Value {
    json!({"email": email, "name": "Invited Person", "side": "india", "role": "delegate"})
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
        for (i, role) in ROLES.into_iter().enumerate() {
            let user = app.user(&format!("Member {role}")).await;
            let side = if i % 2 == 0 { "india" } else { "pakistan" };
            app.join(&f.round_id, &user, side, role).await;
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
        World {
            app,
            dialogue_id: f.dialogue_id,
            round_id: f.round_id,
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
            | ("GET", "/api/v1/rounds/{round_id}/participants") => (path, None),
            ("PATCH", "/api/v1/me") => (path, Some(json!({"display_name": "Renamed Person"}))),
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

/// A body each route accepts, so its answer depends on the ids alone.
fn valid_body(method: &str, template: &str) -> Option<Value> {
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

    let malformed = ["not-an-id", "%27%3B%20drop%20table%20rounds%3B%20--"];
    let mut problems = Vec::new();
    let mut checked = 0;
    for route in served_routes() {
        let (method, template) = route.split_once(' ').unwrap();
        let holes = placeholders(template);
        let scoped = [
            "/api/v1/rounds/",
            "/api/v1/dialogues/",
            "/api/v1/invitations/",
        ]
        .iter()
        .any(|p| template.starts_with(p));
        if !scoped || holes.is_empty() {
            continue;
        }
        for (k, hole) in holes.iter().enumerate() {
            // The first id as a member of round A; a second id (a user in the dialogue or
            // round) as the organizer, who may act on it, so that only the id decides.
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
                if let Some(body) = valid_body(method, template) {
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
            for bad in malformed {
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

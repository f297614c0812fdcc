//! Webhooks: organizers register receivers for a dialogue's events; every request is signed,
//! goes through a durable outbox (a receiver outage loses nothing), carries ids and
//! non-confidential fields only, and never goes to an address inside this network unless the
//! setting allows it. The receivers here are real HTTP servers on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use backchannel::entities::webhook_delivery;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::helpers::{
    TestApp, assert_problem, binary_command, create_account_with_binary, free_port,
    fresh_database_url, spawn_app, spawn_app_with, test_settings, wait_until_ready,
};

/// One request as a receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub event_id: String,
    pub event: String,
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on a loopback port. The first `fail_first` requests get 503.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    state: web::Data<ReceiverState>,
    _server: actix_web::dev::ServerHandle,
}

struct ReceiverState {
    got: Arc<Mutex<Vec<Received>>>,
    seen: AtomicUsize,
    fail_first: AtomicUsize,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<ReceiverState>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    state.got.lock().await.push(Received {
        signature: header("backchannel-signature"),
        event_id: header("backchannel-event-id"),
        event: header("backchannel-event"),
        content_type: header("content-type"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    if state.seen.fetch_add(1, Ordering::SeqCst) < state.fail_first.load(Ordering::SeqCst) {
        HttpResponse::ServiceUnavailable().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(ReceiverState {
            got: got.clone(),
            seen: AtomicUsize::new(0),
            fail_first: AtomicUsize::new(fail_first),
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks/backchannel"),
            got,
            state,
            _server: handle,
        }
    }

    /// From now on, every request gets 204.
    pub fn heal(&self) {
        self.state.fail_first.store(0, Ordering::SeqCst);
    }

    /// Waits until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.got.lock().await.clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "only {} of {n} webhook requests arrived: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The requests of one event type.
    pub async fn of(&self, event: &str) -> Vec<Received> {
        self.got
            .lock()
            .await
            .iter()
            .filter(|r| r.event == event)
            .cloned()
            .collect()
    }
}

const ALL_EVENTS: [&str; 7] = [
    "round.created",
    "round.updated",
    "round.status_changed",
    "invitation.accepted",
    "invitation.declined",
    "agenda.published",
    "statement.adopted",
];

/// Registers a webhook as `token`; returns the 201 body.
pub async fn register(
    app: &TestApp,
    token: &str,
    dialogue_id: &str,
    url: &str,
    events: &[&str],
) -> Value {
    let res = app
        .post_json(
            &format!("/api/v1/dialogues/{dialogue_id}/webhooks"),
            Some(token),
            &json!({"url": url, "events": events, "description": "Travel desk"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register a webhook");
    res.json().await.unwrap()
}

/// Recomputes `Backchannel-Signature` from the secret and checks it, and its freshness.
pub fn assert_signed(received: &Received, secret: &str) {
    let (t, v1) = received
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("a t=…,v1=… signature: {:?}", received.signature));
    let t: i64 = t.parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - t).abs() < 60,
        "the signature's time is now"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(received.body.as_bytes());
    assert_eq!(
        v1,
        hex::encode(mac.finalize().into_bytes()),
        "HMAC-SHA256(secret, \"<t>.<body>\")"
    );
}

async fn deliveries(app: &TestApp, token: &str, webhook_id: &str) -> Vec<Value> {
    let res = app
        .get(
            &format!("/api/v1/webhooks/{webhook_id}/deliveries"),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the outbox holds no pending delivery.
async fn drained(app: &TestApp) {
    let started = Instant::now();
    while backchannel::store::webhooks::pending_count(&app.db)
        .await
        .unwrap()
        > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "webhook deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn round_events_reach_the_receiver_signed_with_the_secret_shown_once() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &ALL_EVENTS,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 40,
        "{secret}"
    );
    assert_eq!(created["url"], receiver.url.as_str());
    let webhook_id = created["id"].as_str().unwrap().to_owned();

    // The list never shows the secret again.
    let list = app
        .get(
            &format!("/api/v1/dialogues/{}/webhooks", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await;
    assert_eq!(list.status(), StatusCode::OK);
    let list = list.text().await.unwrap();
    assert!(!list.contains(&secret), "{list}");
    assert!(list.contains(&webhook_id), "{list}");

    // Create, edit and move a round.
    let round_id = app
        .create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{round_id}"),
            Some(&f.organizer_token),
            &json!({"title": "Round 2 (Lahore)", "starts_on": "2027-02-11"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // A PATCH that changes nothing reports nothing.
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/rounds/{round_id}"),
            Some(&f.organizer_token),
            &json!({"title": "Round 2 (Lahore)"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{round_id}/status"),
            Some(&f.organizer_token),
            &json!({"status": "scheduled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let got = receiver.wait_for(3).await;
    drained(&app).await;
    let got_again = receiver.got.lock().await.clone();
    assert_eq!(got_again.len(), 3, "exactly three events: {got_again:?}");
    let events: Vec<&str> = got.iter().map(|r| r.event.as_str()).collect();
    let mut sorted = events.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["round.created", "round.status_changed", "round.updated"]
    );
    for r in &got {
        assert_signed(r, &secret);
        assert_eq!(r.content_type, "application/json");
        let body = r.json();
        assert_eq!(
            body["id"],
            r.event_id.as_str(),
            "the header and body carry one event id"
        );
        assert_eq!(body["type"], r.event.as_str());
        assert_eq!(body["data"]["dialogue_id"], f.dialogue_id.as_str());
        assert_eq!(body["data"]["round_id"], round_id.as_str());
        assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
        // Thin events: no title, venue or dates; receivers read them through the API.
        assert!(
            !r.body.contains("Lahore") && !r.body.contains("Neemrana"),
            "{}",
            r.body
        );
    }
    let updated = receiver.of("round.updated").await;
    assert_eq!(
        updated[0].json()["data"]["changed"],
        json!(["title", "dates"])
    );
    let moved = receiver.of("round.status_changed").await;
    assert_eq!(moved[0].json()["data"]["from"], "draft");
    assert_eq!(moved[0].json()["data"]["to"], "scheduled");
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "each event has its own id");

    // The delivery log shows each as delivered, newest first.
    let log = deliveries(&app, &f.organizer_token, &webhook_id).await;
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1),
        "{log:?}"
    );
    assert_eq!(log[0]["event"], "round.status_changed");
    assert_eq!(log[2]["event"], "round.created");
}

#[tokio::test]
async fn a_webhook_hears_only_the_events_it_subscribed_to_and_only_of_its_own_dialogue() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.status_changed"],
    )
    .await;
    // Another dialogue's events never reach this webhook.
    let other = app.round_fixture().await;
    app.create_round(&other.organizer_token, &other.dialogue_id, "Elsewhere")
        .await;
    app.create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    let res = app
        .post_json(
            &format!("/api/v1/rounds/{}/status", f.round_id),
            Some(&f.organizer_token),
            &json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = receiver.wait_for(1).await;
    drained(&app).await;
    assert_eq!(receiver.got.lock().await.len(), 1);
    assert_eq!(got[0].event, "round.status_changed");
    assert_eq!(got[0].json()["data"]["round_id"], f.round_id.as_str());
}

#[tokio::test]
async fn invitation_and_statement_events_carry_ids_and_never_who() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &ALL_EVENTS,
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();

    // Two invitations: one accepted with a new account, one declined.
    let mut people = Vec::new();
    for (email, name) in [
        ("accepting.invitee@example.org", "Aisha Accepting"),
        ("declining.invitee@example.org", "Bilal Declining"),
    ] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/invitations", f.round_id),
                Some(&f.organizer_token),
                &json!({"email": email, "name": name, "side": "india", "role": "delegate"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let inv: Value = res.json().await.unwrap();
        people.push((
            email,
            name,
            inv["id"].as_str().unwrap().to_owned(),
            inv["token"].as_str().unwrap().to_owned(),
        ));
    }
    let res = app
        .post_json(
            "/api/v1/invitations/accept",
            None,
            &json!({"token": people[0].3, "password": "a long passphrase of mine"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let accepted_user = res.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            "/api/v1/invitations/decline",
            None,
            &json!({"token": people[1].3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // A statement adopted by a co-chair of each side.
    let india = app.user("Vikram Chair").await;
    let pakistan = app.user("Riaz Chair").await;
    app.join(&f.round_id, &india, "india", "co_chair").await;
    app.join(&f.round_id, &pakistan, "pakistan", "co_chair")
        .await;
    for step in ["scheduled", "in_session"] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/status", f.round_id),
                Some(&f.organizer_token),
                &json!({"status": step, "force": true}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "to {step}");
    }
    let (india_token, pakistan_token) = (app.token(&india).await, app.token(&pakistan).await);
    let res = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/rounds/{}/statement", f.round_id),
            Some(&india_token),
            &json!({"body": "Both sides agree to meet again in the spring."}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let version = res.json::<Value>().await.unwrap()["version"]
        .as_i64()
        .unwrap();
    for token in [&india_token, &pakistan_token] {
        let res = app
            .post_json(
                &format!("/api/v1/rounds/{}/statement/approve", f.round_id),
                Some(token),
                &json!({"version": version}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    receiver.wait_for(5).await;
    drained(&app).await;
    let accepted = receiver.of("invitation.accepted").await;
    let declined = receiver.of("invitation.declined").await;
    let adopted = receiver.of("statement.adopted").await;
    assert_eq!((accepted.len(), declined.len(), adopted.len()), (1, 1, 1));
    assert_eq!(
        accepted[0].json()["data"]["invitation_id"],
        people[0].2.as_str()
    );
    assert_eq!(
        declined[0].json()["data"]["invitation_id"],
        people[1].2.as_str()
    );
    assert_eq!(adopted[0].json()["data"]["version"], version);
    let all = receiver.got.lock().await.clone();
    for r in &all {
        assert_signed(r, &secret);
        for who in [
            people[0].0,
            people[0].1,
            people[1].0,
            people[1].1,
            &accepted_user,
            &india.id,
            &pakistan.id,
            &india.email,
            &pakistan.email,
            "Vikram",
            "Riaz",
            "india",
            "pakistan",
            "co_chair",
            "meet again",
            &f.organizer.id,
        ] {
            assert!(
                !r.body.contains(who),
                "{} carries {who}: {}",
                r.event,
                r.body
            );
        }
    }
}

#[tokio::test]
async fn a_receiver_outage_loses_nothing_and_retries_keep_the_event_id() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    // Answers 503 twice, then 204.
    let receiver = Receiver::start(2).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.created"],
    )
    .await;
    let webhook_id = created["id"].as_str().unwrap();
    app.create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;

    let got = receiver.wait_for(3).await;
    drained(&app).await;
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.event_id == got[0].event_id && r.body == got[0].body)
    );
    let log = deliveries(&app, &f.organizer_token, webhook_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempts"], 3);
    assert!(log[0]["delivered_at"].is_string());
}

#[tokio::test]
async fn a_receiver_that_never_answers_well_ends_failed_after_the_last_attempt() {
    let app = spawn_app_with(|s| s.webhooks.max_attempts = 2).await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(usize::MAX).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.created"],
    )
    .await;
    app.create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    receiver.wait_for(2).await;
    drained(&app).await;
    let log = deliveries(&app, &f.organizer_token, created["id"].as_str().unwrap()).await;
    assert_eq!(log[0]["state"], "failed");
    assert_eq!(log[0]["attempts"], 2);
    assert_eq!(log[0]["last_status"], 503);
    assert_eq!(log[0]["last_error"], "http_status");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        receiver.got.lock().await.len(),
        2,
        "no attempt after the last"
    );
}

#[tokio::test]
async fn the_test_endpoint_sends_a_signed_ping_to_that_webhook_alone() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let (one, two) = (Receiver::start(0).await, Receiver::start(0).await);
    let first = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &one.url,
        &["round.created"],
    )
    .await;
    register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &two.url,
        &["round.created"],
    )
    .await;
    let res = app
        .post_json(
            &format!("/api/v1/webhooks/{}/test", first["id"].as_str().unwrap()),
            Some(&f.organizer_token),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let queued: Value = res.json().await.unwrap();
    let got = one.wait_for(1).await;
    drained(&app).await;
    assert_eq!(got[0].event, "webhook.test");
    assert_eq!(got[0].event_id, queued["event_id"].as_str().unwrap());
    assert_signed(&got[0], first["secret"].as_str().unwrap());
    assert!(two.got.lock().await.is_empty());
}

#[tokio::test]
async fn a_deleted_webhook_hears_nothing_more_and_its_log_is_gone() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.created"],
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.got.lock().await.is_empty());
    let res = app
        .get(
            &format!("/api/v1/webhooks/{id}/deliveries"),
            Some(&f.organizer_token),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&f.organizer_token),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // The audit trail names the action, never the URL.
    let audit = app
        .get(
            &format!("/api/v1/dialogues/{}/audit", f.dialogue_id),
            Some(&f.organizer_token),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("webhook.created") && audit.contains("webhook.deleted"),
        "{audit}"
    );
    assert!(!audit.contains(&receiver.url), "{audit}");
}

#[tokio::test]
async fn destinations_inside_this_network_are_refused_when_the_setting_is_off() {
    let app = spawn_app_with(|s| {
        s.webhooks.allow_private_destinations = false;
        s.webhooks.allow_http = false;
    })
    .await;
    let f = app.round_fixture().await;
    let path = format!("/api/v1/dialogues/{}/webhooks", f.dialogue_id);
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://192.168.1.20/hook",
        "https://0x7f000001/hook",
        "http://hooks.example.org/hook",
        "https://user:password@hooks.example.org/hook",
        "file:///etc/passwd",
    ] {
        let res = app
            .post_json(
                &path,
                Some(&f.organizer_token),
                &json!({"url": url, "events": ["round.created"]}),
            )
            .await;
        let body = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
        assert!(!body.to_string().contains("password"), "no echo: {body}");
    }
    // A public name is accepted; it is checked again, address by address, at each delivery.
    let res = app
        .post_json(
            &path,
            Some(&f.organizer_token),
            &json!({"url": "https://hooks.example.org/backchannel", "events": ["round.created"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_stored_destination_that_points_inward_is_never_contacted() {
    // Plain http allowed, inward addresses not: a row that points at loopback (as if written
    // before the setting changed) is refused at delivery, and the receiver hears nothing.
    let app = spawn_app_with(|s| {
        s.webhooks.allow_private_destinations = false;
        s.webhooks.allow_http = true;
    })
    .await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        "http://hooks.example.org/backchannel",
        &["round.created"],
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    backchannel::entities::webhook::Entity::update_many()
        .col_expr(
            backchannel::entities::webhook::Column::Url,
            sea_orm::sea_query::Expr::value(receiver.url.clone()),
        )
        .filter(backchannel::entities::webhook::Column::Id.eq(&id))
        .exec(&app.db)
        .await
        .unwrap();
    app.create_round(&f.organizer_token, &f.dialogue_id, "Round 2")
        .await;
    drained(&app).await;
    let log = deliveries(&app, &f.organizer_token, &id).await;
    assert_eq!(log[0]["state"], "failed", "{log:?}");
    assert_eq!(log[0]["last_error"], "destination_not_allowed");
    assert!(receiver.got.lock().await.is_empty());
}

#[tokio::test]
async fn bad_webhook_bodies_get_400_and_a_dialogue_keeps_at_most_twenty() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let path = format!("/api/v1/dialogues/{}/webhooks", f.dialogue_id);
    let url = "https://hooks.example.org/backchannel";
    for (body, field) in [
        (json!({"url": url, "events": []}), "events"),
        (json!({"url": url, "events": ["note.created"]}), "events"),
        (json!({"url": url, "events": ["webhook.test"]}), "events"),
        (
            json!({"url": url, "events": ["round.created", "round.created"]}),
            "events",
        ),
        (
            json!({"url": url, "events": ["round.created"], "description": "a\u{0}b"}),
            "description",
        ),
        (
            json!({"url": url, "events": ["round.created"], "description": "x".repeat(201)}),
            "description",
        ),
        (
            json!({"url": format!("{url}/{}", "a".repeat(2000)), "events": ["round.created"]}),
            "url",
        ),
    ] {
        let res = app.post_json(&path, Some(&f.organizer_token), &body).await;
        let problem = assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let res = app
        .post_json(
            &path,
            Some(&f.organizer_token),
            &json!({"url": url, "events": ["round.created"], "secret": "mine"}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    for _ in 0..20 {
        register(
            &app,
            &f.organizer_token,
            &f.dialogue_id,
            url,
            &["round.created"],
        )
        .await;
    }
    let res = app
        .post_json(
            &path,
            Some(&f.organizer_token),
            &json!({"url": url, "events": ["round.created"]}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "too_many_webhooks").await;
    // Pages of the list.
    let res = app
        .get(&format!("{path}?limit=15"), Some(&f.organizer_token))
        .await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 15);
    let cursor = page["next_cursor"].as_str().unwrap();
    let res = app
        .get(
            &format!("{path}?limit=15&cursor={cursor}"),
            Some(&f.organizer_token),
        )
        .await;
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(page["next_cursor"].is_null());
}

#[tokio::test]
async fn webhook_secrets_are_sealed_at_rest_and_api_tokens_cannot_manage_webhooks() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        "https://hooks.example.org/backchannel",
        &["round.created"],
    )
    .await;
    let secret = created["secret"].as_str().unwrap();
    let stored = backchannel::entities::webhook::Entity::find_by_id(
        created["id"].as_str().unwrap().to_owned(),
    )
    .one(&app.db)
    .await
    .unwrap()
    .unwrap();
    let secret_body = secret.trim_start_matches("whsec_");
    assert!(!stored.secret_sealed.contains(secret_body));
    assert!(!stored.secret_sealed.is_empty());

    // An API token with every scope still cannot list or create webhooks.
    let res = app
        .post_json(
            "/api/v1/me/tokens",
            Some(&f.organizer_token),
            &json!({"name": "Everything", "scopes": ["rounds:read", "rounds:write", "agenda:read",
                     "agenda:write", "invitations:write", "participants:read", "audit:read"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let api_token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/dialogues/{}/webhooks", f.dialogue_id);
    let res = app.get(&path, Some(&api_token)).await;
    assert!(
        [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&res.status()),
        "{}",
        res.status()
    );
    let res = app
        .post_json(
            &path,
            Some(&api_token),
            &json!({"url": "https://a.example.org/", "events": ["round.created"]}),
        )
        .await;
    assert!(
        [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&res.status()),
        "{}",
        res.status()
    );
    let rows = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::WebhookId.eq(created["id"].as_str().unwrap()))
        .all(&app.db)
        .await
        .unwrap();
    assert!(rows.is_empty());
}

#[tokio::test]
async fn the_deliveries_list_pages_newest_first() {
    let app = spawn_app().await;
    let f = app.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &app,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.updated"],
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for i in 0..5 {
        let res = app
            .send_json(
                Method::PATCH,
                &format!("/api/v1/rounds/{}", f.round_id),
                Some(&f.organizer_token),
                &json!({"title": format!("Round 1, take {i}")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    receiver.wait_for(5).await;
    drained(&app).await;
    let path = format!("/api/v1/webhooks/{id}/deliveries?limit=3");
    let first: Value = app
        .get(&path, Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("{path}&cursor={cursor}"), Some(&f.organizer_token))
        .await
        .json()
        .await
        .unwrap();
    let mut seen = Vec::new();
    for page in [&first, &second] {
        for d in page["items"].as_array().unwrap() {
            let at = d["created_at"].as_str().unwrap();
            seen.push(chrono::DateTime::parse_from_rfc3339(at).unwrap());
        }
    }
    assert_eq!(seen.len(), 5);
    let mut newest_first = seen.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, newest_first);
    let res = app
        .get(
            &format!("{path}&cursor=not-a-cursor"),
            Some(&f.organizer_token),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "validation_failed").await;
}

/// The real binary with webhooks to loopback allowed and a two-second first retry, logging
/// at debug level into `log`.
fn webhook_binary(
    data_dir: &std::path::Path,
    db_url: &str,
    port: u16,
    log: &std::path::Path,
) -> std::process::Command {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut cmd = binary_command(data_dir, db_url, port);
    cmd.env("BACKCHANNEL_WEBHOOKS__ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("BACKCHANNEL_WEBHOOKS__ALLOW_HTTP", "true")
        .env("BACKCHANNEL_WEBHOOKS__POLL_INTERVAL_MS", "50")
        .env("BACKCHANNEL_WEBHOOKS__BACKOFF_BASE_MS", "2000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(file.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(file));
    cmd
}

#[tokio::test]
async fn an_event_queued_before_a_kill_9_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let db_url = fresh_database_url().await;
    let port = free_port();
    let password = "organizer-password-7d21a9";
    create_account_with_binary(
        &data_dir,
        &db_url,
        port,
        ("organizer@example.org", "Organizer Person"),
        true,
        password,
    );

    let log = dir.path().join("server.log");
    let mut server = webhook_binary(&data_dir, &db_url, port, &log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_ready(&client, &base).await;
    let token = crate::helpers::login_at(&client, &base, "organizer@example.org", password).await;
    let dialogue: Value = client
        .post(format!("{base}/api/v1/dialogues"))
        .bearer_auth(&token)
        .json(&json!({"name": "Neemrana Dialogue", "format": "neemrana"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dialogue_id = dialogue["id"].as_str().unwrap().to_owned();
    // The receiver is down (503) while the first node runs.
    let receiver = Receiver::start(usize::MAX).await;
    let res = client
        .post(format!("{base}/api/v1/dialogues/{dialogue_id}/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": receiver.url, "events": ["round.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let secret = res.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = client
        .post(format!("{base}/api/v1/dialogues/{dialogue_id}/rounds"))
        .bearer_auth(&token)
        .json(&json!({"title": "Round 1", "timezone": "Asia/Kolkata", "starts_on": "2027-02-10", "ends_on": "2027-02-12"}))
        .send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // One failed attempt recorded (and its claim given back), then kill -9.
    let mut settings = test_settings();
    settings.storage.data_dir = data_dir.clone();
    settings.database.url = db_url.clone().into();
    let db = backchannel::db::connect(&settings).await.unwrap();
    let started = Instant::now();
    loop {
        let rows = webhook_delivery::Entity::find().all(&db).await.unwrap();
        if rows.len() == 1 && rows[0].attempts == 1 && rows[0].claimed_until.is_none() {
            assert_eq!(rows[0].state, "pending");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no failed attempt: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: kill(2) on the pid of our own child process.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGKILL);
    }
    server.wait().unwrap();
    let first_attempt = receiver.wait_for(1).await[0].clone();

    receiver.heal();
    let mut restarted = webhook_binary(&data_dir, &db_url, port, &log)
        .spawn()
        .unwrap();
    wait_until_ready(&client, &base).await;
    let got = receiver.wait_for(2).await;
    let delivered = got.last().unwrap();
    assert_eq!(delivered.event_id, first_attempt.event_id);
    assert_eq!(delivered.event, "round.created");
    assert_signed(delivered, &secret);
    let started = Instant::now();
    loop {
        let rows = webhook_delivery::Entity::find().all(&db).await.unwrap();
        if rows[0].state == "delivered" {
            assert_eq!(rows[0].attempts, 2);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(restarted.id() as i32, libc::SIGTERM);
    }
    restarted.wait().unwrap();
    // Debug logs of both runs: the deliveries are there by id, the secret and URL never.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("webhook delivered"), "{logs}");
    for secret_thing in [
        secret.as_str(),
        secret.trim_start_matches("whsec_"),
        "/hooks/backchannel",
    ] {
        assert!(
            !logs.contains(secret_thing),
            "the logs carry {secret_thing}"
        );
    }
}

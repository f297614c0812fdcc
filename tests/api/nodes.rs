//! Two nodes on one database (PostgreSQL when TEST_DATABASE_URL is set): both serve every
//! route with each other's tokens, and background work is claimed by one node at a time, so a
//! queued mail goes out exactly once, and so does every webhook event.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_second_node};

#[tokio::test]
async fn two_nodes_share_the_work_and_every_mail_goes_out_exactly_once() {
    let first = spawn_app().await;
    let second = spawn_second_node(&first).await;
    let f = first.round_fixture().await;
    // A token from one node works on the other: they share the store and the signing key.
    let round: Value = second
        .get(
            &format!("/api/v1/rounds/{}", f.round_id),
            Some(&f.organizer_token),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(round["id"], f.round_id.as_str());

    // Invitations through both nodes at once; both senders poll the same outbox.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let node = if i % 2 == 0 { &first } else { &second };
        let (client, url, token) = (
            node.client.clone(),
            node.url(&format!("/api/v1/rounds/{}/invitations", f.round_id)),
            f.organizer_token.clone(),
        );
        let side = if i % 2 == 0 { "india" } else { "pakistan" };
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"email": format!("node-{i}@example.org"), "name": format!("Invitee {i}"), "side": side, "role": "delegate"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let mails = first.mailed(16).await;
    // Both senders have drained the outbox; then no mail may have been sent twice.
    let started = std::time::Instant::now();
    while backchannel::mail::pending_count(&first.db).await.unwrap() > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mails = first.mailed(mails.len()).await;
    let mut per_recipient: HashMap<String, usize> = HashMap::new();
    for (to, _) in &mails {
        *per_recipient.entry(to.clone()).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), 16, "{per_recipient:?}");
    assert!(
        per_recipient.values().all(|n| *n == 1),
        "a mail went out twice: {per_recipient:?}"
    );
}

#[tokio::test]
async fn two_nodes_deliver_every_webhook_event_exactly_once() {
    use crate::webhooks::{Receiver, assert_signed, register};
    let first = spawn_app().await;
    let second = spawn_second_node(&first).await;
    let f = first.round_fixture().await;
    let receiver = Receiver::start(0).await;
    let created = register(
        &second,
        &f.organizer_token,
        &f.dialogue_id,
        &receiver.url,
        &["round.created", "round.updated"],
    )
    .await;

    // Events through both nodes at once; both senders poll the same outbox.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { &first } else { &second };
        let (client, url, token) = (
            node.client.clone(),
            node.url(&format!("/api/v1/rounds/{}", f.round_id)),
            f.organizer_token.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("Round 1, revision {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let got = receiver.wait_for(12).await;
    let started = std::time::Instant::now();
    while backchannel::store::webhooks::pending_count(&first.db)
        .await
        .unwrap()
        > 0
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Both senders have drained the outbox; then no event may have arrived twice.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got = receiver.wait_for(got.len()).await;
    let mut per_event: HashMap<String, usize> = HashMap::new();
    for r in &got {
        assert_signed(r, created["secret"].as_str().unwrap());
        *per_event.entry(r.event_id.clone()).or_default() += 1;
    }
    assert_eq!(per_event.len(), 12, "{per_event:?}");
    assert!(
        per_event.values().all(|n| *n == 1),
        "an event arrived twice: {per_event:?}"
    );
}

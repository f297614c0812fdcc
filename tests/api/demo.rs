//! `backchannel demo` seeds a realistic dialogue into a fresh data directory and serves it.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[tokio::test]
async fn the_demo_serves_a_populated_neemrana_dialogue() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::free_port();
    let db_url = crate::helpers::fresh_database_url().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_backchannel"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BACKCHANNEL_CONFIG_DIR", crate::helpers::config_dir())
        .env("BACKCHANNEL_STORAGE__DATA_DIR", dir.path().join("data"))
        .env("BACKCHANNEL_HTTP__PORT", port.to_string())
        .env("BACKCHANNEL_DATABASE__URL", &db_url)
        .env("BACKCHANNEL_LOG__LEVEL", "warn")
        .arg("demo")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the logins, then keep draining stdout so the server never writes into a closed pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = line.strip_prefix("Every account below has the password: ") {
                let _ = tx.send(p.trim().to_owned());
            }
        }
    });
    let password = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo prints the logins");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    crate::helpers::wait_until_ready(&client, &base).await;
    let token =
        crate::helpers::login_at(&client, &base, "delegate.pakistan@demo.example", &password).await;
    let get = |path: String| {
        let (client, token, base) = (client.clone(), token.clone(), base.clone());
        async move {
            client
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let me: Value = get("/api/v1/me".into()).await.json().await.unwrap();
    assert_eq!(me["memberships"].as_array().unwrap().len(), 2);
    let dialogues: Value = get("/api/v1/dialogues".into()).await.json().await.unwrap();
    let dialogue_id = dialogues["items"][0]["id"].as_str().unwrap().to_owned();
    let rounds: Value = get(format!("/api/v1/dialogues/{dialogue_id}/rounds"))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = rounds["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["concluded", "in_session"]);
    let round1 = rounds["items"][0]["id"].as_str().unwrap();
    let record: Value = get(format!("/api/v1/rounds/{round1}/record"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["statement"]["adopted"], true);
    assert!(
        record["agenda"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| !i["notes"].as_array().unwrap().is_empty())
    );
    let water: Value = get(format!("/api/v1/dialogues/{dialogue_id}/topics/water"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        water["items"].as_array().unwrap().len(),
        2,
        "the water item was carried into round 2"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
}

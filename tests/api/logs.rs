//! CHECKS 36 and the command line: the real binary, started as a newcomer would, through a full
//! account scenario with canary secrets; its logs (at debug level) hold none of them.

use std::io::Read;
use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    binary_command, create_account_with_binary, free_port, fresh_database_url, wait_until_ready,
};

#[tokio::test]
async fn a_full_account_scenario_leaves_no_secret_in_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let db_url = fresh_database_url().await;
    let port = free_port();
    let password = "canary-password-7f3a9c";

    let mut logs = create_account_with_binary(
        &data_dir,
        &db_url,
        port,
        ("canary@example.org", "Canary Person"),
        false,
        password,
    );

    // Without --password-stdin a password is generated and shown once.
    let generated = binary_command(&data_dir, &db_url, port)
        .args([
            "user",
            "create",
            "--email",
            "second@example.org",
            "--name",
            "Second",
        ])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let out = String::from_utf8_lossy(&generated.stdout);
    let shown = out
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password")
        .to_owned();
    assert!(shown.len() >= 24);

    let mut server = binary_command(&data_dir, &db_url, port)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_ready(&client, &base).await;

    let login = |email: &'static str, password: String| {
        let client = client.clone();
        let url = format!("{base}/api/v1/auth/login");
        async move {
            client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        login("second@example.org", shown).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        login("canary@example.org", "wrong-canary-guess-1234".into())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let pair: Value = login("canary@example.org", password.into())
        .await
        .json()
        .await
        .unwrap();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let bad = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth("canary-bad-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let rotated: Value = client
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_password = "canary-new-password-55e1";
    let changed = client
        .post(format!("{base}/api/v1/me/password"))
        .bearer_auth(rotated["access_token"].as_str().unwrap())
        .json(&json!({"current_password": password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    let logout = client
        .post(format!("{base}/api/v1/auth/logout"))
        .json(&json!({"refresh_token": changed["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // Graceful stop on SIGTERM: exit status 0.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    server
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    logs.push_str(&out);
    assert!(
        logs.contains("\"route\":\"/api/v1/auth/login\""),
        "request lines are logged: {logs}"
    );

    let canaries = [
        password.to_owned(),
        new_password.to_owned(),
        "wrong-canary-guess".to_owned(),
        "canary-bad-token".to_owned(),
        access.clone(),
        refresh.clone(),
        rotated["access_token"].as_str().unwrap().to_owned(),
        rotated["refresh_token"].as_str().unwrap().to_owned(),
        changed["access_token"].as_str().unwrap().to_owned(),
        "Bearer".to_owned(),
        "authorization".to_owned(),
    ];
    for canary in canaries {
        assert!(
            !logs.to_lowercase().contains(&canary.to_lowercase()),
            "the logs contain {canary:?}"
        );
    }
    assert!(
        !logs.contains("INSERT INTO") && !logs.contains("SELECT \""),
        "SQL in the logs"
    );
}

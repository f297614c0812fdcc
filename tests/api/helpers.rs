//! Spawns the real server on port 0 with its own database: a fresh SQLite file in a temp
//! directory, or a freshly created PostgreSQL database when `TEST_DATABASE_URL` is set.

use std::path::{Path, PathBuf};

use backchannel::auth::password::Passwords;
use backchannel::domain::account::NewAccount;
use backchannel::settings::Settings;
use backchannel::startup::Application;
use backchannel::store;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tempfile::TempDir;

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub db: DatabaseConnection,
    pub settings: Settings,
    /// Kept so the directory lives as long as the app.
    _data_dir: TempDir,
    passwords: Passwords,
}

pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
}

pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Test settings: `config/default.toml` + `config/test.toml`, never the machine's environment.
pub fn test_settings() -> Settings {
    Settings::load_files(&config_dir(), Some("test")).expect("committed test settings load")
}

/// A new, empty database URL: PostgreSQL when `TEST_DATABASE_URL` is set, else empty (SQLite
/// in the data directory).
pub async fn fresh_database_url() -> String {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        return String::new();
    };
    let name = format!("bc_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&base)
        .await
        .expect("TEST_DATABASE_URL is reachable");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    format!("{prefix}/{name}")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A second node on `first`'s data directory and database, as a scaled-out deployment runs.
pub async fn spawn_second_node(first: &TestApp) -> TestApp {
    let (data_dir, url) = (
        first.settings.storage.data_dir.clone(),
        first.settings.database.url.clone(),
    );
    spawn_app_with(move |s| {
        s.storage.data_dir = data_dir;
        s.database.url = url;
    })
    .await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings();
    settings.storage.data_dir = data_dir.path().join("data");
    settings.database.url = fresh_database_url().await.into();
    configure(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    let db = backchannel::db::connect(&settings)
        .await
        .expect("test connection");
    let passwords = Passwords::new(&settings.auth).expect("password settings");
    TestApp {
        address,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        db,
        settings,
        _data_dir: data_dir,
        passwords,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("request")
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        self.request(method, path, token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send_json(Method::POST, path, token, body).await
    }

    /// Creates an account directly in the database (no admin needed).
    pub async fn create_user(&self, email: &str, name: &str, admin: bool) -> TestUser {
        let password = format!("pw-{}-long-enough", uuid::Uuid::new_v4().simple());
        let account = NewAccount::parse(email, name, Some("Test Institute"), admin).unwrap();
        let hash = self.passwords.hash(password.clone().into()).await.unwrap();
        let user = store::users::create(&self.db, account, hash).await.unwrap();
        TestUser {
            id: user.id,
            email: email.to_owned(),
            password,
        }
    }

    /// A fresh user with a unique email.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@example.org",
            name.to_lowercase().replace(' ', "."),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.create_user(&email, name, false).await
    }

    pub async fn admin(&self) -> TestUser {
        let email = format!(
            "admin-{}@example.org",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        self.create_user(&email, "Platform Admin", true).await
    }

    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Logs in and returns the token pair.
    pub async fn login(&self, user: &TestUser) -> Value {
        let res = self.login_response(&user.email, &user.password).await;
        assert_eq!(res.status(), StatusCode::OK, "login of {}", user.email);
        res.json().await.unwrap()
    }

    pub async fn token(&self, user: &TestUser) -> String {
        self.login(user).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The real `backchannel` binary, configured by environment only (as an operator would), on
/// `data_dir` and `db_url` (empty: SQLite in the data directory), listening on `port`, with
/// debug-level JSON logs so tests can read what it logs.
pub fn binary_command(data_dir: &Path, db_url: &str, port: u16) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_backchannel"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BACKCHANNEL_CONFIG_DIR", config_dir())
        .env("BACKCHANNEL_STORAGE__DATA_DIR", data_dir)
        .env("BACKCHANNEL_HTTP__PORT", port.to_string())
        .env("BACKCHANNEL_LOG__LEVEL", "debug")
        .env("BACKCHANNEL_LOG__FORMAT", "json")
        .env("BACKCHANNEL_MAIL__POLL_INTERVAL_MS", "50")
        .env("BACKCHANNEL_DATABASE__URL", db_url);
    cmd
}

/// Creates an account through `backchannel user create --password-stdin` on the binary's data
/// directory and database (`--admin` when `admin`), and returns what the command printed,
/// stdout then stderr, for the tests that scan output for secrets.
pub fn create_account_with_binary(
    data_dir: &Path,
    db_url: &str,
    port: u16,
    (email, name): (&str, &str),
    admin: bool,
    password: &str,
) -> String {
    use std::io::Write;
    use std::process::Stdio;
    let mut args = vec!["user", "create", "--email", email, "--name", name];
    if admin {
        args.push("--admin");
    }
    args.push("--password-stdin");
    let mut create = binary_command(data_dir, db_url, port)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let created = create.wait_with_output().unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    String::from_utf8_lossy(&created.stdout).into_owned()
        + &String::from_utf8_lossy(&created.stderr)
}

/// Logs in at the server at `base` (a binary the test started) and returns the access token.
pub async fn login_at(client: &Client, base: &str, email: &str, password: &str) -> String {
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// Waits until the server at `base` answers `/readyz` with 200 (at most 30 s).
pub async fn wait_until_ready(client: &Client, base: &str) {
    let started = std::time::Instant::now();
    while client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != StatusCode::OK)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the server did not become ready"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A round-role fixture: what `TestApp::round_fixture` builds.
pub struct RoundFixture {
    pub dialogue_id: String,
    pub round_id: String,
    pub organizer: TestUser,
    pub organizer_token: String,
}

impl TestApp {
    /// A dialogue organized by `organizer`, created directly in the store (the HTTP route for
    /// creating dialogues has its own tests). Neemrana format, sides `india` and `pakistan`.
    pub async fn dialogue_for(&self, organizer: &TestUser, name: &str) -> String {
        use backchannel::domain::dialogue::{Format, Rule, Side};
        let side = |key: &str, name: &str| Side {
            key: key.into(),
            name: name.into(),
            country: Some(name.into()),
            delegation_limit: 8,
            neutral: false,
        };
        let d = store::dialogues::create(
            &self.db,
            store::dialogues::NewDialogue {
                name: name.into(),
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
        d.id
    }

    /// Creates a round over HTTP as an organizer of the dialogue; returns its id.
    pub async fn create_round(&self, token: &str, dialogue_id: &str, title: &str) -> String {
        let res = self
            .post_json(
                &format!("/api/v1/dialogues/{dialogue_id}/rounds"),
                Some(token),
                &json!({"title": title, "timezone": "Asia/Kolkata", "starts_on": "2027-02-10", "ends_on": "2027-02-12",
                        "venue": {"name": "Neemrana Fort-Palace", "city": "Neemrana"}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "create round");
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Adds a participant directly in the store (the invitation flow has its own tests).
    pub async fn join(&self, round_id: &str, user: &TestUser, side: &str, role: &str) {
        store::participants::add(&self.db, round_id, &user.id, side, role.parse().unwrap())
            .await
            .unwrap();
    }

    /// An organizer with a dialogue and a draft round 1.
    pub async fn round_fixture(&self) -> RoundFixture {
        let organizer = self.user("Organizer Person").await;
        let organizer_token = self.token(&organizer).await;
        let dialogue_id = self.dialogue_for(&organizer, "Neemrana Dialogue").await;
        let round_id = self
            .create_round(&organizer_token, &dialogue_id, "Round 1")
            .await;
        RoundFixture {
            dialogue_id,
            round_id,
            organizer,
            organizer_token,
        }
    }

    /// The mail outbox directory (file transport).
    pub fn outbox_dir(&self) -> PathBuf {
        self.settings.storage.data_dir.join("outbox")
    }

    /// Waits until the background sender has written at least `n` messages, and returns each
    /// message's recipient and full text.
    pub async fn mailed(&self, n: usize) -> Vec<(String, String)> {
        let started = std::time::Instant::now();
        loop {
            let mut mails = Vec::new();
            if let Ok(entries) = std::fs::read_dir(self.outbox_dir()) {
                for entry in entries.flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    let to = text
                        .lines()
                        .find_map(|l| l.strip_prefix("To: "))
                        .map(|t| {
                            t.trim()
                                .trim_start_matches('<')
                                .trim_end_matches('>')
                                .to_owned()
                        })
                        .unwrap_or_default();
                    mails.push((to, text));
                }
            }
            if mails.len() >= n {
                return mails;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "only {} of {n} mails arrived",
                mails.len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// The invitation token mailed to `email` (from the link's `#token=` fragment).
    pub async fn mailed_token(&self, email: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let mails = self.mailed(0).await;
            if let Some((_, text)) = mails
                .iter()
                .rev()
                .find(|(to, _)| to.eq_ignore_ascii_case(email))
            {
                let text = decode_quoted_printable(text);
                let start = text.find("#token=").expect("a link with a token") + "#token=".len();
                return text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "no mail to {email}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
}

/// Decodes a quoted-printable mail body (soft line breaks and `=XX` escapes), as a mail
/// client would before showing it.
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts a problem+json body with the given status and code, and returns it.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
    body
}

//! `cargo bench --bench http`: end-to-end HTTP figures for a real `backchannel` process.
//!
//! The bench migrates a fresh SQLite database in a temporary directory, creates one account,
//! starts `backchannel serve` on a free port of 127.0.0.1 and prints:
//!
//! - start to ready: from spawning the process to the first 200 from `/readyz`;
//! - idle RSS and final RSS of the server (VmRSS from `/proc/<pid>/status`; the final one also
//!   split into the process's own memory and mapped files, the database among them);
//! - per scenario: requests, requests/s, p50 and p99 latency, errors, and the CPU time per
//!   request of the server process and of the bench's own client (`/proc/<pid>/stat`, all
//!   threads, over the measured window);
//! - the ratios the project targets (see `main_async`); the note-post target against
//!   `/healthz` measured just before and after the note posts.
//!
//! Besides `/healthz`, `/me` and a login storm, the bench drives the domain routes on realistic
//! data set up over HTTP first (and timed separately): a round of 30 participants with 30
//! agenda items and 200 released chatham notes; a dialogue of 40 rounds x 30 items for the
//! topic history; 200 invitations accepted concurrently (each accept hashes a password). Every
//! domain scenario also prints its throughput relative to `/healthz` in the same run.
//!
//! Every scenario runs a 1 s warm-up, then `BENCH_SECS` seconds (default 5) of measurement.
//! To add a scenario, call `run_scenario` with a name, a concurrency and a closure that starts
//! one request and says whether it succeeded, then `print()` the returned `Stats` (or
//! `print_vs(&healthz)` to add the ratio to `/healthz`). `run_batch` measures a fixed set of
//! requests instead of a fixed duration.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_backchannel");
const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

const EMAIL: &str = "bench@example.org";
const PASSWORD: &str = "bench-password-long-enough";

/// Unmeasured time at the start of every scenario (connections opened, caches warm).
const WARMUP: Duration = Duration::from_secs(1);
/// Client tasks for the throughput scenarios.
const CONCURRENCY: usize = 32;
/// Healthz client tasks for the latency-under-load scenarios (and their baseline).
const LATENCY_CONCURRENCY: usize = 4;
/// Tasks logging in over and over during the login storm.
const STORM_LOGINS: usize = 50;
/// Participants of the bench round, agenda items per round, chatham notes released in it.
const ROUND_PARTICIPANTS: usize = 30;
const ROUND_ITEMS: usize = 30;
const RELEASED_NOTES: usize = 200;
/// Rounds of the dialogue whose topic history is read (each with `ROUND_ITEMS` items).
const TOPIC_ROUNDS: usize = 40;
/// Invitations accepted in the accept scenario, and the clients accepting them.
const ACCEPT_BATCH: usize = 200;
const ACCEPT_CONCURRENCY: usize = 16;
/// Clients creating the set-up data (a few: every write takes the one SQLite write lock).
const SETUP_CONCURRENCY: usize = 4;
/// Password of every invited participant.
const PARTICIPANT_PASSWORD: &str = "participant-password-long-enough";
/// Longest wait for the server to become ready, and for it to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(40);
/// Any single request gives up after this long (counted as an error), so a scenario ends at
/// most this much after its deadline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(main_async());
}

async fn main_async() {
    let measure = measured_duration();
    println!(
        "backchannel http bench: warm-up {:.1}s, measured {:.1}s per scenario (BENCH_SECS)",
        WARMUP.as_secs_f64(),
        measure.as_secs_f64()
    );

    let server = Server::start().await;
    println!(
        "start to ready            {:.1}ms",
        ms(server.start_to_ready)
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("idle RSS                  {}", format_kib(server.rss_kib()));

    // One client for every scenario: keep-alive pooling, and never a proxy (the bench only
    // talks to 127.0.0.1, whatever HTTP_PROXY says).
    let client = Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client");
    let base = server.base_url.clone();

    // a. Liveness: routing, middleware and JSON, no database.
    let healthz_url = format!("{base}/healthz");
    let healthz = {
        let url = healthz_url.clone();
        move |c: &Client| send_ok(c.get(&url))
    };
    let plain = run_scenario(&client, "healthz", CONCURRENCY, measure, healthz.clone()).await;
    plain.print();

    // a2. Readiness: one `SELECT 1` through the database pool and nothing else. Every route
    //     that reads the database (all but healthz) pays at least this, so readyz/healthz is
    //     the ceiling of any such route's ratio.
    let readyz_url = format!("{base}/readyz");
    let floor = run_scenario(&client, "readyz (SELECT 1)", CONCURRENCY, measure, {
        move |c: &Client| send_ok(c.get(&readyz_url))
    })
    .await;
    floor.print_vs(&plain);

    // b. Authenticated read: bearer token check plus a user lookup.
    let token = login(&client, &base).await;
    let organizer = token.clone();
    let me_url = format!("{base}/api/v1/me");
    let me = run_scenario(&client, "me", CONCURRENCY, measure, move |c: &Client| {
        send_ok(c.get(&me_url).bearer_auth(&token))
    })
    .await;
    me.print();

    // c. Healthz latency with few clients, without and then with a login storm (argon2
    //    hashing and session writes) running beside it.
    let baseline = run_scenario(
        &client,
        "healthz (baseline)",
        LATENCY_CONCURRENCY,
        measure,
        healthz.clone(),
    )
    .await;
    baseline.print();

    let storm = LoginStorm::start(&client, &base, STORM_LOGINS);
    let stormy = run_scenario(
        &client,
        "healthz (login storm)",
        LATENCY_CONCURRENCY,
        measure,
        healthz.clone(),
    )
    .await;
    let logins = storm.stop(stormy.window).await;
    stormy.print();
    println!(
        "  login storm             c={STORM_LOGINS}  logins={}  logins/s={:.1}  errors={}",
        logins.ok,
        logins.ok as f64 / stormy.elapsed().as_secs_f64(),
        logins.errors
    );

    // d. The domain routes, on data set up over HTTP beforehand (set-up times printed apart).
    let api = Api {
        client: client.clone(),
        base: base.clone(),
    };
    println!();
    let begun = Instant::now();
    let round = BenchRound::set_up(&api, &organizer).await;
    println!(
        "set-up: round of {ROUND_PARTICIPANTS} participants, {ROUND_ITEMS} items, {RELEASED_NOTES} released notes  {:.1}s",
        begun.elapsed().as_secs_f64()
    );

    // e. The participant list of a 30-person round, read by a delegate.
    let url = format!("{base}/api/v1/rounds/{}/participants", round.round_id);
    let listed = api.get(&url, &round.member).await;
    assert_eq!(
        count(&listed["items"]),
        ROUND_PARTICIPANTS,
        "participants listed"
    );
    let member = round.member.clone();
    let participants = run_scenario(
        &client,
        "participants (30)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&url).bearer_auth(&member)),
    )
    .await;
    participants.print_vs(&plain);

    // e2. The round read with a scoped API token instead of a session token (organizer's token,
    //     scope rounds:read), against the same read with the session token.
    let created = api
        .post(
            "/api/v1/me/tokens",
            Some(&organizer),
            &json!({"name": "bench", "scopes": ["rounds:read"]}),
        )
        .await;
    let api_token = created["token"].as_str().expect("an API token").to_owned();
    let url = format!("{base}/api/v1/rounds/{}", round.round_id);
    let session = organizer.clone();
    let by_session = run_scenario(&client, "round (session token)", CONCURRENCY, measure, {
        let url = url.clone();
        move |c: &Client| send_ok(c.get(&url).bearer_auth(&session))
    })
    .await;
    by_session.print_vs(&plain);
    let by_token = run_scenario(
        &client,
        "round (API token)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&url).bearer_auth(&api_token)),
    )
    .await;
    by_token.print_vs(&plain);

    // f. The agenda of 30 items: the organizer's working draft, then a delegate's published
    //    version.
    let url = format!("{base}/api/v1/rounds/{}/agenda", round.round_id);
    for reader in [&organizer, &round.member] {
        let agenda = api.get(&url, reader).await;
        assert_eq!(count(&agenda["items"]), ROUND_ITEMS, "agenda items");
    }
    let (u, reader) = (url.clone(), organizer.clone());
    let agenda = run_scenario(
        &client,
        "agenda (30, organizer)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&u).bearer_auth(&reader)),
    )
    .await;
    agenda.print_vs(&plain);
    let reader = round.member.clone();
    let agenda_member = run_scenario(
        &client,
        "agenda (30, delegate)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&url).bearer_auth(&reader)),
    )
    .await;
    agenda_member.print_vs(&plain);

    // g. 200 released chatham notes, by pages of 100, read by a delegate.
    let url = format!("{base}/api/v1/rounds/{}/notes", round.round_id);
    let first = api.get(&format!("{url}?limit=100"), &round.member).await;
    assert_eq!(count(&first["items"]), 100, "first page of notes");
    let cursor = first["next_cursor"]
        .as_str()
        .expect("next_cursor after a full page")
        .to_owned();
    let second = api
        .get(&format!("{url}?limit=100&cursor={cursor}"), &round.member)
        .await;
    assert_eq!(count(&second["items"]), 100, "second page of notes");
    let (u, reader) = (url.clone(), round.member.clone());
    let notes_first = run_scenario(
        &client,
        "notes list (page 1)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&u).query(&[("limit", "100")]).bearer_auth(&reader)),
    )
    .await;
    notes_first.print_vs(&plain);
    let reader = round.member.clone();
    let notes_second = run_scenario(
        &client,
        "notes list (page 2)",
        CONCURRENCY,
        measure,
        move |c: &Client| {
            send_ok(
                c.get(&url)
                    .query(&[("limit", "100"), ("cursor", cursor.as_str())])
                    .bearer_auth(&reader),
            )
        },
    )
    .await;
    notes_second.print_vs(&plain);

    // h. Chatham notes posted by the delegates of the round in session: each passes the
    //    attribution guard against the 30-person roster, then one write transaction. This
    //    machine's speed drifts by a fifth within a minute, so /healthz is measured again just
    //    before and just after, and the target compares with the mean of those two.
    let before = run_scenario(
        &client,
        "healthz (before notes)",
        CONCURRENCY,
        measure,
        healthz.clone(),
    )
    .await;
    before.print();
    let url = format!("{base}/api/v1/rounds/{}/notes", round.round_id);
    let posters = Arc::new(round.posters.clone());
    let counter = Arc::new(AtomicU64::new(RELEASED_NOTES as u64));
    let note_post = run_scenario(
        &client,
        "note post (chatham)",
        CONCURRENCY,
        measure,
        move |c: &Client| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let token = &posters[(n % posters.len() as u64) as usize];
            send_ok(c.post(&url).bearer_auth(token).json(&note(n)))
        },
    )
    .await;
    note_post.print_vs(&plain);
    server.print_log_size("after the note posts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.print_log_size("half a second later");
    let after = run_scenario(
        &client,
        "healthz (after notes)",
        CONCURRENCY,
        measure,
        healthz.clone(),
    )
    .await;
    after.print();
    let around = (before.rps() + after.rps()) / 2.0;
    println!(
        "  note post x healthz around it {:.3} (before {:.3}, after {:.3})",
        note_post.rps() / around,
        note_post.rps() / before.rps(),
        note_post.rps() / after.rps()
    );

    // i. The topic history of a dialogue of 40 rounds x 30 items, read by its organizer.
    let begun = Instant::now();
    let dialogue_id = seed_topic_dialogue(&api, &organizer).await;
    println!(
        "set-up: {TOPIC_ROUNDS} rounds x {ROUND_ITEMS} items ({} items)  {:.1}s",
        TOPIC_ROUNDS * ROUND_ITEMS,
        begun.elapsed().as_secs_f64()
    );
    let url = format!("{base}/api/v1/dialogues/{dialogue_id}/topics/water?limit={TOPIC_ROUNDS}");
    let history = api.get(&url, &organizer).await;
    let rounds = history["items"].as_array().expect("topic history");
    assert_eq!(rounds.len(), TOPIC_ROUNDS, "rounds in the topic history");
    assert_eq!(
        rounds.iter().map(|r| count(&r["items"])).sum::<usize>(),
        TOPIC_ROUNDS * ROUND_ITEMS,
        "items in the topic history"
    );
    let reader = organizer.clone();
    let topic = run_scenario(
        &client,
        "topic history (40x30)",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&url).bearer_auth(&reader)),
    )
    .await;
    topic.print_vs(&plain);
    // The same history a page of 10 rounds at a time, as a client pages through it.
    let page_url = format!("{base}/api/v1/dialogues/{dialogue_id}/topics/water?limit=10");
    let reader = organizer.clone();
    let topic_page = run_scenario(
        &client,
        "topic history, 10 rounds",
        CONCURRENCY,
        measure,
        move |c: &Client| send_ok(c.get(&page_url).bearer_auth(&reader)),
    )
    .await;
    topic_page.print_vs(&plain);

    // j. Invitations accepted concurrently on the new-account path (argon2 per accept): a
    //    fixed batch rather than a fixed duration.
    let begun = Instant::now();
    let tokens = invite_batch(&api, &organizer, &round.dialogue_id).await;
    println!(
        "set-up: {ACCEPT_BATCH} invitations  {:.1}s",
        begun.elapsed().as_secs_f64()
    );
    let accepts = run_batch(
        &client,
        "invitation accept",
        ACCEPT_CONCURRENCY,
        tokens,
        move |c: &Client, (i, token): (usize, String)| {
            send_ok(accept_request(
                c,
                &base,
                &token,
                &format!("Ulvar Tesk{i:03}"),
            ))
        },
    )
    .await;
    accepts.print_vs(&plain);
    println!(
        "  accepts                 n={ACCEPT_BATCH}  accepts/s={:.1}  in {:.1}s",
        (accepts.requests() as u64 - accepts.errors) as f64 / accepts.elapsed().as_secs_f64(),
        accepts.elapsed().as_secs_f64()
    );

    println!();
    print_ratio(
        "ratio me/healthz rps",
        me.rps() / plain.rps(),
        Target::AtLeast(0.5),
    );
    print_ratio(
        "ratio storm/baseline p99",
        ms(stormy.percentile(99.0)) / ms(baseline.percentile(99.0)),
        Target::AtMost(3.0),
    );
    print_ratio(
        "ratio agenda/healthz rps",
        agenda.rps() / plain.rps(),
        Target::AtLeast(0.3),
    );
    print_ratio(
        "ratio note post/healthz",
        note_post.rps() / around,
        Target::AtLeast(0.2),
    );

    println!();
    println!("final RSS                 {}", format_kib(server.rss_kib()));
    println!(
        "  of which                {} own (RssAnon), {} mapped files (RssFile)",
        format_kib(server.status_kib("RssAnon:")),
        format_kib(server.status_kib("RssFile:"))
    );
    server.stop();
}

/// `BENCH_SECS` (seconds, fractions allowed), 5 when unset.
fn measured_duration() -> Duration {
    match std::env::var("BENCH_SECS") {
        Err(_) => Duration::from_secs(5),
        Ok(s) => match s.trim().parse::<f64>() {
            Ok(secs) if secs > 0.0 && secs <= 3600.0 => Duration::from_secs_f64(secs),
            _ => panic!("BENCH_SECS must be a number of seconds in (0, 3600], got {s:?}"),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The server process

struct Server {
    child: Child,
    base_url: String,
    start_to_ready: Duration,
    /// Dropped (and so deleted) after the process has stopped.
    data_dir: Option<TempDir>,
}

impl Server {
    /// Prepares the data directory (migrations, one account), then starts `serve` and waits
    /// for `/readyz`.
    async fn start() -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("backchannel-bench-")
            .tempdir()
            .expect("temporary data directory");
        let port = free_port();
        let command = |args: &[&str]| backchannel(&data_dir, port, args);

        run_to_completion(command(&["migrate"]), None);
        run_to_completion(
            command(&[
                "user",
                "create",
                "--email",
                EMAIL,
                "--name",
                "Bench User",
                "--password-stdin",
            ]),
            Some(PASSWORD),
        );

        let mut serve = command(&["serve"]);
        serve.stdin(Stdio::null()).stdout(Stdio::null());
        let spawned = Instant::now();
        let child = serve.spawn().expect("spawn backchannel serve");
        SERVER_PID.store(child.id(), Ordering::Relaxed);
        let mut server = Server {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            start_to_ready: Duration::ZERO,
            data_dir: Some(data_dir),
        };
        server.start_to_ready = server.wait_ready(spawned).await;
        server
    }

    /// Polls `/readyz` every 5 ms; returns the time from `spawned` to the first 200.
    async fn wait_ready(&mut self, spawned: Instant) -> Duration {
        let probe = Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("http client");
        let url = format!("{}/readyz", self.base_url);
        loop {
            if let Ok(r) = probe.get(&url).send().await
                && r.status() == reqwest::StatusCode::OK
            {
                return spawned.elapsed();
            }
            if let Some(status) = self.child.try_wait().expect("poll server") {
                panic!("backchannel serve exited before becoming ready: {status}");
            }
            if spawned.elapsed() > START_TIMEOUT {
                panic!("backchannel serve not ready after {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The size of SQLite's write-ahead log: it must stay bounded while notes pour in.
    fn print_log_size(&self, when: &str) {
        let wal = self
            .data_dir
            .as_ref()
            .map(|d| d.path().join("backchannel.db-wal"));
        let size = wal.and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
        println!(
            "  write-ahead log         {} {when}",
            size.map_or_else(|| "absent".to_owned(), |b| format_kib(Some(b / 1024)))
        );
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> Option<u64> {
        self.status_kib("VmRSS:")
    }

    /// One `kB` line of `/proc/<pid>/status`: `VmRSS:` in all, or its parts `RssAnon:` (the
    /// process's own memory) and `RssFile:` (pages of mapped files, the database among them,
    /// which the kernel shares with its page cache and can drop at any time).
    fn status_kib(&self, key: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGTERM, wait for a graceful exit, then delete the data directory.
    fn stop(mut self) {
        let begun = Instant::now();
        let status = self.terminate();
        println!(
            "server stopped            {:.1}ms after SIGTERM, {}",
            ms(begun.elapsed()),
            status.map_or_else(|| "killed after timeout".to_owned(), |s| s.to_string())
        );
        if let Some(dir) = self.data_dir.take() {
            let path = dir.path().display().to_string();
            if let Err(e) = dir.close() {
                eprintln!("could not remove {path}: {e}");
            }
        }
    }

    /// Sends SIGTERM and waits up to `STOP_TIMEOUT`; SIGKILLs after that. `None` when killed.
    fn terminate(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: kill(2) with the pid of our own, not yet reaped child: the pid cannot have
        // been reused by another process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    /// A panic mid-bench still stops the server (and then deletes the directory).
    fn drop(&mut self) {
        if self.data_dir.is_some() {
            self.terminate();
        }
    }
}

/// A `backchannel` command isolated from the caller's configuration: SQLite in `data_dir`, the
/// repository's config files, quiet logs, open dialogue creation, and login, invitation and note
/// limits high enough for the scenarios.
fn backchannel(data_dir: &TempDir, port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    // An inherited DATABASE_URL or BACKCHANNEL_* variable (database URL, BACKCHANNEL_ENV, a
    // typo'd key that figment would refuse) must not reach the child.
    cmd.env_remove("DATABASE_URL");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("BACKCHANNEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("BACKCHANNEL_CONFIG_DIR", CONFIG_DIR)
        .env("BACKCHANNEL_STORAGE__DATA_DIR", data_dir.path())
        .env("BACKCHANNEL_HTTP__HOST", "127.0.0.1")
        .env("BACKCHANNEL_HTTP__PORT", port.to_string())
        .env("BACKCHANNEL_LOG__LEVEL", "warn")
        // The bench account is no admin: it may create dialogues (and organize them) this way.
        .env("BACKCHANNEL_DIALOGUES__OPEN_CREATION", "true");
    for quota in [
        "LOGIN_PER_IP_PER_MINUTE",
        "LOGIN_PER_ACCOUNT_PER_MINUTE",
        "INVITATION_PER_IP_PER_MINUTE",
        "INVITATION_PER_ACCOUNT_PER_MINUTE",
        "NOTE_PER_ACCOUNT_PER_MINUTE",
        "NOTE_PER_IP_PER_MINUTE",
    ] {
        cmd.env(format!("BACKCHANNEL_RATE_LIMIT__{quota}"), "1000000");
    }
    cmd
}

/// Runs a one-shot subcommand, feeding `stdin` if given; panics with its output on failure.
fn run_to_completion(mut cmd: Command, stdin: Option<&str>) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn backchannel");
    {
        // Dropped at the end of the block, closing stdin.
        let mut pipe = child.stdin.take().expect("child stdin");
        if let Some(line) = stdin {
            writeln!(pipe, "{line}").expect("write child stdin");
        }
    }
    let out = child.wait_with_output().expect("wait for backchannel");
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A port that was free a moment ago (the listener is dropped before the server binds it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------------------------
// Requests and scenarios

/// Sends a request and reads the whole body (so the connection goes back to the pool).
/// `true` for a 2xx; `false` for any other status or a transport error / timeout.
async fn send_ok(request: RequestBuilder) -> bool {
    match request.send().await {
        Ok(response) => {
            let success = response.status().is_success();
            response.bytes().await.is_ok() && success
        }
        Err(_) => false,
    }
}

fn login_request(client: &Client, base: &str) -> RequestBuilder {
    login_request_as(client, base, EMAIL, PASSWORD)
}

fn login_request_as(client: &Client, base: &str, email: &str, password: &str) -> RequestBuilder {
    // `.json` also sets `Content-Type: application/json`, which the route requires.
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
}

/// Logs the bench account in once and returns the access token.
async fn login(client: &Client, base: &str) -> String {
    login_as(client, base, EMAIL, PASSWORD).await
}

/// Logs in once and returns the access token.
async fn login_as(client: &Client, base: &str, email: &str, password: &str) -> String {
    let response = login_request_as(client, base, email, password)
        .send()
        .await
        .expect("login");
    assert!(
        response.status().is_success(),
        "login failed: {}",
        response.status()
    );
    let body: Value = response.json().await.expect("login response");
    body["access_token"]
        .as_str()
        .expect("access_token in login response")
        .to_owned()
}

/// The measured part of one scenario.
struct Stats {
    name: String,
    concurrency: usize,
    /// CPU time the server process and this client process spent inside the window.
    cpu: Option<(Duration, Duration)>,
    /// Start and end of the measured window; only requests begun and finished inside count.
    window: (Instant, Instant),
    /// Sorted, shortest first. Failed requests are included.
    latencies: Vec<Duration>,
    errors: u64,
}

impl Stats {
    fn requests(&self) -> usize {
        self.latencies.len()
    }

    fn elapsed(&self) -> Duration {
        self.window.1 - self.window.0
    }

    fn rps(&self) -> f64 {
        self.requests() as f64 / self.elapsed().as_secs_f64()
    }

    /// Nearest-rank percentile (`p` in 0..=100); zero when nothing was measured.
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    fn print(&self) {
        println!("{}", self.line());
    }

    /// `print`, plus the throughput relative to `healthz` measured in the same run.
    fn print_vs(&self, healthz: &Stats) {
        println!(
            "{}  x healthz={:.3}",
            self.line(),
            self.rps() / healthz.rps()
        );
    }

    fn line(&self) -> String {
        let mut line = format!(
            "{:<25} c={:<3} reqs={:<8} rps={:<9.1} p50={:.2}ms  p99={:.2}ms  errors={}",
            self.name,
            self.concurrency,
            self.requests(),
            self.rps(),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            self.errors
        );
        // CPU per request moves less than throughput on a shared machine, where another
        // tenant's load takes the cores away from both processes.
        if let Some((server, client)) = self.cpu
            && self.requests() > 0
        {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / self.requests() as f64;
            line.push_str(&format!(
                "  cpu/req server={:.0}us client={:.0}us",
                per(server),
                per(client)
            ));
        }
        line
    }
}

/// Runs `concurrency` client tasks, each sending one request after another (the next as soon
/// as the previous answers), for `WARMUP` and then `measure`. `make_request` starts one
/// request and resolves to whether it succeeded; the future must not borrow the client
/// (build the request from it, then move the builder into the future, as `send_ok` does).
async fn run_scenario<F, Fut>(
    client: &Client,
    name: &str,
    concurrency: usize,
    measure: Duration,
    make_request: F,
) -> Stats
where
    F: Fn(&Client) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let make_request = Arc::new(make_request);
    let from = Instant::now() + WARMUP;
    let until = from + measure;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let client = client.clone();
            let make_request = Arc::clone(&make_request);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let begun = Instant::now();
                    if begun >= until {
                        break;
                    }
                    let ok = make_request(&client).await;
                    let done = Instant::now();
                    // Requests straddling either edge of the window are not counted, so the
                    // rate is exact for the window and warm-up latencies stay out.
                    if begun >= from && done <= until {
                        latencies.push(done - begun);
                        errors += u64::from(!ok);
                    }
                }
                (latencies, errors)
            })
        })
        .collect();

    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let start = cpu_times()?;
        tokio::time::sleep_until(until.into()).await;
        cpu_between(start, cpu_times()?)
    });
    let mut stats = Stats {
        name: name.to_owned(),
        concurrency,
        cpu: None,
        window: (from, until),
        latencies: Vec::new(),
        errors: 0,
    };
    stats.cpu = cpu.await.expect("cpu sampling task");
    for task in tasks {
        let (latencies, errors) = task.await.expect("client task");
        stats.latencies.extend(latencies);
        stats.errors += errors;
    }
    stats.latencies.sort_unstable();
    stats
}

/// Runs `make_request` once per job with `concurrency` client tasks, no warm-up, and measures
/// the whole batch: the window runs from the first request to the last answer.
async fn run_batch<J, F, Fut>(
    client: &Client,
    name: &str,
    concurrency: usize,
    jobs: Vec<J>,
    make_request: F,
) -> Stats
where
    J: Send + 'static,
    F: Fn(&Client, J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let client = client.clone();
    let from = Instant::now();
    let before = cpu_times();
    let done = concurrently(concurrency, jobs, move |job| make_request(&client, job)).await;
    let cpu = before
        .zip(cpu_times())
        .and_then(|(start, end)| cpu_between(start, end));
    let mut stats = Stats {
        name: name.to_owned(),
        concurrency,
        cpu,
        window: (from, Instant::now()),
        latencies: done.iter().map(|(latency, _)| *latency).collect(),
        errors: done.iter().filter(|(_, ok)| !ok).count() as u64,
    };
    stats.latencies.sort_unstable();
    stats
}

/// Runs `work` once per job, `concurrency` at a time; returns each job's duration and result,
/// in the order of `jobs`.
async fn concurrently<J, R, F, Fut>(concurrency: usize, jobs: Vec<J>, work: F) -> Vec<(Duration, R)>
where
    J: Send + 'static,
    R: Send + 'static,
    F: Fn(J) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let queue = Arc::new(std::sync::Mutex::new(jobs.into_iter().enumerate()));
    let work = Arc::new(work);
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let work = Arc::clone(&work);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let next = queue.lock().expect("job queue").next();
                    let Some((index, job)) = next else {
                        break;
                    };
                    let begun = Instant::now();
                    let result = work(job).await;
                    done.push((index, begun.elapsed(), result));
                }
                done
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("worker task"));
    }
    all.sort_by_key(|(index, _, _)| *index);
    all.into_iter().map(|(_, d, r)| (d, r)).collect()
}

/// Tasks that log in with the right password over and over until stopped.
struct LoginStorm {
    stop: Arc<AtomicBool>,
    /// Each task's completed logins: when each finished, and whether it was a 2xx.
    tasks: Vec<tokio::task::JoinHandle<Vec<(Instant, bool)>>>,
}

struct LoginCounts {
    ok: u64,
    errors: u64,
}

impl LoginStorm {
    fn start(client: &Client, base: &str, tasks: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..tasks)
            .map(|_| {
                let client = client.clone();
                let base = base.to_owned();
                let stop = Arc::clone(&stop);
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let ok = send_ok(login_request(&client, &base)).await;
                        done.push((Instant::now(), ok));
                    }
                    done
                })
            })
            .collect();
        LoginStorm { stop, tasks }
    }

    /// Stops the storm (in-flight logins finish) and counts the logins that completed inside
    /// `window`.
    async fn stop(self, window: (Instant, Instant)) -> LoginCounts {
        self.stop.store(true, Ordering::Relaxed);
        let mut counts = LoginCounts { ok: 0, errors: 0 };
        for task in self.tasks {
            for (at, ok) in task.await.expect("login task") {
                if at >= window.0 && at <= window.1 {
                    if ok {
                        counts.ok += 1;
                    } else {
                        counts.errors += 1;
                    }
                }
            }
        }
        counts
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up over HTTP

/// JSON calls for the set-up, which must succeed: anything else panics with the answer.
#[derive(Clone)]
struct Api {
    client: Client,
    base: String,
}

impl Api {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Value {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::expect_success("POST", path, request).await
    }

    /// `url` is absolute (as the scenarios build it).
    async fn get(&self, url: &str, token: &str) -> Value {
        Self::expect_success("GET", url, self.client.get(url).bearer_auth(token)).await
    }

    async fn expect_success(method: &str, path: &str, request: RequestBuilder) -> Value {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        }
    }

    /// A dialogue of two sides, each allowing 200 participants per round.
    async fn create_dialogue(&self, organizer: &str, name: &str) -> String {
        let body = json!({
            "name": name,
            "format": "custom",
            "sides": [
                {"key": "a", "name": "North", "delegation_limit": 200},
                {"key": "b", "name": "South", "delegation_limit": 200},
            ],
        });
        id(&self.post("/api/v1/dialogues", Some(organizer), &body).await)
    }

    async fn create_round(&self, organizer: &str, dialogue_id: &str, title: &str) -> String {
        let body = json!({
            "title": title,
            "timezone": "UTC",
            "starts_on": "2027-01-01",
            "ends_on": "2027-01-03",
        });
        let path = format!("/api/v1/dialogues/{dialogue_id}/rounds");
        id(&self.post(&path, Some(organizer), &body).await)
    }

    /// An untimed agenda item tagged `water` and `trade`.
    async fn create_item(&self, organizer: &str, round_id: &str, n: usize) {
        let body = json!({
            "title": format!("Confidence-building measures, part {n}"),
            "topics": ["water", "trade"],
        });
        let path = format!("/api/v1/rounds/{round_id}/agenda");
        self.post(&path, Some(organizer), &body).await;
    }

    /// Invites one email; returns the invitation token.
    async fn invite(&self, organizer: &str, round_id: &str, invitee: &Invitee) -> String {
        let body = json!({
            "email": invitee.email,
            "name": invitee.name,
            "side": invitee.side,
            "role": invitee.role,
        });
        let path = format!("/api/v1/rounds/{round_id}/invitations");
        let created = self.post(&path, Some(organizer), &body).await;
        created["token"]
            .as_str()
            .expect("token of a new invitation")
            .to_owned()
    }

    async fn set_status(&self, organizer: &str, round_id: &str, status: &str) {
        let path = format!("/api/v1/rounds/{round_id}/status");
        let body = json!({"status": status, "force": true});
        self.post(&path, Some(organizer), &body).await;
    }
}

/// Someone to invite. Names and email local parts use words no note body contains, so the
/// attribution guard lets the bench's notes through.
struct Invitee {
    email: String,
    name: String,
    side: &'static str,
    role: &'static str,
}

/// The bench's 30-person round, in session, with a published agenda and released notes.
struct BenchRound {
    dialogue_id: String,
    round_id: String,
    /// A delegate's access token.
    member: String,
    /// Access tokens of several delegates, who post the notes.
    posters: Vec<String>,
}

impl BenchRound {
    async fn set_up(api: &Api, organizer: &str) -> Self {
        let dialogue_id = api.create_dialogue(organizer, "Bench dialogue").await;
        let round_id = api
            .create_round(organizer, &dialogue_id, "Bench round")
            .await;

        // Co-chairs on both sides, a rapporteur, a facilitator, delegates.
        let roster: Vec<Invitee> = (0..ROUND_PARTICIPANTS)
            .map(|i| Invitee {
                email: format!("p{i:02}@bench.example.org"),
                name: format!("Oltan Vesk{i:02}"),
                side: if i % 2 == 0 { "a" } else { "b" },
                role: match i {
                    0 | 1 => "co_chair",
                    2 => "rapporteur",
                    3 => "facilitator",
                    _ => "delegate",
                },
            })
            .collect();
        let emails: Vec<String> = roster.iter().map(|p| p.email.clone()).collect();
        let (a, o, r) = (api.clone(), organizer.to_owned(), round_id.clone());
        let tokens = concurrently(SETUP_CONCURRENCY, roster, move |invitee| {
            let (api, organizer, round_id) = (a.clone(), o.clone(), r.clone());
            async move { api.invite(&organizer, &round_id, &invitee).await }
        })
        .await;
        let a = api.clone();
        concurrently(
            ACCEPT_CONCURRENCY,
            tokens.into_iter().enumerate().collect(),
            move |(i, (_, token)): (usize, (Duration, String))| {
                let api = a.clone();
                async move {
                    let request = accept_request(
                        &api.client,
                        &api.base,
                        &token,
                        &format!("Oltan Vesk{i:02}"),
                    );
                    Api::expect_success("POST", "/api/v1/invitations/accept", request).await
                }
            },
        )
        .await;

        // The delegates (index 4 on) log in: the first reads, all of them post.
        let a = api.clone();
        let posters: Vec<String> = concurrently(
            SETUP_CONCURRENCY,
            emails[4..12].to_vec(),
            move |email: String| {
                let api = a.clone();
                async move { login_as(&api.client, &api.base, &email, PARTICIPANT_PASSWORD).await }
            },
        )
        .await
        .into_iter()
        .map(|(_, token)| token)
        .collect();

        let (a, o, r) = (api.clone(), organizer.to_owned(), round_id.clone());
        concurrently(SETUP_CONCURRENCY, (1..=ROUND_ITEMS).collect(), move |n| {
            let (api, organizer, round_id) = (a.clone(), o.clone(), r.clone());
            async move { api.create_item(&organizer, &round_id, n).await }
        })
        .await;
        let path = format!("/api/v1/rounds/{round_id}/agenda/publish");
        api.post(&path, Some(organizer), &json!({})).await;
        api.set_status(organizer, &round_id, "scheduled").await;
        api.set_status(organizer, &round_id, "in_session").await;

        // 200 chatham notes, then their release by the organizer.
        let (a, r, p) = (api.clone(), round_id.clone(), posters.clone());
        concurrently(SETUP_CONCURRENCY, (0..RELEASED_NOTES).collect(), move |n| {
            let (api, round_id) = (a.clone(), r.clone());
            let token = p[n % p.len()].clone();
            async move {
                let path = format!("/api/v1/rounds/{round_id}/notes");
                api.post(&path, Some(&token), &note(n as u64)).await
            }
        })
        .await;
        let path = format!("/api/v1/rounds/{round_id}/notes/release");
        let released = api.post(&path, Some(organizer), &json!({})).await;
        assert_eq!(
            released["released"].as_u64(),
            Some(RELEASED_NOTES as u64),
            "notes released"
        );

        BenchRound {
            dialogue_id,
            round_id,
            member: posters[0].clone(),
            posters,
        }
    }
}

/// A dialogue of `TOPIC_ROUNDS` rounds of `ROUND_ITEMS` items each, every item tagged `water`.
async fn seed_topic_dialogue(api: &Api, organizer: &str) -> String {
    let dialogue_id = api.create_dialogue(organizer, "Bench topic dialogue").await;
    let (a, o, d) = (api.clone(), organizer.to_owned(), dialogue_id.clone());
    let rounds: Vec<String> =
        concurrently(SETUP_CONCURRENCY, (1..=TOPIC_ROUNDS).collect(), move |n| {
            let (api, organizer, dialogue_id) = (a.clone(), o.clone(), d.clone());
            async move {
                api.create_round(&organizer, &dialogue_id, &format!("Round {n}"))
                    .await
            }
        })
        .await
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let items: Vec<(String, usize)> = rounds
        .iter()
        .flat_map(|r| (1..=ROUND_ITEMS).map(move |n| (r.clone(), n)))
        .collect();
    let (a, o) = (api.clone(), organizer.to_owned());
    concurrently(SETUP_CONCURRENCY, items, move |(round_id, n)| {
        let (api, organizer) = (a.clone(), o.clone());
        async move { api.create_item(&organizer, &round_id, n).await }
    })
    .await;
    dialogue_id
}

/// `ACCEPT_BATCH` delegate invitations to a new round of `dialogue_id`, half on each side;
/// returns (index, token) pairs.
async fn invite_batch(api: &Api, organizer: &str, dialogue_id: &str) -> Vec<(usize, String)> {
    let round_id = api
        .create_round(organizer, dialogue_id, "Bench accept round")
        .await;
    let (a, o) = (api.clone(), organizer.to_owned());
    concurrently(SETUP_CONCURRENCY, (0..ACCEPT_BATCH).collect(), move |i| {
        let (api, organizer, round_id) = (a.clone(), o.clone(), round_id.clone());
        async move {
            let invitee = Invitee {
                email: format!("a{i:03}@bench.example.org"),
                name: format!("Ulvar Tesk{i:03}"),
                side: if i % 2 == 0 { "a" } else { "b" },
                role: "delegate",
            };
            (i, api.invite(&organizer, &round_id, &invitee).await)
        }
    })
    .await
    .into_iter()
    .map(|(_, pair)| pair)
    .collect()
}

/// Accepts an invitation as a new account (the server hashes the password).
fn accept_request(client: &Client, base: &str, token: &str, name: &str) -> RequestBuilder {
    client
        .post(format!("{base}/api/v1/invitations/accept"))
        .json(&json!({"token": token, "display_name": name, "password": PARTICIPANT_PASSWORD}))
}

/// A chatham note naming nobody, different for every `n`.
fn note(n: u64) -> Value {
    json!({
        "visibility": "chatham",
        "body": format!(
            "Point {n}: one view held that a joint river data centre would build confidence; \
             another put trade corridors first."
        ),
    })
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id in the response").to_owned()
}

/// Length of a JSON array (0 for anything else).
fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

// ---------------------------------------------------------------------------------------------
// Output

enum Target {
    AtLeast(f64),
    AtMost(f64),
}

fn print_ratio(name: &str, value: f64, target: Target) {
    let (met, target) = match target {
        Target::AtLeast(t) => (value >= t, format!(">= {t:.1}")),
        Target::AtMost(t) => (value <= t, format!("<= {t:.1}")),
    };
    println!(
        "{name:<25} {value:.2}  (target {target}: {})",
        if met { "met" } else { "NOT met" }
    );
}

/// The server's pid, for its CPU time; 0 until it has started.
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// CPU time (user and system, all threads) used so far by the server and by this process.
fn cpu_times() -> Option<(Duration, Duration)> {
    let pid = SERVER_PID.load(Ordering::Relaxed);
    if pid == 0 {
        return None;
    }
    Some((process_cpu(&pid.to_string())?, process_cpu("self")?))
}

/// What `cpu_times` grew by from `start` to `end`.
fn cpu_between(
    start: (Duration, Duration),
    end: (Duration, Duration),
) -> Option<(Duration, Duration)> {
    Some((end.0.checked_sub(start.0)?, end.1.checked_sub(start.1)?))
}

/// `utime + stime` of `/proc/<pid>/stat`, in clock ticks converted to time.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn format_kib(kib: Option<u64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB ({kib} kB)", kib as f64 / 1024.0),
        None => "unavailable".to_owned(),
    }
}

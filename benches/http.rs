//! `cargo bench --bench http`: end-to-end HTTP figures for a real `backchannel` process.
//!
//! The bench migrates a fresh SQLite database in a temporary directory, creates one account,
//! starts `backchannel serve` on a free port of 127.0.0.1 and prints:
//!
//! - start to ready: from spawning the process to the first 200 from `/readyz`;
//! - idle RSS and final RSS of the server (VmRSS from `/proc/<pid>/status`);
//! - per scenario: requests, requests/s, p50 and p99 latency, errors;
//! - the ratios the project targets (see `main_async`).
//!
//! Every scenario runs a 1 s warm-up, then `BENCH_SECS` seconds (default 5) of measurement.
//! To add a scenario, call `run_scenario` with a name, a concurrency and a closure that starts
//! one request and says whether it succeeded, then `print()` the returned `Stats`.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

    // b. Authenticated read: bearer token check plus a user lookup.
    let token = login(&client, &base).await;
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
        healthz,
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

    println!();
    println!("final RSS                 {}", format_kib(server.rss_kib()));
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

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
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
/// repository's config files, quiet logs and login limits high enough for the storm.
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
        .env("BACKCHANNEL_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE", "1000000")
        .env(
            "BACKCHANNEL_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE",
            "1000000",
        );
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
    // `.json` also sets `Content-Type: application/json`, which the route requires.
    client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
}

/// Logs in once and returns the access token.
async fn login(client: &Client, base: &str) -> String {
    let response = login_request(client, base).send().await.expect("login");
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
        println!(
            "{:<25} c={:<3} reqs={:<8} rps={:<9.1} p50={:.2}ms  p99={:.2}ms  errors={}",
            self.name,
            self.concurrency,
            self.requests(),
            self.rps(),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            self.errors
        );
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

    let mut stats = Stats {
        name: name.to_owned(),
        concurrency,
        window: (from, until),
        latencies: Vec::new(),
        errors: 0,
    };
    for task in tasks {
        let (latencies, errors) = task.await.expect("client task");
        stats.latencies.extend(latencies);
        stats.errors += errors;
    }
    stats.latencies.sort_unstable();
    stats
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn format_kib(kib: Option<u64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB ({kib} kB)", kib as f64 / 1024.0),
        None => "unavailable".to_owned(),
    }
}

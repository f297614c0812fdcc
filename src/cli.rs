//! The command line: `serve` (the default), `migrate`, `user create`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migrations::{Migrator, MigratorTrait};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::password::Passwords;
use crate::domain::account::NewAccount;
use crate::error::ApiError;
use crate::settings::Settings;
use crate::startup::{Application, open_database};
use crate::{store, telemetry};

#[derive(Parser)]
#[command(
    name = "backchannel",
    version,
    about = "Off-the-record Track II dialogue rounds under the Chatham House Rule"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Seed a Neemrana-style demo dialogue into an empty database, print the logins, and serve.
    Demo,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Export a round's non-attributed record.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Manage the keys that seal notes at rest.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Print the record of one round (content only: no roster, nothing finer than dates).
    Round {
        round_id: String,
        #[arg(long, default_value = "markdown", value_parser = ["markdown", "json"])]
        format: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new key and re-seal every sealed row under it. Stop the service first.
    Rotate {
        /// Re-seal rows still under an older key, without adding another key.
        #[arg(long)]
        resume: bool,
        /// Afterwards, drop old keys that no row uses any more.
        #[arg(long)]
        retire: bool,
    },
    /// Print a new key ring entry (`<key id>:<base64 key>`) for `storage.notes_key`.
    New,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account, e.g. the first organizer or admin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        affiliation: Option<String>,
        /// A platform admin (manages accounts).
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run() -> ExitCode {
    crate::storage::tune_allocator();
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("backchannel: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Demo => demo(settings).await,
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    affiliation,
                    admin,
                    password_stdin,
                },
        } => create_user(settings, email, name, affiliation, admin, password_stdin).await,
        Command::Export {
            command: ExportCommand::Round { round_id, format },
        } => export_round(settings, round_id, format).await,
        Command::Keys {
            command: KeysCommand::Rotate { resume, retire },
        } => rotate_keys(settings, resume, retire).await,
        Command::Keys {
            command: KeysCommand::New,
        } => {
            println!("{}", crate::storage::new_ring_line().expose_secret());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backchannel: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let host = settings.http.host.clone();
    crate::storage::prepare_data_dir(&settings.storage.data_dir).map_err(|e| e.to_string())?;
    // Held until the process ends: `keys rotate` refuses to run beside it.
    let _lock = crate::storage::ServiceLock::serving(&settings.storage.data_dir)?;
    let app = Application::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    crate::storage::release_free_memory();
    tracing::info!(address = %format!("{host}:{}", app.port()), "listening");
    app.run().await.map_err(|e| e.to_string())
}

async fn migrate(mut settings: Settings) -> Result<(), String> {
    settings.database.migrate_on_start = false;
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    Migrator::up(&db, None).await.map_err(|e| e.to_string())?;
    println!("migrations applied");
    Ok(())
}

async fn create_user(
    settings: Settings,
    email: String,
    name: String,
    affiliation: Option<String>,
    admin: bool,
    password_stdin: bool,
) -> Result<(), String> {
    let describe = |e: ApiError| match e {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let account =
        NewAccount::parse(&email, &name, affiliation.as_deref(), admin).map_err(describe)?;
    let passwords = Passwords::new(&settings.auth)?;
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        if std::io::stdin().is_terminal() {
            eprint!("password: ");
        }
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        (
            SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned()),
            false,
        )
    } else {
        (crate::storage::random_b64(18), true)
    };
    passwords
        .check_policy("password", &password)
        .map_err(describe)?;
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    let hash = passwords.hash(password.clone()).await.map_err(describe)?;
    let user =
        store::users::create(&db, account, hash)
            .await
            .map_err(|e| match ApiError::from(e) {
                ApiError::Conflict { .. } => "an account with this email already exists".to_owned(),
                other => other.to_string(),
            })?;
    println!(
        "created {} account {} <{}>",
        if admin { "admin" } else { "user" },
        user.id,
        user.email
    );
    if generated {
        println!("password (shown once): {}", password.expose_secret());
    }
    db.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn export_round(settings: Settings, round_id: String, format: String) -> Result<(), String> {
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    let keys = crate::storage::Keys::load_or_generate(&settings).map_err(|e| e.to_string())?;
    let cipher = crate::crypto::Cipher::new(&keys.notes).map_err(|e| format!("notes.key: {e}"))?;
    let record = crate::record::build(&db, &cipher, &round_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound => format!("no round {round_id}"),
            ApiError::Conflict { detail, extra, .. } => {
                let parts = extra
                    .as_ref()
                    .and_then(|e| e["parts"].as_array())
                    .map(|parts| {
                        let parts: Vec<&str> = parts.iter().filter_map(|p| p.as_str()).collect();
                        format!(" Where: {}.", parts.join(", "))
                    })
                    .unwrap_or_default();
                format!("{detail}{parts}")
            }
            other => other.to_string(),
        })?;
    if format == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", record.to_markdown());
    }
    db.close().await.map_err(|e| e.to_string())
}

async fn rotate_keys(settings: Settings, resume: bool, retire: bool) -> Result<(), String> {
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    // Make sure a ring exists before adding to it.
    crate::storage::Keys::load_or_generate(&settings).map_err(|e| e.to_string())?;
    let report = crate::rotation::rotate(&settings, &db, resume, retire).await?;
    println!(
        "current key {}: {} rows re-sealed, {} old keys retired",
        report.key_id, report.resealed, report.retired
    );
    if !report.unused.is_empty() {
        println!(
            "no row uses {} any more: remove them from storage.notes_key yourself",
            report.unused.join(", ")
        );
    }
    db.close().await.map_err(|e| e.to_string())
}

async fn demo(settings: Settings) -> Result<(), String> {
    let (password, logins) = crate::demo::seed(&settings).await?;
    println!(
        "A Neemrana-style dialogue is ready: round 1 concluded (see its record), round 2 in session."
    );
    println!("Every account below has the password: {password}");
    for l in &logins {
        println!("  {:<34} {}", l.email, l.role);
    }
    println!(
        "Try: curl -s -X POST http://{}:{}/api/v1/auth/login -H 'content-type: application/json' \\\n  -d '{{\"email\":\"chair.india@demo.example\",\"password\":\"{password}\"}}'",
        settings.http.host, settings.http.port
    );
    serve(settings).await
}

//! Building and running the application: `Application::build` prepares the data directory and
//! keys, connects, migrates, and binds (port 0 in tests, reporting the real port); `run` serves
//! until SIGTERM or Ctrl-C, lets in-flight requests finish, then closes the database.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope};

use crate::auth::password::Passwords;
use crate::auth::tokens::TokenKeys;
use crate::crypto::Cipher;
use crate::error::{self, ApiError};
use crate::ratelimit::Limiter;
use crate::routes::{self, ApiDoc, OpenApiJson};
use crate::settings::{Settings, SettingsError};
use crate::storage::{self, Keys};
use crate::telemetry;

/// What every handler can reach.
pub struct AppState {
    pub db: DatabaseConnection,
    /// Bounded reads of a request (auth, access, a round's lists): in-thread on SQLite.
    pub reader: crate::db::Reader,
    /// Note inserts: committed in groups by one thread on SQLite.
    pub writer: crate::db::Writer,
    pub settings: Arc<Settings>,
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub limits: Limits,
    /// Seals data at rest (mail outbox, notes) with the data-directory key ring.
    pub cipher: Cipher,
    /// Attribution guards built by this node, by round, under the round's guard epoch.
    pub guards: crate::kept::Kept<crate::domain::guard::Guard>,
    /// Agenda lists as sent (JSON), by round and view, under the round's agenda epoch.
    pub agendas: crate::kept::Kept<actix_web::web::Bytes>,
    /// Session-and-seat reads of round requests, kept until the next commit.
    pub seats: crate::access::Seats,
    pub metrics: crate::metrics::Metrics,
}

pub struct Limits {
    pub login_ip: Limiter,
    pub login_account: Limiter,
    pub invitation_ip: Limiter,
    pub invitation_account: Limiter,
    pub note_account: Limiter,
    pub note_ip: Limiter,
}

impl Limits {
    fn all(&self) -> [&Limiter; 6] {
        [
            &self.login_ip,
            &self.login_account,
            &self.invitation_ip,
            &self.invitation_account,
            &self.note_account,
            &self.note_ip,
        ]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Prepares the data directory and opens the database, migrating it when the settings say so.
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, StartError> {
    storage::restrict_umask();
    storage::prepare_data_dir(&settings.storage.data_dir)?;
    let db = crate::db::connect(settings).await?;
    if settings.database.migrate_on_start {
        Migrator::up(&db, None).await?;
    }
    Ok(db)
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        settings.validate()?;
        let db = open_database(&settings).await?;
        let keys = Keys::load_or_generate(&settings)?;
        let tokens = TokenKeys::new(&keys.signing, &settings.auth).map_err(StartError::Other)?;
        let passwords = Passwords::new(&settings.auth).map_err(StartError::Other)?;
        let limits = Limits {
            login_ip: Limiter::per_minute(settings.rate_limit.login_per_ip_per_minute),
            login_account: Limiter::per_minute(settings.rate_limit.login_per_account_per_minute),
            invitation_ip: Limiter::per_minute(settings.rate_limit.invitation_per_ip_per_minute),
            invitation_account: Limiter::per_minute(
                settings.rate_limit.invitation_per_account_per_minute,
            ),
            note_account: Limiter::per_minute(settings.rate_limit.note_per_account_per_minute),
            note_ip: Limiter::per_minute(settings.rate_limit.note_per_ip_per_minute),
        };
        let cipher =
            Cipher::new(&keys.notes).map_err(|e| StartError::Other(format!("notes.key: {e}")))?;
        let transport =
            crate::mail::Transport::from_settings(&settings).map_err(StartError::Other)?;
        let webhook_sender =
            crate::webhooks::Sender::new(&settings.webhooks).map_err(StartError::Other)?;
        let settings = Arc::new(settings);
        let busy = std::time::Duration::from_millis(settings.database.sqlite_busy_timeout_ms);
        let reader = crate::db::Reader::for_pool(&db, busy);
        let writer = crate::db::Writer::for_pool(&db, busy).map_err(StartError::Database)?;
        let seats = crate::access::Seats::new(crate::db::commits::of_pool(&db));
        let state = web::Data::new(AppState {
            reader,
            writer,
            db,
            settings: settings.clone(),
            tokens,
            passwords,
            limits,
            cipher,
            // A guard is a few kilobytes; an agenda of 30 items about 15.
            guards: crate::kept::Kept::new(512),
            agendas: crate::kept::Kept::new(256),
            seats,
            metrics: Default::default(),
        });

        let addr = format!("{}:{}", settings.http.host, settings.http.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::Other(e.to_string()))?
            .port();

        let openapi = web::Data::new(OpenApiJson(
            routes::openapi()
                .to_json()
                .map_err(|e| StartError::Other(e.to_string()))?,
        ));
        let json_limit = settings.http.json_limit_bytes;
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            let json = web::JsonConfig::default()
                .limit(json_limit)
                .content_type_required(true)
                .error_handler(error::json_error);
            let (app, api_doc) = App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(app_state.clone())
                .app_data(openapi.clone())
                .app_data(json)
                .app_data(web::QueryConfig::default().error_handler(error::query_error))
                .app_data(web::PathConfig::default().error_handler(error::path_error))
                .route("/api/v1/openapi.json", web::get().to(routes::openapi_json))
                .configure(routes::root)
                .service(scope::scope("/api/v1").configure(routes::api))
                .split_for_parts();
            // Registering the routes through utoipa also assembles the whole OpenAPI document
            // in every worker; glibc would keep its ~7 MiB in the worker's arena after it is
            // dropped, so hand the memory back to the kernel now.
            drop(api_doc);
            storage::release_free_memory();
            app.default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
            }))
            .wrap(from_fn(routes::refuse_array_bodies))
            .wrap(from_fn(telemetry::request_middleware))
        })
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .listen(listener)
        .map_err(|source| StartError::Bind { addr, source })?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        let server = server.run();

        let sender = crate::mail::spawn_sender(
            state.db.clone(),
            state.cipher.clone(),
            transport,
            settings.mail.clone(),
        );
        let webhook_task = crate::webhooks::spawn_sender(
            state.db.clone(),
            state.cipher.clone(),
            webhook_sender,
            settings.webhooks.clone(),
        );
        // Every minute: forget rate-limit keys whose quota has refilled (bounded memory), queue
        // reminders for invitations about to expire, and forget old webhook deliveries.
        let periodic_state = state.clone();
        let periodic = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let s = &periodic_state;
                for limiter in s.limits.all() {
                    limiter.shrink();
                }
                if let Err(e) = crate::routes::invitations::send_reminders(s).await {
                    tracing::warn!(error = %e, "invitation reminders");
                }
                // Memory freed by bursts (big lists, many connections) goes back too.
                storage::release_free_memory();
                let kept = chrono::Duration::days(s.settings.webhooks.retention_days);
                if let Err(e) =
                    crate::store::webhooks::prune(&s.db, crate::store::now() - kept).await
                {
                    tracing::warn!(error = %e, "pruning webhook deliveries");
                }
            }
        });
        Ok(Self {
            port,
            server,
            state,
            background: vec![sender, webhook_task, periodic],
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a shutdown signal; in-flight requests finish, then the database is closed.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await?;
        for task in &self.background {
            task.abort();
        }
        self.state.writer.close().await;
        let db = self.state.db.clone();
        if let Err(e) = db.close().await {
            tracing::warn!(error = %e, "closing the database");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

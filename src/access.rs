//! Who may do what: the rights table of DESIGN.md §2 (`domain::rights`), applied to the
//! caller's organizer seats and round memberships, read from the database and never from a
//! token. (A round's requests may reuse the read of an earlier one until the next commit:
//! [`Seats`].)
//!
//! Visibility comes first: a caller who neither organizes the dialogue nor takes part in the
//! round gets the 404 of a round that does not exist. A caller who can see the thing but not do
//! the action gets 403. Things a member may not even see (invitations, the audit trail) answer
//! 404 to them as well. Platform admins manage accounts only: they see no dialogue content
//! unless they are members themselves.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use sea_orm::ConnectionTrait;

use crate::auth::AuthUser;
use crate::auth::extractor::{Credential, api_token, signed_in};
use crate::domain::dialogue::Format;
use crate::domain::rights::{Action, Role, allowed};
use crate::domain::round::RoundStatus;
use crate::entities::{dialogue, participant, round};
use crate::error::{ApiError, ApiResult};
use crate::settings::Settings;
use crate::startup::AppState;
use crate::store;
use crate::store::participants::SessionSeat;

/// Account administration.
pub fn require_admin(auth: &AuthUser) -> ApiResult<()> {
    if auth.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only platform admins may manage accounts.",
        ))
    }
}

/// Creating a dialogue: platform admins and existing organizers, or anyone when the setting
/// `dialogues.open_creation` is on.
pub async fn require_dialogue_creator(
    db: &impl ConnectionTrait,
    auth: &AuthUser,
    settings: &Settings,
) -> ApiResult<()> {
    if settings.dialogues.open_creation
        || auth.user.is_admin
        || store::dialogues::organizes_any(db, auth.id()).await?
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only organizers and platform admins may create dialogues.",
        ))
    }
}

/// A round as the caller may see it.
pub struct RoundAccess {
    pub round: round::Model,
    pub dialogue: dialogue::Model,
    pub organizer: bool,
    pub membership: Option<participant::Model>,
}

impl RoundAccess {
    pub fn role(&self) -> Option<Role> {
        self.membership.as_ref().and_then(|m| m.role.parse().ok())
    }

    pub fn status(&self) -> RoundStatus {
        self.round.status.parse().unwrap_or(RoundStatus::Archived)
    }

    pub fn format(&self) -> Format {
        self.dialogue.format.parse().unwrap_or(Format::Custom)
    }

    pub fn can(&self, action: Action) -> bool {
        allowed(self.organizer, self.role(), action)
    }

    /// 403 when the caller may see the round but not do `action`.
    pub fn require(&self, action: Action) -> ApiResult<()> {
        if self.can(action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Your role in this round does not allow this.",
            ))
        }
    }

    /// 404 when the caller may not do `action`: for things members may not even see.
    pub fn require_or_hide(&self, action: Action) -> ApiResult<()> {
        if self.can(action) {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The round, if the caller organizes its dialogue or takes part in it; 404 otherwise.
pub async fn round(
    db: &impl crate::db::Fetch,
    auth: &AuthUser,
    round_id: &str,
) -> ApiResult<RoundAccess> {
    visible(store::participants::round_seat(db, round_id, auth.id()).await?)
}

/// The round as the seat shows it; the 404 of a missing round when the caller has no seat.
fn visible(seat: Option<store::participants::RoundSeat>) -> ApiResult<RoundAccess> {
    let store::participants::RoundSeat {
        round,
        dialogue,
        organizer,
        membership,
    } = seat.ok_or(ApiError::NotFound)?;
    if !organizer && membership.is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(RoundAccess {
        round,
        dialogue,
        organizer,
        membership,
    })
}

/// The signed-in caller and the round of the path's `{round_id}` as they may see it, as a
/// handler argument: [`AuthUser`] followed by [`round`], with the same answers (401 before
/// 404), in one read for session tokens (`store::participants::session_and_seat`).
pub struct RoundCaller {
    pub auth: AuthUser,
    pub access: RoundAccess,
}

impl FromRequest for RoundCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = Credential::of(req);
        let round_id = req.match_info().get("round_id").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or(ApiError::Internal)?;
            let credential = credential.ok_or(ApiError::Unauthorized)?;
            // Only routes under /rounds/{round_id} take this argument.
            let round_id = round_id.ok_or(ApiError::Internal)?;
            let (auth, seat) = match credential {
                Credential::ApiToken {
                    token,
                    method,
                    pattern,
                } => {
                    let auth = api_token(&state, &token, &method, pattern.as_deref()).await?;
                    let seat = store::participants::round_seat(&state.reader, &round_id, auth.id())
                        .await?;
                    (auth, seat)
                }
                Credential::Session(token) => {
                    let claims = state.tokens.verify(&token).ok_or(ApiError::Unauthorized)?;
                    let key = Seats::key(&round_id, &claims.sub, &claims.sid);
                    let found = match state.seats.get(&key) {
                        Some(kept) => kept,
                        None => {
                            let at = state.seats.count();
                            let found = store::participants::session_and_seat(
                                &state.reader,
                                &round_id,
                                &claims.sub,
                                &claims.sid,
                            )
                            .await?
                            .map(Arc::new)
                            .ok_or(ApiError::Unauthorized)?;
                            state.seats.put(key, at, Arc::clone(&found));
                            found
                        }
                    };
                    let SessionSeat {
                        user,
                        session,
                        seat,
                    } = SessionSeat::clone(&found);
                    (signed_in(&claims, user, session)?, seat)
                }
            };
            Ok(RoundCaller {
                auth,
                access: visible(seat)?,
            })
        })
    }
}

/// Reads of a session, its account and their seat in a round (`session_and_seat`) kept by this
/// node, so that the requests of a round in session do not each read them again.
///
/// A kept read serves only while no commit has been made through the pool since it was read
/// (`db::commits`): revoking a session, disabling an account, changing a seat or the round is
/// seen by the very next request. A commit by another process is not counted, so a read is also
/// kept for at most [`SEAT_TTL`]. What the read decides is judged again at every use: expiry,
/// revocation, the token's version, visibility and rights. On PostgreSQL nothing is kept: other
/// nodes commit to the same database unseen.
pub struct Seats {
    /// `None`: nothing counts this database's commits, so nothing is kept.
    commits: Option<crate::db::commits::Count>,
    kept: Mutex<HashMap<String, Seat>>,
}

/// A kept read: the commit count it was read under, when, and what it found.
struct Seat {
    commits: u64,
    read_at: Instant,
    found: Arc<SessionSeat>,
}

/// How long a read is kept at most: how late a change made by another process can be seen.
pub const SEAT_TTL: Duration = Duration::from_secs(1);

/// Reads kept at most: when full, the map starts again empty.
const SEATS_KEPT: usize = 4096;

impl Seats {
    pub fn new(commits: Option<crate::db::commits::Count>) -> Self {
        Seats {
            commits,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The key of one session's seat in one round. A verified token's ids hold no newline, so
    /// the last two parts are always the token's, and no round id can make two keys meet.
    fn key(round_id: &str, user_id: &str, session_id: &str) -> String {
        format!("{round_id}\n{user_id}\n{session_id}")
    }

    /// The commit count to keep a read under: taken before the read starts, so the read is at
    /// least as new as every commit counted.
    fn count(&self) -> u64 {
        self.commits.map_or(0, |c| c.load(Ordering::Acquire))
    }

    fn get(&self, key: &str) -> Option<Arc<SessionSeat>> {
        let commits = self.commits?.load(Ordering::Acquire);
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.get(key)
            .filter(|seat| seat.commits == commits && seat.read_at.elapsed() < SEAT_TTL)
            .map(|seat| Arc::clone(&seat.found))
    }

    fn put(&self, key: String, commits: u64, found: Arc<SessionSeat>) {
        if self.commits.is_none() || self.count() != commits {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= SEATS_KEPT && !kept.contains_key(&key) {
            kept.clear();
        }
        let read_at = Instant::now();
        kept.insert(
            key,
            Seat {
                commits,
                read_at,
                found,
            },
        );
    }
}

/// A dialogue as the caller may see it.
pub struct DialogueAccess {
    pub dialogue: dialogue::Model,
    pub organizer: bool,
}

impl DialogueAccess {
    /// 403 for members: they see the dialogue but do not run it.
    pub fn require_organizer(&self) -> ApiResult<()> {
        if self.organizer {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "Only the dialogue's organizers may do this.",
            ))
        }
    }

    /// 404 for members: for things only organizers see.
    pub fn require_organizer_or_hide(&self) -> ApiResult<()> {
        if self.organizer {
            Ok(())
        } else {
            Err(ApiError::NotFound)
        }
    }
}

/// The dialogue, if the caller organizes it or takes part in one of its rounds; 404 otherwise.
pub async fn dialogue(
    db: &impl ConnectionTrait,
    auth: &AuthUser,
    dialogue_id: &str,
) -> ApiResult<DialogueAccess> {
    let dialogue = store::dialogues::find(db, dialogue_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let organizer = store::dialogues::is_organizer(db, dialogue_id, auth.id()).await?;
    if !organizer && !store::dialogues::is_member(db, dialogue_id, auth.id()).await? {
        return Err(ApiError::NotFound);
    }
    Ok(DialogueAccess {
        dialogue,
        organizer,
    })
}

//! `backchannel demo`: a realistic Neemrana-style dialogue to look around in. Two rounds (the
//! first concluded with its record, the second in session), both delegations with a co-chair
//! each, a rapporteur, a published agenda whose unfinished items were carried into round 2,
//! released shared notes, summaries and an adopted joint statement. Every account gets one
//! generated password, printed once.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use secrecy::ExposeSecret;

use crate::auth::password::Passwords;
use crate::auth::tokens::new_opaque_token;
use crate::crypto::Cipher;
use crate::domain::account::NewAccount;
use crate::domain::agenda::{ItemStatus, VersionItem};
use crate::domain::dialogue::{Format, Rule, Side};
use crate::domain::round::RoundStatus;
use crate::settings::Settings;
use crate::startup::open_database;
use crate::store;

pub struct Login {
    pub email: String,
    pub role: String,
}

/// Seeds the demo into the configured (empty) database; returns the shared password and logins.
pub async fn seed(settings: &Settings) -> Result<(String, Vec<Login>), String> {
    let db = open_database(settings).await.map_err(|e| e.to_string())?;
    if !store::users::list(&db, None, 1)
        .await
        .map_err(|e| e.to_string())?
        .is_empty()
    {
        return Err("the database already has accounts; run the demo on a fresh data directory (BACKCHANNEL_STORAGE__DATA_DIR)".into());
    }
    let keys = crate::storage::Keys::load_or_generate(settings).map_err(|e| e.to_string())?;
    let cipher = Cipher::new(&keys.notes).map_err(|e| e.to_string())?;
    let passwords = Passwords::new(&settings.auth)?;
    let password = crate::storage::random_b64(15).expose_secret().to_owned();
    let hash = passwords
        .hash(password.clone().into())
        .await
        .map_err(|e| e.to_string())?;
    let e = |e: sea_orm::DbErr| e.to_string();

    let mut logins = Vec::new();
    let mut account = |email: &str, name: &str, affiliation: &str, admin: bool, role: &str| {
        logins.push(Login {
            email: email.into(),
            role: role.into(),
        });
        NewAccount::parse(email, name, Some(affiliation), admin).map(|a| (a, hash.clone()))
    };
    let people = [
        (
            "admin@demo.example",
            "Platform Admin",
            "Convening Institute",
            true,
            "platform admin",
        ),
        (
            "organizer@demo.example",
            "Leela Menon",
            "Convening Institute",
            false,
            "organizer",
        ),
        (
            "chair.india@demo.example",
            "Arvind Raghavan",
            "Delhi Policy Forum",
            false,
            "co-chair, India",
        ),
        (
            "chair.pakistan@demo.example",
            "Sameena Qadir",
            "Lahore Institute of Peace",
            false,
            "co-chair, Pakistan",
        ),
        (
            "rapporteur@demo.example",
            "Tomas Lindqvist",
            "Nordic Mediation Centre",
            false,
            "rapporteur",
        ),
        (
            "delegate.india@demo.example",
            "Kavita Bhatt",
            "Mumbai Maritime Studies",
            false,
            "delegate, India",
        ),
        (
            "delegate.pakistan@demo.example",
            "Farhan Yusuf",
            "Karachi Water Council",
            false,
            "delegate, Pakistan",
        ),
        (
            "observer@demo.example",
            "Noor Haddad",
            "Independent",
            false,
            "observer",
        ),
    ];
    let mut ids = Vec::new();
    for (email, name, aff, admin, role) in people {
        let (a, h) = account(email, name, aff, admin, role).map_err(|e| e.to_string())?;
        ids.push(store::users::create(&db, a, h).await.map_err(e)?.id);
    }
    let (organizer, chair_in, chair_pk, rapporteur, del_in, del_pk, observer) = (
        &ids[1], &ids[2], &ids[3], &ids[4], &ids[5], &ids[6], &ids[7],
    );

    let side = |key: &str, name: &str| Side {
        key: key.into(),
        name: name.into(),
        country: Some(name.into()),
        delegation_limit: 8,
        neutral: false,
    };
    let d = store::dialogues::create(
        &db,
        store::dialogues::NewDialogue {
            name: "Neemrana Dialogue".into(),
            description: Some("A Track II dialogue between India and Pakistan, held under the Chatham House Rule.".into()),
            format: Format::Neemrana,
            parity_tolerance: 1,
            rule: Rule::ChathamHouse,
            sides: vec![side("india", "India"), side("pakistan", "Pakistan")],
        },
        organizer,
    )
    .await
    .map_err(e)?;

    let today = Utc::now().date_naive();
    let round = |title: &str, city: &str, country: &str, tz: &str, start: NaiveDate| {
        store::rounds::NewRound {
            title: title.into(),
            venue_name: None,
            venue_city: Some(city.into()),
            venue_country: Some(country.into()),
            timezone: tz.into(),
            starts_on: start,
            ends_on: start + Duration::days(2),
            rule: Rule::ChathamHouse.as_str().into(),
        }
    };
    let r1 = store::rounds::create(
        &db,
        &d.id,
        round(
            "Round 1",
            "Neemrana",
            "India",
            "Asia/Kolkata",
            today - Duration::days(120),
        ),
    )
    .await
    .map_err(e)?;
    let r2 = store::rounds::create(
        &db,
        &d.id,
        round("Round 2", "Bhurban", "Pakistan", "Asia/Karachi", today),
    )
    .await
    .map_err(e)?;
    use crate::domain::rights::Role::*;
    for r in [&r1, &r2] {
        for (u, side, role) in [
            (chair_in, "india", CoChair),
            (chair_pk, "pakistan", CoChair),
            (rapporteur, "india", Rapporteur),
            (del_in, "india", Delegate),
            (del_pk, "pakistan", Delegate),
            (observer, "pakistan", Observer),
        ] {
            store::participants::add(&db, &r.id, u, side, role)
                .await
                .map_err(e)?;
        }
    }

    // Round 1's agenda, published, discussed and concluded.
    let local = |r: &crate::entities::round::Model, day: i64, h: u32| {
        let tz: chrono_tz::Tz = r.timezone.parse().unwrap_or(chrono_tz::UTC);
        let date = r.starts_on + Duration::days(day);
        tz.from_local_datetime(&date.and_hms_opt(h, 0, 0).unwrap_or_default())
            .single()
            .map(|t| t.with_timezone(&Utc))
    };
    let topics_of = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let plan = [
        (
            "Nuclear confidence-building measures",
            vec!["security", "nuclear"],
            0,
            9,
        ),
        ("Trade and connectivity", vec!["trade"], 0, 11),
        ("The Indus Waters Treaty", vec!["water"], 1, 9),
        (
            "People-to-people contacts",
            vec!["people-to-people-contacts"],
            1,
            11,
        ),
    ];
    let mut r1_items = Vec::new();
    for (title, topics, day, hour) in &plan {
        let item = store::agenda::create(
            &db,
            &r1.id,
            store::agenda::NewItem {
                lineage_id: None,
                title: (*title).into(),
                description: None,
                kind: "session".into(),
                starts_at: local(&r1, *day, *hour),
                ends_at: local(&r1, *day, *hour + 1),
                topics: topics_of(topics),
                leads: vec![],
            },
        )
        .await
        .map_err(e)?;
        r1_items.push(item);
    }
    publish(&db, &r1.id).await?;
    let outcomes = [
        (
            ItemStatus::Concluded,
            "Both sides favour reviving the hotline between the military operations directorates.",
        ),
        (
            ItemStatus::Concluded,
            "A working group on trade facilitation at the land border will report to the next round.",
        ),
        (
            ItemStatus::Deferred,
            "Needs hydrological data from both commissions; carried to round 2.",
        ),
        (
            ItemStatus::Deferred,
            "Visa facilitation for scholars to be taken up with more preparation.",
        ),
    ];
    let notes = [
        "One view held that a hotline is only useful if it is used in calm times too.",
        "It was suggested that pharmaceutical trade could be a first step.",
        "A participant noted that data sharing on river flows lapsed years ago.",
        "Scholars' visas were described as the least controversial place to start.",
    ];
    for (i, item) in r1_items.iter().enumerate() {
        let item_id = item.item.id.clone();
        let current = store::agenda::find(&db, &item_id)
            .await
            .map_err(e)?
            .ok_or("item vanished")?;
        store::agenda::set_status(&db, &current.item, ItemStatus::InDiscussion, None)
            .await
            .map_err(e)?;
        let note_id = uuid::Uuid::new_v4().to_string();
        let (_, key_hash) = new_opaque_token();
        let sealed = cipher.seal(notes[i].as_bytes(), note_id.as_bytes());
        store::notes::create_chatham(
            &crate::db::Writer::Pool(db.clone()),
            note_id,
            &r1.id,
            Some(item_id.clone()),
            sealed,
            key_hash,
        )
        .await
        .map_err(e)?;
        let current = store::agenda::find(&db, &item_id)
            .await
            .map_err(e)?
            .ok_or("item vanished")?;
        let (status, outcome) = outcomes[i];
        store::agenda::set_status(
            &db,
            &current.item,
            status,
            Some(cipher.seal(outcome.as_bytes(), item_id.as_bytes())),
        )
        .await
        .map_err(e)?;
        if status == ItemStatus::Concluded {
            let summary = format!(
                "The discussion on {} was frank and constructive.",
                item.item.title.to_lowercase()
            );
            store::notes::put_summary(
                &db,
                &item_id,
                cipher.seal(summary.as_bytes(), item_id.as_bytes()),
            )
            .await
            .map_err(e)?;
        }
    }
    let statement = "The participants agreed that the dialogue should meet again within six months, and that working groups on trade and on water would report to the next round.";
    let s = store::notes::put_statement(
        &db,
        &r1.id,
        cipher.seal(statement.as_bytes(), r1.id.as_bytes()),
    )
    .await
    .map_err(e)?;
    for side in ["india", "pakistan"] {
        store::notes::approve(&db, &r1.id, s.version, side)
            .await
            .map_err(e)?;
    }
    store::notes::set_adopted(&db, &r1.id).await.map_err(e)?;
    for (from, to) in [
        (RoundStatus::Draft, RoundStatus::Scheduled),
        (RoundStatus::Scheduled, RoundStatus::InSession),
        (RoundStatus::InSession, RoundStatus::Concluded),
    ] {
        store::rounds::set_status(&db, &r1.id, from, to)
            .await
            .map_err(e)?;
    }
    store::notes::release(&db, &r1.id, None).await.map_err(e)?;

    // Round 2: the deferred items carried forward, a new one, published and in session.
    for item in &r1_items[2..] {
        store::agenda::create(
            &db,
            &r2.id,
            store::agenda::NewItem {
                lineage_id: Some(item.item.lineage_id.clone()),
                title: item.item.title.clone(),
                description: None,
                kind: "session".into(),
                starts_at: None,
                ends_at: None,
                topics: item.topics.clone(),
                leads: vec![],
            },
        )
        .await
        .map_err(e)?;
    }
    store::agenda::create(
        &db,
        &r2.id,
        store::agenda::NewItem {
            lineage_id: None,
            title: "Cyber norms".into(),
            description: Some("Restraint on critical infrastructure.".into()),
            kind: "session".into(),
            starts_at: local(&r2, 0, 9),
            ends_at: local(&r2, 0, 11),
            topics: topics_of(&["cyber"]),
            leads: vec![],
        },
    )
    .await
    .map_err(e)?;
    publish(&db, &r2.id).await?;
    for (from, to) in [
        (RoundStatus::Draft, RoundStatus::Scheduled),
        (RoundStatus::Scheduled, RoundStatus::InSession),
    ] {
        store::rounds::set_status(&db, &r2.id, from, to)
            .await
            .map_err(e)?;
    }
    db.close().await.map_err(|e| e.to_string())?;
    Ok((password, logins))
}

async fn publish(db: &sea_orm::DatabaseConnection, round_id: &str) -> Result<(), String> {
    let items: Vec<VersionItem> = store::agenda::list(db, round_id)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|i| VersionItem {
            id: i.item.id,
            lineage_id: i.item.lineage_id,
            position: i.item.position,
            title: i.item.title,
            description: i.item.description,
            kind: i
                .item
                .kind
                .parse()
                .unwrap_or(crate::domain::agenda::ItemKind::Session),
            topics: i.topics,
            starts_at: i.item.starts_at,
            ends_at: i.item.ends_at,
        })
        .collect();
    store::agenda::publish(db, round_id, &items)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

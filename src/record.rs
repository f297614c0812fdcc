//! The non-attributed record of a round: its agenda (as published) with statuses and outcomes,
//! the released chatham notes grouped by item, the rapporteur's summaries and the joint
//! statement with the sides that approved it. It carries no roster, no attendee count and no
//! time finer than the date. Before it leaves the service the attribution guard reads all of
//! it once more, with the round's current roster: a hit (say, a participant who joined after a
//! note was released) refuses the export rather than leak.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use crate::crypto::Cipher;
use crate::error::{ApiError, ApiResult};
use crate::store;

#[derive(Debug, Serialize, ToSchema)]
pub struct Record {
    pub dialogue: String,
    pub round: RecordRound,
    pub agenda: Vec<RecordItem>,
    /// Released notes not tied to an agenda item.
    pub general_notes: Vec<String>,
    pub statement: Option<RecordStatement>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordRound {
    pub sequence: i32,
    pub title: String,
    pub city: Option<String>,
    pub country: Option<String>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordItem {
    pub position: i32,
    pub title: String,
    pub kind: String,
    pub topics: Vec<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub summary: Option<String>,
    /// Released chatham notes on this item, in id order.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordStatement {
    pub version: i32,
    pub body: String,
    pub adopted: bool,
    pub approved_sides: Vec<String>,
}

fn open(cipher: &Cipher, key_id: &str, sealed: &str, aad: &str) -> ApiResult<String> {
    let clear = cipher
        .open(key_id, sealed, aad.as_bytes())
        .map_err(|e| ApiError::internal("open sealed text", e))?;
    String::from_utf8(clear).map_err(|e| ApiError::internal("sealed text", e))
}

/// The sides whose co-chair must approve the statement: the dialogue's delegations.
pub async fn required_sides(
    db: &impl ConnectionTrait,
    dialogue_id: &str,
) -> ApiResult<Vec<String>> {
    Ok(store::dialogues::sides(db, dialogue_id)
        .await?
        .into_iter()
        .filter(|s| !s.neutral)
        .map(|s| s.key)
        .collect())
}

/// Builds the record and checks it with the attribution guard.
pub async fn build(
    db: &impl ConnectionTrait,
    cipher: &Cipher,
    round_id: &str,
) -> ApiResult<Record> {
    let round = store::rounds::find(db, round_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let dialogue = store::dialogues::find(db, &round.dialogue_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let live: HashMap<String, store::agenda::Item> = store::agenda::list(db, round_id)
        .await?
        .into_iter()
        .map(|i| (i.item.id.clone(), i))
        .collect();
    let published = match store::agenda::latest_version(db, round_id).await? {
        Some(v) => store::agenda::snapshot_items(&v),
        None => vec![],
    };
    let mut notes_by_item: HashMap<Option<String>, Vec<String>> = HashMap::new();
    for n in store::notes::all_released(db, round_id).await? {
        let body = open(cipher, &n.key_id, &n.body_sealed, &n.id)?;
        notes_by_item
            .entry(n.agenda_item_id)
            .or_default()
            .push(body);
    }
    let mut agenda = Vec::new();
    for p in published {
        let Some(item) = live.get(&p.id) else {
            continue;
        };
        let outcome = match (&item.item.outcome_sealed, &item.item.outcome_key_id) {
            (Some(s), Some(k)) => Some(open(cipher, k, s, &item.item.id)?),
            _ => None,
        };
        let summary = match store::notes::find_summary(db, &item.item.id).await? {
            Some(s) => Some(open(cipher, &s.key_id, &s.body_sealed, &s.agenda_item_id)?),
            None => None,
        };
        agenda.push(RecordItem {
            position: p.position,
            title: p.title,
            kind: p.kind.as_str().to_owned(),
            topics: p.topics,
            status: item.item.status.clone(),
            outcome,
            summary,
            notes: notes_by_item.remove(&Some(p.id)).unwrap_or_default(),
        });
    }
    // Notes on items that are not (or no longer) on the published agenda join the general ones.
    let mut general_notes = notes_by_item.remove(&None).unwrap_or_default();
    let mut rest: Vec<(Option<String>, Vec<String>)> = notes_by_item.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, notes) in rest {
        general_notes.extend(notes);
    }
    let statement = match store::notes::find_statement(db, round_id).await? {
        Some(s) => Some(RecordStatement {
            body: open(cipher, &s.key_id, &s.body_sealed, &s.round_id)?,
            approved_sides: store::notes::approved_sides(db, round_id, s.version).await?,
            version: s.version,
            adopted: s.adopted,
        }),
        None => None,
    };
    let record = Record {
        dialogue: dialogue.name,
        round: RecordRound {
            sequence: round.sequence,
            title: round.title,
            city: round.venue_city,
            country: round.venue_country,
            starts_on: round.starts_on,
            ends_on: round.ends_on,
            status: round.status,
        },
        agenda,
        general_notes,
        statement,
    };
    let ctx = crate::attribution::context(db, round_id, &dialogue.id).await?;
    let mut risky: Vec<String> = record
        .texts()
        .filter(|(_, t)| !crate::attribution::spans(&ctx, t).is_empty())
        .map(|(part, _)| part)
        .collect();
    if !risky.is_empty() {
        risky.dedup();
        return Err(ApiError::Conflict {
            code: "attribution_risk",
            detail: "Part of the record could identify a participant under the round's current roster; it is not exported. Whoever holds the text can edit or delete it: the edit key's holder for a note, the organizers for a title.".into(),
            // Where, never what: the parts name no note and repeat no word of the text.
            extra: Some(serde_json::json!({ "parts": risky })),
        });
    }
    Ok(record)
}

impl Record {
    /// Every piece of text in the record that is not a date or a status, with the part of the
    /// record it is in ("round", "agenda item 2", "general notes", "statement"): the titles
    /// and topics organizers wrote as well as the notes, summaries, outcomes and the
    /// statement. An agenda item titled after a person would attribute the notes under it.
    fn texts(&self) -> impl Iterator<Item = (String, &str)> {
        let round = [Some(&self.dialogue), Some(&self.round.title)]
            .into_iter()
            .chain([self.round.city.as_ref(), self.round.country.as_ref()])
            .flatten()
            .map(|t| ("round".to_owned(), t.as_str()));
        let items = self.agenda.iter().flat_map(|i| {
            let part = format!("agenda item {}", i.position);
            std::iter::once(&i.title)
                .chain(&i.topics)
                .chain(&i.outcome)
                .chain(&i.summary)
                .chain(&i.notes)
                .map(move |t| (part.clone(), t.as_str()))
        });
        let general = self
            .general_notes
            .iter()
            .map(|t| ("general notes".to_owned(), t.as_str()));
        let statement = self
            .statement
            .iter()
            .map(|s| ("statement".to_owned(), s.body.as_str()));
        round.chain(items).chain(general).chain(statement)
    }

    pub fn to_markdown(&self) -> String {
        let mut md = format!("# {} — {}\n\n", self.dialogue, self.round.title);
        let place = [self.round.city.as_deref(), self.round.country.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        md.push_str(&format!(
            "Round {} · {} to {}{} · {}\n\n",
            self.round.sequence,
            self.round.starts_on,
            self.round.ends_on,
            if place.is_empty() {
                String::new()
            } else {
                format!(" · {place}")
            },
            self.round.status.replace('_', " "),
        ));
        md.push_str("_Held under the Chatham House Rule: the information may be used, but nothing here may be attributed._\n\n## Agenda\n\n");
        if self.agenda.is_empty() {
            md.push_str("No published agenda.\n\n");
        }
        for item in &self.agenda {
            md.push_str(&format!(
                "### {}. {} ({})\n\n",
                item.position,
                item.title,
                item.status.replace('_', " ")
            ));
            if !item.topics.is_empty() {
                md.push_str(&format!("Topics: {}\n\n", item.topics.join(", ")));
            }
            if let Some(o) = &item.outcome {
                md.push_str(&format!("**Outcome.** {o}\n\n"));
            }
            if let Some(s) = &item.summary {
                md.push_str(&format!("**Summary.** {s}\n\n"));
            }
            for n in &item.notes {
                md.push_str(&format!("- {}\n", n.replace('\n', "\n  ")));
            }
            if !item.notes.is_empty() {
                md.push('\n');
            }
        }
        if !self.general_notes.is_empty() {
            md.push_str("## Other notes\n\n");
            for n in &self.general_notes {
                md.push_str(&format!("- {}\n", n.replace('\n', "\n  ")));
            }
            md.push('\n');
        }
        md.push_str("## Joint statement\n\n");
        match &self.statement {
            None => md.push_str("No statement.\n"),
            Some(s) => {
                let state = if s.adopted {
                    "adopted".to_owned()
                } else {
                    format!(
                        "draft, approved by: {}",
                        if s.approved_sides.is_empty() {
                            "no side yet".into()
                        } else {
                            s.approved_sides.join(", ")
                        }
                    )
                };
                md.push_str(&format!("Version {} ({state})\n\n{}\n", s.version, s.body));
            }
        }
        md
    }
}

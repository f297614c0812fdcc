//! Dialogue formats and their presets, sides, and the confidentiality rule.

use std::collections::HashSet;
use std::str::FromStr;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::FieldError;

use super::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Bilateral, a co-chair per side, venue alternating between the sides' countries.
    Neemrana,
    /// Bilateral with a neutral third-party convenor at a neutral venue.
    Chaophraya,
    /// Any number of sides.
    Custom,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Neemrana, Format::Chaophraya, Format::Custom];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Neemrana => "neemrana",
            Format::Chaophraya => "chaophraya",
            Format::Custom => "custom",
        }
    }
}

impl FromStr for Format {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Format::ALL.into_iter().find(|f| f.as_str() == s).ok_or(())
    }
}

/// What may be shared in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Shared notes are used freely but never attributed.
    ChathamHouse,
    /// Only private notes; nothing is shared.
    PrivateNotesOnly,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ChathamHouse => "chatham_house",
            Rule::PrivateNotesOnly => "private_notes_only",
        }
    }
}

impl FromStr for Rule {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [Rule::ChathamHouse, Rule::PrivateNotesOnly]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(())
    }
}

/// One delegation of a dialogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Side {
    pub key: String,
    pub name: String,
    pub country: Option<String>,
    pub delegation_limit: i32,
    /// A neutral side (facilitators of a third-party convenor) is outside the parity check.
    pub neutral: bool,
}

/// A side as a request gives it, before validation.
#[derive(Debug, Clone)]
pub struct SideInput {
    pub key: String,
    pub name: String,
    pub country: Option<String>,
    pub delegation_limit: Option<i64>,
    pub neutral: Option<bool>,
}

pub const DEFAULT_DELEGATION_LIMIT: i32 = 10;
pub const MAX_SIDES: usize = 12;

/// A preset as `GET /formats` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preset {
    pub key: Format,
    pub name: &'static str,
    pub description: &'static str,
    pub sides: Vec<Side>,
    pub parity_tolerance: i32,
    pub rule: Rule,
    pub venue: &'static str,
}

pub fn preset(format: Format) -> Preset {
    let side = |key: &str, name: &str, neutral: bool| Side {
        key: key.into(),
        name: name.into(),
        country: None,
        delegation_limit: if neutral { 6 } else { DEFAULT_DELEGATION_LIMIT },
        neutral,
    };
    match format {
        Format::Neemrana => Preset {
            key: format,
            name: "Neemrana",
            description: "Bilateral; a co-chair per side; the venue alternates between the two sides' countries; Chatham House Rule.",
            sides: vec![
                side("side_a", "Side A", false),
                side("side_b", "Side B", false),
            ],
            parity_tolerance: 1,
            rule: Rule::ChathamHouse,
            venue: "alternating",
        },
        Format::Chaophraya => Preset {
            key: format,
            name: "Chaophraya",
            description: "Bilateral with a neutral third-party convenor (a neutral side for facilitators) at a neutral venue; Chatham House Rule.",
            sides: vec![
                side("side_a", "Side A", false),
                side("side_b", "Side B", false),
                side("neutral", "Neutral convenor", true),
            ],
            parity_tolerance: 1,
            rule: Rule::ChathamHouse,
            venue: "neutral",
        },
        Format::Custom => Preset {
            key: format,
            name: "Custom",
            description: "Any number of sides, as given.",
            sides: vec![
                side("side_a", "Side A", false),
                side("side_b", "Side B", false),
            ],
            parity_tolerance: 1,
            rule: Rule::ChathamHouse,
            venue: "any",
        },
    }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The sides of a new dialogue of `format`: the preset's when none are given, otherwise the
/// given ones checked against the format (two delegations for the bilateral formats, plus a
/// neutral side for Chaophraya, added when missing).
pub fn sides_for(
    format: Format,
    given: Option<Vec<SideInput>>,
) -> Result<Vec<Side>, Vec<FieldError>> {
    let Some(given) = given else {
        return Ok(preset(format).sides);
    };
    let mut errors = Vec::new();
    let mut sides = Vec::new();
    let mut keys = HashSet::new();
    if given.is_empty() || given.len() > MAX_SIDES {
        errors.push(FieldError::new(
            "sides",
            format!("must list 1 to {MAX_SIDES} sides"),
        ));
    }
    for (i, s) in given.into_iter().enumerate() {
        let f = |name: &str| format!("sides[{i}].{name}");
        if !is_slug(&s.key) {
            errors.push(FieldError::new(
                f("key"),
                "must be 1–40 characters of a-z, 0-9 and _",
            ));
        } else if !keys.insert(s.key.clone()) {
            errors.push(FieldError::new(f("key"), "is used twice"));
        }
        let name = text::line(&f("name"), &s.name, 100)
            .map_err(|e| errors.push(e))
            .ok();
        let country = match s.country.as_deref() {
            Some(c) => text::line(&f("country"), c, 100)
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        let limit = s
            .delegation_limit
            .unwrap_or(DEFAULT_DELEGATION_LIMIT as i64);
        if !(1..=200).contains(&limit) {
            errors.push(FieldError::new(
                f("delegation_limit"),
                "must be between 1 and 200",
            ));
        }
        if let Some(name) = name {
            sides.push(Side {
                key: s.key,
                name,
                country,
                delegation_limit: limit.clamp(1, 200) as i32,
                neutral: s.neutral.unwrap_or(false),
            });
        }
    }
    let delegations = sides.iter().filter(|s| !s.neutral).count();
    match format {
        Format::Neemrana if delegations != 2 || sides.iter().any(|s| s.neutral) => {
            errors.push(FieldError::new(
                "sides",
                "the neemrana format has exactly two sides and no neutral side",
            ));
        }
        Format::Chaophraya
            if delegations != 2 || sides.iter().filter(|s| s.neutral).count() > 1 =>
        {
            errors.push(FieldError::new(
                "sides",
                "the chaophraya format has two delegations and one neutral side",
            ));
        }
        Format::Chaophraya if !sides.iter().any(|s| s.neutral) => {
            if keys.contains("neutral") {
                errors.push(FieldError::new(
                    "sides",
                    "the key neutral is reserved for the neutral side",
                ));
            } else {
                sides.push(
                    preset(Format::Chaophraya)
                        .sides
                        .pop()
                        .expect("the preset has a neutral side"),
                );
            }
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(sides)
    } else {
        Err(errors)
    }
}

/// Neemrana rounds alternate between the two sides' countries: after a round in one side's
/// country, the next is suggested in the other's; the first in the first side's.
pub fn suggest_venue_country(
    format: Format,
    sides: &[Side],
    last_venue_country: Option<&str>,
) -> Option<String> {
    if format != Format::Neemrana {
        return None;
    }
    let countries: Vec<&str> = sides
        .iter()
        .filter(|s| !s.neutral)
        .filter_map(|s| s.country.as_deref())
        .collect();
    let [first, second] = countries[..] else {
        return None;
    };
    match last_venue_country {
        Some(last) if last.eq_ignore_ascii_case(first) => Some(second.to_owned()),
        _ => Some(first.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(key: &str, country: Option<&str>) -> SideInput {
        SideInput {
            key: key.into(),
            name: key.to_uppercase(),
            country: country.map(Into::into),
            delegation_limit: Some(8),
            neutral: None,
        }
    }

    #[test]
    fn a_format_without_sides_gets_its_preset() {
        assert_eq!(sides_for(Format::Neemrana, None).unwrap().len(), 2);
        let c = sides_for(Format::Chaophraya, None).unwrap();
        assert_eq!(c.iter().filter(|s| s.neutral).count(), 1);
    }

    #[test]
    fn chaophraya_gets_its_neutral_side_added() {
        let sides = sides_for(
            Format::Chaophraya,
            Some(vec![input("india", None), input("pakistan", None)]),
        )
        .unwrap();
        assert_eq!(sides.len(), 3);
        assert!(sides[2].neutral && sides[2].key == "neutral");
    }

    #[test]
    fn neemrana_needs_exactly_two_sides_and_keys_must_be_unique_slugs() {
        assert!(sides_for(Format::Neemrana, Some(vec![input("a", None)])).is_err());
        assert!(
            sides_for(
                Format::Neemrana,
                Some(vec![input("a", None), input("a", None)])
            )
            .is_err()
        );
        assert!(sides_for(Format::Custom, Some(vec![input("Bad Key", None)])).is_err());
        assert!(
            sides_for(
                Format::Custom,
                Some(vec![input("a", None), input("b", None), input("c", None)])
            )
            .is_ok()
        );
    }

    #[test]
    fn neemrana_venues_alternate_between_the_sides_countries() {
        let sides = sides_for(
            Format::Neemrana,
            Some(vec![
                input("india", Some("India")),
                input("pakistan", Some("Pakistan")),
            ]),
        )
        .unwrap();
        assert_eq!(
            suggest_venue_country(Format::Neemrana, &sides, None).as_deref(),
            Some("India")
        );
        assert_eq!(
            suggest_venue_country(Format::Neemrana, &sides, Some("India")).as_deref(),
            Some("Pakistan")
        );
        assert_eq!(
            suggest_venue_country(Format::Neemrana, &sides, Some("Pakistan")).as_deref(),
            Some("India")
        );
        assert_eq!(
            suggest_venue_country(Format::Chaophraya, &sides, Some("India")),
            None
        );
    }
}

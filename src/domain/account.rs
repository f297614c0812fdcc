//! Account fields.

use crate::error::{ApiError, FieldError};

use super::text;

/// An email address: trimmed, at most 254 characters, one `@` with text on both sides, no
/// spaces or control characters. Unique case-insensitively through `key()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        let value = value.trim();
        let bad = || FieldError::new(field, "must be an email address");
        if value.is_empty() || value.chars().count() > 254 {
            return Err(bad());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        if value.matches('@').count() != 1 {
            return Err(bad());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
        {
            return Err(bad());
        }
        Ok(Self(value.to_owned()))
    }

    /// The case-insensitive key: unique per account.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The key an email would have, for look-ups with unvalidated input.
pub fn email_key(value: &str) -> String {
    value.trim().to_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        text::line(field, value, 200).map(Self)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affiliation(String);

impl Affiliation {
    pub fn parse(field: &str, value: &str) -> Result<Self, FieldError> {
        text::line(field, value, 200).map(Self)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Everything needed to create an account except the password hash.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub email: Email,
    pub display_name: DisplayName,
    pub affiliation: Option<Affiliation>,
    pub is_admin: bool,
}

impl NewAccount {
    pub fn parse(
        email: &str,
        display_name: &str,
        affiliation: Option<&str>,
        is_admin: bool,
    ) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let email = Email::parse("email", email)
            .map_err(|e| errors.push(e))
            .ok();
        let name = DisplayName::parse("display_name", display_name)
            .map_err(|e| errors.push(e))
            .ok();
        let affiliation = match affiliation {
            Some(a) => Affiliation::parse("affiliation", a)
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        match (email, name) {
            (Some(email), Some(display_name)) if errors.is_empty() => Ok(Self {
                email,
                display_name,
                affiliation,
                is_admin,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_keyed_case_insensitively() {
        let e = Email::parse("email", "  Aisha.Khan@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Aisha.Khan@Example.ORG");
        assert_eq!(e.key(), "aisha.khan@example.org");
        for bad in [
            "",
            "no-at",
            "@example.org",
            "a@b",
            "a b@example.org",
            "a@example.org.",
            "a@@x.org",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_account_reports_every_bad_field() {
        match NewAccount::parse("nope", "", Some("\0"), false) {
            Err(ApiError::Validation(errors)) => {
                let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(fields, ["email", "display_name", "affiliation"]);
            }
            other => panic!("{other:?}"),
        }
    }
}

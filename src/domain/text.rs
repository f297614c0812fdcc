//! Text limits shared by every field: a length in characters, and no NUL or control characters
//! (line breaks and tabs are allowed only in multi-line fields).

use crate::error::FieldError;

/// A single-line field: trimmed, 1..=max characters, no control characters. The limit counts
/// the characters sent, blank ones too, as the OpenAPI document's `maxLength` does.
pub fn line(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A multi-line field: kept byte for byte, 1..=max characters, no control characters but
/// line breaks and tabs.
pub fn body(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_and_control_characters_are_refused() {
        assert!(line("t", "a\0b", 10).is_err());
        assert!(line("t", "a\u{7}b", 10).is_err());
        assert!(body("b", "a\u{1b}b", 10).is_err());
        assert!(body("b", "line\nline\ttab", 20).is_ok());
    }

    #[test]
    fn lengths_count_characters_and_unicode_round_trips() {
        let s = "नीमराना संवाद — Chaophraya ✓";
        assert_eq!(line("t", s, 200).unwrap(), s);
        assert!(line("t", &"ü".repeat(201), 200).is_err());
        assert!(line("t", "   ", 200).is_err());
        assert!(line("t", &format!(" {} ", "a".repeat(199)), 200).is_err());
    }
}

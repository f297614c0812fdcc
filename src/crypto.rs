//! Sealing data at rest.
//!
//! Note bodies and queued outbox mail are the most sensitive things the service stores: what
//! was said under the Chatham House Rule, invitation links that carry a secret token, and the
//! addresses of invitees. They are encrypted before they reach the database, so a copied
//! database file, a backup or a leaked dump reveals nothing without the key, which lives apart
//! in the data directory (`notes.key`, see [`crate::storage::Keys`]).
//!
//! The cipher is XChaCha20-Poly1305 (authenticated; its 24-byte nonce is random per seal, so
//! random nonces never collide in practice). Callers bind each sealed value to its row with
//! associated data (for example the row id), so a sealed value copied into another row does not
//! open. (An agenda item's outcome and its summary are both bound to the item's id, so one of
//! them copied into the other's column would open; both are read by the same members.) Every
//! row stores the id of the key that sealed it: the key ring's first key seals, every key
//! opens, so a new key can be put first and old rows still open until they are rewritten.
//!
//! Errors never carry plaintext, keys or sealed bytes.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretSlice};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A key ring: the first key seals, every key opens. Cloning is cheap (the ring is shared).
#[derive(Clone)]
pub struct Cipher {
    ring: Arc<[(String, XChaCha20Poly1305)]>,
}

impl fmt::Debug for Cipher {
    /// Key ids only, never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher")
            .field(
                "key_ids",
                &self.ring.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// No key with the requested id is in the ring (or, from [`Cipher::new`], the ring is empty).
    #[error("no key with that id in the key ring")]
    UnknownKey,
    /// The sealed value is malformed, was tampered with, or belongs to other associated data
    /// (or, from [`Cipher::new`], a key is not 32 bytes).
    #[error("sealed data is malformed or fails authentication")]
    Corrupt,
}

impl Cipher {
    /// A ring of 32-byte keys, the first of which seals. An empty ring is refused with
    /// [`CryptoError::UnknownKey`], a key of another size or an empty key id with
    /// [`CryptoError::Corrupt`]. With duplicate ids, the first wins.
    pub fn new(keys: &[(String, SecretSlice<u8>)]) -> Result<Self, CryptoError> {
        if keys.is_empty() {
            return Err(CryptoError::UnknownKey);
        }
        let mut ring = Vec::with_capacity(keys.len());
        for (kid, key) in keys {
            let key = key.expose_secret();
            if kid.is_empty() || key.len() != KEY_LEN {
                return Err(CryptoError::Corrupt);
            }
            let aead = XChaCha20Poly1305::new_from_slice(key).map_err(|_| CryptoError::Corrupt)?;
            ring.push((kid.clone(), aead));
        }
        Ok(Self { ring: ring.into() })
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.ring[0].0
    }

    /// Seals with the current key. Returns (key id, base64url without padding of
    /// nonce ‖ ciphertext ‖ tag). The same `aad` must be given to [`Cipher::open`].
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> (String, String) {
        let (kid, aead) = &self.ring[0];
        let nonce = crate::storage::random_bytes(NONCE_LEN);
        let ciphertext = aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Fails only for messages beyond 256 GiB.
            .expect("XChaCha20-Poly1305 encryption of an in-memory value");
        let mut out = nonce;
        out.extend_from_slice(&ciphertext);
        (kid.clone(), URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed under `key_id` with the same `aad`.
    pub fn open(&self, key_id: &str, sealed: &str, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (_, aead) = self
            .ring
            .iter()
            .find(|(kid, _)| kid == key_id)
            .ok_or(CryptoError::UnknownKey)?;
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| CryptoError::Corrupt)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        aead.decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::random_bytes;

    fn key(kid: &str) -> (String, SecretSlice<u8>) {
        (kid.to_owned(), SecretSlice::from(random_bytes(KEY_LEN)))
    }

    fn cipher() -> Cipher {
        Cipher::new(&[key("k1")]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_to_the_plaintext() {
        let c = cipher();
        let (kid, sealed) = c.seal(b"off the record", b"row-1");
        assert_eq!(kid, "k1");
        assert_eq!(c.current_key_id(), "k1");
        assert!(!sealed.contains("record"));
        assert_eq!(c.open(&kid, &sealed, b"row-1").unwrap(), b"off the record");
    }

    #[test]
    fn an_empty_plaintext_round_trips() {
        let c = cipher();
        let (kid, sealed) = c.seal(b"", b"");
        assert_eq!(c.open(&kid, &sealed, b"").unwrap(), b"");
    }

    #[test]
    fn other_associated_data_fails() {
        let c = cipher();
        let (kid, sealed) = c.seal(b"secret", b"row-1");
        assert!(matches!(
            c.open(&kid, &sealed, b"row-2"),
            Err(CryptoError::Corrupt)
        ));
    }

    #[test]
    fn a_flipped_byte_fails() {
        let c = cipher();
        let (kid, sealed) = c.seal(b"secret", b"row-1");
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 0x01;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            assert!(
                matches!(c.open(&kid, &tampered, b"row-1"), Err(CryptoError::Corrupt)),
                "byte {i}"
            );
            raw[i] ^= 0x01;
        }
        assert!(matches!(
            c.open(&kid, "not base64!", b"row-1"),
            Err(CryptoError::Corrupt)
        ));
        assert!(matches!(
            c.open(&kid, &sealed[..20], b"row-1"),
            Err(CryptoError::Corrupt)
        ));
    }

    #[test]
    fn an_unknown_key_id_fails() {
        let c = cipher();
        let (_, sealed) = c.seal(b"secret", b"row-1");
        assert!(matches!(
            c.open("k9", &sealed, b"row-1"),
            Err(CryptoError::UnknownKey)
        ));
    }

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        let c = cipher();
        let (_, a) = c.seal(b"secret", b"row-1");
        let (_, b) = c.seal(b"secret", b"row-1");
        assert_ne!(a, b);
    }

    #[test]
    fn a_rotated_ring_opens_rows_sealed_under_the_old_key() {
        let old = key("old");
        let before = Cipher::new(std::slice::from_ref(&old)).unwrap();
        let (kid, sealed) = before.seal(b"from last year", b"row-1");

        let after = Cipher::new(&[key("new"), old]).unwrap();
        assert_eq!(after.current_key_id(), "new");
        assert_eq!(
            after.open(&kid, &sealed, b"row-1").unwrap(),
            b"from last year"
        );
        let (kid, sealed) = after.seal(b"fresh", b"row-2");
        assert_eq!(kid, "new");
        assert!(matches!(
            before.open(&kid, &sealed, b"row-2"),
            Err(CryptoError::UnknownKey)
        ));
    }

    #[test]
    fn a_bad_ring_is_refused() {
        assert!(matches!(Cipher::new(&[]), Err(CryptoError::UnknownKey)));
        let short = ("k1".to_owned(), SecretSlice::from(random_bytes(16)));
        assert!(matches!(Cipher::new(&[short]), Err(CryptoError::Corrupt)));
        let nameless = (String::new(), SecretSlice::from(random_bytes(KEY_LEN)));
        assert!(matches!(
            Cipher::new(&[nameless]),
            Err(CryptoError::Corrupt)
        ));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let text = format!("{:?}", cipher());
        assert_eq!(text, r#"Cipher { key_ids: ["k1"] }"#);
    }
}

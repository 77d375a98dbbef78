//! Key pairs: real key material, as EC2 hands it out. `CreateKeyPair` generates an RSA (2048-bit,
//! PKCS#1 PEM) or Ed25519 (OpenSSH format) private key and keeps only the public half;
//! `ImportKeyPair` takes an OpenSSH public key. Fingerprints follow AWS's rules: SHA-1 of the
//! PKCS#8 private key for created RSA keys, MD5 of the public key for imported RSA keys, and
//! base64 SHA-256 of the public key for Ed25519.
//!
//! Keys are drawn from the region's seeded random stream, so a replayed run gets the same keys:
//! they are for tests, not for guarding anything.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::Digest;

use crate::error::{ControlError, InternalError, KeyPairError};
use crate::model::key_pair::{KeyPair, KeyType};
use crate::region::Region;
use crate::state::RegionState;

fn key_error(e: impl std::fmt::Display) -> ControlError {
    InternalError::KeyGeneration(e.to_string()).into()
}

/// SSH wire encoding: a length-prefixed string.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// SSH wire encoding of a non-negative big integer.
fn put_mpint(out: &mut Vec<u8>, be: &[u8]) {
    let trimmed: &[u8] = {
        let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
        &be[start..]
    };
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v = vec![0u8];
        v.extend_from_slice(trimmed);
        put_string(out, &v);
    } else {
        put_string(out, trimmed);
    }
}

fn read_string<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = u32::from_be_bytes(input.get(..4)?.try_into().ok()?) as usize;
    let s = input.get(4..4 + len)?;
    *input = &input[4 + len..];
    Some(s)
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn wrap(text: &str, width: usize) -> String {
    text.as_bytes().chunks(width).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect()
}

/// An Ed25519 private key in OpenSSH's `openssh-key-v1` format, unencrypted.
fn openssh_ed25519_private(seed: &[u8; 32], public: &[u8; 32], comment: &str, check: u32) -> String {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    let mut private = Vec::new();
    private.extend_from_slice(&check.to_be_bytes());
    private.extend_from_slice(&check.to_be_bytes());
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, public);
    let mut secret = seed.to_vec();
    secret.extend_from_slice(public);
    put_string(&mut private, &secret);
    put_string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut out = b"openssh-key-v1\0".to_vec();
    put_string(&mut out, b"none");
    put_string(&mut out, b"none");
    put_string(&mut out, b"");
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, &blob);
    put_string(&mut out, &private);
    // OpenSSH needs the final newline to read the key back.
    format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{}-----END OPENSSH PRIVATE KEY-----\n", wrap(&B64.encode(out), 70))
}

/// A newly generated key: (private key material, public key line, fingerprint).
fn generate(
    key_type: KeyType,
    name: &str,
    rng: &mut rand::rngs::StdRng,
) -> Result<(String, String, String), ControlError> {
    match key_type {
        KeyType::Ed25519 => {
            let signing = ed25519_dalek::SigningKey::generate(rng);
            let public = signing.verifying_key().to_bytes();
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-ed25519");
            put_string(&mut blob, &public);
            let check = u32::from_be_bytes(public[..4].try_into().unwrap_or_default());
            let private = openssh_ed25519_private(&signing.to_bytes(), &public, name, check);
            let fingerprint = B64.encode(sha2::Sha256::digest(&blob));
            Ok((private, format!("ssh-ed25519 {} {name}", B64.encode(&blob)), fingerprint))
        }
        KeyType::Rsa => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::new(rng, 2048).map_err(key_error)?;
            let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).map_err(key_error)?;
            let der = key.to_pkcs8_der().map_err(key_error)?;
            let fingerprint = colon_hex(&sha1::Sha1::digest(der.as_bytes()));
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-rsa");
            put_mpint(&mut blob, &key.e().to_bytes_be());
            put_mpint(&mut blob, &key.n().to_bytes_be());
            Ok((pem.trim_end().to_string(), format!("ssh-rsa {} {name}", B64.encode(&blob)), fingerprint))
        }
    }
}

/// Parses an OpenSSH public key line; answers its type and AWS's fingerprint for an import.
fn parse_public(material: &[u8]) -> Option<(KeyType, String, String)> {
    let text = std::str::from_utf8(material).ok()?.trim();
    let mut parts = text.split_whitespace();
    let kind = parts.next()?;
    let blob = B64.decode(parts.next()?).ok()?;
    let mut rest = blob.as_slice();
    if read_string(&mut rest)? != kind.as_bytes() {
        return None;
    }
    let key_type = match kind {
        "ssh-ed25519" => {
            (read_string(&mut rest)?.len() == 32 && rest.is_empty()).then_some(())?;
            KeyType::Ed25519
        }
        "ssh-rsa" => {
            let e = read_string(&mut rest)?;
            let n = read_string(&mut rest)?;
            // 1024 to 4096 bits, as EC2 accepts.
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            (!e.is_empty() && (1024..=4096 + 8).contains(&bits) && rest.is_empty()).then_some(())?;
            KeyType::Rsa
        }
        _ => return None,
    };
    let fingerprint = match key_type {
        KeyType::Rsa => colon_hex(&md5::Md5::digest(&blob)),
        KeyType::Ed25519 => B64.encode(sha2::Sha256::digest(&blob)),
    };
    Some((key_type, format!("{kind} {}", B64.encode(&blob)), fingerprint))
}

fn check_name(name: &str) -> Result<(), ControlError> {
    if name.is_empty() || name.len() > 255 || !name.is_ascii() {
        return Err(ControlError::KeyPair(KeyPairError::InvalidKeyName(name.to_string())));
    }
    Ok(())
}

impl RegionState {
    /// Creates a key pair; answers it and its private key material (kept nowhere).
    pub(crate) fn create_key_pair(
        &mut self,
        name: &str,
        key_type: KeyType,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(KeyPair, String), ControlError> {
        check_name(name)?;
        if self.key_pairs_ref().values().any(|k| k.name == name) {
            return Err(ControlError::KeyPair(KeyPairError::Exists(name.to_string())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let (private, public_key, fingerprint) = generate(key_type, name, self.rng_mut())?;
        let key = self.keep_key_pair(name, key_type, fingerprint, public_key, tags, now_ms)?;
        Ok((key, private))
    }

    /// Stores a new key pair under a fresh `key-` id.
    fn keep_key_pair(
        &mut self,
        name: &str,
        key_type: KeyType,
        fingerprint: String,
        public_key: String,
        tags: BTreeMap<String, String>,
        created_ms: u64,
    ) -> Result<KeyPair, ControlError> {
        let id = self.random_id("key");
        let key =
            KeyPair { id: id.clone(), name: name.to_string(), key_type, fingerprint, public_key, created_ms, tags };
        self.key_pairs_mut().insert(id, key.clone());
        Ok(key)
    }

    pub(crate) fn import_key_pair(
        &mut self,
        name: &str,
        material: &[u8],
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<KeyPair, ControlError> {
        check_name(name)?;
        let (key_type, public, fingerprint) =
            parse_public(material).ok_or(ControlError::KeyPair(KeyPairError::InvalidKeyFormat))?;
        if self.key_pairs_ref().values().any(|k| k.name == name) {
            return Err(ControlError::KeyPair(KeyPairError::Exists(name.to_string())));
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.keep_key_pair(name, key_type, fingerprint, format!("{public} {name}"), tags, now_ms)
    }

    pub fn key_pairs(&self) -> Vec<KeyPair> {
        self.key_pairs_ref().values().cloned().collect()
    }

    pub fn key_pair_by_name(&self, name: &str) -> Result<&KeyPair, ControlError> {
        self.key_pairs_ref()
            .values()
            .find(|k| k.name == name)
            .ok_or_else(|| ControlError::KeyPair(KeyPairError::NotFound(name.to_string())))
    }

    /// Deletes by name or id. Like EC2, deleting a name that does not exist succeeds; an id
    /// that does not exist is an error.
    pub(crate) fn delete_key_pair(
        &mut self,
        name: Option<&str>,
        id: Option<&str>,
        dry_run: bool,
    ) -> Result<Option<KeyPair>, ControlError> {
        let found = match (id, name) {
            (Some(id), _) => Some(
                self.key_pairs_ref()
                    .get(id)
                    .cloned()
                    .ok_or_else(|| ControlError::KeyPair(KeyPairError::NotFound(id.to_string())))?,
            ),
            (None, Some(name)) => self.key_pairs_ref().values().find(|k| k.name == name).cloned(),
            (None, None) => return Err(ControlError::KeyPair(KeyPairError::Unnamed)),
        };
        if dry_run {
            return Err(ControlError::DryRun);
        }
        if let Some(k) = &found {
            self.key_pairs_mut().remove(&k.id);
        }
        Ok(found)
    }
}

impl Region {
    /// CreateKeyPair: the key pair and its private key (the only time it is seen).
    pub fn create_key_pair(
        &self,
        name: &str,
        key_type: KeyType,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(KeyPair, String), ControlError> {
        self.with_state(now_ms, |state| state.create_key_pair(name, key_type, tags, now_ms, dry_run))
    }

    /// ImportKeyPair (an OpenSSH public key).
    pub fn import_key_pair(
        &self,
        name: &str,
        material: &[u8],
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<KeyPair, ControlError> {
        self.with_state(now_ms, |state| state.import_key_pair(name, material, tags, now_ms, dry_run))
    }

    /// DeleteKeyPair, by name or id; the key pair deleted, if there was one.
    pub fn delete_key_pair(
        &self,
        name: Option<&str>,
        id: Option<&str>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<Option<KeyPair>, ControlError> {
        self.with_state(now_ms, |state| state.delete_key_pair(name, id, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_keys_are_real_and_their_public_halves_import_back() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for kind in [KeyType::Ed25519, KeyType::Rsa] {
            let (private, public, _) = generate(kind, "k", &mut rng).unwrap();
            let (parsed, _, _) = parse_public(public.as_bytes()).expect("the public key parses");
            assert_eq!(parsed, kind);
            match kind {
                KeyType::Ed25519 => {
                    assert!(private.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
                    let body: String = private.lines().filter(|l| !l.starts_with("-----")).collect();
                    let raw = B64.decode(body).unwrap();
                    assert!(raw.starts_with(b"openssh-key-v1\0"));
                }
                KeyType::Rsa => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    assert!(private.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
                    rsa::RsaPrivateKey::from_pkcs1_pem(&private).expect("a valid PKCS#1 key");
                }
            }
        }
        assert!(parse_public(b"ssh-rsa notbase64!").is_none());
        assert!(parse_public(b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==").is_none());
    }
}

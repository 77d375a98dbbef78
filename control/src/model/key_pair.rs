//! Key pairs as data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    pub id: String,
    pub name: String,
    pub key_type: KeyType,
    pub fingerprint: String,
    /// The OpenSSH public key line (`ssh-ed25519 AAAA… name`).
    pub public_key: String,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
}

impl Row for KeyPair {
    const TABLE: &'static str = "key_pairs";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// The errors of key pairs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPairError {
    #[error("key pair {0} does not exist")]
    NotFound(String),
    #[error("the request names no key pair (neither id nor name)")]
    Unnamed,
    #[error("key pair {0} already exists")]
    Exists(String),
    #[error("{0:?} is not a valid key pair name")]
    InvalidKeyName(String),
    #[error("the key is not an OpenSSH public key")]
    InvalidKeyFormat,
}

//! Secrets Manager's secrets: versions with staging labels (`AWSCURRENT`, `AWSPREVIOUS`),
//! scheduled deletion and restore, tags — and the secrets RDS manages for a DB instance's master
//! password (`ManageMasterUserPassword`), whose rotation changes the password the instance's SQL
//! endpoint takes.

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

pub const CURRENT: &str = "AWSCURRENT";
pub const PREVIOUS: &str = "AWSPREVIOUS";
/// How long a deleted secret can be restored, unless the caller says (7–30 days).
pub const DEFAULT_RECOVERY_DAYS: i64 = 30;
/// RDS rotates the secrets it manages every 7 days.
pub const RDS_ROTATION_DAYS: i64 = 7;

/// What can go wrong, in Secrets Manager's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// ResourceNotFoundException.
    #[error("{0}")]
    NotFound(String),
    /// ResourceExistsException.
    #[error("{0}")]
    Exists(String),
    /// InvalidRequestException.
    #[error("{0}")]
    InvalidRequest(String),
    /// InvalidParameterException.
    #[error("{0}")]
    InvalidParameter(String),
}

/// One version of a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretVersion {
    pub id: String,
    pub string: Option<String>,
    pub binary: Option<Vec<u8>>,
    pub stages: Vec<String>,
    pub created_ms: u64,
}

/// A secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub name: String,
    /// The six characters Secrets Manager appends to the name in the ARN.
    pub suffix: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub versions: Vec<SecretVersion>,
    pub created_ms: u64,
    pub last_changed_ms: u64,
    pub last_accessed_ms: Option<u64>,
    pub last_rotated_ms: Option<u64>,
    /// When DeleteSecret scheduled the deletion, and the day it falls due.
    pub deleted_ms: Option<u64>,
    pub deletion_due_ms: Option<u64>,
    /// `rds` for the secrets RDS manages.
    pub owning_service: Option<String>,
    pub rotation_days: Option<i64>,
    /// In the order they were given.
    pub tags: Vec<(String, String)>,
}

impl Row for Secret {
    const TABLE: &'static str = "secrets";
    type Key = String;
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl Secret {
    /// `name-XXXXXX`, the last part of the ARN.
    pub fn arn_name(&self) -> String {
        format!("{}-{}", self.name, self.suffix)
    }

    pub fn arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:secretsmanager:{region}:{account}:secret:{}", self.arn_name())
    }

    /// The version a request names (by id, by stage, else `AWSCURRENT`).
    pub fn version(&self, id: Option<&str>, stage: Option<&str>) -> Result<&SecretVersion, SecretsError> {
        let found = match (id, stage) {
            (Some(id), stage) => {
                self.versions.iter().find(|v| v.id == id && stage.is_none_or(|s| v.stages.iter().any(|x| x == s)))
            }
            (None, stage) => {
                let stage = stage.unwrap_or(CURRENT);
                self.versions.iter().find(|v| v.stages.iter().any(|s| s == stage))
            }
        };
        found.ok_or_else(|| {
            SecretsError::NotFound(format!(
                "Secrets Manager can't find the specified secret value for {}: {}",
                if id.is_some() { "VersionId" } else { "staging label" },
                id.or(stage).unwrap_or(CURRENT)
            ))
        })
    }
}

/// What GetRandomPassword asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSpec {
    pub length: i64,
    pub exclude: String,
    pub numbers: bool,
    pub punctuation: bool,
    pub uppercase: bool,
    pub lowercase: bool,
    pub space: bool,
    pub each_type: bool,
}

impl Default for PasswordSpec {
    fn default() -> Self {
        Self {
            length: 32,
            exclude: String::new(),
            numbers: true,
            punctuation: true,
            uppercase: true,
            lowercase: true,
            space: false,
            each_type: true,
        }
    }
}

/// A new value UpdateSecret brings (with the version id the caller chose, if any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewValue {
    pub string: Option<String>,
    pub binary: Option<Vec<u8>>,
    pub version_id: Option<String>,
}

/// What CreateSecret asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretSpec {
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub string: Option<String>,
    pub binary: Option<Vec<u8>>,
    pub version_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub owning_service: Option<String>,
}

fn not_found() -> SecretsError {
    SecretsError::NotFound("Secrets Manager can't find the specified secret.".into())
}

fn invalid(message: impl Into<String>) -> SecretsError {
    SecretsError::InvalidParameter(message.into())
}

/// Secrets Manager's rule for names: 1–512 of letters, digits and `/_+=.@-` (and `!` for the
/// secrets services manage, like RDS's `rds!db-…`).
fn check_name(name: &str, managed: bool) -> Result<(), SecretsError> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c) || (managed && c == '!'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ))
    }
}

fn check_value(string: &Option<String>, binary: &Option<Vec<u8>>) -> Result<(), SecretsError> {
    if string.is_some() && binary.is_some() {
        return Err(invalid(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        ));
    }
    let size = string.as_ref().map_or(0, String::len) + binary.as_ref().map_or(0, Vec::len);
    if size > 65_536 {
        return Err(invalid("The secret value can be at most 65536 bytes."));
    }
    Ok(())
}

fn check_version_id(id: &str) -> Result<(), SecretsError> {
    if (32..=64).contains(&id.len()) {
        Ok(())
    } else {
        Err(invalid("ClientRequestToken must be 32-64 characters long."))
    }
}

impl RegionState {
    /// A UUID (version 4's shape) from the region's seeded stream.
    pub(crate) fn uuid(&mut self) -> String {
        let n = self.next_random();
        let hex = format!("{n:032x}");
        format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
    }

    /// The version id a caller chose (`ClientRequestToken`, checked), or a new one.
    fn version_id_or_new(&mut self, chosen: Option<String>) -> Result<String, SecretsError> {
        match chosen {
            Some(id) => {
                check_version_id(&id)?;
                Ok(id)
            }
            None => Ok(self.uuid()),
        }
    }

    /// A secret by name, full ARN or partial ARN (without the suffix); deleted ones too.
    pub fn secret(&self, id: &str) -> Result<&Secret, SecretsError> {
        if let Some(s) = self.secrets.get(id) {
            return Ok(s);
        }
        let Some(rest) = id.strip_prefix("arn:") else { return Err(not_found()) };
        let tail = rest.split_once(":secret:").map(|(_, t)| t).ok_or_else(not_found)?;
        self.secrets.values().find(|s| s.arn_name() == tail || s.name == tail).ok_or_else(not_found)
    }

    /// A secret that is not scheduled for deletion.
    fn live_secret(&self, id: &str) -> Result<Secret, SecretsError> {
        let s = self.secret(id)?;
        if s.deleted_ms.is_some() {
            return Err(SecretsError::InvalidRequest(
                "You can't perform this operation on the secret because it was marked for deletion.".into(),
            ));
        }
        Ok(s.clone())
    }

    /// Every secret (scheduled deletions with `deleted`), in name order.
    pub fn secrets_all(&self, deleted: bool) -> Vec<Secret> {
        self.secrets.values().filter(|s| deleted || s.deleted_ms.is_none()).cloned().collect()
    }

    pub(crate) fn create_secret(&mut self, spec: SecretSpec, now_ms: u64) -> Result<Secret, SecretsError> {
        check_name(&spec.name, spec.owning_service.is_some())?;
        check_value(&spec.string, &spec.binary)?;
        if let Some(existing) = self.secrets.get(&spec.name) {
            return Err(if existing.deleted_ms.is_some() {
                SecretsError::InvalidRequest(
                    "You can't create this secret because a secret with this name is already scheduled for deletion."
                        .into(),
                )
            } else {
                SecretsError::Exists(format!("The operation failed because the secret {} already exists.", spec.name))
            });
        }
        let suffix: String = {
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            let mut n = self.next_random();
            (0..6)
                .map(|_| {
                    let c = ALPHABET[(n % ALPHABET.len() as u128) as usize] as char;
                    n /= ALPHABET.len() as u128;
                    c
                })
                .collect()
        };
        let mut versions = Vec::new();
        if spec.string.is_some() || spec.binary.is_some() {
            let id = self.version_id_or_new(spec.version_id)?;
            versions.push(SecretVersion {
                id,
                string: spec.string,
                binary: spec.binary,
                stages: vec![CURRENT.into()],
                created_ms: now_ms,
            });
        }
        let managed = spec.owning_service.is_some();
        let secret = Secret {
            name: spec.name.clone(),
            suffix,
            description: spec.description,
            kms_key_id: spec.kms_key_id,
            versions,
            created_ms: now_ms,
            last_changed_ms: now_ms,
            last_accessed_ms: None,
            last_rotated_ms: None,
            deleted_ms: None,
            deletion_due_ms: None,
            owning_service: spec.owning_service,
            rotation_days: managed.then_some(RDS_ROTATION_DAYS),
            tags: spec.tags,
        };
        self.secrets.insert(spec.name, secret.clone());
        Ok(secret)
    }

    /// PutSecretValue (and a rotation): a new version takes `AWSCURRENT`, the one before it
    /// `AWSPREVIOUS`. The same token with the same value again changes nothing.
    pub(crate) fn put_secret_value(
        &mut self,
        id: &str,
        string: Option<String>,
        binary: Option<Vec<u8>>,
        version_id: Option<String>,
        stages: Option<Vec<String>>,
        now_ms: u64,
    ) -> Result<(Secret, String), SecretsError> {
        let mut s = self.live_secret(id)?;
        check_value(&string, &binary)?;
        if string.is_none() && binary.is_none() {
            return Err(invalid("You must provide either SecretString or SecretBinary."));
        }
        let version_id = self.version_id_or_new(version_id)?;
        if let Some(existing) = s.versions.iter().find(|v| v.id == version_id) {
            if existing.string == string && existing.binary == binary {
                return Ok((s, version_id));
            }
            return Err(SecretsError::Exists(format!(
                "You can't modify an existing version, you can only create a new version. VersionId {version_id} \
                 already exists with a different value."
            )));
        }
        let stages = stages.unwrap_or_else(|| vec![CURRENT.into()]);
        if stages.iter().any(|st| st == CURRENT) {
            for v in &mut s.versions {
                v.stages.retain(|st| st != PREVIOUS);
            }
            for v in &mut s.versions {
                if let Some(i) = v.stages.iter().position(|st| st == CURRENT) {
                    v.stages[i] = PREVIOUS.into();
                }
            }
        }
        for v in &mut s.versions {
            v.stages.retain(|st| st == PREVIOUS || st == CURRENT || !stages.contains(st));
        }
        s.versions.push(SecretVersion { id: version_id.clone(), string, binary, stages, created_ms: now_ms });
        // Versions without a label are dropped, as Secrets Manager drops them eventually.
        s.versions.retain(|v| !v.stages.is_empty());
        s.last_changed_ms = now_ms;
        self.secrets.insert(s.name.clone(), s.clone());
        Ok((s, version_id))
    }

    /// A managed secret may change only through the service that manages it.
    fn unmanaged(&self, id: &str) -> Result<Secret, SecretsError> {
        let s = self.live_secret(id)?;
        if let Some(service) = &s.owning_service {
            return Err(SecretsError::InvalidRequest(format!(
                "You can't modify secret {} because it's managed by {service}. Change it through {service}.",
                s.name
            )));
        }
        Ok(s)
    }

    pub(crate) fn update_secret(
        &mut self,
        id: &str,
        description: Option<String>,
        kms_key_id: Option<String>,
        value: Option<NewValue>,
        now_ms: u64,
    ) -> Result<(Secret, Option<String>), SecretsError> {
        let mut s = self.unmanaged(id)?;
        if let Some(d) = description {
            s.description = Some(d);
        }
        if let Some(k) = kms_key_id {
            s.kms_key_id = Some(k);
        }
        s.last_changed_ms = now_ms;
        self.secrets.insert(s.name.clone(), s.clone());
        match value {
            Some(NewValue { string, binary, version_id }) => {
                let (s, version) = self.put_secret_value(&s.name, string, binary, version_id, None, now_ms)?;
                Ok((s, Some(version)))
            }
            None => Ok((s, None)),
        }
    }

    pub(crate) fn delete_secret(
        &mut self,
        id: &str,
        recovery_days: Option<i64>,
        force: bool,
        now_ms: u64,
    ) -> Result<Secret, SecretsError> {
        if force && recovery_days.is_some() {
            return Err(invalid("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."));
        }
        let days = recovery_days.unwrap_or(DEFAULT_RECOVERY_DAYS);
        if !(7..=30).contains(&days) {
            return Err(invalid("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."));
        }
        let s = self.secret(id)?.clone();
        if s.deleted_ms.is_some() && !force {
            return Err(SecretsError::InvalidRequest(
                "You can't perform this operation on the secret because it was already scheduled for deletion.".into(),
            ));
        }
        if let Some(service) = s.owning_service.as_deref().filter(|_| s.deleted_ms.is_none()) {
            return Err(SecretsError::InvalidRequest(format!(
                "You can't delete secret {} because it's managed by {service}. Change it through {service}.",
                s.name
            )));
        }
        let mut s = s;
        s.deleted_ms = Some(now_ms);
        if force {
            s.deletion_due_ms = Some(now_ms);
            self.secrets.remove(&s.name);
        } else {
            s.deletion_due_ms = Some(now_ms + days as u64 * 86_400_000);
            self.secrets.insert(s.name.clone(), s.clone());
        }
        Ok(s)
    }

    pub(crate) fn restore_secret(&mut self, id: &str) -> Result<Secret, SecretsError> {
        let mut s = self.secret(id)?.clone();
        s.deleted_ms = None;
        s.deletion_due_ms = None;
        self.secrets.insert(s.name.clone(), s.clone());
        Ok(s)
    }

    pub(crate) fn tag_secret(
        &mut self,
        id: &str,
        add: Vec<(String, String)>,
        remove: &[String],
    ) -> Result<(), SecretsError> {
        let mut s = self.live_secret(id)?;
        s.tags.retain(|(k, _)| !remove.contains(k));
        for (k, v) in add {
            match s.tags.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => s.tags.push((k, v)),
            }
        }
        if s.tags.len() > 50 {
            return Err(invalid("A secret can have at most 50 tags."));
        }
        self.secrets.insert(s.name.clone(), s);
        Ok(())
    }

    /// Secrets scheduled for deletion whose day has come are gone.
    pub(crate) fn purge_deleted_secrets(&mut self, now_ms: u64) {
        let due: Vec<String> = self
            .secrets
            .values()
            .filter(|s| s.deletion_due_ms.is_some_and(|d| d <= now_ms))
            .map(|s| s.name.clone())
            .collect();
        for name in due {
            self.secrets.remove(&name);
        }
    }

    /// GetRandomPassword: characters of the classes asked for (less the excluded ones), one of
    /// each class at least when asked.
    pub(crate) fn random_password(&mut self, spec: &PasswordSpec) -> Result<String, SecretsError> {
        if !(1..=4096).contains(&spec.length) {
            return Err(invalid("PasswordLength must be between 1 and 4096."));
        }
        let classes: Vec<Vec<char>> = [
            (spec.lowercase, ('a'..='z').collect::<Vec<_>>()),
            (spec.uppercase, ('A'..='Z').collect()),
            (spec.numbers, ('0'..='9').collect()),
            (spec.punctuation, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".chars().collect()),
            (spec.space, vec![' ']),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, chars)| chars.into_iter().filter(|c| !spec.exclude.contains(*c)).collect::<Vec<_>>())
        .filter(|chars| !chars.is_empty())
        .collect();
        if classes.is_empty() {
            return Err(invalid("The password can have no characters: every class is excluded."));
        }
        let length = spec.length as usize;
        if spec.each_type && length < classes.len() {
            return Err(invalid(format!(
                "PasswordLength {length} is too short to include a character of each of the {} types.",
                classes.len()
            )));
        }
        let all: Vec<char> = classes.iter().flatten().copied().collect();
        let mut out: Vec<char> = Vec::with_capacity(length);
        if spec.each_type {
            for class in &classes {
                out.push(class[(self.next_random() % class.len() as u128) as usize]);
            }
        }
        while out.len() < length {
            out.push(all[(self.next_random() % all.len() as u128) as usize]);
        }
        // The one-of-each characters go to random places.
        for i in (1..out.len()).rev() {
            let j = (self.next_random() % (i as u128 + 1)) as usize;
            out.swap(i, j);
        }
        Ok(out.into_iter().collect())
    }

    /// A master password of the kind RDS generates: 28 printable characters RDS allows.
    pub(crate) fn generate_password(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#$%&()*+,-.:;<=>?[]^_{|}~";
        let mut out = String::new();
        while out.len() < 28 {
            let mut n = self.next_random();
            for _ in 0..14 {
                out.push(ALPHABET[(n % ALPHABET.len() as u128) as usize] as char);
                n /= ALPHABET.len() as u128;
            }
        }
        out.truncate(28);
        out
    }

    /// The secret RDS keeps an instance's master user and password in (`{"username":…,
    /// "password":…}`, named `rds!db-<uuid>`); the name.
    pub(crate) fn create_rds_master_secret(
        &mut self,
        instance_arn: &str,
        username: &str,
        password: &str,
        kms_key_id: Option<String>,
        now_ms: u64,
    ) -> Result<String, SecretsError> {
        let name = format!("rds!db-{}", self.uuid());
        let value = serde_json::json!({ "username": username, "password": password }).to_string();
        self.create_secret(
            SecretSpec {
                name: name.clone(),
                description: Some(format!("Secret associated with primary RDS DB instance: {instance_arn}")),
                kms_key_id,
                string: Some(value),
                tags: vec![
                    ("aws:rds:primaryDBInstanceArn".into(), instance_arn.into()),
                    ("aws:secretsmanager:owningService".into(), "rds".into()),
                ],
                owning_service: Some("rds".into()),
                ..SecretSpec::default()
            },
            now_ms,
        )?;
        Ok(name)
    }

    /// A managed secret gets a new password (RotateSecret, RotateMasterUserPassword): the
    /// new value is `AWSCURRENT`; the password.
    pub(crate) fn rotate_rds_master_secret(&mut self, name: &str, now_ms: u64) -> Result<String, SecretsError> {
        let s = self.live_secret(name)?;
        let current = s.version(None, None)?.string.clone().unwrap_or_default();
        let mut value: serde_json::Value = serde_json::from_str(&current).unwrap_or_else(|_| serde_json::json!({}));
        let password = self.generate_password();
        value["password"] = serde_json::Value::from(password.clone());
        self.put_secret_value(name, Some(value.to_string()), None, None, None, now_ms)?;
        if let Some(s) = self.secrets.get_mut(name) {
            s.last_rotated_ms = Some(now_ms);
        }
        Ok(password)
    }

    /// A managed secret goes when RDS stops managing it (no recovery window).
    pub(crate) fn drop_rds_master_secret(&mut self, name: &str) {
        self.secrets.remove(name);
    }
}

impl Region {
    /// Runs `f` as one command on the region's state (secrets whose deletion fell due gone
    /// first).
    fn with_secrets<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&mut RegionState) -> Result<T, SecretsError>,
    ) -> Result<T, ControlError> {
        self.with_state(now_ms, |state| {
            state.purge_deleted_secrets(now_ms);
            Ok(f(state)?)
        })
    }

    /// CreateSecret.
    pub fn create_secret(&self, spec: SecretSpec, now_ms: u64) -> Result<Secret, ControlError> {
        self.with_secrets(now_ms, |state| state.create_secret(spec, now_ms))
    }

    /// GetSecretValue: the version and the secret's name (its last access is today).
    pub fn get_secret_value(
        &self,
        id: &str,
        version_id: Option<&str>,
        stage: Option<&str>,
        now_ms: u64,
    ) -> Result<(Secret, SecretVersion), ControlError> {
        self.with_secrets(now_ms, |state| {
            let s = state.live_secret(id)?;
            let v = s.version(version_id, stage)?.clone();
            if let Some(row) = state.secrets.get_mut(&s.name) {
                row.last_accessed_ms = Some(now_ms - now_ms % 86_400_000);
            }
            Ok((s, v))
        })
    }

    /// DescribeSecret and ListSecrets read through this.
    pub fn read_secrets<T>(
        &self,
        now_ms: u64,
        f: impl FnOnce(&RegionState) -> Result<T, SecretsError>,
    ) -> Result<T, ControlError> {
        self.with_secrets(now_ms, |state| f(state))
    }

    /// PutSecretValue: the secret and the new version's id.
    pub fn put_secret_value(
        &self,
        id: &str,
        string: Option<String>,
        binary: Option<Vec<u8>>,
        version_id: Option<String>,
        stages: Option<Vec<String>>,
        now_ms: u64,
    ) -> Result<(Secret, String), ControlError> {
        self.with_secrets(now_ms, |state| {
            state.unmanaged(id)?;
            state.put_secret_value(id, string, binary, version_id, stages, now_ms)
        })
    }

    /// UpdateSecret: the secret and the new version's id when the value changed.
    pub fn update_secret(
        &self,
        id: &str,
        description: Option<String>,
        kms_key_id: Option<String>,
        value: Option<NewValue>,
        now_ms: u64,
    ) -> Result<(Secret, Option<String>), ControlError> {
        self.with_secrets(now_ms, |state| state.update_secret(id, description, kms_key_id, value, now_ms))
    }

    /// DeleteSecret.
    pub fn delete_secret(
        &self,
        id: &str,
        recovery_days: Option<i64>,
        force: bool,
        now_ms: u64,
    ) -> Result<Secret, ControlError> {
        self.with_secrets(now_ms, |state| state.delete_secret(id, recovery_days, force, now_ms))
    }

    /// RestoreSecret.
    pub fn restore_secret(&self, id: &str, now_ms: u64) -> Result<Secret, ControlError> {
        self.with_secrets(now_ms, |state| state.restore_secret(id))
    }

    /// GetRandomPassword.
    pub fn random_password(&self, spec: &PasswordSpec, now_ms: u64) -> Result<String, ControlError> {
        self.with_secrets(now_ms, |state| state.random_password(spec))
    }

    /// TagResource / UntagResource.
    pub fn tag_secret(
        &self,
        id: &str,
        add: Vec<(String, String)>,
        remove: &[String],
        now_ms: u64,
    ) -> Result<(), ControlError> {
        self.with_secrets(now_ms, |state| state.tag_secret(id, add, remove))
    }

    /// RotateSecret: a secret RDS manages gets a new master password, which the DB instance
    /// takes at once; the secret and the new version's id. Other secrets rotate through a
    /// Lambda function, which squall does not run.
    pub fn rotate_secret(&self, id: &str, now_ms: u64) -> Result<(Secret, String), ControlError> {
        self.with_secrets(now_ms, |state| {
            let s = state.live_secret(id)?;
            if s.owning_service.as_deref() != Some("rds") {
                return Err(SecretsError::InvalidRequest(
                    "squall rotates only the secrets RDS manages: it runs no Lambda rotation functions.".into(),
                ));
            }
            let password = state.rotate_rds_master_secret(&s.name, now_ms)?;
            state.set_managed_master_password(&s.name, &password);
            let s = state.secret(&s.name)?.clone();
            let version = s.version(None, None)?.id.clone();
            Ok((s, version))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestRegion;

    fn spec(name: &str, value: &str) -> SecretSpec {
        SecretSpec { name: name.into(), string: Some(value.into()), ..SecretSpec::default() }
    }

    #[test]
    fn random_passwords_follow_the_classes_asked_for() {
        let t = TestRegion::new();
        let digits = PasswordSpec {
            length: 12,
            lowercase: false,
            uppercase: false,
            punctuation: false,
            ..PasswordSpec::default()
        };
        let p = t.region.random_password(&digits, t.now()).expect("digits");
        assert!(p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()), "{p}");
        let each = PasswordSpec { length: 4, exclude: "aeiou".into(), ..PasswordSpec::default() };
        for _ in 0..20 {
            let p = t.region.random_password(&each, t.now()).expect("each");
            assert!(p.chars().any(|c| c.is_ascii_lowercase()) && p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()) && p.chars().any(|c| c.is_ascii_punctuation()));
            assert!(!p.chars().any(|c| "aeiou".contains(c)), "{p}");
        }
        let short = PasswordSpec { length: 3, ..PasswordSpec::default() };
        assert!(t.region.random_password(&short, t.now()).is_err(), "four types need four characters");
        let none = PasswordSpec {
            numbers: false,
            punctuation: false,
            uppercase: false,
            lowercase: false,
            ..Default::default()
        };
        assert!(t.region.random_password(&none, t.now()).is_err());
    }

    #[test]
    fn versions_move_their_labels_and_deletion_can_be_undone() {
        let t = TestRegion::new();
        let r = &t.region;
        let s = r.create_secret(spec("app/db", "one"), t.now()).expect("create");
        assert_eq!(s.versions[0].stages, vec![CURRENT]);
        assert!(matches!(
            r.create_secret(spec("app/db", "x"), t.now()),
            Err(ControlError::Secrets(SecretsError::Exists(_)))
        ));
        assert!(matches!(
            r.create_secret(spec("bad name", "x"), t.now()),
            Err(ControlError::Secrets(SecretsError::InvalidParameter(_)))
        ));
        let (_, v2) = r.put_secret_value("app/db", Some("two".into()), None, None, None, t.now()).expect("put");
        let (_, v3) = r.put_secret_value("app/db", Some("three".into()), None, None, None, t.now()).expect("put");
        let (_, current) = r.get_secret_value("app/db", None, None, t.now()).expect("get");
        assert_eq!((current.string.as_deref(), current.id.as_str()), (Some("three"), v3.as_str()));
        let (_, previous) = r.get_secret_value("app/db", None, Some(PREVIOUS), t.now()).expect("get");
        assert_eq!((previous.string.as_deref(), previous.id.as_str()), (Some("two"), v2.as_str()));
        assert!(matches!(
            r.get_secret_value("app/db", None, Some("NOPE"), t.now()),
            Err(ControlError::Secrets(SecretsError::NotFound(_)))
        ));
        // By ARN, full and partial.
        let arn = s.arn("us-east-1", "000000000000");
        assert!(r.get_secret_value(&arn, None, None, t.now()).is_ok());
        assert!(r
            .get_secret_value("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db", None, None, t.now())
            .is_ok());

        let deleted = r.delete_secret("app/db", Some(7), false, t.now()).expect("delete");
        assert_eq!(deleted.deletion_due_ms, Some(t.now() + 7 * 86_400_000));
        assert!(matches!(
            r.get_secret_value("app/db", None, None, t.now()),
            Err(ControlError::Secrets(SecretsError::InvalidRequest(_)))
        ));
        assert!(matches!(
            r.create_secret(spec("app/db", "x"), t.now()),
            Err(ControlError::Secrets(SecretsError::InvalidRequest(_)))
        ));
        r.restore_secret("app/db", t.now()).expect("restore");
        assert!(r.get_secret_value("app/db", None, None, t.now()).is_ok());
        assert!(matches!(
            r.delete_secret("app/db", Some(3), false, t.now()),
            Err(ControlError::Secrets(SecretsError::InvalidParameter(_)))
        ));
        r.delete_secret("app/db", None, true, t.now()).expect("force");
        assert!(matches!(
            r.get_secret_value("app/db", None, None, t.now()),
            Err(ControlError::Secrets(SecretsError::NotFound(_)))
        ));
    }
}

//! Key pairs: `CreateKeyPair` (real RSA or Ed25519 key material), `ImportKeyPair`,
//! `DescribeKeyPairs`, `DeleteKeyPair`.

use squall_control::model::key_pair::{KeyPair as ControlKeyPair, KeyType as ControlKeyType};
use squall_control::ControlPlane;
use squall_protocol::{ApiError, RequestContext};

use crate::common::{region, tags_for, timestamp, wire_tags};
use crate::generated::{
    CreateKeyPairRequest, DeleteKeyPairRequest, DeleteKeyPairResult, DescribeKeyPairsRequest, DescribeKeyPairsResult,
    ImportKeyPairRequest, ImportKeyPairResult, KeyFormat, KeyPair, KeyPairInfo, KeyType, ResourceType,
};
use crate::{check_dry_run, control_error, filter};

const KEY_FILTERS: &[&str] = &["fingerprint", "key-name", "key-pair-id", "key-type", "tag-key", "tag:*"];

fn wire_type(t: ControlKeyType) -> KeyType {
    match t {
        ControlKeyType::Rsa => KeyType::Rsa,
        ControlKeyType::Ed25519 => KeyType::Ed25519,
    }
}

pub(crate) fn create_key_pair(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: CreateKeyPairRequest,
) -> Result<KeyPair, ApiError> {
    if r.key_format == Some(KeyFormat::Ppk) {
        return Err(ApiError::invalid_parameter_value(
            "KeyFormat 'ppk' is not supported by squall; ask for 'pem' and convert with puttygen.",
        ));
    }
    let key_type = match r.key_type {
        Some(KeyType::Ed25519) => ControlKeyType::Ed25519,
        Some(KeyType::Rsa) | None => ControlKeyType::Rsa,
    };
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::KeyPair)?;
    let now = control.now_ms();
    let (key, material) = region(control, ctx)?
        .create_key_pair(&r.key_name, key_type, tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(KeyPair {
        key_pair_id: Some(key.id.clone()),
        tags: (!key.tags.is_empty()).then(|| wire_tags(&key.tags)),
        key_name: Some(key.name.clone()),
        key_fingerprint: Some(key.fingerprint.clone()),
        key_material: Some(material),
    })
}

pub(crate) fn import_key_pair(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: ImportKeyPairRequest,
) -> Result<ImportKeyPairResult, ApiError> {
    let tags = tags_for(r.tag_specifications.as_deref(), ResourceType::KeyPair)?;
    let now = control.now_ms();
    let key = region(control, ctx)?
        .import_key_pair(&r.key_name, &r.public_key_material.0, tags, now, r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(ImportKeyPairResult {
        key_fingerprint: Some(key.fingerprint.clone()),
        key_name: Some(key.name.clone()),
        key_pair_id: Some(key.id.clone()),
        tags: (!key.tags.is_empty()).then(|| wire_tags(&key.tags)),
    })
}

fn wire_info(k: &ControlKeyPair, include_public: bool) -> KeyPairInfo {
    KeyPairInfo {
        key_pair_id: Some(k.id.clone()),
        key_type: Some(wire_type(k.key_type)),
        tags: Some(wire_tags(&k.tags)),
        public_key: include_public.then(|| k.public_key.clone()),
        create_time: Some(timestamp(k.created_ms)),
        key_name: Some(k.name.clone()),
        key_fingerprint: Some(k.fingerprint.clone()),
    }
}

pub(crate) fn describe_key_pairs(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DescribeKeyPairsRequest,
) -> Result<DescribeKeyPairsResult, ApiError> {
    check_dry_run(r.dry_run)?;
    let filters = r.filters.unwrap_or_default();
    filter::validate(&filters, KEY_FILTERS)?;
    let names = r.key_names.unwrap_or_default();
    let ids = r.key_pair_ids.unwrap_or_default();
    let keys = region(control, ctx)?.read(control.now_ms(), |state| Ok(state.key_pairs())).map_err(control_error)?;
    if let Some(missing) = names.iter().find(|n| !keys.iter().any(|k| k.name == **n)) {
        return Err(ApiError::client("InvalidKeyPair.NotFound", format!("The key pair '{missing}' does not exist")));
    }
    if let Some(missing) = ids.iter().find(|i| !keys.iter().any(|k| k.id == **i)) {
        return Err(ApiError::client("InvalidKeyPair.NotFound", format!("The key pair '{missing}' does not exist")));
    }
    let selected = keys
        .iter()
        .filter(|k| (names.is_empty() || names.contains(&k.name)) && (ids.is_empty() || ids.contains(&k.id)))
        .filter(|k| {
            filter::matches(&filters, |name| match name {
                "fingerprint" => vec![k.fingerprint.clone()],
                "key-name" => vec![k.name.clone()],
                "key-pair-id" => vec![k.id.clone()],
                "key-type" => vec![wire_type(k.key_type).as_str().to_string()],
                other => filter::tag_values(&k.tags, other),
            })
        })
        .map(|k| wire_info(k, r.include_public_key == Some(true)))
        .collect();
    Ok(DescribeKeyPairsResult { key_pairs: Some(selected) })
}

pub(crate) fn delete_key_pair(
    control: &ControlPlane,
    ctx: &RequestContext,
    r: DeleteKeyPairRequest,
) -> Result<DeleteKeyPairResult, ApiError> {
    let deleted = region(control, ctx)?
        .delete_key_pair(r.key_name.as_deref(), r.key_pair_id.as_deref(), control.now_ms(), r.dry_run == Some(true))
        .map_err(control_error)?;
    Ok(DeleteKeyPairResult { r#return: Some(true), key_pair_id: deleted.map(|k| k.id) })
}

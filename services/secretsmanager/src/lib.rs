//! AWS Secrets Manager (`awsJson1_1`, API version 2017-10-17): secrets with versions and staging
//! labels, scheduled deletion, tags, and the secrets RDS manages for DB instances' master
//! passwords (read with GetSecretValue, rotated with RotateSecret). Wire types are generated from
//! botocore's model; the rules are the control plane's (`squall_control::secrets`).

pub mod generated;

use squall_control::secrets::{NewValue, PasswordSpec, Secret as ControlSecret, SecretSpec, SecretsError};
use squall_control::{ControlError, ControlPlane, Region, RegionName};
use squall_protocol::rest::{serve_json, JsonService, RestRequest};
use squall_protocol::{ApiError, Blob, RequestContext, Timestamp, WireResponse};

use generated::*;

/// Answers one Secrets Manager request.
pub fn handle(control: &ControlPlane, ctx: &RequestContext, req: RestRequest) -> WireResponse {
    let service = JsonService {
        name: "Secrets Manager",
        operation_of_target: generated::operation_of_target,
        decode: Request::decode,
        encode: Response::encode,
    };
    serve_json(&service, req, &ctx.request_id, |request| dispatch(control, ctx, request))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

fn secrets_error(e: ControlError) -> ApiError {
    match e {
        ControlError::Secrets(e) => match e {
            SecretsError::NotFound(m) => ApiError::client("ResourceNotFoundException", m),
            SecretsError::Exists(m) => ApiError::client("ResourceExistsException", m),
            SecretsError::InvalidRequest(m) => ApiError::client("InvalidRequestException", m),
            SecretsError::InvalidParameter(m) => invalid(m),
        },
        ControlError::Internal(e) => {
            ApiError::new(500, "InternalServiceError", format!("An internal error occurred ({e})"))
        }
        other => ApiError::client("InvalidRequestException", other.to_string()),
    }
}

fn time(ms: u64) -> Timestamp {
    Timestamp { epoch_millis: ms as i64 }
}

fn tags_in(tags: Vec<Tag>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags {
        let key = t.key.ok_or_else(|| invalid("A tag must have a Key."))?;
        if key.is_empty() || key.len() > 128 || key.starts_with("aws:") {
            return Err(invalid(format!("Invalid tag key: {key}")));
        }
        let value = t.value.unwrap_or_default();
        if value.len() > 256 {
            return Err(invalid(format!("The value of tag {key} is longer than 256 characters.")));
        }
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    Ok(out)
}

/// The region (and account) a request is for.
struct Scope<'a> {
    region: std::sync::Arc<Region>,
    name: &'a str,
    account: &'a str,
}

impl Scope<'_> {
    fn arn(&self, s: &ControlSecret) -> String {
        s.arn(self.name, self.account)
    }
}

fn dispatch(control: &ControlPlane, ctx: &RequestContext, request: Request) -> Result<Response, ApiError> {
    let name = RegionName::parse(&ctx.region).map_err(|_| invalid(format!("Invalid region: {}", ctx.region)))?;
    let scope = Scope { region: control.region(&name), name: &ctx.region, account: &ctx.account_id };
    let region = &scope.region;
    let now = control.now_ms();
    Ok(match request {
        Request::CreateSecret(r) => {
            if r.add_replica_regions.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(ApiError::new(501, "NotImplemented", "squall does not replicate secrets to other regions"));
            }
            let spec = SecretSpec {
                name: r.name,
                description: r.description,
                kms_key_id: r.kms_key_id,
                string: r.secret_string,
                binary: r.secret_binary.map(|b| b.0),
                version_id: r.client_request_token,
                tags: tags_in(r.tags.unwrap_or_default())?,
                owning_service: None,
            };
            let s = region.create_secret(spec, now).map_err(secrets_error)?;
            Response::CreateSecret(CreateSecretResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                version_id: s.versions.first().map(|v| v.id.clone()),
                replication_status: None,
            })
        }
        Request::GetSecretValue(r) => {
            let (s, v) = region
                .get_secret_value(&r.secret_id, r.version_id.as_deref(), r.version_stage.as_deref(), now)
                .map_err(secrets_error)?;
            Response::GetSecretValue(GetSecretValueResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                version_id: Some(v.id.clone()),
                secret_binary: v.binary.clone().map(Blob),
                secret_string: v.string.clone(),
                version_stages: Some(v.stages.clone()),
                created_date: Some(time(v.created_ms)),
            })
        }
        Request::PutSecretValue(r) => {
            if r.rotation_token.is_some() {
                return Err(invalid("RotationToken is for rotation functions, which squall does not run."));
            }
            let (s, version) = region
                .put_secret_value(
                    &r.secret_id,
                    r.secret_string,
                    r.secret_binary.map(|b| b.0),
                    r.client_request_token,
                    r.version_stages,
                    now,
                )
                .map_err(secrets_error)?;
            let stages = s.versions.iter().find(|v| v.id == version).map(|v| v.stages.clone());
            Response::PutSecretValue(PutSecretValueResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                version_id: Some(version),
                version_stages: stages,
            })
        }
        Request::UpdateSecret(r) => {
            let value = (r.secret_string.is_some() || r.secret_binary.is_some()).then(|| NewValue {
                string: r.secret_string,
                binary: r.secret_binary.map(|b| b.0),
                version_id: r.client_request_token,
            });
            let (s, version) =
                region.update_secret(&r.secret_id, r.description, r.kms_key_id, value, now).map_err(secrets_error)?;
            Response::UpdateSecret(UpdateSecretResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                version_id: version,
            })
        }
        Request::DescribeSecret(r) => {
            let s = region.read_secrets(now, |state| Ok(state.secret(&r.secret_id)?.clone())).map_err(secrets_error)?;
            Response::DescribeSecret(describe(&scope, &s))
        }
        Request::ListSecrets(r) => {
            let limit = match r.max_results {
                None => 100,
                Some(n) if (1..=100).contains(&n) => n as usize,
                Some(n) => return Err(invalid(format!("MaxResults must be between 1 and 100, not {n}."))),
            };
            let start: usize = match r.next_token.as_deref() {
                None => 0,
                Some(t) => t.parse().map_err(|_| invalid("The NextToken is not valid."))?,
            };
            let filters = r.filters.unwrap_or_default();
            let all = region
                .read_secrets(now, |state| Ok(state.secrets_all(r.include_planned_deletion.unwrap_or(false))))
                .map_err(secrets_error)?;
            let mut matching: Vec<ControlSecret> = all.into_iter().filter(|s| selected(s, &filters)).collect();
            if r.sort_order == Some(SortOrderType::Desc) {
                matching.reverse();
            }
            let page: Vec<SecretListEntry> =
                matching.iter().skip(start).take(limit).map(|s| list_entry(&scope, s)).collect();
            let next = start + page.len();
            Response::ListSecrets(ListSecretsResponse {
                secret_list: Some(page),
                next_token: (next < matching.len()).then(|| next.to_string()),
            })
        }
        Request::DeleteSecret(r) => {
            let s = region
                .delete_secret(
                    &r.secret_id,
                    r.recovery_window_in_days,
                    r.force_delete_without_recovery.unwrap_or(false),
                    now,
                )
                .map_err(secrets_error)?;
            Response::DeleteSecret(DeleteSecretResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                deletion_date: s.deletion_due_ms.map(time),
            })
        }
        Request::RestoreSecret(r) => {
            let s = region.restore_secret(&r.secret_id, now).map_err(secrets_error)?;
            Response::RestoreSecret(RestoreSecretResponse { arn: Some(scope.arn(&s)), name: Some(s.name.clone()) })
        }
        Request::RotateSecret(r) => {
            if r.rotation_lambda_arn.is_some() {
                return Err(ApiError::new(
                    501,
                    "NotImplemented",
                    "squall runs no Lambda rotation functions: only the secrets RDS manages rotate",
                ));
            }
            let (s, version) = region.rotate_secret(&r.secret_id, now).map_err(secrets_error)?;
            Response::RotateSecret(RotateSecretResponse {
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                version_id: Some(version),
            })
        }
        Request::GetRandomPassword(r) => {
            let d = PasswordSpec::default();
            let spec = PasswordSpec {
                length: r.password_length.unwrap_or(d.length),
                exclude: r.exclude_characters.unwrap_or_default(),
                numbers: !r.exclude_numbers.unwrap_or(false),
                punctuation: !r.exclude_punctuation.unwrap_or(false),
                uppercase: !r.exclude_uppercase.unwrap_or(false),
                lowercase: !r.exclude_lowercase.unwrap_or(false),
                space: r.include_space.unwrap_or(false),
                each_type: r.require_each_included_type.unwrap_or(true),
            };
            let password = region.random_password(&spec, now).map_err(secrets_error)?;
            Response::GetRandomPassword(GetRandomPasswordResponse { random_password: Some(password) })
        }
        Request::ListSecretVersionIds(r) => {
            let s = region.read_secrets(now, |state| Ok(state.secret(&r.secret_id)?.clone())).map_err(secrets_error)?;
            let limit = match r.max_results {
                None => 100,
                Some(n) if (1..=100).contains(&n) => n as usize,
                Some(n) => return Err(invalid(format!("MaxResults must be between 1 and 100, not {n}."))),
            };
            let start: usize = match r.next_token.as_deref() {
                None => 0,
                Some(t) => t.parse().map_err(|_| invalid("The NextToken is not valid."))?,
            };
            let versions: Vec<SecretVersionsListEntry> = s
                .versions
                .iter()
                .skip(start)
                .take(limit)
                .map(|v| SecretVersionsListEntry {
                    version_id: Some(v.id.clone()),
                    version_stages: Some(v.stages.clone()),
                    created_date: Some(time(v.created_ms)),
                    last_accessed_date: s.last_accessed_ms.map(time),
                    kms_key_ids: Some(vec![s.kms_key_id.clone().unwrap_or_else(|| "DefaultEncryptionKey".into())]),
                })
                .collect();
            let next = start + versions.len();
            Response::ListSecretVersionIds(ListSecretVersionIdsResponse {
                next_token: (next < s.versions.len()).then(|| next.to_string()),
                arn: Some(scope.arn(&s)),
                name: Some(s.name.clone()),
                versions: Some(versions),
            })
        }
        Request::TagResource(r) => {
            region.tag_secret(&r.secret_id, tags_in(r.tags)?, &[], now).map_err(secrets_error)?;
            Response::TagResource(())
        }
        Request::UntagResource(r) => {
            region.tag_secret(&r.secret_id, Vec::new(), &r.tag_keys, now).map_err(secrets_error)?;
            Response::UntagResource(())
        }
    })
}

/// Whether a secret passes ListSecrets' filters: each value a prefix (`!` negates), any value of
/// a filter, every filter.
fn selected(s: &ControlSecret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let values = f.values.clone().unwrap_or_default();
        let fields: Vec<&str> = match f.key {
            Some(FilterNameStringType::Name) => vec![s.name.as_str()],
            Some(FilterNameStringType::Description) => s.description.as_deref().into_iter().collect(),
            Some(FilterNameStringType::TagKey) => s.tags.iter().map(|(k, _)| k.as_str()).collect(),
            Some(FilterNameStringType::TagValue) => s.tags.iter().map(|(_, v)| v.as_str()).collect(),
            Some(FilterNameStringType::OwningService) => s.owning_service.as_deref().into_iter().collect(),
            Some(FilterNameStringType::PrimaryRegion) => Vec::new(),
            _ => {
                let mut all = vec![s.name.as_str()];
                all.extend(s.description.as_deref());
                all.extend(s.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
                all
            }
        };
        values.iter().any(|v| match v.strip_prefix('!') {
            Some(not) => !fields.iter().any(|f| f.starts_with(not)),
            None => fields.iter().any(|f| f.starts_with(v.as_str())),
        })
    })
}

fn rotation_rules(s: &ControlSecret) -> Option<RotationRulesType> {
    s.rotation_days.map(|d| RotationRulesType { automatically_after_days: Some(d), ..RotationRulesType::default() })
}

fn tags_out(s: &ControlSecret) -> Vec<Tag> {
    s.tags.iter().map(|(k, v)| Tag { key: Some(k.clone()), value: Some(v.clone()) }).collect()
}

fn next_rotation(s: &ControlSecret) -> Option<Timestamp> {
    let days = s.rotation_days?;
    Some(time(s.last_rotated_ms.unwrap_or(s.created_ms) + days as u64 * 86_400_000))
}

fn describe(scope: &Scope<'_>, s: &ControlSecret) -> DescribeSecretResponse {
    DescribeSecretResponse {
        arn: Some(scope.arn(s)),
        name: Some(s.name.clone()),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        rotation_enabled: Some(s.rotation_days.is_some()),
        rotation_rules: rotation_rules(s),
        last_rotated_date: s.last_rotated_ms.map(time),
        last_changed_date: Some(time(s.last_changed_ms)),
        last_accessed_date: s.last_accessed_ms.map(time),
        deleted_date: s.deleted_ms.map(time),
        next_rotation_date: next_rotation(s),
        tags: Some(tags_out(s)),
        version_ids_to_stages: Some(s.versions.iter().map(|v| (v.id.clone(), v.stages.clone())).collect()),
        owning_service: s.owning_service.clone(),
        created_date: Some(time(s.created_ms)),
        ..DescribeSecretResponse::default()
    }
}

fn list_entry(scope: &Scope<'_>, s: &ControlSecret) -> SecretListEntry {
    SecretListEntry {
        arn: Some(scope.arn(s)),
        name: Some(s.name.clone()),
        description: s.description.clone(),
        kms_key_id: s.kms_key_id.clone(),
        rotation_enabled: Some(s.rotation_days.is_some()),
        rotation_rules: rotation_rules(s),
        last_rotated_date: s.last_rotated_ms.map(time),
        last_changed_date: Some(time(s.last_changed_ms)),
        last_accessed_date: s.last_accessed_ms.map(time),
        deleted_date: s.deleted_ms.map(time),
        next_rotation_date: next_rotation(s),
        tags: Some(tags_out(s)),
        secret_versions_to_stages: Some(s.versions.iter().map(|v| (v.id.clone(), v.stages.clone())).collect()),
        owning_service: s.owning_service.clone(),
        created_date: Some(time(s.created_ms)),
        ..SecretListEntry::default()
    }
}

//! What routing needs from a SigV4 signature: the credential scope. Signatures are not
//! verified (as LocalStack does not): clients never check that a server did.

/// `Credential=<AKID>/<date>/<region>/<service>/aws4_request`, from the `Authorization`
/// header or the `X-Amz-Credential` query parameter of a presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

pub fn scope_from_authorization(header: &str) -> Option<CredentialScope> {
    let rest = header.trim().strip_prefix("AWS4-HMAC-SHA256")?;
    let credential = rest.split(',').map(str::trim).find_map(|part| part.strip_prefix("Credential="))?;
    parse_credential(credential)
}

pub fn parse_credential(credential: &str) -> Option<CredentialScope> {
    let mut parts = credential.split('/');
    let access_key_id = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    if parts.next()? != "aws4_request" || access_key_id.is_empty() || region.is_empty() || service.is_empty() {
        return None;
    }
    Some(CredentialScope { access_key_id, region, service })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_scope_of_a_botocore_header() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261126/us-east-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=1119";
        assert_eq!(
            scope_from_authorization(h),
            Some(CredentialScope {
                access_key_id: "AKIDEXAMPLE".into(),
                region: "us-east-1".into(),
                service: "ec2".into()
            })
        );
    }

    #[test]
    fn rejects_what_is_not_a_sigv4_scope() {
        assert_eq!(scope_from_authorization("Basic dXNlcg=="), None);
        assert_eq!(scope_from_authorization("AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1"), None);
        assert_eq!(scope_from_authorization("AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/ec2/other"), None);
        assert_eq!(scope_from_authorization("AWS4-HMAC-SHA256 Credential=//us-east-1/ec2/aws4_request"), None);
    }
}

/// The account squall answers for when the access key id does not name one (LocalStack's default).
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// What the gateway knows about one request before a service sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Echoed in the body and the `x-amzn-RequestId` header of every response.
    pub request_id: String,
    /// The region of the SigV4 credential scope, or the server's default region.
    pub region: String,
    /// The access key id of the credential scope (`test` style dummies are fine).
    pub access_key_id: Option<String>,
    /// From a 12-digit access key id, as LocalStack does; otherwise [`DEFAULT_ACCOUNT_ID`].
    pub account_id: String,
}

impl RequestContext {
    pub fn new(request_id: String, region: String, access_key_id: Option<String>) -> Self {
        Self::with_default_account(request_id, region, access_key_id, DEFAULT_ACCOUNT_ID)
    }

    /// As [`RequestContext::new`], with `default_account` for access keys that name none.
    pub fn with_default_account(
        request_id: String,
        region: String,
        access_key_id: Option<String>,
        default_account: &str,
    ) -> Self {
        let account_id = match &access_key_id {
            Some(key) if is_account_id(key) => key.clone(),
            _ => default_account.to_string(),
        };
        Self { request_id, region, access_key_id, account_id }
    }
}

/// Twelve digits, as AWS account ids are.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comes_from_a_twelve_digit_access_key() {
        let ctx = RequestContext::new("r".into(), "us-east-1".into(), Some("123456789012".into()));
        assert_eq!(ctx.account_id, "123456789012");
        let ctx = RequestContext::new("r".into(), "us-east-1".into(), Some("AKIDEXAMPLE".into()));
        assert_eq!(ctx.account_id, DEFAULT_ACCOUNT_ID);
        let ctx = RequestContext::new("r".into(), "us-east-1".into(), None);
        assert_eq!(ctx.account_id, DEFAULT_ACCOUNT_ID);
    }
}

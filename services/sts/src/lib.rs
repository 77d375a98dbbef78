//! STS over the `awsQuery` protocol. Only `GetCallerIdentity`, because SDK tooling (Terraform,
//! CDK, `aws sts get-caller-identity` in scripts) calls it first to learn the account.

pub mod generated;

use squall_protocol::{decode_action, query_response, QueryParams, RequestContext, WireResponse};

use generated::{GetCallerIdentityResponse, Request, Response};

/// Answers one STS request in the `awsQuery` shape, success or error.
pub fn handle(ctx: &RequestContext, params: &QueryParams) -> WireResponse {
    let result = decode_action(params, generated::MODEL_OPERATIONS, Request::decode).map(|request| match request {
        Request::GetCallerIdentity(_) => Response::GetCallerIdentity(get_caller_identity(ctx)),
    });
    match result {
        Ok(response) => {
            query_response(response.action(), generated::XML_NAMESPACE, &ctx.request_id, |w| response.encode_members(w))
        }
        Err(e) => e.to_query_response(&ctx.request_id),
    }
}

/// The caller is the account's root user, as LocalStack answers: the account comes from a
/// 12-digit access key id, or is `000000000000`.
fn get_caller_identity(ctx: &RequestContext) -> GetCallerIdentityResponse {
    GetCallerIdentityResponse {
        user_id: Some(ctx.access_key_id.clone().unwrap_or_else(|| ctx.account_id.clone())),
        account: Some(ctx.account_id.clone()),
        arn: Some(format!("arn:aws:iam::{}:root", ctx.account_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_identity_names_the_account_of_the_access_key() {
        let ctx = RequestContext::new("req-1".into(), "us-east-1".into(), Some("123456789012".into()));
        let q = QueryParams::parse(b"", b"Action=GetCallerIdentity&Version=2011-06-15");
        let r = handle(&ctx, &q);
        assert_eq!(r.status, 200);
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.contains("<GetCallerIdentityResult><UserId>123456789012</UserId><Account>123456789012</Account><Arn>arn:aws:iam::123456789012:root</Arn></GetCallerIdentityResult>"), "{body}");
        assert!(body.contains("<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>"), "{body}");
    }

    #[test]
    fn other_sts_actions_are_named_in_the_error() {
        let ctx = RequestContext::new("r".into(), "us-east-1".into(), None);
        let r = handle(&ctx, &QueryParams::parse(b"", b"Action=AssumeRole&Version=2011-06-15"));
        assert_eq!(r.status, 400);
        let body = String::from_utf8(r.body).unwrap();
        assert!(
            body.contains(
                "<Code>InvalidAction</Code><Message>The action AssumeRole is not implemented by squall yet.</Message>"
            ),
            "{body}"
        );
    }
}

//! The wire runtime shared by squall's AWS services: decoding of the query protocols
//! (`ec2` and `awsQuery`), an XML writer, the error shapes of each protocol, and the
//! per-request context that the gateway derives from SigV4 headers.
//!
//! Generated code (`services/*/src/generated`) is written against [`codec`]; hand-written
//! service code uses the typed requests and responses it produces and never sees a form field.

pub mod codec;
mod context;
mod error;
mod query;
pub mod rest;
pub mod tags;
mod time;
mod xml;

pub use context::{is_account_id, RequestContext, DEFAULT_ACCOUNT_ID};
pub use error::ApiError;
pub use query::{join, malformed, parameter_count, QueryParams, MAX_PARAMETERS};
pub use time::Timestamp;
pub use xml::XmlWriter;

/// Binary data, base64 on the query wire and in XML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Vec<u8>);

/// A finished HTTP answer of one service, independent of the HTTP library in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl WireResponse {
    pub fn xml(status: u16, body: Vec<u8>) -> Self {
        Self { status, content_type: "text/xml;charset=UTF-8", headers: Vec::new(), body }
    }

    pub fn json(status: u16, body: Vec<u8>) -> Self {
        Self { status, content_type: "application/json", headers: Vec::new(), body }
    }
}

/// Finds the request's action and decodes it with a generated `Request::decode`: a missing
/// action is `MissingParameter`; an action squall does not implement is `InvalidAction`, worded
/// differently for one the service's model has (`model_operations`, sorted) and one it does not.
pub fn decode_action<R>(
    params: &QueryParams,
    model_operations: &[&str],
    decode: impl FnOnce(&str, &QueryParams) -> Option<Result<R, ApiError>>,
) -> Result<R, ApiError> {
    let action = params.action().ok_or_else(|| ApiError::missing_parameter("Action"))?;
    decode(action, params)
        .unwrap_or_else(|| Err(ApiError::invalid_action(action, model_operations.binary_search(&action).is_ok())))
}

/// Renders an `ec2` protocol success response: `<{Action}Response>` with `<requestId>` first and
/// no result wrapper. An operation without an output shape answers `<return>true</return>`, as EC2 does.
pub fn ec2_response(
    action: &str,
    namespace: &str,
    request_id: &str,
    members: impl FnOnce(&mut XmlWriter) -> bool,
) -> WireResponse {
    let mut w = XmlWriter::new();
    let root = format!("{action}Response");
    w.open_with_namespace(&root, namespace);
    w.text_element("requestId", request_id);
    if !members(&mut w) {
        w.text_element("return", "true");
    }
    w.close(&root);
    WireResponse::xml(200, w.finish())
}

/// Renders an `awsQuery` success response: `<{Action}Response><{Action}Result>…</{Action}Result>
/// <ResponseMetadata><RequestId>…`.
pub fn query_response(
    action: &str,
    namespace: &str,
    request_id: &str,
    members: impl FnOnce(&mut XmlWriter) -> bool,
) -> WireResponse {
    let mut w = XmlWriter::new();
    let root = format!("{action}Response");
    let result = format!("{action}Result");
    w.open_with_namespace(&root, namespace);
    w.open(&result);
    members(&mut w);
    w.close(&result);
    w.open("ResponseMetadata");
    w.text_element("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&root);
    WireResponse::xml(200, w.finish())
}

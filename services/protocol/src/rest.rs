//! The runtime of `restJson1` services (the EBS direct APIs): request parts bound by the model
//! to the URI, query string, headers and body, and JSON values for body members.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::codec::{base64_decode, base64_encode};
use crate::{ApiError, Blob, QueryParams, Timestamp};

/// One REST request as generated decoders see it.
#[derive(Debug, Clone, Default)]
pub struct RestRequest {
    pub path_params: BTreeMap<String, String>,
    pub query: QueryParams,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RestRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as a JSON object (an empty body is an empty object).
    pub fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(&self.body).map_err(|e| validation(format!("The request body is not valid JSON: {e}")))
    }
}

/// A finished REST answer before the gateway adds the request id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestResponse {
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

/// A generated router: the operation at (method, path), with the URI's labels.
pub type Router = fn(&str, &str) -> Option<(&'static str, BTreeMap<String, String>)>;

/// What a generated `restJson1` module gives to answer its requests: its router, its request
/// decoder and its response encoder.
pub struct RestService<Req, Resp> {
    /// The service's name in messages (`EBS`, `FIS`).
    pub name: &'static str,
    pub route: Router,
    pub decode: fn(&str, &RestRequest) -> Option<Result<Req, ApiError>>,
    pub encode: fn(&Resp) -> (u16, RestResponse),
}

/// Answers one request of a `restJson1` service: routed by method and path, decoded, handled by
/// `dispatch`, encoded — or answered with the error in the protocol's shape (404 for no
/// operation there, 501 naming an operation squall does not implement).
pub fn serve<Req, Resp>(
    service: &RestService<Req, Resp>,
    method: &str,
    path: &str,
    req: RestRequest,
    request_id: &str,
    dispatch: impl FnOnce(Req) -> Result<Resp, ApiError>,
) -> crate::WireResponse {
    let result = match (service.route)(method, path) {
        None => Err(ApiError::new(
            404,
            "UnknownOperationException",
            format!("No {} operation at {method} {path}", service.name),
        )),
        Some((operation, params)) => {
            let req = RestRequest { path_params: params, ..req };
            match (service.decode)(operation, &req) {
                None => Err(ApiError::new(
                    501,
                    "NotImplemented",
                    format!("The operation {operation} is not implemented by squall yet."),
                )),
                Some(Err(e)) => Err(e),
                Some(Ok(request)) => dispatch(request),
            }
        }
    };
    match result {
        Ok(response) => {
            let (status, rest) = (service.encode)(&response);
            let mut wire = crate::WireResponse::json(status, rest.body);
            wire.content_type = rest.content_type;
            wire.headers = rest.headers;
            wire
        }
        Err(e) => e.to_json_response(request_id),
    }
}

fn validation(message: String) -> ApiError {
    ApiError::client("ValidationException", message).with_reason("INVALID_PARAMETER_VALUE")
}

/// A scalar carried as text (URI label, query string, header).
pub trait TextDecode: Sized {
    fn decode_text(raw: &str, name: &str) -> Result<Self, ApiError>;
}

impl TextDecode for String {
    fn decode_text(raw: &str, _: &str) -> Result<Self, ApiError> {
        Ok(raw.to_string())
    }
}

macro_rules! text_number {
    ($($t:ty),*) => {$(
        impl TextDecode for $t {
            fn decode_text(raw: &str, name: &str) -> Result<Self, ApiError> {
                raw.trim().parse().map_err(|_| validation(format!("Invalid value '{raw}' for {name}.")))
            }
        }
    )*};
}
text_number!(i32, i64, f64);

impl TextDecode for bool {
    fn decode_text(raw: &str, name: &str) -> Result<Self, ApiError> {
        match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(validation(format!("Invalid value '{raw}' for {name}."))),
        }
    }
}

pub fn text_member<T: TextDecode>(raw: Option<&str>, name: &str) -> Result<Option<T>, ApiError> {
    raw.map(|r| T::decode_text(r, name)).transpose()
}

/// A value read from a JSON body member.
pub trait JsonDecode: Sized {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError>;
}

/// A value written into a JSON body.
pub trait JsonEncode {
    fn encode_json(&self) -> Value;
}

fn wrong_type(name: &str, expected: &str) -> ApiError {
    validation(format!("{name} must be {expected}"))
}

impl JsonDecode for String {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_str().map(str::to_string).ok_or_else(|| wrong_type(name, "a string"))
    }
}

impl JsonDecode for bool {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_bool().ok_or_else(|| wrong_type(name, "a boolean"))
    }
}

impl JsonDecode for i32 {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| wrong_type(name, "an integer"))
    }
}

impl JsonDecode for i64 {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_i64().ok_or_else(|| wrong_type(name, "an integer"))
    }
}

impl JsonDecode for f64 {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_f64().ok_or_else(|| wrong_type(name, "a number"))
    }
}

impl JsonDecode for Timestamp {
    /// restJson1 timestamps are epoch seconds (fractions allowed).
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_f64()
            .map(|s| Timestamp { epoch_millis: (s * 1000.0).round() as i64 })
            .ok_or_else(|| wrong_type(name, "epoch seconds"))
    }
}

impl JsonDecode for Blob {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_str().and_then(base64_decode).map(Blob).ok_or_else(|| wrong_type(name, "base64"))
    }
}

impl<T: JsonDecode> JsonDecode for Vec<T> {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_array().ok_or_else(|| wrong_type(name, "a list"))?.iter().map(|item| T::decode_json(item, name)).collect()
    }
}

impl<T: JsonDecode> JsonDecode for std::collections::BTreeMap<String, T> {
    fn decode_json(v: &Value, name: &str) -> Result<Self, ApiError> {
        v.as_object()
            .ok_or_else(|| wrong_type(name, "a map"))?
            .iter()
            .map(|(k, item)| T::decode_json(item, name).map(|t| (k.clone(), t)))
            .collect()
    }
}

/// The member `name` of a JSON object (absent or `null` is `None`).
pub fn json_member<T: JsonDecode>(object: &Value, name: &str) -> Result<Option<T>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::decode_json(v, name).map(Some),
    }
}

impl JsonEncode for String {
    fn encode_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl JsonEncode for bool {
    fn encode_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl JsonEncode for i32 {
    fn encode_json(&self) -> Value {
        Value::from(*self)
    }
}

impl JsonEncode for i64 {
    fn encode_json(&self) -> Value {
        Value::from(*self)
    }
}

impl JsonEncode for f64 {
    fn encode_json(&self) -> Value {
        Number::from_f64(*self).map(Value::Number).unwrap_or(Value::Null)
    }
}

impl JsonEncode for Timestamp {
    fn encode_json(&self) -> Value {
        (self.epoch_millis as f64 / 1000.0).encode_json()
    }
}

impl JsonEncode for Blob {
    fn encode_json(&self) -> Value {
        Value::String(base64_encode(&self.0))
    }
}

impl<T: JsonEncode> JsonEncode for std::collections::BTreeMap<String, T> {
    fn encode_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.encode_json())).collect())
    }
}

impl<T: JsonEncode> JsonEncode for Vec<T> {
    fn encode_json(&self) -> Value {
        Value::Array(self.iter().map(JsonEncode::encode_json).collect())
    }
}

/// Turns an absent required member into a `ValidationException`.
pub fn required_rest<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| validation(format!("The request is missing the required parameter {name}.")))
}

/// A value carried in a response header.
pub trait ToHeader {
    fn to_header(&self) -> String;
}

macro_rules! to_header {
    ($($t:ty),*) => {$(
        impl ToHeader for $t {
            fn to_header(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
to_header!(String, i32, i64, bool);

/// Matches a request path against a model `requestUri` template (`/snapshots/{snapshotId}/blocks`),
/// returning the percent-decoded labels.
pub fn match_uri(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let template = template.split('?').next().unwrap_or(template);
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(label) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let decoded = form_urlencoded::parse(format!("x={ps}").as_bytes()).next().map(|(_, v)| v.into_owned())?;
            params.insert(label.trim_end_matches('+').to_string(), decoded);
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

/// What a generated `awsJson` module gives to answer its requests: the operation an
/// `X-Amz-Target` names, its request decoder and its response encoder.
pub struct JsonService<Req, Resp> {
    /// The service's name in messages (`Secrets Manager`).
    pub name: &'static str,
    pub operation_of_target: fn(&str) -> Option<&'static str>,
    pub decode: fn(&str, &RestRequest) -> Option<Result<Req, ApiError>>,
    pub encode: fn(&Resp) -> RestResponse,
}

/// Answers one request of an `awsJson1_0`/`awsJson1_1` service: the operation named by
/// `X-Amz-Target`, every member in the JSON body; errors as `__type` and `message`.
pub fn serve_json<Req, Resp>(
    service: &JsonService<Req, Resp>,
    req: RestRequest,
    request_id: &str,
    dispatch: impl FnOnce(Req) -> Result<Resp, ApiError>,
) -> crate::WireResponse {
    let target = req.header("x-amz-target").unwrap_or_default().to_string();
    let result = match (service.operation_of_target)(&target) {
        None => Err(ApiError::client(
            "UnknownOperationException",
            format!("{} has no operation named by X-Amz-Target {target:?}", service.name),
        )),
        Some(operation) => match (service.decode)(operation, &req) {
            None => Err(ApiError::new(
                501,
                "NotImplemented",
                format!("The operation {operation} is not implemented by squall yet."),
            )),
            Some(Err(e)) => Err(e),
            Some(Ok(request)) => dispatch(request),
        },
    };
    match result {
        Ok(response) => {
            let rest = (service.encode)(&response);
            let mut wire = crate::WireResponse::json(200, rest.body);
            wire.content_type = rest.content_type;
            wire.headers = rest.headers;
            wire
        }
        Err(e) => e.to_aws_json_response(request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_templates_match_with_labels() {
        let m = match_uri("/snapshots/{snapshotId}/blocks/{blockIndex}", "/snapshots/snap-1/blocks/3").unwrap();
        assert_eq!(m["snapshotId"], "snap-1");
        assert_eq!(m["blockIndex"], "3");
        assert!(match_uri("/snapshots/{snapshotId}/blocks", "/snapshots/snap-1/blocks/3").is_none());
        assert!(match_uri("/snapshots", "/snapshots").is_some());
        assert!(match_uri("/snapshots/completion/{snapshotId}", "/snapshots/snap-1/blocks").is_none());
    }

    #[test]
    fn json_members_decode_and_timestamps_are_epoch_seconds() {
        let v: Value =
            serde_json::from_str(r#"{"VolumeSize": 8, "Tags": ["a"], "When": 1736937000.123, "Bad": "x"}"#).unwrap();
        assert_eq!(json_member::<i64>(&v, "VolumeSize").unwrap(), Some(8));
        assert_eq!(json_member::<Vec<String>>(&v, "Tags").unwrap(), Some(vec!["a".to_string()]));
        assert_eq!(json_member::<Timestamp>(&v, "When").unwrap().unwrap().epoch_millis, 1_736_937_000_123);
        assert_eq!(json_member::<i64>(&v, "Missing").unwrap(), None);
        assert_eq!(json_member::<i64>(&v, "Bad").unwrap_err().code, "ValidationException");
        assert_eq!(Timestamp { epoch_millis: 1_500 }.encode_json(), serde_json::json!(1.5));
    }
}

use std::borrow::Cow;

use crate::xml::XmlWriter;
use crate::WireResponse;

/// An error as the client will see it: HTTP status, AWS error code, message.
///
/// Services map their domain errors to this with an exhaustive match; the constructors here
/// carry AWS's own wording for errors every query service shares.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: Cow<'static, str>,
    pub message: String,
    /// restJson1 services' machine-readable `Reason` (EBS direct APIs); unused by query services.
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into(), reason: None }
    }

    /// Adds a restJson1 `Reason`.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// A client error (HTTP 400).
    pub fn client(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn missing_parameter(name: &str) -> Self {
        Self::client("MissingParameter", format!("The request must contain the parameter {name}"))
    }

    pub fn invalid_parameter_value(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterValue", message)
    }

    /// A value that does not parse as the parameter's type or is not one of its allowed values.
    pub fn invalid_value(name: &str, value: &str) -> Self {
        Self::invalid_parameter_value(format!("Invalid value '{value}' for {name}."))
    }

    /// An action that the service does not know, or that squall does not implement yet.
    pub fn invalid_action(action: &str, in_model: bool) -> Self {
        let message = if in_model {
            format!("The action {action} is not implemented by squall yet.")
        } else {
            format!("The action {action} is not valid for this web service.")
        };
        Self::client("InvalidAction", message)
    }

    /// EC2's answer to `DryRun=true` when the request would have succeeded (HTTP 412).
    pub fn dry_run_operation() -> Self {
        Self::new(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `ec2` protocol error body: `<Response><Errors><Error>…</Error></Errors><RequestID>`.
    pub fn to_ec2_response(&self, request_id: &str) -> WireResponse {
        let mut w = XmlWriter::new();
        w.open("Response");
        w.open("Errors");
        w.open("Error");
        w.text_element("Code", &self.code);
        w.text_element("Message", &self.message);
        w.close("Error");
        w.close("Errors");
        w.text_element("RequestID", request_id);
        w.close("Response");
        WireResponse::xml(self.status, w.finish())
    }

    /// The `awsQuery` error body: `<ErrorResponse><Error><Type>…` with `Sender` for client
    /// errors and `Receiver` for server errors.
    pub fn to_query_response(&self, request_id: &str) -> WireResponse {
        let mut w = XmlWriter::new();
        w.open("ErrorResponse");
        w.open("Error");
        w.text_element("Type", if self.status >= 500 { "Receiver" } else { "Sender" });
        w.text_element("Code", &self.code);
        w.text_element("Message", &self.message);
        w.close("Error");
        w.text_element("RequestId", request_id);
        w.close("ErrorResponse");
        WireResponse::xml(self.status, w.finish())
    }

    /// The `awsJson1_0`/`awsJson1_1` error: `__type` and `message` in the body (and the code in
    /// `x-amzn-ErrorType`, which some clients read first).
    pub fn to_aws_json_response(&self, _request_id: &str) -> WireResponse {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut r = WireResponse::json(self.status, body.to_string().into_bytes());
        r.headers.push(("x-amzn-ErrorType", self.code.to_string()));
        r
    }

    /// The `restXml` error (S3's shape): `<Error><Code>…</Code><Message>…</Message>`.
    pub fn to_rest_xml_response(&self, request_id: &str) -> WireResponse {
        let mut w = XmlWriter::new();
        w.open("Error");
        w.text_element("Code", &self.code);
        w.text_element("Message", &self.message);
        w.text_element("RequestId", request_id);
        w.close("Error");
        WireResponse::xml(self.status, w.finish())
    }

    /// The `restJson1` error: code in `x-amzn-ErrorType`, `Message` (and `Reason`) in the body.
    pub fn to_json_response(&self, _request_id: &str) -> WireResponse {
        let mut body = serde_json::json!({ "Message": self.message });
        if let Some(reason) = self.reason {
            body["Reason"] = serde_json::Value::from(reason);
        }
        let mut r = WireResponse::json(self.status, body.to_string().into_bytes());
        r.headers.push(("x-amzn-ErrorType", self.code.to_string()));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_error_body_matches_the_reference_shape() {
        let e = ApiError::client("InvalidVolume.NotFound", "The volume 'vol-1' does not exist.");
        let r = e.to_ec2_response("req-1");
        assert_eq!(r.status, 400);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidVolume.NotFound</Code>\
             <Message>The volume &apos;vol-1&apos; does not exist.</Message></Error></Errors>\
             <RequestID>req-1</RequestID></Response>"
        );
    }

    #[test]
    fn query_error_has_type_sender_or_receiver() {
        let body = String::from_utf8(ApiError::internal("boom").to_query_response("r").body).unwrap();
        assert!(body.contains("<Type>Receiver</Type><Code>InternalError</Code>"), "{body}");
        let body = String::from_utf8(ApiError::missing_parameter("X").to_query_response("r").body).unwrap();
        assert!(body.contains("<Type>Sender</Type>"), "{body}");
    }

    #[test]
    fn json_error_has_message_reason_and_the_error_type_header() {
        let r = ApiError::client("ValidationException", "bad \"x\"").with_reason("INVALID_BLOCK").to_json_response("r");
        assert_eq!(String::from_utf8(r.body).unwrap(), r#"{"Message":"bad \"x\"","Reason":"INVALID_BLOCK"}"#);
        assert_eq!(r.headers, vec![("x-amzn-ErrorType", "ValidationException".to_string())]);
    }
}

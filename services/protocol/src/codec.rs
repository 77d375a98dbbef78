//! The runtime that generated wire code calls: typed decoding of query parameters and XML
//! encoding of response members.

use crate::{ApiError, Blob, QueryParams, Timestamp, XmlWriter};

/// A value that can be read from the query parameters at `key`; `Ok(None)` when absent.
pub trait QueryDecode: Sized {
    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError>;
}

/// A value that can be written as the XML element `tag`.
pub trait XmlEncode {
    fn encode_xml(&self, w: &mut XmlWriter, tag: &str);
}

fn parse_scalar<T>(q: &QueryParams, key: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<Option<T>, ApiError> {
    match q.get(key) {
        None => Ok(None),
        Some(raw) => parse(raw).map(Some).ok_or_else(|| ApiError::invalid_value(key, raw)),
    }
}

impl QueryDecode for String {
    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {
        Ok(q.get(key).map(str::to_string))
    }
}

impl QueryDecode for bool {
    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {
        parse_scalar(q, key, |s| match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        })
    }
}

macro_rules! number_decode {
    ($($t:ty),*) => {$(
        impl QueryDecode for $t {
            fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {
                parse_scalar(q, key, |s| s.trim().parse::<$t>().ok())
            }
        }
    )*};
}
number_decode!(i32, i64, f32, f64);

impl QueryDecode for Timestamp {
    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {
        parse_scalar(q, key, Timestamp::parse_iso8601)
    }
}

impl QueryDecode for Blob {
    fn decode_query(q: &QueryParams, key: &str) -> Result<Option<Self>, ApiError> {
        parse_scalar(q, key, |s| base64_decode(s).map(Blob))
    }
}

/// Decodes an enum value with the generated `from_wire`.
pub fn decode_enum<T>(
    q: &QueryParams,
    key: &str,
    from_wire: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    parse_scalar(q, key, from_wire)
}

/// An `ec2`-protocol list (always flattened): `key.1`, `key.2`, … (or `key.1.Member` for
/// structures). Absent when no index is present.
pub fn ec2_list<T: QueryDecode>(q: &QueryParams, key: &str) -> Result<Option<Vec<T>>, ApiError> {
    let indices = q
        .indices(key)
        .map_err(|bad| ApiError::invalid_parameter_value(format!("The parameter {bad} is not recognized")))?;
    if indices.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(indices.len());
    for n in indices {
        let item_key = format!("{key}.{n}");
        if let Some(v) = T::decode_query(q, &item_key)? {
            out.push(v);
        }
    }
    Ok(Some(out))
}

/// An `awsQuery` list: `key.member.1`, … (`member` is the list member's wire name); `key=`
/// with an empty value is an explicitly empty list.
pub fn query_list<T: QueryDecode>(q: &QueryParams, key: &str, member: &str) -> Result<Option<Vec<T>>, ApiError> {
    if q.get(key) == Some("") {
        return Ok(Some(Vec::new()));
    }
    let items_key = format!("{key}.{member}");
    ec2_list(q, &items_key)
}

/// Turns an absent required member into AWS's `MissingParameter`.
pub fn required<T>(value: Option<T>, key: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing_parameter(key))
}

impl XmlEncode for String {
    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {
        w.text_element(tag, self);
    }
}

impl XmlEncode for bool {
    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {
        w.text_element(tag, if *self { "true" } else { "false" });
    }
}

macro_rules! number_encode {
    ($($t:ty),*) => {$(
        impl XmlEncode for $t {
            fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {
                w.text_element(tag, &self.to_string());
            }
        }
    )*};
}
number_encode!(i32, i64, f32, f64);

impl XmlEncode for Timestamp {
    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {
        w.text_element(tag, &self.to_string());
    }
}

impl XmlEncode for Blob {
    fn encode_xml(&self, w: &mut XmlWriter, tag: &str) {
        w.text_element(tag, &base64_encode(&self.0));
    }
}

/// A wrapped list: `<tag><item>…</item>…</tag>`, or `<tag/>` when empty (parsed as `[]`).
pub fn encode_list<T: XmlEncode>(w: &mut XmlWriter, tag: &str, item_tag: &str, items: &[T]) {
    if items.is_empty() {
        w.empty_element(tag);
        return;
    }
    w.open(tag);
    for item in items {
        item.encode_xml(w, item_tag);
    }
    w.close(tag);
}

/// Standard base64 as AWS's query protocol carries blobs: padding optional on input (some
/// clients drop it), always written on output.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

pub fn base64_encode(data: &[u8]) -> String {
    base64::Engine::encode(&BASE64, data)
}

/// Decodes base64, ignoring line breaks and other whitespace as AWS does; `None` when it is not
/// base64.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::Engine::decode(&BASE64, compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_decode_or_name_the_bad_parameter() {
        let q = QueryParams::from_pairs([("Size", "8"), ("DryRun", "TRUE"), ("Bad", "eight")]);
        assert_eq!(i32::decode_query(&q, "Size"), Ok(Some(8)));
        assert_eq!(bool::decode_query(&q, "DryRun"), Ok(Some(true)));
        assert_eq!(i32::decode_query(&q, "Missing"), Ok(None));
        let err = i32::decode_query(&q, "Bad").unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        assert_eq!(err.message, "Invalid value 'eight' for Bad.");
    }

    #[test]
    fn lists_in_both_query_dialects() {
        let q =
            QueryParams::from_pairs([("ZoneName.1", "a"), ("ZoneName.2", "b"), ("Ids.member.1", "x"), ("Empty", "")]);
        assert_eq!(ec2_list::<String>(&q, "ZoneName"), Ok(Some(vec!["a".to_string(), "b".to_string()])));
        assert_eq!(ec2_list::<String>(&q, "ZoneId"), Ok(None));
        assert_eq!(query_list::<String>(&q, "Ids", "member"), Ok(Some(vec!["x".to_string()])));
        assert_eq!(query_list::<String>(&q, "Empty", "member"), Ok(Some(vec![])));
        let bad = QueryParams::from_pairs([("ZoneName.one", "a")]);
        assert_eq!(ec2_list::<String>(&bad, "ZoneName").unwrap_err().code, "InvalidParameterValue");
    }

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", &[0, 255, 128, 7]] {
            let enc = base64_encode(data);
            assert_eq!(base64_decode(&enc).as_deref(), Some(data), "{enc}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode("!!").is_none());
    }
}

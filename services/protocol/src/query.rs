use std::collections::BTreeMap;
use std::ops::Bound;

/// The parameters of a query-protocol request: the URL query string and the form body merged
/// (AWS accepts both `GET /?Action=…` and `POST` forms). Keys are kept sorted so that every
/// member under a prefix (`Filter.1.…`) is one range look-up away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    params: BTreeMap<String, String>,
    /// Earlier values of keys given more than once (`tagKeys=a&tagKeys=b`, a restJson list in
    /// the query string), in order; `params` holds the last.
    repeated: BTreeMap<String, Vec<String>>,
}

/// Why a form-encoded request (query string or body) is not well formed: a `%` not followed by
/// two hex digits, or bytes that do not decode to UTF-8. Decoding such input would silently
/// turn it into something else (`%zz` kept literally, bad bytes into U+FFFD).
pub fn malformed(source: &[u8]) -> Option<String> {
    let mut decoded = Vec::with_capacity(source.len());
    let mut i = 0;
    while i < source.len() {
        match source[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                match (hex(source.get(i + 1)), hex(source.get(i + 2))) {
                    (Some(h), Some(l)) => decoded.push((h * 16 + l) as u8),
                    _ => return Some(format!("invalid percent-encoding at byte {i}")),
                }
                i += 3;
            }
            b'&' | b'=' => {
                if std::str::from_utf8(&decoded).is_err() {
                    return Some("a name or value is not valid UTF-8".to_string());
                }
                decoded.clear();
                i += 1;
            }
            b => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).err().map(|_| "a name or value is not valid UTF-8".to_string())
}

/// At most this many parameters in one query-protocol request (query string and form body
/// together). The largest real requests (`CreateTags` on 1,000 resources with 50 tags,
/// `DescribeInstances` with a long list of ids) stay well below it; past it a request is refused
/// before its parameters are decoded, so a body of 300,000 empty parameters costs nothing.
pub const MAX_PARAMETERS: usize = 10_000;

/// How many parameters a form-encoded source holds (its non-empty `&`-separated pieces), counted
/// without decoding anything.
pub fn parameter_count(source: &[u8]) -> usize {
    source.split(|b| *b == b'&').filter(|piece| !piece.is_empty()).count()
}

impl QueryParams {
    /// Parses `application/x-www-form-urlencoded` data; body values win over query-string ones.
    pub fn parse(query_string: &[u8], body: &[u8]) -> Self {
        let mut params = BTreeMap::new();
        let mut repeated: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for source in [query_string, body] {
            for (k, v) in form_urlencoded::parse(source) {
                if let Some(earlier) = params.insert(k.clone().into_owned(), v.into_owned()) {
                    repeated.entry(k.into_owned()).or_default().push(earlier);
                }
            }
        }
        Self { params, repeated }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { params: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), repeated: BTreeMap::new() }
    }

    /// Every value of a key given once or more, in order (`None` when absent).
    pub fn get_all(&self, key: &str) -> Option<Vec<String>> {
        let last = self.params.get(key)?;
        let mut all = self.repeated.get(key).cloned().unwrap_or_default();
        all.push(last.clone());
        Some(all)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    pub fn version(&self) -> Option<&str> {
        self.get("Version")
    }

    /// Whether any parameter is `key` itself or lies under `key.` (a structure or list is present).
    /// The empty key (a request's root) is always present.
    pub fn has_prefix(&self, key: &str) -> bool {
        if key.is_empty() {
            return true;
        }
        if self.params.contains_key(key) {
            return true;
        }
        let dotted = format!("{key}.");
        self.params
            .range::<str, _>((Bound::Included(dotted.as_str()), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(&dotted))
    }

    /// The distinct positive indices `N` of parameters `key.N` or `key.N.…`, ascending.
    /// Indices that are not numbers are reported as `Err` with the offending parameter name.
    pub fn indices(&self, key: &str) -> Result<Vec<u32>, String> {
        let dotted = format!("{key}.");
        let mut out = Vec::new();
        for (k, _) in self.params.range::<str, _>((Bound::Included(dotted.as_str()), Bound::Unbounded)) {
            let Some(rest) = k.strip_prefix(&dotted) else {
                break;
            };
            let index = rest.split('.').next().unwrap_or_default();
            match index.parse::<u32>() {
                Ok(n) if n >= 1 => out.push(n),
                _ => return Err(k.clone()),
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `join("", "Name") == "Name"`, `join("Filter.1", "Name") == "Filter.1.Name"`.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_counted_without_decoding() {
        assert_eq!(parameter_count(b""), 0);
        assert_eq!(parameter_count(b"Action=X"), 1);
        assert_eq!(parameter_count(b"a=1&&b=2&"), 2);
        assert_eq!(parameter_count(b"%zz&%FF=&c"), 3);
    }

    #[test]
    fn merges_query_string_and_form_body_with_percent_decoding() {
        let q = QueryParams::parse(
            b"Action=DescribeVolumes&Version=2016-11-15",
            b"Filter.1.Name=tag%3Aenv&Device=%2Fdev%2Fsdf&Empty=",
        );
        assert_eq!(q.action(), Some("DescribeVolumes"));
        assert_eq!(q.get("Filter.1.Name"), Some("tag:env"));
        assert_eq!(q.get("Device"), Some("/dev/sdf"));
        assert_eq!(q.get("Empty"), Some(""));
    }

    #[test]
    fn prefix_presence_does_not_confuse_siblings() {
        let q = QueryParams::from_pairs([("Filter.10.Name", "a"), ("FilterX", "b")]);
        assert!(q.has_prefix("Filter"));
        assert!(q.has_prefix("Filter.10"));
        assert!(!q.has_prefix("Filter.1"));
        assert!(!q.has_prefix("Filte"));
        assert!(q.has_prefix(""));
    }

    #[test]
    fn indices_are_numeric_sorted_and_distinct() {
        let q = QueryParams::from_pairs([("Filter.10.Name", "a"), ("Filter.2.Name", "b"), ("Filter.2.Value.1", "c")]);
        assert_eq!(q.indices("Filter"), Ok(vec![2, 10]));
        let bad = QueryParams::from_pairs([("Filter.x.Name", "a")]);
        assert_eq!(bad.indices("Filter"), Err("Filter.x.Name".to_string()));
        let zero = QueryParams::from_pairs([("ZoneName.0", "a")]);
        assert!(zero.indices("ZoneName").is_err());
    }
}

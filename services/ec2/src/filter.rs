//! EC2 `Filter.N.Name` / `Filter.N.Value.M`: values of one filter are alternatives (OR), filters
//! combine with AND, values may use the wildcards `*` and `?` (escaped with `\`).

use squall_protocol::ApiError;

use crate::generated::Filter;

/// Checks every filter name against `known` before anything is matched, as EC2 rejects an
/// unknown filter even when no resource would be tested against it.
pub(crate) fn validate(filters: &[Filter], known: &[&str]) -> Result<(), ApiError> {
    for f in filters {
        let name = f.name.as_deref().unwrap_or_default();
        let tag_filter = name.starts_with("tag:") && known.contains(&"tag:*");
        if !tag_filter && !known.contains(&name) {
            return Err(ApiError::invalid_parameter_value(format!("The filter '{name}' is invalid")));
        }
    }
    Ok(())
}

/// Whether a resource passes every filter; `values_of(name)` gives the resource's values for a
/// filter name (a resource has several values for list-like attributes).
pub(crate) fn matches(filters: &[Filter], values_of: impl Fn(&str) -> Vec<String>) -> bool {
    filters.iter().all(|f| {
        let name = f.name.as_deref().unwrap_or_default();
        let wanted = f.values.as_deref().unwrap_or_default();
        let have = values_of(name);
        wanted.iter().any(|pattern| have.iter().any(|v| wildcard_match(pattern, v)))
    })
}

/// Glob matching with `*` (any run), `?` (one character) and `\` escaping the next character.
/// Values of the `tag-key`, `tag-value` and `tag:<key>` filters for a resource with these tags
/// (nothing for any other filter name).
pub(crate) fn tag_values(tags: &std::collections::BTreeMap<String, String>, name: &str) -> Vec<String> {
    match name {
        "tag-key" => tags.keys().cloned().collect(),
        "tag-value" => tags.values().cloned().collect(),
        other => other.strip_prefix("tag:").and_then(|k| tags.get(k).cloned()).into_iter().collect(),
    }
}

pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                c if c != '\\' && c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(name: &str, values: &[&str]) -> Filter {
        Filter { name: Some(name.into()), values: Some(values.iter().map(|v| v.to_string()).collect()) }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("us-east-1*", "us-east-1a"));
        assert!(wildcard_match("*-1?", "us-east-1a"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "axxbyyc"));
        assert!(!wildcard_match("a*b*c", "axxbyy"));
        assert!(!wildcard_match("us-east-1", "us-east-1a"));
        assert!(wildcard_match("lit\\*", "lit*"));
        assert!(!wildcard_match("lit\\*", "litx"));
    }

    #[test]
    fn values_or_filters_and() {
        let values = |name: &str| match name {
            "zone-name" => vec!["us-east-1a".to_string()],
            "state" => vec!["available".to_string()],
            _ => vec![],
        };
        assert!(matches(&[filter("zone-name", &["us-east-1b", "us-east-1a"])], values));
        assert!(matches(&[filter("zone-name", &["*a"]), filter("state", &["available"])], values));
        assert!(!matches(&[filter("zone-name", &["*a"]), filter("state", &["impaired"])], values));
    }

    #[test]
    fn unknown_filter_names_are_rejected() {
        let err = validate(&[filter("colour", &["red"])], &["zone-name"]).unwrap_err();
        assert_eq!(err.code, "InvalidParameterValue");
        assert_eq!(err.message, "The filter 'colour' is invalid");
        assert!(validate(&[filter("tag:env", &["x"])], &["tag:*"]).is_ok());
    }
}

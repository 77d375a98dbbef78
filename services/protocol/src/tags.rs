//! AWS's tag rules, one place for every service: key and value lengths in characters, the
//! reserved prefixes, the number of tags on one resource. Each service words and shapes the
//! error in its own protocol; the rules themselves differ only in their numbers.

use std::fmt;

/// The rules one service applies to the tags it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagRules {
    pub max_key_chars: usize,
    pub max_value_chars: usize,
    /// Prefixes of keys (compared case-insensitively) that belong to AWS.
    pub reserved_prefixes: &'static [&'static str],
    /// Whether values may start with a reserved prefix either (RDS refuses them too).
    pub values_reserved: bool,
    pub max_tags: usize,
}

/// EC2 (and the EBS volumes and snapshots of its API).
pub const EC2: TagRules = TagRules {
    max_key_chars: 128,
    max_value_chars: 256,
    reserved_prefixes: &["aws:"],
    values_reserved: false,
    max_tags: 50,
};
/// RDS: `aws:` and `rds:` are reserved in keys and values alike.
pub const RDS: TagRules = TagRules {
    max_key_chars: 128,
    max_value_chars: 256,
    reserved_prefixes: &["aws:", "rds:"],
    values_reserved: true,
    max_tags: 50,
};
/// The EBS direct APIs (`StartSnapshot`): the model's limits are one shorter.
pub const EBS_DIRECT: TagRules = TagRules {
    max_key_chars: 127,
    max_value_chars: 255,
    reserved_prefixes: &["aws:"],
    values_reserved: false,
    max_tags: 50,
};
/// AWS FIS (templates and experiments).
pub const FIS: TagRules = TagRules {
    max_key_chars: 128,
    max_value_chars: 256,
    reserved_prefixes: &["aws:"],
    values_reserved: false,
    max_tags: 50,
};

/// What is wrong with a tag or a set of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagProblem {
    EmptyKey,
    KeyTooLong { key: String, max: usize },
    ValueTooLong { value: String, max: usize },
    ReservedKey { key: String, prefix: &'static str },
    ReservedValue { value: String, prefix: &'static str },
    TooMany { count: usize, max: usize },
}

impl fmt::Display for TagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagProblem::EmptyKey => write!(f, "Tag key cannot be empty"),
            TagProblem::KeyTooLong { key, max } => {
                write!(f, "Tag key exceeds the maximum length of {max} characters: {key}")
            }
            TagProblem::ValueTooLong { value, max } => {
                write!(f, "Tag value exceeds the maximum length of {max} characters: {value}")
            }
            TagProblem::ReservedKey { prefix, .. } => {
                write!(f, "Tag keys starting with '{prefix}' are reserved for internal use")
            }
            TagProblem::ReservedValue { prefix, .. } => {
                write!(f, "Tag values starting with '{prefix}' are reserved for internal use")
            }
            TagProblem::TooMany { max, .. } => write!(f, "The maximum number of tags per resource is {max}."),
        }
    }
}

fn reserved(rules: &TagRules, text: &str) -> Option<&'static str> {
    rules
        .reserved_prefixes
        .iter()
        .copied()
        .find(|p| text.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)))
}

impl TagRules {
    /// One tag against the rules.
    pub fn check(&self, key: &str, value: &str) -> Result<(), TagProblem> {
        if key.is_empty() {
            return Err(TagProblem::EmptyKey);
        }
        if key.chars().count() > self.max_key_chars {
            return Err(TagProblem::KeyTooLong { key: key.to_string(), max: self.max_key_chars });
        }
        if value.chars().count() > self.max_value_chars {
            return Err(TagProblem::ValueTooLong { value: value.to_string(), max: self.max_value_chars });
        }
        if let Some(prefix) = reserved(self, key) {
            return Err(TagProblem::ReservedKey { key: key.to_string(), prefix });
        }
        if self.values_reserved {
            if let Some(prefix) = reserved(self, value) {
                return Err(TagProblem::ReservedValue { value: value.to_string(), prefix });
            }
        }
        Ok(())
    }

    /// Every tag of one request, and how many there are (distinct keys).
    pub fn check_all<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), TagProblem> {
        let mut keys = std::collections::BTreeSet::new();
        for (key, value) in tags {
            self.check(key, value)?;
            keys.insert(key);
        }
        if keys.len() > self.max_tags {
            return Err(TagProblem::TooMany { count: keys.len(), max: self.max_tags });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let key = "é".repeat(128);
        assert_eq!(EC2.check(&key, ""), Ok(()));
        assert!(matches!(EC2.check(&format!("{key}x"), ""), Err(TagProblem::KeyTooLong { max: 128, .. })));
        assert!(matches!(EC2.check("k", &"v".repeat(257)), Err(TagProblem::ValueTooLong { max: 256, .. })));
        assert!(matches!(EBS_DIRECT.check(&"k".repeat(128), ""), Err(TagProblem::KeyTooLong { max: 127, .. })));
        assert_eq!(EC2.check("", "v"), Err(TagProblem::EmptyKey));
    }

    #[test]
    fn reserved_prefixes_are_refused_whatever_their_case() {
        assert!(matches!(EC2.check("AWS:Name", "x"), Err(TagProblem::ReservedKey { prefix: "aws:", .. })));
        assert_eq!(EC2.check("rds:x", "aws:y"), Ok(()));
        assert!(matches!(RDS.check("rds:x", "y"), Err(TagProblem::ReservedKey { prefix: "rds:", .. })));
        assert!(matches!(RDS.check("k", "aws:y"), Err(TagProblem::ReservedValue { prefix: "aws:", .. })));
        // A key shorter than a prefix, and one whose 4th byte is inside a character.
        assert_eq!(RDS.check("aw", "x"), Ok(()));
        assert_eq!(RDS.check("awé", "x"), Ok(()));
    }

    #[test]
    fn at_most_fifty_distinct_keys() {
        let keys: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let tags = keys.iter().map(|k| (k.as_str(), "v"));
        assert_eq!(FIS.check_all(tags.clone().take(50)), Ok(()));
        assert_eq!(FIS.check_all(tags), Err(TagProblem::TooMany { count: 51, max: 50 }));
        assert_eq!(
            TagProblem::TooMany { count: 51, max: 50 }.to_string(),
            "The maximum number of tags per resource is 50."
        );
    }
}

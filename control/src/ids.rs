use std::fmt;

/// Why a name is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl $name {
            #[allow(dead_code)]
            const KIND: &'static str = $kind;
        }
    };
}

name_type!(
    /// A region name such as `us-east-1`: lower-case letters, digits and dashes.
    RegionName,
    "region name"
);
name_type!(
    /// An Availability Zone name such as `us-east-1a` (mapped per account on real AWS).
    AzName,
    "availability zone name"
);
name_type!(
    /// An Availability Zone id such as `use1-az1` (the same physical zone in every account).
    AzId,
    "availability zone id"
);

impl RegionName {
    /// Accepts what a SigV4 credential scope can carry for a region: 1 to 64 characters of
    /// `[a-z0-9-]`, starting with a letter.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(IdError { kind: Self::KIND, value: s.to_string() })
        }
    }
}

impl AzName {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
    }
}

impl AzId {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_validated() {
        assert!(RegionName::parse("us-east-1").is_ok());
        assert!(RegionName::parse("local").is_ok());
        for bad in ["", "US-EAST-1", "us east", "1us", "us-east-1/../x"] {
            assert!(RegionName::parse(bad).is_err(), "{bad}");
        }
    }
}

macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        name_type!($(#[$doc])* $name, "resource id");

        impl $name {
            /// Accepts AWS's two id forms: the prefix and 8 or 17 lower-case hex digits.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = s
                    .strip_prefix(concat!($prefix, "-"))
                    .is_some_and(|hex| (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                if ok {
                    Ok(Self(s.to_string()))
                } else {
                    Err(IdError { kind: $prefix, value: s.to_string() })
                }
            }

            /// A fresh id of the 17-digit form.
            pub fn generate(rng: &mut impl rand::RngCore) -> Self {
                let n = rng.next_u64() as u128 | ((rng.next_u32() as u128 & 0xf) << 64);
                Self(format!(concat!($prefix, "-{:017x}"), n))
            }
        }
    };
}

resource_id!(
    /// An EBS volume id, `vol-` and 17 hex digits.
    VolumeId,
    "vol"
);
resource_id!(
    /// An EBS snapshot id, `snap-` and 17 hex digits.
    SnapshotId,
    "snap"
);
resource_id!(
    /// An EC2 instance id, `i-` and 17 hex digits.
    InstanceId,
    "i"
);

#[cfg(test)]
mod resource_id_tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn resource_ids_parse_and_generate() {
        assert!(VolumeId::parse("vol-0123456789abcdef0").is_ok());
        assert!(VolumeId::parse("vol-1234abcd").is_ok());
        for bad in ["vol-", "vol-xyz", "vol-0123456789ABCDEF0", "snap-0123456789abcdef0", "vol-0123456789abcdef01"] {
            assert!(VolumeId::parse(bad).is_err(), "{bad}");
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let id = SnapshotId::generate(&mut rng);
        assert!(SnapshotId::parse(id.as_str()).is_ok(), "{id}");
        assert_ne!(id, SnapshotId::generate(&mut rng));
    }
}

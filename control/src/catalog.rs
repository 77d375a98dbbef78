/// Whether an account must opt in to a region before using it (DescribeRegions `OptInStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionOptIn {
    /// Enabled in every account.
    NotRequired,
    /// Disabled until the account opts in; squall's account has not.
    NotOptedIn,
}

/// One commercial AWS region as squall presents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub name: &'static str,
    pub long_name: &'static str,
    pub opt_in: RegionOptIn,
    /// How many Availability Zones AWS offers there.
    pub zones: u8,
}

const fn region(name: &'static str, long_name: &'static str, opt_in: RegionOptIn, zones: u8) -> RegionInfo {
    RegionInfo { name, long_name, opt_in, zones }
}

use RegionOptIn::{NotOptedIn as OPT_IN, NotRequired as DEFAULT};

/// The commercial regions, with the number of Availability Zones each offers to a new account.
pub const REGION_CATALOG: &[RegionInfo] = &[
    region("af-south-1", "Africa (Cape Town)", OPT_IN, 3),
    region("ap-east-1", "Asia Pacific (Hong Kong)", OPT_IN, 3),
    region("ap-east-2", "Asia Pacific (Taipei)", OPT_IN, 3),
    region("ap-northeast-1", "Asia Pacific (Tokyo)", DEFAULT, 3),
    region("ap-northeast-2", "Asia Pacific (Seoul)", DEFAULT, 4),
    region("ap-northeast-3", "Asia Pacific (Osaka)", DEFAULT, 3),
    region("ap-south-1", "Asia Pacific (Mumbai)", DEFAULT, 3),
    region("ap-south-2", "Asia Pacific (Hyderabad)", OPT_IN, 3),
    region("ap-southeast-1", "Asia Pacific (Singapore)", DEFAULT, 3),
    region("ap-southeast-2", "Asia Pacific (Sydney)", DEFAULT, 3),
    region("ap-southeast-3", "Asia Pacific (Jakarta)", OPT_IN, 3),
    region("ap-southeast-4", "Asia Pacific (Melbourne)", OPT_IN, 3),
    region("ap-southeast-5", "Asia Pacific (Malaysia)", OPT_IN, 3),
    region("ap-southeast-7", "Asia Pacific (Thailand)", OPT_IN, 3),
    region("ca-central-1", "Canada (Central)", DEFAULT, 3),
    region("ca-west-1", "Canada West (Calgary)", OPT_IN, 3),
    region("eu-central-1", "Europe (Frankfurt)", DEFAULT, 3),
    region("eu-central-2", "Europe (Zurich)", OPT_IN, 3),
    region("eu-north-1", "Europe (Stockholm)", DEFAULT, 3),
    region("eu-south-1", "Europe (Milan)", OPT_IN, 3),
    region("eu-south-2", "Europe (Spain)", OPT_IN, 3),
    region("eu-west-1", "Europe (Ireland)", DEFAULT, 3),
    region("eu-west-2", "Europe (London)", DEFAULT, 3),
    region("eu-west-3", "Europe (Paris)", DEFAULT, 3),
    region("il-central-1", "Israel (Tel Aviv)", OPT_IN, 3),
    region("me-central-1", "Middle East (UAE)", OPT_IN, 3),
    region("me-south-1", "Middle East (Bahrain)", OPT_IN, 3),
    region("mx-central-1", "Mexico (Central)", OPT_IN, 3),
    region("sa-east-1", "South America (Sao Paulo)", DEFAULT, 3),
    region("us-east-1", "US East (N. Virginia)", DEFAULT, 6),
    region("us-east-2", "US East (Ohio)", DEFAULT, 3),
    region("us-west-1", "US West (N. California)", DEFAULT, 2),
    region("us-west-2", "US West (Oregon)", DEFAULT, 4),
];

/// Zones in a region that the catalog does not know (a custom name in the credential scope).
pub(crate) const DEFAULT_ZONES: u8 = 3;

pub fn lookup(name: &str) -> Option<&'static RegionInfo> {
    REGION_CATALOG.iter().find(|r| r.name == name)
}

/// The prefix of a region's zone ids: `use1` for us-east-1, `apse2` for ap-southeast-2,
/// `euc1` for eu-central-1 (the area code, the initials of the direction, the number). A name
/// that does not follow AWS's pattern keeps its letters and digits.
pub(crate) fn zone_id_prefix(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    if let [area, direction, number] = parts.as_slice() {
        if number.bytes().all(|b| b.is_ascii_digit()) && !number.is_empty() {
            let initials = match *direction {
                "southeast" => "se".to_string(),
                "northeast" => "ne".to_string(),
                "southwest" => "sw".to_string(),
                "northwest" => "nw".to_string(),
                other => other.chars().next().map(String::from).unwrap_or_default(),
            };
            return format!("{area}{initials}{number}");
        }
    }
    region.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_id_prefixes_follow_aws() {
        assert_eq!(zone_id_prefix("us-east-1"), "use1");
        assert_eq!(zone_id_prefix("eu-west-1"), "euw1");
        assert_eq!(zone_id_prefix("ap-southeast-2"), "apse2");
        assert_eq!(zone_id_prefix("ap-northeast-1"), "apne1");
        assert_eq!(zone_id_prefix("eu-central-1"), "euc1");
        assert_eq!(zone_id_prefix("sa-east-1"), "sae1");
        assert_eq!(zone_id_prefix("local"), "local");
    }

    #[test]
    fn catalog_has_seventeen_default_regions_and_unique_names() {
        assert_eq!(REGION_CATALOG.iter().filter(|r| r.opt_in == RegionOptIn::NotRequired).count(), 17);
        let mut names: Vec<_> = REGION_CATALOG.iter().map(|r| r.name).collect();
        names.dedup();
        assert_eq!(names.len(), REGION_CATALOG.len());
        assert_eq!(lookup("us-east-1").map(|r| r.zones), Some(6));
    }
}

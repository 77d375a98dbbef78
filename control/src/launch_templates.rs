//! Launch templates: named, versioned sets of launch parameters. The control plane keeps each
//! version's parameters as the flat `Name.N.Member` pairs of the EC2 query protocol, relative to
//! `LaunchTemplateData.`, without reading them: the EC2 service decodes them, and merges them
//! into RunInstances. What the control plane decides is naming, versions, the default version,
//! and deletion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ControlError;
use crate::region::Region;
use crate::state::RegionState;
use crate::table::Row;

/// Versions one template may have (AWS's quota).
pub const MAX_VERSIONS: usize = 10_000;
/// Templates per region (AWS's quota).
pub const MAX_TEMPLATES: usize = 5_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub created_ms: u64,
    pub default_version: u32,
    pub latest_version: u32,
    pub versions: BTreeMap<u32, TemplateVersion>,
    pub tags: BTreeMap<String, String>,
}

impl Row for LaunchTemplate {
    const TABLE: &'static str = "launch_templates";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    pub number: u32,
    pub description: Option<String>,
    pub created_ms: u64,
    /// The launch parameters, as query pairs relative to `LaunchTemplateData.`.
    pub data: BTreeMap<String, String>,
}

/// What DeleteLaunchTemplateVersions did with one version asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionDeletion {
    Deleted(u32),
    /// The default version stays.
    IsDefault(u32),
    /// No such version (as asked for).
    NotFound(String),
}

/// A template named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    Id(String),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("launch template {0} does not exist")]
    IdNotFound(String),
    #[error("launch template named {0} does not exist")]
    NameNotFound(String),
    #[error("launch template name {0} is in use")]
    NameInUse(String),
    #[error("{0} is not a valid launch template name")]
    InvalidName(String),
    #[error("launch template {template} has no version {version}")]
    VersionNotFound { template: String, version: String },
    #[error("at most {0} launch templates")]
    TemplateLimit(usize),
    #[error("at most {0} versions")]
    VersionLimit(usize),
}

/// The first key segment of a query pair (`BlockDeviceMapping` of `BlockDeviceMapping.1.Ebs.VolumeSize`).
pub fn top_level(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

fn valid_name(name: &str) -> bool {
    (3..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"()./_-".contains(&b))
}

impl LaunchTemplate {
    /// The version `$Latest`, `$Default` or a number names (`None`: the default version).
    pub fn version(&self, selector: Option<&str>) -> Result<&TemplateVersion, ControlError> {
        let number = match selector {
            None | Some("$Default") => Some(self.default_version),
            Some("$Latest") => Some(self.latest_version),
            Some(n) => n.parse::<u32>().ok(),
        };
        number.and_then(|n| self.versions.get(&n)).ok_or_else(|| {
            TemplateError::VersionNotFound {
                template: self.id.clone(),
                version: selector.unwrap_or("$Default").to_string(),
            }
            .into()
        })
    }
}

impl RegionState {
    pub fn launch_templates(&self) -> Vec<LaunchTemplate> {
        self.launch_templates.values().cloned().collect()
    }

    pub fn launch_template(&self, r: &TemplateRef) -> Result<&LaunchTemplate, ControlError> {
        match r {
            TemplateRef::Id(id) => {
                self.launch_templates.get(id).ok_or_else(|| TemplateError::IdNotFound(id.clone()).into())
            }
            TemplateRef::Name(name) => self
                .launch_templates
                .values()
                .find(|t| t.name == *name)
                .ok_or_else(|| TemplateError::NameNotFound(name.clone()).into()),
        }
    }

    fn template_mut(&mut self, r: &TemplateRef) -> Result<&mut LaunchTemplate, ControlError> {
        let id = self.launch_template(r)?.id.clone();
        self.launch_templates.get_mut(&id).ok_or_else(|| ControlError::invariant("template"))
    }

    pub(crate) fn create_launch_template(
        &mut self,
        name: &str,
        description: Option<String>,
        data: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        if !valid_name(name) {
            return Err(TemplateError::InvalidName(name.to_string()).into());
        }
        if self.launch_templates.values().any(|t| t.name == name) {
            return Err(TemplateError::NameInUse(name.to_string()).into());
        }
        if self.launch_templates.len() >= MAX_TEMPLATES {
            return Err(TemplateError::TemplateLimit(MAX_TEMPLATES).into());
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let id = self.random_id("lt");
        let version = TemplateVersion { number: 1, description, created_ms: now_ms, data };
        let t = LaunchTemplate {
            id: id.clone(),
            name: name.to_string(),
            created_ms: now_ms,
            default_version: 1,
            latest_version: 1,
            versions: BTreeMap::from([(1, version)]),
            tags,
        };
        self.launch_templates.insert(id, t.clone());
        Ok(t)
    }

    /// CreateLaunchTemplateVersion: the given parameters, on top of `source`'s when one is named
    /// (a parameter given replaces the source's whole parameter of that name, as on AWS).
    pub(crate) fn create_template_version(
        &mut self,
        r: &TemplateRef,
        source: Option<&str>,
        description: Option<String>,
        data: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(LaunchTemplate, TemplateVersion), ControlError> {
        let t = self.launch_template(r)?;
        let mut merged = match source {
            Some(s) => t.version(Some(s))?.data.clone(),
            None => BTreeMap::new(),
        };
        if t.versions.len() >= MAX_VERSIONS {
            return Err(TemplateError::VersionLimit(MAX_VERSIONS).into());
        }
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let given: std::collections::BTreeSet<&str> = data.keys().map(|k| top_level(k)).collect();
        merged.retain(|k, _| !given.contains(top_level(k)));
        merged.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let t = self.template_mut(r)?;
        t.latest_version += 1;
        let version = TemplateVersion { number: t.latest_version, description, created_ms: now_ms, data: merged };
        t.versions.insert(version.number, version.clone());
        Ok((t.clone(), version))
    }

    /// ModifyLaunchTemplate `DefaultVersion`.
    pub(crate) fn set_default_version(
        &mut self,
        r: &TemplateRef,
        version: Option<&str>,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        let t = self.launch_template(r)?;
        let number = match version {
            Some(v) => t.version(Some(v))?.number,
            None => t.default_version,
        };
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let t = self.template_mut(r)?;
        t.default_version = number;
        Ok(t.clone())
    }

    pub(crate) fn delete_launch_template(
        &mut self,
        r: &TemplateRef,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        let t = self.launch_template(r)?.clone();
        if dry_run {
            return Err(ControlError::DryRun);
        }
        self.launch_templates.remove(&t.id);
        Ok(t)
    }

    /// DeleteLaunchTemplateVersions: each version on its own; the default one stays. Answers what
    /// became of each version asked for.
    pub(crate) fn delete_template_versions(
        &mut self,
        r: &TemplateRef,
        versions: &[String],
        dry_run: bool,
    ) -> Result<(LaunchTemplate, Vec<VersionDeletion>), ControlError> {
        self.launch_template(r)?;
        if dry_run {
            return Err(ControlError::DryRun);
        }
        let t = self.template_mut(r)?;
        let mut out = Vec::new();
        for v in versions {
            let number = v.parse::<u32>().ok().filter(|n| t.versions.contains_key(n));
            out.push(match number {
                None => VersionDeletion::NotFound(v.clone()),
                Some(n) if n == t.default_version => VersionDeletion::IsDefault(n),
                Some(n) => {
                    t.versions.remove(&n);
                    VersionDeletion::Deleted(n)
                }
            });
        }
        Ok((t.clone(), out))
    }

    pub(crate) fn template_tags_mut(&mut self, id: &str) -> Option<&mut BTreeMap<String, String>> {
        self.launch_templates.get_mut(id).map(|t| &mut t.tags)
    }
}

impl Region {
    #[allow(clippy::too_many_arguments)]
    pub fn create_launch_template(
        &self,
        name: &str,
        description: Option<String>,
        data: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        self.with_state(now_ms, |state| state.create_launch_template(name, description, data, tags, now_ms, dry_run))
    }

    pub fn create_template_version(
        &self,
        r: &TemplateRef,
        source: Option<&str>,
        description: Option<String>,
        data: BTreeMap<String, String>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(LaunchTemplate, TemplateVersion), ControlError> {
        self.with_state(now_ms, |state| state.create_template_version(r, source, description, data, now_ms, dry_run))
    }

    pub fn set_default_version(
        &self,
        r: &TemplateRef,
        version: Option<&str>,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        self.with_state(now_ms, |state| state.set_default_version(r, version, dry_run))
    }

    pub fn delete_launch_template(
        &self,
        r: &TemplateRef,
        now_ms: u64,
        dry_run: bool,
    ) -> Result<LaunchTemplate, ControlError> {
        self.with_state(now_ms, |state| state.delete_launch_template(r, dry_run))
    }

    pub fn delete_template_versions(
        &self,
        r: &TemplateRef,
        versions: &[String],
        now_ms: u64,
        dry_run: bool,
    ) -> Result<(LaunchTemplate, Vec<VersionDeletion>), ControlError> {
        self.with_state(now_ms, |state| state.delete_template_versions(r, versions, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{TemplateError, TemplateRef, VersionDeletion};
    use crate::error::ControlError;
    use crate::test_support::TestRegion;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_version_from_a_source_replaces_whole_parameters_and_the_default_stays() {
        let t = TestRegion::new();
        let lt = t
            .run(|s| {
                s.create_launch_template(
                    "web",
                    None,
                    data(&[
                        ("ImageId", "ami-1"),
                        ("BlockDeviceMapping.1.DeviceName", "/dev/sdb"),
                        ("BlockDeviceMapping.2.DeviceName", "/dev/sdc"),
                    ]),
                    BTreeMap::new(),
                    1,
                    false,
                )
            })
            .unwrap();
        let by_id = TemplateRef::Id(lt.id.clone());
        let (_, v2) = t
            .run(|s| {
                s.create_template_version(
                    &by_id,
                    Some("1"),
                    None,
                    data(&[("BlockDeviceMapping.1.DeviceName", "/dev/sdd")]),
                    2,
                    false,
                )
            })
            .unwrap();
        assert_eq!(v2.number, 2);
        assert_eq!(v2.data, data(&[("ImageId", "ami-1"), ("BlockDeviceMapping.1.DeviceName", "/dev/sdd")]));
        let again = t.run(|s| s.create_launch_template("web", None, BTreeMap::new(), BTreeMap::new(), 3, false));
        assert_eq!(again.unwrap_err(), ControlError::from(TemplateError::NameInUse("web".into())));
        let (after, results) =
            t.run(|s| s.delete_template_versions(&by_id, &["1".into(), "2".into(), "9".into()], false)).unwrap();
        assert_eq!(
            results,
            vec![VersionDeletion::IsDefault(1), VersionDeletion::Deleted(2), VersionDeletion::NotFound("9".into())]
        );
        assert_eq!(after.latest_version, 2, "the latest number is never reused");
        let missing = t.run(|s| s.set_default_version(&TemplateRef::Name("web".into()), Some("2"), false));
        assert!(matches!(missing, Err(ControlError::Template(TemplateError::VersionNotFound { .. }))));
    }
}

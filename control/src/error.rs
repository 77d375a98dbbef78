//! The control plane's errors: one enum per area (each kept beside the data of its area in
//! `model/`), gathered in [`ControlError`]. They speak squall's terms: the services map them to
//! their wire codes and HTTP statuses, which the control plane never names.

use std::path::PathBuf;

use squall_storage::StorageError;

pub use crate::model::image::ImageError;
pub use crate::model::instance::InstanceError;
pub use crate::model::key_pair::KeyPairError;
pub use crate::model::network::NetworkError;
pub use crate::model::rds::RdsError;
pub use crate::model::routing::RoutingError;
pub use crate::model::security_group::SecurityGroupError;
pub use crate::model::snapshot::SnapshotError;
pub use crate::model::volume::VolumeError;
pub use crate::model::zone::ZoneError;

/// Why a command failed: a request error of one area, or a failure inside squall.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ControlError {
    #[error("the request would have succeeded (dry run)")]
    DryRun,
    #[error("{0} is not the id of a resource squall knows")]
    UnknownResourceId(String),
    #[error("more than 50 tags on one resource")]
    TooManyTags,
    #[error("client token {0} was used with other parameters")]
    IdempotentParameterMismatch(String),
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    SecurityGroup(#[from] SecurityGroupError),
    #[error(transparent)]
    KeyPair(#[from] KeyPairError),
    #[error(transparent)]
    Rds(#[from] RdsError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Template(#[from] crate::launch_templates::TemplateError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A failure inside squall — its disk, its database, its own invariants — not the caller's
/// fault; the services answer it as AWS's internal error. Each keeps its source.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("block store: {0}")]
    Storage(#[from] StorageError),
    #[error("metadata database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("metadata row: {0}")]
    Row(#[from] serde_json::Error),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Data on disk this squall cannot read (a newer schema, an unknown format).
    #[error("{0}")]
    Unreadable(String),
    #[error("key generation: {0}")]
    KeyGeneration(String),
    /// An invariant of squall's own did not hold (a bug).
    #[error("{0}")]
    Invariant(String),
}

/// Internal errors compare by what they say (their sources are not comparable).
impl PartialEq for InternalError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl ControlError {
    /// A file squall could not read or write.
    pub(crate) fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        InternalError::File { path: path.into(), source }.into()
    }

    pub(crate) fn invariant(what: impl Into<String>) -> Self {
        InternalError::Invariant(what.into()).into()
    }
}

impl From<StorageError> for ControlError {
    fn from(e: StorageError) -> Self {
        InternalError::Storage(e).into()
    }
}

impl From<rusqlite::Error> for ControlError {
    fn from(e: rusqlite::Error) -> Self {
        InternalError::Database(e).into()
    }
}

impl From<serde_json::Error> for ControlError {
    fn from(e: serde_json::Error) -> Self {
        InternalError::Row(e).into()
    }
}

//! DB instances across regions: a read replica in one region of an instance in another (its
//! SQL endpoint copies the source's bytes and then follows its writes, as an in-region replica's
//! does), and what the source and the replica learn of each other — the source lists the
//! replica's ARN, a promoted or deleted replica leaves that list, and a deleted source leaves its
//! cross-region replicas standalone.

use crate::error::ControlError;
use crate::model::rds::{DbInstance, ReadReplicaSpec};
use crate::{ControlPlane, RegionName};

/// `(region, id)` of an RDS ARN of resource type `kind` (`arn:aws:rds:<region>:<account>:<kind>:<id>`).
pub fn parse_rds_arn(arn: &str, kind: &str) -> Option<(RegionName, String)> {
    match arn.splitn(7, ':').collect::<Vec<_>>().as_slice() {
        ["arn", "aws", "rds", region, _account, k, id] if *k == kind && !id.is_empty() => {
            Some((RegionName::parse(region).ok()?, id.to_ascii_lowercase()))
        }
        _ => None,
    }
}

/// `(region, id)` of a DB instance ARN.
pub fn parse_db_arn(arn: &str) -> Option<(RegionName, String)> {
    parse_rds_arn(arn, "db")
}

impl ControlPlane {
    /// CreateDBInstanceReadReplica in region `to` of the instance `source_arn` names in its own
    /// region; `replica_arn` is the new replica's, which the source lists.
    pub fn create_cross_region_read_replica(
        &self,
        source_arn: &str,
        to: &RegionName,
        replica_arn: &str,
        spec: ReadReplicaSpec,
        address: &str,
    ) -> Result<DbInstance, ControlError> {
        let now = self.now_ms();
        let (from, source_id) =
            parse_db_arn(source_arn).ok_or_else(|| crate::model::rds::RdsError::InvalidArn(source_arn.to_string()))?;
        let source = self.region(&from).read(now, |s| {
            let source = s.db_instance(&source_id)?.clone();
            s.check_replica_source(&source)?;
            Ok(source)
        })?;
        let destination = self.region(to);
        let zones = destination.zones_now();
        let made = destination.with_state(now, |s| {
            s.create_replica_of(&source, source_arn.to_string(), false, spec, &zones, address, now)
        })?;
        self.region(&from).with_state(now, |s| {
            s.note_cross_region_replica(&source_id, replica_arn, true);
            Ok(())
        })?;
        Ok(made)
    }

    /// A cross-region replica was promoted or deleted: its source (by ARN) forgets it.
    pub fn forget_cross_region_replica(&self, source_arn: &str, replica_arn: &str) -> Result<(), ControlError> {
        let Some((from, source_id)) = parse_db_arn(source_arn) else { return Ok(()) };
        if !self.serves_region(from.as_str()) {
            return Ok(());
        }
        self.region(&from).with_state(self.now_ms(), |s| {
            s.note_cross_region_replica(&source_id, replica_arn, false);
            Ok(())
        })
    }

    /// A source with replicas in other regions is being deleted: they become standalone
    /// instances (as RDS promotes them).
    pub fn release_cross_region_replicas(&self, replicas: &[String]) -> Result<(), ControlError> {
        let now = self.now_ms();
        for arn in replicas {
            let Some((region, id)) = parse_db_arn(arn) else { continue };
            if !self.serves_region(region.as_str()) {
                continue;
            }
            self.region(&region).with_state(now, |s| {
                s.end_replication(&id, now);
                Ok(())
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_db_arn;

    #[test]
    fn db_arns_name_their_region_and_instance() {
        let (region, id) = parse_db_arn("arn:aws:rds:eu-west-1:000000000000:db:Orders").expect("arn");
        assert_eq!((region.as_str(), id.as_str()), ("eu-west-1", "orders"));
        assert!(parse_db_arn("arn:aws:rds:eu-west-1:000000000000:snapshot:x").is_none());
        assert!(parse_db_arn("orders").is_none());
    }
}

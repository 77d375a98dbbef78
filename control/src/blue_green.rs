//! Blue/green deployments (filled in below).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::table::Row;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlueGreenDeployment {
    pub id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

impl Row for BlueGreenDeployment {
    const TABLE: &'static str = "blue_green_deployments";
    type Key = String;
    fn key(&self) -> String {
        self.id.clone()
    }
}

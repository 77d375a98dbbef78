//! The region's resources as data: what each resource is, its states, what a request for it
//! asks for, and the errors of its area. No rules live here (they are in the module of each
//! resource beside `model/`), so every rule module can use any resource's data without a cycle.

pub mod fis;
pub mod image;
pub mod instance;
pub mod key_pair;
pub mod lifecycle;
pub mod network;
pub mod rds;
pub mod routing;
pub mod security_group;
pub mod snapshot;
pub mod volume;
pub mod zone;

//! Zero-trust permissions: the model, the file form
//! (`.nexus/permissions.json`), and the gate that decides every AI or cloud
//! read.

pub mod file;
pub mod gate;
pub mod model;

pub use gate::{Decision, Purpose, check_ai_permission, check_cloud_permission, decide};
pub use model::{PermissionChange, Permissions};

//! Schemas: the built-in JSON Schemas, plugin manifests, and the registry of
//! compiled, cached validators.

pub mod builtin;
pub mod document;
pub mod plugins;
pub mod registry;

pub use registry::{CompiledSchema, RegisterOutcome, SchemaRegistry};

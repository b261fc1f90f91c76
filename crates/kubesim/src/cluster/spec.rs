//! What a seeded cluster holds beyond nodes: deployment seeds and their disruption budgets.

use serde_json::{Value, json};

/// An `IntOrString` budget value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// A number of pods.
    Int(i32),
    /// A percentage (`"25%"`).
    Percent(u32),
}

impl IntOrPercent {
    /// The JSON value (`3` or `"25%"`).
    pub(crate) fn to_json(self) -> Value {
        match self {
            Self::Int(i) => json!(i),
            Self::Percent(p) => json!(format!("{p}%")),
        }
    }
}

/// The budget of a PodDisruptionBudget seeded with a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdbSpec {
    /// `spec.minAvailable`.
    MinAvailable(IntOrPercent),
    /// `spec.maxUnavailable`.
    MaxUnavailable(IntOrPercent),
}

/// A deployment (and maybe its PDB) to seed.
#[derive(Debug, Clone)]
pub(crate) struct DeploymentSeed {
    pub namespace: String,
    pub name: String,
    pub replicas: usize,
    pub pdb: Option<PdbSpec>,
}

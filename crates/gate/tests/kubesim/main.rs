//! The attempt record and the health gate against kubesim over HTTP: simulated kubelets
//! (a reboot gives a new boot ID, pods become Ready after a start delay), the `ReplicaSet`,
//! `Deployment` and `DaemonSet` controllers and PDB status.

// Scenario tests read best top to bottom.
#![allow(clippy::too_many_lines)]

mod attempt;
mod gate;
mod support;

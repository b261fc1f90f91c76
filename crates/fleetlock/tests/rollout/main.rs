//! Stop-the-line on kubesim (simulated kubelets): the health gate at steady-state keeps the
//! slot while the node's pods come back (steady-state answered at once), a gate failure and a
//! node not back in time halt the group (`rollout_halted` for others, holders keep their 200,
//! `/v1/status` and `/metrics` show it), the admin clear resumes, and a gate task ends when the
//! slot is released by an admin or the server stops (nothing read or written after, from
//! kubesim's history and request counts).

#[path = "../common/mod.rs"]
mod common;
mod gate;
mod halt;
mod support;

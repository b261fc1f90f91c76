//! fleetlock-rs (work in progress).

fn main() {}

//! `fleetlock::protocol::LockRequest::parse`: the FleetLock request body.
//!
//! Properties: no panic; an accepted body has a non-empty id and a valid group, and its
//! re-serialisation parses back to the same request.
#![no_main]

use fleetlock::protocol::{LockRequest, is_valid_group};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match LockRequest::parse(data) {
        Ok(req) => {
            assert!(!req.client_params.id.is_empty());
            assert!(is_valid_group(&req.client_params.group));
            let json = serde_json::to_vec(&req).expect("plain strings serialise");
            assert_eq!(LockRequest::parse(&json).ok(), Some(req));
        }
        Err(e) => {
            let _ = e.body();
            let _ = e.to_string();
        }
    }
});

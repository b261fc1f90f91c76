//! `lock::format`: the kured lock annotation JSON.
//!
//! Properties: no panic; whatever parses serialises, and the serialised form parses back to
//! the same value and serialises to the same bytes (a stable round trip), for both
//! `LockValue` and `LockRecord`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lock::{LockRecord, LockValue};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = LockValue::parse(text) {
        let json = value.to_json();
        let again = LockValue::parse(&json)
            .unwrap_or_else(|e| panic!("to_json of {value:?} does not parse: {json}: {e}"));
        assert_eq!(again, value, "{json}");
        assert_eq!(again.to_json(), json);
    }
    if let Ok(record) = LockRecord::parse(text) {
        let json = record.to_json();
        let again = LockRecord::parse(&json)
            .unwrap_or_else(|e| panic!("to_json of {record:?} does not parse: {json}: {e}"));
        assert_eq!(again, record, "{json}");
        assert_eq!(again.to_json(), json);
    }
});

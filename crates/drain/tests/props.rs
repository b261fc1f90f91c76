//! Property tests for `drain::parse_labels` (kured's `--pre-reboot-node-labels` and
//! `--post-reboot-node-labels`): no input panics (kured #1281 panicked on an argument without
//! `=`), the result is exactly "split at the first `=`, later duplicates win", the error names
//! the first bad argument, and a map printed as `key=value` arguments parses back to itself.
//! The cargo-fuzz target `labels_selectors` (in `fuzz/`) runs the same parser for longer.

use std::collections::BTreeMap;

use drain::{LabelParseError, parse_labels};
use proptest::prelude::*;

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z./=-]{0,12}",
        ("[a-z0-9./-]{0,10}", "[a-z0-9=,-]{0,10}").prop_map(|(k, v)| format!("{k}={v}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn result_is_split_at_first_equals_and_errors_name_the_first_bad_arg(
        args in prop::collection::vec(arg(), 0..6),
    ) {
        let first_bad = args
            .iter()
            .find(|a| a.split_once('=').is_none_or(|(k, _)| k.is_empty()));
        match (parse_labels(&args), first_bad) {
            (Ok(map), None) => {
                let mut want = BTreeMap::new();
                for a in &args {
                    let (k, v) = a.split_once('=').expect("no bad argument");
                    want.insert(k.to_owned(), v.to_owned());
                }
                prop_assert_eq!(map, want);
            }
            (Err(LabelParseError::MissingEquals(a)), Some(bad)) => {
                prop_assert_eq!(&a, bad);
                prop_assert!(!a.contains('='));
            }
            (Err(LabelParseError::EmptyKey(a)), Some(bad)) => {
                prop_assert_eq!(&a, bad);
                prop_assert!(a.starts_with('='));
            }
            (got, want) => prop_assert!(false, "{:?}: got {:?}, first bad {:?}", args, got, want),
        }
    }

    #[test]
    fn printed_map_round_trips(
        map in prop::collection::btree_map("[^=]{1,12}", any::<String>(), 0..6),
    ) {
        let args: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        prop_assert_eq!(parse_labels(&args).ok(), Some(map));
    }
}

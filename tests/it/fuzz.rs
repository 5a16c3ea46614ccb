//! Fuzz-style property tests: arbitrary JSON as config, state and catalog never panics the parsers,
//! and arbitrary bytes as input files never panic the binary.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tap_drift::config::{Config, TimestampFormat};
use tap_drift::discover::known;
use tap_drift::singer::catalog::select_from;
use tap_drift::singer::state::State;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("accounts"),
            Just("users"),
            Just("conversations"),
            Just("selected"),
            Just("metadata"),
            Just("breadcrumb"),
            Just("bookmarks"),
            Just("replication_key_value"),
            Just("INCREMENTAL"),
            Just("FULL_TABLE")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("streams".to_string()),
            Just("tap_stream_id".to_string()),
            Just("metadata".to_string()),
            Just("breadcrumb".to_string()),
            Just("selected".to_string()),
            Just("bookmarks".to_string()),
            Just("users".to_string()),
            Just("replication_key".to_string()),
            Just("replication_key_value".to_string()),
            Just("access_token".to_string()),
            Just("page_size".to_string()),
            Just("start_date".to_string()),
            Just("api_url".to_string()),
            Just("replication-method".to_string()),
            Just("schema".to_string()),
            "[a-z]{1,6}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn config_parsing_never_panics(v in arb_json()) {
        if let Value::Object(m) = &v {
            let _ = Config::from_raw(m);
        }
    }

    #[test]
    fn state_parsing_never_panics(v in arb_json(), key in "[a-zA-Z]{1,10}") {
        if let Ok(mut s) = State::from_value(v) {
            for stream in ["users", "accounts", "conversations"] {
                let before = s.bookmark(stream, &key);
                let _ = s.recent(stream);
                s.advance(stream, &key, 5, vec![(json!(1), 5)]);
                // a bookmark never moves backwards
                if let (Ok(Some(b)), Ok(Some(a))) = (before, s.bookmark(stream, &key)) {
                    prop_assert!(a >= b);
                }
            }
            let _ = s.to_value();
        }
    }

    #[test]
    fn catalog_parsing_never_panics(v in arb_json()) {
        let _ = select_from(&v, &known(TimestampFormat::EpochMs).expect("schemas"));
        let _ = select_from(&json!({"streams": [v]}), &known(TimestampFormat::DateTime).expect("schemas"));
    }
}

//! Every case of every fixture set in tests/fixtures/compat (made with the official Python SDK)
//! replayed by this crate, compared field by field with the official result: the decisions and
//! the event requests (impressions and conversions) each case sends.

mod common;

use common::{fixture_sets, same};
use decisive::replay::{self, Case};
use decisive::Client;
use serde_json::Value;

#[test]
fn every_fixture_case_decides_and_sends_events_as_the_official_sdk() {
    let sets = fixture_sets();
    assert!(
        sets.len() == 19,
        "expected the 19 fixture sets, found {}",
        sets.len()
    );
    let mut checked = 0;
    let mut failures = Vec::new();
    for set in &sets {
        let name = set.file_name().unwrap().to_string_lossy().to_string();
        let datafile = std::fs::read(set.join("datafile.json")).unwrap();
        let client = Client::builder()
            .datafile(&datafile)
            .without_events()
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cases = std::fs::read_to_string(set.join("cases.jsonl")).unwrap();
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        let expected: Vec<&str> = expected.lines().collect();
        let cases: Vec<&str> = cases.lines().collect();
        assert_eq!(
            cases.len(),
            expected.len(),
            "{name}: cases and expected differ in length"
        );
        for (line, want) in cases.iter().zip(&expected) {
            let mut case = Case::parse(line).unwrap();
            let got = replay::run(&client, &case).unwrap();
            // The same case with reasons collected takes the decision path in the official
            // order (audience before bucketing); it must agree too.
            case.options.push("INCLUDE_REASONS".to_owned());
            let with_reasons = replay::run(&client, &case).unwrap();
            if with_reasons.get("decisions") != got.get("decisions") {
                failures.push(format!(
                    "{name} case {}: decisions differ with INCLUDE_REASONS",
                    got["id"]
                ));
            }
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(got["id"], want["id"]);
            checked += 1;
            let (got_d, want_d) = (got.get("decisions"), want.get("decisions"));
            let ok = match (got_d, want_d) {
                (None, None) => true,
                (Some(g), Some(w)) => same(g, w),
                _ => false,
            };
            let events_ok = match (got.get("events"), want.get("events")) {
                (Some(g), Some(w)) => same(g, w),
                _ => false,
            };
            if !events_ok {
                failures.push(format!(
                    "{name} case {} events:\n  got      {}\n  expected {}",
                    want["id"],
                    got.get("events").map(|v| v.to_string()).unwrap_or_default(),
                    want.get("events")
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                ));
            }
            if !ok {
                failures.push(format!(
                    "{name} case {}:\n  got      {}\n  expected {}",
                    want["id"],
                    got_d.map(|v| v.to_string()).unwrap_or_default(),
                    want_d.map(|v| v.to_string()).unwrap_or_default()
                ));
            }
        }
    }
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(15).collect();
        panic!(
            "{} of {checked} cases disagree:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(checked, 8984);
}

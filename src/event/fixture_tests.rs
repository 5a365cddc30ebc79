//! Every case of every compatibility fixture set (made with the official Python SDK): the
//! decisions are recomputed through the client, and each impression or conversion the case
//! sends is built here and compared with the official request body.

use super::*;
use crate::replay::Case;
use crate::Client;
use std::path::{Path, PathBuf};

fn fixture_sets() -> Vec<PathBuf> {
    let root = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/compat"
    ));
    let mut sets: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cases.jsonl").is_file())
        .collect();
    sets.sort();
    sets
}

/// JSON equality with numbers compared by value (`3` equals `3.0`) and object keys in any
/// order.
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn is_v4_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        && s.as_bytes()[14] == b'4'
        && matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b')
}

/// The fixtures' normalisation: every `uuid` becomes `"<uuid>"` (after checking it is a
/// version-4 UUID), every `timestamp` 0 (after checking it is recent), and the batch loses
/// `client_name` and `client_version` (after checking them).
pub(super) fn normalise(body: &mut Value) {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    match (k.as_str(), &*x) {
                        ("uuid", Value::String(u)) => {
                            assert!(is_v4_uuid(u), "not a v4 uuid: {u}");
                            *x = Value::from("<uuid>");
                        }
                        ("timestamp", Value::Number(n)) => {
                            let ms = n.as_u64().expect("integer timestamp");
                            assert!(ms > 1_700_000_000_000, "timestamp {ms} is not now");
                            *x = Value::from(0);
                        }
                        _ => walk(x),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let map = body.as_object_mut().expect("batch object");
    assert_eq!(map.remove("client_name"), Some(Value::from(CLIENT_NAME)));
    assert_eq!(
        map.remove("client_version"),
        Some(Value::from(CLIENT_VERSION))
    );
    walk(body);
}

/// The requests one case sends, one user event per request, as the replay builds them.
fn requests(client: &Client, case: &Case) -> Result<Vec<LogEvent>, String> {
    crate::replay::play(client, case)
        .map(|outcome| outcome.requests)
        .map_err(|e| e.to_string())
}

#[test]
fn every_fixture_case_sends_the_official_events() {
    let sets = fixture_sets();
    assert_eq!(sets.len(), 19, "expected the 19 fixture sets");
    let mut cases_checked = 0;
    let mut events_checked = 0;
    let mut impressions = 0;
    let mut conversions = 0;
    let mut failures = Vec::new();
    for set in &sets {
        let name = set.file_name().unwrap().to_string_lossy().to_string();
        let client = Client::builder()
            .datafile_path(set.join("datafile.json"))
            .without_events()
            .build()
            .unwrap();
        let cases = std::fs::read_to_string(set.join("cases.jsonl")).unwrap();
        let expected = std::fs::read_to_string(set.join("expected.jsonl")).unwrap();
        assert_eq!(cases.lines().count(), expected.lines().count(), "{name}");
        for (line, want) in cases.lines().zip(expected.lines()) {
            let case = Case::parse(line).unwrap();
            let want: Value = serde_json::from_str(want).unwrap();
            assert_eq!(case.id, want["id"]);
            cases_checked += 1;
            let want_events = want["events"].as_array().expect("events list");
            let got = match requests(&client, &case) {
                Ok(got) => got,
                Err(e) => {
                    failures.push(format!("{name} case {}: {e}", case.id));
                    continue;
                }
            };
            if got.len() != want_events.len() {
                failures.push(format!(
                    "{name} case {}: {} requests, expected {}",
                    case.id,
                    got.len(),
                    want_events.len()
                ));
                continue;
            }
            for (g, w) in got.into_iter().zip(want_events) {
                events_checked += 1;
                let visitors = g.json()["visitors"].as_array().map_or(0, Vec::len);
                assert_eq!(visitors, 1);
                if g.json()["visitors"][0]["snapshots"][0]
                    .get("decisions")
                    .is_some()
                {
                    impressions += 1;
                } else {
                    conversions += 1;
                }
                assert_eq!(g.method, "POST");
                assert_eq!(g.headers, [("Content-Type", "application/json")]);
                let mut body = g.json();
                normalise(&mut body);
                let ok = w["url"] == g.url && w["method"] == g.method && same(&body, &w["body"]);
                if !ok {
                    failures.push(format!(
                        "{name} case {}:\n  got      {} {}\n  expected {} {}",
                        case.id, g.url, g.body, w["url"], w["body"]
                    ));
                }
            }
        }
    }
    eprintln!(
        "checked {cases_checked} cases, {events_checked} requests \
         ({impressions} impressions, {conversions} conversions)"
    );
    if !failures.is_empty() {
        panic!(
            "{} disagreements:\n{}",
            failures.len(),
            failures
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(cases_checked, 8984);
}

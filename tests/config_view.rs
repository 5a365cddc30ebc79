//! The config view of every fixture set equals the official Python SDK's OptimizelyConfig for
//! the same datafile (`config_view.json`), field by field.

mod common;

use decisive::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every difference between `ours` and `expected`, as `path: ours != expected`.
fn differences(path: &str, ours: &Value, expected: &Value, out: &mut Vec<String>) {
    match (ours, expected) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let at = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => differences(&at, v, w, out),
                    None => out.push(format!("{at}: unexpected (ours: {v})")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: missing (expected: {})", b[k]));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path}: {} items, expected {}", a.len(), b.len()));
            }
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), v, w, out);
            }
        }
        _ if common::same(ours, expected) => {}
        _ => out.push(format!("{path}: {ours} != {expected}")),
    }
}

fn check(set: &Path) -> Vec<String> {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(set.join("config_view.json")).expect("config_view.json"),
    )
    .expect("config_view.json is JSON");
    let client = Client::builder()
        .datafile_path(set.join("datafile.json"))
        .without_events()
        .build()
        .expect("client");
    let view = client
        .config_view()
        .expect("a client with a datafile has a view");
    let ours = serde_json::to_value(&*view).expect("the view serializes");
    let mut out = Vec::new();
    differences("", &ours, &expected, &mut out);
    out
}

/// The compatibility sets with a config view, and the view-only sets of
/// tests/fixtures/config_view.
fn view_sets() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config_view");
    let mut extra: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("config view fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    extra.sort();
    common::fixture_sets()
        .into_iter()
        .chain(extra)
        .filter(|s| s.join("config_view.json").is_file())
        .collect()
}

#[test]
fn every_fixture_view_equals_the_python_sdks_optimizely_config() {
    let sets = view_sets();
    assert!(sets.len() >= 14, "expected the config view fixtures");
    let mut report = Vec::new();
    for set in &sets {
        let name = set.file_name().unwrap().to_string_lossy().into_owned();
        let diffs = check(set);
        if !diffs.is_empty() {
            report.push(format!("{name}: {} differences", diffs.len()));
            report.extend(diffs.into_iter().map(|d| format!("  {name}{d}")));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn the_comparison_reports_a_changed_field() {
    let ours = serde_json::json!({"a": {"b": [1, "x"]}, "c": 2});
    let expected = serde_json::json!({"a": {"b": [1.0, "y"]}, "d": 2});
    let mut out = Vec::new();
    differences("", &ours, &expected, &mut out);
    assert_eq!(out.len(), 3, "{out:?}");
}

#[test]
fn the_view_is_built_once_per_config_and_shared() {
    let set = common::fixture_sets()
        .into_iter()
        .find(|s| s.join("config_view.json").is_file())
        .expect("a fixture set");
    let client = Client::builder()
        .datafile_path(set.join("datafile.json"))
        .without_events()
        .build()
        .expect("client");
    let a = client.config_view().expect("view");
    let b = client.config_view().expect("view");
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(
        a.datafile(),
        std::fs::read_to_string(set.join("datafile.json")).unwrap()
    );
}

#[test]
fn a_client_without_a_datafile_has_no_view() {
    let client = Client::builder().without_events().build().expect("client");
    assert!(client.config_view().is_none());
}

#[test]
fn a_datafile_update_gives_a_new_view() {
    let set = common::fixture_sets()
        .into_iter()
        .find(|s| s.join("config_view.json").is_file())
        .expect("a fixture set");
    let first = std::fs::read_to_string(set.join("datafile.json")).unwrap();
    let mut edited: Value = serde_json::from_str(&first).unwrap();
    edited["revision"] = Value::from("a-later-revision");
    let second = edited.to_string();
    let client = Client::builder()
        .datafile(&first)
        .without_events()
        .build()
        .expect("client");
    let before = client.config_view().expect("view");
    assert!(client.update_datafile(&second).expect("valid datafile"));
    let after = client.config_view().expect("view");
    assert_eq!(after.datafile(), second);
    assert_eq!(before.datafile(), first);
    assert_eq!(after.revision, "a-later-revision");
    assert_ne!(before.revision, after.revision);
}

//! Helpers shared by the tests that read the compatibility fixtures.

#![allow(dead_code, reason = "each test binary uses the part it needs")]

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The fixture sets under tests/fixtures/compat, sorted by name.
pub fn fixture_sets() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compat");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("cases.jsonl").is_file())
        .collect();
    sets.sort();
    sets
}

/// JSON equality with numbers compared by value (`3` equals `3.0`).
pub fn same(a: &Value, b: &Value) -> bool {
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

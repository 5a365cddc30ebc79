//! Any text as the conditions of every audience of the sample datafile, both as a JSON string
//! (legacy audiences) and as JSON (typed audiences): loads or errs, and decides.
#![no_main]

use decisive::{Attributes, Client};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const DATAFILE: &str = include_str!("../../datafiles/quickstart.json");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut datafile) = serde_json::from_str::<Value>(DATAFILE) else {
        return;
    };
    let typed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    for (key, conditions) in [
        ("audiences", Value::from(text)),
        ("typedAudiences", typed),
    ] {
        if let Some(Value::Array(list)) = datafile.get_mut(key) {
            for audience in list {
                audience["conditions"] = conditions.clone();
            }
        }
    }
    if let Ok(client) = Client::builder()
        .datafile(datafile.to_string())
        .without_events()
        .build()
    {
        let mut attributes = Attributes::new();
        attributes.insert("country", "US");
        attributes.insert("app_version", "2.4.1");
        let _ = client.create_user_context("fuzz", attributes).decide_all(&[]);
    }
});

//! Any JSON object as event tags (and any event key) goes through track_event and the batch
//! writer without a panic, and every written batch is JSON.
#![no_main]

use decisive::{Attributes, Client, RecordingDispatcher};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::time::Duration;

const DATAFILE: &str = include_str!("../../datafiles/quickstart.json");

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (key, tags) = text.split_once('\u{1f}').unwrap_or(("purchase", &text));
    let tags: Option<Map<String, Value>> = serde_json::from_str(tags).ok();
    let recording = RecordingDispatcher::new();
    let Ok(client) = Client::builder()
        .datafile(DATAFILE)
        .event_dispatcher(recording.clone())
        .build()
    else {
        return;
    };
    let user = client.create_user_context("fuzz", Attributes::new());
    let _ = user.track_event(key, tags.as_ref());
    client.flush_events_blocking(Duration::from_secs(5));
    for event in recording.take_events() {
        assert!(serde_json::from_str::<Value>(&event.body).is_ok());
    }
});

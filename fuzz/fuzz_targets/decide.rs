//! Any user id, flag key and attributes (read as a JSON object, or as a string) decide without
//! a panic.
#![no_main]

use decisive::{Attributes, Client, DecideOption};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const DATAFILE: &str = include_str!("../../datafiles/quickstart.json");

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .datafile(DATAFILE)
            .without_events()
            .build()
            .unwrap_or_else(|e| panic!("the sample datafile loads: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1f}');
    let user_id = parts.next().unwrap_or_default();
    let flag_key = parts.next().unwrap_or_default();
    let attributes: Attributes = parts
        .next()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let user = client().create_user_context(user_id, attributes);
    let _ = user.decide(flag_key, &[DecideOption::IncludeReasons]);
    let _ = user.decide_all(&[]);
});

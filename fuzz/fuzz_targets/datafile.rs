//! Any bytes as a datafile: loads or is an error, never a panic; a loaded config decides.
#![no_main]

use decisive::{Attributes, Client};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(client) = Client::builder().datafile(data).without_events().build() {
        let user = client.create_user_context("fuzz", Attributes::new());
        let _ = user.decide_all(&[]);
        let _ = client.config_view();
    }
});

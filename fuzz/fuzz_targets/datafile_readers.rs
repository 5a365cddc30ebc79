//! Any text as a datafile: the one-pass reader either steps aside or gives exactly the model
//! the serde reading gives.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(
            decisive::fuzzing::readers_agree(text),
            "the datafile readers differ"
        );
    }
});

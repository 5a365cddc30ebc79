//! Any text as a datafile: the one-pass reader either steps aside or gives exactly the model
//! the serde reading gives. (The check exists only in builds with `--cfg fuzzing`, which
//! `cargo fuzz` sets; a plain build of this crate compiles the target as a no-op.)
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    #[cfg(fuzzing)]
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(
            decisive::fuzzing::readers_agree(text),
            "the datafile readers differ"
        );
    }
    #[cfg(not(fuzzing))]
    let _ = data;
});

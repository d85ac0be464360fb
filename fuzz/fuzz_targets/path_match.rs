//! Path matching with parameter extraction (percent-decoding included): any request
//! path is matched or not without panicking, and what matches yields UTF-8 parameters
//! or names the one that is not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|path: &str| {
    let _ = wsframe::fuzzing::match_path(path);
});

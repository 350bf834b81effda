//! Fuzz target: `clinic_server::fuzzing::sniff` (see docs/fuzzing.md).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    clinic_server::fuzzing::sniff(data);
});

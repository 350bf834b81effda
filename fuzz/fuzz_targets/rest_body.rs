//! Fuzz target: `clinic_server::fuzzing::Harness::rest_body`, the real router on a throwaway data
//! folder (see docs/fuzzing.md).
#![no_main]

use clinic_server::fuzzing::Harness;
use std::sync::LazyLock;

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = HARNESS.rest_body(data);
});

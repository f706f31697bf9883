//! libFuzzer's entry point for the `file` target (see `memray_fuzz::targets`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| memray_fuzz::targets::file(data));

//! libFuzzer's entry point for the `tail` target (see `memray_fuzz::targets`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| memray_fuzz::targets::tail(data));

//! libFuzzer's entry point for the `report` target (see `memray_fuzz::targets`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| memray_fuzz::targets::report(data));

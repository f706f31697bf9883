//! Compiles the interpreter-version seam (csrc/python311.c) against the target interpreter's
//! headers, found through the same Python that pyo3 builds for, and the libunwind shim
//! (csrc/unwind.c).

use std::process::Command;

fn main() {
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .expect("running python to find its include directory");
    assert!(
        out.status.success(),
        "python could not report its include directory"
    );
    let include = String::from_utf8(out.stdout).unwrap().trim().to_string();
    println!("cargo:rerun-if-changed=csrc/python311.c");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    cc::Build::new()
        .file("csrc/python311.c")
        .include(&include)
        .include(format!("{include}/internal"))
        .flag("-fPIC")
        .flag("-fno-strict-aliasing")
        .warnings(false)
        .compile("memray_python_seam");
    // Native unwinding (`--native`): libunwind, from Debian's libunwind-dev.
    println!("cargo:rerun-if-changed=csrc/unwind.c");
    cc::Build::new()
        .file("csrc/unwind.c")
        .flag("-fPIC")
        .warnings(false)
        .compile("memray_unwind");
    println!("cargo:rustc-link-lib=dylib=unwind");
}

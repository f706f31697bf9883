//! Compiles the interpreter seam against the target interpreter's own headers, found through
//! the same Python that pyo3 builds for: `csrc/common.c` plus the one frame-reading module of
//! that interpreter's version family (`csrc/frames_py39.c` for 3.9–3.10, `frames_py311.c` for
//! 3.11, `frames_py312.c` for 3.12–3.13). An interpreter outside those families stops the build
//! with one line saying so. Also builds the libunwind shim (`csrc/unwind.c`) and the `dlopen`
//! hook's entry point (`csrc/caller.c`).

use std::process::Command;

/// (first minor, last minor, module) of each version family of CPython 3.
const FAMILIES: &[(u32, u32, &str)] = &[
    (9, 10, "csrc/frames_py39.c"),
    (11, 11, "csrc/frames_py311.c"),
    (12, 13, "csrc/frames_py312.c"),
];

fn main() {
    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, sysconfig; print(sysconfig.get_paths()['include']); \
             print(sys.implementation.name, *sys.version_info[:2])",
        ])
        .output()
        .unwrap_or_else(|e| fail(&format!("could not run {python}: {e}")));
    if !out.status.success() {
        fail(&format!("{python} could not report its include directory"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let include = lines.next().unwrap_or_default().trim().to_string();
    let version: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let (implementation, major, minor) = match version.as_slice() {
        [i, ma, mi] => (
            *i,
            ma.parse::<u32>().unwrap_or(0),
            mi.parse::<u32>().unwrap_or(0),
        ),
        _ => fail(&format!("{python} did not report its version")),
    };
    let Some(&(_, _, family)) = FAMILIES.iter().find(|(lo, hi, _)| {
        implementation == "cpython" && major == 3 && (*lo..=*hi).contains(&minor)
    }) else {
        fail(&format!(
            "{implementation} {major}.{minor} is not supported: memray supports CPython 3.9 to 3.13"
        ))
    };
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    cc::Build::new()
        .file("csrc/common.c")
        .file(family)
        .include(&include)
        .include(format!("{include}/internal"))
        .flag("-fPIC")
        .flag("-fno-strict-aliasing")
        .warnings(false)
        .compile("memray_python_seam");
    // Native unwinding (`--native`): libunwind, from Debian's libunwind-dev.
    cc::Build::new()
        .file("csrc/unwind.c")
        .flag("-fPIC")
        .warnings(false)
        .compile("memray_unwind");
    println!("cargo:rustc-link-lib=dylib=unwind");
    // The dlopen hook's entry point, which needs its caller's address.
    cc::Build::new()
        .file("csrc/caller.c")
        .flag("-fPIC")
        .compile("memray_caller");
}

/// Stops the build with one clear line.
fn fail(message: &str) -> ! {
    eprintln!("error: memray: {message}");
    std::process::exit(1);
}

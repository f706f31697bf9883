//! `memray-fuzz-seeds OUT_DIR [CAPTURE...]`: writes each fuzz target's seed inputs into
//! `OUT_DIR/<target>/`, from the captures given (see `make fuzz-seeds`) and from the captures
//! `memray_fuzz::seeds` builds itself.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use memray_fuzz::seeds;

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(format!("seed-{name}")), data)
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut args = args.into_iter();
    let out: PathBuf = args
        .next()
        .ok_or("usage: memray-fuzz-seeds OUT_DIR [CAPTURE...]")?
        .into();
    let err = |e: std::io::Error| e.to_string();
    for (target, name, data) in seeds::synthetic() {
        write(&out, target, name, &data).map_err(err)?;
    }
    for path in args {
        let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let stem = Path::new(&path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, (target, data)) in seeds::from_capture(&bytes).into_iter().enumerate() {
            write(&out, target, &format!("{stem}-{i}"), &data).map_err(err)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memray-fuzz-seeds: {e}");
            ExitCode::FAILURE
        }
    }
}

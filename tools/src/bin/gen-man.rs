//! `gen-man DIR`: writes a man page for every memray program into DIR, from the same clap
//! definitions the programs parse (run by `make man`; not installed).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "man".into()));
    std::fs::create_dir_all(&dir)?;
    for cmd in memray_tools::args::all() {
        let name = cmd.get_name().to_string();
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), out)?;
    }
    Ok(())
}

//! `gen-man DIR`: writes a man page for every memray program into DIR, from the same clap
//! definitions the programs parse (run by `make man`; not installed).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "man".into()));
    std::fs::create_dir_all(&dir)?;
    for (file, roff) in memray_tools::man::pages()? {
        std::fs::write(dir.join(file), roff)?;
    }
    Ok(())
}

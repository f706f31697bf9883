//! `gen-completions DIR`: writes the bash, zsh and fish completions of every memray program
//! into DIR/<shell>/, from the same clap definitions the programs parse (run by `make
//! completions`; not installed).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "completions".into()),
    );
    for (file, text) in memray_tools::completions::scripts() {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

//! The committed man pages (man/*.1) are exactly what the programs' clap definitions render,
//! so a changed flag cannot leave a stale page behind (`make man` regenerates them).

#[test]
fn man_pages_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    for (file, rendered) in memray_tools::man::pages().unwrap() {
        let committed = std::fs::read(dir.join(&file))
            .unwrap_or_else(|e| panic!("man/{file}: {e} (run `make man`)"));
        assert!(committed == rendered, "man/{file} is stale: run `make man`");
    }
}

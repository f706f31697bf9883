//! The committed man pages (man/*.1) are exactly what the programs' clap definitions render,
//! so a changed flag cannot leave a stale page behind (`make man` regenerates them).

#[test]
fn man_pages_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    for cmd in memray_tools::args::all() {
        let name = cmd.get_name().to_string();
        let mut rendered = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut rendered).unwrap();
        let committed = std::fs::read(dir.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("man/{name}.1: {e} (run `make man`)"));
        assert!(
            committed == rendered,
            "man/{name}.1 is stale: run `make man`"
        );
    }
}

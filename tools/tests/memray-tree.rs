//! `memray-tree`: the tree of the biggest allocation paths in every view, piped (no colours).
//! The capture and its figures are in `common/app.rs`.

mod common;

use common::app::{check_missing_capture_is_one_clear_error, setup};
use common::{ok, run};

const TREE: &str = env!("CARGO_BIN_EXE_memray-tree");

#[test]
fn tree_text_piped() {
    let (dir, path) = setup();
    let p = path.to_str().unwrap();
    let out = ok(run(TREE, dir.path(), &[p]));
    assert!(!out.contains('\x1b'), "ANSI escapes when piped: {out:?}");
    assert_eq!(
        out,
        "\
Allocation metadata
-------------------
Command line arguments: 'python3 -m memray run app.py'
Peak memory size: 7.200kB
Number of allocations: 7

Biggest 200 allocations:
-----------------------
📂 7.200kB (100.00 %) <ROOT>
├── 📄 4.000kB (55.56 %) <module>  /proj/app.py:7
├── 📂 2.000kB (27.78 %) <module>  /proj/app.py:4
│   └── 📄 2.000kB (27.78 %) make_list  /proj/app.py:12
├── 📂 700.000B (9.72 %) run  /opt/python3.11/lib/threading.py:975
│   └── 📄 700.000B (9.72 %) worker  /proj/app.py:40
└── 📂 500.000B (6.94 %) <module>  /proj/app.py:5
    └── 📂 500.000B (6.94 %) recurse  /proj/app.py:20
        └── 📄 500.000B (6.94 %) recurse  /proj/app.py:21
"
    );

    let out = ok(run(TREE, dir.path(), &["-b", "2", p]));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 7.200kB (100.00 %) <ROOT>
├── 📄 4.000kB (55.56 %) <module>  /proj/app.py:7
└── 📂 2.000kB (27.78 %) <module>  /proj/app.py:4
    └── 📄 2.000kB (27.78 %) make_list  /proj/app.py:12
… 2 more allocation locations (1.200kB, 16.67 %, 2 allocations) below the 2 biggest
"
    );

    let out = ok(run(TREE, dir.path(), &["--leaks", "-b", "1", p]));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 1.300kB (100.00 %) <ROOT>
└── 📂 700.000B (53.85 %) run  /opt/python3.11/lib/threading.py:975
    └── 📄 700.000B (53.85 %) worker  /proj/app.py:40
… 2 more allocation locations (600.000B, 46.15 %, 2 allocations) below the 1 biggest
"
    );

    let out = ok(run(
        TREE,
        dir.path(),
        &["--temporary-allocation-threshold", "0", p],
    ));
    assert_eq!(
        out.split("-----------------------\n").nth(1).unwrap(),
        "\
📂 4.300kB (100.00 %) <ROOT>
├── 📄 4.000kB (93.02 %) <module>  /proj/app.py:7
└── 📂 300.000B (6.98 %) <module>  /proj/app.py:6
    └── 📂 300.000B (6.98 %) _find_and_load  <frozen importlib._bootstrap>:1176
        └── 📄 300.000B (6.98 %) helper  /proj/lib.py:30
"
    );
    let out = ok(run(TREE, dir.path(), &["--temporary-allocations", p]));
    assert!(out.contains("📂 5.300kB (100.00 %) <ROOT>\n"), "{out}");
}

#[test]
fn missing_capture_is_one_clear_error() {
    check_missing_capture_is_one_clear_error(TREE);
}

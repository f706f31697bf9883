//! Running a program whose standard output may be binary (pprof) or must be checked byte for
//! byte: its exit code, stdout as bytes, stderr as text.

use std::path::Path;
use std::process::Output;

use super::cmd;

/// A finished program's exit code, stdout (bytes) and stderr.
pub struct Out {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Out {
    /// Stdout as text (it must be UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }
}

/// The exit code and output of a finished program.
pub fn finish(out: Output) -> Out {
    Out {
        code: out.status.code().expect("killed by a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `program ARGS` in `dir`, stdout a pipe.
pub fn run(program: &str, dir: &Path, args: &[&str]) -> Out {
    finish(cmd(program, dir, args).output().unwrap())
}

/// Exit 0 and nothing on stderr.
pub fn ok(o: &Out) -> &Out {
    assert_eq!(o.code, 0, "stderr: {}", o.stderr);
    assert_eq!(o.stderr, "", "unexpected stderr");
    o
}

/// Exit 1, one line on stderr (returned), nothing on stdout.
pub fn one_line_error(o: &Out) -> String {
    assert_eq!(o.code, 1, "stderr {:?}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{:?}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{:?}", o.stderr);
    assert!(o.stdout.is_empty(), "{:?}", o.text());
    o.stderr.trim_end().to_string()
}

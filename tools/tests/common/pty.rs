//! Running a program with a pseudo-terminal as its standard output, to see what it does when
//! it writes to a terminal.

use std::fs;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use super::cmd;

/// Runs `program ARGS` with a pseudo-terminal as its standard output; returns its exit code,
/// what it wrote to the terminal and its stderr.
pub fn on_terminal(
    program: &str,
    dir: &Path,
    args: &[&str],
    compat: bool,
) -> (i32, String, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two new file descriptors, owned below.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut c = cmd(program, dir, args);
    if compat {
        c.env("MEMRAY_COMPAT", "1");
    }
    let child = c
        .stdout(Stdio::from(slave))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(c);
    let mut tty = Vec::new();
    let mut f = fs::File::from(master);
    // Read what is buffered without blocking for more once the child is gone.
    // SAFETY: setting O_NONBLOCK on our own descriptor.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        );
    }
    let mut buf = [0u8; 4096];
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        tty.extend_from_slice(&buf[..n]);
    }
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&tty).replace("\r\n", "\n"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

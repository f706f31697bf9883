//! Where a capture's bytes go: a file (journaled when it is a regular file), the socket of a
//! live client, or nowhere (`/dev/null`); opening each, and putting the finished compressed
//! capture in the journal's place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

pub enum Sink {
    File(File),
    /// A capture to a regular file: the journal (see `journal`) at the capture's path, and the
    /// compressed capture written to `compressed`, an unnamed file in the same directory (or,
    /// where the file system has none, one named `temp_name`), which takes the path when
    /// tracking finishes.
    Journaled {
        journal: File,
        compressed: File,
        path: String,
        temp_name: Option<String>,
    },
    /// Live mode: the one client of a `SocketDestination`.
    Socket(std::net::TcpStream),
    Null,
}

/// A journaled sink taken apart: the journal file, and the compressed capture that takes its
/// place at the end.
pub(super) struct JournalFiles {
    pub(super) journal: File,
    pub(super) replacement: Replacement,
}

impl Sink {
    /// Writes the capture's file header now (before tracking starts), so that the file reads as
    /// a capture, empty, whatever happens next; tracking writes the same bytes again.
    pub fn write_header_early(&self, header: &memray_format::records::Header) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if let Sink::Journaled { journal, .. } = self {
            journal.write_all_at(&memray_format::file_layout::encode_file_header(header), 0)?;
        }
        Ok(())
    }

    /// True for a live client's socket.
    pub(super) fn is_socket(&self) -> bool {
        matches!(self, Sink::Socket(_))
    }

    /// The sink the compressed chunks are written to, and the journal's files when there is
    /// one.
    pub(super) fn split_journal(self) -> io::Result<(Sink, Option<JournalFiles>)> {
        match self {
            Sink::Journaled {
                journal,
                compressed,
                path,
                temp_name,
            } => {
                let writer_side = compressed.try_clone()?;
                let replacement = Replacement {
                    compressed,
                    path,
                    temp_name,
                };
                Ok((
                    Sink::File(writer_side),
                    Some(JournalFiles {
                        journal,
                        replacement,
                    }),
                ))
            }
            other => Ok((other, None)),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) | Sink::Journaled { compressed: f, .. } => f.write(buf),
            Sink::Socket(s) => {
                use std::os::fd::AsRawFd;
                // MSG_NOSIGNAL: a client that went away is an error, never a SIGPIPE.
                // SAFETY: `buf` is valid for `buf.len()` bytes of reading, and the descriptor
                // is the stream's, open while `s` lives.
                let n = unsafe {
                    libc::send(
                        s.as_raw_fd(),
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }
            Sink::Null => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) | Sink::Journaled { compressed: f, .. } => f.flush(),
            Sink::Socket(_) | Sink::Null => Ok(()),
        }
    }
}

/// Listens on `address:port` (live mode); the client is taken with [`wait_for_client`].
pub fn listen(address: &str, port: u16) -> io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind((address, port))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Waits up to `timeout` for the client; `Ok(None)` when none came, so the caller can check
/// for signals (Ctrl-C) between waits.
pub fn wait_for_client(
    listener: &std::net::TcpListener,
    timeout: std::time::Duration,
) -> io::Result<Option<Sink>> {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `fds` is one valid, writable pollfd, and the count says one.
    let n = unsafe { libc::poll(&mut fds, 1, timeout.as_millis() as i32) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(None)
        } else {
            Err(e)
        };
    }
    match listener.accept() {
        Ok((stream, _)) => {
            stream.set_nonblocking(false)?;
            stream.set_nodelay(true)?;
            Ok(Some(Sink::Socket(stream)))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the capture file (never following a symlink; refusing an existing file unless
/// `overwrite`); `/dev/null` writes nothing. A regular file becomes a journal, with the
/// compressed capture written beside it (see [`Sink::Journaled`]); anything else (a pipe, a
/// device) receives the compressed capture directly.
pub fn open_sink(path: &str, overwrite: bool) -> io::Result<Sink> {
    if path == "/dev/null" {
        return Ok(Sink::Null);
    }
    let mut o = OpenOptions::new();
    o.read(true)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW);
    if overwrite {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let journal = o.open(path)?;
    // MEMRAY_NO_JOURNAL=1: no journal (a kill then loses the records not yet written), for file
    // systems where a shared mapping is slow.
    let no_journal = std::env::var_os("MEMRAY_NO_JOURNAL").is_some_and(|v| v != "0");
    if no_journal || !journal.metadata()?.file_type().is_file() {
        return Ok(Sink::File(journal));
    }
    let dir = dir_of(path);
    let unnamed = OpenOptions::new()
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(&dir);
    let (compressed, temp_name) = match unnamed {
        Ok(f) => (f, None),
        Err(_) => {
            let name = temp_name_in(&dir);
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(&name)?;
            (f, Some(name))
        }
    };
    Ok(Sink::Journaled {
        journal,
        compressed,
        path: path.to_string(),
        temp_name,
    })
}

/// The directory a capture file is in.
fn dir_of(path: &str) -> std::path::PathBuf {
    match std::path::Path::new(path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// A short name for a file in `dir` that becomes the capture (the capture's own name may
/// already be as long as names can be).
fn temp_name_in(dir: &std::path::Path) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Relaxed);
    dir.join(format!(".memray-{}-{n}.tmp", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

/// The compressed capture that takes the journal's place at the end.
pub(super) struct Replacement {
    compressed: File,
    path: String,
    temp_name: Option<String>,
}

impl Replacement {
    /// Puts the finished compressed capture at the capture's path, in place of the journal.
    /// Signals are held back meanwhile, so one that ends the process (a Pool terminating its
    /// workers) never leaves the capture under its temporary name: it is delivered once the
    /// rename is done.
    pub(super) fn put_in_place(&self) -> io::Result<()> {
        crate::quiet_thread::signals_held(|| self.link_in_place())
    }

    fn link_in_place(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let temp = match &self.temp_name {
            Some(name) => name.clone(),
            None => {
                // An unnamed file gets a name through its /proc link, then takes the path.
                let name = temp_name_in(&dir_of(&self.path));
                let fd = self.compressed.as_raw_fd();
                let from = std::ffi::CString::new(format!("/proc/self/fd/{fd}"))?;
                let to = std::ffi::CString::new(name.as_str())?;
                // SAFETY: both paths are NUL-terminated C strings that live across the call.
                let r = unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        from.as_ptr(),
                        libc::AT_FDCWD,
                        to.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                };
                if r != 0 {
                    return Err(io::Error::last_os_error());
                }
                name
            }
        };
        std::fs::rename(&temp, &self.path).inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }

    /// Tracking failed: the journal stays, the compressed capture goes.
    pub(super) fn discard(&self) {
        if let Some(name) = &self.temp_name {
            let _ = std::fs::remove_file(name);
        }
    }
}

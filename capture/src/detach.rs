//! `memray detach`'s way into a process: [`memray_rs_detach`], which gdb either schedules as a
//! pending call (`Py_AddPendingCall`: it runs on the main thread between two bytecodes, the
//! GIL held) or, when the main thread is blocked outside the interpreter, calls on a thread
//! that is about to release the GIL. It compiles and runs no Python code, so nothing of the
//! detach lands in the capture: tracking stops first, then the result goes to the status file
//! `memray detach` waits for.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::fs::OpenOptions;

/// Stops tracking and writes `ok`, or the reason there was nothing to stop, to the file named
/// by `status` (a NUL-terminated path gdb placed in the process). Both ways in may run: the
/// first to create `<status>.claim` does the work, the other (or one that runs after
/// `memray detach` gave up and removed the directory) does nothing. Always returns 0 (success
/// for the interpreter): a failure is reported in the status file.
///
/// # Safety
/// `status` is null or points to a NUL-terminated string that outlives the call; the caller
/// holds the GIL.
#[no_mangle]
pub unsafe extern "C" fn memray_rs_detach(status: *mut c_void) -> c_int {
    // The program runs on afterwards: errno is as it left it.
    let _errno = crate::tracker::KeepErrno::new();
    if status.is_null() {
        return 0;
    }
    // SAFETY: the caller passes a NUL-terminated path (see above).
    let path = unsafe { CStr::from_ptr(status as *const c_char) };
    let Ok(path) = path.to_str() else { return 0 };
    let _ = std::panic::catch_unwind(|| {
        let claim = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(format!("{path}.claim"));
        if claim.is_err() {
            return;
        }
        let message = if !crate::is_tracking() {
            format!(
                "error: process {} is not being tracked by memray",
                std::process::id()
            )
        } else {
            match crate::stop_tracking() {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("error: {e}"),
            }
        };
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, message).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    });
    0
}

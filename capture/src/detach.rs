//! `memray detach`'s way into a process: [`memray_rs_detach`], which gdb schedules as a pending
//! call (`Py_AddPendingCall`) so that it runs on the main thread between two bytecodes with the
//! GIL held. It compiles and runs no Python code, so nothing of the detach lands in the capture:
//! tracking stops first, then the result goes to the status file `memray detach` waits for.

use std::ffi::{c_char, c_int, c_void, CStr};

/// The pending call: stops tracking and writes `ok`, or the reason there was nothing to stop,
/// to the file named by `status` (a NUL-terminated path gdb placed in the process). Always
/// returns 0 (success for the interpreter): a failure is reported in the status file.
///
/// # Safety
/// `status` is null or points to a NUL-terminated string that outlives the call.
#[no_mangle]
pub unsafe extern "C" fn memray_rs_detach(status: *mut c_void) -> c_int {
    let _ = std::panic::catch_unwind(|| {
        let tracking = crate::is_tracking();
        let message = if !tracking {
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
        if status.is_null() {
            return;
        }
        // SAFETY: the caller passes a NUL-terminated path (see above).
        let path = unsafe { CStr::from_ptr(status as *const c_char) };
        let Ok(path) = path.to_str() else { return };
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, message).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    });
    0
}

//! The names Memray's `memray._memray` offers its users (`from memray._memray import size_fmt`,
//! `FileReader`, `AllocatorType`, ...) that this package implements in its Python modules:
//! the extension module gets a PEP 562 `__getattr__` that imports each of them from its module
//! on first use (and keeps it), so importing `memray._memray` stays as quick as before.

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// (name, the module that defines it), as `memray/_memray.pyi` lists them.
const LAZY: &[(&str, &str)] = &[
    ("AllocationRecord", "memray._reader"),
    ("AllocatorType", "memray._enums"),
    ("Destination", "memray._destination"),
    ("FileDestination", "memray._destination"),
    ("FileFormat", "memray._enums"),
    ("FileReader", "memray._reader"),
    ("Interval", "memray._reader"),
    ("MemorySnapshot", "memray._reader"),
    ("Metadata", "memray._metadata"),
    ("PymallocDomain", "memray._test"),
    ("PythonAllocatorType", "memray._enums"),
    ("SocketDestination", "memray._destination"),
    ("SocketReader", "memray._socket_reader"),
    ("Stats", "memray._stats"),
    ("TemporalAllocationRecord", "memray._reader"),
    ("Tracker", "memray._tracker"),
    ("compute_statistics", "memray._reader"),
    ("dump_all_records", "memray._reader"),
    ("set_log_level", "memray._reader"),
    ("size_fmt", "memray._reader"),
    ("start_thread_trace", "memray._tracker"),
];

#[pyfunction]
#[pyo3(pass_module, name = "__getattr__")]
fn module_getattr(m: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyAny>> {
    let Some(&(_, module)) = LAZY.iter().find(|(n, _)| *n == name) else {
        return Err(PyAttributeError::new_err(format!(
            "module 'memray._memray' has no attribute '{name}'"
        )));
    };
    let value = m.py().import(module)?.getattr(name)?;
    m.setattr(name, &value)?;
    Ok(value.unbind())
}

#[pyfunction]
#[pyo3(pass_module, name = "__dir__")]
fn module_dir<'py>(m: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyList>> {
    let names = m.dict().keys();
    for (name, _) in LAZY {
        if !names.contains(name)? {
            names.append(name)?;
        }
    }
    names.sort()?;
    Ok(names)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(module_getattr, m)?)?;
    m.add_function(wrap_pyfunction!(module_dir, m)?)?;
    Ok(())
}

"""Makes about 100,000 distinct native call stacks, for the native symbolization benchmark.

A C extension (compiled with gcc on first use, next to this file's build directory) holds 64
functions f0..f63; f_k either allocates or calls f_{path % 64} with path // 64 through one call
site, so every allocation's native stack is the sequence of functions its path picks:
  native_stacks.py [N]   ->  N allocations (default 100,000), each on its own native stack
                             (N distinct stacks up to 64**3 = 262,144), 3 levels of f below the
                             extension's entry point, all kept until the process ends (so the
                             peak and the leaks hold every stack).
"""
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile

NFUNCS = 64


def source():
    lines = ["#include <Python.h>", "#include <stdlib.h>",
             "typedef void *(*fn)(int, unsigned long);",
             "static fn T[%d];" % NFUNCS]
    for k in range(NFUNCS):
        lines.append(
            "static void *f%d(int d, unsigned long p) {\n"
            "    if (d == 0) return malloc(16 + %d);\n"
            "    return T[p %% %d](d - 1, p / %d);\n"
            "}" % (k, k, NFUNCS, NFUNCS)
        )
    lines.append("static PyObject *run(PyObject *self, PyObject *args) {")
    lines.append("    unsigned long n; if (!PyArg_ParseTuple(args, \"k\", &n)) return NULL;")
    lines.append("    for (unsigned long i = 0; i < n; i++) T[i %% %d](3, i / %d);" % (NFUNCS, NFUNCS))
    lines.append("    Py_RETURN_NONE;\n}")
    lines.append("static PyMethodDef M[] = {{\"run\", run, METH_VARARGS, \"\"}, {0}};")
    lines.append("static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, \"_native_stacks\", 0, -1, M};")
    lines.append("PyMODINIT_FUNC PyInit__native_stacks(void) {")
    lines.extend("    T[%d] = f%d;" % (k, k) for k in range(NFUNCS))
    lines.append("    return PyModule_Create(&mod);\n}")
    return "\n".join(lines) + "\n"


def build():
    out_dir = os.environ.get("NATIVE_STACKS_BUILD") or os.path.join(
        tempfile.gettempdir(), "memray-bench-native-stacks")
    os.makedirs(out_dir, exist_ok=True)
    so = os.path.join(out_dir, "_native_stacks" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not os.path.exists(so):
        c = os.path.join(out_dir, "_native_stacks.c")
        with open(c, "w") as f:
            f.write(source())
        subprocess.run(["gcc", "-g", "-O0", "-fPIC", "-shared",
                        "-I", sysconfig.get_paths()["include"], c, "-o", so], check=True)
    spec = importlib.util.spec_from_file_location("_native_stacks", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    build().run(n)


if __name__ == "__main__":
    main()

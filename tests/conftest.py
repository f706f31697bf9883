"""Shared helpers for the end-to-end tracker tests.

Every test runs a real Python program in a child process, either under ``memray run`` or with
``with memray.Tracker(...)`` inside the program, and then reads the capture here with
``memray.FileReader`` (and ``memray-stats --json``) to check exact figures.

Allocation sites inside the generated programs are tagged with ``# @name`` comments; ``marks()``
turns those tags into line numbers, so assertions name exact (function, file, line) triples.
"""

import collections
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import memray
from memray import AllocatorType

BIN = Path(sys.executable).parent
PYTHON = sys.executable
REPO = Path(__file__).resolve().parent.parent
ORACLE = REPO.parent / "shared" / "bench" / "workloads" / "oracle.py"

DEALLOCATORS = {AllocatorType.FREE, AllocatorType.MUNMAP, AllocatorType.PYMALLOC_FREE}

# What differs between the CPython versions the suite runs on, as expectations.
# PEP 709 (3.12): list, dict and set comprehensions run inline in the enclosing function, with
# no frame of their own.
INLINED_COMPREHENSIONS = sys.version_info >= (3, 12)


def listcomp_function(enclosing: str) -> str:
    """The function a list comprehension's allocations are attributed to: ``<listcomp>`` until
    3.11, the enclosing function from 3.12."""
    return enclosing if INLINED_COMPREHENSIONS else "<listcomp>"


def program(name: str) -> str:
    """The path of one of the memray programs installed beside this interpreter."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (run `make install`)")
    return found


def child_env(**extra):
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"
    env.pop("MEMRAY_COMPAT", None)
    env.pop("MEMRAY_PYTHON", None)
    env.pop("PYTHONMALLOC", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(cmd, *, cwd=None, env=None, timeout=60, input=None):
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def memray_run(args, *, cwd, env=None, timeout=60):
    """``memray run ARGS`` in ``cwd``."""
    return run([program("memray"), "run", *args], cwd=cwd, env=env, timeout=timeout)


def write(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def marks(path: Path) -> dict:
    """``{"name": line}`` for every ``# @name`` tag in the file (1-based line numbers)."""
    found = {}
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if "# @" in line:
            for tag in line.split("# @")[1:]:
                name = tag.split()[0]
                assert name not in found, f"duplicate mark {name}"
                found[name] = lineno
    return found


def run_python(script: Path, *args, cwd=None, env=None, timeout=60, check=True):
    """Runs ``python SCRIPT ARGS`` (the test interpreter, which has memray installed) in the
    script's directory, naming the script relatively so its frames say ``prog.py``."""
    proc = run([PYTHON, script.name, *args], cwd=cwd or script.parent, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{script.name} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def assert_ok(proc):
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


class Capture:
    """Everything a test needs from one capture, read once."""

    def __init__(self, path):
        self.path = Path(path)
        with memray.FileReader(self.path) as reader:
            self.metadata = reader.metadata
            self.records = list(reader.get_allocation_records())
            self.peak = list(reader.get_high_watermark_allocation_records(merge_threads=False))
            self.leaks = list(reader.get_leaked_allocation_records(merge_threads=False))
            self.snapshots = list(reader.get_memory_snapshots())
            # Resolve stacks and names while the reader is open.
            self.allocs = [r for r in self.records if r.allocator not in DEALLOCATORS]
            self.frees = [r for r in self.records if r.allocator in DEALLOCATORS]
            self._stacks = {}
            for r in self.allocs + self.peak + self.leaks:
                self._stacks[id(r)] = r.stack_trace()
            self._names = {r.tid: r.thread_name for r in self.records + self.peak + self.leaks}

    def stack(self, record):
        return self._stacks[id(record)]

    def short_stack(self, record):
        """The stack with every file reduced to its basename."""
        return [(f, os.path.basename(file), line) for f, file, line in self.stack(record)]

    def thread_name(self, record):
        return self._names[record.tid]

    def leaf(self, record):
        """(function, basename of file, line) of the innermost Python frame, or None."""
        stack = self.stack(record)
        if not stack:
            return None
        func, file, line = stack[0]
        return (func, os.path.basename(file), line)

    def at(self, records, func, line=None, file=None):
        """Records whose innermost frame is (func, [file basename], [line])."""
        out = []
        for r in records:
            leaf = self.leaf(r)
            if leaf is None or leaf[0] != func:
                continue
            if line is not None and leaf[2] != line:
                continue
            if file is not None and leaf[1] != file:
                continue
            out.append(r)
        return out

    def sized(self, records, size, allocator=None):
        return [
            r for r in records
            if r.size == size and (allocator is None or r.allocator == allocator)
        ]

    def totals_by_location(self):
        """{(function, file basename, line): [bytes, count]} over every allocation record."""
        totals = collections.defaultdict(lambda: [0, 0])
        for r in self.allocs:
            t = totals[self.leaf(r)]
            t[0] += r.size
            t[1] += 1
        return dict(totals)

    def group_at(self, records, func, line, file=None):
        """(total size, total allocations) of aggregated records at one location."""
        hits = self.at(records, func, line, file)
        return (sum(r.size for r in hits), sum(r.n_allocations for r in hits))


def stats_json(path, *extra):
    """``memray-stats --json -n 100000 PATH`` parsed (the JSON goes to stdout). Where only
    Memray's own ``memray stats`` exists, its ``--json -o FILE`` output is read instead."""
    if (BIN / "memray-stats").exists() or shutil.which("memray-stats"):
        proc = run([program("memray-stats"), "--json", "-n", "100000", *extra, path])
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout), proc
    out = Path(path).with_name(Path(path).name + ".stats.json")
    proc = run([program("memray"), "stats", "--json", "-f", "-n", "100000", "-o", out, *extra,
                path])
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc


def stats_locations(doc):
    return {e["location"]: e["size"] for e in doc["top_allocations_by_size"]}


def stats_counts(doc):
    return {e["location"]: e["count"] for e in doc["top_allocations_by_count"]}


# --------------------------------------------------------------------------------------------
# A small C library whose calls to malloc & co. go through its own PLT/GOT, like any extension.

C_SOURCE = r"""
#define _GNU_SOURCE
#define _LARGEFILE64_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

void *t_malloc(size_t n) { return malloc(n); }
void *t_calloc(size_t n, size_t m) { return calloc(n, m); }
void *t_realloc(void *p, size_t n) { return realloc(p, n); }
void t_free(void *p) { free(p); }
void *t_posix_memalign(size_t align, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, align, n) != 0) return NULL;
    return p;
}
void *t_aligned_alloc(size_t align, size_t n) { return aligned_alloc(align, n); }
void *t_memalign(size_t align, size_t n) { return memalign(align, n); }
void *t_valloc(size_t n) { return valloc(n); }
void *t_pvalloc(size_t n) { return pvalloc(n); }
void *t_mmap(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
void *t_mmap64(size_t n) {
    void *p = mmap64(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}
int t_munmap(void *p, size_t n) { return munmap(p, n); }
int t_prctl_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

struct job {
    size_t size;
    const char *name;
    void *result;
    void (*callback)(void);
};

static void *job_main(void *arg) {
    struct job *j = arg;
    if (j->name) prctl(PR_SET_NAME, j->name, 0, 0, 0);
    if (j->size) j->result = malloc(j->size);
    if (j->callback) {
        j->callback();
        /* back in C after Python code ran on this thread: this block has no Python stack */
        if (j->size) free(malloc(j->size + 1));
        j->callback();
    }
    return NULL;
}

/* Runs a fresh pthread that (optionally) names itself with prctl, mallocs `size` bytes and
   (optionally) calls `callback`, mallocs and frees `size + 1` bytes, and calls `callback`
   again; joins it. Returns the pointer it allocated first. */
void *t_pthread_job(size_t size, const char *name, void (*callback)(void)) {
    pthread_t t;
    struct job j = {size, name, NULL, callback};
    if (pthread_create(&t, NULL, job_main, &j) != 0) return NULL;
    pthread_join(t, NULL);
    return j.result;
}

const char *t_library_id(void) { return LIBRARY_ID; }

/* n threads started together; each one's very first action is malloc(base + i), then free. */
struct first { size_t size; };
static void *first_main(void *arg) {
    struct first *f = arg;
    void *p = malloc(f->size);
    free(p);
    return NULL;
}
int t_many_threads(int n, size_t base) {
    pthread_t *ts = calloc(n, sizeof(pthread_t));
    struct first *fs = calloc(n, sizeof(struct first));
    int started = 0;
    for (int i = 0; i < n; i++) {
        fs[i].size = base + i;
        if (pthread_create(&ts[i], NULL, first_main, &fs[i]) == 0) started++;
        else break;
    }
    for (int i = 0; i < started; i++) pthread_join(ts[i], NULL);
    free(ts);
    free(fs);
    return started;
}

/* malloc + free of `size` bytes, n times, in this thread. */
void t_churn(long n, size_t size) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(size);
        free(p);
    }
}

/* Producer/consumer: one thread mallocs n blocks of `size` bytes and hands them over a small
   queue to another thread, which frees them: every block is freed by another thread than the
   one that allocated it, and addresses are reused all the time. */
#define QCAP 8
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *items[QCAP];
    int head, count;
    long remaining;
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void *producer(void *arg) {
    size_t size = *(size_t *)arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        if (q.remaining == 0) { pthread_mutex_unlock(&q.lock); break; }
        while (q.count == QCAP) pthread_cond_wait(&q.cond, &q.lock);
        q.remaining--;
        pthread_mutex_unlock(&q.lock);
        void *p = malloc(size);
        pthread_mutex_lock(&q.lock);
        q.items[(q.head + q.count) % QCAP] = p;
        q.count++;
        pthread_cond_broadcast(&q.cond);
        pthread_mutex_unlock(&q.lock);
    }
    return NULL;
}

static long consumed_target;
static void *consumer(void *arg) {
    (void)arg;
    for (long done = 0; done < consumed_target; done++) {
        pthread_mutex_lock(&q.lock);
        while (q.count == 0) pthread_cond_wait(&q.cond, &q.lock);
        void *p = q.items[q.head];
        q.head = (q.head + 1) % QCAP;
        q.count--;
        pthread_cond_broadcast(&q.cond);
        pthread_mutex_unlock(&q.lock);
        free(p);
    }
    return NULL;
}

void t_cross_thread_free(long n, size_t size) {
    pthread_t a, b;
    q.head = q.count = 0;
    q.remaining = n;
    consumed_target = n;
    pthread_create(&b, NULL, consumer, NULL);
    pthread_create(&a, NULL, producer, &size);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

/* Thread-local storage in a dlopen'ed library: a new thread's first touch of it may make the
   dynamic linker allocate. */
static __thread char tls_buf[64 * 1024];
static void *tls_main(void *arg) {
    size_t size = *(size_t *)arg;
    tls_buf[0] = 1;
    tls_buf[sizeof(tls_buf) - 1] = 2;
    void *p = malloc(size);
    free(p);
    return (void *)(long)(tls_buf[0] + tls_buf[sizeof(tls_buf) - 1]);
}
int t_tls_threads(int n, size_t size) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *ret;
        pthread_create(&t, NULL, tls_main, &size);
        pthread_join(t, &ret);
        ok += (long)ret == 3;
    }
    return ok;
}
"""

CLIB_PRELUDE = '''
import ctypes

def load_clib(path):
    lib = ctypes.CDLL(path)
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    for name, res, args in [
        ("t_malloc", vp, [sz]),
        ("t_calloc", vp, [sz, sz]),
        ("t_realloc", vp, [vp, sz]),
        ("t_free", None, [vp]),
        ("t_posix_memalign", vp, [sz, sz]),
        ("t_aligned_alloc", vp, [sz, sz]),
        ("t_memalign", vp, [sz, sz]),
        ("t_valloc", vp, [sz]),
        ("t_pvalloc", vp, [sz]),
        ("t_mmap", vp, [sz]),
        ("t_mmap64", vp, [sz]),
        ("t_munmap", ctypes.c_int, [vp, sz]),
        ("t_prctl_name", ctypes.c_int, [ctypes.c_char_p]),
        ("t_pthread_job", vp, [sz, ctypes.c_char_p, ctypes.c_void_p]),
        ("t_library_id", ctypes.c_char_p, []),
        ("t_many_threads", ctypes.c_int, [ctypes.c_int, sz]),
        ("t_churn", None, [ctypes.c_long, sz]),
        ("t_cross_thread_free", None, [ctypes.c_long, sz]),
        ("t_tls_threads", ctypes.c_int, [ctypes.c_int, sz]),
    ]:
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    return lib
'''


def _compile(directory: Path, name: str, library_id: str) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    src = directory / f"{name}.c"
    src.write_text(C_SOURCE)
    out = directory / f"{name}.so"
    proc = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O0", f'-DLIBRARY_ID="{library_id}"', "-o", str(out),
         str(src), "-lpthread"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def clib(tmp_path_factory):
    """Path of the compiled test library (libmtest.so)."""
    return _compile(tmp_path_factory.mktemp("clib"), "libmtest", "first")


@pytest.fixture(scope="session")
def clib2(tmp_path_factory):
    """A second, separate copy of the library, for loading after tracking has started."""
    return _compile(tmp_path_factory.mktemp("clib2"), "libmtest_late", "late")

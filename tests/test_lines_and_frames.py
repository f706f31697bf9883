"""Line numbers are those current at the allocation; outer frames show the line of the call;
generators, comprehensions, class bodies and code objects that die and get their addresses
reused are all attributed correctly."""

import pytest

from conftest import INLINED_COMPREHENSIONS, Capture, marks, run_python, write

PROGRAM = '''
import sys
import memray

out = sys.argv[1]
KEEP = []


def multi():
    a = 1
    x = bytearray(111_111)  # @multi_x
    b = a + 1
    for i in range(3):
        KEEP.append(bytearray(120_000 + i))  # @multi_loop
    y = bytearray(222_222)  # @multi_y
    return x, y, b


def outer():
    pad = 0
    r = multi()  # @outer_call
    return r, pad


def gen():
    yield bytearray(130_000)  # @gen_1
    yield bytearray(130_001)  # @gen_2
    yield bytearray(130_002)  # @gen_3


def consume():
    out = []
    for item in gen():  # @consume
        out.append(item)
    return out


def comprehension():
    return [bytearray(140_000 + i) for i in range(2)]  # @listcomp


class Holder:
    data = bytearray(150_000)  # @classbody


def deep(n):
    if n == 0:
        return bytearray(160_000)  # @deep_leaf
    return deep(n - 1)  # @deep_rec


def lambda_alloc():
    f = lambda: bytearray(170_000)  # @lambda
    return f()


with memray.Tracker(out):
    KEEP.append(outer())  # @main_outer
    KEEP.append(consume())
    KEEP.append(comprehension())  # @main_listcomp
    KEEP.append(Holder)
    KEEP.append(deep(5))  # @main_deep
    KEEP.append(lambda_alloc())
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    d = tmp_path_factory.mktemp("lines")
    script = write(d / "prog.py", PROGRAM)
    run_python(script, d / "out.bin")
    return Capture(d / "out.bin"), marks(script)


def stack_of(cap, size):
    hits = cap.sized(cap.allocs, size)
    assert len(hits) == 1, (size, hits)
    return cap.short_stack(hits[0])


def test_line_of_each_allocation_in_a_function(result):
    cap, m = result
    assert stack_of(cap, 111_112) == [
        ("multi", "prog.py", m["multi_x"]),
        ("outer", "prog.py", m["outer_call"]),
        ("<module>", "prog.py", m["main_outer"]),
    ]
    assert stack_of(cap, 222_223)[0] == ("multi", "prog.py", m["multi_y"])
    for i in range(3):
        assert stack_of(cap, 120_001 + i)[:2] == [("multi", "prog.py", m["multi_loop"]),
                                                  ("outer", "prog.py", m["outer_call"])]


def test_generator_resumed_at_each_yield(result):
    cap, m = result
    for size, mark in [(130_001, "gen_1"), (130_002, "gen_2"), (130_003, "gen_3")]:
        assert stack_of(cap, size)[:2] == [("gen", "prog.py", m[mark]),
                                           ("consume", "prog.py", m["consume"])]


def test_comprehension_frame(result):
    cap, m = result
    for i in range(2):
        stack = stack_of(cap, 140_001 + i)
        if INLINED_COMPREHENSIONS:  # PEP 709: no frame of its own from 3.12
            assert stack[:2] == [("comprehension", "prog.py", m["listcomp"]),
                                 ("<module>", "prog.py", m["main_listcomp"])]
        else:
            assert stack[:2] == [("<listcomp>", "prog.py", m["listcomp"]),
                                 ("comprehension", "prog.py", m["listcomp"])]


def test_class_body_and_lambda(result):
    cap, m = result
    # The class body ran before tracking started: not recorded.
    assert cap.sized(cap.allocs, 150_001) == []
    assert stack_of(cap, 170_001)[:2] == [("<lambda>", "prog.py", m["lambda"]),
                                          ("lambda_alloc", "prog.py", m["lambda"] + 1)]


def test_recursion(result):
    cap, m = result
    stack = stack_of(cap, 160_001)
    assert stack == [("deep", "prog.py", m["deep_leaf"])] + \
        [("deep", "prog.py", m["deep_rec"])] * 5 + [("<module>", "prog.py", m["main_deep"])]


CODE_REUSE = '''
import gc, sys
import memray

out = sys.argv[1]
N = 300
KEEP = []


def make_and_call(i):
    src = "\\n" * (i % 7) + f"def fn_{i}():\\n    return bytearray({200_000 + i})\\n"
    ns = {}
    exec(compile(src, "<generated>", "exec"), ns)
    result = ns[f"fn_{i}"]()  # @call
    del ns
    return len(result)


with memray.Tracker(out):
    for i in range(N):
        KEEP.append(make_and_call(i))
        if i % 10 == 0:
            gc.collect()
'''


def test_dead_code_objects_are_not_confused(tmp_path):
    """Functions are created, called and dropped one after the other, so new code objects
    reuse the addresses of dead ones: each allocation must still name its own function and
    line."""
    script = write(tmp_path / "prog.py", CODE_REUSE)
    m = marks(script)
    run_python(script, tmp_path / "out.bin")
    cap = Capture(tmp_path / "out.bin")
    wrong = []
    for i in range(300):
        hits = cap.sized(cap.allocs, 200_001 + i)
        assert len(hits) == 1, i
        stack = cap.short_stack(hits[0])
        expected = [(f"fn_{i}", "<generated>", (i % 7) + 2), ("make_and_call", "prog.py", m["call"])]
        if stack[:2] != expected:
            wrong.append((i, stack[:2]))
    assert wrong == []


THREAD_CODE_REUSE = '''
import sys, threading
import memray

out = sys.argv[1]


def run(base):
    for i in range(100):
        name = f"t{base}_{i}"
        ns = {}
        exec(compile(f"def {name}(n):\\n    return bytearray(n)\\n", f"<{name}>", "exec"), ns)
        ns[name](base * 1000 + 300_000 + i)
        del ns


with memray.Tracker(out):
    threads = [threading.Thread(target=run, args=(b,)) for b in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
'''


def test_dead_code_objects_in_concurrent_threads(tmp_path):
    script = write(tmp_path / "prog.py", THREAD_CODE_REUSE)
    run_python(script, tmp_path / "out.bin")
    cap = Capture(tmp_path / "out.bin")
    wrong = []
    for base in range(4):
        for i in range(100):
            hits = cap.sized(cap.allocs, base * 1000 + 300_001 + i)
            assert len(hits) == 1, (base, i)
            leaf = cap.leaf(hits[0])
            if leaf != (f"t{base}_{i}", f"<t{base}_{i}>", 2):
                wrong.append((base, i, leaf))
    assert wrong == []


def test_very_deep_stack_is_complete(tmp_path):
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        sys.setrecursionlimit(5000)

        def down(n):
            if n == 0:
                return bytearray(290_000)  # @leaf
            return down(n - 1)  # @rec

        with memray.Tracker(sys.argv[1]):
            keep = down(1500)  # @call
    """)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    (rec,) = cap.sized(cap.allocs, 290_001)
    assert cap.short_stack(rec) == [("down", "prog.py", m["leaf"])] + \
        [("down", "prog.py", m["rec"])] * 1500 + [("<module>", "prog.py", m["call"])]


def test_python_called_back_from_c(tmp_path):
    """Python code that C code calls back (map, sorted's key, a generator drained by list(),
    a __hash__ called by a dict) runs in interpreter-loop activations of its own; from 3.12 each
    one starts with a C-stack shim frame inside the chain. The stacks go straight through: no
    shim, no frame lost, every line that of the call."""
    script = write(tmp_path / "prog.py", """
        import sys
        import memray

        KEEP = []

        def mapped(n):
            return bytearray(n)  # @mapped

        def key(n):
            KEEP.append(bytearray(n + 1))  # @key
            return n

        def gen(n):
            yield bytearray(n)  # @gen

        class Hashed:
            def __hash__(self):
                KEEP.append(bytearray(311_000))  # @hash
                return 1

        def caller():
            KEEP.extend(map(mapped, [308_000]))  # @call_map
            KEEP.append(sorted([309_000], key=key))  # @call_sorted
            KEEP.extend(list(gen(310_000)))  # @call_gen
            KEEP.append({Hashed(): 1})  # @call_hash

        with memray.Tracker(sys.argv[1]):
            caller()  # @main
    """)
    m = marks(script)
    run_python(script, "out.bin")
    cap = Capture(tmp_path / "out.bin")
    for size, leaf, call in [(308_001, ("mapped", "mapped"), "call_map"),
                             (309_002, ("key", "key"), "call_sorted"),
                             (310_001, ("gen", "gen"), "call_gen"),
                             (311_001, ("__hash__", "hash"), "call_hash")]:
        (rec,) = cap.sized(cap.allocs, size)
        assert cap.short_stack(rec) == [
            (leaf[0], "prog.py", m[leaf[1]]),
            ("caller", "prog.py", m[call]),
            ("<module>", "prog.py", m["main"]),
        ], size

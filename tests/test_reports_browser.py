"""The HTML reports (``memray flamegraph``, ``memray table``) of real programs profiled with
``memray run``, opened in real headless Chromium through selenium and chromedriver (Debian's
``chromium`` and ``chromium-driver``, installed by ``make browser``; selenium by ``make venv``).

Every page is checked for console errors, then driven like a user would: boxes clicked at their
coordinates, text typed into the search box, table headers clicked, a time range picked. The
pages expose a small test hook, ``window.__memray`` (``ready``, ``drawn()``, ``rects()``,
``highlighted()``, ``chartPoints()``, ``selectRange(a, b)``; ``visibleRows()`` in the table).

A second program names a function ``<img src=x onerror=alert(1)>`` in a file named
``</script><script>alert(2)</script>``, runs a thread named ``<script>alert(4)</script>`` and is
started with a hostile argument: the pages must show all of it as text and run none of it.

Screenshots go to tests/artifacts/ (git-ignored); their paths are printed.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, assert_ok, listcomp_function, marks, memray_run, program, run, write

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - `make venv` installs selenium
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO / "tests" / "artifacts"
ROW = 18  # height of a flame graph row, in CSS pixels

if webdriver is None or not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    # CI installs everything (`make test` runs `make browser` and `make venv`): never skip there.
    if os.environ.get("CI"):
        raise RuntimeError("selenium, chromium or chromedriver missing: run `make browser venv`")
    pytest.skip("needs selenium, chromium and chromedriver (make browser venv)",
                allow_module_level=True)


PROGRAM = """
import sys
import threading
import time

KEEP = []


def first_half():
    return [bytearray(1_000_000) for _ in range(20)]  # @first


def second_half():
    return [bytearray(1_000_000) for _ in range(30)]  # @second


def temporary():
    x = bytearray(5_000_000)  # @temp
    del x


def worker():
    KEEP.append(bytearray(3_000_000))  # @worker


def main():
    KEEP.append(first_half())  # @call_first
    t = threading.Thread(target=worker, name="helper-thread")
    t.start()
    t.join()
    temporary()
    # Far longer than the 10 ms sampling interval: the phases are apart on the chart.
    time.sleep(0.6)
    with open(sys.argv[1], "w") as f:
        f.write(repr(time.time() * 1000))
    time.sleep(0.1)
    KEEP.append(second_half())  # @call_second
    time.sleep(0.6)


main()
"""

EVIL_FN = "<img src=x onerror=alert(1)>"
EVIL_FILE = "</script><script>alert(2)</script>"
EVIL_ARG = '"><img src=x onerror=alert(3)>'
EVIL_THREAD = "<script>alert(4)</script>"

HOSTILE = """
import sys
import threading
import types

EVIL_FN = {fn!r}
SOURCE = "def f():\\n    return bytearray(2_000_000)\\n"
code = compile(SOURCE, {file!r}, "exec")
f_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
names = {{"co_name": EVIL_FN}}
if sys.version_info >= (3, 11):
    names["co_qualname"] = EVIL_FN
f_code = f_code.replace(**names)
evil = types.FunctionType(f_code, globals(), EVIL_FN)

KEEP = [evil()]
t = threading.Thread(target=lambda: KEEP.append(bytearray(1_500_000)), name={thread!r})
t.start()
t.join()
assert sys.argv[1] == {arg!r}
""".format(fn=EVIL_FN, file=EVIL_FILE, thread=EVIL_THREAD, arg=EVIL_ARG)


# --------------------------------------------------------------------------------------------
# Captures and reports (built once per module)


def report(tool, capture, out, *args):
    """``memray-<tool> ARGS CAPTURE -o OUT``; returns OUT."""
    proc = assert_ok(run([program(f"memray-{tool}"), *args, "-f", "-o", out, capture]))
    assert proc.stdout == f"Wrote {out}\n"
    return Path(out)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The phased program profiled with ``memray run``, and its reports."""
    d = tmp_path_factory.mktemp("reports")
    script = write(d / "prog.py", PROGRAM)
    assert_ok(memray_run(["-q", "-o", "prog.bin", "prog.py", "phase2.txt"], cwd=d))
    capture = d / "prog.bin"
    pages = {
        "flamegraph": report("flamegraph", capture, d / "flamegraph.html"),
        "split": report("flamegraph", capture, d / "split.html", "--split-threads"),
        "temporal": report("flamegraph", capture, d / "temporal.html", "--temporal"),
        "temporal-leaks": report("flamegraph", capture, d / "temporal-leaks.html",
                                 "--temporal", "--leaks"),
        "temporary": report("flamegraph", capture, d / "temporary.html",
                            "--temporary-allocations"),
        "table": report("table", capture, d / "table.html"),
    }
    return {
        "dir": d,
        "pages": pages,
        "marks": marks(script),
        "phase2_ms": float((d / "phase2.txt").read_text()),
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    write(d / "evil.py", HOSTILE)
    assert_ok(memray_run(["-q", "-o", "evil.bin", "evil.py", EVIL_ARG], cwd=d))
    capture = d / "evil.bin"
    return {
        "flamegraph": report("flamegraph", capture, d / "flamegraph.html", "--split-threads"),
        "table": report("table", capture, d / "table.html", "--split-threads"),
    }


# Two Python children of one run holding 6 MB and 9 MB at the same time (each waits for the
# other's file before letting go), for the flame graph of a capture set.
SET_CHILD = """
import os, sys, time
def a_holds():
    return bytearray(6_000_000)  # @a
def b_holds():
    return bytearray(9_000_000)  # @b
block = a_holds() if sys.argv[1] == "a" else b_holds()
open("ready_" + sys.argv[1], "w").close()
other = "ready_" + ("b" if sys.argv[1] == "a" else "a")
while not os.path.exists(other):
    time.sleep(0.005)
time.sleep(0.3)
"""

SET_PARENT = """
import subprocess, sys
kids = [subprocess.Popen([sys.executable, "kid.py", name]) for name in ("a", "b")]
print([k.wait() for k in kids])
"""


@pytest.fixture(scope="module")
def capture_set(tmp_path_factory):
    """A process tree profiled with ``memray run --follow-children``, and its flame graph."""
    d = tmp_path_factory.mktemp("set")
    kid = write(d / "kid.py", SET_CHILD)
    write(d / "parent.py", SET_PARENT)
    assert_ok(memray_run(["--follow-children", "-q", "-o", "set/out.bin", "parent.py"], cwd=d))
    stats = json.loads(assert_ok(run([program("memray-stats"), d / "set"])).stdout)
    return {
        "page": report("flamegraph", d / "set", d / "set.html"),
        "marks": marks(kid),
        "kid": str(kid),
        "processes": stats["metadata"]["processes"],
    }


# Run as `diff.py old` or `diff.py new`: `grow` holds 1 MB more in the new run, `shrink` 1 MB
# less, `steady` the same.
DIFF_PROGRAM = """
import sys
KEEP = []
def steady():
    KEEP.append(bytearray(2_000_000))  # @steady
def grow(extra):
    KEEP.append(bytearray(3_000_000 + extra))  # @grow
def shrink(extra):
    KEEP.append(bytearray(2_500_000 - extra))  # @shrink
new = sys.argv[1] == "new"
steady()
grow(1_000_000 if new else 0)
shrink(1_000_000 if new else 0)
"""


@pytest.fixture(scope="module")
def diff_page(tmp_path_factory):
    """Two runs of a program and ``memray diff --format html`` of them."""
    d = tmp_path_factory.mktemp("diff")
    script = write(d / "diff.py", DIFF_PROGRAM)
    for run_name in ("old", "new"):
        assert_ok(memray_run(["-q", "-o", f"{run_name}.bin", "diff.py", run_name], cwd=d))
    out = d / "diff.html"
    proc = assert_ok(run([program("memray-diff"), "--format", "html", "-o", out,
                          d / "old.bin", d / "new.bin"]))
    assert proc.stdout == f"Wrote {out}\n"
    return {"page": out, "marks": marks(script)}


# --------------------------------------------------------------------------------------------
# The browser (one session per module)


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="memray-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--force-device-scale-factor=1",
                 "--window-size=1400,1000", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium must not try to download one.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver):
    """Browser log entries at SEVERE level since the last call."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def open_page(driver, path):
    """Loads a report and waits for its hook; returns the seconds from navigation to ready."""
    console_errors(driver)  # drop what earlier pages logged
    start = time.monotonic()
    driver.get(Path(path).as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return !!(window.__memray && window.__memray.ready)"))
    elapsed = time.monotonic() - start
    assert console_errors(driver) == []
    return elapsed


def js(driver, expr, *args):
    return driver.execute_script("return " + expr, *args)


def screenshot(driver, name, capsys):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


def pixel(driver, canvas_id, x, y):
    """(r, g, b, a) of the canvas at CSS pixel (x, y)."""
    return tuple(js(driver, """(function (id, x, y) {
        const c = document.getElementById(id), dpr = c.width / c.clientWidth;
        return Array.from(c.getContext("2d").getImageData(Math.floor(x * dpr),
            Math.floor(y * dpr), 1, 1).data);
    })(arguments[0], arguments[1], arguments[2])""", canvas_id, x, y))


def painted_pixels(driver, canvas_id):
    """How many pixels of the canvas are painted (neither transparent nor white)."""
    return js(driver, """(function (id) {
        const c = document.getElementById(id);
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4)
            if (d[i + 3] > 0 && !(d[i] > 250 && d[i + 1] > 250 && d[i + 2] > 250)) n++;
        return n;
    })(arguments[0])""", canvas_id)


def rect_of(driver, label):
    """[x, y, w, id] of the drawn box labelled ``label`` (the first, if several)."""
    drawn = js(driver, "window.__memray.drawn()")
    rects = js(driver, "window.__memray.rects()")
    assert label in drawn, f"{label!r} not drawn: {drawn}"
    return rects[drawn.index(label)]


def click_box(driver, rect):
    """Clicks the middle of a flame graph box with the mouse."""
    canvas = driver.find_element(By.ID, "graph")
    size = canvas.size
    x, y, w, _ = rect
    # Offsets are from the element's centre.
    dx = int(x + min(w / 2, 200) - size["width"] / 2)
    dy = int(y + ROW / 2 - size["height"] / 2)
    ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()


def label(fn, line, file="prog.py"):
    return f"{fn} at {file}:{line}"


def hex_rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


# --------------------------------------------------------------------------------------------
# Flame graph


def test_flamegraph_draws_the_functions_and_the_chart(browser, app, capsys):
    seconds = open_page(browser, app["pages"]["flamegraph"])
    m = app["marks"]
    drawn = js(browser, "window.__memray.drawn()")
    for expected in (
        label("main", m["call_first"]),
        label("first_half", m["first"]),
        label("main", m["call_second"]),
        label("second_half", m["second"]),
        label("worker", m["worker"]),
    ):
        assert expected in drawn, drawn
    # Freed at once: not live at the peak.
    assert not any(d.startswith("temporary at") for d in drawn), drawn
    # runpy's and memray's own frames are hidden by default.
    assert not any("runpy" in d or "memray/commands" in d for d in drawn), drawn

    # Widths are proportional to bytes: 30 MB vs 20 MB.
    first = rect_of(browser, label("first_half", m["first"]))
    second = rect_of(browser, label("second_half", m["second"]))
    assert second[2] / first[2] == pytest.approx(1.5, rel=0.01)

    # The tooltip of a box: function, file:line, source line, bytes and allocation count.
    canvas = browser.find_element(By.ID, "graph")
    x, y, w, _ = second
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x + w / 2 - canvas.size["width"] / 2),
        int(y + ROW / 2 - canvas.size["height"] / 2)).perform()
    tip = browser.find_element(By.ID, "tooltip")
    WebDriverWait(browser, 5).until(lambda d: tip.is_displayed())
    text = tip.text
    assert "second_half" in text and f"prog.py:{m['second']}" in text, text
    assert "return [bytearray(1_000_000) for _ in range(30)]" in text, text
    assert "30.000MB" in text and "in 30 allocations" in text, text

    # The memory chart: samples drawn as lines.
    assert js(browser, "window.__memray.chartPoints()") > 10
    assert painted_pixels(browser, "chart") > 500
    assert painted_pixels(browser, "graph") > 10_000

    # The Stats panel.
    browser.find_element(By.ID, "stats-button").click()
    stats = browser.find_element(By.ID, "stats").text
    assert "prog.py phase2.txt" in stats and "Peak memory" in stats, stats
    screenshot(browser, "flamegraph", capsys)
    # The open panel leaves the button that closes it clickable.
    browser.find_element(By.ID, "stats-button").click()
    assert not browser.find_element(By.ID, "stats").is_displayed()
    assert console_errors(browser) == []
    with capsys.disabled():
        print(f"flame graph ready in {seconds:.3f} s")


def test_clicking_a_box_zooms_and_back_undoes(browser, app, capsys):
    open_page(browser, app["pages"]["flamegraph"])
    m = app["marks"]
    width = browser.find_element(By.ID, "graph").size["width"]
    target = label("main", m["call_first"])
    rect = rect_of(browser, target)
    assert rect[2] < width * 0.6  # 20 of the ~53 MB at the peak
    click_box(browser, rect)

    # The clicked box now spans the graph; what is not under it is gone.
    zoomed = rect_of(browser, target)
    assert zoomed[3] == rect[3]
    assert zoomed[0] == pytest.approx(0, abs=1)
    assert zoomed[2] == pytest.approx(width, abs=2)
    child = rect_of(browser, label("first_half", m["first"]))
    assert child[2] == pytest.approx(width, abs=2)
    drawn = js(browser, "window.__memray.drawn()")
    assert label("second_half", m["second"]) not in drawn
    assert label("worker", m["worker"]) not in drawn
    screenshot(browser, "flamegraph-zoomed", capsys)

    # A second click deeper, then Back twice, then Reset.
    click_box(browser, child)
    assert rect_of(browser, label("first_half", m["first"]))[2] == pytest.approx(width, abs=2)
    browser.find_element(By.ID, "back").click()
    assert rect_of(browser, target)[2] == pytest.approx(width, abs=2)
    browser.find_element(By.ID, "back").click()
    assert rect_of(browser, target)[2] == pytest.approx(rect[2], abs=1)
    assert label("second_half", m["second"]) in js(browser, "window.__memray.drawn()")
    click_box(browser, rect)
    browser.find_element(By.ID, "reset").click()
    assert rect_of(browser, target)[2] == pytest.approx(rect[2], abs=1)
    assert console_errors(browser) == []


def test_search_highlights_matches(browser, app, capsys):
    open_page(browser, app["pages"]["flamegraph"])
    m = app["marks"]
    target = label("second_half", m["second"])
    highlight = hex_rgb(js(browser, "window.__memray.highlightColor"))
    box = rect_of(browser, target)
    other = rect_of(browser, label("first_half", m["first"]))
    # The top edge of a box (no text there).
    assert pixel(browser, "graph", box[0] + box[2] - 4, box[1] + 1)[:3] != highlight
    assert browser.find_element(By.ID, "match").text == ""

    search = browser.find_element(By.ID, "search")
    search.send_keys("second")
    assert js(browser, "window.__memray.highlighted()") == [target]
    match = browser.find_element(By.ID, "match").text
    # 30 bytearrays of 1,000,000 bytes (plus their terminating NUL bytes).
    assert match.startswith("Matched: 30.000MB ("), match
    box = rect_of(browser, target)
    assert pixel(browser, "graph", box[0] + box[2] - 4, box[1] + 1)[:3] == highlight
    assert pixel(browser, "graph", other[0] + other[2] - 4, other[1] + 1)[:3] != highlight
    screenshot(browser, "flamegraph-search", capsys)

    # A file name matches every box of that file; the percentage is of the whole graph.
    search.clear()
    search.send_keys("_half")
    assert sorted(js(browser, "window.__memray.highlighted()")) == sorted(
        [label("first_half", m["first"]), target])
    assert browser.find_element(By.ID, "match").text.startswith("Matched: 50.000MB")
    # Clearing the search removes the highlight.
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.DELETE)
    WebDriverWait(browser, 5).until(lambda d: js(d, "window.__memray.highlighted()") == [])
    assert browser.find_element(By.ID, "match").text == ""
    assert pixel(browser, "graph", box[0] + box[2] - 4, box[1] + 1)[:3] != highlight
    assert console_errors(browser) == []


def test_thread_selector_and_temporary_view(browser, app, capsys):
    open_page(browser, app["pages"]["split"])
    m = app["marks"]
    select = Select(browser.find_element(By.ID, "thread"))
    names = [o.text for o in select.options]
    assert names[0] == "All threads"
    helper = next(n for n in names if n.endswith("(helper-thread)"))
    select.select_by_visible_text(helper)
    drawn = js(browser, "window.__memray.drawn()")
    assert label("worker", m["worker"]) in drawn
    assert label("first_half", m["first"]) not in drawn
    select.select_by_visible_text("All threads")
    assert label("first_half", m["first"]) in js(browser, "window.__memray.drawn()")

    open_page(browser, app["pages"]["temporary"])
    drawn = js(browser, "window.__memray.drawn()")
    assert label("temporary", m["temp"]) in drawn, drawn
    assert console_errors(browser) == []


def test_capture_set_process_selector_and_stacked_chart(browser, capture_set, capsys):
    open_page(browser, capture_set["page"])
    m = capture_set["marks"]
    procs = capture_set["processes"]
    pids = [p["pid"] for p in procs]
    assert js(browser, "window.__memray.stackedProcesses()") == pids
    kid = capture_set["kid"]
    a, b = label("a_holds", m["a"], kid), label("b_holds", m["b"], kid)
    drawn = js(browser, "window.__memray.drawn()")
    assert a in drawn and b in drawn
    # The title line gives the combined peak and the sum of the peaks.
    summary = browser.find_element(By.ID, "summary").text
    assert "3 processes" in summary and "combined peak" in summary
    select = Select(browser.find_element(By.ID, "process"))
    assert [o.get_attribute("value") for o in select.options] == ["0", *map(str, pids)]
    kid_a = next(p for p in procs if p["command_line"].endswith("kid.py a"))
    select.select_by_value(str(kid_a["pid"]))
    drawn = js(browser, "window.__memray.drawn()")
    assert a in drawn and b not in drawn
    # The root box of the selected process holds its 6 MB (and what else it had then).
    assert js(browser, "window.__memray.rects()")[0][2] > 0
    # The chart is drawn: each process's heap is a band, stacked.
    assert painted_pixels(browser, "chart") > 500
    screenshot(browser, "flamegraph-capture-set", capsys)
    select.select_by_value("0")
    drawn = js(browser, "window.__memray.drawn()")
    assert a in drawn and b in drawn
    assert console_errors(browser) == []


def test_differential_flame_graph_colours_growth_and_shrinkage(browser, diff_page, capsys):
    open_page(browser, diff_page["page"])
    m = diff_page["marks"]
    grow = label("grow", m["grow"], "diff.py")
    shrink = label("shrink", m["shrink"], "diff.py")
    steady = label("steady", m["steady"], "diff.py")
    # Width is the new size; each box knows its size before.
    assert js(browser, "window.__memray.change(arguments[0])", grow) == [3_000_001, 4_000_001]
    assert js(browser, "window.__memray.change(arguments[0])", shrink) == [2_500_001, 1_500_001]
    assert js(browser, "window.__memray.change(arguments[0])", steady) == [2_000_001, 2_000_001]
    colour = {}
    for name, lbl in (("grow", grow), ("shrink", shrink), ("steady", steady)):
        x, y, w, _ = rect_of(browser, lbl)
        colour[name] = pixel(browser, "graph", x + 3, y + 3)
    r, g, b, _ = colour["grow"]
    assert r > 200 and r > b + 60, colour  # red: grew
    r, g, b, _ = colour["shrink"]
    assert b > 200 and b > r + 60, colour  # blue: shrank
    r, g, b, _ = colour["steady"]
    assert abs(r - b) < 8 and abs(r - g) < 8, colour  # grey: unchanged
    summary = browser.find_element(By.ID, "summary").text
    assert "red: grew since" in summary and "total change +0.000B" in summary
    screenshot(browser, "flamegraph-diff", capsys)
    assert console_errors(browser) == []


def test_temporal_range_selection_changes_the_graph(browser, app, capsys):
    open_page(browser, app["pages"]["temporal"])
    m = app["marks"]
    first, second = label("first_half", m["first"]), label("second_half", m["second"])
    memory = json.loads(browser.find_element(By.ID, "memray-data").get_attribute("textContent"))[
        "memory"]
    n = js(browser, "window.__memray.chartPoints()")
    assert n == len(memory) > 20
    # The last sample taken before the second phase started (the program wrote the time).
    split = max(i for i, (t, _, _) in enumerate(memory) if t < app["phase2_ms"])
    assert 5 < split < n - 5

    drawn = js(browser, "window.__memray.drawn()")
    assert first in drawn and second in drawn  # the whole run: its peak holds both

    js(browser, "window.__memray.selectRange(arguments[0], arguments[1])", 0, split)
    drawn = js(browser, "window.__memray.drawn()")
    assert first in drawn
    assert second not in drawn, drawn
    assert browser.find_element(By.ID, "range").text.startswith("Range 0.00–")
    screenshot(browser, "flamegraph-temporal-first-half", capsys)

    js(browser, "window.__memray.selectRange(arguments[0], arguments[1])", split + 1, n - 1)
    drawn = js(browser, "window.__memray.drawn()")
    assert first in drawn and second in drawn  # the first half's lists are still live

    # Dragging on the chart picks a range too: from the left edge to a quarter of the way.
    chart = browser.find_element(By.ID, "chart")
    w, h = chart.size["width"], chart.size["height"]
    left = 40 - w / 2 + 1
    ActionChains(browser).move_to_element_with_offset(chart, int(left), 0).click_and_hold() \
        .move_to_element_with_offset(chart, int(left + (w - 50) * 0.25), 0).release().perform()
    drawn = js(browser, "window.__memray.drawn()")
    assert first in drawn and second not in drawn, drawn

    # With --leaks: what was allocated in the range and still live at its end.
    open_page(browser, app["pages"]["temporal-leaks"])
    js(browser, "window.__memray.selectRange(arguments[0], arguments[1])", split + 1, n - 1)
    drawn = js(browser, "window.__memray.drawn()")
    assert second in drawn and first not in drawn, drawn
    screenshot(browser, "flamegraph-temporal-leaks-second-half", capsys)
    assert console_errors(browser) == []


# --------------------------------------------------------------------------------------------
# Table


def test_table_sorts_and_filters(browser, app, capsys):
    open_page(browser, app["pages"]["table"])
    m = app["marks"]

    def rows():
        return js(browser, "window.__memray.visibleRows()")

    def header(name):
        return next(th for th in browser.find_elements(By.CSS_SELECTOR, "#head th")
                    if th.text.startswith(name))

    def size_bytes():
        return [int(td.get_attribute("title").split()[0])
                for td in browser.find_elements(By.CSS_SELECTOR, "#body td.num[title]")]

    first = rows()
    locations = [r[4] for r in first]
    for expected in (label(listcomp_function("second_half"), m["second"]),
                     label(listcomp_function("first_half"), m["first"]),
                     label("worker", m["worker"])):
        assert expected in locations, locations
    # Biggest first by default.
    assert first[0][4] == label(listcomp_function("second_half"), m["second"])
    assert size_bytes() == sorted(size_bytes(), reverse=True)

    header("Size").click()
    assert size_bytes() == sorted(size_bytes())
    assert "sorted-asc" in header("Size").get_attribute("class")

    header("Allocations").click()
    counts = [int(r[3]) for r in rows()]
    assert counts == sorted(counts, reverse=True) and counts[0] == 30

    header("Location").click()
    locs = [r[4] for r in rows()]
    # In the page's collation (localeCompare), ascending.
    assert js(browser, "arguments[0].every((s, i, a) => !i || a[i - 1].localeCompare(s) <= 0)",
              locs)
    assert "sorted-asc" in header("Location").get_attribute("class")
    header("Location").click()
    locs = [r[4] for r in rows()]
    assert js(browser, "arguments[0].every((s, i, a) => !i || a[i - 1].localeCompare(s) >= 0)",
              locs)

    search = browser.find_element(By.ID, "search")
    search.send_keys("worker")
    filtered = rows()
    assert [r[4] for r in filtered] == [label("worker", m["worker"])]
    assert filtered[0][1] == "3.000MB" and filtered[0][2] == "MALLOC"
    assert browser.find_element(By.ID, "count").text.startswith("1 of ")
    screenshot(browser, "table-search", capsys)
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys("no such location")
    assert rows() == []
    assert console_errors(browser) == []


# --------------------------------------------------------------------------------------------
# Hostile names


def no_injected_markup(driver):
    assert js(driver, "document.querySelectorAll('img').length") == 0
    assert js(driver, "document.scripts.length") == 2
    assert js(driver, "Array.from(document.scripts).map(s => s.id || s.type || 'page')") == [
        "memray-data", "page"]
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text


def test_hostile_names_show_as_text_in_the_flamegraph(browser, hostile, capsys):
    open_page(browser, hostile["flamegraph"])
    no_injected_markup(browser)
    drawn = js(browser, "window.__memray.drawn()")
    assert f"{EVIL_FN} at {EVIL_FILE}:2" in drawn, drawn
    assert EVIL_ARG in browser.find_element(By.ID, "cmdline").text
    names = [o.text for o in Select(browser.find_element(By.ID, "thread")).options]
    assert any(n.endswith(f"({EVIL_THREAD})") for n in names), names
    # Search and tooltip show it as text too.
    browser.find_element(By.ID, "search").send_keys("onerror")
    assert js(browser, "window.__memray.highlighted()") == [f"{EVIL_FN} at {EVIL_FILE}:2"]
    rect = rect_of(browser, f"{EVIL_FN} at {EVIL_FILE}:2")
    canvas = browser.find_element(By.ID, "graph")
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(rect[0] + rect[2] / 2 - canvas.size["width"] / 2),
        int(rect[1] + ROW / 2 - canvas.size["height"] / 2)).perform()
    tip = browser.find_element(By.ID, "tooltip")
    WebDriverWait(browser, 5).until(lambda d: tip.is_displayed())
    assert EVIL_FN in tip.text and EVIL_FILE in tip.text
    browser.find_element(By.ID, "stats-button").click()
    assert EVIL_ARG in browser.find_element(By.ID, "stats").text
    screenshot(browser, "flamegraph-hostile", capsys)
    no_injected_markup(browser)
    assert console_errors(browser) == []


def test_hostile_names_show_as_text_in_the_table(browser, hostile, capsys):
    open_page(browser, hostile["table"])
    no_injected_markup(browser)
    rows = js(browser, "window.__memray.visibleRows()")
    assert [f"{EVIL_FN} at {EVIL_FILE}:2"] == [r[4] for r in rows if EVIL_FN in r[4]], rows
    assert any(r[0].endswith(f"({EVIL_THREAD})") for r in rows), rows
    assert EVIL_ARG in browser.find_element(By.ID, "cmdline").text
    browser.find_element(By.ID, "search").send_keys("<img")
    assert [r[4] for r in js(browser, "window.__memray.visibleRows()")] == [
        f"{EVIL_FN} at {EVIL_FILE}:2"]
    screenshot(browser, "table-hostile", capsys)
    no_injected_markup(browser)
    assert console_errors(browser) == []


def test_a_sampled_capture_says_its_figures_are_estimates(browser, app, tmp_path):
    """A sampled capture's flame graph and table say, under their title, that they estimate,
    with the rate and the peak's expected error; a full capture's pages say nothing of it."""
    d = app["dir"]
    assert_ok(memray_run(["-q", "-f", "--sample-every", "4K", "--sample-seed", "1", "-o",
                          "sampled.bin", "prog.py", "phase2-sampled.txt"], cwd=d))
    for tool in ("flamegraph", "table"):
        page = report(tool, d / "sampled.bin", tmp_path / f"{tool}.html")
        open_page(browser, page)
        note = js(browser, """(function () { const n = document.getElementById("sampling");
            return [n.hidden, n.getBoundingClientRect().height, n.textContent]; })()""")
        assert note[0] is False and note[1] > 0, note
        assert "Estimates from a sampled capture" in note[2] and "±" in note[2], note
        open_page(browser, app["pages"][tool])
        assert js(browser, 'document.getElementById("sampling").hidden') is True
    open_page(browser, tmp_path / "flamegraph.html")
    rows = js(browser, """Array.from(document.querySelectorAll("#stats-table tr"))
        .map(r => r.cells[0].textContent)""")
    assert "Sampled" in rows and "Expected error of the peak" in rows, rows

"""The PEP 517 build backend of the ``memray-rs`` distribution: maturin, plus the programs.

maturin builds the ``memray._memray`` extension and packs the Python package, but it ships either
an extension or binaries, not both. Before it packs a wheel, this backend builds what else the
wheel holds and stages it in maturin's data directory (``[tool.maturin] data``):

- every ``memray`` and ``memray-*`` program (the ``memray-tools`` crate), as scripts, which pip
  installs into the environment's ``bin/``;
- the ``memray._test_utils`` extension (``capture/testmod``), built for the interpreter that
  builds the wheel, into the package (``platlib/memray/``);
- the man pages (``man/``) and the shell completions (``completions/``), into
  ``share/man/man1`` and the directories bash-completion, zsh and fish look in.

Everything else (metadata, sdist) is maturin's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

import maturin

ROOT = Path(__file__).resolve().parent.parent
# Where the staged files go; `[tool.maturin] data` in pyproject.toml names the same directory.
DATA = ROOT / "target" / "wheel-data"

# Where each shell looks for completions, under `share/` of an installation prefix.
COMPLETION_DIRS = {
    "bash": "bash-completion/completions",
    "zsh": "zsh/site-functions",
    "fish": "fish/vendor_completions.d",
}


def _cargo() -> str:
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if cargo is None:
        home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
        candidate = home / "bin" / "cargo"
        cargo = str(candidate) if candidate.exists() else None
    if cargo is None:
        raise RuntimeError(
            "building memray-rs from source needs the Rust toolchain (cargo), see https://rustup.rs"
        )
    return cargo


def _build(
    profile: str, args: list[str], env: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """Runs ``cargo build --profile PROFILE ARGS``; returns the artifacts it reports."""
    cmd = [_cargo(), "build", "--profile", profile, "--message-format=json-render-diagnostics"]
    cmd += args
    out = subprocess.run(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, check=True, text=True
    ).stdout
    messages = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    return [m for m in messages if m.get("reason") == "compiler-artifact"]


def _copy(src: Path, dst: Path, mode: int) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def _strip(path: Path) -> None:
    """Drops the debug information (kept in the release profile for profiling) from a staged
    binary; its symbols stay, so backtraces still name functions."""
    objcopy = shutil.which("objcopy")
    if objcopy is not None:
        subprocess.run([objcopy, "--strip-debug", str(path)], check=True)


def _stage_programs() -> None:
    for artifact in _build("release", ["-p", "memray-tools", "--bins"]):
        exe = artifact.get("executable")
        if not isinstance(exe, str):
            continue
        name = Path(exe).name
        if name == "memray" or name.startswith("memray-"):
            dst = DATA / "scripts" / name
            _copy(Path(exe), dst, 0o755)
            _strip(dst)


def _stage_test_utils() -> None:
    # The same profile and pyo3 configuration maturin gives the main extension, so that the two
    # share one build of pyo3.
    bits = 8 * struct.calcsize("P")
    signature = "cpython-{}.{}-{}bit".format(*sys.version_info[:2], bits)
    env = dict(os.environ, PYO3_PYTHON=sys.executable, PYO3_ENVIRONMENT_SIGNATURE=signature)
    for artifact in _build("tracker", ["-p", "memray-testmod"], env):
        for f in artifact.get("filenames", []):
            if isinstance(f, str) and f.endswith(".so"):
                suffix = sysconfig.get_config_var("EXT_SUFFIX")
                dst = DATA / "platlib" / "memray" / f"_test_utils{suffix}"
                _copy(Path(f), dst, 0o755)
                _strip(dst)


def _stage_docs() -> None:
    for page in sorted((ROOT / "man").glob("*.1")):
        _copy(page, DATA / "data" / "share" / "man" / "man1" / page.name, 0o644)
    # completions/<shell>/ holds each script under the name its shell looks for.
    for shell, directory in COMPLETION_DIRS.items():
        for script in sorted((ROOT / "completions" / shell).iterdir()):
            _copy(script, DATA / "data" / "share" / directory / script.name, 0o644)


def _add_workspace_members() -> None:
    """In an unpacked sdist, maturin's rewritten ``Cargo.toml`` lists only the extension's crates:
    adds the programs' and ``memray._test_utils``'s back, so that cargo builds them in the same
    workspace (one ``Cargo.lock``, one ``target/``)."""
    manifest = ROOT / "Cargo.toml"
    text = manifest.read_text()
    found = re.search(r"^members\s*=\s*\[(.*?)\]", text, re.M | re.S)
    if found is None:
        return
    members = re.findall(r'"([^"]+)"', found.group(1))
    wanted = [m for m in ("tools", "capture/testmod") if (ROOT / m / "Cargo.toml").exists()]
    missing = [m for m in wanted if m not in members]
    if missing:
        listed = ", ".join(f'"{m}"' for m in members + missing)
        manifest.write_text(text[: found.start()] + f"members = [{listed}]" + text[found.end() :])


def _stage() -> None:
    _add_workspace_members()
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    _stage_programs()
    _stage_test_utils()
    _stage_docs()


# PEP 517 hooks: maturin's, with the staging before a wheel is packed. maturin wants its data
# directory to exist in every hook, staged or not.
def _with_data_dir(hook):  # type: ignore[no-untyped-def]
    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        DATA.mkdir(parents=True, exist_ok=True)
        return hook(*args, **kwargs)

    run.__name__ = hook.__name__
    run.__doc__ = hook.__doc__
    return run


get_requires_for_build_wheel = _with_data_dir(maturin.get_requires_for_build_wheel)
get_requires_for_build_sdist = _with_data_dir(maturin.get_requires_for_build_sdist)
prepare_metadata_for_build_wheel = _with_data_dir(maturin.prepare_metadata_for_build_wheel)
build_sdist = _with_data_dir(maturin.build_sdist)


def _strip_extension(wheel: Path) -> None:
    """Drops the debug information from the ``memray._memray`` maturin packed (the programs and
    ``memray._test_utils`` are stripped when staged), rewriting the wheel's RECORD to match."""
    if shutil.which("objcopy") is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        stripped = Path(tmp) / wheel.name
        with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(
            stripped, "w", zipfile.ZIP_DEFLATED
        ) as dst:
            hashes: dict[str, tuple[str, int]] = {}
            record = None
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    record = info
                    continue
                if info.filename.startswith("memray/_memray.") and info.filename.endswith(".so"):
                    so = Path(tmp) / "extension.so"
                    so.write_bytes(data)
                    _strip(so)
                    data = so.read_bytes()
                    digest = hashlib.sha256(data).digest()
                    hashes[info.filename] = (
                        "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
                        len(data),
                    )
                dst.writestr(info, data)
            if record is None:
                raise RuntimeError(f"{wheel} has no RECORD")
            lines = []
            for line in src.read(record).decode().splitlines():
                name = line.split(",", 1)[0]
                if name in hashes:
                    digest, size = hashes[name]
                    line = f"{name},{digest},{size}"
                lines.append(line)
            dst.writestr(record, "\n".join(lines) + "\n")
        shutil.move(str(stripped), str(wheel))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
    _stage()
    name = maturin.build_wheel(wheel_directory, config_settings, metadata_directory)
    _strip_extension(Path(wheel_directory) / name)
    return name


if hasattr(maturin, "build_editable"):

    def build_editable(wheel_directory, config_settings=None, metadata_directory=None):  # type: ignore[no-untyped-def]
        _stage()
        return maturin.build_editable(wheel_directory, config_settings, metadata_directory)

    get_requires_for_build_editable = _with_data_dir(maturin.get_requires_for_build_editable)
    prepare_metadata_for_build_editable = _with_data_dir(
        maturin.prepare_metadata_for_build_editable
    )

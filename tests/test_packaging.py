"""What a distributor gets: the package metadata, and (under CI) a wheel built from the
checkout, installed into a fresh virtual environment and imported there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import karbon_async

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
IN_CI = os.environ.get("CI", "").lower() == "true"


def test_the_version_is_written_once() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "karbon_async._version.__version__"
    assert metadata.version("karbon-async") == karbon_async.__version__


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")[:200]
    # PEP 639 fields need setuptools 77; the lock pins the one `make install`/`make dist` use.
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])


def test_classifiers_name_every_python_the_tests_run_on() -> None:
    classifiers = set(PYPROJECT["project"]["classifiers"])
    minimum = PYPROJECT["project"]["requires-python"]
    assert minimum == ">=3.10"
    for minor in range(10, 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert f"Programming Language :: Python :: 3.{sys.version_info.minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert PYPROJECT["project"]["urls"]


def _checkout_copy(target: Path) -> Path:
    """The files git would put in a fresh clone (tracked, plus new files not ignored), as they
    are in the working tree: what a user building from a clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    source = target / "source"
    for name in filter(None, listed.split("\0")):
        origin = ROOT / name
        if origin.is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    return source


@pytest.mark.skipif(
    not IN_CI, reason="builds and installs a wheel (about 20 s): runs under CI=true"
)
def test_a_wheel_built_from_the_checkout_installs_and_imports(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the packaging test builds from a git checkout")
    source = _checkout_copy(tmp_path)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("karbon_async-*.whl")
    (sdist,) = dist.glob("karbon_async-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert "karbon_async/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "karbon_async/_generated/operations.py" in names
    assert not any(n.startswith(("tests/", "tools/", "benchmarks/")) for n in names)
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
        check=True,
        capture_output=True,
    )

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        check=True,
    )
    # The dependencies come from this environment's site-packages, added as a plain path
    # (no .pth processing, so the editable install of the checkout stays out of sight).
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    fresh_site = next((fresh / "lib").glob("python3*/site-packages"))
    (fresh_site / "zz_dependencies.pth").write_text(site_packages + "\n", encoding="utf-8")
    probe = (
        "import importlib.metadata as md, pathlib, karbon_async as ka\n"
        f"assert pathlib.Path(ka.__file__).is_relative_to(pathlib.Path(r'{fresh}')), ka.__file__\n"
        "print(ka.__version__, md.version('karbon-async'), md.metadata('karbon-async')"
        "['License-Expression'])\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [karbon_async.__version__, karbon_async.__version__, "Apache-2.0"]
    version = subprocess.run(
        [str(fresh / "bin" / "karbon-async"), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.strip() == f"karbon-async {karbon_async.__version__}"

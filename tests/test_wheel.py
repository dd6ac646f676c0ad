"""The pip package: a built wheel and ``pip install .`` (not editable), each in a fresh venv, analyse a
picture with the model the package carries, and carry nothing of the checkout's developer tools.

Fast and offline: the wheel is built from a copy of the package's sources with this environment's
setuptools (``--no-build-isolation --no-index``), installed ``--no-deps`` into a venv made without
pip, whose only other path is this environment's site-packages (a ``.pth`` line: the dependencies,
never the checkout, since ``.pth`` files of an added path are not run). Every command runs outside
the source tree with no ``PYTHON*``/``FER_OVERLAY_*`` variable, as a user's shell would.
"""

from __future__ import annotations

import csv
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import cv2
import pytest
from galleries import gallery

from fer_overlay.classify import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FER_OVERLAY_"))}
    env.pop("VIRTUAL_ENV", None)
    return env


def pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """What a clean clone's package build sees: ``fer_overlay/``, ``exported/`` (its models), the metadata."""
    src = tmp_path_factory.mktemp("src")
    for name in ("fer_overlay", "exported"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source), cwd=out)
    (built,) = out.glob("fer_overlay-*.whl")
    return built


def fresh_venv(folder: Path) -> Path:
    """A venv without pip whose only other path is this environment's site-packages."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "_deps.pth").write_text("\n".join(sorted(here)) + "\n")
    return python


def test_wheel_carries_the_model_and_no_developer_tools(wheel):
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fer_overlay"}  # no training, fer_bench
    stem = DEFAULT_MODEL.removesuffix(".onnx")
    for name in (DEFAULT_MODEL, f"{stem}.json", "MODEL_CARD.md"):
        assert f"fer_overlay/models/{name}" in names
    shipped = sorted(p.name for p in (ROOT / "exported").iterdir() if p.suffix == ".onnx")
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.endswith(".onnx")) == shipped
    scripts = entry_points.split("[console_scripts]")[1].split("[")[0]
    assert [line.split("=")[0].strip() for line in scripts.strip().splitlines()] == ["fer-overlay"]


@pytest.mark.parametrize("how", ["wheel", "pip install ."])
def test_installed_package_analyzes_a_picture(how, wheel, source, fer2013, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    target = str(wheel) if how == "wheel" else str(source)
    pip(
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        target,
        cwd=tmp_path,
    )
    bindir = python.parent
    env = clean_env()
    where = subprocess.run(
        [str(python), "-c", "import fer_overlay.classify as c; print(c.default_model_path())"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    model = Path(where.stdout.strip())
    assert model.is_file() and (tmp_path / "venv") in model.parents, where.stderr  # the installed copy

    picture = tmp_path / "gallery.png"
    cv2.imwrite(str(picture), gallery(fer2013, 4, seed=31, size=(1280, 720)).image)
    command = str(bindir / "fer-overlay")
    proc = subprocess.run(
        [command, "analyze", str(picture), "--csv", "log.csv", "--quiet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4 face(s) found" in proc.stdout and "note:" not in proc.stderr  # verified against its JSON
    with (tmp_path / "log.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(r["kind"] == "participant" for r in rows) == 4

    for module in ("training", "fer_bench"):  # source-checkout tools are not installed
        proc = subprocess.run(
            [str(python), "-c", f"import {module}"], cwd=tmp_path, env=env, capture_output=True
        )
        assert proc.returncode != 0
    proc = subprocess.run(
        [command, "bench", "--tiles", "4"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 2 and "source checkout" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

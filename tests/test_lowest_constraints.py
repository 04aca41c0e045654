"""``.ci/lowest_constraints.py``: the pins of CI's lowest-version job, read from a setup.cfg."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "lowest_constraints.py"

SAMPLE = """\
[options]
# a comment line
install_requires =
    torch>=2.6,<3
    transformers >= 5.5.4, < 6  # a trailing comment
    numpy~=2.0
    psutil
    tqdm<5
    pywin32>=300 ; sys_platform == "win32"

[options.extras_require]
test =
    pytest>=8
    ruff
    ray[data]>=2.40
    Transformers>=5.10
openvino = optimum-intel[openvino]>=2.2
"""


def load_script():
    spec = importlib.util.spec_from_file_location("lowest_constraints", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "setup.cfg"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_pins_every_lower_bound_of_install_requires_and_the_named_extras(sample: Path):
    result = run(str(sample), "test", "openvino")
    assert result.returncode == 0, result.stderr
    # transformers: the test extra's 5.10 beats install_requires' 5.5.4; extras dropped from names; no pins
    # for requirements without a lower bound (psutil, tqdm<5, ruff); a marker does not hide the bound
    assert result.stdout.splitlines() == [
        "numpy==2.0", "optimum-intel==2.2", "pytest==8", "pywin32==300", "ray==2.40", "torch==2.6",
        "transformers==5.10"]


def test_only_the_named_extras_count(sample: Path):
    pins = load_script().lowest_constraints(sample, ["openvino"])
    assert pins == {"torch": "2.6", "transformers": "5.5.4", "numpy": "2.0", "pywin32": "300",
                    "optimum-intel": "2.2"}


def test_instead_pins_a_version_inside_the_range_in_place_of_the_floor(sample: Path):
    result = run("--instead", "torch==2.13.0", str(sample), "openvino")
    assert result.returncode == 0, result.stderr
    assert "torch==2.13.0" in result.stdout.splitlines()
    assert "torch==2.6" not in result.stdout.splitlines()


@pytest.mark.parametrize(("pin", "message"), [
    ("torch==2.5.1", "2.5.1 is below torch's lower bound 2.6"),
    ("psutil==5.9", "give NAME==VERSION for a requirement with a lower bound"),
    ("torch", "give NAME==VERSION for a requirement with a lower bound"),
])
def test_instead_refuses_a_pin_outside_the_range_or_without_a_floor(sample: Path, pin: str, message: str):
    result = run("--instead", pin, str(sample), "test")
    assert result.returncode != 0 and message in result.stderr
    assert result.stdout == ""


def test_an_unknown_extra_is_refused(sample: Path):
    result = run(str(sample), "gpu")
    assert result.returncode != 0 and "has no extra 'gpu'" in result.stderr


def test_ci_pins_of_this_project_name_torch_at_the_local_cpu_build():
    """What .ci/run's second job asks for resolves against this project's own setup.cfg."""
    result = run("--instead", "torch==2.13.0", str(SCRIPT.parents[1] / "setup.cfg"), "test")
    assert result.returncode == 0, result.stderr
    pins = dict(line.split("==") for line in result.stdout.splitlines())
    assert pins["torch"] == "2.13.0"
    assert {"sentence-transformers", "transformers", "datasets", "huggingface-hub", "mteb"} <= set(pins)

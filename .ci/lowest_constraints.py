"""Print a pip constraints file that pins each direct requirement to its lower bound.

    python .ci/lowest_constraints.py [--instead NAME==VERSION ...] [SETUP_CFG] [EXTRA ...]
                                                                 (defaults: setup.cfg, the "test" extra)

Reads ``install_requires`` and the named extras from setup.cfg's ``[options]`` / ``[options.extras_require]``
at run time and writes ``name==X`` for every requirement with a ``>=X`` (or ``~=X``, ``==X``) bound, so that
``pip install -c FILE -e ".[test]"`` resolves the direct requirements to the lowest versions the metadata
allows; requirements without a lower bound (``ruff``, ``httpx``, ...) and indirect ones are left for pip to
choose. Constraints cannot carry extras, so ``ray[data]>=2.40`` becomes ``ray==2.40``. Where a name appears
twice (install_requires and an extra), the higher lower bound wins. ``--instead torch==2.13.0`` pins a
requirement at a version inside its range other than its lower bound: for a floor whose only wheel is a
multi-GB CUDA build, tested by hand instead (setup.cfg says how). Plain Python: runs before any venv exists.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
from pathlib import Path

NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)")
LOWER = re.compile(r"^(>=|~=|===?)\s*([0-9][0-9A-Za-z.+!*-]*)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0]))


def lower_bound(requirement: str) -> tuple[str, str | None]:
    """``(name, lowest version)`` of one requirement line; the version is None without a lower bound."""
    match = NAME.fullmatch(requirement.split(";")[0])
    if match is None:
        raise ValueError(f"cannot parse requirement {requirement!r}")
    name, specifiers = match.group(1), match.group(3).strip().strip("()")
    bounds = []
    for specifier in filter(None, (part.strip() for part in specifiers.split(","))):
        bound = LOWER.match(specifier)
        if bound and "*" not in bound.group(2):
            bounds.append(bound.group(2))
    return name, max(bounds, key=version_key) if bounds else None


def requirement_lines(value: str) -> list[str]:
    lines = (line.split("#")[0].strip() for line in value.splitlines())
    return [line for line in lines if line]


def lowest_constraints(setup_cfg: Path, extras: list[str]) -> dict[str, str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(setup_cfg, encoding="utf-8")
    lines = requirement_lines(config.get("options", "install_requires", fallback=""))
    for extra in extras:
        if not config.has_option("options.extras_require", extra):
            raise SystemExit(f"{setup_cfg} has no extra {extra!r}")
        lines += requirement_lines(config.get("options.extras_require", extra))
    pins: dict[str, str] = {}
    for line in lines:
        name, version = lower_bound(line)
        key = canonical(name)
        if version is not None and (key not in pins or version_key(version) > version_key(pins[key])):
            pins[key] = version
    return pins


def pin_instead(pins: dict[str, str], pin: str) -> None:
    """Replace one lower-bound pin by ``NAME==VERSION``, a version at or above that bound."""
    name, _, version = pin.partition("==")
    key = canonical(name.strip())
    if not version or key not in pins:
        raise SystemExit(f"--instead {pin!r}: give NAME==VERSION for a requirement with a lower bound "
                         f"(those: {', '.join(sorted(pins))})")
    if version_key(version) < version_key(pins[key]):
        raise SystemExit(f"--instead {pin!r}: {version} is below {key}'s lower bound {pins[key]}")
    pins[key] = version.strip()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instead", action="append", default=[], metavar="NAME==VERSION",
                        help="pin this requirement at VERSION rather than at its lower bound (repeatable)")
    parser.add_argument("setup_cfg", nargs="?", type=Path, default=Path("setup.cfg"))
    parser.add_argument("extras", nargs="*")
    args = parser.parse_args(argv)
    pins = lowest_constraints(args.setup_cfg, args.extras or ["test"])
    for pin in args.instead:
        pin_instead(pins, pin)
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

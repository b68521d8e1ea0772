"""`crossdesk plugin new`: the generated package installs, registers and passes its own tests."""

from __future__ import annotations

import importlib
import importlib.util
import os
import py_compile
import subprocess
import sys
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli import main
from plugins.scaffold import ScaffoldError, check_name, generate


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """An empty folder to generate into (tmp_path also holds the test's crossdesk home)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_generates_an_installable_package(dest: Path) -> None:
    root = generate("gift_cards", dest, description='Gift cards "and" vouchers')
    assert root == dest / "crossdesk-gift-cards"
    assert _names(dest) == ["crossdesk-gift-cards"]  # nothing else, no staging folder left
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "crossdesk-gift-cards"
    assert meta["project"]["entry-points"]["crossdesk.departments"] == {"gift_cards": "crossdesk_gift_cards"}
    package = root / "src" / "crossdesk_gift_cards"
    for rel in (
        "__init__.py",
        "department.py",
        "intents.py",
        "actions.py",
        "knowledge/gift_cards-overview.md",
        "policies/gift_cards.yaml",
        "policies/tests/gift_cards.yaml",
    ):
        assert (package / rel).is_file(), rel
    assert (root / "tests" / "test_conformance.py").is_file()
    for source in list(package.rglob("*.py")) + list((root / "tests").rglob("*.py")):
        py_compile.compile(str(source), doraise=True)
    assert "$" not in (package / "department.py").read_text()  # every placeholder was filled
    assert "Gift cards 'and' vouchers" in (package / "department.py").read_text()


@pytest.fixture
def scaffold_import(tmp_path: Path) -> Iterator[Path]:
    """Generate crossdesk-loyalty and make it importable in this process, as `pip install -e` would."""
    parent = tmp_path / "checkout"
    parent.mkdir()
    root = generate("loyalty", parent)
    sys.path.insert(0, str(root / "src"))
    try:
        yield root
    finally:
        sys.path.remove(str(root / "src"))
        for name in [
            m for m in sys.modules if m == "crossdesk_loyalty" or m.startswith("crossdesk_loyalty.")
        ]:
            del sys.modules[name]
        sys.modules.pop("loyalty_scaffold_tests", None)


def test_scaffold_passes_its_own_tests_right_after_generation(scaffold_import: Path, tmp_path: Path) -> None:
    # run the generated tests/test_conformance.py as its author would, in-process
    spec = importlib.util.spec_from_file_location(
        "loyalty_scaffold_tests", scaffold_import / "tests" / "test_conformance.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loyalty_scaffold_tests"] = module
    spec.loader.exec_module(module)
    workdir = tmp_path / "kit"
    module.test_conformance(workdir)
    assert (workdir / "conformance.db").is_file()  # the kit really ran against a database


def test_scaffold_is_routable_in_process(scaffold_import: Path, seeded_home: Path) -> None:
    from orchestrator.config import load_settings
    from orchestrator.runtime import Orchestrator
    from plugins.manager import load_plugins

    loyalty = importlib.import_module("crossdesk_loyalty")
    plugins = load_plugins(extra=[("loyalty", loyalty)])
    orch = Orchestrator(load_settings(), plugins=plugins)
    try:
        out = orch.ask("please open a loyalty case for me, my points vanished", customer_id="C1001")
    finally:
        orch.close()
    (task,) = out.record["tasks"]
    assert (task["department"], task["intent"], task["status"]) == ("loyalty", "loyalty_request", "resolved")
    assert task["actions"][0]["name"] == "open_loyalty_case" and task["actions"][0]["ok"]
    assert "I've opened case LOYALTY-" in out.reply


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "is empty"),
        ("Gift-Cards", "try 'gift_cards'"),
        ("gift cards", "try 'gift_cards'"),
        ("1cards", "starting with a letter"),
        ("gift__cards", "single underscores"),
        ("cards_", "single underscores"),
        ("class", "reserved"),
        ("general", "reserved"),
        ("x" * 31, "longer than 30"),
        ("billing", "already installed"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(name: str, expected: str, dest: Path) -> None:
    with pytest.raises(ScaffoldError, match=expected):
        generate(name, dest, taken={"billing", "compliance"})
    assert _names(dest) == []


def test_existing_folder_is_never_overwritten(dest: Path) -> None:
    existing = dest / "crossdesk-loyalty"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(ScaffoldError, match="already exists"):
        generate("loyalty", dest)
    assert _names(dest) == ["crossdesk-loyalty"]
    assert _names(existing) == ["mine.txt"]


def test_missing_destination_is_refused(dest: Path) -> None:
    with pytest.raises(ScaffoldError, match="not an existing folder"):
        generate("loyalty", dest / "nope")
    assert not (dest / "nope").exists()


def test_a_failure_half_way_leaves_nothing_behind(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[Path] = []
    real_write = Path.write_text

    def flaky(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real_write(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", flaky)
    with pytest.raises(OSError, match="No space left"):
        generate("loyalty", dest)
    assert len(written) == 3  # it really failed half-way through
    assert _names(dest) == []


def test_check_name_accepts_good_names() -> None:
    assert check_name(" claims ") == "claims"
    assert check_name("gift_cards2") == "gift_cards2"


def test_cli_plugin_new(dest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "new", "loyalty", "--dir", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"created {dest / 'crossdesk-loyalty'}" in out and "pip install -e" in out
    assert main(["plugin", "new", "loyalty", "--dir", str(dest)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["plugin", "new", "technical", "--dir", str(dest)]) == 2  # an installed department
    assert "already installed" in capsys.readouterr().err
    assert _names(dest) == ["crossdesk-loyalty"]


@pytest.mark.slow
def test_scaffold_pip_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    """The real thing: pip install the generated package, then crossdesk finds it through its entry point."""
    root = generate("loyalty", tmp_path)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # see this checkout's environment (crossdesk, its dependencies, pip and setuptools) from the new one
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "crossdesk_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "CROSSDESK_HOME": str(tmp_path / "home")}
    install = subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(root),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr
    listed = subprocess.run(
        [python, "-c", "from orchestrator.cli import run; run()", "plugins", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    assert "loyalty  (crossdesk-loyalty 0.1.0, crossdesk_loyalty)  loaded" in listed.stdout
    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        cwd=root,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout

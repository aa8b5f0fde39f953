"""The shared command-line face: one parser shape, one error line, one exit-code table, MLflow errors translated."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from src.utils import cli
from src.utils.config import ConfigError
from src.utils.errors import ExitCode, ProjectError


def test_every_parser_ends_its_help_with_an_example():
    parser = cli.parser("python scripts/x.py", "Do x.\n\nMore.", example="python scripts/x.py --alias dev")
    cli.alias_option(parser, default="staging")
    cli.actor_option(parser)
    help_text = parser.format_help()
    assert help_text.rstrip().endswith("example:\n  python scripts/x.py --alias dev")
    assert "Do x." in help_text and "--env {dev,staging,prod}" in help_text
    args = parser.parse_args([])
    assert (args.alias, args.env, args.actor) == ("staging", None, None)


def test_alias_without_default_is_required():
    parser = argparse.ArgumentParser()
    cli.alias_option(parser, default=None)
    with pytest.raises(SystemExit):
        parser.parse_args([])
    with pytest.raises(SystemExit):
        parser.parse_args(["--alias", "prod"])  # a profile name is not an alias


def test_a_project_error_is_one_line_and_its_exit_code(capsys):
    def body() -> int:
        raise ConfigError("configs/model_config.yaml: model.type: unknown")

    assert cli.run(body) == ExitCode.REFUSED == 2
    assert capsys.readouterr().err == "error: configs/model_config.yaml: model.type: unknown\n"


def test_a_project_error_may_carry_its_own_code(capsys):
    class Judged(ProjectError):
        exit_code = ExitCode.FAILED

    def body() -> int:
        raise Judged("the endpoint failed its checks")

    assert cli.run(body) == 1


def test_an_mlflow_error_is_translated_and_a_bug_is_not_hidden(capsys):
    from mlflow.exceptions import MlflowException

    def backend() -> int:
        raise MlflowException("Connection refused")

    assert cli.run(backend) == 2
    assert capsys.readouterr().err == "error: the tracking backend failed: Connection refused\n"

    def bug() -> int:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        cli.run(bug)


def test_the_actor_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.setenv("MLOPS_ACTOR", "ci@example.com")
    assert cli.current_actor("alice") == "alice"
    assert cli.current_actor() == "ci@example.com"


def test_without_a_named_actor_it_is_the_user_the_tracking_server_authenticates(monkeypatch):
    monkeypatch.delenv("MLOPS_ACTOR", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "release-manager@example.com")
    assert cli.current_actor() == "release-manager@example.com"


@pytest.mark.parametrize(
    "module",
    [
        "scripts.promote_model",
        "scripts.validate_model",
        "scripts.deploy_endpoint",
        "pipelines.inference_pipeline",
        "src.models.train_model",
        "src.features.feature_store",
        "src.features.lifecycle",
        "src.features.catalog",
    ],
)
def test_every_command_help_ends_with_an_example(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--help"])
    assert exit_.value.code == 0
    assert "example:\n  python " in capsys.readouterr().out


def test_an_outage_says_what_the_command_left_unchanged_and_a_refusal_does_not(capsys):
    def down() -> int:
        try:
            raise ConnectionError("connection refused")
        except ConnectionError as exc:
            raise ProjectError("cannot read alias 'dev' of m: tracking server http://h:5000 unreachable") from exc

    assert cli.run(down, unchanged="no alias moved") == ExitCode.REFUSED
    assert capsys.readouterr().err.strip() == (
        "error: cannot read alias 'dev' of m: tracking server http://h:5000 unreachable; no alias moved"
    )

    def refused() -> int:
        raise ProjectError("version 3 failed validation")

    assert cli.run(refused, unchanged="no alias moved") == ExitCode.REFUSED
    assert capsys.readouterr().err.strip() == "error: version 3 failed validation"

    class HalfDone(ProjectError, ConnectionError):
        left_changes = True

    def half_done() -> int:
        raise HalfDone("m@production now points to version 4, but the move could not be confirmed")

    cli.run(half_done, unchanged="no alias moved")
    assert "no alias moved" not in capsys.readouterr().err


def test_a_generated_file_is_written_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "grants.sql"
    cli.write_atomically(target, "GRANT x;\n")
    cli.write_atomically(target, "GRANT y;\n")
    assert target.read_text() == "GRANT y;\n" and sorted(p.name for p in target.parent.iterdir()) == ["grants.sql"]


# --- a store that cannot be used: one line, exit 2, nothing created --------------------------------------------


@pytest.fixture
def embedded(tmp_path):
    from tests.conftest import use_store

    with use_store(tmp_path / "store") as uri:
        yield Path(uri.removeprefix("sqlite:///"))


def _promote(capsys) -> tuple[int, list[str]]:
    from scripts import promote_model

    code = promote_model.main(["--to", "staging"])
    return code, capsys.readouterr().err.strip().splitlines()


def test_a_locked_store_is_one_error_line_after_a_bounded_wait(embedded, capsys):
    import sqlite3

    holder = sqlite3.connect(embedded, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, lines = _promote(capsys)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("error: ") and "is locked by another process" in lines[0]
    assert lines[0].endswith("no alias moved")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_store_is_one_error_line(embedded, capsys, damage):
    content = embedded.read_bytes()
    embedded.write_bytes(content[: len(content) // 3] if damage == "truncated" else b"not a database" * 100)
    code, lines = _promote(capsys)
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: the ")


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_missing_or_empty_store_is_named_and_not_created(embedded, capsys, state):
    embedded.unlink()
    if state == "empty":
        embedded.touch()
    code, lines = _promote(capsys)
    assert code == 2 and len(lines) == 1
    said = "does not exist" if state == "missing" else "is an empty file (0 bytes)"
    assert f"error: the tracking store {embedded} {said}" in lines[0]
    if state == "missing":
        assert not embedded.exists()  # not created by the refusal
    else:
        assert embedded.stat().st_size == 0  # not turned into an empty registry


@pytest.mark.parametrize("command", ["train", "batch", "guard"])
def test_every_command_on_a_locked_store_says_so_in_one_line(embedded, capsys, tmp_path, command):
    import sqlite3

    from pipelines import inference_pipeline
    from scripts import guard_aliases
    from src.models import train_model

    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    run = {
        "train": lambda: train_model.main(["--version", "auto"]),
        "batch": lambda: inference_pipeline.main(
            ["--alias", "production", "--input", str(source), "--output", str(tmp_path / "out.csv")]
        ),
        "guard": lambda: guard_aliases.main([]),
    }[command]
    holder = sqlite3.connect(embedded, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code = run()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "is locked by another process" in lines[0], lines


def test_every_console_script_is_a_command_s_main_and_the_makefile_calls_them():
    import importlib
    import inspect
    import tomllib

    from src.utils.cli import COMMAND_PREFIX
    from src.utils.config import PROJECT_ROOT

    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for name, target in scripts.items():
        module, function = target.split(":")
        main = getattr(importlib.import_module(module), function)
        assert name.startswith(COMMAND_PREFIX) and list(inspect.signature(main).parameters) == ["argv"], name
        if name not in {"mlops-release"}:  # the workflows call it (cd-staging.yml, cd-production.yml)
            assert f"$(BIN)/{name}" in makefile, f"make calls {name}"


def test_a_console_script_says_its_own_name_in_its_usage(monkeypatch):
    from src.utils import cli

    monkeypatch.setattr("sys.argv", ["/venv/bin/mlops-validate", "--help"])
    assert cli.parser("python scripts/validate_model.py", "Validate.", example="x").prog == "mlops-validate"
    monkeypatch.setattr("sys.argv", ["scripts/validate_model.py"])
    assert (
        cli.parser("python scripts/validate_model.py", "Validate.", example="x").prog
        == "python scripts/validate_model.py"
    )

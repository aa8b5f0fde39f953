"""What every command-line face shares: its parser, the profile and alias options, the actor, exit codes, errors.

The same flag means the same thing in every command (``--env``, ``--env-config``,
``--alias``, ``--actor``), every ``--help`` ends with an example, and every
command ends a refusal with one ``error: ...`` line and the exit code of
``src.utils.errors.ExitCode``. MLflow's own exceptions are translated by
``src.utils.mlflow_utils.backend_error``; this module never imports MLflow.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from src.utils.config import DEFAULT_ENVIRONMENT_CONFIG, Settings, resolve_settings
from src.utils.errors import ExitCode, ProjectError
from src.utils.git_info import git_user_email

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = ExitCode.OK, ExitCode.FAILED, ExitCode.REFUSED
ALIASES = ("dev", "staging", "production")


class UsageError(ProjectError, ValueError):
    """A command-line value that cannot be used (a malformed time, a count below one); nothing was done."""


PROFILES = ("dev", "staging", "prod")
#: The console scripts' common prefix (pyproject.toml, [project.scripts]).
COMMAND_PREFIX = "mlops-"


def parser(prog: str, doc: str | None, *, example: str, profile: bool = True) -> argparse.ArgumentParser:
    """A command's parser: its docstring's first line as description, an example as epilog, the profile options
    (``profile=False`` for a command that works on the repository's files, not on a backend)."""
    description = (doc or "").strip().splitlines()[0] if doc else None
    invoked = Path(sys.argv[0]).name
    return argparse.ArgumentParser(
        prog=invoked if invoked.startswith(COMMAND_PREFIX) else prog,  # a console script says its own name
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[environment_options()] if profile else [],
    )


def environment_options() -> argparse.ArgumentParser:
    """Options every command takes to choose its backend (a parent parser)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--env", choices=PROFILES, help="profile (default: $ML_ENV, else the file's)")
    options.add_argument("--env-config", type=Path, default=DEFAULT_ENVIRONMENT_CONFIG, help="environment YAML")
    return options


def alias_option(
    target: argparse.ArgumentParser, *, default: str | None, description: str = "the model's alias"
) -> None:
    """``--alias``: one of dev, staging, production."""
    required = default is None
    suffix = "" if required else f" (default: {default})"
    target.add_argument("--alias", choices=ALIASES, default=default, required=required, help=description + suffix)


def actor_option(target: argparse.ArgumentParser) -> None:
    """``--actor``: who runs the command, recorded in the alias history."""
    target.add_argument("--actor", help="who runs the command (default: $MLOPS_ACTOR, else git user.email)")


def settings_from(args: argparse.Namespace, *, creates_store: bool = False) -> Settings:
    """Resolve the profile named on the command line, and point MLflow at it.

    A command that reads the registry (``creates_store`` False: all but training) refuses an embedded store file
    that is missing or empty rather than letting MLflow create an empty registry there and answer from it.
    """
    # MLflow's download progress bars are for people: in a CI log they are dozens of lines of noise
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", str(sys.stderr.isatty()).lower())
    from src.utils.mlflow_utils import configure_tracking

    settings = resolve_settings(args.env, args.env_config)
    if not creates_store:
        for uri in {settings.tracking_uri, settings.registry_uri}:
            check_store_exists(uri)
    configure_tracking(settings)
    return settings


class StoreMissing(ProjectError, FileNotFoundError):
    """The embedded store a reading command needs is not there (or is an empty file)."""


def check_store_exists(uri: str) -> None:
    """Refuse a ``sqlite:///`` store file that does not exist or is empty (0 bytes); other stores pass."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    if not path.exists():
        raise StoreMissing(f"the tracking store {path} does not exist: nothing is registered there yet "
                           "(train first: make train; or point MLFLOW_TRACKING_URI at the store)")  # fmt: skip
    if path.stat().st_size == 0:
        raise StoreMissing(f"the tracking store {path} is an empty file (0 bytes), not an MLflow store: "
                           "restore it from a backup, or remove it and train again (make train)")  # fmt: skip


def current_actor(explicit: str | None = None) -> str:
    """Who runs the command: --actor, else $MLOPS_ACTOR, else the user the tracking server authenticates
    ($MLFLOW_TRACKING_USERNAME: on a basic-auth server the history then names who the server let in), else
    git user.email, else the login name."""
    return (
        explicit
        or os.environ.get("MLOPS_ACTOR")
        or os.environ.get("MLFLOW_TRACKING_USERNAME")
        or git_user_email()
        or getpass.getuser()
    )


def refuse(message: str, code: ExitCode = ExitCode.REFUSED) -> int:
    """Print one clear error line and return the exit code (refused by default)."""
    print(f"error: {message}", file=sys.stderr)
    return int(code)


def run(body: Callable[[], int], *, unchanged: str | None = None) -> int:
    """Run a command's body: a project error (or a translated MLflow one) becomes one ``error:`` line.

    When a backend did not answer, the line also says ``unchanged``: what the
    command guarantees it left as it was (the caller's words, e.g. "no alias moved").
    """
    try:
        return int(body())
    except ProjectError as exc:
        return refuse(_with_outcome(str(exc), exc, unchanged), exc.exit_code)
    except Exception as exc:
        translated = _backend_error(exc)
        if translated is None:
            raise
        return refuse(_with_outcome(str(translated), translated, unchanged), translated.exit_code)


def _with_outcome(message: str, exc: BaseException, unchanged: str | None) -> str:
    if unchanged and _unreachable(exc) and not getattr(exc, "left_changes", False):
        return f"{message}; {unchanged}"
    return message


def _unreachable(exc: BaseException | None) -> bool:
    """Whether a backend that did not answer is behind ``exc`` (its cause chain included)."""
    while exc is not None:
        if isinstance(exc, ConnectionError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _backend_error(exc: Exception) -> ProjectError | None:
    """MLflow's exception in the project's words, if MLflow is loaded at all (it raised, so it is)."""
    if "mlflow" not in sys.modules:
        return None
    from src.utils.mlflow_utils import backend_error

    return backend_error(exc)


def write_atomically(path: Path, text: str) -> None:
    """Write a generated file all or nothing: a reader (a collector, a reviewer, git) never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)

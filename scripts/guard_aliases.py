"""Keep @staging and @production where the alias history says: put back an out-of-band move, record it, alert.

    python scripts/guard_aliases.py                      # one pass: exit 0 all in place, 1 something put back
    python scripts/guard_aliases.py --every 10           # a pass every 10 s, until stopped
    MLFLOW_WEBHOOK_SECRET=... python scripts/guard_aliases.py --every 60 --listen 8090
                                                         # ... and at once when a registry webhook says an alias moved

MLflow lets anyone with EDIT on a model set any of its aliases; this guard is
what makes the promotion policy hold anyway (src/governance/alias_guard.py).
It runs as its own identity (``alias-guard`` in configs/governance.yaml:
EDIT on the alias history, MANAGE on the models), takes the alias lock, and
records each restore in the history as ``guard_restore``. ``--alert-webhook``
(or ``$ALIAS_GUARD_WEBHOOK_URL``) gets a Slack-compatible JSON POST per restore.
A governed model renamed out of band (MLflow lets EDIT rename) is renamed back
first, recorded as ``guard_rename`` and alerted. The listener's secret comes
from ``$MLFLOW_WEBHOOK_SECRET`` or ``--webhook-secret-file`` (a mounted secret),
never the command line, which ``ps`` shows to every user of the machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from src.components.webhook import WEBHOOK_MAX_BODY_BYTES, WebhookVerifier
from src.utils import cli
from src.utils.logging import get_logger

logger = get_logger("guard_aliases")
GUARDED = ("staging", "production")


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/guard_aliases.py", __doc__, example="python scripts/guard_aliases.py --every 10"
    )
    parser.allow_abbrev = False  # the old --webhook-secret VALUE must not pass as --webhook-secret-file
    parser.add_argument("--alias", action="append", choices=GUARDED, help="guard only this alias (repeatable)")
    parser.add_argument("--every", type=float, metavar="S", help="run a pass every S seconds until stopped")
    parser.add_argument("--listen", type=int, metavar="PORT", help="also check when a registry webhook arrives")
    parser.add_argument(
        "--webhook-secret-file",
        type=Path,
        metavar="PATH",
        help="with --listen: the file holding the webhook secret (else $MLFLOW_WEBHOOK_SECRET)",
    )
    parser.add_argument("--alert-webhook", default=os.environ.get("ALIAS_GUARD_WEBHOOK_URL"), help="POST alerts here")
    cli.actor_option(parser)
    return parser


def _check(args: argparse.Namespace) -> None:
    if args.every is not None and args.every <= 0:
        raise cli.UsageError("--every takes a positive number of seconds")
    if args.listen is not None and not webhook_secret(args):
        raise cli.UsageError(
            "--listen needs $MLFLOW_WEBHOOK_SECRET or --webhook-secret-file: unsigned calls are refused"
        )
    if args.listen is not None and args.every is None:
        raise cli.UsageError("--listen needs --every: webhooks can be lost, the scheduled pass is the backstop")


def _pass(args: argparse.Namespace) -> int:
    """One pass over the guarded aliases; the number put back."""
    from src.governance import alias_guard
    from src.models import alias_lock
    from src.models.model_registry import Alias
    from src.monitoring.alerting import post

    settings = cli.settings_from(args)
    records = alias_guard.Records.of(settings)
    lock, actor = alias_lock.for_settings(settings, records.registry), cli.current_actor(args.actor)
    restored = 0
    for model in sorted({settings.model_name_for(alias) for alias in (args.alias or GUARDED)}):
        renamed = alias_guard.restore_name(records, model, actor)
        if renamed is not None:
            restored += 1
            print(renamed.describe(), flush=True)
            if args.alert_webhook and not post(args.alert_webhook, renamed.alert()):
                logger.error("the alert webhook did not accept the alert")
    for alias in [Alias(name) for name in (args.alias or GUARDED)]:
        outcome = alias_guard.enforce(records, lock, settings.model_name_for(alias), alias, actor)
        if outcome.move is None:
            found = outcome.verdict.found
            print(f"{outcome.verdict.model}@{alias.value}: {f'version {found}' if found else 'unset'}, as recorded",
                  flush=True)  # fmt: skip
            continue
        restored += 1
        print(f"{outcome.move.describe()} ({outcome.verdict.problem})", flush=True)
        if args.alert_webhook and not post(args.alert_webhook, alias_guard.alert(outcome)):
            logger.error("the alert webhook did not accept the alert")
    return restored


def webhook_secret(args: argparse.Namespace) -> str | None:
    """The listener's secret: from the file named, else the environment (never an argument: ``ps`` shows those)."""
    if args.webhook_secret_file is None:
        return os.environ.get("MLFLOW_WEBHOOK_SECRET") or None
    try:
        return args.webhook_secret_file.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        raise cli.UsageError(f"cannot read the webhook secret file {args.webhook_secret_file}: {exc}") from None


def _listen(port: int, secret: str, wake: threading.Event) -> ThreadingHTTPServer:
    verifier = WebhookVerifier(secret)

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            declared = self.headers.get("Content-Length", "0")
            if not (declared.isascii() and declared.isdigit()):
                self._answer(400)
                return
            if int(declared) > WEBHOOK_MAX_BODY_BYTES:
                self._answer(413)
                return
            refused = verifier.problem(dict(self.headers.items()), self.rfile.read(int(declared)))
            if refused is None:
                wake.set()  # before the answer: whoever is told 200 may count on the pass being due
            self._answer(200 if refused is None else refused.status)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            logger.debug(format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
    return server


def _guard(args: argparse.Namespace) -> int:
    _check(args)
    if args.every is None:
        return cli.EXIT_FAILED if _pass(args) else cli.EXIT_OK
    wake, stop = threading.Event(), threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    secret = webhook_secret(args)
    receiver = _listen(args.listen, secret, wake) if args.listen is not None and secret else None
    try:
        while not stop.is_set():
            try:
                _pass(args)
            except Exception as exc:  # a pass that cannot run (server down) is reported; the next one retries
                logger.error("guard pass failed: %s", exc)
            wake.wait(args.every)
            wake.clear()
    finally:
        if receiver is not None:
            receiver.shutdown()
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _guard(args))


if __name__ == "__main__":
    sys.exit(main())

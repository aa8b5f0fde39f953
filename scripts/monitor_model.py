"""Monitor a served alias: drift, data quality, latency and live accuracy of a window of its inference log.

    python scripts/monitor_model.py --alias production --last 1000
    python scripts/monitor_model.py --alias production --since 2026-11-27T00:00 --until 2026-11-28T00:00

Each version in the window is judged against its own reference profile (logged
with its training run). Prints a summary, writes the JSON result and a
self-contained HTML report (``--output-dir``), records the pass as a run in the
model's experiment, and exits 1 when an alert fires (``alert_m`` of the last
``alert_n`` windows breached; configs/monitoring.yaml), 0 otherwise, 2 when it
could not run (no log, a corrupt log, a backend down). ``--alert-webhook`` (or
``$MONITORING_WEBHOOK_URL``) receives a Slack-compatible JSON POST on an alert.

``--challenger ALIAS`` compares instead: the challenger (canary or shadow)
against the champion ``--alias`` on the same window (agreement, class shares,
latency, refusals, live accuracy; ``src.monitoring.comparison``), writes
``comparison.json`` and exits 1 when the challenger is not fit to take over.

    python scripts/monitor_model.py --alias production --challenger staging --since 2026-12-03T10:00
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from src.utils import cli
from src.utils.config import DEFAULT_MONITORING_CONFIG, PROJECT_ROOT, load_monitoring_config

if TYPE_CHECKING:
    from src.monitoring.log_reader import WindowSpec
    from src.monitoring.monitor import MonitoringResult
    from src.utils.config import MonitoringConfig


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python scripts/monitor_model.py",
        __doc__,
        example="python scripts/monitor_model.py --alias production --last 1000",
    )
    cli.alias_option(parser, default="production", description="the alias whose traffic is judged")
    window = parser.add_mutually_exclusive_group()
    window.add_argument("--last", type=int, help="the last N requests")
    window.add_argument("--since", help="UTC ISO time the window starts at (inclusive)")
    parser.add_argument("--until", help="UTC ISO time the window ends at (exclusive; with --since)")
    parser.add_argument("--log", action="append",
                        help="inference log: a file, a glob or a postgresql:// URI (repeatable; default: the "
                        "profile's inference_log, else the monitoring config's files)")  # fmt: skip
    parser.add_argument("--config", type=Path, default=DEFAULT_MONITORING_CONFIG, help="monitoring thresholds")
    parser.add_argument("--output-dir", type=Path, help="where result.json and report.html go (default: reports/...)")
    parser.add_argument(
        "--prometheus-textfile", type=Path, help="also write the result as Prometheus text (textfile collector)"
    )
    parser.add_argument("--alert-webhook", default=os.environ.get("MONITORING_WEBHOOK_URL"), help="POST alerts here")
    parser.add_argument("--challenger", choices=cli.ALIASES,
                        help="compare this alias's traffic with --alias's instead (canary or shadow)")  # fmt: skip
    return parser


def _window(args: argparse.Namespace) -> WindowSpec:
    from src.monitoring.log_reader import WindowSpec

    for name in ("since", "until"):
        value = getattr(args, name)
        if value is not None:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise cli.UsageError(f"--{name} {value!r} is not an ISO time (e.g. 2026-11-27T00:00)") from None
            stamp = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
            setattr(args, name, stamp.isoformat(timespec="milliseconds"))
    if args.last is not None and args.last < 1:
        raise cli.UsageError("--last must be at least 1")
    return WindowSpec(since=args.since, until=args.until, last=args.last)


def _compare(args: argparse.Namespace, config: MonitoringConfig, spec: WindowSpec) -> int:
    from src.monitoring.comparison import CanaryRules, compare
    from src.monitoring.log_reader import log_sources_for, read_window

    if args.challenger == args.alias:
        raise cli.UsageError("--challenger must be another alias than --alias")
    settings = cli.settings_from(args)
    windows = [(alias, read_window(log_sources_for(settings, args.log, config, alias), alias, spec,
                                   model_name=settings.model_name_for(alias)))
               for alias in (args.alias, args.challenger)]  # fmt: skip
    result = compare(windows[0], windows[1], CanaryRules())
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    output = args.output_dir or PROJECT_ROOT / "reports" / "monitoring" / f"{args.challenger}_vs_{args.alias}_{stamp}"
    output.mkdir(parents=True, exist_ok=True)
    (output / "comparison.json").write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
    print(f"@{args.challenger} against @{args.alias}, {spec.describe()}:\n{result.summary()}\n  written: "
          f"{output / 'comparison.json'}")  # fmt: skip
    return cli.EXIT_OK if result.fit else cli.EXIT_FAILED


def _monitor(args: argparse.Namespace) -> int:
    config = load_monitoring_config(args.config)  # refused before MLflow loads
    spec = _window(args)
    if args.challenger is not None:
        return _compare(args, config, spec)
    from src.monitoring import alerting, report
    from src.monitoring.log_reader import log_sources_for, read_window
    from src.monitoring.monitor import prometheus_text, run_pass

    settings = cli.settings_from(args)
    sources = log_sources_for(settings, args.log, config, args.alias)
    window = read_window(sources, args.alias, spec, model_name=settings.model_name_for(args.alias))
    result, html, run_id = run_pass(settings, args.alias, window, spec.describe(), config.thresholds, report.render)
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    output = args.output_dir or PROJECT_ROOT / "reports" / "monitoring" / f"{args.alias}_{stamp}"
    output.mkdir(parents=True, exist_ok=True)
    (output / "result.json").write_text(json.dumps(result.to_dict(), indent=2, default=str), encoding="utf-8")
    (output / "report.html").write_text(html, encoding="utf-8")
    if args.prometheus_textfile:
        cli.write_atomically(args.prometheus_textfile, prometheus_text(result, time.time()))
    _print_summary(result, output, run_id)
    if result.alert and args.alert_webhook and not alerting.send(args.alert_webhook, result):
        print("warning: the alert webhook did not answer after 3 attempts", file=sys.stderr)
    return cli.EXIT_FAILED if result.alert else cli.EXIT_OK


def _print_summary(result: MonitoringResult, output: Path, run_id: str) -> None:
    alert = " (ALERT)" if result.alert else ""
    print(f"{result.model}@{result.alias}, {result.window}: {result.requests} requests, "
          f"{result.refused_share:.1%} refused -> {result.status.upper()}{alert}")  # fmt: skip
    for version in result.versions:
        accuracy = f"{version.accuracy:.3f} ({version.labelled} labels)" if version.accuracy is not None else "-"
        p99 = version.latency.get("latency_p99_ms")
        latency = f", p99 {p99:.2f} ms" if p99 is not None else ""
        print(f"  version {version.version}: {version.requests} requests, drifted: {version.drift_summary}, "
              f"accuracy: {accuracy}{latency}")  # fmt: skip
    print(f"  report: {output / 'report.html'}\n  run:    {run_id}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _monitor(args))


if __name__ == "__main__":
    sys.exit(main())

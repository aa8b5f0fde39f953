"""Write the model card of a registered version (docs/MODEL_CARD.md), or check the committed one is current.

    python scripts/model_card.py --alias production           # the card of the version at @production
    python scripts/model_card.py --version 3 --output -       # to standard output
    python scripts/model_card.py --check                      # exit 1 if docs/MODEL_CARD.md is stale (no registry)
    python scripts/model_card.py --preview                    # the card of a training in memory (a new project)

The card joins what training logged with the version's run (data, features,
metrics per class, confusion matrix), what the registry says now (aliases,
validation verdict and checks, alias history) and configs/model_card.yaml
(intended use, limits). --check trains in memory, tracks nothing, and compares
what does not change from run to run (src/models/model_card.py: normalized).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from src.utils import cli
from src.utils.config import DEFAULT_MODEL_CARD_CONFIG, PROJECT_ROOT, ModelCardConfig, load_model_card_config

DEFAULT_OUTPUT = PROJECT_ROOT / "docs" / "MODEL_CARD.md"


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser("python scripts/model_card.py", __doc__, example="python scripts/model_card.py --alias dev")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--alias", choices=cli.ALIASES, default="dev", help="the version at this alias")
    target.add_argument("--version", help="this version number (of the dev model)")
    parser.add_argument("--card-config", type=Path, default=DEFAULT_MODEL_CARD_CONFIG, help="intended use, limits")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="file to write, or - for standard output")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare --output with a fresh training, write nothing")
    mode.add_argument("--preview", action="store_true", help="write the card of a training in memory (no registry)")
    parser.add_argument("--force", action="store_true",
                        help="write even when only IDs, times and people differ from the file (kept otherwise, so "
                        "re-running the README's commands leaves the tree clean)")  # fmt: skip
    return parser


def _preview(card_config: ModelCardConfig) -> str:
    """The card of version 1.0.0 trained in memory: what ``--check`` compares, and a new project's first card."""
    from src.models.training import preview_card
    from src.models.training_plan import TrainingRequest, plan_training

    return preview_card(plan_training(TrainingRequest(version="1.0.0")), card_config)


def _check(args: argparse.Namespace, path: Path) -> int:
    from src.models.model_card import normalized

    fresh = normalized(_preview(load_model_card_config(args.card_config)))
    committed = normalized(path.read_text(encoding="utf-8")) if path.is_file() else ""
    if committed == fresh:
        print(f"{path} describes the current training")
        return cli.EXIT_OK
    first = next((line for line in difflib.unified_diff(committed.splitlines(), fresh.splitlines(), lineterm="")
                  if line[:1] in "+-" and line[:3] not in ("+++", "---")), "(missing)")  # fmt: skip
    return cli.refuse(f"{path} is stale (first difference: {first.strip()}): run make train, then make model-card",
                      cli.EXIT_FAILED)  # fmt: skip


def _write(args: argparse.Namespace) -> int:
    card_config = load_model_card_config(args.card_config)  # refused before MLflow is imported
    path = Path(args.output)
    if args.check:
        return _check(args, path)
    if args.preview:
        cli.write_atomically(path, _preview(card_config))
        print(f"wrote {path}: the card of a training in memory (make lifecycle, then make model-card, for a release)")
        return cli.EXIT_OK
    from src.models import model_card
    from src.models.model_registry import Registry, RegistryError

    settings = cli.settings_from(args)
    model = settings.model_name_for("dev" if args.version else args.alias)
    info = Registry().version(model, args.version) if args.version else Registry().version_at(model, args.alias)
    if info is None:
        raise RegistryError(f"no version of {model} holds @{args.alias}")
    text = model_card.card_of(settings, model, info.version, card_config)
    if args.output == "-":
        sys.stdout.write(text)
        return cli.EXIT_OK
    if not args.force and path.is_file() and model_card.same_training(path.read_text(encoding="utf-8"), text):
        print(f"{path} already describes this training (only the version, its registry state, IDs, times and people "
              "differ): left as it is, so the tree stays clean (--force writes it)")  # fmt: skip
        return cli.EXIT_OK
    cli.write_atomically(path, text)
    print(f"wrote {path}: {model} version {info.version}")
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _write(args))


if __name__ == "__main__":
    sys.exit(main())

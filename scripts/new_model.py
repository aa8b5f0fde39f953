"""Make a new model project from this template: your names, your data, your target, your estimator.

    python scripts/new_model.py --answers answers.yml --dest ../churn-model   # make new-model DEST=... ANSWERS=...
    python scripts/new_model.py --dest ../churn-model                          # asks the questions instead

The answers file is documented in the README ("Adapt it to your model";
examples/answers/ holds one). Every answer is checked first: a
wrong one is one ``error:`` line and nothing is written. The new project is a
git repository with its own README, configs, model pack (drafted from the
data file: review it), tests, workflows and manifests; ``copier update`` in it
brings later changes of this template and keeps its pack.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from src.utils import cli

#: The questions asked when no answers file is given: (answer, question, default).
QUESTIONS = (
    ("data", "Training data (.csv or .parquet)", None),
    ("target", "Target column (the label to predict)", None),
    ("entity_key", "Entity key: the column or name that identifies a row (empty: none)", ""),
    ("team", "Team (lower case, digits, hyphens)", "data-science"),
    ("team_code", "Team code (the model name's prefix: letters, digits)", "ds"),
    ("project", "Project (lower case, digits, underscores)", None),
    ("model_name", "Model name (lower case, digits, underscores)", "classifier"),
    ("owner", "Owner (an e-mail address)", "data-science@example.com"),
    ("use_case", "Use case (one sentence)", None),
    ("estimator", "Estimator (an import path)", "sklearn.ensemble.HistGradientBoostingClassifier"),
)


def _parser() -> argparse.ArgumentParser:
    example = "python scripts/new_model.py --answers my-answers.yml --dest ../my-model"
    parser = cli.parser("python scripts/new_model.py", __doc__, profile=False, example=example)
    parser.add_argument("--dest", type=Path, required=True, help="directory of the new project (new or empty)")
    parser.add_argument("--answers", type=Path, help="answers file (YAML); without it, the questions are asked")
    parser.add_argument("--vcs-ref", help="the template's git revision to render (default: HEAD)")
    return parser


def ask(read: Callable[[str], str] = input) -> dict[str, object]:
    """The answers, asked one by one on the terminal (Enter keeps the default)."""
    answers: dict[str, object] = {}
    for key, question, default in QUESTIONS:
        shown = f" [{default}]" if default else ""
        while not (value := read(f"{question}{shown}: ").strip() or (default or "")) and default is None:
            print(f"  {key} is needed")
        if value:
            answers[key] = value
    return answers


def _new_model(args: argparse.Namespace) -> int:
    from src.scaffold.answers import parse_answers, read_answers
    from src.scaffold.generate import check, generate

    answers = read_answers(args.answers) if args.answers else parse_answers(ask(), "your answers", Path.cwd())
    plan = check(answers, args.dest)
    print(f"making {args.dest}: {len(plan.contract.columns)} input columns, classes {list(plan.contract.classes)} "
          f"(copier renders the template, then the pack is written and checked; ~15 s)")  # fmt: skip
    started = time.monotonic()
    project = generate(plan, args.dest, vcs_ref=args.vcs_ref)
    print(f"made {project.path} in {time.monotonic() - started:.0f} s (commit {project.commit[:12]}).\n"
          f"  review:  {', '.join(project.written)}\n"
          f"  then:    cd {project.path} && make train && make test")  # fmt: skip
    return cli.EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run(lambda: _new_model(args))


if __name__ == "__main__":
    sys.exit(main())

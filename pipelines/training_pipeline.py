"""Orchestrated training workflow: plan -> data -> features -> fit -> evaluate -> log -> register.

    python pipelines/training_pipeline.py --version 1.0.0   # same options as python -m src.models.train_model

``run_training`` composes the library's steps: ``plan_training`` refuses a
bad request before anything is imported or tracked, ``execute`` trains,
tracks and registers the version with alias ``dev``.
"""

from __future__ import annotations

from src.models.training import MODEL_REQUIREMENTS, TrainingResult, execute
from src.models.training_plan import TrainingRequest, plan_training

__all__ = ["MODEL_REQUIREMENTS", "TrainingRequest", "TrainingResult", "run_training"]


def run_training(request: TrainingRequest) -> TrainingResult:
    """Plan and execute one training run (the programmatic entry point)."""
    return execute(plan_training(request))


if __name__ == "__main__":
    from src.models.train_model import exit_process, main

    exit_process(main())

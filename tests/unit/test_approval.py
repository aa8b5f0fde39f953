"""What a production move needs from people, every missing flag at once, refused before MLflow is imported."""

from __future__ import annotations

from src.models.approval import NO_APPROVAL, Approval

APPROVED = Approval(approved_by="bob@example.com", reason="CHG-1")


def test_every_missing_flag_is_named_at_once():
    from src.models.approval import missing_approval

    assert missing_approval(NO_APPROVAL) == [
        "an approval: --approved-by NAME",
        "a reason or change ticket: --reason TEXT",
    ]
    assert missing_approval(APPROVED) == []


def test_the_command_refuses_a_bare_production_move_before_importing_mlflow():
    import subprocess
    import sys

    from src.utils.config import PROJECT_ROOT

    probe = (
        "import sys; from scripts.promote_model import main; code = main(['--to', 'production']); "
        "print('mlflow' in sys.modules); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout.strip() == "False"
    assert "--approved-by NAME and a reason or change ticket: --reason TEXT" in done.stderr

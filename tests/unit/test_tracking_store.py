"""Store preparation only starts work for a new local SQLite store."""

from src.utils.tracking_store import prepare_stores


def test_remote_and_existing_stores_need_no_preparation(tmp_path):
    existing = tmp_path / "mlflow.db"
    existing.touch()
    preparation = prepare_stores("http://127.0.0.1:5000", "databricks-uc", f"sqlite:///{existing}")
    assert preparation.process is None
    preparation.wait()  # a no-op, not an error

"""The feature store's command line: a refusal is one line naming what is wrong, nothing is written."""

from src.features import feature_store


def test_reading_a_store_that_was_never_built_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATURE_STORE_DIR", str(tmp_path / "nowhere"))
    assert feature_store.main(["online", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith("run `make features` first")
    assert not (tmp_path / "nowhere").exists()

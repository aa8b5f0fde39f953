"""Configuration YAML: no anchors or aliases (a "billion laughs" file must not hang a command), bounded echoes."""

from __future__ import annotations

import time

import pytest

from src.utils.config import MAX_ECHO_CHARS, ConfigError, load_model_config, load_yaml

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
       f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
)  # fmt: skip


def test_anchors_and_aliases_are_refused_at_once():
    started = time.process_time()
    with pytest.raises(ConfigError, match=r"anchors and aliases \(&name, \*name\) are not allowed"):
        load_yaml(BOMB, "bomb.yaml")
    assert time.process_time() - started < 5  # CPU time, not wall: it stops at the first anchor


def test_a_billion_laughs_model_config_is_refused_in_one_short_line(tmp_path):
    config = tmp_path / "model_config.yaml"
    config.write_text(BOMB + "\nrandom_seed: *i\n")
    with pytest.raises(ConfigError) as refused:
        load_model_config(config)
    assert len(str(refused.value)) < 2_000 and "anchors and aliases" in str(refused.value)


def test_a_long_wrong_value_is_echoed_shortened(tmp_path):
    config = tmp_path / "model_config.yaml"
    config.write_text(f"random_seed: {'9' * 100_000}x\n")
    with pytest.raises(ConfigError) as refused:
        load_model_config(config)
    assert len(str(refused.value)) < 1_000 and "... (100,003 characters)" in str(refused.value)  # its repr
    assert MAX_ECHO_CHARS < 1_000


def test_plain_yaml_still_loads():
    assert load_yaml("a: [1, 2]\nb: {c: d}\n", "x.yaml") == {"a": [1, 2], "b": {"c": "d"}}

"""Property tests of the pure stack-file helpers (settings/pulumi_yaml.py)."""

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from amlplatform.errors import UserError
from amlplatform.settings.pulumi_yaml import go_json_number, parse, program_config, stack_config

# YAML forbids raw control characters (yaml.v3 too: "control characters are not allowed")
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1) | \
    st.floats(allow_nan=False, allow_infinity=False) | TEXT
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(TEXT, inner, max_size=4), max_leaves=20)


@given(JSON)
def test_json_is_read_as_json(value):
    # JSON is YAML 1.2: yaml.v3 reads a JSON document as the same values
    assert parse(json.dumps(value, ensure_ascii=False)) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_json_numbers_read_back_as_the_same_number(value):
    assert float(json.loads(go_json_number(value))) == value


@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}:[a-z_]{1,8}", fullmatch=True), JSON, max_size=5))
def test_program_config_is_text_and_objects_read_back(values):
    strings = program_config(values)
    assert set(strings) == set(values) and all(isinstance(v, str) for v in strings.values())
    for key, value in values.items():
        if isinstance(value, (dict, list)):
            back = json.loads(strings[key])
            assert json.dumps(back, sort_keys=True) == json.dumps(_whole(value), sort_keys=True)
        elif isinstance(value, str):
            assert strings[key] == value  # text is never JSON-encoded or decoded


def _whole(value):
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab:{}[]&*!|>-?,'\"#\n \t0.~%@`") + ["\\", "\x00", "é", "<"]),
               max_size=60))
def test_any_text_is_a_stack_file_or_a_clear_error(text):
    # never a traceback: a value, or a UserError naming the problem
    try:
        stack_config(parse(text, "f.yaml"), source="f.yaml", project="p")
    except UserError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["amlplatform:" + k for k in __import__("amlplatform.settings.stack", fromlist=["x"])
                     .StackSettings.model_fields] + ["amlplatform:x", "azure-native:location", "amlplatfrm:y"]),
    JSON, max_size=6))
def test_any_config_is_settings_or_a_clear_error(config):
    from amlplatform.settings.stack import StackSettings, settings_from_config

    base = {"amlplatform:location": "westeurope", "amlplatform:naming": {"workload": "fraud", "environment": "dev"}}
    try:
        assert isinstance(settings_from_config({**base, **config}), StackSettings)
    except UserError as exc:
        assert exc.problems or str(exc)

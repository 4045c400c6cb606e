"""The one dotted-path reader of recorded inputs (amlplatform.review.paths)."""

from hypothesis import given
from hypothesis import strategies as st

from amlplatform.review.paths import get_path

KEYS = st.text(alphabet="abcXYZ_", min_size=1, max_size=5)


@given(st.lists(KEYS, min_size=1, max_size=5), st.integers() | st.text() | st.booleans())
def test_a_value_nested_under_a_path_is_found(keys, value):
    data = value
    for key in reversed(keys):
        data = {key: data}
    assert get_path(data, ".".join(keys)) == value


@given(st.lists(KEYS, min_size=1, max_size=4), KEYS)
def test_a_missing_step_gives_none(keys, other):
    data = {}
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = 1
    missing = keys[:-1] + [keys[-1] + other]
    assert get_path(data, ".".join(missing)) is None
    assert get_path(data, ".".join(keys + ["deeper"])) is None  # through a non-mapping


def test_numeric_steps_index_lists():
    data = {"privateLinkServiceConnections": [{"groupIds": ["amlworkspace"]}]}
    assert get_path(data, "privateLinkServiceConnections.0.groupIds") == ["amlworkspace"]
    assert get_path(data, "privateLinkServiceConnections.1.groupIds") is None

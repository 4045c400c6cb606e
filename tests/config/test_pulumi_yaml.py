"""Stack files read exactly as the Pulumi CLI reads them.

Each case cites the Pulumi source it follows (pulumi/pulumi at 1b5949891b, 2026-08-21; the
stack-loading code is unchanged up to the CLI 3.272.0 we pin): the CLI parses stack files with
gopkg.in/yaml.v3 (sdk/go/common/encoding/marshal.go:111) into ``any``, then lays out the config
(sdk/go/common/workspace/loaders.go:173 LoadProjectStackBytes, resource/config/object.go).
"""

import json
import math

import pytest

from amlplatform.errors import UserError
from amlplatform.settings.pulumi_yaml import (
    MAX_BYTES, go_json_number, parse, parse_key, program_config, read_stack_config, resolve_plain, stack_config,
)


def config_of(text: str, project: str = "amlplatform"):
    return stack_config(parse(text), source="Pulumi.t.yaml", project=project)


# ---------------------------------------------------------------- yaml.v3 resolve.go (YAML 1.2 core)

@pytest.mark.parametrize("text", ["on", "off", "yes", "no", "y", "n", "Yes", "NO", "On", "OFF"])
def test_yaml11_booleans_stay_strings(text):
    # yaml.v3 resolve.go: only true/True/TRUE/false/False/FALSE resolve to !!bool when decoding
    # into any; the YAML 1.1 spellings are plain strings (PyYAML would make them booleans)
    assert parse(f"a: {text}") == {"a": text}


@pytest.mark.parametrize("text,value", [("true", True), ("True", True), ("TRUE", True),
                                        ("false", False), ("False", False), ("FALSE", False)])
def test_yaml12_booleans(text, value):
    assert parse(f"a: {text}")["a"] is value


@pytest.mark.parametrize("text", ["~", "null", "Null", "NULL", ""])
def test_nulls(text):
    # resolve.go: {"", "~", "null", "Null", "NULL"} resolve to !!null
    assert parse(f"a: {text}") == {"a": None}


@pytest.mark.parametrize("text,value", [
    ("12", 12), ("-7", -7), ("+3", 3), ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5),
    ("1_000", 1000), ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5), ("-.25", -0.25),
])
def test_numbers_as_go_parses_them(text, value):
    # resolve.go: strconv.ParseInt(plain, 0, 64) after removing "_" (so base prefixes and the
    # YAML 1.1 octal 017), then yamlStyleFloat
    got = parse(f"a: {text}")["a"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["2001-12-14", "2001-12-14t21:59:43.10-05:00", "12:30:00", "1.2.3", "0x"])
def test_timestamps_and_other_lookalikes_stay_strings(text):
    # decode.go: a timestamp decoded into any is kept as its text "for backward compatibility";
    # "1.2.3" is no float
    assert parse(f"a: {text}") == {"a": text}


def test_invalid_octal_falls_through_to_float():
    # resolve.go: ParseInt("08", 0, 64) fails (8 is no octal digit), yamlStyleFloat matches: 8.0
    assert parse("a: 08") == {"a": 8.0} and isinstance(parse("a: 08")["a"], float)


@pytest.mark.parametrize("text,check", [(".inf", lambda v: v == math.inf), ("-.Inf", lambda v: v == -math.inf),
                                        (".NaN", math.isnan)])
def test_special_floats_parse_but_cannot_be_config(text, check):
    assert check(parse(f"a: {text}")["a"])
    # object.go MarshalString -> encoding/json: "json: unsupported value: +Inf" - the CLI refuses them
    with pytest.raises(UserError, match=r"amlplatform:x.y: .* not a value Pulumi config can hold"):
        config_of(f"config:\n  amlplatform:x: {{y: {text}}}")


def test_quoted_scalars_are_strings():
    assert parse('a: "true"\nb: \'12\'\nc: "null"') == {"a": "true", "b": "12", "c": "null"}


def test_duplicate_keys_are_an_error():
    # yaml.v3 decode.go: "mapping key %#v already defined at line %d"
    with pytest.raises(UserError, match=r"mapping key 'b' already defined at line 2"):
        parse("a: 1\nb: 2\nb: 3\n")
    with pytest.raises(UserError, match="already defined"):
        parse("config:\n  amlplatform:tags: {x: 1, x: 2}\n")


def test_merge_keys_may_override():
    # yaml.v3 supports << merges; merged keys are not duplicates
    assert parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")["c"] == {"x": 1, "y": 3}


def test_alias_bomb_is_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 12):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, " \
                f"*{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}, *{chr(96 + i)}]\n"
    with pytest.raises(UserError, match="expands to more than .* values through aliases"):
        parse(bomb)


def test_recursive_anchor_is_refused():
    with pytest.raises(UserError, match="refers to itself"):
        parse("a: &a [1, *a]\n")


def test_huge_file_is_refused(tmp_path):
    path = tmp_path / "Pulumi.big.yaml"
    path.write_text("config:\n  amlplatform:tags:\n" + "    k: v\n" * 10 + "#" * (MAX_BYTES + 1))
    with pytest.raises(UserError, match="larger than 1024 KiB"):
        read_stack_config(path)
    with pytest.raises(UserError, match="larger than"):
        parse("#" * (MAX_BYTES + 1))


def test_bad_yaml_and_bad_utf8_are_clear(tmp_path):
    with pytest.raises(UserError, match="is not valid YAML"):
        parse("a: [1, 2\n")
    path = tmp_path / "Pulumi.x.yaml"
    path.write_bytes(b"config:\n  amlplatform:location: \xff\n")
    with pytest.raises(UserError, match="is not UTF-8"):
        read_stack_config(path)


def test_utf8_bom_is_skipped():
    # loaders.go readFileStripUTF8BOM
    assert parse("\ufeffa: 1") == {"a": 1}


# ------------------------------------------------------------------------------ the config layout

def test_keys_without_namespace_get_the_project_namespace():
    # loaders.go:61 stackConfigNamespacedWithProject
    read = config_of("config:\n  location: westeurope\n  aws:region: x\n", project="teamml")
    assert read.values == {"teamml:location": "westeurope", "aws:region": "x"}


def test_old_config_module_keys():
    # key.go:44 ParseKey: <namespace>:config:<name> is the old form of <namespace>:<name>
    assert parse_key("amlplatform:config:location") == ("amlplatform", "location")
    assert parse_key("a:b:c") is None and parse_key("a:b:c:d") is None
    with pytest.raises(UserError, match="could not parse 'a:b:c' as a configuration key"):
        config_of("config:\n  a:b:c: 1\n")


def test_top_level_non_string_keys_are_an_error():
    # project.go:520 SimplifyMarshalledValue: "expected only string keys"
    with pytest.raises(UserError, match="expected only string keys, got '1'"):
        config_of("1: x\nconfig: {}\n")
    with pytest.raises(UserError, match="config key '2' is not text"):
        config_of("config:\n  2: x\n")


def test_nested_non_string_keys_become_text():
    # object.go unmarshalObject, map[any]any: fmt.Sprintf("%v", k)
    read = config_of("config:\n  amlplatform:tags: {1: a, true: b, null: c, 1.5: d}\n")
    assert read.values["amlplatform:tags"] == {"1": "a", "true": "b", "<nil>": "c", "1.5": "d"}


def test_nested_keys_equal_once_text_are_an_error():
    with pytest.raises(UserError, match="the same key once read as text"):
        config_of('config:\n  amlplatform:tags: {1: a, "1": b}\n')
    with pytest.raises(UserError, match="the same key once read as text"):
        config_of('config:\n  amlplatform:tags: {true: a, "true": b}\n')


def test_secure_values():
    # object.go:541 isSecureValue: exactly one key "secure" with a string
    read = config_of("config:\n  amlplatform:a: {secure: v1:abc}\n  amlplatform:b: {x: {secure: v1:y}}\n"
                     "  amlplatform:c: {secure: 12}\n  amlplatform:d: {secure: v1:q, other: 1}\n")
    assert read.secret_keys == ["amlplatform:a", "amlplatform:b"]
    assert read.values["amlplatform:a"] == "[secret]"
    assert read.values["amlplatform:b"] == {"x": "[secret]"}
    assert read.values["amlplatform:c"] == {"secure": 12} and read.values["amlplatform:d"]["other"] == 1
    assert read.secret_paths == [("amlplatform:a", ()), ("amlplatform:b", ("x",))]


def test_null_top_level_value_is_an_empty_string():
    # loaders.go:379 checkForEmptyConfig: "treated as an empty string"
    read = config_of("config:\n  amlplatform:tenant_id:\n  other:x: ~\n")
    assert read.empty_keys == ["amlplatform:tenant_id", "other:x"]
    assert program_config(read.values) == {"amlplatform:tenant_id": "", "other:x": ""}


def test_values_reach_the_program_as_pulumi_config_text():
    # object.go MarshalString: strings as they are, numbers/booleans as JSON, objects as JSON;
    # the language host passes them as the JSON object PULUMI_CONFIG (pulumi-language-python main.go)
    read = config_of("config:\n  a:s: '123'\n  a:i: 123\n  a:b: true\n  a:f: 1.0\n  a:g: 2.5\n"
                     "  a:o: {n: 1.0, l: [on, 2]}\n  a:t: 2001-12-14\n")
    assert program_config(read.values) == {
        "a:s": "123", "a:i": "123", "a:b": "true", "a:f": "1", "a:g": "2.5",
        "a:o": '{"l":["on",2],"n":1}', "a:t": "2001-12-14"}


@pytest.mark.parametrize("value,text", [(1.0, "1"), (1e21, "1e+21"), (1e-7, "1e-7"), (0.1, "0.1"),
                                        (123456789.5, "123456789.5"), (-2.0, "-2"), (0.0, "0")])
def test_go_json_numbers(value, text):
    assert go_json_number(value) == text
    assert json.loads(text) == value


def test_resolve_plain_is_total():
    # any text resolves to something (never raises)
    for text in ["-", "+", ".", "0b", "0o", "-0x", "1_", "_1", "0_7", "١٢"]:
        resolve_plain(text)


def test_stack_file_keys():
    # workspace/project.go:1229 ProjectStack: config, secretsprovider, encryptedkey, encryptionsalt,
    # environment. The CLI ignores other keys; a misspelt 'config' would drop every setting, so
    # unknown keys are errors here.
    read = config_of("secretsprovider: passphrase\nencryptionsalt: v1:x\nencryptedkey: k\nenvironment: [e]\n"
                     "config:\n  a:b: 1\n")
    assert read.values == {"a:b": 1}
    with pytest.raises(UserError, match="'confg' is not a stack file key \\(did you mean 'config'\\?\\)"):
        config_of("confg:\n  a:b: 1\n")


# ------------------------------------------------------------------ project config (Pulumi.yaml)

from amlplatform.settings.pulumi_yaml import apply_project_config  # noqa: E402


def merged(project_yaml: str, stack_yaml: str):
    doc = parse(project_yaml)
    return apply_project_config(doc, config_of(stack_yaml, project=doc["name"]), stack="dev", source="Pulumi.yaml")


def test_project_defaults_fill_what_the_stack_lacks():
    # pkg/workspace/config.go mergeConfig; project.go:486 shorthand: a plain value is the default of
    # a project key and the value of another namespace's key
    read = merged("name: own\nconfig:\n  size: 3\n  aws:region: eu\n  tier: {type: string, default: gold}\n",
                  "config:\n  own:size: 5\n")
    assert read.values == {"own:size": 5, "aws:region": "eu", "own:tier": "gold"}


def test_a_project_key_without_default_is_missing():
    # config.go missingStackConfigurationKeysError
    with pytest.raises(UserError, match="Stack 'dev' is missing configuration value 'region'"):
        merged("name: own\nconfig:\n  region: {type: string}\n", "config: {}\n")


@pytest.mark.parametrize("type_,value,ok", [
    # a top-level number reaches the check as its text (MarshalString), so it passes as a string
    ("string", "x", True), ("string", 3, True), ("string", "[1]", False), ("integer", 3, True), ("integer", "'3'", True),
    ("integer", "x", False), ("boolean", "true", True), ("boolean", "yes", False), ("object", "{a: 1}", True),
    ("object", "[1]", False),
])
def test_explicit_types_are_checked(type_, value, ok):
    # project.go:771 ValidateConfigValue
    project = f"name: own\nconfig:\n  k: {{type: {type_}}}\n"
    if ok:
        merged(project, f"config:\n  own:k: {value}\n")
    else:
        with pytest.raises(UserError, match=f"must be of type '{type_}'"):
            merged(project, f"config:\n  own:k: {value}\n")


def test_a_secret_project_key_must_be_encrypted_in_the_stack():
    with pytest.raises(UserError, match="must be encrypted as it's secret"):
        merged("name: own\nconfig:\n  pw: {type: string, secret: true}\n", "config:\n  own:pw: plain\n")
    merged("name: own\nconfig:\n  pw: {type: string, secret: true}\n", "config:\n  own:pw: {secure: v1:x}\n")


def test_default_and_value_together_are_refused():
    with pytest.raises(UserError, match="cannot have both a 'default' and 'value'"):
        merged("name: own\nconfig:\n  k: {default: 1, value: 2}\n", "config: {}\n")


def test_yaml11_collection_tags_decode_as_what_they_are_written_as():
    # yaml.v3 knows no !!set/!!omap/!!pairs: a set is the mapping it is written as (null values),
    # an ordered map the list of one-key mappings
    assert parse("a: !!set {x, y}") == {"a": {"x": None, "y": None}}
    assert parse("a: !!omap [{x: 1}, {y: 2}]") == {"a": [{"x": 1}, {"y": 2}]}
    assert parse("a: !!pairs [{x: 1}]") == {"a": [{"x": 1}]}
    assert program_config(config_of("config:\n  a:b: !!set {x}\n").values) == {"a:b": '{"x":null}'}


def test_unknown_tags_are_a_clear_error():
    with pytest.raises(UserError, match="could not determine a constructor for the tag '!foo'"):
        parse("a: !foo x")

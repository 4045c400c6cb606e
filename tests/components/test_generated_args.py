"""MLPlatform's argument types are generated from the platform's models (one place for each field,
its type, default and description); the committed module must be what the generator writes."""

from amlplatform.iac.platform import MLPlatformArgs, _generate
from amlplatform.spec.platform import StackSettings


def test_the_committed_args_module_is_current():
    assert _generate.TARGET.read_text(encoding="utf-8") == _generate.render(), (
        "models changed: run `python -m amlplatform.iac.platform._generate` and commit mlplatform/args.py")


def test_every_stack_setting_is_an_argument_and_defaults_are_documented_from_the_model():
    from amlplatform.iac.platform.args import StackStorage

    assert set(StackSettings.model_fields) <= set(MLPlatformArgs.__annotations__)
    assert set(StackStorage.__annotations__) == set(StackSettings.model_fields["storage"].annotation.model_fields)
    text = _generate.TARGET.read_text(encoding="utf-8")
    default = StackSettings.model_fields["storage"].annotation.model_fields["sku"].default
    assert f'default "{default}"' in text.split("class StackStorage", 1)[1].split("class ", 1)[0]

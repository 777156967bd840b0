import pytest

from destaflow.config import ConfigError, load_config, load_schema, validate_config


def test_defaults_are_filled_in():
    config = validate_config({})
    assert config["threads"] == 2
    assert config["models"]["whisper"].startswith("package:")
    assert config["demo"]["pitch"]["high"] == [65, 75]


def test_demo_and_paper_configs_validate(repo_root):
    demo = load_config(repo_root / "config.yaml")
    assert demo["corpora"]["demo"]["reader"] == "demo"
    paper = load_config(repo_root / "config" / "paper.yaml")
    assert paper["models"]["whisper"] == "hub:openai/whisper-small"
    assert paper["models"]["llm"] == "hub:meta-llama/Meta-Llama-3-8B-Instruct"
    assert sorted(c["reader"] for c in paper["corpora"].values()) == sorted(
        ["accentdb", "dailytalk", "iemocap", "prompttts", "vctk", "voxceleb1"]
    )
    expected = {"epochs": 10, "global_batch": 16, "lr": 1e-4, "warmup_steps": 2000, "seed": 42, "betas": [0.9, 0.98], "weight_decay": 0.01, "grad_clip": 1.0}
    assert {key: paper["train"][key] for key in expected} == expected
    assert paper["connector"]["num_queries"] == 64
    assert paper["connector"]["tap_layers"] == [2, 5, 8, 11]


@pytest.mark.parametrize(
    "bad, expected",
    [
        ({"demo": {"test_voices": "many"}}, "config key 'demo.test_voices': 'many' is not of type 'integer'"),
        ({"trian": {}}, "unknown config key 'trian' at the top level; allowed:"),
        ({"demo": {"voices": 3}}, "unknown config key 'voices' under 'demo'; allowed: accents,"),
        ({"corpora": {"v": {"reader": "vtck"}}}, "config key 'corpora.v.reader': 'vtck' is not one of demo, vctk,"),
        ({"models": {"llm": "hub:no-slash"}}, "config key 'models.llm': 'hub:no-slash' is not a valid value (expected package:"),
        ({"demo": {"volume": {"quiet": [-10, -40], "loud": [-20, -18]}}}, "config key 'demo.volume.quiet': range [-10, -40] has low > high"),
        ({"train": {"lr": 0}}, "config key 'train.lr': 0 is less than or equal to the minimum of 0"),
    ],
)
def test_errors_are_one_line_naming_the_key(bad, expected):
    with pytest.raises(ConfigError) as caught:
        validate_config(bad)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(expected), message


def _walk(schema, path="config"):
    if schema.get("type") == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield f"{path}.{name}", sub
            yield from _walk(sub, f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _walk(extra, f"{path}.*")


def test_every_key_has_a_description():
    schema = load_schema()
    undocumented = [path for path, sub in _walk(schema) if "description" not in sub and "$ref" not in sub]
    assert not undocumented
    # an unquoted description with ", word:" in a flow mapping turns its tail into a key of its own
    stray = [f"{path}: {key!r}" for path, sub in _walk(schema) for key, value in sub.items() if value is None and key != "default"]
    assert not stray


def test_the_schemas_names_are_the_registries_names():
    """Reader and extractor names are declared in the schema (what a config may say) and bound to code in plain
    registries (what runs); the two lists must be the same, so neither can name something the other lacks."""
    from destaflow.attributes.extract import REGISTRY
    from destaflow.config import load_schema
    from destaflow.corpora.demo import CORPUS as DEMO_READER  # the demo corpus is synthesized by its own rule
    from destaflow.corpora.registry import READERS

    schema = load_schema()
    attributes = schema["properties"]["attributes"]["properties"]
    assert set(attributes["extractors"]["items"]["enum"]) == set(REGISTRY)
    assert set(attributes["per_corpus"]["additionalProperties"]["items"]["enum"]) == set(REGISTRY)
    readers = schema["properties"]["corpora"]["additionalProperties"]["properties"]["reader"]["enum"]
    assert set(readers) == set(READERS) | {DEMO_READER}


def test_training_settings_are_the_schemas_train_and_connector_sections():
    """TrainSettings declares types, the schema names and defaults: the same names in both, no default of its own
    for a `train` key, and every schema default turns into a valid settings object."""
    from dataclasses import MISSING, fields

    from destaflow.training.settings import TrainSettings, resolve_settings

    sections = load_schema()["properties"]
    train, connector = set(sections["train"]["properties"]), set(sections["connector"]["properties"])
    declared = {field.name: field for field in fields(TrainSettings)}
    finetuning_only = {"lora", "init_adapter"}
    assert train | connector <= set(declared) and set(declared) - train - finetuning_only <= connector | {"num_heads", "ffn_dim"}
    assert all(declared[name].default is MISSING for name in train)
    settings = resolve_settings({})
    assert settings.lr == sections["train"]["properties"]["lr"]["default"] and settings.lora is None


def test_stage_settings_take_their_names_and_defaults_from_the_schema():
    """Each settings class names the config sections it is made from; its fields are keys of those sections (all
    of them for a class that stands for a whole section), it declares no default of its own, and the schema's
    defaults make one."""
    from dataclasses import MISSING, fields

    import destaflow.attributes.settings  # noqa: F401  (the modules define the classes)
    import destaflow.captioning.settings  # noqa: F401
    import destaflow.evaluation.settings  # noqa: F401
    import destaflow.trainset  # noqa: F401
    from destaflow.settings import Settings, section_defaults

    def subclasses(cls):
        return [sub for direct in cls.__subclasses__() for sub in (direct, *subclasses(direct))]

    classes = subclasses(Settings)
    whole = {"CaptionSettings", "EndpointSettings", "AttributeSettings", "SnrEstimatorSettings", "JudgeSettings", "TrainsetSettings"}
    assert whole | {"BenchmarkSettings", "ChatSettings", "IfevalSettings"} <= {c.__name__ for c in classes}
    for cls in classes:
        names, keys = {f.name for f in fields(cls)}, set(section_defaults(cls.SECTIONS))
        assert names == keys if cls.__name__ in whole else names <= keys, cls.__name__
        assert all(f.default is MISSING and f.default_factory is MISSING for f in fields(cls)), cls.__name__
        assert cls.of({}) == cls.of(cls.of({}).as_dict())
    with pytest.raises(ValueError, match="unknown CaptionSettings settings: temprature"):
        destaflow.captioning.settings.CaptionSettings.of({"temprature": 0.5})


def test_relations_between_keys_are_refused_with_the_key_to_fix():
    with pytest.raises(ConfigError, match="augment.name.*also a configured corpus"):
        validate_config({"corpora": {"augmented": {"reader": "demo"}}, "augment": {"enabled": True, "name": "augmented"}})
    with pytest.raises(ConfigError, match=r"evaluation.benchmarks.dynamic_superb.path': needed"):
        validate_config({"evaluation": {"enabled": True, "benchmarks": {"dynamic_superb": {"instances": []}}}})


def test_folders_the_configuration_names_are_checked_here(tmp_path):
    from destaflow.config import missing_folders

    config = validate_config({"corpora": {"vctk": {"reader": "vctk", "root": str(tmp_path / "absent")}, "demo": {"reader": "demo"}}})
    assert missing_folders(config) == [f"corpora.vctk.root: {tmp_path / 'absent'}"]
    (tmp_path / "absent").mkdir()
    assert missing_folders(config) == []


def test_a_served_model_is_a_system_and_its_entry_is_checked():
    served = {"name": "vllm_qwen2_audio", "kind": "openai", "base_url": "http://gpu-node:8000/v1", "model": "Qwen/Qwen2-Audio-7B-Instruct"}
    config = validate_config({"evaluation": {"systems": ["desta2", served]}})
    assert config["evaluation"]["systems"][1] == served | {"api_key_env": None, "timeout_s": 600}
    for wrong in ({**served, "kind": "vllm"}, {k: v for k, v in served.items() if k != "base_url"}, {**served, "name": "desta2"}, {**served, "key": "sk-..."}, {**served, "name": "ablation_x"}):
        with pytest.raises(ConfigError):
            validate_config({"evaluation": {"systems": [wrong]}})
    with pytest.raises(ConfigError, match="is taken"):
        validate_config({"evaluation": {"systems": [served, served]}})

import json
import math

import pytest

from siamese_faces.config import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    from_dict,
    load_file,
    preset_names,
    preset_path,
)
from siamese_faces.training.api import check_config


def test_presets_load_and_match_the_reference():
    assert {"study2019", "koch2015"} <= set(preset_names())
    s = load_file(preset_path("study2019"))
    assert (s.data.size, s.model.filters, s.model.kernels, s.model.fc) == (
        125,
        (8, 16, 32, 64),
        (10, 7, 4, 4),
        2048,
    )
    assert (
        s.model.init,
        s.model.head,
        s.train.optimizer,
        s.train.lr,
        s.train.batch_size,
        s.train.patience,
    ) == ("koch", "l1_sigmoid", "adam", 1e-3, 128, 3)
    k = load_file(preset_path("koch2015"))
    assert (k.data.size, k.model.filters, k.model.fc) == (105, (64, 128, 128, 256), 4096)


def built_on_default() -> dict[str, dict]:
    """Each preset file whose base is the default, as written (not resolved): name -> TOML."""
    import tomllib

    raws = {name: tomllib.loads(preset_path(name).read_text()) for name in preset_names()}
    return {name: raw for name, raw in raws.items() if raw.get("base") == "default"}


def test_recipes_built_on_default_set_their_own_training_length():
    """The default's epochs are chosen for its 5 minutes; a recipe built on it was measured
    with its own (once, cutting the default to 36 epochs cut `unrestricted` and `omniglot`
    with it, unmeasured), and with its own epochs validated (the default's first half goes
    unvalidated, measured on the default alone)."""
    recipes = built_on_default()
    for name, raw in recipes.items():
        assert {"epochs", "patience", "validate_after"} <= set(raw.get("train", {})), name
    assert {"unrestricted", "omniglot"} <= set(recipes)


def test_recipes_built_on_default_set_their_own_histogram_families():
    """The default's second family of histograms (after Tan & Triggs) was measured on the
    default; `unrestricted` inherited it unmeasured until it said its own. A recipe built on
    the default that joins histograms names its families."""
    joined = []
    for name, raw in built_on_default().items():
        model = raw.get("model", {})
        if model.get("descriptor") != "none":
            joined.append(name)
            assert "descriptor_illumination" in model, name
    assert "unrestricted" in joined
    unrestricted = load_file(preset_path("unrestricted")).model.descriptor_illumination
    assert unrestricted == ("none", "tan-triggs")  # measured on it too (docs/accuracy.md)


def test_overrides_are_typed():
    c = apply_overrides(
        Config(),
        [
            "train.lr=3e-4",
            "train.batch_size=64",
            "model.filters=4,8",
            "model.kernels=3,3",
            "model.pool_layers=2",
            "train.bf16=false",
            "data.split=letters",
            "data.crop=0.1,0.1,0.9,0.9",
        ],
    )
    assert c.train.lr == 3e-4 and c.train.batch_size == 64 and c.model.filters == (4, 8)
    assert (
        c.train.bf16 is False and c.data.split == "letters" and c.data.crop == (0.1, 0.1, 0.9, 0.9)
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lr=-1", "positive learning rate"),
        ("train.lr=fast", "use a number"),
        ("train.batch_size=1.5", "whole number"),
        ("train.optimizer=lion", "choose one of adam, adamw, rmsprop, sgd"),
        ("train.bf16=maybe", "true or false"),
        ("train.batchsize=1", "Did you mean train.batch_size"),
        ("training.lr=1", "unknown section"),
        ("lr=1", "section.key=value"),
        ("model.kernels=3,3,3", "one positive kernel size per conv layer"),
        ("data.crop=0.5,0.5,0.2,0.9", "fractions"),
        ("data.val_fraction=1.2", "between 0 and 1"),
        ("model.descriptor_lbp_divisor=1", r"use 2..32 \(LBP cells of data.size // it pixels\)"),
        ("model.threshold_rule=median", "choose one of best-accuracy, smoothed-accuracy"),
    ],
)
def test_bad_values_fail_with_a_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        check_config(apply_overrides(Config(), [override]))  # koch checks its own kernels


def test_experiment_file_with_base_and_roundtrip(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text('base = "study2019"\n[train]\nlr = 5e-4\noptimizer = "sgd"\n')
    c = load_file(f)
    assert c.train.lr == 5e-4 and c.train.optimizer == "sgd" and c.model.fc == 2048
    assert from_dict(json.loads(c.to_json())) == c  # config.json rebuilds the same config


def test_bad_file_names_the_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[train]\nlr = 'x'\n")
    with pytest.raises(ConfigError, match="train.lr='x'"):
        load_file(f)
    f.write_text("[train\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_file(f)
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_path("nope")


@pytest.mark.parametrize("objective", ["cosface", "arcface", "adaface"])
def test_identity_objectives_need_the_unrestricted_protocol(objective):
    with pytest.raises(ConfigError, match=f"objective='{objective}'.*restricted protocol forbids"):
        apply_overrides(Config(), [f"train.objective={objective}"])
    ok = apply_overrides(Config(), [f"train.objective={objective}", "data.protocol=unrestricted"])
    assert ok.train.objective == objective


def test_subcentres_need_an_identity_objective():
    with pytest.raises(ConfigError, match="model.subcentres=3 .* only the identity objectives"):
        apply_overrides(Config(), ["model.subcentres=3"])
    ok = apply_overrides(
        Config(), ["model.subcentres=3", "data.protocol=unrestricted", "train.objective=arcface"]
    )
    assert ok.model.subcentres == 3
    with pytest.raises(ConfigError, match="model.subcentres=0: use 1..16"):
        apply_overrides(Config(), ["model.subcentres=0"])


@pytest.mark.parametrize("name", ["restricted", "unrestricted", "default"])
def test_every_recipe_loads_and_builds(name):
    from pathlib import Path

    from siamese_faces.models import model_from_config

    path = Path(__file__).resolve().parents[1] / "recipes" / f"{name}.toml"
    cfg = load_file(path)
    assert cfg.data.protocol == ("restricted" if name == "restricted" else "unrestricted")
    net = model_from_config(cfg)
    assert net.tower.embedding_dim == cfg.model.fc * cfg.model.members


def test_members_need_a_cosine_head():
    with pytest.raises(ConfigError, match="model.members=3: an ensemble averages cosines"):
        apply_overrides(Config(), ["model.members=3"])
    ok = apply_overrides(
        Config(),
        [
            "model.members=2",
            "model.head=cosine",
            "data.protocol=unrestricted",
            "train.objective=cosface",
        ],
    )
    assert ok.model.members == 2
    with pytest.raises(ConfigError, match="use 1..64"):
        apply_overrides(Config(), ["model.members=0"])


def test_batchnorm_needs_two_faces_a_batch():
    # The tower declares its BatchNorm when it registers; training checks it before any data.
    with pytest.raises(ConfigError, match="BatchNorm needs at least 2"):
        check_config(apply_overrides(Config(), ["model.name=resnet", "train.batch_size=1"]))
    with pytest.raises(ConfigError, match="BatchNorm needs at least 2"):
        check_config(apply_overrides(Config(), ["model.batchnorm=true", "train.batch_size=1"]))
    check_config(apply_overrides(Config(), ["train.batch_size=1"]))  # koch without: fine


def test_a_pair_loss_must_take_what_the_head_gives():
    check_config(apply_overrides(Config(), ["model.head=euclidean"]))  # its own: contrastive
    with pytest.raises(ConfigError, match="takes a distance, but model.head='l1_sigmoid'"):
        check_config(apply_overrides(Config(), ["model.loss=contrastive"]))
    with pytest.raises(
        ConfigError, match="registered losses are adaface, arcface, bce, contrastive, cosface"
    ):
        check_config(apply_overrides(Config(), ["model.loss=nope"]))


def test_member_views_one_box_a_member():
    base = ["model.head=cosine", "data.protocol=unrestricted", "train.objective=cosface"]
    ok = apply_overrides(Config(), [*base, "model.members=2", "model.views=0,0,1,1;0.1,0,0.9,0.7"])
    assert ok.model.views == ((0.0, 0.0, 1.0, 1.0), (0.1, 0.0, 0.9, 0.7))
    with pytest.raises(ConfigError, match="one view a member"):
        apply_overrides(Config(), [*base, "model.members=3", "model.views=0,0,1,1;0,0,1,1"])
    with pytest.raises(ConfigError, match="left,top,right,bottom"):
        apply_overrides(Config(), [*base, "model.members=2", "model.views=0,0,1,1;0.5,0,0.4,1"])
    # A TOML list typed on the command line is told the command line's form, not "a number".
    with pytest.raises(ConfigError, match=r"without brackets, e.g. 0,0,1,1;0.1,0.1,0.9,0.9"):
        apply_overrides(Config(), [*base, "model.members=2", "model.views=[[0,0,1,1],[0,0,1,.6]]"])
    with pytest.raises(ConfigError, match=r"model.filters=.*without brackets, e.g. 8,16,32\."):
        apply_overrides(Config(), ["model.filters=[8,16]"])


def test_validation_pairs_from_names_need_the_unrestricted_protocol():
    with pytest.raises(ConfigError, match="data.val_identity_pairs=100: pairs formed from names"):
        apply_overrides(Config(), ["data.val_identity_pairs=100"])
    ok = apply_overrides(Config(), ["data.val_identity_pairs=100", "data.protocol=unrestricted"])
    assert ok.data.val_identity_pairs == 100


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTING_NAMES = [
    f"{section}.{f}"
    for section, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
    for f in cls.__dataclass_fields__
]
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["true", "false", "", ",", ";", "1,2", "0,0,1,1;0,0,1,1", "1e400", "-0"]),
)


@given(
    st.lists(
        st.tuples(st.sampled_from(SETTING_NAMES + ["nope.x", "train.nope"]), VALUES), max_size=4
    )
)
def test_any_override_is_a_valid_config_or_one_config_error(overrides):
    # Generated --set values: a configuration that passes every check, or a ConfigError with
    # the setting's name, never another exception and never a non-finite number inside.
    items = [f"{k}={v}" for k, v in overrides]
    try:
        config = apply_overrides(Config(), items)
        check_config(config)
    except ConfigError as exc:
        assert "=" in str(exc) or "unknown" in str(exc) or ":" in str(exc)
        return
    values = [v for section in config.to_dict().values() for v in section.values()]
    numbers = [x for v in values for x in (v if isinstance(v, (list, tuple)) else [v])]
    flat = [y for x in numbers for y in (x if isinstance(x, (list, tuple)) else [x])]
    assert all(math.isfinite(x) for x in flat if isinstance(x, float))

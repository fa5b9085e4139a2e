"""The registry hands a builder the settings its signature names, following a class's MRO."""

from __future__ import annotations

from torch import nn

from siamese_faces.registry import Registry


class Base(nn.Module):
    def __init__(self, dim: int, margin: float = 0.4) -> None:
        super().__init__()
        self.dim, self.margin = dim, margin


class AddsState(Base):  # passes everything on: takes what Base names
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.extra = True


class Plain(nn.Module):  # nn.Module's own (*args, **kwargs): no setting
    pass


def anything(**settings):
    return settings


def test_params_follow_the_mro_to_the_first_named_signature():
    reg = Registry("toy", "model.toy")
    for name, build in [("base", Base), ("adds", AddsState), ("plain", Plain), ("any", anything)]:
        reg.register(name)(build)
    assert reg.get("base").params == {"dim", "margin"}
    assert reg.get("adds").params == {"dim", "margin"}
    assert reg.get("plain").params == set()
    assert reg.get("any").params is None
    settings = {"dim": 4, "margin": 0.2, "scale": 30.0}
    assert reg.get("adds").own(settings) == {"dim": 4, "margin": 0.2}
    assert reg.get("plain").own(settings) == {}
    assert reg.get("any").own(settings) == settings
    built = reg.get("adds").build(**reg.get("adds").own(settings))
    assert (built.dim, built.margin, built.extra) == (4, 0.2, True)

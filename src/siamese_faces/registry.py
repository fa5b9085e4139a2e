"""Named builders of one kind (towers, losses): each registers itself in its own file, and is
created by name with the settings its signature asks for, so its own defaults apply to the rest.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable
    declared: dict = field(default_factory=dict)  # what the registrant says about itself

    @property
    def params(self) -> set[str] | None:
        """The settings ``build`` takes by name; None when it takes any (``**kwargs``).

        A class whose ``__init__`` only passes ``(*args, **kwargs)`` on (a subclass adding
        state, or nn.Module's own) takes what the next ``__init__`` up its MRO names; nn.Module's
        own takes no setting."""
        inits = [c.__init__ for c in getattr(self.build, "__mro__", ()) if "__init__" in vars(c)]
        for build in inits or [self.build]:
            sig = inspect.signature(build).parameters.values()
            kinds = {p.kind for p in sig}
            if inspect.Parameter.VAR_KEYWORD not in kinds:
                return {p.name for p in sig} - {"self"}
            if inspect.Parameter.VAR_POSITIONAL not in kinds:
                return None  # named settings and **kwargs: it takes any
        return set()

    def own(self, settings: dict) -> dict:
        """The part of ``settings`` that ``build`` takes."""
        params = self.params
        return (
            dict(settings) if params is None else {k: settings[k] for k in settings if k in params}
        )


class Registry:
    """``kind`` builders, looked up by the value of the configuration ``setting``."""

    def __init__(self, kind: str, setting: str, plural: str = "") -> None:
        self.kind, self.setting, self.plural = kind, setting, plural or f"{kind}s"
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **declared) -> Callable[[Callable], Callable]:
        """Decorator: ``@REGISTRY.register("name", fact=...)`` on a builder function or class."""

        def add(build: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, build, declared)
            return build

        return add

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's own toy entry, for instance)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Entry:
        if name not in self._entries:
            raise ValueError(
                f"{self.setting}={name!r}: registered {self.plural} are {', '.join(self)}."
            )
        return self._entries[name]

    def create(self, name: str, **settings):
        """Build ``name`` from the settings it takes; the others are left to other parts."""
        entry = self.get(name)
        return entry.build(**entry.own(settings))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

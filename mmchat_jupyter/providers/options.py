"""Generation options as a small declared class: what a request may set, with its type, range and help.

Every provider has an `Options` class. The base one declares what every provider takes (model, temperature,
max_tokens, top_p); a provider adds its extras by subclassing it (the subclass becomes a frozen dataclass by itself)::

    class Options(Provider.Options):
        seed: int | None = option(int, N_("random seed, for repeatable answers"))

Values arrive as text (a `%%chat -o seed=7` line, `%chat set openai.seed=7`, a JSON body) or typed (`Chat.ask(seed=7)`);
`Options.coerce()` turns either into the declared type or raises a one-line ConfigError that names what is valid, so
every face validates the same way. `Options.params()` is the `GenerationParams` a request is built from: the extras
travel in `params.extra` under their declared names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError, UnknownOption
from ..i18n import N_, _
from ..types import GenerationParams

#: Option kinds as faces show them (the panel picks a control by kind; the API documents it).
KINDS = {str: "text", int: "integer", float: "number", bool: "boolean"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class OptionSpec:
    """One declared option, as plain data: name, kind ("text", "integer", "number", "boolean", "choice"), help
    (translated), and its range (`low`/`high`, either end open when `open_low`/`open_high`) or its `choices`."""

    name: str
    kind: str
    help: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def accepts(self) -> str:
        """What the option accepts, in words: "one of a, b", "a number from 0 to 2", "a whole number above 0"..."""
        return describe(self)


def option(
    kind: type,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    choices: Sequence[str] = (),
) -> Any:
    """Declare an option field (default None: "the server's default"). `help` is wrapped in N_() by the caller."""
    spec = {"kind": kind, "help": help, "low": low, "high": high, "open_low": open_low, "open_high": open_high,
            "choices": tuple(choices)}
    return field(default=None, metadata={"option": spec})


@dataclass(frozen=True)
class Options:
    """The options every provider takes. None everywhere means "the provider's own default"."""

    #: Options that go to `GenerationParams` fields; every other declared option is an extra.
    COMMON: ClassVar[tuple[str, ...]] = ("model", "temperature", "max_tokens", "top_p")

    model: str | None = option(str, N_("model name (%chat models lists them)"))
    temperature: float | None = option(float, N_("sampling temperature: higher is more varied"), low=0, high=2)
    max_tokens: int | None = option(int, N_("answer length limit in tokens"), low=0, open_low=True)
    top_p: float | None = option(float, N_("nucleus sampling: the share of probability mass to sample from"),
                                 low=0, high=1, open_low=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A provider's subclass only declares fields; it becomes a frozen dataclass like this one.
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)

    @classmethod
    def specs(cls) -> list[OptionSpec]:
        """Every declared option, common ones first."""
        return [_spec(item) for item in dataclasses.fields(cls) if "option" in item.metadata]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(item.name for item in dataclasses.fields(cls) if "option" in item.metadata)

    @classmethod
    def extras(cls) -> tuple[str, ...]:
        """The provider's own options (beyond the common ones)."""
        return tuple(name for name in cls.names() if name not in cls.COMMON)

    @classmethod
    def coerce(cls, name: str, value: Any, *, provider: str = "") -> Any:
        """`value` (text or typed) as option `name` declares it; None and "" stay None. ConfigError when invalid,
        UnknownOption when `name` is not declared."""
        fields = {item.name: item for item in dataclasses.fields(cls) if "option" in item.metadata}
        if name not in fields:
            raise unknown_option(name, cls.names(), provider)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        spec = _spec(fields[name])
        try:
            result = _typed(fields[name].metadata["option"]["kind"], value)
        except (TypeError, ValueError):
            result = None
        if result is None or not _fits(spec, result):
            raise ConfigError(_("{name} must be {what}, not {value!r}.").format(
                name=name, what=spec.accepts(), value=value))
        return result

    @classmethod
    def build(cls, values: Mapping[str, Any], *, provider: str = "") -> Options:
        """Options from a mapping of names to values (text or typed), every value checked."""
        return cls(**{name: cls.coerce(name, value, provider=provider) for name, value in values.items()})

    def params(self) -> GenerationParams:
        """What a request is built from: the common options as fields, the extras (when set) in `extra`."""
        extra = {name: getattr(self, name) for name in self.extras() if getattr(self, name) is not None}
        return GenerationParams(self.model, self.temperature, self.max_tokens, self.top_p, extra)


def unknown_option(name: str, valid: Sequence[str], provider: str = "") -> UnknownOption:
    if provider:
        text = _("Unknown option {name!r} for {provider}: use one of {choices}.")
    else:
        text = _("Unknown option {name!r}: use one of {choices}.")
    return UnknownOption(text.format(name=name, provider=provider, choices=", ".join(valid)))


def describe(spec: OptionSpec) -> str:
    """What an option accepts, in words (see `OptionSpec.accepts`)."""
    if spec.choices:
        return _("one of {choices}").format(choices=", ".join(spec.choices))
    if spec.kind == "boolean":
        return _("true or false")
    if spec.kind == "text":
        return _("text")
    noun = _("a whole number") if spec.kind == "integer" else _("a number")
    low, high = spec.low, spec.high
    if low is not None and high is not None:
        if spec.open_low:
            return _("{noun} above {low:g}, up to {high:g}").format(noun=noun, low=low, high=high)
        return _("{noun} from {low:g} to {high:g}").format(noun=noun, low=low, high=high)
    if low is not None:
        text = _("{noun} above {low:g}") if spec.open_low else _("{noun} of at least {low:g}")
        return text.format(noun=noun, low=low)
    if high is not None:
        return _("{noun} up to {high:g}").format(noun=noun, high=high)
    return noun


def _spec(item: dataclasses.Field[Any]) -> OptionSpec:
    declared = item.metadata["option"]
    kind = "choice" if declared["choices"] else KINDS.get(declared["kind"], "text")
    return OptionSpec(item.name, kind, _(declared["help"]), declared["low"], declared["high"], declared["open_low"],
                      declared["open_high"], declared["choices"])


def _typed(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            return None
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if kind is float:
        if isinstance(value, bool):
            return None
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
        return number if math.isfinite(number) else None
    return str(value)


def _fits(spec: OptionSpec, value: Any) -> bool:
    if spec.choices:
        return value in spec.choices
    if spec.kind in ("integer", "number"):
        low, high = spec.low, spec.high
        if low is not None and (value <= low if spec.open_low else value < low):
            return False
        if high is not None and (value >= high if spec.open_high else value > high):
            return False
    return True


__all__ = ["OptionSpec", "Options", "describe", "option", "unknown_option"]

"""Model plugins: Keras models that consume augkit streams, found through entry points.

A plugin is a :class:`Plugin` object that an installed distribution declares in the entry-point
group ``augkit.models``; the entry point's name is the model's name and its value points at the
object itself (not at a factory)::

    [project.entry-points."augkit.models"]
    mynet = "mypackage.models:PLUGIN"

augkit's own plugins (``bncnn``, ``transfer``, in the top-level ``plugins/`` folder of the
source tree) are registered exactly like that. Discovery is lazy: nothing is looked up at
``import augkit``; the first call to :func:`plugins`, :func:`available` or :func:`get` reads the
entry points and imports the plugin modules (which must not import TensorFlow at module level:
``augkit models`` lists plugins without it; ``build`` imports Keras). A plugin that fails to
import is kept as a :class:`BrokenPlugin` with its error: it never hides the others.

Example:
    >>> import augkit.models as M
    >>> "bncnn" in M.available()  # doctest: +SKIP
    True
    >>> model = M.get("bncnn").build(10, (32, 32, 3))  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

from augkit.errors import InputError, SpecError
from augkit.params import closest, short_repr

__all__ = ["GROUP", "BrokenPlugin", "InputSpec", "Plugin", "PluginError", "available",
           "check_input_range", "clear_cache", "get", "plugins"]

#: The entry-point group plugins are declared in.
GROUP = "augkit.models"

#: Relative tolerance of :func:`check_input_range` (a fraction of the expected range's width).
RANGE_TOLERANCE = 1e-3

# Arguments that build/train get from augkit itself, not from the user's model options.
_BUILD_FIXED = ("num_classes", "input_shape")
_TRAIN_FIXED = ("model", "train_ds", "val_ds", "epochs", "callbacks")


class PluginError(InputError):
    """A model plugin is unknown, failed to load, or was declared wrongly."""


@dataclass(frozen=True)
class InputSpec:
    """What a built model expects as input.

    Attributes:
        image_size: default ``(height, width)`` if the model needs a fixed size, else ``None``.
        channels: number of channels, or ``None`` for any.
        value_range: range of the float pixels the built model takes, e.g. ``(0, 1)``, or
            ``(0, 255)`` when the model applies a backbone's own preprocessing itself.
        note: one line about preprocessing done inside the model (may be empty).
    """

    image_size: tuple[int, int] | None
    channels: int | None
    value_range: tuple[float, float]
    note: str = ""

    def describe(self) -> str:
        """One line, e.g. ``"32x32x3 float in [0, 1]"``, then the note after a comma."""
        size = "HxW" if self.image_size is None else f"{self.image_size[0]}x{self.image_size[1]}"
        chans = "C" if self.channels is None else str(self.channels)
        lo, hi = self.value_range
        text = f"{size}x{chans} float in [{lo:g}, {hi:g}]"
        return f"{text}, {self.note}" if self.note else text


@dataclass(frozen=True)
class Plugin:
    """A model plugin: how to build a Keras model and what input it expects.

    Attributes:
        name: the model's name (must equal its entry point's name).
        description: one line.
        input: the input the model built with default options expects.
        build: ``build(num_classes, input_shape=None, **options) -> keras.Model``. The model
            ends in a softmax over ``num_classes``.
        train: optional custom training,
            ``train(model, train_ds, val_ds, *, epochs, callbacks=(), **options)`` returning
            the per-epoch metrics (Keras' ``history.history``). ``None``: ``augkit train``
            compiles the model (Adam, cross-entropy, accuracy) and calls ``fit``.
        input_for: optional ``input_for(**options) -> InputSpec`` for models whose input
            depends on their build options; see :meth:`input_spec`.
    """

    name: str
    description: str
    input: InputSpec
    build: Callable[..., Any]
    train: Callable[..., Any] | None = None
    input_for: Callable[..., InputSpec] | None = field(default=None, repr=False)

    def input_spec(self, **options: Any) -> InputSpec:
        """The input a model built with these options (``input_shape`` included) expects."""
        if self.input_for is not None:
            return self.input_for(**options)
        spec = self.input
        shape = options.get("input_shape")
        if shape is not None:
            spec = replace(spec, image_size=(int(shape[0]), int(shape[1])),
                           channels=int(shape[2]) if len(shape) > 2 else spec.channels)
        return spec

    def split_options(self, options: Mapping[str, Any]) -> tuple[dict, dict]:
        """Sort user options into ``(build options, train options)`` by the functions' names.

        An option both functions take goes to both. Without a ``train`` hook every option must
        be a build option.

        Raises:
            SpecError: an option neither function takes, with the allowed names and the
                closest one.
        """
        build_names, build_any = _keywords(self.build, _BUILD_FIXED)
        train_names, train_any = (_keywords(self.train, _TRAIN_FIXED) if self.train
                                  else (set(), False))
        build_opts: dict[str, Any] = {}
        train_opts: dict[str, Any] = {}
        allowed = sorted(build_names | train_names)
        for key, value in options.items():
            taken = False
            if key in build_names or build_any:
                build_opts[key] = value
                taken = True
            if key in train_names or train_any:
                train_opts[key] = value
                taken = True
            if not taken:
                raise SpecError(f"model {self.name!r}: unknown option {key!r}; allowed: "
                                f"{', '.join(allowed) or 'none'}{closest(key, allowed)}")
        return build_opts, train_opts


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that could not be loaded, kept so it can be reported.

    Attributes:
        name: the entry point's name.
        error: one line, ``"<ExceptionType>: <message>"``.
        entry_point: the entry point's value, ``"module:attribute"``.
        distribution: the name of the distribution that declared it (or ``""``).
        exception: the original exception (``None`` for a declaration problem).
    """

    name: str
    error: str
    entry_point: str = ""
    distribution: str = ""
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def where(self) -> str:
        """``"entry point 'mod:attr' of distribution 'dist'"`` for messages."""
        text = f"entry point {self.entry_point!r}"
        return f"{text} of distribution {self.distribution!r}" if self.distribution else text


_cache: dict[str, Plugin | BrokenPlugin] = {}
_declared: dict[str, list[Any]] | None = None


def clear_cache() -> None:
    """Forget discovered plugins (after installing a package at run time, or in tests)."""
    global _declared
    _cache.clear()
    _declared = None


def _entry_points() -> dict[str, list[Any]]:
    """Entry points of the group by name (reading metadata only; nothing imported)."""
    global _declared
    if _declared is None:
        found: dict[str, list[Any]] = {}
        for ep in metadata.entry_points(group=GROUP):
            same = [e for e in found.get(ep.name, []) if e.value == ep.value]
            if not same:  # one package seen twice on sys.path declares the same thing
                found.setdefault(ep.name, []).append(ep)
        _declared = found
    return _declared


def _dist_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    try:
        return str(dist.name) if dist is not None else ""
    except Exception:  # noqa: BLE001 - metadata of a broken install
        return ""


def _load(name: str, eps: list[Any]) -> Plugin | BrokenPlugin:
    ep = eps[0]
    broken = {"name": name, "entry_point": ep.value, "distribution": _dist_name(ep)}
    if len(eps) > 1:
        who = "; ".join(f"{e.value!r} ({_dist_name(e) or 'unknown distribution'})"
                        for e in eps)
        return BrokenPlugin(error=f"declared more than once: {who}; uninstall one", **broken)
    try:
        obj = ep.load()
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported
        return BrokenPlugin(error=_one_line(exc), exception=exc, **broken)
    if not isinstance(obj, Plugin):
        return BrokenPlugin(error=f"the entry point gives {short_repr(obj)}, not an "
                                  f"augkit.models.Plugin object", **broken)
    if obj.name != name:
        return BrokenPlugin(error=f"the entry point is named {name!r} but its Plugin is named "
                                  f"{obj.name!r}; the two must match", **broken)
    return obj


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _plugin(name: str) -> Plugin | BrokenPlugin | None:
    if name not in _cache:
        eps = _entry_points().get(name)
        if eps is None:
            return None
        _cache[name] = _load(name, eps)
    return _cache[name]


def plugins() -> dict[str, Plugin | BrokenPlugin]:
    """Every declared plugin by name, sorted, broken ones as :class:`BrokenPlugin`."""
    return {name: _plugin(name) for name in sorted(_entry_points())}  # type: ignore[misc]


def available() -> list[str]:
    """Sorted names of the plugins that load."""
    return [name for name, p in plugins().items() if isinstance(p, Plugin)]


def get(name: str) -> Plugin:
    """The plugin called ``name``.

    Raises:
        PluginError: no such plugin (the message lists the installed ones and the closest
            name), or it failed to load (the message holds the original error, which is also
            the ``__cause__``).
    """
    found = _plugin(name) if isinstance(name, str) else None
    if isinstance(found, Plugin):
        return found
    if isinstance(found, BrokenPlugin):
        raise PluginError(f"model {name!r} ({found.where()}) failed to load: "
                          f"{found.error}") from found.exception
    names = sorted(_entry_points())
    installed = ", ".join(repr(n) for n in names) if names else "none"
    raise PluginError(f"model: got {short_repr(name)}; installed: {installed}"
                      f"{closest(str(name), names)}")


def _keywords(fn: Callable[..., Any], fixed: Sequence[str]) -> tuple[set[str], bool]:
    """Option names ``fn`` takes besides the ``fixed`` ones, and whether it takes ``**kw``."""
    names, var_kw = set(), False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in fixed:
            names.add(p.name)
    return names, var_kw


def _as_range(value: Any, what: str) -> tuple[float, float]:
    if isinstance(value, Plugin):
        value = value.input
    if isinstance(value, InputSpec):
        value = value.value_range
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: got {short_repr(value)}; allowed: a pair (low, high), an "
                         f"InputSpec or a Plugin") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"{what}: got {short_repr(value)}; allowed: finite low < high")
    return lo, hi


def check_input_range(expected: Plugin | InputSpec | Sequence[float],
                      stream_range: Sequence[float]) -> None:
    """Fail unless the stream's pixel range is the one the model expects.

    Args:
        expected: the model's range, an :class:`InputSpec` or a :class:`Plugin` (its default
            input; use ``plugin.input_spec(**options)`` for a model built with options).
        stream_range: the range of the float pixels the stream yields (uint8: ``(0, 255)``).

    Raises:
        InputError: the ranges differ by more than :data:`RANGE_TOLERANCE` of the expected
            range's width; the message names both and the ``rescale`` step that maps one onto
            the other.
    """
    lo, hi = _as_range(expected, "expected range")
    slo, shi = _as_range(stream_range, "stream range")
    tol = RANGE_TOLERANCE * (hi - lo)
    if abs(slo - lo) <= tol and abs(shi - hi) <= tol:
        return
    scale = (hi - lo) / (shi - slo)
    offset = lo - slo * scale
    raise InputError(f"value range: the stream yields pixels in [{slo:g}, {shi:g}] but the model "
                     f"expects [{lo:g}, {hi:g}]; end the pipeline with "
                     f"rescale(scale={scale:.8g}, offset={offset:.8g}) or build the model for "
                     f"that range")

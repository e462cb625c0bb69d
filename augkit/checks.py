"""augkit's invariants, runnable on any pipeline: ``augkit.check(pipeline)`` / ``augkit check``.

Each invariant is a plain function that raises :class:`InvariantError` on a violation. The
test suite drives the same functions with hypothesis over every op and both backends; this
module drives them over a few hundred generated cases so a user can prove them for their own
pipeline in seconds. Test data here comes from numpy's seeded generator: it is *test input*,
not augmentation randomness, which stays in :mod:`augkit.rng`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augkit.checks_mixing import labels_for, mixed_labels_problem, mixes, per_sample_part
from augkit.errors import InputError
from augkit.pipeline import Pipeline

#: cv vs tf: largest allowed difference, in uint8 levels (float: the same fraction of the span).
AGREEMENT_LEVELS = 1.0


class InvariantError(AssertionError):
    """An invariant does not hold; the message says which, where and by how much."""


@dataclass(frozen=True)
class Case:
    """One generated input: a batch with labels, seed and sample indices."""

    images: np.ndarray
    labels: np.ndarray
    seed: int
    index: np.ndarray

    def describe(self) -> str:
        n, h, w, c = self.images.shape
        return f"{n}x{h}x{w}x{c} {self.images.dtype}, seed={self.seed}"


def _apply(pipeline: Pipeline, case: Case, backend: str, **kw: Any) -> tuple[np.ndarray, Any]:
    kwargs = {"seed": case.seed, "index": case.index, **kw}
    labels = labels_for(pipeline, case.labels)
    out, labels = pipeline.apply(case.images, labels, backend=backend, **kwargs)
    return np.asarray(out), labels


def _is_random(pipeline: Pipeline) -> bool:
    return any(
        0.0 < op.p < 1.0 or any(lo != hi for lo, hi in op.ranges().values())
        or op.name in ("albumentations", "randaugment", "trivialaugment", "mixup", "cutmix")
        for op in pipeline.ops
    )


def expected_shape(pipeline: Pipeline, shape: tuple) -> tuple:
    """Output shape for an input shape: geometric ops may resize, nothing else does."""
    n, h, w, c = shape
    for op in pipeline.ops:
        if op.geometric:
            h, w = op.output_size(h, w)
    return (n, h, w, c)


# -- the invariants ---------------------------------------------------------------------------
def labels_aligned(pipeline: Pipeline, case: Case, backend: str) -> None:
    """Labels come back unchanged and in the same order as their images (or validly mixed)."""
    if mixes(pipeline):  # mixed, as mixing promises (checks_mixing.py)
        _, labels = _apply(pipeline, case, backend)
        problem = mixed_labels_problem(pipeline, labels_for(pipeline, case.labels), labels)
        if problem:
            raise InvariantError(problem)
        return
    _, labels = _apply(pipeline, case, backend)
    if labels is not case.labels and not np.array_equal(np.asarray(labels), case.labels):
        raise InvariantError("labels changed or reordered")


def dtype_range_shape(pipeline: Pipeline, case: Case, backend: str) -> None:
    """Dtype as documented, values finite and inside the output range, shape as declared."""
    out, _ = _apply(pipeline, case, backend)
    dtype = pipeline.output_dtype(case.images.dtype.name)
    if out.dtype.name != dtype:
        raise InvariantError(f"dtype {out.dtype.name}, expected {dtype}")
    shape = expected_shape(pipeline, case.images.shape)
    if out.shape != shape:
        raise InvariantError(f"shape {out.shape}, expected {shape}")
    if not np.isfinite(out).all():
        raise InvariantError("output contains NaN or inf")
    lo, hi = pipeline.output_range(case.images.dtype.name)
    slack = 1e-5 * max(1.0, hi - lo)
    mn, mx = float(out.min()), float(out.max())
    if mn < lo - slack or mx > hi + slack:
        raise InvariantError(f"values span [{mn:g}, {mx:g}], outside [{lo:g}, {hi:g}]")


def input_not_mutated(pipeline: Pipeline, case: Case, backend: str) -> None:
    """The caller's array is left as it was."""
    before = case.images.copy()
    _apply(pipeline, case, backend)
    if not np.array_equal(before, case.images):
        raise InvariantError("the input array was modified")


def deterministic(pipeline: Pipeline, case: Case, backend: str) -> None:
    """Same seed, index and epoch ⇒ identical output."""
    a, _ = _apply(pipeline, case, backend)
    b, _ = _apply(pipeline, case, backend)
    if not np.array_equal(a, b):
        raise InvariantError("two calls with the same seed differ")


def _tolerance(pipeline: Pipeline, case: Case, out: np.ndarray) -> float:
    lo, hi = pipeline.output_range(case.images.dtype.name)
    return AGREEMENT_LEVELS * (1.0 if out.dtype == np.uint8 else (hi - lo) / 255.0) + 1e-5


def batch_independent(pipeline: Pipeline, case: Case, backend: str) -> None:
    """Each sample's output depends on its own index only, not on the batch around it.

    Bit-exact on cv. On tf, within :data:`AGREEMENT_LEVELS`: TensorFlow's graph optimizer
    specializes a graph to the batch shape and may fold float arithmetic differently, which
    can move a coordinate by an ulp and a pixel by one level. Mixing ops depend on the batch by
    design (docs/mixing-and-policies.md): for a pipeline with them, the ops before the first
    one are checked.
    """
    if mixes(pipeline):
        pipeline = per_sample_part(pipeline)
    whole, _ = _apply(pipeline, case, backend)
    tol = 0.0 if backend == "cv" else _tolerance(pipeline, case, whole)
    for i in range(case.images.shape[0]):
        one, _ = pipeline.apply(case.images[i:i + 1], None, seed=case.seed, backend=backend,
                                index=case.index[i:i + 1])
        diff = np.abs(np.asarray(one)[0].astype(np.float64) - whole[i]).max()
        if diff > tol:
            raise InvariantError(f"sample {i} differs by {diff:g} (> {tol:g}) when applied "
                                 f"alone")


def p_zero_identity(pipeline: Pipeline, case: Case, backend: str) -> None:
    """With every op's probability at 0 the pipeline returns its input unchanged."""
    ops = [type(op)(**{**op.values, "p": 0.0}) for op in pipeline.ops
           if op.output_dtype("uint8") == "uint8"]  # range-changing ops must have p=1
    if len(ops) != len(pipeline.ops) or any(getattr(op, "resizes", False) for op in ops):
        return  # range-changing ops must have p=1; a skipped resizing crop still resizes
    settings = {k: getattr(pipeline, k) for k in ("fill_mode", "cval", "interpolation",
                                                  "value_range")}
    out, _ = _apply(Pipeline(ops, **settings), case, backend)
    if out.shape != case.images.shape or not np.array_equal(out, case.images):
        raise InvariantError("p=0 changed the images")


def serialization(pipeline: Pipeline, case: Case, backend: str) -> None:
    """Save → load (YAML and JSON text) gives the same output."""
    from augkit import spec

    a, _ = _apply(pipeline, case, backend)
    for suffix in (".yaml", ".json"):
        again = Pipeline.from_dict(spec.loads(spec.dumps(pipeline, suffix), suffix))
        b, _ = _apply(again, case, backend)
        if not np.array_equal(a, b):
            raise InvariantError(f"output changed after a {suffix} round trip")


def backends_agree(pipeline: Pipeline, case: Case, backend: str = "tf") -> None:
    """cv and tf give the same output up to :data:`AGREEMENT_LEVELS` uint8 levels."""
    a, _ = _apply(pipeline, case, "cv")
    b, _ = _apply(pipeline, case, "tf")
    if a.shape != b.shape or a.dtype != b.dtype:
        raise InvariantError(f"cv gives {a.shape} {a.dtype}, tf {b.shape} {b.dtype}")
    tol = _tolerance(pipeline, case, a)
    diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())
    if diff > tol:
        raise InvariantError(f"max |cv - tf| = {diff:g} > {tol:g}")


def draws_vary(pipeline: Pipeline, case: Case, backend: str) -> bool:
    """Whether another seed, and other indices, change the output (aggregated by the caller)."""
    a, _ = _apply(pipeline, case, backend)
    b, _ = _apply(pipeline, case, backend, seed=case.seed + 1)
    if mixes(pipeline):  # identical samples mix into themselves: vary the epoch instead
        c, _ = _apply(pipeline, case, backend, epoch=1)
        return not np.array_equal(a, b) and not np.array_equal(a, c)
    same = np.repeat(case.images[:1], 4, axis=0)
    c, _ = pipeline.apply(same, None, seed=case.seed, backend=backend, index=np.arange(4) + 1)
    c = np.asarray(c)
    return not np.array_equal(a, b) and any(not np.array_equal(c[0], c[i]) for i in range(4))


def tf_data_varies(pipeline: Pipeline, image: np.ndarray, seed: int = 0) -> None:
    """Inside ``tf.data.Dataset.map`` (graph mode), identical elements come out different."""
    import tensorflow as tf

    if mixes(pipeline):  # batches of two different images and their one-hot labels
        labels = labels_for(pipeline, np.arange(2))
        image = np.stack([image, image[::-1, ::-1]])

        def augment(i: Any, x: Any) -> Any:
            index = 2 * i + tf.range(2, dtype=tf.int64)
            return pipeline.apply(x, labels, seed=seed, backend="tf", index=index)[0]
    else:
        def augment(i: Any, x: Any) -> Any:
            return pipeline(image=x, index=i, seed=seed, backend="tf")["image"]

    ds = tf.data.Dataset.from_tensors(image).repeat(6).enumerate().map(augment)
    outs = [o.numpy() for o in ds]
    if all(np.array_equal(outs[0], o) for o in outs[1:]):
        raise InvariantError("every element came out identical inside tf.data.Dataset.map")


PER_CASE: dict[str, Callable[[Pipeline, Case, str], None]] = {
    "labels aligned": labels_aligned,
    "dtype, range, shape": dtype_range_shape,
    "input not mutated": input_not_mutated,
    "same seed, same output": deterministic,
    "batch independent": batch_independent,
    "p=0 is identity": p_zero_identity,
    "save/load round trip": serialization,
}


# -- the runner -------------------------------------------------------------------------------
@dataclass
class Result:
    """One invariant on one backend: how many cases ran and the first failure."""

    invariant: str
    backend: str
    cases: int = 0
    failures: int = 0
    example: str = ""

    def record(self, error: str | None, case: Case | None) -> None:
        self.cases += 1
        if error is not None:
            self.failures += 1
            if not self.example:
                self.example = f"{error} [{case.describe()}]" if case else error


@dataclass
class CheckReport:
    """The outcome of :func:`check`: one :class:`Result` per invariant and backend."""

    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no invariant failed."""
        return all(r.failures == 0 for r in self.results)

    def table(self) -> str:
        """A plain-text pass/fail table."""
        width = max([len(r.invariant) for r in self.results] + [9])
        lines = [f"{'invariant':<{width}}  backend  cases  result"]
        for r in self.results:
            status = "pass" if r.failures == 0 else f"FAIL ({r.failures}): {r.example}"
            lines.append(f"{r.invariant:<{width}}  {r.backend:<7}  {r.cases:>5}  {status}")
        verdict = "all invariants hold" if self.ok else "some invariants FAILED"
        lines.append(f"{verdict} ({self.seconds:.1f} s)")
        return "\n".join(lines)

    __str__ = table


def _channels(pipeline: Pipeline) -> list[int]:
    ok = []
    for c in (1, 3, 4):
        try:
            for op in pipeline.ops:
                op.check_input((1, 64, 64, c), "check")
            ok.append(c)
        except InputError:
            continue
    return ok


def _min_side(pipeline: Pipeline) -> int:
    side = 8
    while side < 256:
        try:
            for op in pipeline.ops:
                op.check_input((1, side, side, 3), "check")
            return side
        except InputError:
            side *= 2
    return side


def generate_cases(pipeline: Pipeline, count: int, seed: int = 0,
                   max_side: int = 40) -> list[Case]:
    """Generated batches covering dtypes, channel counts, sizes, seeds and indices."""
    gen = np.random.default_rng(seed)
    channels = _channels(pipeline) or [3]
    lo_side = _min_side(pipeline)
    max_side = max(max_side, lo_side + 8)
    lo, hi = pipeline.value_range
    cases = []
    for k in range(count):
        n = int(gen.integers(1, 4))
        h, w = (int(v) for v in gen.integers(lo_side, max_side + 1, size=2))
        c = channels[k % len(channels)]
        unit = gen.random((n, h, w, c))
        if k % 3 == 1:  # smooth content: gradients expose interpolation errors
            ramp = np.linspace(0, 1, w)[None, None, :, None]
            unit = 0.5 * unit + 0.5 * np.broadcast_to(ramp, unit.shape)
        if k % 2 == 0:
            images = np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)
        else:
            images = (lo + unit * (hi - lo)).astype(np.float32)
            images = np.clip(images, np.float32(lo), np.float32(hi))
        index = gen.integers(0, 2**40, size=n)
        cases.append(Case(images, np.arange(n) * 7 + 3, int(gen.integers(0, 2**31)), index))
    return cases


def check(pipeline: Pipeline, *, backends: tuple[str, ...] | None = None, cases: int = 200,
          seed: int = 0) -> CheckReport:
    """Run augkit's invariants on ``pipeline`` and report which hold.

    Args:
        pipeline: the pipeline to check.
        backends: backends to check; default: ``("cv", "tf")``, or ``("cv",)`` when an op
            runs on cv only.
        cases: generated cases on cv; tf runs a quarter of them (its eager calls are slower).
        seed: seed of the generated test inputs.

    Returns:
        A :class:`CheckReport`; ``report.ok`` is False when any invariant failed.

    Example:
        >>> import augkit
        >>> report = augkit.check(augkit.Pipeline.default(), backends=("cv",), cases=20)
        >>> report.ok
        True
    """
    start = time.perf_counter()
    if backends is None:
        backends = ("cv", "tf") if all("tf" in op.backends for op in pipeline.ops) else ("cv",)
    all_cases = generate_cases(pipeline, cases, seed)
    report = CheckReport()
    random = _is_random(pipeline)
    for backend in backends:
        chosen = all_cases if backend == "cv" else all_cases[: max(4, cases // 4)]
        results = {name: Result(name, backend) for name in PER_CASE}
        vary = Result("seeds and indices vary", backend)
        varied = 0
        for case in chosen:
            for name, fn in PER_CASE.items():
                results[name].record(_run(fn, pipeline, case, backend), case)
            if random:
                try:
                    varied += draws_vary(pipeline, case, backend)
                except Exception as exc:  # reported, never fatal for the whole check
                    vary.record(_describe(exc), case)
        report.results.extend(results.values())
        if random:
            vary.cases = len(chosen)
            if varied == 0 and not vary.failures:
                vary.failures, vary.example = 1, "no case changed with the seed or the index"
            report.results.append(vary)
        if backend == "tf":
            agree = Result("cv and tf agree", "both")
            for case in chosen:
                agree.record(_run(backends_agree, pipeline, case, "tf"), case)
            report.results.append(agree)
            if random:
                tfdata = Result("varies inside tf.data.map", "tf")
                tfdata.record(_run(lambda p, c, b: tf_data_varies(p, c.images[0]), pipeline,
                                   chosen[0], "tf"), chosen[0])
                report.results.append(tfdata)
    from augkit.checks_targets import target_results  # masks, boxes, keypoints

    report.results.extend(target_results(pipeline, backends, cases, seed))
    report.seconds = time.perf_counter() - start
    return report


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _run(fn: Callable, pipeline: Pipeline, case: Case, backend: str) -> str | None:
    try:
        fn(pipeline, case, backend)
    except InvariantError as exc:
        return str(exc)
    except Exception as exc:  # an op crashing is a failed invariant, not a crashed check
        return _describe(exc)
    return None

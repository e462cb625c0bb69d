"""The ``augkit`` command line: one click group, one module, one ``main()``.

Heavy modules (numpy kernels, OpenCV, TensorFlow) are imported inside the command functions, so
``augkit --help`` answers instantly and ``augkit preview`` on the default ``cv`` backend never
imports TensorFlow.

Bad input (a missing or corrupt image, an invalid pipeline file, an unwritable output path) is
reported as one line on stderr, ``augkit: error: <message>``, with exit status 2 and no
traceback. A failed ``augkit check`` exits with status 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from augkit.errors import InputError, SpecError

__all__ = ["cli", "main"]

#: Exit status for bad input (same as click's usage errors).
EXIT_BAD_INPUT = 2
#: Exit status of ``augkit check`` when an invariant fails.
EXIT_CHECK_FAILED = 1


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("augkit")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        import augkit

        return str(getattr(augkit, "__version__", "unknown"))


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"augkit {_version()}")
        ctx.exit()


def _message(exc: BaseException) -> str:
    """One line for an error: OSErrors as ``<file>: <reason>``, newlines folded."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [n for n in (exc.filename, exc.filename2) if n is not None]
        text = f"{' -> '.join(str(n) for n in names)}: {exc.strerror}" if names else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [SpecError, InputError, OSError]
    yaml = sys.modules.get("yaml")  # only if a command already imported it
    if yaml is not None:
        errors.append(yaml.YAMLError)
    return tuple(errors)


class _Group(click.Group):
    """A click group that turns bad-input exceptions into one clean line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _bad_input_errors() as exc:
            click.echo(f"augkit: error: {_message(exc)}", err=True)
            ctx.exit(EXIT_BAD_INPUT)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the augkit version and exit.",
)
def cli() -> None:
    """augkit: correct, fast, reproducible image augmentation for TensorFlow/Keras.

    \b
    Examples:
      augkit preview                         # default pipeline on a bundled sample image
      augkit preview cat.jpg -p aug.yaml     # your images, your pipeline
      augkit preview -p aug.yaml --sheet     # each op at the ends and middle of its ranges
      augkit check aug.yaml                  # run the invariants on a pipeline
      augkit expand data/ out/ -p aug.yaml -k 5   # write 5 augmented copies per image
      augkit models                          # installed model plugins
      augkit train -m bncnn -d digits -p aug.yaml -e 10 -o run/   # train, write curves
    """


def _check_seed(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not 0 <= value < 2**63:
        raise click.BadParameter(f"{value} is not a non-negative integer below 2**63")
    return value


def _load_pipeline(path: str | None) -> tuple[Any, str]:
    """The pipeline in ``path`` (or the default one) and a short name for messages."""
    import augkit

    if path is None:
        return augkit.Pipeline.default(), "default"
    return augkit.load(path), path


@cli.command()
@click.argument("images", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--pipeline",
    "-p",
    "pipeline_path",
    type=click.Path(path_type=str),
    help="Pipeline spec (YAML or JSON). Default: augkit.Pipeline.default().",
)
@click.option(
    "--n",
    "-n",
    "n",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Variants per image (sample indices 0..n-1).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    callback=_check_seed,
    help="Pipeline seed, a non-negative integer.",
)
@click.option(
    "--backend",
    type=click.Choice(["cv", "tf"]),
    default="cv",
    show_default=True,
    help="cv: numpy + OpenCV on the CPU; tf: TensorFlow ops.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=str),
    default="preview.png",
    show_default=True,
    help="Output PNG (written atomically).",
)
@click.option(
    "--sheet",
    is_flag=True,
    help="One row per op, that op alone at the low end, middle and high end of its ranges.",
)
@click.option(
    "--tile-size",
    type=click.IntRange(16, 4096),
    default=256,
    show_default=True,
    help="Display size of each tile's long side in pixels (augmentation runs at full size).",
)
@click.option(
    "--annotations",
    metavar="FILE|sample",
    help="Draw masks, boxes and keypoints from FILE (JSON or YAML keyed by image file name, "
         "see docs/preview.md); 'sample': the bundled sample image's.",
)
def preview(
    images: Sequence[str],
    pipeline_path: str | None,
    n: int,
    seed: int,
    backend: str,
    out: str,
    sheet: bool,
    tile_size: int,
    annotations: str | None,
) -> None:
    """Write a PNG grid of IMAGES and augmented variants of them.

    The first tile of each row is the original; then come N variants, labelled
    "seed S #J": variant J is exactly what sample index J gets from the pipeline with
    seed S in epoch 0. Several images give one row each. Without IMAGES, a bundled
    sample image is used. With --annotations, each tile shows its targets, moved by the
    same pipeline call as its pixels.
    """
    from augkit.io import sample_path
    from augkit.preview import describe_pipeline, write_preview

    pipeline, name = _load_pipeline(pipeline_path)
    sources = list(images) or [sample_path()]
    picture = write_preview(
        out, sources, pipeline, sheet=sheet, n=n, seed=seed, backend=backend,
        tile_size=tile_size, annotations=annotations,
    )
    height, width = picture.shape[:2]
    if sheet:
        what = f"sheet of {len(pipeline.ops)} ops at low/middle/high"
    else:
        what = f"{n} variant{'s' if n != 1 else ''}"
    ops = describe_pipeline(pipeline)
    drawn = f", annotations: {annotations}" if annotations else ""
    click.echo(f"wrote {out} ({width}x{height}, {what}, pipeline: {name} [{ops}]{drawn})")


@cli.command()
@click.argument(
    "pipeline_path", metavar="[PIPELINE]", required=False, type=click.Path(path_type=str)
)
@click.option(
    "--backend",
    "backends",
    type=click.Choice(["cv", "tf"]),
    multiple=True,
    help="Backend to check (repeatable). Default: cv and tf (cv only if an op is cv-only).",
)
@click.option(
    "--cases",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Generated test inputs on cv (tf runs a quarter). Default: augkit.check's (200).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    callback=_check_seed,
    help="Seed of the generated test inputs. Default: augkit.check's (0).",
)
def check(
    pipeline_path: str | None, backends: Sequence[str], cases: int | None, seed: int | None
) -> None:
    """Run augkit's invariants on a PIPELINE file (default pipeline if omitted).

    Prints one line per invariant and backend; exits with status 1 if any fails.
    See docs/invariants.md for what each invariant means.
    """
    import augkit

    pipeline, _name = _load_pipeline(pipeline_path)
    kwargs: dict[str, Any] = {}
    if backends:
        kwargs["backends"] = tuple(dict.fromkeys(backends))
    if cases is not None:
        kwargs["cases"] = cases
    if seed is not None:
        kwargs["seed"] = seed
    report = augkit.check(pipeline, **kwargs)
    click.echo(report.table() if hasattr(report, "table") else str(report))
    if not report.ok:
        sys.exit(EXIT_CHECK_FAILED)


@cli.command()
@click.argument("src", type=click.Path(path_type=str))
@click.argument("out", type=click.Path(path_type=str))
@click.option("--pipeline", "-p", "pipeline_path", required=True,
              type=click.Path(path_type=str), help="Pipeline spec (YAML or JSON).")
@click.option("--copies", "-k", required=True, type=click.IntRange(0, 100_000),
              help="Augmented copies per source image.")
@click.option("--seed", type=int, default=0, show_default=True, callback=_check_seed,
              help="Pipeline seed, a non-negative integer.")
@click.option("--format", "fmt", type=click.Choice(["png", "jpeg", "npz", "tfrecord"]),
              default="png", show_default=True,
              help="Image files in class folders (png, jpeg) or shards (npz, tfrecord).")
@click.option("--workers", type=click.IntRange(1, 4096), default=None,
              help="Local workers. Default: the usable cores.")
@click.option("--scheduler", default=None, metavar="ADDRESS|processes|threads|synchronous",
              help="tcp://host:port or tls://host:port of a running dask scheduler, or a "
                   "local mode. Default: local worker processes.")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier expansion with a different spec in OUT.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any output failed.")
@click.option("--no-original", is_flag=True, help="Do not write the originals (copy 0).")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=None,
              help="Outputs per dask task. Default: up to 64.")
@click.option("--shard-size", type=click.IntRange(1, 10_000_000), default=512,
              show_default=True, help="Outputs per npz/tfrecord shard.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=95, show_default=True)
@click.option("--max-pixels", type=click.IntRange(1, None), default=None,
              help="Refuse bigger source images (default: 89,478,485, Pillow's limit).")
@click.option("--color-mode", type=click.Choice(["rgb", "grayscale", "rgba"]), default="rgb",
              show_default=True, help="How source image files are decoded.")
@click.option("--fsync", is_flag=True, help="Flush each file to disk before renaming it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def expand(src: str, out: str, pipeline_path: str, copies: int, seed: int, fmt: str,
           workers: int | None, scheduler: str | None, overwrite: bool, strict: bool,
           no_original: bool, batch_size: int | None, shard_size: int, jpeg_quality: int,
           max_pixels: int | None, color_mode: str, fsync: bool, quiet: bool) -> None:
    """Write COPIES augmented copies of every image of SRC into OUT, with dask.

    SRC is a class-per-folder directory, an .npz with x and y, or a manifest.csv of an
    earlier expansion. OUT gets OUT/<class>/<name>_c<copy>.png files (or shards) and
    OUT/manifest.csv. Rerunning the same command finishes an interrupted run; a different
    pipeline, seed or copies is refused unless --overwrite. See docs/expand.md.
    """
    import augkit
    from augkit.expansion import ProgressBar
    from augkit.expansion import expand as run_expand
    from augkit.io import DEFAULT_MAX_PIXELS

    bar = None if quiet else ProgressBar()
    try:
        summary = run_expand(
            src, out, pipeline=augkit.load(pipeline_path), copies=copies, seed=seed,
            format=fmt, include_original=not no_original, workers=workers,
            scheduler=scheduler, overwrite=overwrite, batch_size=batch_size,
            shard_size=shard_size, jpeg_quality=jpeg_quality,
            max_pixels=max_pixels or DEFAULT_MAX_PIXELS, color_mode=color_mode,
            fsync=fsync, progress=bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        click.echo("augkit: interrupted; rerun the same command to finish (finished files "
                   "are kept)", err=True)
        sys.exit(130)
    except RuntimeError as exc:  # a dask cluster or task failure, not bad input
        if bar is not None:
            bar.close()
        click.echo(f"augkit: error: {_message(exc)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if bar is not None:
        bar.close()
    click.echo(summary.text())
    if (strict and summary.failed) or summary.written + summary.present == 0:
        sys.exit(EXIT_CHECK_FAILED)


@cli.command(name="models")
def models_command() -> None:
    """List the installed model plugins: name, description, expected input.

    A plugin that fails to load is listed with its error (exit status 0 all the same).
    Plugins are found through the entry-point group "augkit.models"; see docs/models.md.
    """
    from augkit.models import Plugin, plugins

    found = plugins()
    if not found:
        click.echo("no model plugins installed (entry-point group augkit.models)")
    width = max((len(name) for name in found), default=0)
    for name, plugin in found.items():
        if isinstance(plugin, Plugin):
            click.echo(f"{name:<{width}}  {plugin.description}; input: "
                       f"{plugin.input.describe()}")
        else:
            click.echo(f"{name:<{width}}  BROKEN ({plugin.where()}): {plugin.error}")


@cli.command(name="train")
@click.option("--model", "-m", "model_name", required=True, metavar="NAME",
              help="Model plugin (see `augkit models`).")
@click.option("--data", "-d", required=True, metavar="SOURCE",
              help="Folder of class subfolders, .npz (x, y), augkit expand output, or a "
                   "built-in data set: digits, cifar10, flowers.")
@click.option("--pipeline", "-p", "pipeline_path", type=click.Path(path_type=str),
              help="Augmentation spec (YAML or JSON). Omitted: no augmentation, images only "
                   "scaled to the model's value range.")
@click.option("--epochs", "-e", required=True, type=click.IntRange(1, 1_000_000))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Output folder: model.keras, history.json, curves.png.")
@click.option("--val-split", type=click.FloatRange(0, 1, max_open=True), default=0.2,
              show_default=True, help="Fraction held out for validation (0: none).")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=32, show_default=True)
@click.option("--image-size", metavar="HxW|N", default=None,
              help="Size folder images are resized (and the digits upsampled) to. Default: the "
                   "model's own.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="Seeds the split, the augmentation and Keras.")
@click.option("--option", "-O", "options", multiple=True, metavar="KEY=VALUE",
              help="Model option (repeatable); VALUE is read as a YAML scalar.")
@click.option("--processes", type=click.IntRange(1, 256), default=None, metavar="N",
              help="Augment in N worker processes (array sources: npz, digits, cifar10; "
                   "faster on small images, see docs/stream.md). Default: threads.")
@click.option("--quiet", "-q", is_flag=True, help="No Keras progress output.")
def train_command(model_name: str, data: str, pipeline_path: str | None, epochs: int, out: str,
                  val_split: float, batch_size: int, image_size: str | None, seed: int,
                  options: Sequence[str], processes: int | None, quiet: bool) -> None:
    """Train model NAME on SOURCE, augmented by the pipeline, and write the results to OUT.

    Training images go through the pipeline; validation images get only its rescale and
    normalize ops. The stream's value range is checked against the model's before anything
    is trained. See docs/train.md.
    """
    from augkit.train import parse_image_size, parse_options, train

    try:
        model_options = parse_options(options)
        size = parse_image_size(image_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    result = train(model=model_name, data=data, pipeline=pipeline_path, epochs=epochs, out=out,
                   val_split=val_split, batch_size=batch_size, image_size=size, seed=seed,
                   model_options=model_options, verbose=0 if quiet else "auto",
                   processes=processes)
    last = {k: v[-1] for k, v in result.history.items() if v}
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(last.items()))
    click.echo(f"wrote {result.model_path}, {result.history_path.name}, "
               f"{result.curves_path.name} ({metrics})")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``augkit`` console script.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.
    """
    cli.main(args=list(argv) if argv is not None else None, prog_name="augkit")


if __name__ == "__main__":  # pragma: no cover
    main()

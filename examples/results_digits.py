"""Reproduce docs/results.md: the BN-CNN on real handwritten digits, with and without augmentation
and BatchNormalization, and transfer from digits 0-4 to a few examples of 5-9.

Everything goes through augkit's own code: the bundled digits (``augkit.datasets.digits``),
``augkit.train.train`` (the function behind ``augkit train``) with the ``bncnn`` and ``transfer``
plugins, and an augkit pipeline to make the shifted and rotated test set.

    python examples/results_digits.py                 # the full run (docs/results.md)
    python examples/results_digits.py --seeds 1 --epochs 1 --few-epochs 1   # a smoke test

Prints a markdown table per experiment and writes every run's numbers to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import augkit
from augkit import datasets
from augkit.ops import Rescale
from augkit.sources import split_indices
from augkit.train import train

SIZE = 32  # the 8x8 digits upsampled to 32x32 RGB
TEST_FRACTION = 0.3
SPLIT_SEED = 2024  # the train/test split, the same for every run
MOVED_SEED = 7  # the shifted/rotated test set, made once
#: The test-time transform: rotation and shifts, black fill (the digits' background).
MOVED = {"rotation_range": 30, "width_shift_range": 0.15, "height_shift_range": 0.15,
         "fill_mode": "constant", "cval": 0}
#: Training augmentation: the same kind of motion plus a little zoom.
AUGMENT = dict(MOVED, zoom_range=0.1)
#: A small BN-CNN: 3 blocks of 16/32/64 filters, light dropout (about 0.2 M weights).
CNN = {"width": 16, "depth": 3, "dropout": 0.1, "head_units": 64, "head_dropout": 0.3}
#: Adam's learning rate for the new head of the transfer model (the rest: augkit's 0.001).
HEAD_LR = 0.01


def pipeline(rescale: bool, **keras_kwargs) -> augkit.Pipeline:
    """An augkit pipeline from Keras-style arguments, optionally ending in rescale 1/255."""
    pipe = augkit.Pipeline.from_keras(**keras_kwargs) if keras_kwargs else augkit.Pipeline([])
    if rescale:
        pipe = augkit.Pipeline([*pipe.ops, Rescale(scale=1 / 255)], fill_mode=pipe.fill_mode,
                               cval=pipe.cval, interpolation=pipe.interpolation)
    return pipe


def accuracy(model, x: np.ndarray, y: np.ndarray, scale: float) -> float:
    probs = model.predict(x.astype(np.float32) * np.float32(scale), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == y))


def mean_std(values: list[float]) -> str:
    v = 100 * np.asarray(values)
    spread = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.1f} ± {spread:.1f}"


def experiment_bn_aug(data, seeds, epochs, out: Path) -> list[dict]:
    """(1) BN-CNN with/without augmentation and BatchNormalization, clean vs moved test."""
    x_train, y_train, x_test, y_test, x_moved = data
    rows = []
    for augment in (False, True):
        for batch_norm in (True, False):
            for seed in seeds:
                started = time.perf_counter()
                result = train(model="bncnn", data=(x_train, y_train),
                               pipeline=pipeline(True, **(AUGMENT if augment else {})),
                               epochs=epochs, out=out / f"cnn-aug{int(augment)}-bn"
                               f"{int(batch_norm)}-s{seed}", val_split=0, batch_size=32,
                               seed=seed, model_options=dict(CNN, batch_norm=batch_norm),
                               verbose=0)
                rows.append({"augment": augment, "batch_norm": batch_norm, "seed": seed,
                             "clean": accuracy(result.model, x_test, y_test, 1 / 255),
                             "moved": accuracy(result.model, x_moved, y_test, 1 / 255),
                             "train_accuracy": result.history["accuracy"][-1],
                             "seconds": round(time.perf_counter() - started, 1)})
                print(f"  {rows[-1]}", flush=True)
    return rows


def experiment_transfer(data, seeds, epochs, few_epochs, shots, out: Path) -> list[dict]:
    """(2) A BN-CNN trained on 0-4; its head retrained on a few 5-9 vs the same net from scratch."""
    x_train, y_train, x_test, y_test, x_moved = data
    old, new = y_train < 5, y_train >= 5
    test_new = y_test >= 5
    rows = []
    for seed in seeds:
        base = train(model="bncnn", data=(x_train[old], y_train[old]),
                     pipeline=pipeline(True, **AUGMENT), epochs=epochs,
                     out=out / f"pretrain-s{seed}", val_split=0, batch_size=32, seed=seed,
                     model_options=CNN, verbose=0)
        for k in shots:
            rng = np.random.default_rng([seed, k])  # which few examples: a function of (seed, k)
            pick = np.concatenate([rng.choice(np.flatnonzero(new & (y_train == c)), k,
                                              replace=False) for c in range(5, 10)])
            few = (x_train[pick], y_train[pick] - 5)
            arms = {
                # frozen pretrained conv blocks + a new head (pooling, dropout, dense); the
                # model takes 0-255 pixels and rescales to the backbone's 0-1 inside. Only a
                # linear layer trains, on a few dozen images: Adam at 0.01 (at augkit's
                # default 0.001 it has barely moved after 40 short epochs).
                "transfer (frozen backbone, new head)": {
                    "model": "transfer", "pipeline": pipeline(False, **AUGMENT), "scale": 1.0,
                    "options": {"backbone": str(base.model_path), "fine_tune_layers": 0,
                                "learning_rate": HEAD_LR}},
                "same BN-CNN from scratch": {
                    "model": "bncnn", "pipeline": pipeline(True, **AUGMENT), "scale": 1 / 255,
                    "options": CNN},
            }
            for arm, cfg in arms.items():
                started = time.perf_counter()
                result = train(model=cfg["model"], data=few, pipeline=cfg["pipeline"],
                               epochs=few_epochs, out=out / f"few-k{k}-s{seed}-{cfg['model']}",
                               val_split=0, batch_size=16, seed=seed,
                               model_options=cfg["options"], verbose=0)
                y_new = y_test[test_new] - 5
                rows.append({"arm": arm, "shots": k, "seed": seed,
                             "clean": accuracy(result.model, x_test[test_new], y_new,
                                               cfg["scale"]),
                             "moved": accuracy(result.model, x_moved[test_new], y_new,
                                               cfg["scale"]),
                             "seconds": round(time.perf_counter() - started, 1)})
                print(f"  {rows[-1]}", flush=True)
    return rows


def table_bn_aug(rows: list[dict]) -> str:
    lines = [("| augmentation | BatchNormalization | clean test accuracy % | shifted + rotated "
             "test accuracy % |"), "|---|---|---:|---:|"]
    for augment in (False, True):
        for batch_norm in (True, False):
            sel = [r for r in rows if r["augment"] == augment and r["batch_norm"] == batch_norm]
            lines.append(f"| {'yes' if augment else 'no'} | {'yes' if batch_norm else 'no'} | "
                         f"{mean_std([r['clean'] for r in sel])} | "
                         f"{mean_std([r['moved'] for r in sel])} |")
    return "\n".join(lines)


def table_transfer(rows: list[dict]) -> str:
    lines = [("| labelled examples per class (5-9) | model | clean test accuracy % | "
             "shifted + rotated test accuracy % |"), "|---:|---|---:|---:|"]
    for k in sorted({r["shots"] for r in rows}):
        for arm in dict.fromkeys(r["arm"] for r in rows):
            sel = [r for r in rows if r["shots"] == k and r["arm"] == arm]
            lines.append(f"| {k} | {arm} | {mean_std([r['clean'] for r in sel])} | "
                         f"{mean_std([r['moved'] for r in sel])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs per setting (seeds 0..N-1)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs on the full training set")
    parser.add_argument("--few-epochs", type=int, default=40, help="epochs on the few examples")
    parser.add_argument("--shots", type=int, nargs="+", default=[5, 10],
                        help="labelled examples per new class")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for every run's outputs and results.json (default: temp)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="augkit-results-"))
    seeds = list(range(args.seeds))
    started = time.perf_counter()

    x, y = datasets.digits(size=SIZE)
    test = split_indices(len(x), TEST_FRACTION, "validation", SPLIT_SEED)
    train_idx = split_indices(len(x), TEST_FRACTION, "training", SPLIT_SEED)
    x_moved, _ = pipeline(False, **MOVED).apply(x[test], seed=MOVED_SEED)
    data = (x[train_idx], y[train_idx], x[test], y[test], x_moved)
    print(f"digits {SIZE}x{SIZE}: {len(train_idx)} training, {len(test)} test images; "
          f"seeds {seeds}; {args.epochs} epochs (few-shot: {args.few_epochs})", flush=True)

    print("(1) BN-CNN, augmentation x BatchNormalization", flush=True)
    rows1 = experiment_bn_aug(data, seeds, args.epochs, out)
    print("(2) transfer from digits 0-4 to a few examples of 5-9", flush=True)
    rows2 = experiment_transfer(data, seeds, args.epochs, args.few_epochs, args.shots, out)
    seconds = time.perf_counter() - started

    settings = {"size": SIZE, "test_fraction": TEST_FRACTION, "split_seed": SPLIT_SEED,
                "moved": MOVED, "moved_seed": MOVED_SEED, "augment": AUGMENT, "cnn": CNN,
                "head_lr": HEAD_LR,
                "seeds": seeds, "epochs": args.epochs, "few_epochs": args.few_epochs,
                "shots": args.shots, "augkit": augkit.__version__,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "seconds": round(seconds)}
    (out / "results.json").write_text(json.dumps(
        {"settings": settings, "bn_aug": rows1, "transfer": rows2}, indent=1))
    print()
    print(f"(1) BN-CNN on digits, mean ± std over {len(seeds)} seeds")
    print(table_bn_aug(rows1))
    print()
    print(f"(2) transfer to digits 5-9, mean ± std over {len(seeds)} seeds")
    print(table_transfer(rows2))
    print()
    print(f"wall time {seconds / 60:.1f} min; runs and results.json in {out}")


if __name__ == "__main__":
    main()

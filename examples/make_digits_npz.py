"""Regenerate ``augkit/data/digits.npz`` from scikit-learn's copy of the UCI digits.

augkit ships the 1797 handwritten digits (8×8, values 0..16) so that ``augkit.datasets.digits``
and the results in ``docs/results.md`` need neither scikit-learn nor a download. Run this once,
with any Python that has scikit-learn (it is *not* an augkit dependency)::

    python examples/make_digits_npz.py            # writes augkit/data/digits.npz

The arrays are stored exactly as scikit-learn returns them (``images`` as uint8 0..16, ``target``
as uint8), compressed. Licences: augkit/data/README.md.
"""

from __future__ import annotations

import pathlib

import numpy as np
from sklearn.datasets import load_digits

OUT = pathlib.Path(__file__).resolve().parents[1] / "augkit" / "data" / "digits.npz"


def main() -> None:
    digits = load_digits()
    images = digits.images
    if not (np.array_equal(images, np.round(images)) and images.min() >= 0
            and images.max() <= 16):
        raise SystemExit("unexpected digits data: expected integer pixels in 0..16")
    np.savez_compressed(OUT, x=images.astype(np.uint8), y=digits.target.astype(np.uint8))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(images)} digits)")


if __name__ == "__main__":
    main()

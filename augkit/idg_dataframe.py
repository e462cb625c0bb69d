"""``ImageDataGenerator.flow_from_dataframe``: batches from a table of file names and labels.

Keras' semantics (``keras.src.legacy.preprocessing.image.DataFrameIterator``), on augkit's
engine and decoder: the same class modes, the same validation of columns, rows with missing or
non-image files dropped with one warning, ``classes`` filtering, the first
``validation_split`` of the rows as the validation subset. The table is a pandas ``DataFrame``
or anything indexable by column name with ``len()`` (e.g. a dict of equal-length lists):
pandas is not a dependency of augkit.
"""

from __future__ import annotations

import numbers
import os
import warnings
from typing import Any

import numpy as np

from augkit.idg_iterators import FileIterator
from augkit.io import DEFAULT_MAX_PIXELS

__all__ = ["DataFrameIterator"]

_NO_CLASSES = ("input", "multi_output", "raw", None)


def _column(table: Any, name: Any) -> list:
    """One column of ``table`` as a Python list (KeyError → ValueError naming the column)."""
    if not isinstance(name, str):
        raise TypeError(f"column names must be strings, got {name!r}")
    try:
        col = table[name]
    except (KeyError, IndexError, TypeError):
        cols = list(table.keys()) if hasattr(table, "keys") else []
        raise ValueError(f"column {name!r} not found in the dataframe; its columns: "
                         f"{', '.join(map(str, cols)) or '(none)'}") from None
    return col.tolist() if hasattr(col, "tolist") else list(col)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


class DataFrameIterator(FileIterator):
    """Batches of augmented images whose files and labels are listed in a table.

    Args:
        dataframe: a pandas ``DataFrame`` (or a dict of equal-length columns).
        directory: folder the ``x_col`` paths are relative to (``None``: they are absolute or
            relative to the working directory).
        image_data_generator: the :class:`augkit.ImageDataGenerator`.
        x_col: column of file names.
        y_col: column of labels (a list of columns for ``class_mode="multi_output"``).
        weight_col: column of sample weights, returned as the batches' third element.
        class_mode: ``"categorical"`` (class names, or lists of them for multi-label),
            ``"binary"``, ``"sparse"`` (class names), ``"raw"`` (the ``y_col`` values as they
            are), ``"multi_output"`` (one array per ``y_col`` column), ``"input"`` or ``None``.
        classes: keep only these classes, in this order (default: all, sorted).
        validate_filenames: drop rows whose file is missing or not an image file name (one
            warning with the count), as Keras does. With ``False``, a missing file raises
            :class:`augkit.InputError` naming it when its batch is read.
        Other arguments: as :class:`augkit.idg_iterators.DirectoryIterator`.
    """

    allowed_class_modes = {"binary", "categorical", "input", "multi_output", "raw", "sparse",
                           None}

    def __init__(self, dataframe: Any, directory: str | None = None,
                 image_data_generator: Any = None, x_col: str = "filename",
                 y_col: Any = "class", weight_col: str | None = None,
                 target_size: tuple[int, int] = (256, 256), color_mode: str = "rgb",
                 classes: list[str] | None = None, class_mode: str | None = "categorical",
                 batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
                 data_format: str | None = None, save_to_dir: str | None = None,
                 save_prefix: str = "", save_format: str = "png", subset: str | None = None,
                 interpolation: str = "nearest", keep_aspect_ratio: bool = False,
                 dtype: Any = None, validate_filenames: bool = True,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, **kwargs: Any) -> None:
        self._set_processing(image_data_generator, target_size, color_mode, class_mode,
                             data_format, save_to_dir, save_prefix, save_format, subset,
                             interpolation, keep_aspect_ratio, dtype, max_pixels)
        if class_mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(f'If class_mode="multi_output", y_col must be a list. Received '
                            f"{type(y_col).__name__}.")
        self.directory = directory or ""
        if not hasattr(dataframe, "__len__") or not hasattr(dataframe, "__getitem__"):
            raise TypeError(f"dataframe: expected a pandas DataFrame or a dict of columns, got "
                            f"{type(dataframe).__name__}")
        names = _column(dataframe, x_col)
        if not all(isinstance(v, str) for v in names):
            raise TypeError(f"All values in column x_col={x_col} must be strings.")
        rows = list(range(len(names)))
        ys: Any = None
        if class_mode in ("multi_output",):
            ys = [_column(dataframe, c) for c in y_col]
        elif class_mode is not None and class_mode != "input":
            ys = _column(dataframe, y_col)
        weights = _column(dataframe, weight_col) if weight_col else None
        self._check_labels(ys, y_col, classes)
        if weights is not None and not all(isinstance(w, numbers.Real)
                                           and not isinstance(w, bool) for w in weights):
            raise TypeError(f"Column weight_col={weight_col} must be numeric.")
        if validate_filenames:
            rows = self._valid_rows(rows, names, x_col)
        if class_mode not in _NO_CLASSES:
            rows, classes = self._filter_classes(rows, ys, classes)
            self.class_indices = dict(zip(classes, range(len(classes))))
            self.num_classes = len(classes)
        if self.split:
            start, stop = int(self.split[0] * len(rows)), int(self.split[1] * len(rows))
            rows = rows[start:stop]
        self.filenames = [names[r] for r in rows]
        if class_mode not in _NO_CLASSES:
            self.classes = [self._class_of(ys[r]) for r in rows]
        self._sample_weight = (np.asarray([weights[r] for r in rows])
                               if weights is not None else None)
        if class_mode == "multi_output":
            self._targets: Any = [np.array([col[r] for r in rows]) for col in ys]
        elif class_mode == "raw":
            self._targets = np.array([ys[r] for r in rows])
        self.samples = len(self.filenames)
        validated = "validated" if validate_filenames else "non-validated"
        if class_mode in _NO_CLASSES:
            print(f"Found {self.samples} {validated} image filenames.")
        else:
            print(f"Found {self.samples} {validated} image filenames belonging to "
                  f"{self.num_classes} classes.")
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed, **kwargs)

    def _check_labels(self, ys: Any, y_col: Any, classes: Any) -> None:
        mode = self.class_mode
        if mode in ("binary", "sparse") and not all(isinstance(v, str) for v in ys):
            raise TypeError(f'If class_mode="{mode}", y_col="{y_col}" column values must be '
                            f"strings.")
        if mode == "binary":
            count = len(set(classes)) if classes else len(set(ys))
            if count != 2:
                found = "were given" if classes else "found"
                raise ValueError(f'If class_mode="binary" there must be 2 classes. {count} '
                                 f"class/es {found}.")
        if mode == "categorical" and not all(isinstance(v, (str, list, tuple)) for v in ys):
            raise TypeError(f'If class_mode="categorical", y_col="{y_col}" column values must '
                            f"be type string, list or tuple.")
        if classes and mode in _NO_CLASSES:
            warnings.warn(f'`classes` will be ignored given the class_mode="{mode}"',
                          stacklevel=4)

    def _valid_rows(self, rows: list[int], names: list[str], x_col: str) -> list[int]:
        kept = [r for r in rows if names[r].lower().endswith(self.white_list_formats)
                and os.path.isfile(os.path.join(self.directory, names[r]))]
        if len(kept) < len(rows):
            warnings.warn(f'Found {len(rows) - len(kept)} invalid image filename(s) in '
                          f'x_col="{x_col}". These filename(s) will be ignored.', stacklevel=4)
        return kept

    @staticmethod
    def _filter_classes(rows: list[int], ys: list, classes: Any) -> tuple[list[int], list]:
        """Keep the rows with a label in ``classes`` (multi-label rows: their known labels)."""
        if classes:
            keep = list(dict.fromkeys(classes))
        else:
            found: set = set()
            for v in (ys[r] for r in rows):
                if _is_missing(v):
                    continue
                found.update(v if isinstance(v, (list, tuple)) else [v])
            keep = sorted(found)
        wanted = set(keep)
        for r in rows:
            v = ys[r]
            if isinstance(v, (list, tuple)):
                ys[r] = [c for c in v if c in wanted] or None
            elif not _is_missing(v) and v not in wanted:
                ys[r] = None
        return [r for r in rows if not _is_missing(ys[r])], keep

    def _class_of(self, label: Any) -> Any:
        if isinstance(label, (list, tuple)):
            return [self.class_indices[c] for c in label]
        return self.class_indices[label]

    @property
    def labels(self) -> Any:
        """Class indices, or for ``raw``/``multi_output`` the target arrays."""
        if self.class_mode in ("multi_output", "raw"):
            return self._targets
        return self.classes

    @property
    def sample_weight(self) -> Any:
        """The ``weight_col`` values of the kept rows, or ``None``."""
        return self._sample_weight

    def _batch_labels(self, index_array: np.ndarray, batch_x: np.ndarray) -> Any:
        if self.class_mode == "multi_output":
            return [out[index_array] for out in self._targets]
        if self.class_mode == "raw":
            return self._targets[index_array]
        return super()._batch_labels(index_array, batch_x)

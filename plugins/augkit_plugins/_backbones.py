"""The ``transfer`` plugin's backbones as data: families, preprocessing, ImageNet weight files.

No TensorFlow here (``augkit models`` and ``Plugin.input_spec`` use it); the Keras side is in
``_transfer_model.py``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from augkit.errors import InputError

#: Set to 1/true/yes to never try downloading weights (fail at once when they are missing).
OFFLINE_ENV = "AUGKIT_OFFLINE"

_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class Family:
    """A ``keras.applications`` backbone family.

    Attributes:
        name: constructor name in ``keras.applications``.
        module: its ``keras.applications`` submodule (home of its ``preprocess_input``).
        mode: what that ``preprocess_input`` does to 0-255 RGB pixels: ``"caffe"`` (RGB to
            BGR, minus the ImageNet mean per channel), ``"tf"`` (scale to [-1, 1]) or
            ``"none"`` (the network rescales and normalizes inside itself).
        default_size: default input height and width.
        min_size: smallest input height and width the architecture takes.
    """

    name: str
    module: str
    mode: str
    default_size: int
    min_size: int

    def preprocessing(self) -> str:
        """One line for the plugin's ``InputSpec.note``."""
        return {
            "caffe": f"{self.name} preprocessing (RGB to BGR, minus the ImageNet mean) inside "
                     f"the model",
            "tf": f"{self.name} preprocessing (scales to [-1, 1]) inside the model",
            "none": f"{self.name} rescales and normalizes inside itself",
        }[self.mode]


FAMILIES = {f.name: f for f in (
    Family("VGG16", "vgg16", "caffe", 224, 32),
    Family("ResNet50", "resnet50", "caffe", 224, 32),
    Family("InceptionV3", "inception_v3", "tf", 299, 75),
    Family("MobileNetV2", "mobilenet_v2", "tf", 224, 32),
    Family("EfficientNetB0", "efficientnet", "none", 224, 32),
)}

#: ImageNet channel means (BGR order) subtracted by the "caffe" mode.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: Input sizes MobileNetV2 has ImageNet weights for (others load the 224 ones, as Keras does).
MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)


def imagenet_file(family: Family, input_shape: tuple[int, int, int], alpha: float) -> tuple[
        str, str]:
    """``(file name, URL)`` of the no-top ImageNet weights, as ``keras.applications`` names them."""
    if family.name == "MobileNetV2":
        h, w = input_shape[:2]
        rows = h if h == w and h in MOBILENET_V2_SIZES else 224
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
        return name, f"{_GCS}mobilenet_v2/{name}"
    if family.name == "EfficientNetB0":
        name = "efficientnetb0_notop.h5"
        return name, f"https://storage.googleapis.com/keras-applications/{name}"
    folder, stem = {"VGG16": ("vgg16", "vgg16"), "ResNet50": ("resnet", "resnet50"),
                    "InceptionV3": ("inception_v3", "inception_v3")}[family.name]
    name = f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    return name, f"{_GCS}{folder}/{name}"


def keras_cache_dir() -> Path:
    """The folder ``keras.utils.get_file(..., cache_subdir="models")`` reads and writes."""
    try:  # Keras reads KERAS_HOME once, at import: ask it, to look where it will look
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # pragma: no cover - another Keras layout
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    base = os.path.expanduser(home)
    if not os.access(base, os.W_OK):  # Keras' own fallback
        base = os.path.join("/tmp", ".keras")
    return Path(base) / "models"


def offline() -> bool:
    """Whether :data:`OFFLINE_ENV` forbids downloads."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _resolves(host: str, timeout: float) -> str | None:
    """``None`` if ``host`` resolves within ``timeout`` seconds, else the reason.

    Name resolution ignores socket timeouts, so it runs in a daemon thread that is abandoned
    when it takes too long.
    """
    result: dict[str, Any] = {}

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, 443)
            result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=look_up, daemon=True)
    thread.start()
    thread.join(timeout)
    if result.get("ok"):
        return None
    if "error" in result:
        return f"{host} does not resolve ({result['error']})"
    return f"{host} did not resolve within {timeout:g} s"


class _SocketTimeout:
    """Temporarily give sockets without their own timeout (``urlretrieve``'s) a timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        self.saved = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.seconds)

    def __exit__(self, *exc: object) -> None:
        socket.setdefaulttimeout(self.saved)


def missing_weights(family: Family, path: Path, url: str, reason: str) -> InputError:
    """The error for ImageNet weights that are neither cached nor downloadable."""
    return InputError(
        f"transfer: the ImageNet weights of {family.name} are missing and cannot be "
        f"downloaded ({reason}). Missing file: {path}. Download {url} and put it in "
        f"{path.parent} (or point KERAS_HOME at a folder whose models/ subfolder holds it), or "
        f"pass weights='/path/to/{path.name}' (a local copy), or weights=None (random "
        f"initialization)")


def fetch_imagenet(family: Family, input_shape: tuple[int, int, int], alpha: float, *,
                   download: bool, timeout: float) -> None:
    """Make sure the ImageNet weight file is in the Keras cache, or raise quickly.

    The cache is checked first; a download is attempted only if allowed (``download`` and no
    :data:`OFFLINE_ENV`), after the host resolves within ``timeout`` seconds, with ``timeout``
    on every socket operation.

    Raises:
        InputError: the file is missing and cannot be downloaded; the message names the file,
            where it is expected, its URL, and the alternatives.
    """
    name, url = imagenet_file(family, input_shape, alpha)
    path = keras_cache_dir() / name
    if path.is_file():
        return
    if offline():
        raise missing_weights(family, path, url, f"{OFFLINE_ENV} is set")
    if not download:
        raise missing_weights(family, path, url, "download=False")
    reason = _resolves(urlsplit(url).hostname or "", timeout)
    if reason is not None:
        raise missing_weights(family, path, url, reason)
    import keras

    try:
        with _SocketTimeout(timeout):
            keras.utils.get_file(name, url, cache_subdir="models",
                                 cache_dir=str(path.parent.parent))
    except Exception as exc:  # noqa: BLE001 - Keras raises bare Exception on fetch failures
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise missing_weights(family, path, url, f"download failed: {text}") from None


def local_weights(path: Any) -> str:
    """A local weights file that exists, as a string."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_file():
        raise InputError(f"transfer.weights: {str(p)!r} is not a file; allowed: 'imagenet' (from "
                         f"the Keras cache {keras_cache_dir()}), None, or the path of a weights "
                         f"file (.h5 or .weights.h5)")
    return str(p)


def saved_keras_input_shape(path: Path) -> tuple[int | None, ...] | None:
    """The input shape stored in a ``.keras`` file's config, read without Keras (or None)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None

    def find(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("class_name") == "InputLayer":
                cfg = node.get("config", {})
                return cfg.get("batch_shape") or cfg.get("batch_input_shape")
            for value in node.values():
                found = find(value)
                if found:
                    return found
        elif isinstance(node, list):
            for value in node:
                found = find(value)
                if found:
                    return found
        return None

    shape = find(config)
    if isinstance(shape, list) and len(shape) == 4:
        return tuple(shape[1:])
    return None


def backbone_kind(backbone: Any) -> tuple[str, Any]:
    """``("family", Family)``, ``("keras", Path)`` or ``("savedmodel", Path)``.

    Raises:
        SpecError: neither a known family nor an existing ``.keras`` file or SavedModel folder.
    """
    from augkit.params import closest, fail

    if isinstance(backbone, str) and backbone in FAMILIES:
        return "family", FAMILIES[backbone]
    allowed = (f"one of {', '.join(FAMILIES)}, a saved Keras model (.keras file) or a TF "
               f"SavedModel folder")
    if not isinstance(backbone, (str, os.PathLike)):
        raise fail("transfer.backbone", backbone, allowed)
    path = Path(os.path.expanduser(os.fspath(backbone)))
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel", path.resolve()
    if path.is_file() and path.suffix == ".keras":
        return "keras", path.resolve()
    if path.exists():
        raise fail("transfer.backbone", backbone,
                   f"{allowed} (this path is neither a .keras file nor a folder with "
                   f"saved_model.pb)")
    near = closest(str(backbone), list(FAMILIES))
    if near:
        raise fail("transfer.backbone", backbone, allowed + near)
    raise fail("transfer.backbone", backbone, f"{allowed} (no such file or folder)")

"""Specs are data: dict / YAML / JSON round trips, versioning, and errors that fail at load.

Every bad spec must raise :class:`augkit.SpecError` when it is *loaded* (never later, at apply
time) with one message naming the field path, the bad value, what is allowed and, for unknown
names, the closest valid ones. Hostile files (code-running YAML tags, binary garbage, alias
bombs) must run nothing and fail with the same kind of error.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import yaml

import augkit
from augkit import SpecError
from augkit import ops as O

# One instance of every registered op, with non-default parameters so that a round trip that
# dropped a value back to its default would be caught.
SAMPLE_OPS = {
    "albumentations": lambda: O.Albumentations(transform="CLAHE",
                                               args={"clip_limit": 3.0,
                                                     "tile_grid_size": [4, 4]}, p=0.7),
    "brightness": lambda: O.Brightness(factor_range=(0.6, 1.3), p=0.9),
    "channel_shift": lambda: O.ChannelShift(intensity_range=(-30, 25)),
    "contrast": lambda: O.Contrast(factor_range=(0.7, 1.4)),
    "crop_and_pad": lambda: O.CropAndPad(percent_range=(-0.2, 0.15), p=0.8),
    "erasing": lambda: O.Erasing(scale_range=(0.05, 0.2), ratio_range=(0.5, 2.0), fill="random",
                                 p=0.6),
    "flip_horizontal": lambda: O.FlipHorizontal(p=0.4),
    "flip_vertical": lambda: O.FlipVertical(p=0.3),
    "gamma": lambda: O.Gamma(gamma_range=(0.7, 1.5)),
    "gaussian_blur": lambda: O.GaussianBlur(sigma_range=(0.3, 1.2), p=0.5),
    "gaussian_noise": lambda: O.GaussianNoise(std_range=(0.02, 0.06), per_channel=False),
    "hue": lambda: O.Hue(shift_range=(-0.1, 0.2)),
    "normalize": lambda: O.Normalize(mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3)),
    "random_resized_crop": lambda: O.RandomResizedCrop(size=(20, 24), scale_range=(0.3, 0.9),
                                                       ratio_range=(0.6, 1.6)),
    "rescale": lambda: O.Rescale(scale=1 / 127.5, offset=-1.0),
    "rotate": lambda: O.Rotate(angle_range=(-25, 40), p=0.9),
    "saturation": lambda: O.Saturation(factor_range=(0.2, 1.8)),
    "shear": lambda: O.Shear(angle_range=(-12, 7), axis="y"),
    "translate": lambda: O.Translate(x_range=(-2, 3), y_range=(0, 0), unit="pixels",
                                     y_choices=[1, 2, 5]),
    "zoom": lambda: O.Zoom(factor_range=(0.75, 1.3), keep_aspect=True),
    "autocontrast": lambda: O.AutoContrast(p=0.3),
    "equalize": lambda: O.Equalize(p=0.7),
    "solarize": lambda: O.Solarize(threshold_range=(0.4, 0.9), p=0.2),
    "posterize": lambda: O.Posterize(bits_range=(2, 5), p=0.8),
    "sharpness": lambda: O.Sharpness(factor_range=(0.2, 2.5), p=0.6),
    "randaugment": lambda: O.RandAugment(num_ops=3, magnitude=14, num_magnitude_bins=21, p=0.9),
    "trivialaugment": lambda: O.TrivialAugment(num_magnitude_bins=11, p=0.8),
    "mixup": lambda: O.MixUp(alpha=0.4, num_classes=10, p=0.7),
    "cutmix": lambda: O.CutMix(alpha=2.0, p=0.5),
}
SUFFIXES = (".yaml", ".yml", ".json")


def _images(n: int = 6, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _rich_pipeline() -> augkit.Pipeline:
    """Every op that runs on a uint8 image and keeps it uint8, then the range-changing ones."""
    order = ["rotate", "translate", "zoom", "shear", "flip_horizontal", "flip_vertical",
             "crop_and_pad", "brightness", "channel_shift", "contrast", "saturation", "hue",
             "gamma", "gaussian_noise", "gaussian_blur", "erasing", "albumentations",
             "random_resized_crop", "normalize"]
    return augkit.Pipeline([SAMPLE_OPS[name]() for name in order], fill_mode="reflect",
                           cval=3.0, interpolation="nearest", value_range=(0.0, 1.0))


def _write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _load_error(tmp_path, text: str | bytes, name: str = "p.yaml") -> str:
    path = _write(tmp_path / name, text)
    with pytest.raises(SpecError) as info:
        augkit.load(path)
    message = str(info.value)
    assert str(path) in message, f"the message does not name the file: {message}"
    return message


# -- the catalog is covered -----------------------------------------------------------------
def test_sample_table_covers_every_registered_op():
    assert sorted(SAMPLE_OPS) == augkit.ops.available()


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SAMPLE_OPS))
def test_op_dict_round_trip(name):
    op = SAMPLE_OPS[name]()
    d = op.to_dict()
    assert d["op"] == name and d["p"] == op.p
    assert set(d) == {"op", "p", *type(op).params}
    json.dumps(d)  # plain data only
    again = augkit.ops.get(name).from_dict(d)
    assert again == op and again.to_dict() == d


@pytest.mark.parametrize("name", sorted(SAMPLE_OPS))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_each_op_round_trips_through_files(tmp_path, name, suffix):
    pipe = augkit.Pipeline([SAMPLE_OPS[name]()], fill_mode="constant", cval=7.0)
    path = tmp_path / f"p{suffix}"
    pipe.save(path)
    assert augkit.load(path) == pipe
    assert augkit.load(path).to_dict() == pipe.to_dict()


def test_to_dict_is_plain_versioned_data():
    d = _rich_pipeline().to_dict()
    assert list(d)[0] == "version" and d["version"] == 1
    assert set(d) == {"version", "fill_mode", "cval", "interpolation", "value_range", "targets",
                      "ops"}
    assert json.loads(json.dumps(d)) == d
    assert yaml.safe_load(yaml.safe_dump(d)) == d
    assert augkit.Pipeline.from_dict(d) == _rich_pipeline()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_save_load_round_trip_gives_the_same_output(tmp_path, suffix):
    pipe = _rich_pipeline()
    path = tmp_path / f"pipeline{suffix}"
    pipe.save(path)
    loaded = augkit.load(path)
    assert loaded == pipe
    assert loaded.to_dict() == pipe.to_dict()
    x = _images()
    want, _ = pipe.apply(x, seed=123)
    got, _ = loaded.apply(x, seed=123)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    # a second save of the loaded pipeline writes the same bytes
    again = tmp_path / f"again{suffix}"
    loaded.save(again)
    assert again.read_text() == path.read_text()


def test_saved_files_are_readable_by_plain_parsers(tmp_path):
    pipe = _rich_pipeline()
    pipe.save(tmp_path / "p.yaml")
    pipe.save(tmp_path / "p.json")
    from_yaml = yaml.safe_load((tmp_path / "p.yaml").read_text())
    from_json = json.loads((tmp_path / "p.json").read_text())
    assert from_yaml == from_json == pipe.to_dict()
    assert (tmp_path / "p.yaml").read_text().startswith("version: 1\n")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    augkit.Pipeline.default().save(tmp_path / "p.yaml")
    augkit.Pipeline.default().save(tmp_path / "p.yaml")  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["p.yaml"]


def test_pipeline_accepts_op_dicts_and_mixes_them():
    pipe = augkit.Pipeline([{"op": "rotate", "angle_range": [-5, 5]}, O.FlipHorizontal()])
    assert [op.name for op in pipe.ops] == ["rotate", "flip_horizontal"]
    assert pipe.ops[0].angle_range == (-5.0, 5.0)


def test_albumentations_args_with_tuples_round_trip_equal(tmp_path):
    """Python callers write tuples; after save → load they are lists. Equality must hold."""
    pipe = augkit.Pipeline([O.Albumentations(transform="CLAHE",
                                             args={"tile_grid_size": (4, 4)})])
    pipe.save(tmp_path / "p.yaml")
    assert augkit.load(tmp_path / "p.yaml") == pipe


# -- version --------------------------------------------------------------------------------
def test_version_is_optional_on_load(tmp_path):
    path = _write(tmp_path / "p.yaml", "ops:\n  - op: rotate\n    angle_range: [-5, 5]\n")
    pipe = augkit.load(path)
    assert pipe.to_dict()["version"] == 1
    assert pipe.ops[0].angle_range == (-5.0, 5.0)


@pytest.mark.parametrize("version", [2, 0, "1", "v1", None, [1]])
def test_wrong_version_is_rejected(tmp_path, version):
    text = yaml.safe_dump({"version": version, "ops": []})
    message = _load_error(tmp_path, text)
    assert "version" in message and repr(version) in message and "1" in message


def test_boolean_version_is_rejected():
    # True == 1 in Python; a schema version is an integer, not a flag.
    with pytest.raises(SpecError, match="version"):
        augkit.Pipeline.from_dict({"version": True, "ops": []})


# -- bad specs fail at load, with one precise message ----------------------------------------
BAD_SPECS = [
    # (spec, fragments that must all be in the message)
    ({"ops": [{"op": "flip_horizontal"}, {"op": "rotate", "angle_range": [-500, 10]}]},
     ["ops[1] (rotate).angle_range", "[-500, 10]", "-360 <= low <= high <= 360"]),
    ({"ops": [{"op": "rotate", "angle_range": [10, -10]}]},
     ["ops[0] (rotate).angle_range", "[10, -10]", "low <= high"]),
    ({"ops": [{"op": "rotate", "angle_range": 10}]},
     ["ops[0] (rotate).angle_range", "got 10", "a pair [low, high]"]),
    ({"ops": [{"op": "rotate", "angle_range": [True, 1]}]},
     ["ops[0] (rotate).angle_range", "True", "a pair"]),
    ({"ops": [{"op": "rotate", "p": 2}]}, ["ops[0] (rotate).p", "got 2", "0 <= value <= 1"]),
    ({"ops": [{"op": "rotate", "p": "0.5"}]}, ["ops[0] (rotate).p", "'0.5'", "a number"]),
    ({"ops": [{"op": "rescale", "p": 0.5}]}, ["ops[0] (rescale).p", "0.5", "allowed: 1"]),
    ({"ops": [{"op": "shear", "axis": "z"}]}, ["ops[0] (shear).axis", "'z'", "'x', 'y'"]),
    ({"ops": [{"op": "zoom", "keep_aspect": "yes"}]},
     ["ops[0] (zoom).keep_aspect", "'yes'", "true or false"]),
    ({"ops": [{"op": "erasing", "fill": "rand"}]},
     ["ops[0] (erasing).fill", "'rand'", "\"random\""]),
    ({"ops": [{"op": "random_resized_crop", "size": [0, 4]}]},
     ["ops[0] (random_resized_crop).size", "[0, 4]", "integers from 1"]),
    ({"ops": [{"op": "normalize", "std": [0, 1, 1]}]},
     ["ops[0] (normalize).std", "[0, 1, 1]", "0 < value"]),
    ({"ops": [{"op": "translate", "x_choices": []}]},
     ["ops[0] (translate).x_choices", "[]", "null or a list"]),
    ({"ops": [{"op": "gaussian_blur", "sigma_range": [0.0, 1.0]}]},
     ["ops[0] (gaussian_blur).sigma_range", "[0.0, 1.0]", "0.05 <= low"]),
    ({"ops": "rotate"}, ["ops", "'rotate'", "a list of ops"]),
    ({"ops": ["rotate"]}, ["ops[0]", "'rotate'", "a mapping"]),
    ({"ops": [{"angle_range": [1, 2]}]}, ["ops[0].op", "an op name", "rotate"]),
    ({"ops": [{"op": None}]}, ["ops[0].op", "None", "rotate"]),
    ({}, ["ops", "None", "a list of ops"]),
    ({"ops": [], "fill_mode": "nearst"}, ["fill_mode", "'nearst'", "did you mean 'nearest'"]),
    ({"ops": [], "interpolation": "bicubic"},
     ["interpolation", "'bicubic'", "'bilinear', 'nearest'"]),
    ({"ops": [], "cval": "x"}, ["cval", "'x'", "a number"]),
    ({"ops": [], "cval": None}, ["cval", "None", "a number"]),
    ({"ops": [], "value_range": [1, 0]}, ["value_range", "1, 0", "low <= high"]),
    ({"ops": [], "value_range": [0, 0]}, ["value_range", "0, 0", "low < high"]),
    ({"ops": [], "value_range": [0, 1, 2]}, ["value_range", "0, 1, 2", "a pair"]),
    ({"ops": [], "value_range": "0,1"}, ["value_range", "'0,1'", "a pair"]),
]


@pytest.mark.parametrize("spec, fragments", BAD_SPECS, ids=[str(s)[:60] for s, _ in BAD_SPECS])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_bad_spec_fails_at_load_naming_path_value_and_allowed(tmp_path, spec, fragments, suffix):
    text = json.dumps(spec) if suffix == ".json" else yaml.safe_dump(spec)
    message = _load_error(tmp_path, text, f"p{suffix}")
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"
    assert "\n" not in message.strip(), "one message, one line"
    # the same spec as a dict fails the same way, without the file name
    with pytest.raises(SpecError) as info:
        augkit.Pipeline.from_dict(spec)
    assert str(info.value) in message


UNKNOWN_NAMES = [
    ({"ops": [{"op": "rotat"}]}, ["ops[0].op", "'rotat'", "did you mean 'rotate'", "available:"]),
    ({"ops": [{"op": "flip_horizontl"}]}, ["ops[0].op", "did you mean 'flip_horizontal'"]),
    ({"ops": [{"op": "RandomRotate"}]}, ["ops[0].op", "'RandomRotate'", "available:"]),
    ({"ops": [{"op": "shear"}, {"op": "rotate", "angle_rang": [1, 2]}]},
     ["ops[1] (rotate).angle_rang", "unknown parameter", "did you mean 'angle_range'",
      "allowed: angle_range, p"]),
    ({"ops": [{"op": "zoom", "factor": [0.9, 1.1]}]},
     ["ops[0] (zoom).factor", "did you mean 'factor_range'"]),
    ({"opps": []}, ["opps", "unknown field", "did you mean 'ops'", "allowed:"]),
    ({"ops": [], "fill": "nearest"}, ["fill", "unknown field", "did you mean 'fill_mode'"]),
    ({"ops": [], "verison": 1}, ["verison", "did you mean 'version'"]),
]


@pytest.mark.parametrize("spec, fragments", UNKNOWN_NAMES,
                         ids=[str(s)[:60] for s, _ in UNKNOWN_NAMES])
def test_unknown_names_suggest_the_closest_valid_ones(tmp_path, spec, fragments):
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


def test_unknown_albumentations_transform_suggests_closest(tmp_path):
    spec = {"ops": [{"op": "albumentations", "transform": "CLAHEE"}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).transform" in message
    assert "'CLAHEE'" in message and "did you mean 'CLAHE'" in message


@pytest.mark.parametrize("name", ["os.system", "albumentations.core.composition.Compose",
                                  "Compose", "__import__"])
def test_albumentations_resolves_only_allow_listed_public_transforms(tmp_path, name):
    spec = {"ops": [{"op": "albumentations", "transform": name}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).transform" in message and repr(name) in message


@pytest.mark.parametrize("name", ["BasicTransform", "DualTransform", "ImageOnlyTransform",
                                  "Transform3D"])
def test_albumentations_abstract_base_classes_are_not_transforms(tmp_path, name):
    # they are public and subclass BasicTransform, but only fail later, at apply time
    spec = {"ops": [{"op": "albumentations", "transform": name}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).transform" in message and repr(name) in message


@pytest.mark.parametrize("name", ["Normalize", "ToFloat", "FromFloat", "Lambda"])
def test_albumentations_range_changing_or_code_running_transforms_are_refused(tmp_path, name):
    spec = {"ops": [{"op": "albumentations", "transform": name}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).transform" in message and repr(name) in message


def test_albumentations_rejected_args_fail_at_load(tmp_path):
    spec = {"ops": [{"op": "albumentations", "transform": "CLAHE",
                     "args": {"clip_limit": -1}}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).args" in message and "clip_limit" in message


def test_albumentations_unknown_arg_fails_at_load_with_closest_name(tmp_path):
    # albumentations itself only warns about unknown arguments; a spec must not load.
    spec = {"ops": [{"op": "albumentations", "transform": "CLAHE",
                     "args": {"clip_limt": 2.0}}]}
    message = _load_error(tmp_path, yaml.safe_dump(spec))
    assert "ops[0] (albumentations).args" in message and "clip_limt" in message
    assert "clip_limit" in message


def test_non_string_parameter_key_is_a_spec_error(tmp_path):
    message = _load_error(tmp_path, "ops:\n  - op: rotate\n    5: 1\n")
    assert "ops[0] (rotate)" in message and "5" in message


def test_bad_specs_fail_at_load_not_at_apply(tmp_path):
    # the error comes from load(); nothing is deferred to the first batch
    path = _write(tmp_path / "p.yaml", "ops:\n  - op: rotate\n    angle_range: [-500, 10]\n")
    with pytest.raises(SpecError):
        augkit.load(path)


# -- hostile and broken files ---------------------------------------------------------------
CODE_PAYLOADS = [
    'ops: !!python/object/apply:os.system ["touch {marker}"]\n',
    'ops:\n  - !!python/object/apply:os.system ["touch {marker}"]\n',
    'ops:\n  - op: rotate\n    angle_range: !!python/object/apply:os.system ["touch {marker}"]\n',
    '!!python/object/apply:subprocess.check_call [["touch", "{marker}"]]\n',
    'ops:\n  - op: albumentations\n    transform: CLAHE\n    args: '
    '!!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n',
    'ops: !!python/name:os.system\n',
    'ops: !!python/module:os\n',
    'x: !!python/object/apply:builtins.exec ["open(\'{marker}\', \'w\').close()"]\nops: []\n',
]


@pytest.mark.parametrize("payload", CODE_PAYLOADS)
def test_yaml_that_tries_to_run_code_runs_nothing(tmp_path, payload):
    marker = tmp_path / "pwned"
    message = _load_error(tmp_path, payload.format(marker=marker))
    assert not marker.exists(), "the YAML payload ran code"
    assert "YAML" in message or "ops" in message or "x" in message


@pytest.mark.parametrize("text, fragment", [
    ("- op: rotate\n", "a mapping"),
    ("just a string\n", "a mapping"),
    ("42\n", "a mapping"),
    ("", "a mapping"),
    ("# only a comment\n", "a mapping"),
    ("version: 1\n", "ops"),
    ("fill_mode: nearest\n", "ops"),
])
def test_non_mapping_or_missing_ops_is_rejected(tmp_path, text, fragment):
    message = _load_error(tmp_path, text)
    assert fragment in message


@pytest.mark.parametrize("text, suffix, fragment", [
    ("ops: [\n", ".yaml", "not valid YAML"),
    ("ops:\n  - op: rotate\n   angle_range: [1, 2]\n", ".yaml", "not valid YAML"),
    ('{"ops": [],}', ".json", "not valid JSON"),
    ("ops: []\n", ".json", "not valid JSON"),
    ("[1, 2", ".json", "not valid JSON"),
])
def test_syntax_errors_name_the_file_and_format(tmp_path, text, suffix, fragment):
    message = _load_error(tmp_path, text, f"p{suffix}")
    assert fragment in message


@pytest.mark.parametrize("data", [
    bytes(range(256)) * 4,                                     # not UTF-8
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,     # an image renamed .yaml
    b"ops: []\x00\x01\x02",                                    # control characters
    b"\xef\xbb\xbf\xff\xfe garbage",
])
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_binary_garbage_is_a_spec_error_with_the_path(tmp_path, data, suffix):
    _load_error(tmp_path, data, f"p{suffix}")


@pytest.mark.parametrize("name", ["p.txt", "p", "p.yaml.bak", "p.toml"])
def test_wrong_suffix_is_rejected_on_load_and_save(tmp_path, name):
    path = _write(tmp_path / name, "ops: []\n")
    with pytest.raises(SpecError) as info:
        augkit.load(path)
    assert str(path) in str(info.value) and ".yaml, .yml or .json" in str(info.value)
    with pytest.raises(SpecError, match=r"\.yaml, \.yml or \.json"):
        augkit.Pipeline.default().save(tmp_path / f"out-{name}")


def test_suffix_is_case_insensitive(tmp_path):
    augkit.Pipeline.default().save(tmp_path / "P.YAML")
    assert augkit.load(tmp_path / "P.YAML") == augkit.Pipeline.default()


def test_missing_file_and_directory_are_spec_errors_with_the_path(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        augkit.load(missing)
    assert str(missing) in str(info.value) and "cannot read" in str(info.value)
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    with pytest.raises(SpecError) as info:
        augkit.load(directory)
    assert str(directory) in str(info.value)


def test_spec_errors_are_value_errors():
    with pytest.raises(ValueError):
        augkit.Pipeline.from_dict({"ops": [{"op": "rotat"}]})


def test_yaml_alias_bomb_fails_fast_with_a_short_message(tmp_path):
    # ~200 bytes that expand to 9**7 strings when printed in full
    items = ['&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    items += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 7)]
    text = "cval: [" + ", ".join(items) + "]\nops: []\n"
    start = time.perf_counter()
    message = _load_error(tmp_path, text)
    assert time.perf_counter() - start < 2.0
    assert message.startswith(f"{tmp_path / 'p.yaml'}: cval: got ")
    assert len(message) < 2000, f"error message is {len(message)} characters long"


# -- pipeline settings ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, fragments", [
    ({"fill_mode": "mirror"},
     ["fill_mode", "'mirror'", "'nearest', 'constant', 'reflect', 'wrap'"]),
    ({"fill_mode": "Nearest"}, ["fill_mode", "did you mean 'nearest'"]),
    ({"fill_mode": None}, ["fill_mode", "None"]),
    ({"interpolation": "cubic"}, ["interpolation", "'cubic'", "'bilinear', 'nearest'"]),
    ({"interpolation": "bilinar"}, ["interpolation", "did you mean 'bilinear'"]),
    ({"cval": float("nan")}, ["cval", "nan", "a number"]),
    ({"cval": True}, ["cval", "True", "a number"]),
    ({"cval": [0, 0, 0]}, ["cval", "[0, 0, 0]", "a number"]),
    ({"value_range": (0, float("inf"))}, ["value_range", "inf"]),
    ({"value_range": (255, 0)}, ["value_range", "255, 0"]),
    ({"value_range": 1.0}, ["value_range", "1.0", "a pair"]),
])
def test_pipeline_settings_are_validated(kwargs, fragments):
    with pytest.raises(SpecError) as info:
        augkit.Pipeline([], **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} missing from: {info.value}"


@pytest.mark.parametrize("ops", ["rotate", {"op": "rotate"}, 3, [3], [None]])
def test_pipeline_ops_argument_is_validated(ops):
    with pytest.raises(SpecError, match=r"ops"):
        augkit.Pipeline(ops)


def test_valid_settings_round_trip():
    pipe = augkit.Pipeline([], fill_mode="wrap", cval=-2.5, interpolation="nearest",
                           value_range=[-1, 1])
    d = pipe.to_dict()
    assert d["fill_mode"] == "wrap" and d["cval"] == -2.5 and d["value_range"] == [-1.0, 1.0]
    assert augkit.Pipeline.from_dict(d) == pipe

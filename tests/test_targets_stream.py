"""``augkit.stream`` with masks, boxes and keypoints: dict elements, ragged boxes, alignment."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import augkit
from augkit import ops

N, H, W = 10, 16, 20


def _data():
    """Image ``i`` carries ``i`` in its pixels, its label, its mask, its boxes' labels and its
    keypoints' labels, so any misalignment shows."""
    x = np.repeat(np.arange(N, dtype=np.uint8)[:, None, None, None] * 20, H * W * 3).reshape(
        N, H, W, 3)
    masks = np.zeros((N, H, W), np.int32)
    boxes, box_labels, points, point_labels = [], [], [], []
    for i in range(N):
        k = i % 3  # 0, 1 or 2 boxes: ragged
        rows = np.array([[2 + j * 8, 3, 7 + j * 8, 11] for j in range(k)], np.float32)
        for j, (x0, y0, x1, y1) in enumerate(rows.astype(int)):
            masks[i, y0:y1, x0:x1] = 100 * i + j + 1
        boxes.append(rows.reshape(-1, 4))
        box_labels.append(np.array([f"img{i}-box{j}" for j in range(k)]))
        points.append(np.array([[1.0 + i, 2.0], [30.0, 2.0]], np.float32))  # the 2nd: outside
        point_labels.append(np.array([10 * i, 10 * i + 1]))
    return x, np.arange(N), masks, boxes, box_labels, points, point_labels


PIPE = augkit.Pipeline([ops.FlipHorizontal(p=0.5), ops.Rotate(angle_range=(-10, 10)),
                        ops.Brightness(), ops.Rescale()], targets={"min_visibility": 0.1})


@pytest.mark.parametrize("backend", ["cv", "tf"])
def test_stream_elements_are_dicts_with_ragged_targets_kept_aligned(backend):
    x, y, masks, boxes, box_labels, points, point_labels = _data()
    ds = augkit.stream(x, y, pipeline=PIPE, batch_size=4, seed=3, backend=backend, masks=masks,
                       bboxes=boxes, bbox_labels=box_labels, keypoints=points,
                       keypoint_labels=point_labels)
    spec = ds.element_spec
    assert set(spec) == {"images", "labels", "masks", "bboxes", "bbox_labels", "keypoints",
                         "keypoint_labels"}
    assert isinstance(spec["bboxes"], tf.RaggedTensorSpec) and spec["bboxes"].dtype == tf.float32
    assert spec["bboxes"].shape.as_list() == [None, None, 4]
    assert spec["masks"].shape.as_list() == [None, H, W]
    seen = []
    for batch in ds:
        labels = batch["labels"].numpy()
        seen += labels.tolist()
        images = batch["images"].numpy()
        for b, i in enumerate(labels):
            # the image's brightness factor is in [0.8, 1.2] around 20 * i / 255
            assert abs(images[b].mean() - 20 * i / 255) <= 0.2 * 20 * i / 255 + 1e-3
            object_values = set(np.unique(batch["masks"][b].numpy()).tolist()) - {0}
            assert all(v // 100 == i for v in object_values)
            names = [s.decode() for s in batch["bbox_labels"][b].numpy()]
            assert all(name.startswith(f"img{i}-") for name in names)
            assert len(names) == len(batch["bboxes"][b]) == i % 3  # nothing leaves the image
            assert batch["keypoint_labels"][b].numpy().tolist() == [10 * i]  # (30, 2): outside
            assert len(batch["keypoints"][b]) == 1
    assert sorted(seen) == list(range(N))


def test_stream_targets_equal_the_batch_call():
    """Element ``i`` of the stream is what ``pipeline.augment`` gives with index ``i``."""
    x, y, masks, boxes, _, points, _ = _data()
    ds = augkit.stream(x, y, pipeline=PIPE, batch_size=N, seed=3, shuffle=False, masks=masks,
                       bboxes=boxes, keypoints=points)
    batch = next(iter(ds))
    want = PIPE.augment(x, masks=masks, bboxes=boxes, keypoints=points, seed=3,
                        index=np.arange(N))
    assert np.array_equal(batch["masks"].numpy(), want["masks"])
    for got, expected in zip(batch["bboxes"], want["bboxes"]):
        np.testing.assert_allclose(got.numpy().reshape(-1, 4), expected, atol=1e-5)
    # brightness precedes the rescale, so the cv side runs it all (pipeline.split_tail)
    np.testing.assert_array_equal(batch["images"].numpy(), want["images"])


def test_stream_without_pipeline_passes_targets_through_and_flags_on_request():
    x, y, _, boxes, _, points, _ = _data()
    ds = augkit.stream(x, None, pipeline=None, batch_size=3, shuffle=False, bboxes=boxes)
    first = next(iter(ds))
    assert set(first) == {"images", "bboxes"}
    assert first["bboxes"].to_list() == [[], [[2.0, 3.0, 7.0, 11.0]],
                                         [[2.0, 3.0, 7.0, 11.0], [10.0, 3.0, 15.0, 11.0]]]
    flag = augkit.Pipeline([ops.Brightness()], targets={"keypoint_mode": "flag"})
    for backend in ("cv", "tf"):
        ds = augkit.stream(x, y, pipeline=flag, batch_size=5, shuffle=False, keypoints=points,
                           backend=backend)
        kp = next(iter(ds))["keypoints"]
        assert kp.shape.as_list() == [5, None, 3]
        assert kp[0].numpy().tolist() == [[1.0, 2.0, 1.0], [30.0, 2.0, 0.0]]


def test_stream_rejects_targets_it_cannot_carry(tmp_path):
    x, y, masks, boxes, *_ = _data()
    with pytest.raises(augkit.InputError, match=r"bboxes\[3\]\[0\]: .* reaches outside"):
        bad = [b.copy() for b in boxes]
        bad[3] = np.array([[0, 0, 25, 4]], np.float32)
        augkit.stream(x, y, pipeline=PIPE, bboxes=bad)
    with pytest.raises(augkit.InputError, match="masks: expected shape"):
        augkit.stream(x, y, pipeline=PIPE, masks=masks[:, :, :5])
    with pytest.raises(ValueError, match="masks, boxes and keypoints need an array source"):
        augkit.stream(str(tmp_path), pipeline=PIPE, bboxes=boxes)
    with pytest.raises(augkit.InputError, match="bbox_labels: given without bboxes"):
        augkit.stream(x, y, pipeline=PIPE, bbox_labels=[[]] * N)

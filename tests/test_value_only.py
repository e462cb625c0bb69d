import numpy as np

import augkit
from augkit.expansion import expand


def test_value_only_and_npz_original(tmp_path):
    pipe = augkit.Pipeline.from_keras(rotation_range=20, horizontal_flip=True, rescale=1 / 255)
    vo = pipe.value_only()
    assert [op.name for op in vo.ops] == ["rescale"] and vo.value_range == pipe.value_range
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(5))
    expand(tmp_path / "d.npz", tmp_path / "o", pipeline=pipe, copies=1, format="npz",
           workers=1, scheduler="synchronous")
    xs, ys = augkit.stream(str(tmp_path / "o"), pipeline=None, batch_size=10,
                           shuffle=False).as_numpy_iterator().next()
    assert xs.dtype == np.float32 and xs.max() <= 1.0 and len(xs) == 10
    originals = np.sort(xs.reshape(10, -1), axis=1)
    ref = np.sort(x.reshape(5, -1) / np.float32(255), axis=1)
    # each original appears, rescaled like the copies
    assert all(np.isclose(originals, r, atol=1e-6).all(axis=1).any() for r in ref)

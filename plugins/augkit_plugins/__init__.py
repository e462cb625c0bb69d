"""augkit's built-in model plugins: ``bncnn`` and ``transfer``.

They are registered through the entry-point group ``augkit.models`` in augkit's
``pyproject.toml``, exactly as a third-party package would register its own (see
``docs/models.md``). Use them through :mod:`augkit.models`::

    import augkit.models
    model = augkit.models.get("bncnn").build(10, (32, 32, 3))

Importing this package or its plugin modules does not import TensorFlow or Keras (``augkit
models`` lists plugins without them); ``build`` and ``train`` import Keras. Models are made of
Keras' built-in layers only, so a saved model reloads with plain ``keras.models.load_model`` in
any process, without ``custom_objects`` and without importing augkit.
"""

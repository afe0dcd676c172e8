"""What the BP4D, DISFA and Bosphorus TFDS builders share: config checks, preparing, opening."""

import os

import tensorflow_datasets as tfds


__all__ = ["BYTES", "check_config", "open_data_source", "prepare_builder"]

# Image-sized tensors are stored as one raw byte string (decoded with np.frombuffer) instead of a
# protobuf int64/float list: building the 32,800-frame small BP4D-like set spent ~45 s of ~140 s
# turning 64 x 64 x 3 crops into int64 lists (cProfile, this 2-core CPU); reading back pays the same.
BYTES = tfds.features.Encoding.BYTES


def check_config(builder_cls, config: str) -> None:
    """Raises ``ValueError`` unless ``config`` names one of ``builder_cls``'s configs."""
    names = [c.name for c in builder_cls.BUILDER_CONFIGS]
    if config not in names:
        raise ValueError(f"config: expected one of {names}, got {config!r}")


def prepare_builder(builder_cls, manual_dir, data_dir, config: str):
    """Builds ``builder_cls(config)`` into ``data_dir`` from ``manual_dir`` as array_record files."""
    check_config(builder_cls, config)
    builder = builder_cls(config=config, data_dir=os.fspath(data_dir), file_format="array_record")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)),
        file_format="array_record",
    )
    return builder


def open_data_source(builder_cls, data_dir, split: str, config: str, *, build_fn: str):
    """The random-access ``ArrayRecordDataSource`` of a prepared split.

    Raises:
        ValueError: unknown config, or a config not prepared under ``data_dir`` (the message
            names ``build_fn``, the function that prepares it).
    """
    check_config(builder_cls, config)
    builder = builder_cls(config=config, data_dir=os.fspath(data_dir), file_format="array_record")
    if not builder.is_prepared():
        raise ValueError(
            f"config: {config!r} is not prepared under data_dir {data_dir} "
            f"(run {build_fn} with this config first)"
        )
    return builder.as_data_source(split=split)

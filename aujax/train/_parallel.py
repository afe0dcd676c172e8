"""Data parallelism on a device mesh (DESIGN §8, REFERENCE §11.1): no ``jax.pmap``.

One 1-D mesh with a ``'data'`` axis over all devices (of all processes). Parameters and optimizer
state are replicated (``P()``), batches are sharded along their leading axis (``P('data')``),
and one ``jax.jit`` step in global view lets XLA insert the gradient all-reduce. The same code
runs on one CPU, several GPUs and a TPU slice; multi-host runs call :func:`initialize` first
and feed each process its own slice of the global batch (:func:`shard_batch`).
"""

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P


__all__ = [
    "DATA_AXIS",
    "batch_sharding",
    "data_mesh",
    "initialize",
    "replicate",
    "replicated_sharding",
    "shard_batch",
]

DATA_AXIS = "data"


def initialize() -> None:
    """Starts ``jax.distributed`` for a multi-host run (a no-op when there is one process).

    Call once at program start, before any other JAX call, on every host. On Cloud TPU and SLURM
    the coordinator address and process ids are found from the environment.
    """
    import os

    if any(k in os.environ for k in ("JAX_COORDINATOR_ADDRESS", "SLURM_NTASKS", "TPU_WORKER_ID")):
        jax.distributed.initialize()


def data_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1-D mesh with axis ``'data'`` over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices: expected at least one device.")
    return jax.sharding.Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimizer state)."""
    return NamedSharding(mesh, P())


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
    """The leading (batch) axis split over ``'data'``."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicate(tree, mesh: jax.sharding.Mesh):
    """Places every array leaf of ``tree`` on all devices of ``mesh``."""
    return jax.device_put(tree, replicated_sharding(mesh))


def shard_batch(batch, mesh: jax.sharding.Mesh):
    """Builds global batch arrays from this process's slice (``jax.make_array_from_process_local_data``).

    Args:
        batch: a pytree of host arrays, each (local_batch, ...); ``local_batch`` must divide
            evenly over this process's devices.
        mesh: the data mesh.

    Returns:
        The same pytree of global ``jax.Array``s of leading size ``local_batch * process_count``,
        sharded along ``'data'``.

    Raises:
        ValueError: a leaf whose leading size does not divide over the local devices.
    """
    sharding = batch_sharding(mesh)
    n_local = len([d for d in mesh.devices.flat if d.process_index == jax.process_index()])

    def put(path, x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] % n_local:
            raise ValueError(
                f"batch leaf {jax.tree_util.keystr(path)} has shape {x.shape}: its leading "
                f"(batch) size must be a multiple of the {n_local} local devices."
            )
        return jax.make_array_from_process_local_data(sharding, x)

    return jax.tree_util.tree_map_with_path(put, batch)

"""Test configuration: float64 physics, strict promotion, four fake CPU devices."""

import gc
import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
try:  # must run before the backend initialises; harmless if it already did
    jax.config.update("jax_num_cpu_devices", 4)
except RuntimeError:  # pragma: no cover
    pass


_CACHE_ENV = "AUJAX_TEST_JAX_CACHE"


def pytest_configure(config):
    """JAX's persistent compilation cache, shared by the xdist workers of one run.

    Most of the suite's time is XLA compiling the same programs again: a new jitted closure per
    test, the same model in both workers. The controller makes a fresh directory and hands it to
    the workers through the environment (they inherit it); an executable loaded from the cache is
    the one the compiler would produce, so no result changes. Set before any test module is
    imported, i.e. before the first compilation. ``$JAX_COMPILATION_CACHE_DIR`` wins; the
    directory is removed when the run ends.
    """
    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return
    if not os.environ.get(_CACHE_ENV):
        os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="aujax-test-jax-cache-")
        config._aujax_owns_jax_cache = True  # noqa: SLF001
    jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


def pytest_unconfigure(config):
    if getattr(config, "_aujax_owns_jax_cache", False):
        shutil.rmtree(os.environ.pop(_CACHE_ENV), ignore_errors=True)


def _map_limit() -> int | None:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):  # not Linux: no such limit to watch
        return None


_MAP_LIMIT = _map_limit()


def _memory_maps() -> int:
    with open(f"/proc/{os.getpid()}/maps", "rb") as f:
        return sum(1 for _ in f)


def pytest_runtest_teardown(item, nextitem):
    """Drop JAX's compiled executables when this process nears the kernel's memory-map limit.

    Every executable XLA:CPU keeps alive holds about three memory mappings of its JIT-compiled
    code, and JAX's jit caches keep every one this process compiled. One xdist worker of the
    suite compiles tens of thousands: near the end of a run one reached 64,548 maps of Linux's
    default ``vm.max_map_count`` (65,530), and a compilation segfaulted inside LLVM (a worker
    crash in whichever test compiled then, seen in test_topdown_tracking and test_topdown_robust).
    Past three quarters of the limit the caches are cleared (once or twice per worker and run);
    later tests recompile (or load from the persistent cache above) what they need. Results do
    not change. The full suite on the 2-core CPU: 14 min 58 s with this threshold, 14 min 8 s
    when clearing at half the limit, 13 min 10 s before (the run that crashed).
    """
    if _MAP_LIMIT is not None and _memory_maps() > 3 * _MAP_LIMIT // 4:
        jax.clear_caches()
        gc.collect()


@pytest.fixture(scope="module")
def fast_compile():
    """XLA's optimisations off for one module (``pytestmark = pytest.mark.usefixtures(
    "fast_compile")``), restored after it: most of such a module's time is compiling small
    problems and many small eager ops (REFERENCE §12.19), not running them."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture
def getkey():
    """Returns a callable that yields a fresh typed PRNG key each call."""
    counter = iter(range(10**9))
    base = jax.random.key(0)

    def _getkey():
        return jax.random.fold_in(base, next(counter))

    return _getkey


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8):
    """True if two pytrees have the same structure and allclose leaves."""
    lx, tx = jax.tree.flatten(x)
    ly, ty = jax.tree.flatten(y)
    if tx != ty:
        return False
    return all(
        np.allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
        for a, b in zip(lx, ly, strict=False)
    )


@pytest.fixture
def f64():
    return jnp.float64


@pytest.fixture(scope="session")
def augane_model():
    """A morphable model on the 400-vertex template: 6 subjects (identity from the template's
    modes), 5 expressions from 4 smooth fields, 3 albedo samples."""
    from aujax.face import MorphableModel, identity_basis, make_face

    face = make_face(400, seed=0)
    rng = np.random.default_rng(0)
    basis = np.asarray(identity_basis(face), np.float64)
    neutral = np.asarray(face.vertices, np.float64)[None] + np.einsum(
        "sj,jnd->snd", rng.normal(size=(6, basis.shape[0])), basis
    )
    xy = np.asarray(face.param_xy, np.float64)
    centres = rng.uniform([-5.0, -8.0], [5.0, 4.0], size=(4, 2))
    bumps = np.exp(-np.sum((xy[None] - centres[:, None]) ** 2, axis=2) / 8.0)
    fields = bumps[..., None] * rng.normal(scale=0.6, size=(4, 1, 3))
    offsets = np.einsum("sef,fnd->send", rng.normal(size=(6, 5, 4)), fields)
    data = np.concatenate([neutral[:, None], neutral[:, None] + offsets], axis=1)
    albedo = rng.uniform(0.3, 0.8, size=(3, face.n_vertices, 3))
    return MorphableModel.from_facewarehouse(data, template=face, albedo=albedo)

"""The shared cache-key digest (aujax._digest)."""

import numpy as np

from aujax._digest import array_digest


def test_array_digest_names_shape_dtype_and_bytes():
    a = np.arange(6.0).reshape(2, 3)
    assert array_digest(a) == array_digest(a.copy()) and len(array_digest(a)) == 12
    assert array_digest(a) != array_digest(a.astype(np.float32))  # dtype
    assert array_digest(a) != array_digest(a.reshape(3, 2))  # shape, same bytes
    b = a.copy()
    b[1, 2] = np.nextafter(b[1, 2], 10.0)  # one ulp
    assert array_digest(a) != array_digest(b)
    assert array_digest({"x": a, "y": None}) == array_digest(a)  # None leaves skipped
    assert array_digest(a, b) != array_digest(b, a)  # order
    assert len(array_digest(a, length=6)) == 6

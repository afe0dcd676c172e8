"""The anatomical layout of the procedural face, in centimetres.

Every feature of the embedded template is placed from the constants and smooth fields in this
module, so the same semantics hold at every mesh resolution. Coordinates are the model frame of
DESIGN §2: x toward the subject's left, y up, z toward the camera; the origin sits on the midline
between the eyes, a little below the nasion. "Right" means the subject's right (negative x).

The surface is a height field z = height(x, y) over a face-shaped domain, with two eye slits and a
mouth slit opened into lid and lip apertures (`opening_offset`).
"""

import numpy as np


# --- outline and key heights -------------------------------------------------------------------
Y_TOP = 9.0  # hairline
Y_BOTTOM = -12.5  # under the chin, where the neck begins
Y_EYE = 1.8  # palpebral line (eye slits)
Y_MOUTH = -5.6  # oral fissure (mouth slit)
EYE_INNER = 1.6  # |x| of the inner canthi
EYE_OUTER = 4.6  # |x| of the outer canthi
MOUTH_HALF = 2.45  # |x| of the inner mouth corners
EYE_HALF_OPEN = 0.5  # half height of the palpebral fissure at its widest
MOUTH_HALF_OPEN = 0.06  # half height of the resting mouth aperture
OPENING_FALLOFF = 1.2  # distance over which an aperture fades (keeps the warp monotone)
JAW_CENTRE_Y = 1.0  # jaw contour: ellipse centre (the ear level) ...
JAW_AXES = (6.7, 11.5)  # ... and semi-axes (x, y); the chin (landmark 8) sits at y = -10.5
JAW_PIVOT = np.array([0.0, 1.2, -8.5])  # temporomandibular hinge axis passes through here, along x


def half_width(y: np.ndarray) -> np.ndarray:
    """Half width of the face domain at height y (an egg-shaped outline)."""
    y = np.asarray(y, dtype=np.float64)
    upper = 7.2 * np.sqrt(np.clip(1.0 - (y / 11.0) ** 2, 0.05, None))
    lower = 7.2 * (1.0 - 0.45 * np.clip(-y / 12.5, 0.0, None) ** 1.6)
    return np.where(y >= 0.0, upper, lower)


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def jaw_ellipse_radius(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Normalised radius of (x, y) in the jaw ellipse (1 on the jaw contour), lower half only."""
    a, b = JAW_AXES
    yy = np.minimum(y - JAW_CENTRE_Y, 0.0)
    return np.sqrt((x / a) ** 2 + (yy / b) ** 2)


def height(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The neutral face as a height field z(x, y) (cm, toward the camera)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ax = np.abs(x)
    z = -(x**2) / 14.0 - (y + 1.0) ** 2 / 40.0
    # sides turn back toward the ears
    rel = ax / half_width(y)
    z -= 4.0 * np.clip((rel - 0.7) / 0.3, 0.0, None) ** 2
    # under the jaw line the surface turns back toward the neck
    e = jaw_ellipse_radius(x, y)
    z -= 25.0 * np.clip(e - 1.0, 0.0, None) ** 2 * (y < JAW_CENTRE_Y)
    # forehead and brow ridges, eye sockets
    z += 0.6 * (_gauss(x, y, -3.0, 3.1, 2.2, 0.8) + _gauss(x, y, 3.0, 3.1, 2.2, 0.8))
    z -= 1.0 * (_gauss(x, y, -3.1, 1.9, 1.6, 1.0) + _gauss(x, y, 3.1, 1.9, 1.6, 1.0))
    # nose: a ridge from the nasion to the tip, then down to the subnasale, plus alae
    t = np.clip((1.8 - y) / 4.6, 0.0, 1.0)  # 0 at nasion, 1 at the tip (y = -2.8)
    ridge_h = 0.5 + 2.1 * t**1.5
    ridge_w = 0.55 + 0.55 * t
    below_tip = np.clip((-2.8 - y) / 0.8, 0.0, None)
    ridge_h = ridge_h * np.exp(-(below_tip**2) * 2.0)
    in_nose = (y < 2.6).astype(np.float64) * np.clip((2.6 - y) / 0.8, 0.0, 1.0)
    z += in_nose * ridge_h * np.exp(-0.5 * (x / ridge_w) ** 2)
    z += 0.75 * (_gauss(x, y, -1.45, -3.05, 0.55, 0.5) + _gauss(x, y, 1.45, -3.05, 0.55, 0.5))
    # cheeks (zygoma)
    z += 0.8 * (_gauss(x, y, -3.9, -1.2, 1.8, 1.5) + _gauss(x, y, 3.9, -1.2, 1.8, 1.5))
    # lips, mentolabial sulcus, chin boss
    z += 0.7 * _gauss(x, y, 0.0, -5.15, 2.2, 0.55)
    z += 0.6 * _gauss(x, y, 0.0, -6.05, 1.9, 0.55)
    z -= 0.3 * _gauss(x, y, 0.0, -7.1, 1.6, 0.45)
    z += 0.7 * _gauss(x, y, 0.0, -8.6, 1.8, 1.1)
    return z


def eye_opening_profile(ax: np.ndarray) -> np.ndarray:
    """Half height of the palpebral fissure at |x| = ax (0 at both canthi)."""
    t = np.clip((ax - EYE_INNER) / (EYE_OUTER - EYE_INNER), 0.0, 1.0)
    return EYE_HALF_OPEN * np.sin(np.pi * t) ** 0.8 * (1.0 + 0.25 * (0.5 - t))


def mouth_opening_profile(ax: np.ndarray) -> np.ndarray:
    """Half height of the resting mouth aperture at |x| = ax (0 at the inner corners)."""
    t = np.clip(ax / MOUTH_HALF, 0.0, 1.0)
    return MOUTH_HALF_OPEN * np.sqrt(np.clip(1.0 - t**2, 0.0, None))


def opening_offset(x: np.ndarray, y: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Vertical offset that opens the slits into apertures.

    Args:
      x, y: parameter-plane coordinates, shape (n,).
      side: +1 above a slit (or an upper slit copy), -1 below, shape (n,).

    Returns:
      dy, shape (n,): monotone in y within each column, so the triangulation stays valid.
    """
    ax = np.abs(x)
    fall_e = np.clip(1.0 - np.abs(y - Y_EYE) / OPENING_FALLOFF, 0.0, None) ** 2
    fall_m = np.clip(1.0 - np.abs(y - Y_MOUTH) / OPENING_FALLOFF, 0.0, None) ** 2
    side_e = np.where(y > Y_EYE, 1.0, np.where(y < Y_EYE, -1.0, side))
    side_m = np.where(y > Y_MOUTH, 1.0, np.where(y < Y_MOUTH, -1.0, side))
    return side_e * eye_opening_profile(ax) * fall_e + side_m * mouth_opening_profile(ax) * fall_m

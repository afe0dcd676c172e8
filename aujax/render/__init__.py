"""Rendering: hard z-buffer rasterizer, batched splatting, soft rasterizer (SoftRas, differentiable
through visibility), Lambert and spherical-harmonic shading, image I/O, and image features (HOG as
``skimage.feature.hog``, bilinear patches).

Cameras (``OrthoCamera``, ``frame_vertices``, ``look_rotation``, ``project``) and their frame
convention live in :mod:`aujax.geometry`.
"""

from ._hog import (
    BLOCK_NORMS as BLOCK_NORMS,
    extract_patches as extract_patches,
    hog as hog,
    hog_shape as hog_shape,
    hog_size as hog_size,
)
from ._image_io import (
    contact_sheet as contact_sheet,
    draw_points as draw_points,
    save_png as save_png,
    to_uint8 as to_uint8,
)
from ._rasterizer import (
    Fragments as Fragments,
    RenderOutput as RenderOutput,
    interpolate as interpolate,
    rasterize as rasterize,
    render as render,
    shade as shade,
    vertex_normals as vertex_normals,
)
from ._soft import (
    SoftBlend as SoftBlend,
    SoftFragments as SoftFragments,
    SoftRenderOutput as SoftRenderOutput,
    sh_shading as sh_shading,
    soft_blend as soft_blend,
    soft_rasterize as soft_rasterize,
    soft_render as soft_render,
)
from ._splat import render_splat as render_splat

"""Rendering: orthographic camera, hard z-buffer rasterizer, Lambert shading, image I/O."""

from ._camera import (
    OrthoCamera as OrthoCamera,
    frame_vertices as frame_vertices,
    look_rotation as look_rotation,
    project as project,
    to_camera_frame as to_camera_frame,
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
    rasterize_tiles as rasterize_tiles,
    render as render,
    shade as shade,
    tile_extent as tile_extent,
    vertex_normals as vertex_normals,
)
from ._splat import render_splat as render_splat

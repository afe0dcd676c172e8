"""AU analysis methods built on the face, physics and geometry layers.

* :mod:`aujax.methods.topdown` — the top-down blendshape engine of seed 000 (landmarks -> AU levels).
"""

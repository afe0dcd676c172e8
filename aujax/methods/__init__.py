"""AU analysis methods built on the face, physics and geometry layers.

* :mod:`aujax.methods.topdown` — the top-down blendshape engine of seed 000 (landmarks -> AU levels).
* :mod:`aujax.methods.physics` — biomechanics-guided AU detection of seed 001 (the main job).
* :mod:`aujax.methods.ausynth` — AU-conditioned 3D expression synthesis (CGAN / CAAE) of seed 002.
* :mod:`aujax.methods.augane` — seed 003's AU detector and DECA-like encoder (AUGANE's parts).
* :mod:`aujax.methods.sdm` — 3D face from one image by cascaded regression of seed 004.
"""

"""aujax: facial action unit analysis guided by facial anatomy and biomechanics, in JAX."""

__version__ = "0.1.0"

"""Command-line tools: `python -m tools.<name>` (render_face, gradcheck, verify_reduction, bench)."""

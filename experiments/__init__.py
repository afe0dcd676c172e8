"""The experiments layer: ``python -m experiments.<name>`` launchers, their configs, notebooks.

``run_experiment(config, workdir)`` runs the experiment ``config.experiment`` names, as the
commands do (``experiments/_launch.py``).
"""

from ._launch import EXPERIMENTS as EXPERIMENTS, run_experiment as run_experiment

"""`python -m experiments.disfa_augane`: AU-aware 3D face reconstruction with graph attention and
a differentiable renderer (seed 003, AUGANE).

An AU detector (the ME-GraphAU stand-in) and a DECA-like encoder are trained on fold 1's
training subjects of the DISFA-like set; GANE (the detector's AU nodes and the encoder's global
feature -> graph attention -> transformer with a query token -> expression, pose, camera) is
trained with the AU-aware losses (eqs. 4-8) through the soft renderer and the frozen detector; an
EMOCA-like baseline fine-tunes the encoder's expression with the AU feature loss alone. On the
fold's nine test subjects it prints Table 2 (F1 agreement of the detector on the input and on
the render, per subject) and Table 3 (per AU) with the paper's numbers beside ours, and, beyond
the paper, F1 against the true labels and 3D landmark errors against the synthetic truth. With
no flags it runs the ``small`` preset on this machine; the synthetic DISFA-like copy is generated
once (cached in ``~/.cache/aujax``, shared with ``experiments.disfa_synthesis``). Rerunning the
same command resumes a killed run; ``python -m experiments.evaluate --workdir WORKDIR`` restores
the networks and reprints the tables.

    python -m experiments.disfa_augane                                   # small preset
    python -m experiments.disfa_augane --config=experiments/configs/disfa_augane.py:tiny

The training function is importable: ``from aujax.methods.augane import train_and_evaluate``.
"""

from experiments._launch import command


main = command("disfa_augane")  # --config, --workdir

if __name__ == "__main__":
    main()

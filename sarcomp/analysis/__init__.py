"""Above evaluation: collect evaluated runs, statistics (seed spread, Welch, Bjøntegaard), the
experiment-plan report, its Markdown, RD plots and TensorBoard text (what ``scripts/compare.py``
prints)."""

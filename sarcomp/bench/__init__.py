"""Benchmarks of issue 14 (``scripts/benchmark.py``): one module per section.

``measure`` (timing, peak memory, machine), ``train_step``, ``codec_speed``, ``attention_scaling``,
``loading``, ``scene``, then ``targets`` (the speed targets, met or not) and ``report`` (JSON +
Markdown); ``run`` ties them together.
"""

"""Benchmarks of the bot's hot paths, run as ``python -m bench <name> [--quick] [options]``.

Each benchmark is a module of this package with a ``main(argv) -> int``, registered by name in
:mod:`bench.__main__`. Every benchmark prints, through :mod:`bench.report`, a table of our figure
beside a baseline figure and their ratio, the machine it ran on and the exact command line, so
that two runs can be compared. ``--quick`` keeps a run under half a minute (for CI and smoke
tests); ``--check`` makes a missed target a non-zero exit status.

Benchmarks read real text from the workspace's shared corpus (``../shared/corpus``) when it is
there, and fall back to synthetic text otherwise; the corpus is never copied into the project.
"""

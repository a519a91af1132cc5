"""The benchmark suite: scripts that time ``reconcile`` and print tables; run ``python -m benchmarks all``.

Each benchmark is a module here with a ``main(argv)`` function and its method in
its docstring. Nothing here asserts a time: the figures are printed and the
reproduction steps are in ``docs/performance.md``.
"""

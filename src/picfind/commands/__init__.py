"""Commands that live in modules of their own (``serve``, ``eval``…).

Each module here defines a click command and attaches it to ``picfind.cli.cli``
with ``@cli.command()``; ``picfind.cli`` imports every module of this package
at start-up. Keep their top-level imports light (import heavy libraries inside
the command function), so ``picfind --help`` stays fast.
"""

"""One module per ``imu-valgus`` subcommand.

Each module defines ``register(subparsers)``, which adds its parser and sets
``run=<function(args) -> int>`` as a default; :mod:`imu_valgus.cli` lists them in
``COMMANDS``.
"""

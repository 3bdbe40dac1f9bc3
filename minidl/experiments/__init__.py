"""Experiments: one module per experiment, each a ``run(args)`` behind the ``minidl`` command."""

"""The ``finance`` command line."""

"""The test suite: real processes (see tests/procs.py and tests/conftest.py)."""

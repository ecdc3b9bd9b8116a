"""The composition root: settings, the command line (`aegis`, `python -m collector`), and the
server that builds every service and wires it to the gRPC API, the jobs and the database.

May import every other subpackage; nothing imports it (but `collector/__main__.py`)."""

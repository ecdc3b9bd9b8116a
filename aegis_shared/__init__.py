"""What the server's processes share that is neither collector nor gateway: logging set-up,
child processes, the ports check, the JSON mapping of events and its plain-words errors, Structs
as plain JSON, and the signed caller address the gateway forwards to the collector.

Imports only the standard library, protobuf, grpc and the generated messages; never the
collector, the gateway or the stack. The SDK does not use it (it installs without the server).
"""

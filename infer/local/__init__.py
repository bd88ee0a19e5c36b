"""The local Lambda emulator: function URL front end -> Runtime API -> awslambdaric subprocesses."""

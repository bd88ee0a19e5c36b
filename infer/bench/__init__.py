"""Cold and warm start measurement: locally through the emulator (`local`), or a deployed function (`aws`)."""


class BenchError(Exception):
    """A failure to report in one line; `code` is the exit code (2: the user's input)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code

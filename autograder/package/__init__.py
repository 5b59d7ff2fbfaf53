"""``grade package ...``: turn this project into what a course platform runs."""


class PackageError(Exception):
    """A package (the Gradescope zip, the handout, the notebook questions) cannot be built as
    asked; the message names the file or option and what to change."""

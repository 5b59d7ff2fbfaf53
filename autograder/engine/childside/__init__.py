"""Code that runs inside the sandboxed child process.

Self-contained on purpose: it imports only the standard library and numpy, and only relatively
within this package, because the sandbox copies this folder next to the submission and runs it
where the rest of ``autograder`` is hidden.
"""

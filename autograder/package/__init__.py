"""``grade package ...``: turn this project into what a course platform runs."""

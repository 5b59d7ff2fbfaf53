"""``grade batch``: grade a whole class on one machine, in parallel, resumably.

* ``discover``: which submissions a class folder holds, and whose they are;
* ``cache``: content digests, and the results of earlier runs keyed by them;
* ``worker``: grades one submission in a process of its own;
* ``grade``: runs the workers in parallel under a wall-clock limit, with a progress bar;
* ``gradebook``: the CSV and the per-student feedback files;
* ``summary``: the score histogram and the tests most often failed;
* ``command``: all of the above, in order, for the ``grade batch`` command.
"""

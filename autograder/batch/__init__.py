"""``grade batch``: grade a whole class on a Dask cluster (local or existing), resumably.

* ``discover``: which submissions a class folder holds, and whose they are;
* ``cache``: content digests, and the results of earlier runs keyed by them;
* ``worker``: grades one submission in a process of its own;
* ``task``: what a Dask worker runs: one such process, under a wall-clock limit;
* ``cluster``: the Dask cluster: a LocalCluster sized to this machine, or one at an address;
* ``grade``: one task per submission, results cached as they come back;
* ``gradebook``: the CSV and the per-student feedback files;
* ``summary``: the score histogram and the tests most often failed;
* ``command``: all of the above, in order, for the ``grade batch`` command.
"""

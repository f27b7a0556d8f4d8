"""Control groups through cgroupfs: v1, v2 (unified) and hybrid hosts, detected at run time.

Each module handles one concern and works on cgroup directories; none knows what a container is:
``layout`` finds the hierarchies, ``cgroupfs`` makes and removes directories and moves processes,
``freezer``, ``kill``, ``stats`` and ``oom`` do what they say, ``bpf`` and ``device_filter`` build
and attach the cgroup v2 device program.
"""

"""The fault campaign (issue 13): the whole site in real processes, seeded faults in
combination, and a checker of sitegate's promise (docs/reliability.md):

    Every admitted check-in becomes exactly one NSSO registration for that person,
    workplace and day, or an anomaly with its evidence; nothing else.

Modules, one job each: ``clock`` (a terminal's wrong clock), ``shifted`` (the whole site's
clock moved), ``journal`` (each terminal's durable decision history), ``terminal_proc`` (a
terminal process driven over a control socket), ``proxy`` (loopback TCP proxies that delay,
lose and partition), ``procs`` (one process: start, SIGKILL, SIGSTOP/SIGCONT), ``site``
(the site in processes), ``workload`` (the morning rush), ``faults`` and ``scheduler`` (what
goes wrong, when), ``rush`` (the passes played at the gates), ``watch`` (exits nobody caused,
outbox depths, settling), ``history`` (what happened), ``checker`` (the invariants),
``campaign`` (one run) and ``cli`` (``sitegate-demo chaos``); ``inprocess`` is a small site
in one process, for the property test of short fault schedules.
"""

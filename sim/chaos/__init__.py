"""The fault campaign (issue 13): the whole site in real processes, seeded faults in
combination, and a checker of sitegate's promise.

Every admitted check-in becomes exactly one NSSO registration for that person, workplace
and day, or an anomaly with its evidence; nothing else.

Modules, one job each: ``clock`` (a terminal's wrong clock), ``journal`` (each terminal's
durable decision history), ``terminal_proc`` (a terminal process driven over a control
socket), ``control`` (the campaign's side of that socket), ``proxy`` (loopback TCP proxies
that delay, lose and partition), ``site`` (starting, killing, freezing and restarting the
processes), ``workload`` (the morning rush), ``faults`` and ``scheduler`` (what goes wrong,
when), ``history`` (what happened), ``checker`` (the invariants), ``campaign`` and ``cli``.
"""

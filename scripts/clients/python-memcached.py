"""python-memcached (Debian's python3-memcache) through the proxy's memcache pool.

    python3 python-memcached.py PORT

Besides the usual commands, get_stats and flush_all, which applications and
test suites call on the pool as on one memcached. Checks run as steps.py says.
"""
import sys

import memcache

from steps import run as steps_run

port = int(sys.argv[1])
keys = [f"pymc:{i}" for i in range(20)]


def step_set_get(mc):
    assert mc.set("pymc:k", "v1") is True
    assert mc.get("pymc:k") == "v1"
    assert mc.get("pymc:absent") is None


def step_multi(mc):
    assert mc.set_multi({k: f"val-{k}" for k in keys}) == []
    got = mc.get_multi(keys + ["pymc:absent"])
    assert got == {k: f"val-{k}" for k in keys}, got


def step_delete_incr(mc):
    assert mc.delete("pymc:k")
    assert mc.get("pymc:k") is None
    assert mc.set("pymc:n", "41") is True
    assert mc.incr("pymc:n") == 42
    assert mc.decr("pymc:n", 50) == 0


def step_stats(mc):
    stats = mc.get_stats()
    assert len(stats) == 1, stats
    _, values = stats[0]
    for name in ("pid", "uptime", "curr_connections"):
        assert name in values, f"stats lacks {name}: {values}"


def step_flush_all(mc):
    mc.flush_all()
    assert mc.get_multi(keys) == {}, "flush_all left keys"


def main():
    # debug=0: python-memcached otherwise prints a failed server's error and
    # carries on; here a failure must be seen.
    mc = memcache.Client([f"127.0.0.1:{port}"], debug=0)
    steps = [
        ("set/get", step_set_get),
        ("set_multi/get_multi", step_multi),
        ("delete/incr/decr", step_delete_incr),
        ("get_stats", step_stats),
        ("flush_all", step_flush_all),
        ("disconnect_all", lambda mc: mc.disconnect_all()),
    ]
    steps_run(steps, mc)


main()

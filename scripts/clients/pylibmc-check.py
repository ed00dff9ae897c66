"""pylibmc (Debian's python3-pylibmc, libmemcached) through the proxy's memcache pool.

    python3 pylibmc-check.py PORT

(Not pylibmc.py: that name would shadow the module.)

The text protocol (pylibmc's default) works; with binary=True the proxy,
which speaks memcached's text protocol only, closes the connection at once,
so the client fails fast instead of waiting. Checks run as steps.py says.
"""
import sys
import time

import pylibmc

from steps import run as steps_run

port = int(sys.argv[1])
server = [f"127.0.0.1:{port}"]
keys = [f"pylibmc:{i}" for i in range(20)]


def step_text(_):
    mc = pylibmc.Client(server)
    assert mc.set("pylibmc:k", "v1") is True
    assert mc.get("pylibmc:k") == "v1"
    mc.set_multi({k: f"val-{k}" for k in keys})
    assert mc.get_multi(keys) == {k: f"val-{k}" for k in keys}
    assert mc.delete("pylibmc:k") is True
    assert mc.set("pylibmc:n", "41") is True
    assert mc.incr("pylibmc:n", 1) == 42
    mc.disconnect_all()


def step_binary(_):
    mc = pylibmc.Client(server, binary=True)
    start = time.monotonic()
    try:
        mc.set("pylibmc:bin", "v")
    except pylibmc.Error:
        pass
    else:
        raise AssertionError("a binary-protocol set succeeded")
    elapsed = time.monotonic() - start
    assert elapsed < 2, f"the binary-protocol client waited {elapsed:.1f} s for its error"


def main():
    steps = [("text protocol", step_text), ("binary=True is refused at once", step_binary)]
    steps_run(steps, None)


main()

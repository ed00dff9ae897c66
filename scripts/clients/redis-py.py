"""redis-py through the proxy, on its default options.

    python3 redis-py.py PORT AUTH_PORT PASSWORD

Run with Debian's python3 (python3-redis). Checks run as steps.py says.
"""
import sys

import redis

from steps import run as steps_run

port, auth_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]


def many_keys(prefix, n):
    return [f"{prefix}:{i}" for i in range(n)]


def step_set_get(r):
    assert r.set("redis-py:k", "v1") is True
    assert r.get("redis-py:k") == b"v1"
    assert r.get("redis-py:absent") is None


def step_mset_mget(r):
    keys = many_keys("redis-py:m", 20)
    assert r.mset({k: f"val-{k}" for k in keys}) is True
    got = r.mget(keys + ["redis-py:absent"])
    assert got == [f"val-{k}".encode() for k in keys] + [None], got


def step_pipeline(r):
    p = r.pipeline(transaction=False)
    for i in range(50):
        p.set(f"redis-py:p:{i}", i)
    for i in range(50):
        p.incrby(f"redis-py:p:{i}", 1000)
    results = p.execute()
    assert len(results) == 100, len(results)
    assert results[50:] == [i + 1000 for i in range(50)], results[50:]


def step_transaction(r):
    p = r.pipeline()  # transaction=True: MULTI ... EXEC
    p.set("{redis-py:tx}:a", 1)
    p.incr("{redis-py:tx}:a")
    p.hset("{redis-py:tx}:h", "f", "x")
    p.get("{redis-py:tx}:a")
    assert p.execute() == [True, 2, 1, b"2"]


def step_watch(r):
    key = "{redis-py:acct}:balance"
    r.set(key, 100)

    def debit(pipe):
        n = int(pipe.get(key))
        pipe.multi()
        pipe.set(key, n - 10)

    r.transaction(debit, key)
    assert r.get(key) == b"90"


def step_info(r):
    info = r.info()
    assert str(info.get("redis_version", "")).startswith("7."), info.get("redis_version")
    assert info.get("loading") == 0, info.get("loading")


def step_scan(r):
    keys = many_keys("redis-py:s", 100)
    r.mset({k: "x" for k in keys})
    seen = {}
    cursor, calls = 0, 0
    while True:
        calls += 1
        assert calls < 10000, f"SCAN has not ended after {calls} calls (cursor {cursor})"
        cursor, page = r.scan(cursor, match="redis-py:s:*", count=100)
        for k in page:
            seen[k] = seen.get(k, 0) + 1
        if cursor == 0:
            break
    twice = {k: n for k, n in seen.items() if n != 1}
    assert not twice, f"SCAN returned keys more than once: {twice}"
    assert sorted(seen) == sorted(k.encode() for k in keys), f"SCAN returned {len(seen)} of {len(keys)} keys"


def step_client_name(_):
    named = redis.Redis(port=port, client_name="redis-py-check")
    assert named.client_getname() == "redis-py-check"
    named.close()


def step_noauth(_):
    anon = redis.Redis(port=auth_port)
    try:
        anon.ping()
    except redis.exceptions.AuthenticationError as err:  # redis-py's name for NOAUTH
        assert "Authentication required" in str(err), str(err)
    else:
        raise AssertionError("PING without the password succeeded")
    anon.close()


def step_auth(_):
    authed = redis.Redis(port=auth_port, password=password)
    assert authed.ping() is True
    authed.close()


def step_quit(r):
    assert r.quit() is True
    r.close()


def main():
    r = redis.Redis(port=port)
    steps = [
        ("connect", lambda r: r.ping()),
        ("SET/GET", step_set_get),
        ("MSET/MGET", step_mset_mget),
        ("pipeline of 100", step_pipeline),
        ("MULTI/EXEC on one hash tag", step_transaction),
        ("WATCH on one hash tag", step_watch),
        ("INFO", step_info),
        ("SCAN to the end", step_scan),
        ("client_name", step_client_name),
        ("redis_auth: NOAUTH without the password", step_noauth),
        ("redis_auth: the password", step_auth),
        ("quit()", step_quit),
    ]
    steps_run(steps, r)


main()

"""What every Python client script does with its checks, written once.

Each step is a named function that raises on a wrong answer. Every step
runs (but none after a failed first step, the connection) and prints
"ok <name>" or "FAIL <name>" with its traceback; the script exits 1 when
any failed.
"""
import sys
import traceback


def run(steps, arg):
    failed = 0
    for i, (name, step) in enumerate(steps):
        try:
            step(arg)
        except Exception:
            print(f"FAIL {name}:\n{traceback.format_exc()}", flush=True)
            failed += 1
            if i == 0:
                break
        else:
            print(f"ok {name}", flush=True)
    sys.exit(1 if failed else 0)

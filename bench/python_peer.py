# The peer in `npm run bench`: Trackio's own Python client logging workload 1 (four numeric
# metrics per step, a loop that does nothing else) to the same server as our client.
# Usage: python bench/python_peer.py '<json: write_url, project, run, n, warmup>'
# Prints one line `BENCH_PY <json>`: log() cost per call (blocks of 1,000 calls timed as a
# whole, as bench/loop.ts times ours), the loop's wall time and trackio.finish()'s (the
# time from loop end until everything is stored), and the run's id for the row count.

import json
import sys
import time

import trackio


def metrics(i: int) -> dict:
    # The same values as bench/workloads.ts w1.make(i).
    return {"loss": 1 / (i + 1), "acc": i * 1e-6, "lr": 0.001, "grad_norm": (i % 97) * 0.01}


def main() -> None:
    spec = json.loads(sys.argv[1])
    n = spec["n"]
    common = dict(server_url=spec["write_url"], embed=False, auto_log_cpu=False, auto_log_gpu=False)

    # Warm-up on a throwaway run, like the Node children: imports, the sender thread, the
    # HTTP connection.
    trackio.init(project=spec["project"], name=f"{spec['run']}-warmup", **common)
    for i in range(spec["warmup"]):
        trackio.log(metrics(i), step=i)
    trackio.finish()

    run = trackio.init(project=spec["project"], name=spec["run"], **common)
    block = 1000
    block_ns = []
    t0 = time.perf_counter()
    i = 0
    while i < n:
        start, end = i, min(n, i + block)
        b0 = time.perf_counter_ns()
        while i < end:
            trackio.log(metrics(i), step=i)
            i += 1
        block_ns.append((time.perf_counter_ns() - b0) / (end - start))
    t_loop = time.perf_counter()
    trackio.finish()
    t_done = time.perf_counter()
    block_ns.sort()
    print(
        "BENCH_PY "
        + json.dumps(
            {
                "run_id": run.id,
                "mean_ns": sum(block_ns) / len(block_ns),
                "p50_block_ns": block_ns[len(block_ns) // 2],
                "p99_block_ns": block_ns[min(len(block_ns) - 1, (len(block_ns) * 99) // 100)],
                "loop_ms": (t_loop - t0) * 1000,
                "finish_ms": (t_done - t_loop) * 1000,
                "version": trackio.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

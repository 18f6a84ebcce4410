"""The one timing rule of the benchmarks: median images/s after warm-up."""

import statistics
import time


def median_rate(run, batch, repeats, warmup=2):
    """Median images/s of `run()` (which processes `batch` images) after `warmup` calls.

    The median, not the mean: these machines are shared and one slow call is noise.

    Example:
    ```python
    median_rate(lambda: model.predict(images, verbose=0), len(images), repeats=10)
    ```
    """
    for _ in range(warmup):
        run()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        rates.append(batch / (time.perf_counter() - start))
    return statistics.median(rates)


def time_in_turns(runs, repeats, warmup=2):
    """{name: median seconds} of several `runs` ({name: run}) timed in turns, one call each per round.

    On a shared machine whose load drifts, timing one runtime after the other lets the
    drift decide the ratio; taking turns gives every runtime the same load.

    Example:
    ```python
    time_in_turns({"a": lambda: a(images), "b": lambda: b(images)}, repeats=10)
    ```
    """
    for run in runs.values():
        for _ in range(warmup):
            run()
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}

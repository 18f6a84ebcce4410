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

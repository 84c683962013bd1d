"""What the live table calibration's progress display costs as the procedure goes on (not a test).

    PYTHONPATH=. python benchmarks/face_progress.py [--minutes M ...] [--repeats R]

``imu-valgus sensors calibrate`` recounts every sensor's faces and tilted rests four
times a second (:class:`imu_valgus.ble.acc_calibrate.FaceCollector`), over everything
received so far, so that the count shown is what the estimator will use.  Until
2026-12-05 each look ran :func:`imu_valgus.acccal.find_rests` over the whole recording,
so a look cost time in proportion to the procedure's length and the whole procedure in
proportion to its square; now a :class:`imu_valgus.acccal.RestTracker` judges only the
new data and the rest in progress.

For procedures of M minutes (the simulator's table procedure, six faces and five tilted
rests, realistic sensor errors, then the sensor left resting on its last face while the
user reads or fetches the next one, as happens), four sensors, packets of 4 samples at
200 Hz, one look per 0.25 s of data: the CPU time of the looks (the median of R runs),
the whole procedure's and the last 10 s's per look, for the tracker and the full rescan
(the peer, measured in the same run), and whether both gave the same counts at every look.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _procedure(minutes: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The table procedure, then still on its last face up to ``minutes``."""
    from imu_valgus.simulator.imu import ERROR_LEVELS, draw_errors
    from imu_valgus.simulator.tablecal import table_procedure
    model = ERROR_LEVELS["realistic"]
    rng = np.random.default_rng(seed)
    err = draw_errors(model, rng)
    _t, gyr, acc = table_procedure(model, err, rng, 200.0, faces=6, tilted=5)
    n = int(minutes * 60 * 200)
    if n > len(acc):    # the last rest goes on, with the sensor's own noise
        k = n - len(acc)
        tail = slice(len(acc) - 200, len(acc))
        acc = np.vstack([acc, acc[tail].mean(axis=0) + rng.normal(0, 0.01, (k, 3))])
        gyr = np.vstack([gyr, gyr[tail].mean(axis=0) + rng.normal(0, 0.002, (k, 3))])
    return acc[:n], gyr[:n]


def _run(data: dict[str, tuple[np.ndarray, np.ndarray]], full: bool
         ) -> tuple[list[float], list[dict[str, tuple[int, int]]]]:
    """Seconds per look and the counts at each look."""
    from imu_valgus.acccal import find_rests
    from imu_valgus.ble.acc_calibrate import FaceCollector, table_packets
    from imu_valgus.ble.manager import SensorData
    col = FaceCollector(list(data))
    if full:            # the peer: every look judges the whole recording again
        col.rests = lambda loc: find_rests(*col.samples(loc)[:2], col.samples(loc)[2])
    packets = {loc: table_packets(a, g) for loc, (a, g) in data.items()}
    times, counts = [], []
    n = min(len(p) for p in packets.values())
    for k in range(n):
        for loc, p in packets.items():
            col.feed(SensorData(loc, 0.0, p[k][1]))
        if k % 12 == 11:                 # 12 packets of 4 samples: ~0.25 s
            t0 = time.process_time()
            got = col.update()
            times.append(time.process_time() - t0)
            counts.append({loc: g.counts for loc, g in got.items()})
    return times, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.5, 3.0, 6.0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    locs = ("left_thigh", "left_shank", "right_thigh", "right_shank")
    print("procedure  looks | tracker: total s  per look ms (last 10 s) | full rescan: "
          "total s  per look ms (last 10 s) | ratio (total) | same counts")
    for minutes in args.minutes:
        data = {loc: _procedure(minutes, seed) for seed, loc in enumerate(locs, 1)}
        res = {}
        for full in (False, True):
            runs = [_run(data, full) for _ in range(args.repeats)]
            totals = [sum(t) for t, _ in runs]
            i = int(np.argsort(totals)[len(totals) // 2])
            times, counts = runs[i]
            res[full] = (totals[i], 1e3 * float(np.median(times[-40:])), counts, len(times))
        (tt, tl, tc, n), (ft, fl, fc, _) = res[False], res[True]
        print(f"{minutes:5.1f} min  {n:5d} | {tt:14.2f}  {tl:11.2f}            | "
              f"{ft:18.2f}  {fl:11.2f}            | {ft / tt:10.1f}    | "
              f"{'yes' if tc == fc else 'NO'}")


if __name__ == "__main__":
    main()

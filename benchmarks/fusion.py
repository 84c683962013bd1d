"""Benchmark of the orientation fusion against its peers (a script, not a test).

Prints ONE table from one run:

* accuracy on every BROAD trial found in ``../shared/data/broad`` (mean over trials of the
  per-trial RMS error, degrees; all / undisturbed / disturbed trials): ours live and
  offline (6D and 9D from one run each), vqf ``VQF`` and ``offlineVQF``, ahrs Madgwick;
  6D total error after removing one constant heading offset per trial;
* throughput (samples/s, median of interleaved, order-rotated repeats) on one synthetic
  1-hour 200 Hz stream and on a batch of 8 sensors × 10 min: ours offline and live vs vqf
  ``offlineVQF``,
  ``VQF.updateBatch``, imufusion and ahrs (ahrs on a shorter slice, extrapolated);
* live cost per packet-set (4 sensors × 4 samples): median and p99, one ``LiveFusion``
  for all four sensors and one per sensor (as the pipeline does).

Usage (from the repository root)::

    /work/venv/bin/python benchmarks/fusion.py            # full run
    /work/venv/bin/python benchmarks/fusion.py --quick    # fast subset

BROAD: D. Laidig, M. Caruso, A. Cereatti, T. Seel. BROAD — A Benchmark for Robust Inertial
Orientation Estimation. Data 6(7):72, 2021. doi:10.3390/data6070072 (CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_valgus.fusion import LiveFusion, fuse  # noqa: E402
from imu_valgus.fusion.alternatives import run_alternative  # noqa: E402
from imu_valgus.fusion.evaluation import broad_errors, load_broad_trial  # noqa: E402

BROAD = ROOT / ".." / "shared" / "data" / "broad"

try:
    import vqf
except ImportError:  # pragma: no cover
    vqf = None
try:
    import imufusion
except ImportError:  # pragma: no cover
    imufusion = None

COLS = ["ours live", "ours offline", "vqf VQF", "vqf offlineVQF", "ahrs Madgwick", "imufusion"]


# ------------------------------------------------------------------ accuracy
def run_methods_on_trial(d, with_madgwick: bool):
    """6D and 9D quaternions of every method on one trial: {col: (q6, q9)}."""
    g, a, m, fs = d["gyr"], d["acc"], d["mag"], d["fs"]
    out = {}
    r = fuse(g, a, fs, m, mode="live")
    out["ours live"] = (r.quat_6d, r.quat_9d)
    r = fuse(g, a, fs, m, mode="offline")
    out["ours offline"] = (r.quat_6d, r.quat_9d)
    if vqf is not None:
        v = vqf.VQF(1.0 / fs).updateBatch(g, a, m)
        out["vqf VQF"] = (v["quat6D"], v["quat9D"])
        o = vqf.offlineVQF(g, a, m, 1.0 / fs)
        out["vqf offlineVQF"] = (o["quat6D"], o["quat9D"])
    if with_madgwick:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["ahrs Madgwick"] = (run_alternative("madgwick", g, a, None, fs),
                                    run_alternative("madgwick", g, a, m, fs))
    return out


def accuracy(files, with_madgwick: bool):
    groups = json.loads((BROAD / "trials.json").read_text())["trials"]
    per = {}  # col -> list of (disturbed?, errors dict)
    for f in files:
        d = load_broad_trial(f)
        dist = "disturbed" in groups.get(f.stem, {}).get("groups", [f.stem])
        for col, (q6, q9) in run_methods_on_trial(d, with_madgwick).items():
            e9 = broad_errors(q9, d["quat"], d["movement"])
            e6 = broad_errors(q6, d["quat"], d["movement"], remove_heading_offset=True)
            per.setdefault(col, []).append((dist, e9, e6))
        print(f"  accuracy: {f.stem} done", file=sys.stderr)
    return per


def summarise(per):
    rows = {}
    for col, lst in per.items():
        for subset, keep in (("all", lambda x: True), ("undist.", lambda x: not x),
                             ("dist.", lambda x: x)):
            sel = [(e9, e6) for dist, e9, e6 in lst if keep(dist)]
            if not sel:
                continue
            n = len(sel)
            rows.setdefault(f"9D total, {subset} (n={n}) [°]", {})[col] = \
                np.mean([e9["total"] for e9, _ in sel])
            rows.setdefault(f"9D heading, {subset} (n={n}) [°]", {})[col] = \
                np.mean([e9["heading"] for e9, _ in sel])
            rows.setdefault(f"9D inclination, {subset} (n={n}) [°]", {})[col] = \
                np.mean([e9["inclination"] for e9, _ in sel])
            rows.setdefault(f"6D total*, {subset} (n={n}) [°]", {})[col] = \
                np.mean([e6["total"] for _, e6 in sel])
            rows.setdefault(f"6D inclination, {subset} (n={n}) [°]", {})[col] = \
                np.mean([e6["inclination"] for _, e6 in sel])
    return rows


# ------------------------------------------------------------------ synthetic stream
def synthetic_stream(n: int, fs: float, seed: int):
    """Deterministic IMU stream: smooth 3D rotation with rest phases, bias and noise."""
    from imu_valgus.fusion.inclination import rotate_c
    from imu_valgus.fusion.scan import gyro_increments, prefix_product

    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    w = np.zeros((3, n))
    for c in range(3):
        for _ in range(4):
            f = rng.uniform(0.05, 1.5)
            w[c] += rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    w *= ((t % 60.0) < 50.0)  # 10 s of rest every minute
    q = prefix_product(gyro_increments(w[0][None], w[1][None], w[2][None], 1.0 / fs))[:, 0]
    qc = q * np.array([1.0, -1.0, -1.0, -1.0])[:, None]
    acc = rotate_c(qc, np.array([0.0, 0.0, 9.81])[:, None] + 0.3 * np.sin(t * 3.0))
    mag = rotate_c(qc, np.array([0.0, 20.0, -40.0])[:, None] * np.ones(n))
    gyr = w.T + np.deg2rad([0.3, -0.2, 0.4]) + rng.normal(0, 0.005, (n, 3))
    acc = acc.T + rng.normal(0, 0.05, (n, 3))
    mag = mag.T + rng.normal(0, 0.3, (n, 3))
    return [np.ascontiguousarray(x) for x in (gyr, acc, mag)]


def time_interleaved(funcs: dict, repeats: int) -> dict:
    """Median wall time of each function over ``repeats`` rounds.  Every round runs all
    functions, in an order rotated from round to round (so that no method always follows
    the same one), each after a garbage collection."""
    import gc

    names = list(funcs)
    times = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            gc.collect()
            t0 = time.perf_counter()
            funcs[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def imufusion_run(gyr, acc, mag, fs):
    a = imufusion.Ahrs()
    a.set_sample_period(1.0 / fs)
    gd = np.degrees(gyr)
    ag = acc / 9.81
    out = np.empty((len(gyr), 4))
    for i in range(len(gyr)):
        a.update(gd[i], ag[i], mag[i])
        out[i] = a.get_quaternion()
    return out


def throughput(n_stream: int, fs: float, batch_s: int, batch_n: int, ahrs_n: int,
               repeats: int):
    gyr, acc, mag = synthetic_stream(n_stream, fs, 1)
    ts = 1.0 / fs
    res = {}
    f = {
        "ours offline": lambda: fuse(gyr, acc, fs, mag, mode="offline"),
        "ours live": lambda: fuse(gyr, acc, fs, mag, mode="live"),
    }
    if vqf is not None:
        f["vqf offlineVQF"] = lambda: vqf.offlineVQF(gyr, acc, mag, ts)
        f["vqf VQF"] = lambda: vqf.VQF(ts).updateBatch(gyr, acc, mag)
    if imufusion is not None:
        f["imufusion"] = lambda: imufusion_run(gyr, acc, mag, fs)
    t = time_interleaved(f, repeats)
    res["stream"] = {k: n_stream / v for k, v in t.items()}
    sl = slice(0, ahrs_n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time_interleaved({"ahrs Madgwick": lambda: run_alternative(
            "madgwick", gyr[sl], acc[sl], mag[sl], fs)}, max(1, repeats // 3))
    res["stream"]["ahrs Madgwick"] = ahrs_n / t["ahrs Madgwick"]
    # batch of sensors
    data = [synthetic_stream(batch_n, fs, 10 + i) for i in range(batch_s)]
    bg = np.stack([d[0] for d in data])
    ba = np.stack([d[1] for d in data])
    bm = np.stack([d[2] for d in data])
    total = batch_s * batch_n
    f = {
        "ours offline": lambda: fuse(bg, ba, fs, bm, mode="offline"),
        "ours live": lambda: fuse(bg, ba, fs, bm, mode="live"),
    }
    if vqf is not None:
        f["vqf offlineVQF"] = lambda: [vqf.offlineVQF(*d, ts) for d in data]
        f["vqf VQF"] = lambda: [vqf.VQF(ts).updateBatch(*d) for d in data]
    if imufusion is not None:
        f["imufusion"] = lambda: [imufusion_run(*d, fs) for d in data]
    t = time_interleaved(f, max(1, repeats // 2))
    res["batch"] = {k: total / v for k, v in t.items()}
    res["batch"]["ahrs Madgwick"] = res["stream"]["ahrs Madgwick"]  # per sample, same loop
    return res


def live_packet_cost(fs: float, seconds: float):
    """Per packet-set cost (4 sensors × 4 samples), µs: {variant: (median, p99) of wall
    time, (median, p99) of this thread's CPU time}, for one LiveFusion with 4 sensors and
    for four single-sensor LiveFusions.  The CPU time excludes preemption by other
    processes on a shared machine; the wall time includes it."""
    n = int(seconds * fs)
    data = [synthetic_stream(n, fs, 20 + i) for i in range(4)]
    g = np.stack([d[0] for d in data])
    a = np.stack([d[1] for d in data])
    m = np.stack([d[2] for d in data])
    lf = LiveFusion(fs, n_sensors=4, use_mag=True)
    lfs = [LiveFusion(fs, use_mag=True) for _ in range(4)]

    def one(i):
        lf.update(g[:, i:i + 4], a[:, i:i + 4], m[:, i:i + 4])

    def four(i):
        for s in range(4):
            lfs[s].update(g[s, i:i + 4], a[s, i:i + 4], m[s, i:i + 4])

    out = {}
    for name, f in (("one LiveFusion, 4 sensors", one), ("4 × LiveFusion, 1 sensor", four)):
        wall, cpu = [], []
        for i in range(0, n - 3, 4):
            t0, c0 = time.perf_counter(), time.thread_time()
            f(i)
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - t0)
        q = lambda v, p: 1e6 * float(np.percentile(v, p))  # noqa: E731
        out[name] = ((q(wall, 50), q(wall, 99)), (q(cpu, 50), q(cpu, 99)))
    return out


# ------------------------------------------------------------------ table
def fmt_rate(x):
    return "—" if x is None else f"{x / 1e6:.2f} M/s" if x >= 1e5 else f"{x / 1e3:.1f} k/s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fast subset (a few minutes)")
    args = ap.parse_args(argv)
    quick = args.quick
    fs = 200.0
    files = sorted(BROAD.glob("*.npz"))
    if quick:
        files = [f for f in files if f.stem[:2] in ("02", "09", "24", "31")]
    t_start = time.time()
    if files:
        per = accuracy(files, with_madgwick=True)
        acc_rows = summarise(per)
    else:
        print(f"BROAD data not found at {BROAD}: accuracy skipped", file=sys.stderr)
        acc_rows = {}
    print("  accuracy done; timing …", file=sys.stderr)
    thr = throughput(
        n_stream=int((600 if quick else 3600) * fs), fs=fs,
        batch_s=8, batch_n=int((60 if quick else 600) * fs),
        ahrs_n=int((5 if quick else 30) * fs), repeats=3 if quick else 7)
    live = live_packet_cost(fs, 20.0 if quick else 120.0)

    lines = []
    head = "| measure | " + " | ".join(COLS) + " |"
    lines.append(head)
    lines.append("|" + "---|" * (len(COLS) + 1))
    for name, vals in acc_rows.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{vals[c]:.3f}" if c in vals else "—" for c in COLS) + " |")
    stream_len = "10 min" if quick else "1 h"
    for key, label in (("stream", f"throughput 9D, one {stream_len} 200 Hz stream"),
                       ("batch", "throughput 9D, batch of 8 sensors")):
        lines.append(f"| {label} | " + " | ".join(
            (fmt_rate(thr[key].get(c)) + ("†" if c == "ahrs Madgwick" else ""))
            if c in thr[key] else "—" for c in COLS) + " |")
    for key in ("stream", "batch"):
        r = thr[key]
        if "vqf offlineVQF" in r:
            lines.append(f"| ratio ours/vqf, {key} (offline÷offlineVQF; live÷VQF.updateBatch) "
                         f"| {r['ours live'] / r['vqf VQF']:.2f}× | "
                         f"{r['ours offline'] / r['vqf offlineVQF']:.2f}× | 1 | 1 | — | — |")
    for k, ((med, p99), (cmed, cp99)) in live.items():
        lines.append(f"| live cost per packet-set (4 sensors × 4 samples), {k}: median / p99, "
                     f"wall (CPU) | {med:.0f} µs / {p99:.0f} µs ({cmed:.0f} µs / {cp99:.0f} µs)"
                     " | — | — | — | — | — |")
    print()
    print("\n".join(lines))
    print()
    print("\n".join(target_lines(acc_rows, thr, live)))
    print()
    print("* 6D total error after removing one constant heading offset per trial.")
    print("† ahrs runs a Python loop: timed on a "
          f"{(5 if quick else 30)} s slice and extrapolated as samples/s.")
    print("Accuracy on BROAD (Laidig, Caruso, Cereatti & Seel, Data 6(7):72, 2021, "
          "CC BY 4.0): mean over trials of per-trial RMS errors during movement.")
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import scipy

    def ver(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    print(f"Python {platform.python_version()}, numpy {numpy.__version__}, "
          f"scipy {scipy.__version__}, vqf {ver('vqf')}, ahrs {ver('ahrs')}, "
          f"imufusion {ver('imufusion')}"
          f", {platform.machine()}, run time {time.time() - t_start:.0f} s"
          f"{' (--quick)' if quick else ''}.")


def target_lines(acc_rows: dict, thr: dict, live: dict) -> list[str]:
    """Issue #3's targets, each with the figures it compares at full precision (the table
    rounds to 0.001°, and the inclination comparisons are closer than that)."""
    out = ["Targets (ours vs the peer in this run; yes = ours ≤ peer, or ≥ for throughput):"]

    def cmp(label, row, ours, peer):
        if row not in acc_rows or peer not in acc_rows[row]:
            return
        a, b = acc_rows[row][ours], acc_rows[row][peer]
        out.append(f"  {label}: {a:.6f}° vs {b:.6f}° ({a - b:+.6f}°) "
                   f"{'yes' if a <= b else 'NO'}")

    for dims in ("9D", "6D"):
        if dims == "9D":
            cmp("live 9D total ≤ VQF", "9D total, all (n=22) [°]", "ours live", "vqf VQF")
            cmp("offline 9D total ≤ offlineVQF", "9D total, all (n=22) [°]", "ours offline",
                "vqf offlineVQF")
        row = f"{dims} inclination, all (n=22) [°]"
        cmp(f"live {dims} inclination ≤ VQF", row, "ours live", "vqf VQF")
        cmp(f"offline {dims} inclination ≤ offlineVQF", row, "ours offline", "vqf offlineVQF")
    r = thr.get("stream", {})
    if "vqf offlineVQF" in r:
        ratio = r["ours offline"] / r["vqf offlineVQF"]
        out.append(f"  offline throughput ≥ offlineVQF: {ratio:.2f}× "
                   f"{'yes' if ratio >= 1 else 'NO'}")
    for k, ((_, p99), (_, cp99)) in live.items():
        out.append(f"  live p99 ≤ 2 ms ({k}): {p99 / 1e3:.2f} ms wall, {cp99 / 1e3:.2f} ms CPU "
                   f"{'yes' if p99 <= 2000 else 'NO (wall)' if cp99 <= 2000 else 'NO'}")
    return out


if __name__ == "__main__":
    main()

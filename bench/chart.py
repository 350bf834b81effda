#!/usr/bin/env python3
"""Charts and summaries from docs/bench/results.jsonl (written by clinic-bench).

    python3 bench/chart.py            # docs/bench/latency.png from the latest S3 ramps
    python3 bench/chart.py --versus   # docs/bench/versus.png from the latest `versus` run
    python3 bench/chart.py --versus --quietest   # ... from the least loaded of the latest five
    python3 bench/chart.py --summary  # medians of the latest three runs of each scenario
    python3 bench/chart.py --results FILE --chart PNG   # other files

Only the lines `bench/run.sh` writes count: a line tagged with a `build` or a `note` is one
side of an A/B comparison (appended by hand, described in docs/benchmarks.md) and is left out.

Needs matplotlib for the chart: python3 -m venv .venv && .venv/bin/pip install matplotlib
"""

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "bench" / "results.jsonl"
CHART = ROOT / "docs" / "bench" / "latency.png"
VERSUS_CHART = ROOT / "docs" / "bench" / "versus.png"


def option(name, default):
    if name in sys.argv:
        return Path(sys.argv[sys.argv.index(name) + 1])
    return default


def load(path):
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def latest(records, scenario, n=3, **match):
    chosen = [
        r for r in records
        if r.get("scenario") == scenario
        and "build" not in r
        and "note" not in r
        and all(r.get(k) == v for k, v in match.items())
    ]
    return chosen[-n:]


def get(record, path):
    value = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def median(records, path):
    values = [get(r, path) for r in records if get(r, path) is not None]
    return round(statistics.median(values), 3) if values else None


# What the summary reports for each scenario: (label, record filter, [metric paths]).
SUMMARY = [
    ("S1 idle 1k", ("s1", {"connections": 1000}), ["kib_per_conn", "connects_per_s"]),
    ("S1 idle 5k", ("s1", {"connections": 5000}), ["kib_per_conn", "connects_per_s"]),
    ("S1 idle 10k", ("s1", {"connections": 10000}), ["kib_per_conn", "connects_per_s", "rss_kib"]),
    ("S2 steady FULL", ("s2", {"durability": "full"}),
     ["result.e2e.p50_ms", "result.e2e.p99_ms", "result.e2e.p999_ms",
      "result.e2e_from_send.p99_ms", "result.ack.p99_ms", "result.delivered_per_s"]),
    ("S3 ramp FULL", ("s3", {"durability": "full"}), ["sustained_msgs_per_s", "peak_rss_kib"]),
    ("S3 ramp NORMAL", ("s3", {"durability": "normal"}), ["sustained_msgs_per_s", "peak_rss_kib"]),
    ("S4 fan-out", ("s4", {}),
     ["delivered", "committed.p50_ms", "committed.p99_ms", "every_doctor.p50_ms",
      "every_doctor.p99_ms", "last_doctor.p50_ms", "last_doctor.p99_ms"]),
    ("S5 storm", ("s5", {}),
     ["all_caught_up_s", "per_client.p50_ms", "lost", "doubled", "reconnect_failures"]),
    ("S6 history", ("s6", {}),
     ["latest50.p50_ms", "latest50.p99_ms", "page50.p50_ms", "page50.p99_ms", "full_walk_s",
      "distinct_seen"]),
    ("S7 slow consumer", ("s7", {}),
     ["baseline.e2e.p99_ms", "with_slow.e2e.p99_ms", "rss_baseline_kib", "rss_peak_kib",
      "slow_closed_by_server", "flood_mib"]),
    ("versus", ("versus", {}),
     ["clinic.sustained_msgs_per_s", "reference.sustained_msgs_per_s", "ratio",
      "clinic.max_delivered_per_s", "reference.max_delivered_per_s", "loadavg"]),
    ("restart after SIGKILL", ("restart", {}),
     ["messages", "healthz_ms", "login_ms", "seed_s"]),
]


def cost_steps(records, stack):
    """Per offered rate, the `cost` steps of the latest three runs for `stack`."""
    by_rate = {}
    for r in latest(records, "cost", stack=stack):
        for step in r.get("steps", []):
            by_rate.setdefault(step["offered"], []).append(step)
    return by_rate


def summary(records):
    print("| scenario | runs | metric | median |")
    print("|---|---|---|---|")
    for label, (scenario, match), metrics in SUMMARY:
        runs = latest(records, scenario, **match)
        if not runs:
            continue
        for metric in metrics:
            present = sum(get(r, metric) is not None for r in runs)
            note = "" if present == len(runs) else f" ({present} of {len(runs)} runs had one)"
            print(f"| {label} | {len(runs)} | {metric} | {median(runs, metric)}{note} |")
    for stack in ("clinic", "reference"):
        for rate, steps in sorted(cost_steps(records, stack).items()):
            label = f"cost {stack} at {rate:g} msg/s"
            metrics = ["per_message.write_bytes", "per_message.cpu_us", "e2e.p99_ms"]
            metrics += [f"per_message.threads.{t}.{m}" for t in ("clinic-writer", "clinic-checkpoi")
                        for m in ("cpu_us", "wchar")]
            for metric in metrics:
                value = median(steps, metric)
                if value is not None:
                    print(f"| {label} | {len(steps)} | {metric} | {value} |")


def versus_chart(records, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    # The latest run, or with --quietest the one with the lowest load among the latest five.
    runs = latest(records, "versus", n=5 if "--quietest" in sys.argv else 1)
    if not runs:
        sys.exit("no versus results")
    run = min(runs, key=lambda r: r.get("loadavg", 0)) if "--quietest" in sys.argv else runs[-1]
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    names = {"clinic": "clinic-server (Rust)", "reference": "seed stack (Node + Socket.io + SQLite)"}
    for stack, color in (("clinic", "tab:red"), ("reference", "tab:green")):
        steps = run[stack]["steps"]
        offered = [s["offered"] for s in steps]
        durability = run[stack].get("durability", "")
        plot_steps(ax, steps, color, f"{names[stack]}, {durability}:", ("p50_ms", "p99_ms"))
        sustained = run[stack]["sustained_msgs_per_s"]
        if sustained:
            ax.axvline(sustained, color=color, linewidth=0.8, alpha=0.5)
    limit = run.get("p99_limit_ms", 50)
    ax.axhline(limit, color="grey", linewidth=0.8)
    ax.text(ax.get_xlim()[0], limit * 1.1, f"p99 limit {limit} ms", color="grey", fontsize=8)
    ratio = run.get("ratio")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_yscale("log")
    ax.set_xlabel(
        f"offered load, messages per second (each persisted, acked and delivered); "
        f"load average {run.get('loadavg')}"
    )
    ax.set_ylabel("end-to-end latency, ms (log; from scheduled send)")
    ax.set_title(
        "versus: the same ramp against both stacks (server 1 core, generator 1 core)"
        + (f"; ratio {ratio}x" if ratio else "")
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


STYLES = {"p50_ms": ":", "p99_ms": "-", "p999_ms": "--"}


def plot_steps(ax, steps, color, label, quantiles):
    """One line per quantile of a ramp's end-to-end latency against the offered rate."""
    offered = [s["offered"] for s in steps]
    for quantile in quantiles:
        ax.plot(
            offered,
            [max(s["e2e"][quantile], 0.01) for s in steps],
            STYLES[quantile],
            marker="o",
            markersize=3,
            color=color,
            label=f"{label} {quantile[:-3]}",
        )


def chart(records, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    styles = {"full": "tab:red", "normal": "tab:blue"}
    plotted = False
    for durability, color in styles.items():
        runs = latest(records, "s3", n=1, durability=durability)
        if not runs:
            continue
        plot_steps(ax, runs[-1]["steps"], color, durability.upper(),
                   ("p50_ms", "p99_ms", "p999_ms"))
        plotted = True
    if not plotted:
        sys.exit("no S3 results")
    limit = runs[-1].get("p99_limit_ms", 50)
    ax.axhline(limit, color="grey", linewidth=0.8)
    ax.text(ax.get_xlim()[0], limit * 1.1, f"p99 limit {limit} ms", color="grey", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("offered load, messages per second (each persisted, acked and delivered)")
    ax.set_ylabel("end-to-end latency, ms (log; from scheduled send)")
    ax.set_title("clinic-server S3 ramp: latency against load (server and generator on 1 core each)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    records = load(option("--results", RESULTS))
    if "--summary" in sys.argv:
        summary(records)
    elif "--versus" in sys.argv:
        versus_chart(records, option("--chart", VERSUS_CHART))
    else:
        chart(records, option("--chart", CHART))

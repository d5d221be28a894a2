#!/usr/bin/env python3
"""Aggregates one bench/run output directory into a table (stdout and table.txt), results.json and
chart.png (when matplotlib is importable and --no-chart is not given).

  report.py OUT_DIR [--no-chart]

Per scenario and target (direct = the fake engine itself, network = through client, proxy and
worker): the median over rounds of requests/s, p50 and p99 latency (from hey's summary); CPU
seconds per 1,000 requests of each node (utime+stime deltas from /proc, summed over rounds,
divided by the requests answered); peak RSS of each node (VmHWM, reset before each round, the
largest seen). TTFB runs report medians of time to headers, to the first body byte and to the end.
The scale-1k scenario (bench/scale, `cocoon-scale`) writes raw/scale-1k/result.json, summarised
in its own lines and under "scale_1k" in results.json.
"""

import json
import os
import re
import statistics
import sys

NODE_ORDER = ("engine", "proxy", "worker", "client")


def parse_hey(path):
    """Fields of hey's text summary; None where absent."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()

    def num(pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    status = {int(code): int(count)
              for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    err_block = text.split("Error distribution:", 1)[1] if "Error distribution:" in text else ""
    errors = sum(int(c) for c in re.findall(r"^\s*\[(\d+)\]", err_block, re.M))
    return {
        "total_s": num(r"Total:\s+([\d.]+) secs"),
        "rps": num(r"Requests/sec:\s+([\d.]+)"),
        "size_per_request": num(r"Size/request:\s+(\d+) bytes"),
        "p50_s": num(r"\s50% in ([\d.]+) secs"),
        "p90_s": num(r"\s90% in ([\d.]+) secs"),
        "p99_s": num(r"\s99% in ([\d.]+) secs"),
        "status": status,
        "errors": errors,
    }


def node_group(name):
    return "worker" if name.startswith("worker") else name


def cpu_and_rss(before, after):
    """Per node group: CPU seconds used between the snapshots; peak RSS (kB, largest member)."""
    cpu, rss = {}, {}
    for name, b in before.items():
        if name.startswith("_"):
            continue
        a = after.get(name, {})
        group = node_group(name)
        if b.get("alive") and a.get("alive"):
            secs = (a["cpu_ticks"] - b["cpu_ticks"]) / a["clk_tck"]
            cpu[group] = cpu.get(group, 0.0) + secs
            if a.get("vm_hwm_kb") is not None:
                rss[group] = max(rss.get(group, 0), a["vm_hwm_kb"])
    return cpu, rss


def other_cpu(run, before, after):
    """(share of all cores used by processes other than the nodes and the load tool, share of all
    cores busy) during one round: the check that nothing else loaded the machine."""
    b, a = before.get("_system"), after.get("_system")
    if not b or not a:
        return None, None
    wall = a["time"] - b["time"]
    if wall <= 0:
        return None, None
    capacity = wall * a["ncpu"]
    busy = (a["busy_ticks"] - b["busy_ticks"]) / a["clk_tck"]
    ours = sum(run["cpu_s"].values()) + run.get("load_tool_cpu_s", 0.0)
    return max(0.0, busy - ours) / capacity, busy / capacity


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, q):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


def load(out):
    path = os.path.join(out, "raw", "runs.jsonl")
    runs = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            runs = [json.loads(line) for line in f if line.strip()]
    groups = {}
    for run in runs:
        run["out"] = out
        base = os.path.join(out, run["base"])
        with open(base + ".before.json", encoding="utf-8") as f:
            before = json.load(f)
        with open(base + ".after.json", encoding="utf-8") as f:
            after = json.load(f)
        run["cpu_s"], run["peak_rss_kb"] = cpu_and_rss(before, after)
        run["workers"] = sum(1 for n in before if n.startswith("worker"))
        run["other_cpu_share"], run["busy_share"] = other_cpu(run, before, after)
        if run["kind"] == "hey":
            run["hey"] = parse_hey(base + ".hey.txt")
            run["answered"] = run["hey"]["status"].get(200, 0)
        else:
            with open(base + ".ttfb.json", encoding="utf-8") as f:
                run["ttfb"] = json.load(f)["samples"]
            run["answered"] = sum(1 for s in run["ttfb"] if s["status"] == 200 and not s["error"])
        groups.setdefault((run["scenario"], run["target"]), []).append(run)
    return runs, groups


def summarise(scenario, target, runs):
    answered = sum(r["answered"] for r in runs)
    cpu_total, rss = {}, {}
    for r in runs:
        for g, s in r["cpu_s"].items():
            cpu_total[g] = cpu_total.get(g, 0.0) + s
        cpu_total["load tool"] = cpu_total.get("load tool", 0.0) + r.get("load_tool_cpu_s", 0.0)
        for g, kb in r["peak_rss_kb"].items():
            rss[g] = max(rss.get(g, 0), kb)
    row = {
        "scenario": scenario, "target": target, "rounds": len(runs), "kind": runs[0]["kind"],
        "args": runs[0]["args"], "workers": runs[0]["workers"], "answered": answered,
        "cpu_s_per_1000_requests": {g: (s / answered * 1000 if answered else None)
                                    for g, s in cpu_total.items()},
        "peak_rss_mib": {g: kb / 1024 for g, kb in rss.items()},
        "loadavg_1m": [float(r["loadavg"].split()[0]) for r in runs],
        "other_cpu_share": [r["other_cpu_share"] for r in runs],
        "started_quiet": [(r.get("before_round") or {}).get("quiet") for r in runs],
        "busy_share": [r["busy_share"] for r in runs],
    }
    if row["kind"] == "hey":
        hs = [r["hey"] for r in runs]
        row.update({
            "requests_per_s": median(h["rps"] for h in hs),
            "requests_per_s_rounds": [h["rps"] for h in hs],
            "p50_ms": _ms(median(h["p50_s"] for h in hs)),
            "p99_ms": _ms(median(h["p99_s"] for h in hs)),
            "non_200": sum(sum(c for s, c in h["status"].items() if s != 200) for h in hs),
            "errors": sum(h["errors"] for h in hs),
        })
    else:
        samples = [s for r in runs for s in r["ttfb"] if s["status"] == 200 and not s["error"]]
        row.update({
            "headers_ms": median(s["headers_ms"] for s in samples),
            "first_byte_ms": median(s["first_byte_ms"] for s in samples),
            "first_byte_p90_ms": percentile([s["first_byte_ms"] for s in samples], 90),
            "total_ms": median(s["total_ms"] for s in samples),
            "bytes_per_answer": median(s["body_bytes"] for s in samples),
            "errors": sum(1 for r in runs for s in r["ttfb"] if s["error"] or s["status"] != 200),
        })
    row["check_request"] = check_request(runs[0]["out"], runs[0])
    return row


def check_request(out, run):
    """The harness's checked request on the run's network: "status body_bytes" each way."""
    path = os.path.join(out, "raw", run.get("network", ""), "check.json")
    if run.get("network") and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return None


def _ms(seconds):
    return None if seconds is None else seconds * 1000


def headline(rows):
    by = {(r["scenario"], r["target"]): r for r in rows}
    out = {}

    def pair(s):
        return by.get((s, "direct")), by.get((s, "network"))

    d, n = pair("ref-c30")
    if d and n and d.get("requests_per_s") and n.get("requests_per_s"):
        out["throughput_ratio_network_over_direct"] = n["requests_per_s"] / d["requests_per_s"]
        out["throughput_target"] = ">= 0.50"
    for s in ("ref-c30-ka", "one-line-c30", "large", "scale", "pay-off", "pay-on"):
        d, n = pair(s)
        if d and n and d.get("requests_per_s") and n.get("requests_per_s"):
            out[f"throughput_ratio_{s}"] = n["requests_per_s"] / d["requests_per_s"]
    for s in ("ref-c1", "ref-c1-ka", "asbuilt-c1-ka", "nodelay-c1-ka"):
        d, n = pair(s)
        if d and n and d.get("p50_ms") is not None and n.get("p50_ms") is not None:
            out[f"added_p50_ms_{s}"] = n["p50_ms"] - d["p50_ms"]
            out["added_p50_target_ms"] = "<= 1.0"
    off, on = by.get(("pay-off", "network")), by.get(("pay-on", "network"))
    if off and on and off.get("requests_per_s") and on.get("requests_per_s"):
        out["payments_on_over_off_network_req_s"] = on["requests_per_s"] / off["requests_per_s"]
    d, n = pair("ttfb")
    if d and n and d.get("first_byte_ms") is not None and n.get("first_byte_ms") is not None:
        out["first_byte_overhead_ms"] = n["first_byte_ms"] - d["first_byte_ms"]
        out["first_byte_target_ms"] = "<= 2.0"
    return out


def load_scale(out):
    """raw/scale-1k/result.json as cocoon-scale wrote it, or None."""
    path = os.path.join(out, "raw", "scale-1k", "result.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def scale_headline(scale, head):
    p, st, w = scale["proxy"], scale["streams"], scale["workers"]
    head["scale_1k_proxy_vmhwm_mib"] = p["vmhwm_mib"]
    head["scale_1k_errors_plus_lost"] = st["errors"] + st["lost"] + scale["client_failures"] + w["failed"]
    head["scale_1k_target"] = "proxy <= 300 MB RSS with 1,000 workers and 10,000 open streams, no errors"


def scale_lines(scale):
    sh, p, st, w = scale["shape"], scale["proxy"], scale["streams"], scale["workers"]
    lat, first, hs = st["latency"], st["first_answer"], w["handshake"]
    return [
        f"scale-1k (cocoon-scale, one proxy process; simulated workers and clients in one process): "
        f"{w['connected']}/{sh['workers']} workers, {sh['clients']} x {sh['streams_per_client']} = "
        f"{sh['concurrent_streams']} concurrent streams of {sh['lines']} x {sh['line_bytes']} B, "
        f"{sh['line_delay_ms']} ms apart, for {sh['duration_s']} s",
        f"  workers: all handshaked in {w['all_connected_s']} s (each: p50 {hs['p50_ms']} ms, "
        f"p99 {hs['p99_ms']} ms), {w['failed']} failed",
        f"  streams: {st['per_s']} completed/s, {st['completed']} completed, {st['errors']} errors "
        f"{st['errors_by_code']}, {st['lost']} lost, {scale['client_failures']} client connection failures; "
        f"whole stream p50 {lat['p50_ms']} ms / p99 {lat['p99_ms']} ms, first answer p50 "
        f"{first['p50_ms']} ms / p99 {first['p99_ms']} ms",
        f"  proxy: VmHWM {p['vmhwm_mib']} MiB (idle {p['rss_idle_mib']}, with workers "
        f"{p['rss_with_workers_mib']}, largest sampled RSS {p['rss_peak_sampled_mib']}), CPU "
        f"{p['cpu_s_total_load']} s under load = {p['cpu_ms_per_stream']} ms per stream; alive at end: "
        f"{p['alive_at_end']}; fd limit {scale['fd_limit']['soft']} (need ~{scale['fd_limit']['needed_about']})",
    ]


def max_or_none(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def pct(v):
    return "-" if v is None else f"{v * 100:.0f}%"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def table(rows, head, machine, load_end, scale=None):
    lines = []
    lines.append("cocoon-rs benchmark (fake engine; direct = engine alone, network = "
                 "client -> proxy -> worker -> engine)")
    lines.append(f"machine: {machine.get('nproc')} CPUs, {machine.get('cpu_model')}, "
                 f"{machine.get('mem_total')}; load avg at start {machine.get('loadavg_start')}, "
                 f"at end {load_end}")
    lines.append("")
    hdr = (f"{'scenario':<14}{'target':<8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}"
           f"  {'CPU s / 1k req: eng':>19}{'proxy':>7}{'worker':>7}{'client':>7}{'tool':>7}"
           f"  {'peak RSS MiB: eng':>17}{'proxy':>7}{'worker':>7}{'client':>7}{'other':>6}{'busy':>5}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in rows:
        c, m = r["cpu_s_per_1000_requests"], r["peak_rss_mib"]
        if r["kind"] == "hey":
            rate, p50, p99 = fmt(r["requests_per_s"], ".0f"), fmt(r["p50_ms"], ".2f"), fmt(r["p99_ms"], ".2f")
            err = r["errors"] + r["non_200"]
        else:
            rate, p50, p99 = "ttfb", fmt(r["first_byte_ms"], ".2f"), fmt(r["first_byte_p90_ms"], ".2f")
            err = r["errors"]
        lines.append(
            f"{r['scenario']:<14}{r['target']:<8}{rate:>8}{p50:>8}{p99:>8}{err:>5}"
            f"  {fmt(c.get('engine'), '.3f'):>19}{fmt(c.get('proxy'), '.3f'):>7}"
            f"{fmt(c.get('worker'), '.3f'):>7}{fmt(c.get('client'), '.3f'):>7}"
            f"{fmt(c.get('load tool'), '.3f'):>7}"
            f"  {fmt(m.get('engine'), '.1f'):>17}{fmt(m.get('proxy'), '.1f'):>7}"
            f"{fmt(m.get('worker'), '.1f'):>7}{fmt(m.get('client'), '.1f'):>7}"
            f"{pct(max_or_none(r['other_cpu_share'])):>6}{pct(max_or_none(r['busy_share'])):>5}")
    lines.append("")
    lines.append("ttfb rows: p50/p99 columns are the median / p90 time to the first body byte (ms).")
    lines.append("worker columns: CPU summed over all workers, RSS of the largest one; tool: CPU of "
                 "the load generator (hey or ttfb.py);")
    lines.append("other: largest share of all cores used by other processes during a round (the "
                 "quiet-machine check); busy: share of all cores busy.")
    started = [q for r in rows for q in r["started_quiet"] if q is not None]
    if started:
        lines.append(f"rounds that started on a quiet machine (<10 % busy for 1 s): "
                     f"{sum(1 for q in started if q)} of {len(started)}")
    for r in rows:
        if r["kind"] == "ttfb":
            lines.append(f"ttfb {r['target']}: headers {fmt(r['headers_ms'], '.2f')} ms, first byte "
                         f"{fmt(r['first_byte_ms'], '.2f')} ms, whole answer {fmt(r['total_ms'], '.2f')} ms")
    if scale:
        lines.append("")
        lines.extend(scale_lines(scale))
    lines.append("")
    for k, v in head.items():
        lines.append(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    return "\n".join(lines)


def chart(rows, head, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"direct": "tab:blue", "network": "tab:orange"}
    hey_rows = [r for r in rows if r["kind"] == "hey"]
    scen = list(dict.fromkeys(r["scenario"] for r in hey_rows))
    if not scen:
        return
    by = {(r["scenario"], r["target"]): r for r in rows}
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    x = list(range(len(scen)))
    w = 0.38

    ax = axes[0][0]
    ratios, labels = [], []
    for s in scen:
        d = by.get((s, "direct"), {}).get("requests_per_s")
        n = by.get((s, "network"), {}).get("requests_per_s")
        ratios.append(n / d if d and n else 0)
        labels.append(f"{n or 0:.0f}/{d or 0:.0f}")
    bars = ax.bar(x, ratios, 0.6, color=colors["network"])
    for bar, label in zip(bars, labels):
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(0.5, color="k", linestyle="--", linewidth=1, label="target 0.5 (ref-c30)")
    ax.set_xticks(x, scen, rotation=30, ha="right")
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("network req/s ÷ direct req/s")
    ax.set_title("Throughput ratio (labels: network/direct req/s)")
    ax.legend(fontsize=8)

    ax = axes[0][1]
    for i, target in enumerate(("direct", "network")):
        p50 = [by.get((s, target), {}).get("p50_ms") or 0 for s in scen]
        p99 = [by.get((s, target), {}).get("p99_ms") or 0 for s in scen]
        pos = [p + (i - 0.5) * w for p in x]
        ax.bar(pos, p99, w, color=colors[target], alpha=0.3, label=f"{target} p99")
        ax.bar(pos, p50, w, color=colors[target], label=f"{target} p50")
    ax.set_xticks(x, scen, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("Latency per request (hey)")
    ax.legend(fontsize=8)

    ax = axes[1][0]
    bottom = [0.0] * len(scen)
    for node in NODE_ORDER:
        vals = [(by.get((s, "network"), {}).get("cpu_s_per_1000_requests") or {}).get(node) or 0
                for s in scen]
        ax.bar(x, vals, 0.6, bottom=bottom, label=node)
        bottom = [b + v for b, v in zip(bottom, vals)]
    direct = [(by.get((s, "direct"), {}).get("cpu_s_per_1000_requests") or {}).get("engine") or 0
              for s in scen]
    ax.plot(x, direct, "k_", markersize=30, label="engine alone (direct runs)")
    ax.set_xticks(x, scen, rotation=30, ha="right")
    ax.set_ylabel("CPU s per 1,000 requests")
    ax.set_title("CPU per node, network runs")
    ax.legend(fontsize=8)

    ax = axes[1][1]
    ttfb = [(t, by.get(("ttfb", t))) for t in ("direct", "network")]
    ttfb = [(t, r) for t, r in ttfb if r]
    if ttfb:
        for i, (t, r) in enumerate(ttfb):
            vals = [r["headers_ms"] or 0, r["first_byte_ms"] or 0, r["first_byte_p90_ms"] or 0]
            ax.bar([p + (i - 0.5) * w for p in range(3)], vals, w, color=colors[t],
                   label=f"{t} (whole answer {r['total_ms'] or 0:.0f} ms)")
        ax.set_xticks(range(3), ["headers (median)", "first byte (median)", "first byte (p90)"])
        ax.set_ylabel("ms")
        over = head.get("first_byte_overhead_ms")
        ax.set_title("Slow engine, sequential requests: time to first byte"
                     + (f" (overhead {over:.2f} ms)" if over is not None else ""))
        ax.legend(fontsize=8)
    else:
        ax.set_axis_off()
    fig.suptitle("cocoon-rs: FAKE engine direct vs through client -> proxy -> worker (loopback)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[1]
    runs, groups = load(out)
    order = {"direct": 0, "network": 1}
    scen_order = list(dict.fromkeys(r["scenario"] for r in runs))
    keys = sorted(groups, key=lambda k: (scen_order.index(k[0]), order.get(k[1], 9)))
    rows = [summarise(s, t, groups[(s, t)]) for s, t in keys]
    head = headline(rows)
    scale = load_scale(out)
    if scale:
        scale_headline(scale, head)
    with open(os.path.join(out, "machine.json"), encoding="utf-8") as f:
        machine = json.load(f)
    load_end_path = os.path.join(out, "raw", "loadavg_end.txt")
    load_end = open(load_end_path).read().split() if os.path.exists(load_end_path) else None
    machine["loadavg_end"] = load_end
    text = table(rows, head, machine, load_end, scale)
    print(text)
    with open(os.path.join(out, "table.txt"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": machine, "headline": head, "rows": rows, "scale_1k": scale}, f, indent=2)
    if "--no-chart" not in argv:
        try:
            chart(rows, head, os.path.join(out, "chart.png"))
        except ImportError:
            print("report.py: matplotlib not available: no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

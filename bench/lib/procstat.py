#!/usr/bin/env python3
"""Per-process CPU time and memory from /proc, for the benchmark harness.

  procstat.py snap NAME=PID ...    print one JSON object {NAME: {...}} to stdout:
                                   cpu_ticks (utime+stime), clk_tck, vm_hwm_kb, vm_rss_kb,
                                   alive (false when the process is gone); plus "_system":
                                   busy_ticks, the machine-wide non-idle CPU time from /proc/stat,
                                   and the wall-clock time it was read
  procstat.py quiet MAX_SHARE TIMEOUT_S
                                   wait until one second passes with less than MAX_SHARE of all
                                   cores busy (or TIMEOUT_S passes); print the seconds waited and
                                   the last share seen, as JSON
  procstat.py reset-peak PID ...   write "5" to /proc/PID/clear_refs, which resets VmHWM
                                   (peak RSS) to the current RSS; failures are reported, not fatal

Only reads /proc of processes the harness itself started.
"""

import json
import os
import sys
import time


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", "r", encoding="ascii", errors="replace") as f:
        text = f.read()
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def memory_kb(pid):
    out = {"vm_hwm_kb": None, "vm_rss_kb": None}
    with open(f"/proc/{pid}/status", "r", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                out["vm_hwm_kb"] = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                out["vm_rss_kb"] = int(line.split()[1])
    return out


def system_busy_ticks():
    """Machine-wide CPU ticks spent not idle: user+nice+system+irq+softirq+steal."""
    with open("/proc/stat", "r", encoding="ascii") as f:
        fields = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...
    values = [int(v) for v in fields[1:9]]
    return values[0] + values[1] + values[2] + values[5] + values[6] + values[7]


def snap(pairs):
    clk = os.sysconf("SC_CLK_TCK")
    result = {"_system": {"busy_ticks": system_busy_ticks(), "time": time.time(), "clk_tck": clk,
                          "ncpu": os.cpu_count()}}
    for pair in pairs:
        name, _, pid = pair.partition("=")
        entry = {"pid": int(pid), "clk_tck": clk, "alive": True}
        try:
            entry["cpu_ticks"] = cpu_ticks(pid)
            entry.update(memory_kb(pid))
        except (OSError, ValueError, IndexError):
            entry["alive"] = False
        result[name] = entry
    return result


def reset_peak(pids):
    failed = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
        except OSError as e:
            failed.append(f"{pid}: {e}")
    if failed:
        print("procstat: could not reset peak RSS: " + "; ".join(failed), file=sys.stderr)


def wait_quiet(max_share, timeout_s):
    clk = os.sysconf("SC_CLK_TCK")
    ncpu = os.cpu_count() or 1
    start = time.time()
    share = None
    while True:
        b0, t0 = system_busy_ticks(), time.time()
        time.sleep(1.0)
        b1, t1 = system_busy_ticks(), time.time()
        share = (b1 - b0) / clk / ((t1 - t0) * ncpu)
        if share < max_share or t1 - start >= timeout_s:
            return {"waited_s": round(t1 - start, 1), "busy_share": round(share, 3),
                    "quiet": share < max_share}


def main(argv):
    if len(argv) < 2 or argv[1] not in ("snap", "reset-peak", "quiet"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "snap":
        json.dump(snap(argv[2:]), sys.stdout)
        sys.stdout.write("\n")
    elif argv[1] == "quiet":
        if len(argv) != 4:
            print(__doc__, file=sys.stderr)
            return 2
        json.dump(wait_quiet(float(argv[2]), min(float(argv[3]), 3600.0)), sys.stdout)
        sys.stdout.write("\n")
    else:
        reset_peak(argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

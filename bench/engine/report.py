"""Prints the markdown tables of bench/engine/run from its JSON lines (speed.jsonl, net.jsonl)."""

import json
import statistics
import sys


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def main() -> int:
    out_dir = sys.argv[1]
    speed = lines(f"{out_dir}/speed.jsonl")
    print("| implementation | prompt tokens | prompt processing tok/s (median) | generated tokens | generation tok/s (median) | rounds |")
    print("|---|---|---|---|---|---|")
    gen = {}
    for impl in dict.fromkeys(r["impl"] for r in speed):
        rs = [r for r in speed if r["impl"] == impl]
        pp = statistics.median(r["prompt_tokens"] / r["prefill_s"] for r in rs)
        tg = statistics.median(r["gen_tokens"] / r["gen_s"] for r in rs if r["gen_s"] > 0)
        gen[impl] = tg
        print(f"| {impl} | {rs[0]['prompt_tokens']} | {pp:.1f} | {rs[0]['gen_tokens']} | {tg:.1f} | {len(rs)} |")
    ours = [v for k, v in gen.items() if k.startswith("cocoon")]
    theirs = [v for k, v in gen.items() if k.startswith("llama")]
    if ours and theirs:
        print(f"\ngeneration speed, ours / llama.cpp's: **{ours[0] / theirs[0]:.2f}x** (target >= 0.9x)")
    net = lines(f"{out_dir}/net.jsonl")
    print("\n| path | time to first piece (median, s) | total (median, s) | completion tokens | tokens/s (median) | rounds |")
    print("|---|---|---|---|---|---|")
    for path in dict.fromkeys(r["path"] for r in net):
        rs = [r for r in net if r["path"] == path]
        ttft = statistics.median(r["ttft_s"] for r in rs)
        total = statistics.median(r["total_s"] for r in rs)
        tps = statistics.median(r["completion_tokens"] / r["total_s"] for r in rs)
        print(f"| {path} | {ttft:.3f} | {total:.3f} | {rs[0]['completion_tokens']} | {tps:.1f} | {len(rs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

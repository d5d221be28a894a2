"""One streamed chat request, timed from the caller's side: POST URL/v1/chat/completions with
"stream": true (greedy, max_tokens N, usage included), then prints one JSON line: time to the
first content piece, total time, completion tokens (from the usage chunk).

usage: stream_bench.py BASE_URL MODEL MAX_TOKENS ROUNDS LABEL
"""

import json
import sys
import time
import urllib.request


def one(base: str, model: str, max_tokens: int) -> tuple[float, float, int]:
    body = json.dumps({
        "model": model, "stream": True, "temperature": 0, "max_tokens": max_tokens,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}],
    }).encode()
    req = urllib.request.Request(f"{base}/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    first = None
    tokens = 0
    with urllib.request.urlopen(req, timeout=300) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[6:])
            choices = event.get("choices") or []
            if first is None and choices and choices[0].get("delta", {}).get("content"):
                first = time.perf_counter()
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
    end = time.perf_counter()
    return (first or end) - start, end - start, tokens


def main() -> int:
    base, model, max_tokens, rounds, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    one(base, model, 8)  # warm-up
    for _ in range(rounds):
        ttft, total, tokens = one(base, model, max_tokens)
        print(json.dumps({"path": label, "ttft_s": round(ttft, 6), "total_s": round(total, 6),
                          "completion_tokens": tokens}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

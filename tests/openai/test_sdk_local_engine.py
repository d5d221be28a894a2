"""The official `openai` Python SDK against a `cocoon up --model-file` network: the embedded
engine answering with a real model (SmolLM2-135M-Instruct) on the CPU.

Run through tests/openai/run.sh with a model file, which starts the network and sets
COCOON_BASE_URL and COCOON_MODEL. Checks: the model is listed; a streamed chat answer is real
text in several pieces with the usage at the end; the same greedy request unstreamed gives
the same text and usage; a completion honours max_tokens and stop.
"""

import os
import sys

import openai

MODEL = os.environ["COCOON_MODEL"]


def main() -> int:
    client = openai.OpenAI(base_url=os.environ["COCOON_BASE_URL"], api_key="not-used", max_retries=0, timeout=120)

    models = [m.id for m in client.models.list()]
    assert MODEL in models, f"model {MODEL} not listed: {models}"

    question = [{"role": "user", "content": "What is the capital of France?"}]
    pieces = []
    usage = None
    stream = client.chat.completions.create(
        model=MODEL, messages=question, stream=True, temperature=0, max_tokens=40,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    streamed = "".join(pieces)
    assert len(pieces) > 1, f"expected several streamed pieces, got {pieces}"
    assert any(c.isalpha() for c in streamed), streamed
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0, usage

    plain = client.chat.completions.create(model=MODEL, messages=question, temperature=0, max_tokens=40)
    assert plain.choices[0].message.content == streamed, (plain.choices[0].message.content, streamed)
    assert plain.usage.prompt_tokens == usage.prompt_tokens, (plain.usage, usage)
    assert plain.usage.completion_tokens == usage.completion_tokens, (plain.usage, usage)

    completion = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=6, temperature=0)
    assert completion.choices[0].text and completion.usage.completion_tokens <= 6, completion
    stopped = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=6, temperature=0, stop=["6"])
    assert "6" not in stopped.choices[0].text, stopped

    print(f"openai SDK {openai.__version__} on the embedded engine ({MODEL}): streamed answer "
          f"{streamed!r} in {len(pieces)} pieces, usage {usage.prompt_tokens}+{usage.completion_tokens} tokens: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

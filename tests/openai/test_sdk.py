"""The official `openai` Python SDK against a `cocoon up` network (fake engine).

Run through tests/openai/run.sh, which starts the network and sets COCOON_BASE_URL.
Checks: model listing, a streamed and a non-streamed chat completion, a completion.
"""

import os
import sys

import openai

MODEL = os.environ.get("COCOON_MODEL", "Qwen/Qwen3-8B")


def main() -> int:
    client = openai.OpenAI(base_url=os.environ["COCOON_BASE_URL"], api_key="not-used", max_retries=0, timeout=60)

    models = [m.id for m in client.models.list()]
    assert MODEL in models, f"model {MODEL} not listed: {models}"

    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello!"}])
    assert chat.choices[0].message.content, chat
    assert chat.usage is not None and chat.usage.total_tokens > 0, chat.usage

    pieces = []
    usage = None
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hello!"}], stream=True
    )
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert len(pieces) > 1, f"expected several streamed pieces, got {len(pieces)}"
    assert usage is not None and usage.total_tokens > 0, usage

    completion = client.completions.create(model=MODEL, prompt="Hi")
    assert completion.choices[0].text, completion

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("unknown model should fail")
    except openai.NotFoundError as err:
        assert "unknown model" in str(err), err

    print(f"openai SDK {openai.__version__}: models, chat (plain + {len(pieces)} streamed pieces), completion, 404: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

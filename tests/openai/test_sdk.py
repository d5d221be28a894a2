"""The official `openai` Python SDK against a `cocoon up` network (fake engine).

Run through tests/openai/run.sh, which starts the network and sets COCOON_BASE_URL.
Checks: model listing, a streamed and a non-streamed chat completion, a completion, audio
transcriptions (json, text, verbose_json, streamed) of a generated WAV file.
"""

import io
import os
import sys
import wave

import openai

MODEL = os.environ.get("COCOON_MODEL", "Qwen/Qwen3-8B")


def silent_wav(seconds: int) -> bytes:
    """`seconds` of 16 kHz mono 16-bit silence as a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000 * seconds)
    return buf.getvalue()


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

    # The fake engine's transcription is simulated from the file's name and size.
    audio = silent_wav(3)
    expected = f"simulated transcription of speech.wav ({len(audio)} bytes)"
    transcription = client.audio.transcriptions.create(model=MODEL, file=("speech.wav", audio, "audio/wav"))
    assert transcription.text == expected, transcription
    as_text = client.audio.transcriptions.create(
        model=MODEL, file=("speech.wav", audio, "audio/wav"), response_format="text", language="en"
    )
    assert str(as_text).strip() == expected, as_text
    verbose = client.audio.transcriptions.create(
        model=MODEL, file=("speech.wav", audio, "audio/wav"), response_format="verbose_json"
    )
    assert verbose.text == expected and verbose.duration == 3.0, verbose
    deltas = []
    done = None
    for event in client.audio.transcriptions.create(
        model=MODEL, file=("speech.wav", audio, "audio/wav"), stream=True
    ):
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
        elif event.type == "transcript.text.done":
            done = event.text
    assert "".join(deltas) == expected and done == expected, (deltas, done)

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("unknown model should fail")
    except openai.NotFoundError as err:
        assert "unknown model" in str(err), err

    print(f"openai SDK {openai.__version__}: models, chat (plain + {len(pieces)} streamed pieces), completion, transcriptions, 404: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checks one pairing's encrypted requests (scripts/interop, April generation).

For each `stream` value S the pairing directory holds what `encrypted_requests` wrote:
`enc-request-S.json` (the caller's body, from the reference's `encrypt-message`),
`enc-answer-S.{code,body,curl-err}` (what the client answered) and `enc-answer-S.{dec,dec-err}`
(the answer through `encrypt-message -d`, the caller's seed, the key manager's public key).
An answer passes when it is HTTP 200, every line is an encrypted JSON object from the key manager
key to the caller key whose every encryptable string value is `ENC_…` (delta-2026-04 §2.4),
`encrypt-message -d` decrypted every line (no "failed to decrypt", no `ENC_` left) and the clear
answer ends with the engine's `usage`.
"""
import json
import os

KM_PUBLIC_HEX = 'fb67d0fcd338f20e0d4957d9e82adc101d2e3513a448a3ab46052ee1b88c5818'
# Ed25519 public key of the caller seed 00 01 .. 1f (vectors/encryption/README.md).
CALLER_PUBLIC_HEX = '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8'
# Names never encrypted, at any depth (delta-2026-04 §2.4, should_encrypt_field).
PLAIN = {'is_encrypted', 'sender_public_key', 'receiver_public_key', 'encryption_nonce', 'model',
         'max_completion_tokens', 'max_tokens', 'max_coefficient', 'timeout', 'debug', 'enable_debug',
         'request_guid'}


def _read(d, name):
    try:
        with open(os.path.join(d, name), errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def clear_values(value, path='$'):
    """Paths of string values that should be ENC_ but are not."""
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if k not in PLAIN:
                out += clear_values(v, f'{path}.{k}')
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in clear_values(v, f'{path}[{i}]')]
    if isinstance(value, str) and not value.startswith('ENC_'):
        return [path]
    return []


def answer_lines(body):
    """The JSON payloads of an answer: NDJSON lines, or SSE `data:` lines."""
    out = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith('data:'):
            line = line[5:].strip()
            if line == '[DONE]':
                continue
        if line:
            out.append(line)
    return out


def check_answer(d, s):
    """'' when the encrypted answer for stream=S passes, else the first problem found."""
    code = _read(d, f'enc-answer-{s}.code').strip() or '000'
    body = _read(d, f'enc-answer-{s}.body')
    if code != '200':
        text = ' '.join(l.strip() for l in body.splitlines() if l.strip()) \
            or _read(d, f'enc-answer-{s}.curl-err').strip()
        return f'stream={s}: HTTP {code}: {text[:200]}'
    lines = answer_lines(body)
    if not lines:
        return f'stream={s}: HTTP 200 with an empty body'
    for n, line in enumerate(lines, 1):
        try:
            v = json.loads(line)
        except ValueError:
            return f'stream={s}: answer line {n} is not JSON: {line[:80]}'
        if not isinstance(v, dict) or 'is_encrypted' not in v:
            return f'stream={s}: answer line {n} is not encrypted: {line[:80]}'
        if v.get('sender_public_key', '').lower() != KM_PUBLIC_HEX \
                or v.get('receiver_public_key', '').lower() != CALLER_PUBLIC_HEX:
            return f'stream={s}: answer line {n} has keys {v.get("sender_public_key")} -> {v.get("receiver_public_key")}'
        clear = clear_values(v)
        if clear:
            return f'stream={s}: answer line {n}: clear value at {clear[0]}'
    dec_err = _read(d, f'enc-answer-{s}.dec-err')
    if 'failed to decrypt' in dec_err:
        first = next(l for l in dec_err.splitlines() if 'failed to decrypt' in l)
        return f'stream={s}: encrypt-message -d: {first.strip()[-160:]}'
    dec = [l for l in _read(d, f'enc-answer-{s}.dec').splitlines() if l.strip()]
    if len(dec) != len(lines):
        return f'stream={s}: encrypt-message -d gave {len(dec)} values for {len(lines)} lines'
    if any('ENC_' in l for l in dec):
        return f'stream={s}: a value is still ENC_ after decryption'
    if '"usage"' not in dec[-1]:
        return f'stream={s}: the decrypted answer does not end with usage'
    return ''


def key_manager_crash(d):
    """'' or how the reference key manager died. On an AMD host the April key-manager-runner
    (fake TEE, no `connect_to_proxy_via` in its config type) builds a fake SEV certificate at
    start (sev::make_tee -> generate_vcek_cert) and dies with SIGSEGV there: no proxy then ever
    learns its key, and every encrypted request is answered "unknown public key"."""
    log = _read(d, 'key-manager.log')
    for line in log.splitlines():
        if 'Signal:' in line:
            return 'the reference key manager died at start (' + line.split(']')[-1].strip() + \
                '; AMD host: its fake-SEV certificate path crashes), so no proxy knows its key; '
    return ''


def first_error(d, streams):
    """The first problem of the pairing's encrypted answers, '' when all pass."""
    for s in streams:
        if not os.path.exists(os.path.join(d, f'enc-request-{s}.json')) \
                or 'ENC_' not in _read(d, f'enc-request-{s}.json'):
            return f'stream={s}: encrypt-message made no request: {_read(d, f"enc-request-{s}.err")[:160]}'
        err = check_answer(d, s)
        if err:
            return key_manager_crash(d) + err
    return ''

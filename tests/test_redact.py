"""opsctl.redact: server text is printed without secrets or terminal control sequences."""

import json
from urllib.parse import quote

import pytest

from opsctl.redact import redact, safe_text, strip_control

SECRET = 'sk-master"key/with spaces&+'


@pytest.mark.parametrize("spelling", [
    SECRET,
    json.dumps(SECRET)[1:-1],  # JSON-escaped quote
    quote(SECRET, safe=""),
    repr(SECRET)[1:-1],
])
def test_a_secret_is_redacted_however_it_was_quoted(spelling):
    shown = redact(f"invalid key: {spelling}!", [SECRET])
    assert shown == "invalid key: ****!"


def test_plaintext_keys_and_url_passwords_are_redacted_without_being_named():
    text = "bad sk-abc123XYZ_-9 for postgresql://litellm:pw%40secret@db:5432/x and redis://:hunter2@r:6379"
    shown = redact(text)
    assert "abc123" not in shown and "pw%40secret" not in shown and "hunter2" not in shown
    assert shown == "bad sk-**** for postgresql://litellm:****@db:5432/x and redis://:****@r:6379"


def test_terminal_sequences_and_control_characters_are_dropped():
    hostile = "ok\x1b[2J\x1b]0;pwned\x07 line\r\x1b[1Adone\x00\x9b\u202e\ttab\nnext"
    assert strip_control(hostile) == "ok linedone\ttab\nnext"


def test_safe_text_cuts_long_text():
    assert safe_text("x" * 50, limit=10) == "x" * 9 + "…"
    assert safe_text(12) == "12"


def test_short_or_empty_secrets_do_not_erase_the_text():
    assert redact("a b c", ["", None, "a"]) == "a b c"


def test_visible_shows_control_characters_as_escapes():
    from opsctl.redact import visible

    assert visible("chat[/bold]-x\x1b[31m\r\n\u202e\ud800") == "chat[/bold]-x\\x1b[31m\\x0d\\x0a\\u202e\\ud800"
    assert visible("a\nb\x07", keep_newlines=True) == "a\nb\\x07"


def test_scrub_masks_a_secret_in_every_string_and_key_of_an_answer():
    from opsctl.redact import scrub

    answer = {"keys": [{"key_alias": SECRET, SECRET: 1, "n": 5, "m": [quote(SECRET, safe=""), "html " + __import__("html").escape(SECRET)]}]}
    assert json.dumps(scrub(answer, [SECRET])) == json.dumps(
        {"keys": [{"key_alias": "****", "****": 1, "n": 5, "m": ["****", "html ****"]}]})


def test_scrub_with_the_raw_text_skips_only_answers_that_cannot_hold_the_secret():
    from opsctl.redact import scrub

    for raw in (json.dumps({"a": SECRET}), json.dumps({"a": SECRET.replace("-", "\\u002d")}).replace("\\\\", "\\"),
                '{"a": "' + "".join(f"\\u{ord(c):04x}" for c in SECRET) + '"}'):
        value = json.loads(raw)
        assert scrub(value, [SECRET], raw=raw.encode()) == {"a": "****"}, raw  # escaped spellings are still found
    clean = '{"a": "nothing here"}'
    value = json.loads(clean)
    assert scrub(value, [SECRET], raw=clean.encode()) is value  # not walked


def test_jsonsafe_refuses_the_same_without_escapes_as_with_them():
    import pytest

    from opsctl import jsonsafe

    for document in (b"[" * 65 + b"]" * 65, b'{"a":' * 65 + b"1" + b"}" * 65, b'[{"a": [' * 22 + b"]}]" * 22):
        with pytest.raises(jsonsafe.JSONError, match="nesting deeper than 64 levels"):
            jsonsafe.loads(document)
    assert jsonsafe.loads(b"[" * 64 + b"]" * 64) is not None
    for document in (b'"\\ud800"', b'{"k\\udfff": 1}', '"\ud800"'):
        with pytest.raises(jsonsafe.JSONError, match="lone surrogate"):
            jsonsafe.loads(document)
    with pytest.raises(jsonsafe.JSONError, match="NUL"):
        jsonsafe.loads(b'["a\\u0000"]', allow_nul=False)
    assert jsonsafe.loads('["é", {"ü": "\u00e9"}]'.encode()) == ["é", {"ü": "é"}]

"""Tags and notes of a sweep: what a tag may be and how many a sweep may carry (one place: the
spec of POST /sweeps and the body of PATCH /sweeps/{id} both validate through here).

A tag is 1..MAX_TAG_CHARS printable characters without commas (GET /sweeps?tag= takes one tag;
the page and the CLI list them comma-separated), surrounding spaces trimmed, kept once each in the
order given. `run:<id>` is the tag `resphase reproduce --url` gives every sweep of one run.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_TAGS = 20  # per sweep
MAX_TAG_CHARS = 64
MAX_NOTE_CHARS = 10_000
RUN_TAG_PREFIX = "run:"


def _printable(text: str, what: str) -> str:
    """NUL (PostgreSQL refuses it), other control characters and lone surrogates are refused."""
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ValueError(f"{what} must not contain control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} must be valid Unicode (no lone surrogates)") from exc
    return text


def clean_tag(tag: str) -> str:
    """One tag, trimmed; ValueError naming the rule it breaks."""
    t = tag.strip()
    if not t:
        raise ValueError("a tag must not be empty")
    if len(t) > MAX_TAG_CHARS:
        raise ValueError(f"tag {t[:20]!r}... is {len(t)} characters, over max_tag_chars={MAX_TAG_CHARS}")
    if "," in t or "\n" in t or "\t" in t:
        raise ValueError(f"tag {t!r} must not contain commas, tabs or newlines")
    return _printable(t, "a tag")


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags trimmed and deduplicated (first occurrence kept); ValueError over max_tags."""
    out: list[str] = []
    for tag in tags:
        t = clean_tag(tag)
        if t not in out:
            out.append(t)
    if len(out) > MAX_TAGS:
        raise ValueError(f"{len(out)} tags, over max_tags={MAX_TAGS}")
    return out


def clean_note(note: str) -> str:
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"the note is {len(note)} characters, over max_note_chars={MAX_NOTE_CHARS}")
    return _printable(note, "the note")

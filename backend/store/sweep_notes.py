"""A sweep's tags and note: written at submission (the spec's tags) and by PATCH /sweeps/{id};
read for a page of sweeps in one query. The values arrive cleaned (backend/sweep_tags.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from backend.store.tables import Sweep, sweep_tag


def set_tags(session: Session, sweep_id: int, tags: Sequence[str]) -> None:
    """Replace the sweep's tags with `tags` (their order kept)."""
    session.execute(delete(sweep_tag).where(sweep_tag.c.sweep_id == sweep_id))
    if tags:
        session.execute(insert(sweep_tag), [{"sweep_id": sweep_id, "tag": t, "position": i}
                                            for i, t in enumerate(tags)])


def set_note(session: Session, sweep: Sweep, note: str) -> None:
    sweep.note = note


def tags_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """{sweep id: its tags in the order given} for these sweeps (one query; [] for none)."""
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        query = (select(sweep_tag.c.sweep_id, sweep_tag.c.tag).where(sweep_tag.c.sweep_id.in_(ids))
                 .order_by(sweep_tag.c.sweep_id, sweep_tag.c.position))
        for sweep_id, tag in session.execute(query):
            out[sweep_id].append(tag)
    return out

// sweep_notes.js: the selected sweep's tags (chips: click searches the list for the tag, × removes
// it, the box adds one on Enter), its free-text note (Save writes it) and Delete, behind a
// confirmation dialog. Writes go through PATCH / DELETE /sweeps/{id}: the server allows them to the
// sweep's owner or an admin, and its refusal (403, or 422 naming a limit) is shown here.
//
// Redrawn when the selected sweep changes, and when a poll brings tags or a note that differ
// from what is shown, unless the user is editing the note (their text is never overwritten).

import { api } from './api.js';
import { $, h } from './dom.js';
import { setSearch } from './sweep_list.js';
import { store } from './state/store.js';

let shown = { id: null, tags: null, note: null };
let onDeleted = () => {};

function say(text, bad = false) {
  const el = $('#sweep-notes-status');
  el.textContent = text;
  el.classList.toggle('bad', bad);
}

async function save(id, body) {
  try {
    const summary = await api.annotate(id, body);
    say(body.note !== undefined ? 'Note saved.' : 'Tags saved.');
    store.emit('annotated', summary);
    return summary;
  } catch (err) {
    say(err.text ? err.text() : String(err), true);
    return null;
  }
}

function chips(s) {
  return s.tags.map((t) => h('span', { class: 'tag-chip', dataset: { testid: 'note-tag' } },
    h('button', { type: 'button', class: 'tag-search', text: t, title: `list the sweeps tagged ${t}`,
      onclick: () => setSearch(`tag:${t}`) }),
    h('button', { type: 'button', class: 'tag-remove', text: '×', 'aria-label': `remove tag ${t}`,
      dataset: { testid: `remove-tag-${t}` }, onclick: () => save(s.id, { tags: s.tags.filter((x) => x !== t) }) })));
}

function drawTags(s) {
  $('#sweep-tag-list').replaceChildren(...chips(s));
  shown.tags = JSON.stringify(s.tags);
}

function build(s) {
  const add = h('input', { id: 'sweep-tag-input', type: 'text', placeholder: 'add a tag, Enter',
    'aria-label': 'add a tag', maxlength: '64', dataset: { testid: 'tag-input' } });
  add.addEventListener('keydown', async (ev) => {
    if (ev.key !== 'Enter' || !add.value.trim()) return;
    ev.preventDefault();
    const current = store.sweep && store.sweep.id === s.id ? store.sweep.tags : s.tags;
    if (await save(s.id, { tags: [...current, add.value.trim()] })) add.value = '';
  });
  const note = h('textarea', { id: 'sweep-note', rows: '3', placeholder: 'A note: what this sweep is for, what it showed',
    'aria-label': 'note', dataset: { testid: 'note-input' } });
  note.value = s.note;
  note.addEventListener('input', () => { note.dataset.dirty = '1'; });
  const saveNote = h('button', { type: 'button', class: 'small', text: 'Save note', dataset: { testid: 'note-save' },
    onclick: async () => { if (await save(s.id, { note: note.value })) delete note.dataset.dirty; } });
  const del = h('button', { type: 'button', class: 'small danger', text: 'Delete sweep…', dataset: { testid: 'sweep-delete' },
    onclick: () => confirmDelete(s) });
  $('#sweep-notes').replaceChildren(
    h('div', { class: 'notes-row' }, h('span', { class: 'muted', text: 'Tags' }),
      h('span', { id: 'sweep-tag-list', class: 'tag-chips', dataset: { testid: 'note-tags' } }), add),
    h('div', { class: 'notes-row' }, note, h('div', { class: 'notes-actions' }, saveNote, del)),
    h('p', { id: 'sweep-notes-status', class: 'note', role: 'status', dataset: { testid: 'notes-status' } }));
  drawTags(s);
  shown = { id: s.id, tags: JSON.stringify(s.tags), note: s.note };
}

function confirmDelete(s) {
  const dialog = $('#delete-dialog');
  $('#delete-dialog-text').textContent = `Delete sweep #${s.id} ${s.name || '(unnamed)'}? Its points that no other `
    + 'sweep uses are removed with their results. This cannot be undone.';
  const confirm = $('#delete-confirm');
  confirm.onclick = async () => {
    dialog.close();
    try {
      await api.remove(s.id);
      onDeleted(s.id);
    } catch (err) {
      say(err.text ? err.text() : String(err), true);
    }
  };
  $('#delete-cancel').onclick = () => dialog.close();
  dialog.showModal();
  $('#delete-cancel').focus();  // the safe choice first
}

/** Follow the selected sweep (every poll's summary); `deleted(id)` runs after a deletion. */
export function renderNotes(s) {
  const root = $('#sweep-notes');
  root.hidden = !s;
  if (!s) {
    shown = { id: null, tags: null, note: null };
    return;
  }
  if (shown.id !== s.id) {
    build(s);
    return;
  }
  if (shown.tags !== JSON.stringify(s.tags)) drawTags(s);
  const note = $('#sweep-note');
  if (s.note !== shown.note && !note.dataset.dirty && document.activeElement !== note) {
    note.value = s.note;
    shown.note = s.note;
  }
}

export function initNotes(deleted) {
  onDeleted = deleted;
}

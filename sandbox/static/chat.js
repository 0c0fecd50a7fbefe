/* Gespreksmaatje sandbox: a Telegram-like private chat for the person chosen at the top.
   The bot's formatting arrives as text + entities and is built as DOM nodes, never as
   HTML, so nothing the bot (or a person) writes can inject markup. */
"use strict";

const MAX_UPLOAD = 20 * 1024 * 1024;
const $ = (id) => document.getElementById(id);

const state = {
  persona: null,        // key of the person on screen
  personas: [],
  events: null,         // EventSource
  keyboard: null,       // reply keyboard rows, or null
  statusTimer: null,
  recorder: null,
};

/* ---------------------------------------------------------------- API */

async function api(path, options = {}) {
  let body;
  try {
    const response = await fetch(path, options);
    body = await response.json();
  } catch (error) {
    body = { ok: false, message: "De proefomgeving reageert niet. Draait hij nog?" };
  }
  if (!body.ok) {
    showToast(body.message || body.description || "Dat lukte niet.");
  }
  return body;
}

function post(action, payload) {
  return api(`/api/chat/${state.persona}/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload || {}),
  });
}

/* ---------------------------------------------------------------- personas */

async function loadPersonas() {
  const answer = await api("/api/personas");
  if (!answer.ok) return;
  state.personas = answer.result;
  const list = $("personas");
  list.replaceChildren();
  for (const p of state.personas) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "persona";
    button.dataset.persona = p.key;
    button.setAttribute("aria-pressed", "false");
    const name = document.createElement("span");
    name.className = "persona-name";
    name.textContent = p.name;
    const role = document.createElement("span");
    role.className = "persona-role";
    role.textContent = p.role;
    button.append(name, role);
    button.addEventListener("click", () => openPersona(p.key));
    list.append(button);
  }
  const wanted = new URLSearchParams(location.hash.slice(1)).get("als")
    || localStorage.getItem("sandbox-persona");
  const first = state.personas.find((p) => p.key === wanted) || state.personas[0];
  openPersona(first.key);
}

async function openPersona(key) {
  if (state.events) state.events.close();
  state.persona = key;
  localStorage.setItem("sandbox-persona", key);
  history.replaceState(null, "", `#als=${key}`);
  for (const button of document.querySelectorAll(".persona")) {
    button.setAttribute("aria-pressed", String(button.dataset.persona === key));
  }
  const persona = state.personas.find((p) => p.key === key);
  document.title = `Gespreksmaatje – ${persona.name} (${persona.role})`;
  $("messages").replaceChildren();
  setKeyboard(null);
  await post("open");  // the client's chat starts by itself on first open
  connect(key);
}

function connect(key) {
  const events = new EventSource(`/api/chat/${key}/events`);
  state.events = events;
  const on = (type, handler) => events.addEventListener(type, (e) => {
    if (state.persona === key) handler(JSON.parse(e.data));
  });
  on("snapshot", renderSnapshot);
  on("message", (item) => { upsert(item); applyKeyboard(item); });
  on("edit", upsert);
  on("delete", (item) => removeMessage(item.id));
  on("action", (a) => showAction(a.action));
  on("answer", (a) => {
    unlockButtons();
    if (a.text) showToast(a.text, a.show_alert);
  });
  events.onerror = () => setStatus("verbinding kwijt… opnieuw verbinden", 0);
  events.onopen = () => setStatus("bot");
}

/* ---------------------------------------------------------------- rendering */

function renderSnapshot(snapshot) {
  $("messages").replaceChildren();
  for (const item of snapshot.messages) upsert(item, false);
  setKeyboard(snapshot.keyboard);
  const persona = snapshot.persona;
  const empty = snapshot.messages.length === 0;
  $("empty").hidden = !empty;
  if (empty) {
    $("empty-text").textContent = persona.auto_start
      ? "Even geduld, de bot maakt de chat klaar…"
      : `Dit is de chat van ${persona.name} (${persona.role}). Druk op Start.`;
    $("start").hidden = persona.auto_start;
  }
  scrollToEnd(true);
}

function upsert(item, scroll = true) {
  $("empty").hidden = true;
  const node = renderMessage(item);
  const old = $("messages").querySelector(`[data-id="${item.id}"]`);
  if (old) {
    old.replaceWith(node);
    return;
  }
  // Keep the order of message ids (a late echo must not land below the bot's answer).
  const later = [...$("messages").children].find((el) => Number(el.dataset.id) > item.id);
  $("messages").insertBefore(node, later || null);
  if (scroll) scrollToEnd(item.from === "me");
}

function removeMessage(id) {
  const old = $("messages").querySelector(`[data-id="${id}"]`);
  if (old) old.remove();
}

function renderMessage(item) {
  const row = document.createElement("div");
  row.className = `msg from-${item.from}`;
  row.dataset.id = item.id;
  row.dataset.kind = item.kind;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  const who = document.createElement("span");
  who.className = "sr-only";
  who.textContent = item.from === "bot" ? "Gespreksmaatje: " : "Jij: ";
  bubble.append(who);
  const media = renderMedia(item);
  if (media) bubble.append(media);
  const text = item.text ?? item.caption;
  if (text) {
    const body = document.createElement("div");
    body.className = "text";
    renderEntities(body, text, item.text != null ? item.entities : item.caption_entities);
    bubble.append(body);
  }
  bubble.append(renderMeta(item));
  row.append(bubble);
  if (item.buttons && item.buttons.length) row.append(renderInlineKeyboard(item));
  return row;
}

function renderMeta(item) {
  const meta = document.createElement("span");
  meta.className = "meta";
  const parts = [];
  if (item.edited) parts.push("bewerkt");
  if (item.date) {
    parts.push(new Date(item.date * 1000).toLocaleTimeString("nl-NL",
      { hour: "2-digit", minute: "2-digit" }));
  }
  meta.textContent = parts.join(" · ") + (item.from === "me" ? " ✓✓" : "");
  return meta;
}

function renderMedia(item) {
  const file = item.file;
  if (!file) {
    if (item.kind === "other") return textNode("em", "(dit soort bericht kan de proefomgeving niet tonen)");
    return null;
  }
  if (item.kind === "photo" || item.kind === "sticker") {
    const img = document.createElement("img");
    img.className = item.kind;
    img.src = file.url;
    img.alt = item.caption || (item.from === "bot" ? "Plaatje van de bot" : "Jouw foto");
    img.loading = "lazy";
    img.addEventListener("load", () => scrollToEnd(false));
    return img;
  }
  if (item.kind === "voice" || item.kind === "audio") {
    const box = document.createElement("div");
    box.className = "voice";
    const label = textNode("span", `🔊 Spraakbericht${file.duration ? ` (${clock(file.duration)})` : ""}`);
    label.className = "voice-label";
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = file.url;
    audio.setAttribute("aria-label", "Spraakbericht afspelen");
    box.append(label, audio);
    return box;
  }
  if (item.kind === "video" || item.kind === "video_note" || item.kind === "animation") {
    const video = document.createElement("video");
    video.controls = true;
    video.src = file.url;
    video.className = item.kind;
    return video;
  }
  const link = document.createElement("a");
  link.className = "document";
  link.href = file.url;
  link.download = file.name || "bestand";
  const icon = textNode("span", "📄");
  icon.className = "doc-icon";
  icon.setAttribute("aria-hidden", "true");
  const name = textNode("span", file.name || "bestand");
  name.className = "doc-name";
  const size = textNode("span", file.size ? `${sizeText(file.size)} · downloaden` : "downloaden");
  size.className = "doc-size";
  link.append(icon, name, size);
  return link;
}

/* Telegram entities (UTF-16 offsets, same as JS strings) → nested elements. */
function renderEntities(parent, text, entities) {
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  renderRange(parent, text, 0, text.length, sorted);
}

function renderRange(parent, text, start, end, entities) {
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    if (entity.offset < pos || entity.offset >= end) { i += 1; continue; }
    if (entity.offset > pos) parent.append(text.slice(pos, entity.offset));
    const stop = Math.min(entity.offset + entity.length, end);
    const inner = [];
    let j = i + 1;
    while (j < entities.length && entities[j].offset < stop) { inner.push(entities[j]); j += 1; }
    const element = elementFor(entity, text.slice(entity.offset, stop));
    renderRange(element, text, entity.offset, stop, inner);
    parent.append(element);
    pos = stop;
    i = j;
  }
  if (pos < end) parent.append(text.slice(pos, end));
}

const TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  blockquote: "blockquote", expandable_blockquote: "blockquote", spoiler: "span",
};

function elementFor(entity, content) {
  if (entity.type === "text_link" || entity.type === "url") {
    const href = entity.type === "url" ? content : entity.url;
    if (/^(https?:|mailto:)/i.test(href || "")) {
      const a = document.createElement("a");
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      return a;
    }
    return document.createElement("span");
  }
  const element = document.createElement(TAGS[entity.type] || "span");
  if (entity.type === "spoiler") {
    element.className = "spoiler";
    element.tabIndex = 0;
    element.setAttribute("role", "button");
    element.setAttribute("aria-label", "Verborgen tekst, druk om te tonen");
    const reveal = () => element.classList.add("shown");
    element.addEventListener("click", reveal);
    element.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") reveal(); });
  }
  return element;
}

function renderInlineKeyboard(item) {
  const keyboard = document.createElement("div");
  keyboard.className = "inline-keyboard";
  keyboard.setAttribute("role", "group");
  keyboard.setAttribute("aria-label", "Knoppen bij dit bericht");
  for (const row of item.buttons) {
    const line = document.createElement("div");
    line.className = "kb-row";
    for (const b of row) {
      line.append(b.url ? urlButton(b) : callbackButton(item, b));
    }
    keyboard.append(line);
  }
  return keyboard;
}

function urlButton(b) {
  const a = document.createElement("a");
  a.className = "kb-button";
  a.textContent = `${b.text} ↗`;
  if (/^https?:/i.test(b.url)) { a.href = b.url; a.target = "_blank"; a.rel = "noopener noreferrer"; }
  return a;
}

function callbackButton(item, b) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "kb-button";
  button.textContent = b.text;
  button.addEventListener("click", () => pressButton(item.id, b.data, button));
  return button;
}

async function pressButton(messageId, data, button) {
  // Like Telegram: the pressed message's buttons wait until the bot answered.
  const keyboard = button.closest(".inline-keyboard");
  if (keyboard.classList.contains("busy")) return;
  keyboard.classList.add("busy");
  button.classList.add("pressed");
  for (const b of keyboard.querySelectorAll("button")) b.disabled = true;
  const answer = await post("press", { message_id: messageId, data });
  const release = () => unlockButtons(keyboard);
  if (!answer.ok) release(); else setTimeout(release, 5000);
}

function unlockButtons(only) {
  const boards = only ? [only] : document.querySelectorAll(".inline-keyboard.busy");
  for (const keyboard of boards) {
    if (!keyboard.isConnected) continue;
    keyboard.classList.remove("busy");
    for (const b of keyboard.querySelectorAll("button")) { b.disabled = false; b.classList.remove("pressed"); }
  }
}

/* ---------------------------------------------------------------- reply keyboard */

function applyKeyboard(item) {
  if (item.from !== "bot") return;
  if (item.keyboard) setKeyboard(item.keyboard);
  else if (item.remove_keyboard) setKeyboard(null);
}

function setKeyboard(rows) {
  state.keyboard = rows;
  const box = $("reply-keyboard");
  box.replaceChildren();
  box.hidden = !rows || rows.length === 0;
  for (const row of rows || []) {
    const line = document.createElement("div");
    line.className = "kb-row";
    for (const label of row) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "kb-button reply";
      button.textContent = label;
      button.addEventListener("click", () => sendText(label));
      line.append(button);
    }
    box.append(line);
  }
}

/* ---------------------------------------------------------------- sending */

async function sendText(text) {
  if (!text.trim()) return false;
  const answer = await post("text", { text });
  return answer.ok;
}

async function sendFile(kind, blob, filename) {
  if (blob.size > MAX_UPLOAD) {
    showToast("Dit bestand is te groot. Het mag hoogstens 20 MB zijn.");
    return;
  }
  if (blob.size === 0) {
    showToast("Dit bestand is leeg. Kies een ander bestand.");
    return;
  }
  setStatus("versturen…", 0);
  const form = new FormData();
  form.append("kind", kind);
  form.append("file", blob, filename);
  const answer = await api(`/api/chat/${state.persona}/upload`, { method: "POST", body: form });
  setStatus("bot");
  return answer.ok;
}

function setupComposer() {
  const text = $("text");
  $("composer").addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = text.value;
    if (!value.trim()) { text.focus(); return; }
    text.value = "";
    autoGrow();
    if (!(await sendText(value))) text.value = value;  // keep what the person typed
    text.focus();
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  text.addEventListener("input", autoGrow);
  $("start").addEventListener("click", async () => {
    $("start").hidden = true;
    if (!(await sendText("/start"))) $("start").hidden = false;
  });
  setupAttachments();
  $("record").addEventListener("click", toggleRecording);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { closeAttachMenu(); cancelRecording(); }
  });
}

function autoGrow() {
  const text = $("text");
  text.style.height = "auto";
  text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
}

function setupAttachments() {
  const menu = $("attach-menu");
  $("attach").addEventListener("click", () => {
    const open = menu.hidden;
    menu.hidden = !open;
    $("attach").setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("button").focus();
  });
  for (const item of menu.querySelectorAll("[data-pick]")) {
    item.addEventListener("click", () => {
      closeAttachMenu();
      $(`pick-${item.dataset.pick}`).click();
    });
  }
  for (const kind of ["photo", "document", "voice"]) {
    const input = $(`pick-${kind}`);
    input.addEventListener("change", async () => {
      const file = input.files[0];
      input.value = "";
      if (file) await sendFile(kind, file, file.name);
    });
  }
}

function closeAttachMenu() {
  $("attach-menu").hidden = true;
  $("attach").setAttribute("aria-expanded", "false");
}

/* Voice: MediaRecorder (webm/opus in Chromium, ogg/opus in Firefox); the server makes it
   a Telegram voice message (OGG/Opus). */
async function toggleRecording() {
  if (state.recorder) { state.recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showToast("Deze browser kan geen geluid opnemen. Kies via 📎 een geluidsbestand.");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    showToast("De microfoon mag niet of is er niet. Kies via 📎 een geluidsbestand.");
    return;
  }
  const type = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm"]
    .find((t) => MediaRecorder.isTypeSupported(t)) || "";
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  const started = Date.now();
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    clearInterval(recorder.timer);
    state.recorder = null;
    showRecording(false);
    if (recorder.cancelled || !chunks.length) return;
    const blob = new Blob(chunks, { type: recorder.mimeType || type });
    const ext = (recorder.mimeType || type).includes("ogg") ? "ogg" : "webm";
    await sendFile("voice", blob, `spraakbericht.${ext}`);
  };
  recorder.timer = setInterval(() => showRecording(true, (Date.now() - started) / 1000), 500);
  state.recorder = recorder;
  recorder.start();
  showRecording(true, 0);
}

function cancelRecording() {
  if (!state.recorder) return;
  state.recorder.cancelled = true;
  state.recorder.stop();
}

function showRecording(on, seconds = 0) {
  const button = $("record");
  button.setAttribute("aria-pressed", String(on));
  button.classList.toggle("recording", on);
  button.querySelector(".tool-label").textContent = on ? `Stop ${clock(seconds)}` : "Inspreken";
  button.querySelector(".icon").textContent = on ? "⏹" : "🎤";
  if (on) setStatus("je spreekt in… druk op Stop om te versturen (Esc: annuleren)", 0);
  else setStatus("bot");
}

/* ---------------------------------------------------------------- status and toasts */

const ACTIONS = {
  typing: "typt…", record_voice: "spreekt in…", upload_voice: "stuurt een spraakbericht…",
  upload_photo: "stuurt een plaatje…", upload_document: "stuurt een bestand…",
};

function showAction(action) {
  setStatus(ACTIONS[action] || "bezig…", 5000);
}

function setStatus(text, ms = 0) {
  $("status").textContent = text;
  clearTimeout(state.statusTimer);
  if (ms) state.statusTimer = setTimeout(() => { $("status").textContent = "bot"; }, ms);
}

function showToast(text, sticky = false) {
  const toast = $("toast");
  toast.replaceChildren(textNode("span", text));
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "OK";
  close.addEventListener("click", () => { toast.hidden = true; });
  toast.append(close);
  toast.hidden = false;
  clearTimeout(toast.timer);
  if (!sticky) toast.timer = setTimeout(() => { toast.hidden = true; }, 7000);
}

/* ---------------------------------------------------------------- helpers */

function textNode(tag, text) {
  const element = document.createElement(tag);
  element.textContent = text;
  return element;
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function sizeText(bytes) {
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function scrollToEnd(force) {
  const log = $("log");
  const near = log.scrollHeight - log.scrollTop - log.clientHeight < 240;
  if (force || near) log.scrollTop = log.scrollHeight;
}

setupComposer();
loadPersonas();

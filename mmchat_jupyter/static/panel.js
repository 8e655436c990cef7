// ChatPanel front end: plain ESM that anywidget loads from mmchat_jupyter/static/ (no build step, no assets).
// The wire protocol is written down once, in the docstring of mmchat_jupyter/widget.py; this file mirrors it.
// Rules: every visible string comes from the `strings` trait; every HTML string comes from Python's sanitizer;
// user text goes in with textContent only.

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  chats: "M4 6h16M4 12h16M4 18h16",
  plus: "M12 5v14M5 12h14",
  sliders: "M4 7h9M17 7h3M15 5v4M4 17h3M11 17h9M9 15v4",
  more: "M12 5h.01M12 12h.01M12 19h.01",
  send: "M12 19V5M6 11l6-6 6 6",
  stop: "M7 7h10v10H7z",
  copy: "M9 9h10v10H9zM5 15V5h10",
  check: "M5 12l5 5L20 7",
  redo: "M20 12a8 8 0 1 1-2.3-5.7M20 4v4h-4",
  edit: "M4 20h4L19 9l-4-4L4 16v4z",
  trash: "M5 7h14M10 7V4h4v3M7 7l1 13h8l1-13",
  spark: "M12 3v4M12 17v4M3 12h4M17 12h4M6 6l2.5 2.5M15.5 15.5L18 18M18 6l-2.5 2.5M8.5 15.5L6 18",
  close: "M6 6l12 12M18 6L6 18",
};

/** Per widget model (keyed by its `_uid` trait): the answer in flight and the views that show it. */
const models = new Map();

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/**
 * CRC-32 (zlib's) of a string's UTF-16 code units, little-endian: the string exactly as the browser holds it,
 * lone surrogates included. Python computes the same with `zlib.crc32(text.encode("utf-16-le", "surrogatepass"))`.
 */
export function crc32(text, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    c = CRC_TABLE[(c ^ unit) & 0xff] ^ (c >>> 8);
    c = CRC_TABLE[(c ^ (unit >>> 8)) & 0xff] ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/**
 * Fold one custom message into the state of the answer in flight: the panel's reconstruction of the streamed
 * HTML. Pure, so `node --test` (and the security corpus, through js/reconstruct.mjs) can drive it.
 *
 * The state is `{turn, seq, at, blocks, crcs}`: `blocks` are the answer's top-level blocks, each an HTML string
 * Python's sanitizer produced as a whole; `crcs[i]` is the CRC-32 of blocks 0..i joined; `at` is the first block
 * the last delta changed. A delta `{turn, seq, at, blocks, crc}` replaces every block from `at` on with its own,
 * so no string is ever cut or spliced here. The result must have the CRC Python computed for it (`crc`): a delta
 * that does not follow the last one seen, starts past the end, or gives another CRC yields `null`, and the caller
 * asks Python to resend the whole answer (a delta with `at` 0, accepted whatever came before).
 */
export function foldStream(stream, msg) {
  if (msg.type !== "delta") return stream;
  const same = stream !== null && stream.turn === msg.turn;
  if (same && msg.seq <= stream.seq) return stream; // a duplicate or late delta
  if (msg.at > 0 && !(same && msg.seq === stream.seq + 1 && msg.at <= stream.blocks.length)) return null;
  const blocks = msg.at > 0 ? stream.blocks.slice(0, msg.at) : [];
  const crcs = msg.at > 0 ? stream.crcs.slice(0, msg.at) : [];
  let crc = crcs.length ? crcs[crcs.length - 1] : 0;
  for (const block of msg.blocks) {
    if (typeof block !== "string") return null;
    blocks.push(block);
    crcs.push((crc = crc32(block, crc)));
  }
  if (crc !== msg.crc) return null;
  return { turn: msg.turn, seq: msg.seq, at: msg.at, blocks, crcs };
}

/** The HTML a folded stream stands for (the inner content of Python's `render_markdown` wrapper). */
export function streamHTML(stream) {
  return stream === null ? "" : stream.blocks.join("");
}

/**
 * Show `blocks` in `holder` from block `from` on, `shown` being the DOM nodes of each block shown so far (updated
 * in place). Each block is parsed on its own in an inert <template>, so the DOM only ever holds markup that
 * Python's sanitizer saw as a whole, and blocks before `from` are left untouched.
 */
export function paintBlocks(holder, shown, blocks, from) {
  for (const nodes of shown.splice(from)) for (const node of nodes) node.remove();
  for (const html of blocks.slice(from)) {
    const parsed = document.createElement("template");
    parsed.innerHTML = html;
    shown.push([...parsed.content.childNodes]);
    holder.append(parsed.content);
  }
}

/**
 * Fold one message-window message (`log`, `older`, `message`, `remove`: see mmchat_jupyter/_panel_log.py) into the
 * window the front end holds, `{chat, rev, messages, more}`. Pure, so `node --test` can check it. A message that
 * does not follow the last one (`rev` not one more, another chat, nothing held yet) gives `null`: the caller asks
 * Python for the whole window again. A `log` is the whole window and is always taken.
 */
export function foldLog(log, msg) {
  if (msg.type === "log") return { chat: msg.chat, rev: msg.rev, messages: msg.messages, more: msg.more };
  if (log === null || msg.rev !== log.rev + 1 || msg.chat !== log.chat) return null;
  let { messages, more } = log;
  if (msg.type === "older") {
    messages = [...msg.messages, ...messages];
    more = msg.more;
  } else if (msg.type === "message") {
    const id = msg.replaces ?? msg.message.id;
    const at = messages.findIndex((m) => m.id === id);
    messages = at < 0 ? [...messages, msg.message] : messages.map((m, i) => (i === at ? msg.message : m));
  } else if (msg.type === "remove") {
    messages = messages.filter((m) => !msg.ids.includes(m.id));
  }
  return { chat: log.chat, rev: msg.rev, messages, more };
}

/**
 * The input box's text once a question comes back unsent (Python refused it before saving anything): the question
 * in front of whatever the user typed meanwhile, so nothing typed is lost. Pure, for `node --test`.
 */
export function restoreInput(current, question) {
  if (!current.trim() || current === question) return question;
  return current.startsWith(question) ? current : `${question}\n${current}`;
}

/**
 * Send one message to Python; false when it cannot go, which once the kernel is gone is a throw ("Cannot send"
 * from JupyterLab's comm, the only sign a kernel that died and came back gives): the caller says so.
 */
export function deliver(model, msg) {
  try {
    model.send(msg);
    return true;
  } catch {
    return false;
  }
}

/** The message types that change the message window. */
const LOG_TYPES = new Set(["log", "older", "message", "remove"]);

/** What a key press in the input box means: "send", "stop", "hold" (swallow it) or null (type as usual). */
export function keyAction(event, busy) {
  if (event.isComposing) return null; // an IME's Enter confirms the candidate, it does not send
  if (event.key === "Escape" && busy) return "stop";
  if (event.key !== "Enter" || event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return null;
  return busy ? "hold" : "send";
}

/**
 * Keys the host application keeps while the cursor is in the panel (every other key is the panel's own): Ctrl/Cmd+S
 * saves the notebook and Ctrl/Cmd+Shift+S is "Save as", as anywhere else in JupyterLab or Notebook 7.
 */
export function hostKey(event) {
  return (event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s";
}

function h(tag, props = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (key === "class") el.className = value;
    else if (key.includes("-")) el.setAttribute(key, value === true ? "" : value);
    else el[key] = value;
  }
  el.append(...kids.flat().filter((kid) => kid !== null && kid !== undefined && kid !== false));
  return el;
}

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add(`mmc-i-${name}`);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No async clipboard outside secure contexts (a hub served over plain http): the old selection way.
    const area = h("textarea", { value: text, "aria-hidden": "true", style: "position:fixed;opacity:0" });
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

// Math (render stream): formulas arrive as their LaTeX in `.mmchat-math` elements; the vendored KaTeX, sent by
// Python as one ES module when the first formula shows up (mmchat_jupyter/render/_typeset.py), typesets them.
const math = { module: null, asked: false, waiting: new Set() };

export function typesetMath(root, model) {
  if (!root.querySelector(".mmchat-math:not([data-mmchat-typeset])")) return;
  if (math.module) return math.module.typeset(root);
  math.waiting.add(root);
  if (!math.asked) models.get(model.get("_uid"))?.send({ type: "typesetter" });
  math.asked = true;
}

async function loadMath(source) {
  if (math.module) return;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try {
    math.module = await import(url);
  } finally {
    URL.revokeObjectURL(url);
  }
  for (const root of math.waiting) if (root.isConnected) math.module.typeset(root);
  math.waiting.clear();
}

function initialize({ model }) {
  // Subscribed here, at model level, before any view exists: the first delta can never be missed.
  const entry = { stream: null, log: null, views: new Set(), resyncing: false, gone: false };
  // The kernel restarted (the widget manager marks every model not live) or died: this model will never hear
  // from Python again. Every view says so and stops offering what needs the kernel.
  const lost = () => {
    if (entry.gone) return;
    entry.gone = true;
    for (const view of entry.views) view({ type: "disconnected" });
  };
  entry.send = (msg) => !entry.gone && (deliver(model, msg) || (lost(), false));
  const uid = model.get("_uid");
  models.set(uid, entry);
  // While the panel is live, the transcript it left in the notebook for later (see _panel_transcript.py) is hidden.
  const hide = document.createElement("style");
  hide.textContent = `.mmc-transcript[data-mmc-panel="${CSS.escape(uid)}"] { display: none !important; }`;
  document.head.append(hide);
  const onMessage = (msg) => {
    if (msg.type === "typesetter") return void loadMath(msg.source);
    if (LOG_TYPES.has(msg.type)) {
      const next = foldLog(entry.log, msg);
      if (next === null) return void entry.send({ type: "hello" }); // a gap: the whole window again
      entry.log = next;
    } else if (msg.type === "delta") {
      const next = foldStream(entry.stream, msg);
      if (next === null) {
        // Keep showing the last consistent answer and ask once for all of it (not again for every later delta).
        if (!entry.resyncing) entry.send({ type: "resync" });
        entry.resyncing = true;
        return;
      }
      if (next === entry.stream) return;
      entry.stream = next;
      entry.resyncing = false;
    }
    for (const view of entry.views) view(msg);
  };
  model.on("msg:custom", onMessage);
  model.on("comm_live_update", lost); // after start-up, set only by a kernel restart (to "not live")
  model.on("comm:close", lost);
  entry.send({ type: "hello" });
  return () => {
    model.off("msg:custom", onMessage);
    model.off("comm_live_update", lost);
    model.off("comm:close", lost);
    models.delete(uid);
    hide.remove();
  };
}

function render({ model, el }) {
  const entry = models.get(model.get("_uid"));
  const viewId = Math.random().toString(36).slice(2);
  const t = (key) => model.get("strings")[key] ?? key;
  const ask = (type, fields = {}) => entry.send({ type, view: viewId, ...fields });
  const iconButton = (name, label, onclick, extra = {}) =>
    h("button", { class: "mmc-icon", type: "button", title: label, "aria-label": label, onclick, ...extra }, icon(name));

  // -- skeleton ---------------------------------------------------------------------------------------------
  const ui = {};
  ui.drawerBtn = iconButton("chats", "", () => toggle(ui.drawer, ui.drawerBtn), { "aria-expanded": "false" });
  const drawer = () => ask("drawer", { open: !ui.drawer.hidden, text: ui.search.value });
  ui.title = h("button", { class: "mmc-title", type: "button", onclick: () => renameInline(ui.title, currentChat()) });
  ui.provider = h("select", { onchange: () => ask("set", { key: "provider", value: ui.provider.value }) });
  ui.model = h("select", { onchange: () => ask("set", { key: "model", value: ui.model.value }) });
  ui.sheetBtn = iconButton("sliders", "", () => toggle(ui.sheet, ui.sheetBtn), { "aria-expanded": "false" });
  ui.moreBtn = iconButton("more", "", () => openMenu(ui.moreBtn, moreItems()), { "aria-haspopup": "menu" });
  ui.search = h("input", { type: "search", oninput: drawer });
  ui.newChat = iconButton("plus", "", () => ask("new_chat"));
  ui.chats = h("ul", { class: "mmc-chats" });
  ui.drawer = h("aside", { class: "mmc-drawer", hidden: true }, h("div", { class: "mmc-drawer-top" }, ui.search, ui.newChat), ui.chats);
  ui.sheet = h("section", { class: "mmc-sheet", hidden: true });
  ui.list = h("div", { class: "mmc-list" });
  ui.log = h("div", { class: "mmc-log", role: "log", "aria-live": "polite", onscroll: onScroll }, ui.list);
  ui.notice = h("div", { class: "mmc-notice", hidden: true, "aria-live": "assertive" });
  ui.templatesBtn = iconButton("spark", "", () => openMenu(ui.templatesBtn, templateItems()), { "aria-haspopup": "menu" });
  ui.input = h("textarea", { rows: 1, oninput: () => fitInput(), onkeydown: onKey });
  ui.send = h("button", { class: "mmc-send mmc-primary", type: "button", onclick: () => (model.get("busy") ? ask("stop") : submit()) });
  const root = h("div", { class: "mmc" },
    h("header", { class: "mmc-head" }, ui.drawerBtn, ui.title, h("div", { class: "mmc-pick" }, ui.provider, ui.model), ui.sheetBtn, ui.moreBtn),
    h("div", { class: "mmc-main" }, ui.drawer, ui.log, ui.sheet),
    ui.notice,
    h("footer", { class: "mmc-compose" }, ui.templatesBtn, ui.input, ui.send));
  el.replaceChildren(root);
  // JupyterLab's shortcuts listen on the document as keys bubble up: keys typed in the panel are the panel's
  // (Shift+Enter is a new line here, not "run cell"; Ctrl+A selects text, not every cell), but for the host's own.
  root.addEventListener("keyup", (event) => hostKey(event) || event.stopPropagation());
  root.addEventListener("keydown", (event) => {
    if (hostKey(event)) return;
    event.stopPropagation();
    if (event.key !== "Escape" || event.defaultPrevented) return;
    for (const [panel, button] of [[ui.sheet, ui.sheetBtn], [ui.drawer, ui.drawerBtn]]) {
      if (panel.hidden) continue;
      toggle(panel, button);
      button.focus();
    }
  });

  // -- actions ------------------------------------------------------------------------------------------------
  function toggle(panel, button) {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) panel.querySelector("input, select, textarea")?.focus();
    if (panel === ui.drawer) drawer(); // its rows are kept current only while it is open
  }
  function submit() {
    const text = ui.input.value;
    if (!text.trim() || !ask("send", { text })) return; // not sent: the text stays where it is
    ui.input.value = "";
    fitInput();
  }
  function onKey(event) {
    const action = keyAction(event, model.get("busy"));
    if (action) event.preventDefault();
    if (action === "send") submit();
    if (action === "stop") ask("stop");
  }
  function fitInput() {
    ui.input.style.height = "auto";
    ui.input.style.height = `${Math.min(ui.input.scrollHeight + 2, 160)}px`;
    ui.send.disabled = entry.gone || (!model.get("busy") && !ui.input.value.trim());
  }
  const currentChat = () => model.get("chat");
  function renameInline(target, chat) {
    const input = h("input", { value: chat.name, class: "mmc-title", "aria-label": t("rename") });
    let done = false;
    const finish = (commit) => {
      if (done) return;
      done = true;
      if (commit && input.value.trim() && input.value !== chat.name) ask("rename_chat", { id: chat.id, name: input.value });
      input.replaceWith(target);
      target.focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" && e.key !== "Escape") return;
      e.preventDefault();
      finish(e.key === "Enter");
    });
    input.addEventListener("blur", () => finish(true));
    target.replaceWith(input);
    input.select();
  }
  /** A question in the notice line with OK and Cancel; a `destructive` OK is red, not the blue primary button. */
  function confirmNotice(text, okLabel, onOk, { withInput = false, destructive = false } = {}) {
    const field = withInput ? h("input", { "aria-label": text, placeholder: text }) : null;
    const close = () => renderNotice();
    const ok = () => {
      if (withInput && !field.value.trim()) return field.focus();
      onOk(field?.value);
      close();
    };
    field?.addEventListener("keydown", (e) => e.key === "Enter" && ok());
    ui.notice.dataset.kind = "confirm";
    const okButton = h("button", { type: "button", class: destructive ? "mmc-destructive" : "mmc-primary", text: okLabel,
      onclick: ok });
    ui.notice.replaceChildren(...[withInput ? field : h("span", { text }), okButton,
      h("button", { type: "button", text: t("cancel"), onclick: close })]);
    ui.notice.hidden = false;
    (field ?? okButton).focus();
  }
  let menu = null;
  function openMenu(anchor, items) {
    const wasOpen = menu?.anchor === anchor;
    closeMenu();
    if (wasOpen) return;
    const node = h("div", { class: "mmc-menu", role: "menu" }, items.map((item) => item === "-" ? h("hr") :
      h("button", { type: "button", role: "menuitem", text: item.label, class: item.danger ? "mmc-danger" : "",
        title: item.hint ?? item.label, onclick: () => (closeMenu(), item.run()) })));
    const box = root.getBoundingClientRect(), at = anchor.getBoundingClientRect();
    const below = at.top - box.top < box.height / 2;
    Object.assign(node.style, below ? { top: `${at.bottom - box.top + 4}px` } : { bottom: `${box.bottom - at.top + 4}px` },
      at.left - box.left < box.width / 2 ? { left: `${at.left - box.left}px` } : { right: `${box.right - at.right}px` });
    root.append(node);
    menu = { anchor, node };
    anchor.setAttribute("aria-expanded", "true");
    node.querySelector("button")?.focus();
    node.addEventListener("keydown", (e) => {
      const buttons = [...node.querySelectorAll("button")], i = buttons.indexOf(document.activeElement);
      if (e.key === "Escape") {
        e.preventDefault();
        closeMenu();
        anchor.focus();
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        buttons[(i + (e.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length].focus();
      }
    });
  }
  function closeMenu() {
    if (!menu) return;
    menu.node.remove();
    menu.anchor.setAttribute("aria-expanded", "false");
    menu = null;
  }
  const onOutside = (e) => menu && !menu.node.contains(e.target) && !menu.anchor.contains(e.target) && closeMenu();
  document.addEventListener("pointerdown", onOutside, true);
  function moreItems() {
    const exports = model.get("export_formats").map((f) => ({ label: f.label, run: () => ask("export", { format: f.id }) }));
    return [...exports, "-", { label: t("clear_chat"), danger: true,
      run: () => confirmNotice(t("clear_confirm"), t("clear"), () => ask("clear"), { destructive: true }) }];
  }
  function templateItems() {
    const items = model.get("templates").map((tpl) => ({ label: tpl.title, hint: tpl.text,
      run: () => ask("template", { name: tpl.name, text: ui.input.value }) }));
    if (!ui.input.value.trim()) return items;
    return [...items, "-", { label: t("save_template"),
      run: () => confirmNotice(t("template_name"), t("save"), (name) => ask("save_template", { name, text: ui.input.value }),
        { withInput: true }) }];
  }

  // -- rendering from traits ----------------------------------------------------------------------------------
  function renderStrings() {
    for (const [el, key] of [[ui.drawerBtn, "chats"], [ui.sheetBtn, "settings"], [ui.moreBtn, "more"],
      [ui.newChat, "new_chat"], [ui.templatesBtn, "templates"], [ui.provider, "provider"], [ui.model, "model"]]) {
      el.title = t(key);
      el.setAttribute("aria-label", t(key));
    }
    ui.search.placeholder = t("search_chats");
    ui.input.placeholder = t("placeholder");
    ui.input.setAttribute("aria-label", t("placeholder"));
    ui.title.title = t("rename");
  }
  function renderHead() {
    const chat = currentChat(), settings = model.get("settings"), locked = model.get("locked");
    ui.title.textContent = chat.name;
    ui.provider.replaceChildren(...model.get("providers").map((p) =>
      h("option", { value: p.name, text: p.label, selected: p.name === settings.provider })));
    const models = model.get("providers").find((p) => p.name === settings.provider)?.models ?? [];
    const names = models.includes(settings.model) ? models : [settings.model, ...models];
    ui.model.replaceChildren(...names.map((m) => h("option", { value: m, text: m, selected: m === settings.model })));
    ui.provider.disabled = locked.includes("provider");
    ui.model.disabled = locked.includes("model");
    renderSheet();
  }
  function renderSheet() {
    const settings = model.get("settings"), locked = model.get("locked");
    const field = (key, label, control, title = null) => h("label", { title }, label,
      Object.assign(control, { disabled: locked.includes(key), onchange: () => ask("set", { key, value: control.value }) }));
    const choice = (values, current) => h("select", {}, h("option", { value: "", text: t("auto") }),
      ...values.map((v) => h("option", { value: v, text: v, selected: String(current) === v })));
    // Every option the provider declares (temperature, max_tokens, top_p and its own), as its kind says
    const option = (o) => field(o.name, model.get("strings")[o.name] ?? o.name,
      o.kind === "choice" ? choice(o.choices, o.value) : o.kind === "boolean" ? choice(["true", "false"], o.value)
        : h("input", { type: o.kind === "text" ? "text" : "number", value: o.value ?? "", placeholder: t("auto"),
          min: o.low ?? null, max: o.high ?? null, step: o.kind === "integer" ? 1 : "any" }),
      `${o.help} (${o.accepts})`);
    const lang = h("select", {}, ...model.get("languages").map((l) =>
      h("option", { value: l.code, text: l.label, selected: l.code === settings.lang })));
    ui.saveDefaults = h("button", { type: "button", class: "mmc-save-defaults", text: t("save_defaults"),
      title: t("save_defaults_hint"), onclick: () => ask("save_defaults") });
    ui.sheet.replaceChildren(...(settings.options ?? []).map(option),
      field("system", t("system"), h("textarea", { value: settings.system ?? "", placeholder: t("system_placeholder"), rows: 3 })),
      field("lang", t("lang"), lang), ui.saveDefaults);
  }
  function renderChats() {
    const current = currentChat().id;
    const rows = model.get("chats").map((chat) => {
      const name = h("button", { type: "button", onclick: () => ask("use_chat", { id: chat.id }) },
        h("span", { class: "mmc-chat-name", text: chat.name }),
        ...[chat.detail, chat.when].filter(Boolean).map((text) => h("span", { class: "mmc-chat-detail", text, title: text })));
      return h("li", { "aria-current": String(chat.id === current) }, name,
        iconButton("edit", t("rename"), () => renameInline(name, chat)),
        iconButton("trash", t("delete"), () => confirmNotice(chat.delete_prompt, t("delete"), () => ask("delete_chat", { id: chat.id }),
          { destructive: true })));
    });
    ui.chats.replaceChildren(...(rows.length ? rows : [h("li", { class: "mmc-muted", text: t("no_chats") })]));
  }
  function decorateCode(body) {
    for (const pre of body.querySelectorAll("pre")) {
      const button = iconButton("copy", t("copy_code"), () => flash(button, copyText(pre.textContent.replace(/\n$/, ""))));
      const holder = pre.parentElement.classList.contains("highlight") ? pre.parentElement : pre;
      const wrap = h("div", { class: "mmc-code" });
      holder.replaceWith(wrap);
      wrap.append(holder, button);
    }
    return body;
  }
  function typeset(body) {
    queueMicrotask(() => typesetMath(body, model)); // once attached: a typesetter arriving later skips detached roots
    return body;
  }
  async function flash(button, copied) {
    const ok = await copied;
    button.replaceChildren(icon(ok ? "check" : "close"));
    button.title = ok ? t("copied") : t("copy_failed");
    setTimeout(() => button.replaceChildren(icon("copy")), 1500);
  }
  function messageNode(msg) {
    if (msg.role === "user") return h("div", { class: "mmc-msg mmc-user", text: msg.text });
    const body = msg.text ? typeset(decorateCode(h("div", { class: "mmc-body", innerHTML: msg.html })))
      : h("div", { class: "mmc-body mmc-muted", text: msg.error ?? "" }); // nothing arrived: say why
    return h("div", { class: "mmc-msg mmc-assistant", "data-status": msg.status }, body,
      h("div", { class: "mmc-foot" }, h("span", { class: "mmc-meta", text: msg.meta }),
        msg.badge && h("span", { class: "mmc-badge", text: msg.badge, title: msg.error ?? "" }),
        msg.text && iconButton("copy", t("copy"), (e) => flash(e.currentTarget, copyText(msg.text))),
        // shown on the last answer only (panel.css), usable when nothing streams
        iconButton("redo", t("regenerate"), () => model.get("busy") || ask("regenerate"),
          { class: "mmc-icon mmc-regen", disabled: model.get("busy") })));
  }

  // The log: one node per message of the window, patched message by message. It stays at the bottom while the
  // user is there (as the answer grows, as the page lays out), and brings older pages as they scroll to the top.
  const nodes = new Map();
  let bubble = null, stick = true, asked = false;
  const atBottom = () => ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  const follow = () => stick && (ui.log.scrollTop = ui.log.scrollHeight);
  const sizes = new ResizeObserver(() => (follow(), wantOlder()));
  sizes.observe(ui.list);
  sizes.observe(ui.log);
  function onScroll() {
    stick = atBottom();
    wantOlder();
  }
  function wantOlder() {
    if (asked || !entry.log?.more || ui.log.scrollTop > ui.log.clientHeight / 2) return;
    asked = true; // until the page arrives
    ask("older");
  }
  function renderLog() {
    nodes.clear();
    for (const msg of entry.log?.messages ?? []) nodes.set(msg.id, messageNode(msg));
    bubble = model.get("pending").turn === undefined ? null
      : { node: h("div", { class: "mmc-msg mmc-assistant mmc-streaming" }, h("div", { class: "mmc-body" })) };
    const empty = nodes.size || bubble || !entry.log ? [] : [h("div", { class: "mmc-empty", text: t("empty") })];
    ui.list.replaceChildren(...nodes.values(), ...(bubble ? [bubble.node] : empty));
    renderStream();
    stick = true;
    follow();
  }
  function patchLog(msg) {
    if (msg.type === "log") return renderLog();
    asked = false;
    if (msg.type === "older") {
      const fromBottom = ui.log.scrollHeight - ui.log.scrollTop; // keep what the user looks at where it is
      const added = msg.messages.map((m) => { const node = messageNode(m); nodes.set(m.id, node); return node; });
      ui.list.prepend(...added);
      ui.log.scrollTop = ui.log.scrollHeight - fromBottom;
    } else if (msg.type === "message") {
      const node = messageNode(msg.message), old = nodes.get(msg.replaces ?? msg.message.id);
      nodes.delete(msg.replaces);
      nodes.set(msg.message.id, node);
      if (old) old.replaceWith(node);
      else ui.list.insertBefore(node, bubble?.node ?? null);
      ui.list.querySelector(".mmc-empty")?.remove();
    } else if (msg.type === "remove") {
      for (const id of msg.ids) {
        nodes.get(id)?.remove();
        nodes.delete(id);
      }
    }
    follow();
  }
  function renderPending() {
    const turn = model.get("pending").turn;
    if (turn === undefined) {
      bubble?.node.remove();
      bubble = null;
    } else if (!bubble) {
      bubble = { node: h("div", { class: "mmc-msg mmc-assistant mmc-streaming" }, h("div", { class: "mmc-body" })) };
      ui.list.querySelector(".mmc-empty")?.remove();
      ui.list.append(bubble.node);
      renderStream();
      stick = true;
    }
    follow();
  }
  function renderStream() {
    if (!bubble) return;
    const stream = entry.stream, body = bubble.node.firstChild;
    if (stream?.turn !== model.get("pending").turn) {
      bubble.shown = null;
      body.replaceChildren(h("span", { class: "mmc-dots", role: "status", "aria-label": t("thinking") }, h("i"), h("i"), h("i")));
      return;
    }
    let from = stream.at;
    if (!bubble.shown || bubble.seq !== stream.seq - 1) { // first paint, or not the state this delta builds on
      bubble.md = h("div", { class: "mmchat-md mathjax_ignore" });
      bubble.shown = [];
      body.replaceChildren(bubble.md);
      from = 0;
    }
    paintBlocks(bubble.md, bubble.shown, stream.blocks, from);
    typesetMath(bubble.md, model);
    bubble.seq = stream.seq;
  }
  function renderBusy() {
    const busy = model.get("busy");
    ui.send.replaceChildren(icon(busy ? "stop" : "send"));
    ui.send.classList.toggle("mmc-stopping", busy);
    ui.send.title = t(busy ? "stop" : "send");
    ui.send.setAttribute("aria-label", t(busy ? "stop" : "send"));
    fitInput();
  }
  function renderNotice() {
    if (entry.gone) return renderGone(); // the one line that still matters
    const error = model.get("error");
    ui.notice.hidden = !error;
    ui.notice.dataset.kind = "error";
    ui.notice.replaceChildren(h("span", { text: error, title: error, role: "alert" }),
      iconButton("close", t("dismiss"), () => ask("dismiss")));
  }
  function renderGone() {
    if (!entry.gone) return;
    closeMenu();
    root.dataset.disconnected = "1";
    // Everything that asks the kernel goes still; the text typed stays readable and copyable, as do the answers.
    for (const control of root.querySelectorAll(".mmc-head *, .mmc-drawer *, .mmc-sheet *, .mmc-compose *, .mmc-regen")) {
      if ("disabled" in control) control.disabled = true;
    }
    ui.input.disabled = false;
    ui.input.readOnly = true;
    bubble?.node.querySelector(".mmc-dots")?.remove(); // no answer is coming any more
    ui.notice.hidden = false;
    ui.notice.dataset.kind = "disconnected";
    ui.notice.replaceChildren(h("span", { text: t("disconnected"), title: t("disconnected"), role: "alert" }));
  }
  // renderNotice ends in renderGone once the kernel is gone: last, so nothing re-enables a control after it.
  const renderAll = () => [renderStrings, renderHead, renderChats, renderLog, renderBusy, renderNotice].forEach((f) => f());
  function renderBusyAll() {
    renderBusy();
    for (const button of ui.list.querySelectorAll(".mmc-regen")) button.disabled = model.get("busy");
  }

  const onStream = (msg) => {
    if (msg.view && msg.view !== viewId) return; // a reply meant for another view of the same panel
    if (msg.type === "disconnected") return renderGone();
    if (LOG_TYPES.has(msg.type)) {
      patchLog(msg);
    } else if (msg.type === "delta") {
      renderStream();
      follow();
    } else if (msg.type === "saved") {
      ui.saveDefaults.textContent = t("saved");
      setTimeout(() => (ui.saveDefaults.textContent = t("save_defaults")), 1500);
    } else if (msg.type === "unsent") {
      ui.input.value = restoreInput(ui.input.value, msg.text);
      fitInput();
      ui.input.focus();
    } else if (msg.type === "fill") {
      ui.input.value = msg.text;
      fitInput();
      ui.input.focus();
    } else if (msg.type === "download") {
      const url = URL.createObjectURL(new Blob([msg.content], { type: msg.mime }));
      h("a", { href: url, download: msg.filename }).click();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }
  };
  entry.views.add(onStream);
  const listeners = [["strings", renderAll], ["chat", renderHead], ["settings", renderHead], ["providers", renderHead],
    ["locked", renderHead], ["languages", renderSheet], ["chats", renderChats], ["pending", renderPending],
    ["busy", renderBusyAll], ["error", renderNotice]];
  for (const [name, fn] of listeners) model.on(`change:${name}`, fn);
  renderAll();
  root.dataset.ready = "1";
  return () => {
    entry.views.delete(onStream);
    sizes.disconnect();
    for (const [name, fn] of listeners) model.off(`change:${name}`, fn);
    document.removeEventListener("pointerdown", onOutside, true);
  };
}

export default { initialize, render };

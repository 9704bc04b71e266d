// The open room: history (grouped by sender, split by day, older pages on scroll), the
// composer with its outbox, typing indicators, read state, and editing one's own messages.
// Everything user-written is inserted with textContent (links are built as elements).
(function () {
  "use strict";

  const roomEl = document.getElementById("room");
  if (!roomEl) return;

  const roomId = roomEl.dataset.roomId;
  const userId = roomEl.dataset.userId;
  const pageSize = Number(roomEl.dataset.pageSize || 50);
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-body");
  const errorEl = document.getElementById("composer-error");
  const typingEl = document.getElementById("typing");
  const olderButton = document.getElementById("load-older");
  const memberCount = document.getElementById("member-count");
  const memberNoun = document.getElementById("member-noun");
  function setMemberCount(count) {
    memberCount.textContent = String(count);
    memberNoun.textContent = count === 1 ? "member" : "members";
  }
  const membersEl = document.getElementById("members");
  const titleEl = document.getElementById("room-title");

  const viewingHistory = roomEl.dataset.viewingHistory === "true";
  const client = window.ChatClient.shared(userId);
  client.track(roomId, Number(roomEl.dataset.lastSeq || 0), Number(roomEl.dataset.lastChange || 0));

  const GROUP_WINDOW_MS = 5 * 60 * 1000;
  const TYPING_SEND_EVERY_MS = 2500;
  const TYPING_SHOWN_FOR_MS = 5000;
  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
  const DELETED_AVATAR = "/static/img/deleted-user.svg";

  // ---- rendering ---------------------------------------------------------------

  function button(text, className, onClick, ariaLabel) {
    const element = document.createElement("button");
    element.type = "button";
    element.className = className;
    element.textContent = text;
    if (ariaLabel) element.setAttribute("aria-label", ariaLabel);
    if (onClick) element.addEventListener("click", onClick);
    return element;
  }

  function formatTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function dayLabel(date) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (date.toDateString() === today.toDateString()) return "Today";
    if (date.toDateString() === yesterday.toDateString()) return "Yesterday";
    return date.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
  }

  // Plain text with http(s) links made clickable; nothing is ever parsed as HTML.
  function fillBody(el, text) {
    el.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(URL_PATTERN)) {
      let url = match[0];
      const trailing = url.match(/[).,!?:;'"]+$/);
      if (trailing) url = url.slice(0, -trailing[0].length);
      el.append(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = url;
      link.textContent = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer nofollow";
      el.append(link);
      last = match.index + url.length;
    }
    el.append(document.createTextNode(text.slice(last)));
  }

  function fillMessage(li, message) {
    const own = message.sender_id === userId;
    const mentionsMe = (message.mentions || []).includes(userId) && !message.deleted;
    const highlighted = li.classList.contains("highlighted");
    // Grouping is the layout's (below); kept until it runs, so that refilling a message
    // never shows its header for a frame and moves everything under it.
    const grouped = li.classList.contains("grouped");
    li.className =
      "message" +
      (own ? " own" : "") +
      (message.deleted ? " deleted" : "") +
      (mentionsMe ? " mentions-me" : "") +
      (highlighted ? " highlighted" : "") +
      (grouped ? " grouped" : "");
    li.id = `message-${message.seq}`;
    li.dataset.id = String(message.id);
    li.dataset.seq = String(message.seq);
    li.dataset.change = String(message.change_seq);
    li.dataset.senderId = message.sender_id || "";
    li.dataset.createdAt = message.created_at;
    const avatar = document.createElement("img");
    Object.assign(avatar, {
      className: "avatar avatar-sm message-avatar",
      src: message.sender ? message.sender.avatar_url : DELETED_AVATAR,
      alt: "",
      width: 32,
      height: 32,
    });
    const main = document.createElement("div");
    main.className = "message-main";
    const head = document.createElement("div");
    head.className = "message-head";
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.dir = "auto";
    sender.textContent = message.sender ? message.sender.display_name : "Deleted user";
    const time = document.createElement("time");
    time.setAttribute("datetime", message.created_at);
    head.append(sender, time);
    const body = document.createElement("p");
    body.className = "body";
    body.dir = "auto";
    body.dataset.raw = message.deleted ? "" : message.body;
    main.append(head, body);
    if (message.edited_at && !message.deleted) {
      const edited = document.createElement("span");
      edited.className = "edited muted";
      edited.textContent = "(edited)";
      main.append(edited);
    }
    li.replaceChildren(avatar, main);
    decorate(li);
  }

  // Local times, clickable links and, on one's own messages, the edit/delete actions.
  function decorate(li) {
    const time = li.querySelector("time[datetime]");
    if (time) {
      const when = new Date(time.getAttribute("datetime"));
      time.textContent = formatTime(when);
      time.title = when.toLocaleString();
    }
    const body = li.querySelector(".body");
    const deleted = li.classList.contains("deleted");
    if (body && !deleted) fillBody(body, body.dataset.raw ?? body.textContent);
    if (body && deleted) body.textContent = "message deleted";
    if (li.classList.contains("own") && !deleted && li.dataset.id && !li.querySelector(".actions")) {
      li.querySelector(".message-main").append(actionsFor(li));
    }
  }

  function actionsFor(li) {
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.append(
      button("Edit", "link", () => startEdit(li), "Edit message"),
      button("Delete", "link danger", () => confirmDelete(li), "Delete message")
    );
    return actions;
  }

  // Group consecutive messages of one sender, and separate days (the viewer's time zone):
  // at once for the page as loaded, then at most once a frame as messages arrive.
  let relayoutQueued = false;
  function relayout() {
    if (relayoutQueued) return;
    relayoutQueued = true;
    requestAnimationFrame(() => {
      relayoutQueued = false;
      layoutMessages();
    });
  }

  function layoutMessages() {
    list.querySelectorAll("li.day-separator").forEach((el) => el.remove());
    let previous = null;
    for (const li of list.querySelectorAll("li.message[data-seq]")) {
      const when = new Date(li.dataset.createdAt);
      const prevWhen = previous ? new Date(previous.dataset.createdAt) : null;
      const newDay = !prevWhen || prevWhen.toDateString() !== when.toDateString();
      if (newDay) {
        const separator = document.createElement("li");
        separator.className = "day-separator";
        separator.setAttribute("role", "separator");
        separator.textContent = dayLabel(when);
        li.before(separator);
      }
      const grouped =
        !newDay &&
        previous &&
        previous.dataset.senderId === li.dataset.senderId &&
        when - prevWhen < GROUP_WINDOW_MS;
      li.classList.toggle("grouped", Boolean(grouped));
      previous = li;
    }
  }

  const byId = (id) => list.querySelector(`li.message[data-id="${CSS.escape(String(id))}"]`);

  // Insert or update a stored message, keeping the list in seq order.
  function showMessage(message) {
    if (message.room_id !== roomId) return;
    if (message.client_id && message.sender_id === userId) {
      const pending = list.querySelector(`li[data-client-id="${CSS.escape(message.client_id)}"]`);
      if (pending) pending.remove();
    }
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    let li = byId(message.id);
    if (li && Number(li.dataset.change || 0) > message.change_seq) return;
    if (!li && viewingHistory) {
      // An older page is on screen (a search result): newer messages wait behind the jump link.
      const shown = list.querySelectorAll("li.message[data-seq]");
      const newest = shown.length ? Number(shown[shown.length - 1].dataset.seq) : 0;
      if (message.seq > newest) return;
    }
    if (!li) {
      li = document.createElement("li");
      fillMessage(li, message);
      const later = Array.from(list.querySelectorAll("li.message[data-seq]")).find(
        (other) => Number(other.dataset.seq) > message.seq
      );
      list.insertBefore(li, later || list.querySelector("li.pending") || null);
    } else if (!li.querySelector(".edit-form")) {
      fillMessage(li, message);
    }
    relayout();
    clearTyping(message.sender_id);
    if (nearBottom || message.sender_id === userId) list.scrollTop = list.scrollHeight;
  }

  // A message of the outbox: pending until acknowledged, failed with Retry and Discard.
  function showOutboxItem(item) {
    if (item.room_id !== roomId) return;
    let li = list.querySelector(`li[data-client-id="${CSS.escape(item.client_id)}"]`);
    if (item.state === "sent" || item.state === "discarded") {
      if (li) li.remove();
      if (item.message) showMessage(item.message);
      return;
    }
    if (!li) {
      li = document.createElement("li");
      li.dataset.clientId = item.client_id;
      list.appendChild(li);
    }
    li.className = `message own pending ${item.state}`;
    const main = document.createElement("div");
    main.className = "message-main";
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = item.state === "failed" ? `Not sent: ${item.error || ""}` : "Sending…";
    const body = document.createElement("p");
    body.className = "body";
    body.dir = "auto";
    body.textContent = item.body;
    main.append(status, body);
    if (item.state === "failed") {
      main.append(
        button("Retry", "retry", () => client.retry(item.client_id)),
        button("Discard", "discard link", () => client.discard(item.client_id))
      );
    }
    li.replaceChildren(main);
    list.scrollTop = list.scrollHeight;
  }

  // ---- editing ------------------------------------------------------------------

  function startEdit(li) {
    const body = li.querySelector(".body");
    if (!body || li.querySelector(".edit-form")) return;
    const original = body.dataset.raw ?? body.textContent;
    const editor = document.createElement("form");
    editor.className = "edit-form";
    const label = document.createElement("label");
    label.className = "visually-hidden";
    label.textContent = "Edited text";
    const area = document.createElement("textarea");
    area.value = original;
    area.rows = 2;
    area.maxLength = 4000;
    area.id = `edit-${li.dataset.id}`;
    label.htmlFor = area.id;
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    const cancel = button("Cancel", "link");
    const problem = document.createElement("span");
    problem.className = "field-error";
    problem.setAttribute("role", "alert");
    editor.append(label, area, save, cancel, problem);
    body.hidden = true;
    li.querySelector(".message-main").append(editor);
    area.focus();
    const close = () => {
      editor.remove();
      body.hidden = false;
    };
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text || text === original) return close();
      const ack = await client.editMessage(Number(li.dataset.id), text);
      if (!ack.ok) {
        problem.textContent = ack.message;
        return;
      }
      close();
      showMessage(ack.message);
    });
  }

  function confirmDelete(li) {
    const actions = li.querySelector(".actions");
    if (!actions || actions.querySelector(".confirm")) return;
    const confirm = document.createElement("span");
    confirm.className = "confirm";
    confirm.textContent = "Delete this message? ";
    const yes = button("Yes, delete", "link danger");
    const no = button("Keep it", "link");
    confirm.append(yes, " ", no);
    actions.append(confirm);
    yes.focus();
    no.addEventListener("click", () => confirm.remove());
    yes.addEventListener("click", async () => {
      const ack = await client.deleteMessage(Number(li.dataset.id));
      if (ack.ok) showMessage(ack.message);
      else confirm.textContent = ack.message;
    });
  }

  // ---- older pages ------------------------------------------------------------------

  let loadingOlder = false;
  async function loadOlder() {
    const oldest = list.querySelector("li.message[data-seq]");
    if (loadingOlder || !oldest || Number(oldest.dataset.seq) <= 1) return;
    loadingOlder = true;
    try {
      const response = await fetch(
        `/api/rooms/${roomId}/messages?before=${oldest.dataset.seq}&limit=${pageSize}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } }
      );
      if (!response.ok) return;
      const { messages } = await response.json();
      const previousHeight = list.scrollHeight;
      const fragment = document.createDocumentFragment();
      for (const message of messages) {
        if (byId(message.id)) continue;
        const li = document.createElement("li");
        fillMessage(li, message);
        fragment.append(li);
      }
      list.insertBefore(fragment, list.querySelector("li.day-separator, li.message"));
      list.scrollTop += list.scrollHeight - previousHeight; // keep the reader's place
      const first = list.querySelector("li.message[data-seq]");
      olderButton.hidden = messages.length < pageSize || !first || Number(first.dataset.seq) <= 1;
      relayout();
    } finally {
      loadingOlder = false;
    }
  }
  olderButton.addEventListener("click", loadOlder);
  list.addEventListener("scroll", () => {
    if (list.scrollTop < 40 && !olderButton.hidden) loadOlder();
  });

  // ---- typing -----------------------------------------------------------------------

  const typers = new Map(); // user id -> {name, timer}
  function renderTyping() {
    const names = Array.from(typers.values(), (t) => t.name);
    if (!names.length) typingEl.textContent = "";
    else if (names.length === 1) typingEl.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) typingEl.textContent = `${names[0]} and ${names[1]} are typing…`;
    else typingEl.textContent = "Several people are typing…";
  }
  function clearTyping(id) {
    const entry = typers.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    typers.delete(id);
    renderTyping();
  }
  client.on("typing", (event) => {
    if (event.room_id !== roomId || event.user_id === userId) return;
    clearTyping(event.user_id);
    const timer = setTimeout(() => clearTyping(event.user_id), TYPING_SHOWN_FOR_MS);
    typers.set(event.user_id, { name: event.display_name, timer });
    renderTyping();
  });
  let lastTypingSent = 0;
  input.addEventListener("input", () => {
    const now = Date.now();
    if (input.value.trim() && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
      lastTypingSent = now;
      client.typing(roomId);
    }
  });

  // ---- read state ---------------------------------------------------------------------

  // Read up to the last message shown, as soon as it is shown to someone looking; one
  // request at a time, the latest seq wins (a steady stream still gets marked).
  let readSent = Number(roomEl.dataset.lastReadSeq || 0);
  let readInFlight = false;
  let readAgain = false;
  async function markRead() {
    if (document.hidden) return;
    if (readInFlight) {
      readAgain = true;
      return;
    }
    const cursor = client.cursor(roomId);
    const seq = cursor ? cursor.lastSeq : 0;
    if (seq <= readSent) return;
    readInFlight = true;
    try {
      const ack = await client.markRead(roomId, seq);
      if (ack.ok) {
        readSent = Math.max(readSent, ack.seq);
        roomEl.dataset.readSeq = String(readSent);
      }
    } finally {
      readInFlight = false;
      if (readAgain) {
        readAgain = false;
        markRead();
      }
    }
  }
  document.addEventListener("visibilitychange", markRead);

  // ---- live events --------------------------------------------------------------------

  client.on("message", (message) => {
    showMessage(message);
    if (message.room_id === roomId) markRead();
  });
  client.on("outbox", showOutboxItem);
  client.on("connection", ({ state }) => {
    roomEl.dataset.connection = state;
    if (state === "synced") markRead();
  });
  client.on("room_gone", ({ room_id: id }) => {
    if (id === roomId) window.location.href = "/";
  });
  client.on("member_joined", (event) => {
    if (event.room_id !== roomId || membersEl.querySelector(`[data-user-id="${event.user.id}"]`)) return;
    setMemberCount(Number(memberCount.textContent) + 1);
    const li = document.createElement("li");
    li.dataset.userId = event.user.id;
    li.title = event.user.display_name;
    const img = document.createElement("img");
    Object.assign(img, { className: "avatar avatar-xs", src: event.user.avatar_url, alt: "", width: 24, height: 24 });
    const dot = document.createElement("span");
    dot.className = "presence-dot online";
    dot.dataset.presenceUser = event.user.id;
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = event.user.display_name;
    li.append(img, dot, name);
    membersEl.append(li);
  });
  client.on("member_left", (event) => {
    if (event.room_id !== roomId) return;
    const li = membersEl.querySelector(`[data-user-id="${CSS.escape(event.user_id)}"]`);
    if (li) li.remove();
    setMemberCount(Math.max(0, Number(memberCount.textContent) - 1));
  });
  client.on("user_updated", ({ user }) => {
    list.querySelectorAll(`li.message[data-sender-id="${CSS.escape(user.id)}"]`).forEach((li) => {
      li.querySelector(".sender").textContent = user.display_name;
      li.querySelector(".message-avatar").src = user.avatar_url;
    });
    const member = membersEl.querySelector(`[data-user-id="${CSS.escape(user.id)}"]`);
    if (member) {
      member.title = user.display_name;
      member.querySelector(".member-name").textContent = user.display_name;
      member.querySelector("img").src = user.avatar_url;
    }
    if (roomEl.dataset.roomKind === "direct" && user.id !== userId) {
      titleEl.textContent = user.display_name;
      document.title = `${user.display_name} · Chat`;
    }
  });

  // ---- composer -------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    if (body.length > 4000) {
      errorEl.textContent = "A message can be at most 4000 characters.";
      errorEl.hidden = false;
      return;
    }
    errorEl.hidden = true;
    // The text now lives in the outbox (localStorage), so clearing the box loses nothing.
    client.send(roomId, body);
    input.value = "";
    lastTypingSent = 0;
    if (viewingHistory) window.location.href = `/rooms/${roomId}`;
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ---- start --------------------------------------------------------------------------------

  list.querySelectorAll("li.message").forEach((li) => {
    const body = li.querySelector(".body");
    if (body && !li.classList.contains("deleted")) body.dataset.raw = body.textContent;
    decorate(li);
  });
  // Laid out before the first scroll, which must see the page's final heights.
  layoutMessages();
  client.pending(roomId).forEach(showOutboxItem);
  const highlighted = list.querySelector("li.highlighted");
  if (highlighted) highlighted.scrollIntoView({ block: "center" });
  else list.scrollTop = list.scrollHeight;
  markRead();

  // ---- mute -----------------------------------------------------------------------------------

  const muteButton = document.getElementById("mute-toggle");
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  muteButton.addEventListener("click", async () => {
    const muted = roomEl.dataset.muted !== "true";
    const response = await fetch(`/api/rooms/${roomId}/settings`, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ muted }),
    });
    if (!response.ok) return;
    roomEl.dataset.muted = String(muted);
    muteButton.textContent = muted ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-pressed", String(muted));
    const entry = document.querySelector(`#room-list li[data-room-id="${CSS.escape(roomId)}"]`);
    if (entry) entry.dataset.muted = String(muted);
  });

  // ---- @mention autocomplete ------------------------------------------------------------------

  const suggestions = document.getElementById("mention-suggestions");
  let choices = [];
  let active = 0;
  function memberNames() {
    return Array.from(membersEl.querySelectorAll("li[data-user-id]"))
      .filter((li) => li.dataset.userId !== userId)
      .map((li) => li.querySelector(".member-name").textContent);
  }
  // The "@partial" being typed just before the caret, if any.
  function mentionAtCaret() {
    const before = input.value.slice(0, input.selectionStart);
    const match = before.match(/(^|\s)@([^\s@]{0,30})$/u);
    return match ? { start: before.length - match[2].length - 1, partial: match[2] } : null;
  }
  function closeSuggestions() {
    suggestions.hidden = true;
    suggestions.replaceChildren();
    choices = [];
    input.removeAttribute("aria-activedescendant");
  }
  function pick(name) {
    const at = mentionAtCaret();
    if (!at) return closeSuggestions();
    const caret = input.selectionStart;
    input.value = `${input.value.slice(0, at.start)}@${name} ${input.value.slice(caret)}`;
    const position = at.start + name.length + 2;
    input.setSelectionRange(position, position);
    closeSuggestions();
    input.focus();
  }
  function renderSuggestions() {
    suggestions.replaceChildren(
      ...choices.map((name, index) => {
        const option = document.createElement("li");
        option.id = `mention-option-${index}`;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", String(index === active));
        option.textContent = name;
        option.addEventListener("mousedown", (event) => {
          event.preventDefault();
          pick(name);
        });
        return option;
      })
    );
    suggestions.hidden = choices.length === 0;
    if (choices.length) input.setAttribute("aria-activedescendant", `mention-option-${active}`);
  }
  input.setAttribute("aria-controls", "mention-suggestions");
  input.addEventListener("input", () => {
    const at = mentionAtCaret();
    if (!at) return closeSuggestions();
    const wanted = at.partial.toLocaleLowerCase();
    choices = memberNames()
      .filter((name) => name.toLocaleLowerCase().startsWith(wanted))
      .slice(0, 8);
    active = 0;
    renderSuggestions();
  });
  input.addEventListener(
    "keydown",
    (event) => {
      if (suggestions.hidden || !choices.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        active = (active + step + choices.length) % choices.length;
        renderSuggestions();
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        event.stopImmediatePropagation();
        pick(choices[active]);
      } else if (event.key === "Escape") {
        closeSuggestions();
      }
    },
    true
  );
  input.addEventListener("blur", () => setTimeout(closeSuggestions, 150));
})();

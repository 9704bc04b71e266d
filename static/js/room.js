// The room page: renders the room's messages and the composer on top of ChatClient.
// Everything user-written is inserted with textContent, never as HTML.
(function () {
  "use strict";

  const roomEl = document.getElementById("room");
  if (!roomEl) return;

  const roomId = roomEl.dataset.roomId;
  const userId = roomEl.dataset.userId;
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-body");
  const errorEl = document.getElementById("composer-error");
  const connectionEl = document.getElementById("connection");
  const memberCount = document.getElementById("member-count");

  const client = new window.ChatClient({ userId });
  client.track(roomId, Number(roomEl.dataset.lastSeq || 0), Number(roomEl.dataset.lastChange || 0));

  function formatTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      el.textContent = formatTime(el.getAttribute("datetime"));
      el.title = new Date(el.getAttribute("datetime")).toLocaleString();
    });
  }

  function fillMessage(li, message) {
    li.className = "message" + (message.sender_id === userId ? " own" : "");
    li.classList.toggle("deleted", Boolean(message.deleted));
    li.dataset.id = String(message.id);
    li.dataset.seq = String(message.seq);
    li.replaceChildren();
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender ? message.sender.display_name : "Deleted user";
    const time = document.createElement("time");
    time.setAttribute("datetime", message.created_at);
    time.textContent = formatTime(message.created_at);
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.deleted ? "message deleted" : message.body;
    li.append(sender, time, body);
    if (message.edited_at && !message.deleted) {
      const edited = document.createElement("span");
      edited.className = "edited muted";
      edited.textContent = "(edited)";
      li.append(edited);
    }
  }

  // Insert or update a stored message, keeping the list in seq order.
  function showMessage(message) {
    if (message.room_id !== roomId) return;
    const pending = list.querySelector(`li[data-client-id="${CSS.escape(message.client_id || "")}"]`);
    if (pending && message.sender_id === userId) pending.remove();
    let li = list.querySelector(`li[data-id="${message.id}"]`);
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    if (!li) {
      li = document.createElement("li");
      fillMessage(li, message);
      const later = Array.from(list.querySelectorAll("li[data-seq]")).find(
        (other) => Number(other.dataset.seq) > message.seq
      );
      const firstPending = list.querySelector("li.pending");
      list.insertBefore(li, later || firstPending || null);
    } else {
      fillMessage(li, message);
    }
    if (nearBottom || message.sender_id === userId) list.scrollTop = list.scrollHeight;
  }

  // A message of the outbox: pending until acknowledged, failed with a retry button.
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
    li.replaceChildren();
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = item.state === "failed" ? `Not sent: ${item.error || ""}` : "Sending…";
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = item.body;
    li.append(status, body);
    if (item.state === "failed") {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => client.retry(item.client_id));
      const discard = document.createElement("button");
      discard.type = "button";
      discard.className = "discard link";
      discard.textContent = "Discard";
      discard.addEventListener("click", () => client.discard(item.client_id));
      li.append(retry, discard);
    }
    list.scrollTop = list.scrollHeight;
  }

  client.on("message", showMessage);
  client.on("outbox", showOutboxItem);
  client.on("connection", ({ state }) => {
    roomEl.dataset.connection = state;
    if (state === "lost" || state === "error") {
      connectionEl.textContent =
        state === "lost" ? "Connection lost. Reconnecting…" : "Cannot reach the server. Retrying…";
      connectionEl.hidden = false;
    } else if (state === "synced") {
      connectionEl.hidden = true;
    }
  });
  client.on("session_ended", () => {
    window.location.href = "/login";
  });
  client.on("room_gone", ({ room_id }) => {
    if (room_id === roomId) window.location.href = "/";
  });
  client.on("member_joined", (event) => {
    if (event.room_id === roomId) memberCount.textContent = String(Number(memberCount.textContent) + 1);
  });
  client.on("member_left", (event) => {
    if (event.room_id === roomId) {
      memberCount.textContent = String(Math.max(0, Number(memberCount.textContent) - 1));
    }
  });

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
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  localiseTimes(list);
  client.pending(roomId).forEach(showOutboxItem);
  list.scrollTop = list.scrollHeight;
})();

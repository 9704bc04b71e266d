// The room page: live messages over Socket.IO, catch-up by seq, and the composer.
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

  let lastSeq = Number(roomEl.dataset.lastSeq || 0);
  let catchingUp = null;
  const shownIds = new Set(
    Array.from(list.querySelectorAll("li[data-id]"), (li) => li.dataset.id)
  );

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function formatTime(iso) {
    const date = new Date(iso);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      el.textContent = formatTime(el.getAttribute("datetime"));
      el.title = new Date(el.getAttribute("datetime")).toLocaleString();
    });
  }

  function renderMessage(message) {
    const li = document.createElement("li");
    li.className = "message" + (message.sender_id === userId ? " own" : "");
    li.dataset.id = String(message.id);
    li.dataset.seq = String(message.seq);
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.sender ? message.sender.display_name : "Deleted user";
    const time = document.createElement("time");
    time.setAttribute("datetime", message.created_at);
    time.textContent = formatTime(message.created_at);
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body;
    li.append(sender, time, body);
    return li;
  }

  function show(message) {
    const id = String(message.id);
    if (shownIds.has(id)) return;
    shownIds.add(id);
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.appendChild(renderMessage(message));
    lastSeq = Math.max(lastSeq, message.seq);
    if (nearBottom || message.sender_id === userId) list.scrollTop = list.scrollHeight;
  }

  // Fetch everything after the last seq shown; pushes that arrive meanwhile wait for it.
  function catchUp() {
    if (catchingUp) return catchingUp;
    catchingUp = (async () => {
      try {
        for (;;) {
          const response = await fetch(
            `/api/rooms/${roomId}/messages?after=${lastSeq}&limit=200`,
            { credentials: "same-origin", headers: { Accept: "application/json" } }
          );
          if (!response.ok) return;
          const page = (await response.json()).messages;
          page.forEach(show);
          if (page.length < 200) return;
        }
      } finally {
        catchingUp = null;
      }
    })();
    return catchingUp;
  }

  const socket = io({ withCredentials: true });

  socket.on("connect", () => {
    connectionEl.hidden = true;
    catchUp();
  });
  socket.on("disconnect", () => {
    connectionEl.textContent = "Connection lost. Reconnecting…";
    connectionEl.hidden = false;
  });
  socket.on("connect_error", () => {
    connectionEl.textContent = "Cannot reach the server. Retrying…";
    connectionEl.hidden = false;
  });
  socket.on("session_ended", () => {
    window.location.href = "/login";
  });
  socket.on("message", async (message) => {
    if (message.room_id !== roomId) return;
    if (catchingUp) await catchingUp;
    if (message.seq > lastSeq + 1) await catchUp();
    show(message);
  });
  socket.on("member_joined", (event) => {
    if (event.room_id !== roomId) return;
    const count = document.getElementById("member-count");
    count.textContent = String(Number(count.textContent) + 1);
  });
  socket.on("member_left", (event) => {
    if (event.room_id !== roomId) return;
    const count = document.getElementById("member-count");
    count.textContent = String(Math.max(0, Number(count.textContent) - 1));
  });

  function setError(text) {
    errorEl.textContent = text || "";
    errorEl.hidden = !text;
  }

  function send(body, clientId) {
    return new Promise((resolve) => {
      socket
        .timeout(10000)
        .emit("send_message", { room_id: roomId, body, client_id: clientId }, (err, ack) => {
          if (err) resolve({ ok: false, message: "The server did not answer. Try again." });
          else resolve(ack);
        });
    });
  }

  let pendingClientId = null;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    // The same client_id is reused if this text is retried, so a retry never duplicates.
    pendingClientId = pendingClientId || newClientId();
    setError("");
    const ack = await send(body, pendingClientId);
    if (ack && ack.ok) {
      pendingClientId = null;
      input.value = "";
      show(ack.message);
    } else {
      setError((ack && ack.message) || "Sending failed.");
    }
  });
  input.addEventListener("input", () => {
    pendingClientId = null;
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  localiseTimes(list);
  list.scrollTop = list.scrollHeight;
})();

// The sidebar: the user's rooms with their last message, unread count and, for direct
// rooms, the other person's presence, kept live from the shared ChatClient.
// Everything user-written is set with textContent.
(function () {
  "use strict";

  const list = document.getElementById("room-list");
  if (!list || typeof io !== "function") return;
  const empty = document.getElementById("room-list-empty");
  const connectionEl = document.getElementById("connection");
  const userId = list.dataset.userId;
  const openRoom = document.getElementById("room");
  const activeRoomId = openRoom ? openRoom.dataset.roomId : null;
  const client = window.ChatClient.shared(userId);

  const itemFor = (roomId) => list.querySelector(`li[data-room-id="${CSS.escape(roomId)}"]`);

  function peerOf(room) {
    if (room.kind !== "direct") return null;
    return room.members.find((member) => member.id !== userId) || null;
  }

  function previewText(message) {
    if (!message) return "";
    if (message.deleted) return "message deleted";
    const who =
      message.sender_id === userId ? "You" : message.sender ? message.sender.display_name : "Deleted user";
    const body = message.body.length > 80 ? message.body.slice(0, 79) + "…" : message.body;
    return `${who}: ${body}`;
  }

  function setMentions(li, count) {
    const badge = li.querySelector(".mention-badge");
    li.dataset.mentions = String(count);
    badge.textContent = `@${count}`;
    badge.setAttribute("aria-label", `${count} mentions`);
    badge.hidden = count <= 0;
  }

  function setUnread(li, count) {
    const badge = li.querySelector(".unread-badge");
    li.dataset.unread = String(count);
    badge.textContent = String(count);
    badge.setAttribute("aria-label", `${count} unread`);
    badge.hidden = count <= 0;
  }

  function render(room) {
    const peer = peerOf(room);
    const li = document.createElement("li");
    li.className = "room-item" + (room.id === activeRoomId ? " active" : "");
    li.dataset.roomId = room.id;
    li.dataset.kind = room.kind;
    li.dataset.lastSeq = String(room.last_seq);
    li.dataset.lastChange = String(room.last_change);
    if (peer) li.dataset.peerId = peer.id;
    const link = document.createElement("a");
    link.href = `/rooms/${encodeURIComponent(room.id)}`;
    if (room.id === activeRoomId) link.setAttribute("aria-current", "page");
    const avatar = document.createElement("span");
    avatar.className = "room-avatar";
    if (peer) {
      const img = document.createElement("img");
      Object.assign(img, { className: "avatar avatar-sm", src: peer.avatar_url, alt: "", width: 28, height: 28 });
      const dot = document.createElement("span");
      dot.className = "presence-dot" + (peer.online ? " online" : "");
      dot.dataset.presenceUser = peer.id;
      avatar.append(img, dot);
    } else {
      const initial = document.createElement("span");
      initial.className = "avatar avatar-sm group-avatar";
      initial.setAttribute("aria-hidden", "true");
      initial.textContent = (room.title || "#").slice(0, 1);
      avatar.append(initial);
    }
    const text = document.createElement("span");
    text.className = "room-text";
    const title = document.createElement("bdi");
    title.className = "room-title";
    title.textContent = room.title;
    const preview = document.createElement("span");
    preview.className = "room-preview muted";
    preview.dir = "auto";
    preview.textContent = previewText(room.last_message);
    text.append(title, preview);
    const mentionBadge = document.createElement("span");
    mentionBadge.className = "mention-badge";
    const badge = document.createElement("span");
    badge.className = "unread-badge";
    link.append(avatar, text, mentionBadge, badge);
    li.append(link);
    li.dataset.muted = String(Boolean(room.muted));
    setUnread(li, room.unread_count || 0);
    setMentions(li, room.mention_count || 0);
    return li;
  }

  function upsertRoom(room, { toTop = false } = {}) {
    const existing = itemFor(room.id);
    const li = render(room);
    if (existing) existing.replaceWith(li);
    else if (toTop) list.prepend(li);
    else list.append(li);
    client.track(room.id, room.last_seq, room.last_change);
    list.hidden = false;
    if (empty) empty.hidden = true;
    return li;
  }

  // The server's view is the truth for counts and order: after each (re)connect and sync,
  // reconcile the whole list with one request (rooms made while this page had no socket
  // were pushed to no one here).
  async function reconcile() {
    try {
      const response = await fetch("/api/rooms", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const { rooms } = await response.json();
      const wanted = new Set(rooms.map((room) => room.id));
      list.querySelectorAll("li[data-room-id]").forEach((li) => {
        if (!wanted.has(li.dataset.roomId)) li.remove();
      });
      rooms.forEach((room) => {
        const li = itemFor(room.id) || upsertRoom(room);
        list.append(li); // server order: most recent activity first
        const watching = room.id === activeRoomId && !document.hidden;
        setUnread(li, watching ? 0 : room.unread_count);
        setMentions(li, watching ? 0 : room.mention_count);
        li.dataset.muted = String(Boolean(room.muted));
        li.querySelector(".room-preview").textContent = previewText(room.last_message);
        li.dataset.lastSeq = String(room.last_seq);
        client.track(room.id, room.last_seq, room.last_change);
      });
      list.hidden = rooms.length === 0;
      if (empty) empty.hidden = rooms.length > 0;
    } catch (_) {
      // Offline: the next connect reconciles again.
    }
  }

  client.on("message", (message) => {
    const li = itemFor(message.room_id);
    if (!li) return;
    const lastSeq = Number(li.dataset.lastSeq || 0);
    if (message.seq >= lastSeq) {
      li.querySelector(".room-preview").textContent = previewText(message);
    }
    if (message.seq > lastSeq) {
      li.dataset.lastSeq = String(message.seq);
      list.prepend(li);
      const watching = message.room_id === activeRoomId && !document.hidden;
      if (message.sender_id !== userId && !message.deleted && !watching) {
        setUnread(li, Number(li.dataset.unread || 0) + 1);
        if ((message.mentions || []).includes(userId)) {
          setMentions(li, Number(li.dataset.mentions || 0) + 1);
        }
      }
    }
  });
  client.on("read", async ({ room_id: roomId, seq }) => {
    const li = itemFor(roomId);
    if (!li) return;
    if (seq >= Number(li.dataset.lastSeq || 0)) {
      setUnread(li, 0);
      setMentions(li, 0);
      return;
    }
    try {
      const response = await fetch(`/api/rooms/${roomId}`, { credentials: "same-origin" });
      if (response.ok) {
        const room = await response.json();
        setUnread(li, room.unread_count);
        setMentions(li, room.mention_count);
      }
    } catch (_) {
      // The next reconcile corrects it.
    }
  });
  client.on("room_created", ({ room }) => upsertRoom(room, { toTop: true }));
  client.on("room_added", ({ room }) => upsertRoom(room, { toTop: true }));
  client.on("room_gone", ({ room_id: roomId }) => {
    const li = itemFor(roomId);
    if (li) li.remove();
    client.untrack(roomId);
  });
  // Batched by the server: who came online or went offline in the last half second.
  client.on("presence", ({ users }) => {
    for (const { user_id: id, online } of users) {
      document.querySelectorAll(`[data-presence-user="${CSS.escape(id)}"]`).forEach((dot) => {
        dot.classList.toggle("online", online);
        dot.title = online ? "Online" : "Offline";
      });
    }
  });
  client.on("user_updated", ({ user }) => {
    list.querySelectorAll(`li[data-peer-id="${CSS.escape(user.id)}"]`).forEach((li) => {
      li.querySelector(".room-title").textContent = user.display_name;
      const img = li.querySelector("img.avatar");
      if (img) img.src = user.avatar_url;
    });
    if (user.id === userId) {
      const me = document.querySelector(".whoami");
      if (me) me.textContent = user.display_name;
      const myAvatar = document.getElementById("my-avatar");
      if (myAvatar) myAvatar.src = user.avatar_url;
    }
  });
  client.on("connection", async ({ state }) => {
    if (state === "lost" || state === "error") {
      delete list.dataset.live;
      if (connectionEl) {
        connectionEl.textContent =
          state === "lost" ? "Connection lost. Reconnecting…" : "Cannot reach the server. Retrying…";
        connectionEl.hidden = false;
      }
    } else if (state === "synced") {
      await reconcile();
      if (connectionEl) connectionEl.hidden = true;
      list.dataset.live = "true";
    }
  });
  client.on("session_ended", () => {
    window.location.href = "/login";
  });

  list.querySelectorAll("li[data-room-id]").forEach((li) => {
    li.dataset.unread = li.querySelector(".unread-badge").textContent.trim() || "0";
    li.dataset.mentions = li.querySelector(".mention-badge").textContent.replace("@", "").trim() || "0";
    client.track(li.dataset.roomId, Number(li.dataset.lastSeq), Number(li.dataset.lastChange));
  });
})();

// The room list, kept live: a room someone else put you in (a direct conversation they
// opened, a group they added you to) appears at once, and a direct room follows its
// peer's renames and new photos. Everything user-written is set with textContent.
(function () {
  "use strict";

  const list = document.getElementById("room-list");
  if (!list || typeof io !== "function") return;
  const empty = document.getElementById("room-list-empty");
  const userId = list.dataset.userId;

  function peerOf(room) {
    if (room.kind !== "direct") return null;
    return room.members.find((member) => member.id !== userId) || null;
  }

  function avatarImg(user) {
    const img = document.createElement("img");
    img.className = "avatar avatar-sm";
    img.src = user.avatar_url;
    img.alt = "";
    img.width = 28;
    img.height = 28;
    return img;
  }

  function render(room) {
    const peer = peerOf(room);
    const li = document.createElement("li");
    li.dataset.roomId = room.id;
    if (peer) li.dataset.peerId = peer.id;
    const link = document.createElement("a");
    link.href = `/rooms/${encodeURIComponent(room.id)}`;
    if (peer) link.append(avatarImg(peer));
    const title = document.createElement("bdi");
    title.className = "room-title";
    title.textContent = room.title;
    link.append(title);
    const meta = document.createElement("span");
    meta.className = "muted";
    const count = room.members.length;
    meta.textContent = peer ? "Direct" : `${count} member${count === 1 ? "" : "s"}`;
    li.append(link, " ", meta);
    return li;
  }

  // Newest activity first, as the server orders the list: a new room goes on top.
  function addRoom(room) {
    const existing = list.querySelector(`li[data-room-id="${CSS.escape(room.id)}"]`);
    const li = render(room);
    if (existing) existing.replaceWith(li);
    else list.prepend(li);
    list.hidden = false;
    if (empty) empty.hidden = true;
  }

  function updateUser(user) {
    list.querySelectorAll(`li[data-peer-id="${CSS.escape(user.id)}"]`).forEach((li) => {
      const title = li.querySelector(".room-title");
      if (title) title.textContent = user.display_name;
      const img = li.querySelector("img.avatar");
      if (img) img.src = user.avatar_url;
    });
    if (user.id === userId) {
      const me = document.querySelector(".whoami");
      if (me) me.textContent = user.display_name;
      const myAvatar = document.getElementById("my-avatar");
      if (myAvatar) myAvatar.src = user.avatar_url;
    }
  }

  // Rooms made while this page had no socket (before it connected, or while it was
  // reconnecting) were pushed to no one here: fetch the list and add what is missing.
  async function catchUp() {
    try {
      const response = await fetch("/api/rooms", {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return;
      const { rooms } = await response.json();
      rooms
        .filter((room) => !list.querySelector(`li[data-room-id="${CSS.escape(room.id)}"]`))
        .reverse()
        .forEach(addRoom);
    } catch (_) {
      // Offline: the next connect tries again.
    }
  }

  const socket = io({ withCredentials: true });
  socket.on("connect", async () => {
    await catchUp();
    list.dataset.live = "true";
  });
  socket.on("disconnect", () => {
    delete list.dataset.live;
  });
  socket.on("room_created", (event) => addRoom(event.room));
  socket.on("room_added", (event) => addRoom(event.room));
  socket.on("user_updated", (event) => updateUser(event.user));
  socket.on("session_ended", () => {
    window.location.href = "/login";
  });
})();

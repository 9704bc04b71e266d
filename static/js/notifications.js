// Noticing from another tab: the unread count in the tab title and the favicon, and
// browser notifications (after the person opts in) for direct messages and mentions
// that arrive while this tab is hidden, unless the room is muted.
(function () {
  "use strict";

  const list = document.getElementById("room-list");
  if (!list || !window.ChatClient) return;
  const userId = list.dataset.userId;
  const client = window.ChatClient.shared(userId);
  const toggle = document.getElementById("notify-toggle");
  const baseTitle = document.title;
  const icon = document.querySelector('link[rel="icon"]');
  const supported = "Notification" in window;

  function totalUnread() {
    let total = 0;
    list.querySelectorAll("li[data-room-id]").forEach((li) => {
      total += Number(li.dataset.unread || 0);
    });
    return total;
  }

  // A small round badge with the count, drawn on a canvas (no image files needed).
  function badgeIcon(count) {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 32;
    const context = canvas.getContext("2d");
    context.fillStyle = "#14213d";
    context.beginPath();
    context.arc(16, 16, 15, 0, 2 * Math.PI);
    context.fill();
    if (count > 0) {
      context.fillStyle = "#d62828";
      context.beginPath();
      context.arc(22, 10, 10, 0, 2 * Math.PI);
      context.fill();
      context.fillStyle = "#fff";
      context.font = "bold 13px sans-serif";
      context.textAlign = "center";
      context.textBaseline = "middle";
      context.fillText(count > 99 ? "99" : String(count), 22, 11);
    }
    return canvas.toDataURL("image/png");
  }

  let shownCount = -1;
  function refreshIndicators() {
    const count = totalUnread();
    if (count === shownCount) return;
    shownCount = count;
    document.title = count > 0 ? `(${count}) ${baseTitle}` : baseTitle;
    document.documentElement.dataset.unreadTotal = String(count);
    if (icon) icon.href = badgeIcon(count);
  }
  new MutationObserver(refreshIndicators).observe(list, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["data-unread"],
  });
  refreshIndicators();

  function refreshToggle() {
    if (!toggle) return;
    toggle.hidden = !supported || Notification.permission !== "default";
  }
  if (toggle) {
    toggle.addEventListener("click", async () => {
      await Notification.requestPermission();
      refreshToggle();
    });
  }
  refreshToggle();

  client.on("message", (message) => {
    if (!supported || Notification.permission !== "granted" || !document.hidden) return;
    if (message.sender_id === userId || message.deleted || message.edited_at) return;
    const li = list.querySelector(`li[data-room-id="${CSS.escape(message.room_id)}"]`);
    if (!li || li.dataset.muted === "true") return;
    const mentioned = (message.mentions || []).includes(userId);
    if (li.dataset.kind !== "direct" && !mentioned) return;
    const sender = message.sender ? message.sender.display_name : "Someone";
    const room = li.querySelector(".room-title").textContent;
    const title = li.dataset.kind === "direct" ? sender : `${sender} in ${room}`;
    const notification = new Notification(title, {
      body: message.body.length > 140 ? message.body.slice(0, 139) + "…" : message.body,
      tag: `room-${message.room_id}`,
    });
    notification.addEventListener("click", () => {
      window.focus();
      window.location.href = `/rooms/${message.room_id}`;
    });
  });
})();

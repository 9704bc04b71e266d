// The chat protocol in the browser: one socket, an outbox that survives reloads,
// and catch-up by each room's change counter so that nothing is lost or shown twice.
//
// The server is the only source of truth: python-socketio keeps no buffer for a
// disconnected client, so after every (re)connect the client asks what changed
// since the last change it applied (`sync`), and whenever a push skips ahead of
// its cursor it fetches the gap before applying the push.
(function () {
  "use strict";

  const ACK_TIMEOUT_MS = 10000;
  const PAGE = 200;
  // Errors after which resending the same message cannot succeed.
  const PERMANENT = new Set([
    "invalid",
    "not_found",
    "client_id_reused",
    "not_author",
    "message_deleted",
    "unauthorized",
  ]);

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  class Outbox {
    // Messages typed but not yet acknowledged, kept in localStorage per user.
    constructor(userId) {
      this.key = `chat.outbox.${userId}`;
    }
    all() {
      try {
        return JSON.parse(localStorage.getItem(this.key) || "[]");
      } catch (_) {
        return [];
      }
    }
    save(items) {
      localStorage.setItem(this.key, JSON.stringify(items));
    }
    add(item) {
      this.save([...this.all(), item]);
    }
    update(clientId, changes) {
      this.save(this.all().map((it) => (it.client_id === clientId ? { ...it, ...changes } : it)));
    }
    remove(clientId) {
      this.save(this.all().filter((it) => it.client_id !== clientId));
    }
  }

  class ChatClient {
    constructor({ userId }) {
      this.userId = userId;
      this.outbox = new Outbox(userId);
      this.cursors = new Map(); // room id -> {lastSeq, lastChange}
      this.listeners = {};
      this.catchingUp = new Map(); // room id -> promise
      this.flushing = null;
      this.socket = io({ withCredentials: true });
      this.socket.on("connect", () => this._onConnect());
      this.socket.on("disconnect", (reason) => this._emit("connection", { state: "lost", reason }));
      this.refusedRetryMs = 1000;
      this.socket.on("connect_error", (error) => this._onConnectError(error));
      this.socket.on("session_ended", () => this._emit("session_ended", {}));
      // The server's message queue came back after an outage: pushes may have been lost.
      this.socket.on("resync", () => this.sync());
      for (const event of ["message", "message_updated", "message_deleted"]) {
        this.socket.on(event, (message) => this._onPush(message));
      }
      for (const event of [
        "member_joined",
        "member_left",
        "room_added",
        "room_created",
        "user_updated",
        "typing",
        "presence",
        "read",
      ]) {
        this.socket.on(event, (data) => this._emit(event, data));
      }
      // The browser knows it is offline before any ping times out: say so and stop trying;
      // back online, reconnect at once (the connect handler syncs and flushes the outbox).
      window.addEventListener("offline", () => {
        this.socket.disconnect();
        this._emit("connection", { state: "lost", reason: "offline" });
      });
      window.addEventListener("online", () => this.socket.connect());
    }

    // A refused handshake is not retried by socket.io-client: retry it here when the
    // refusal is temporary, and send a signed-out person to the login page.
    _onConnectError(error) {
      this._emit("connection", { state: "error" });
      if (this.socket.active) return; // a transport failure: the client retries by itself
      const reason = error && error.message;
      if (reason === "unauthorized") {
        this._emit("session_ended", { reason });
        return;
      }
      const delay = this.refusedRetryMs;
      this.refusedRetryMs = Math.min(this.refusedRetryMs * 2, 30000);
      setTimeout(() => this.socket.connect(), delay + Math.random() * 500);
    }

    // One client (one socket) per page, shared by the sidebar and the open room.
    static shared(userId) {
      if (!window.chatClient) window.chatClient = new ChatClient({ userId });
      return window.chatClient;
    }

    // An acknowledged emit as a promise: {ok: true, ...} or {ok: false, error, message}.
    request(event, payload) {
      return new Promise((resolve) => {
        if (!this.socket.connected) {
          resolve({ ok: false, error: "disconnected", message: "Not connected to the server." });
          return;
        }
        this.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (err, ack) => {
          if (err) resolve({ ok: false, error: "timeout", message: "The server did not answer." });
          else resolve(ack || { ok: false, error: "error", message: "No answer." });
        });
      });
    }

    async editMessage(messageId, body) {
      const ack = await this.request("edit_message", { message_id: messageId, body });
      if (ack.ok) this._onPush(ack.message);
      return ack;
    }

    async deleteMessage(messageId) {
      const ack = await this.request("delete_message", { message_id: messageId });
      if (ack.ok) this._onPush(ack.message);
      return ack;
    }

    typing(roomId) {
      if (this.socket.connected) this.socket.emit("typing", { room_id: roomId });
    }

    markRead(roomId, seq) {
      return this.request("mark_read", { room_id: roomId, seq });
    }

    cursor(roomId) {
      return this.cursors.get(roomId);
    }

    on(event, handler) {
      (this.listeners[event] = this.listeners[event] || []).push(handler);
    }

    _emit(event, data) {
      for (const handler of this.listeners[event] || []) handler(data);
    }

    track(roomId, lastSeq, lastChange) {
      if (!this.cursors.has(roomId)) this.cursors.set(roomId, { lastSeq, lastChange });
    }

    untrack(roomId) {
      this.cursors.delete(roomId);
    }

    // Apply a message (new, edited or deleted) once, in change order, and move the cursor.
    _apply(message) {
      this._settle(message);
      const cursor = this.cursors.get(message.room_id);
      if (cursor) {
        if (message.change_seq <= cursor.lastChange) return;
        cursor.lastChange = message.change_seq;
        cursor.lastSeq = Math.max(cursor.lastSeq, message.seq);
      }
      this._emit("message", message);
    }

    // A stored message of ours that is still in the outbox (its ack was lost or came too
    // late, and a catch-up or sync found it): it was sent, whatever the outbox thought.
    _settle(message) {
      if (!message.client_id || message.sender_id !== this.userId) return;
      const item = this.outbox.all().find((it) => it.client_id === message.client_id);
      if (!item) return;
      this.outbox.remove(item.client_id);
      this._emit("outbox", { ...item, state: "sent", message });
    }

    async _onPush(message) {
      const roomId = message.room_id;
      const cursor = this.cursors.get(roomId);
      if (!cursor) return this._emit("message", message);
      if (this.catchingUp.has(roomId)) await this.catchingUp.get(roomId);
      if (message.change_seq > cursor.lastChange + 1 || message.seq > cursor.lastSeq + 1) {
        await this.catchUp(roomId);
        // Still a gap (offline?): applying now would skip it; the next sync brings both.
        if (message.change_seq > cursor.lastChange + 1) return;
      }
      this._apply(message);
    }

    // Fetch every change of a room after its cursor (HTTP, paged).
    catchUp(roomId) {
      if (this.catchingUp.has(roomId)) return this.catchingUp.get(roomId);
      const run = (async () => {
        try {
          for (;;) {
            const since = this.cursors.get(roomId).lastChange;
            const response = await fetch(
              `/api/rooms/${roomId}/changes?since=${since}&limit=${PAGE}`,
              { credentials: "same-origin", headers: { Accept: "application/json" } }
            );
            if (!response.ok) return;
            const page = await response.json();
            page.messages.forEach((m) => this._apply(m));
            if (!page.has_more) return;
          }
        } catch (_) {
          // Offline: the next connect syncs again.
        } finally {
          this.catchingUp.delete(roomId);
        }
      })();
      this.catchingUp.set(roomId, run);
      return run;
    }

    // One request for every tracked room: what changed since each cursor.
    sync() {
      const rooms = {};
      for (const [roomId, cursor] of this.cursors) rooms[roomId] = cursor.lastChange;
      if (!Object.keys(rooms).length) return Promise.resolve();
      return new Promise((resolve) => {
        this.socket.timeout(ACK_TIMEOUT_MS).emit("sync", { rooms }, (err, ack) => {
          if (err || !ack || !ack.ok) return resolve();
          const pending = [];
          for (const [roomId, result] of Object.entries(ack.rooms)) {
            result.messages.forEach((m) => this._apply(m));
            if (result.has_more) pending.push(this.catchUp(roomId));
          }
          for (const roomId of ack.gone) this._emit("room_gone", { room_id: roomId });
          Promise.all(pending).then(resolve);
        });
      });
    }

    async _onConnect() {
      this.refusedRetryMs = 1000;
      this._emit("connection", { state: "connected" });
      await this.sync();
      await this.flushOutbox();
      this._emit("connection", { state: "synced" });
    }

    pending(roomId) {
      return this.outbox.all().filter((item) => item.room_id === roomId);
    }

    // Queue a message: it is stored locally first, so a reload or an outage cannot lose it.
    send(roomId, body) {
      const item = {
        client_id: newClientId(),
        room_id: roomId,
        body,
        created_at: new Date().toISOString(),
        state: "pending",
      };
      this.outbox.add(item);
      this._emit("outbox", item);
      this._deliver(item);
      return item;
    }

    retry(clientId) {
      const item = this.outbox.all().find((it) => it.client_id === clientId);
      if (!item) return;
      this.outbox.update(clientId, { state: "pending", error: null });
      this._emit("outbox", { ...item, state: "pending", error: null });
      this._deliver({ ...item, state: "pending" });
    }

    discard(clientId) {
      const item = this.outbox.all().find((it) => it.client_id === clientId);
      this.outbox.remove(clientId);
      if (item) this._emit("outbox", { ...item, state: "discarded" });
    }

    // Resend everything unacknowledged, oldest first (after a reconnect or a reload).
    flushOutbox() {
      if (this.flushing || !this.socket.connected) return this.flushing || Promise.resolve();
      this.flushing = (async () => {
        try {
          for (const item of this.outbox.all()) {
            if (item.state === "failed" && PERMANENT.has(item.error_code)) continue;
            await this._deliver(item);
          }
        } finally {
          this.flushing = null;
        }
      })();
      return this.flushing;
    }

    _deliver(item) {
      if (!this.socket.connected) return Promise.resolve(false);
      const payload = { room_id: item.room_id, body: item.body, client_id: item.client_id };
      return new Promise((resolve) => {
        this.socket.timeout(ACK_TIMEOUT_MS).emit("send_message", payload, (err, ack) => {
          // No answer: it may be stored all the same (the ack was lost or late, and the
          // sending socket gets no push of its own message). Catching the room up finds
          // it, shows it and settles the outbox (_settle); if it was not stored, nothing
          // changes and the outbox keeps it for a retry.
          if (err && this.cursors.has(item.room_id)) this.catchUp(item.room_id);
          if (!this.outbox.all().some((it) => it.client_id === item.client_id)) {
            // Settled already: by an earlier attempt, or by another tab that saw it stored.
            if (!err && ack && ack.ok) this._onPush(ack.message);
            return resolve(true);
          }
          if (!err && ack && ack.ok) {
            this.outbox.remove(item.client_id);
            this._emit("outbox", { ...item, state: "sent", message: ack.message });
            // Through the same path as a push: earlier changes may not have arrived yet.
            this._onPush(ack.message);
            return resolve(true);
          }
          const code = err ? "timeout" : (ack && ack.error) || "error";
          const text = err ? "The server did not answer." : (ack && ack.message) || "Sending failed.";
          if (code === "rate_limited") {
            // Temporary: try again, with the same client_id, once the server says it may.
            const waitMs = Math.max(1, Number(ack.retry_after) || 1) * 1000;
            setTimeout(() => this._deliver(item), waitMs);
          }
          this.outbox.update(item.client_id, { state: "failed", error_code: code, error: text });
          this._emit("outbox", { ...item, state: "failed", error_code: code, error: text });
          resolve(false);
        });
      });
    }
  }

  window.ChatClient = ChatClient;
})();

// The web chat page (bot/channels/webchat.py). Served as a file, never inline, so the page's
// Content-Security-Policy can forbid inline scripts. Message text is only ever put into the
// page as text nodes, never parsed as HTML; phone numbers become tel: links built with the DOM.
(function () {
  "use strict";
  var body = document.body;
  var code = body.dataset.code;
  var maxUpload = Number(body.dataset.maxUpload) || 5 * 1024 * 1024;
  var storeKey = "bot-session-" + code;
  var SIGNED = /^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}$/;
  // "0214 000 001", "0912.345.678", "+84 912 345 678", and the emergency numbers 111–115
  var PHONE = /(^|[^\w\-.\/+])((?:\+84|0)\d(?:[ .]?\d){7,10}|11[1-5])(?![\w\/])/g;
  var log = document.getElementById("log");
  var status = document.getElementById("status");
  var input = document.getElementById("t");
  var ws = null, retry = 0, session = null, memory = null;
  // the page's language, when the portal links to it with ?lang=en: the bot answers in it
  // until the resident writes clearly in another (bot/nlu/language.py)
  var lang = new URLSearchParams(location.search).get("lang");
  // the page's words in its language (bot/channels/webchat.py SCRIPT_TEXTS)
  var T = {};
  try { T = JSON.parse(body.dataset.texts || "{}"); } catch (e) { T = {}; }
  function t(key, fallback) { return T[key] || fallback; }

  function stored() {
    try { return localStorage.getItem(storeKey); } catch (e) { return memory; }
  }
  function keep(value) {
    memory = value;
    try {
      if (value) localStorage.setItem(storeKey, value); else localStorage.removeItem(storeKey);
    } catch (e) { /* storage blocked (private mode, some frames): this tab only */ }
  }

  // The session comes from the server, signed; an id made up by an older page is replaced.
  function getSession(fresh) {
    var have = fresh ? null : stored();
    if (have && SIGNED.test(have)) return Promise.resolve(have);
    return fetch("/chat/" + code + "/session", {method: "POST", credentials: "same-origin"})
      .then(function (r) {
        return r.json().then(function (j) {
          if (!r.ok || !j.session) throw new Error(j.error || t("no_session", "Không mở được phiên trò chuyện."));
          keep(j.session);
          return j.session;
        });
      });
  }

  function linkify(parent, text) {
    var last = 0, m;
    PHONE.lastIndex = 0;
    while ((m = PHONE.exec(text)) !== null) {
      var start = m.index + m[1].length;
      if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
      var a = document.createElement("a");
      a.href = "tel:" + m[2].replace(/[^\d+]/g, "");
      a.textContent = m[2];
      parent.appendChild(a);
      last = start + m[2].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function clearChoices() {
    var boxes = log.querySelectorAll(".choices");
    for (var i = 0; i < boxes.length; i++) boxes[i].remove();
  }

  function add(text, dir, options, picture) {
    var div = document.createElement("div");
    div.className = "msg " + dir;
    if (dir === "out") linkify(div, text || ""); else div.textContent = text || "";
    if (picture) {
      var img = document.createElement("img");
      img.src = picture;
      img.alt = t("photo_sent", "Ảnh đã gửi");
      div.appendChild(img);
    }
    if (options && options.length) {
      var box = document.createElement("div");
      box.className = "choices";
      options.forEach(function (o) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = o.title;
        b.addEventListener("click", function () { send(o.title, o.payload); });
        box.appendChild(b);
      });
      div.appendChild(box);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function show(m) {
    if (m.type === "history") {
      log.textContent = "";
      m.messages.forEach(function (x) { add(x.text, x.direction, x.options); });
    } else if (m.type === "reply") {
      if (m.kind === "choices") add(m.text, "out", m.options);
      else add(m.text || "", "out");
    } else if (m.type === "error") {
      status.textContent = m.error;
      if (m.code === "session") keep(null);
    }
  }

  function connect() {
    getSession(false).then(function (s) {
      session = s;
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      ws = new WebSocket(proto + location.host + "/chat/" + code + "/ws");
      ws.onopen = function () {
        var hello = {type: "hello", session: session};
        if (lang) hello.language = lang;
        ws.send(JSON.stringify(hello));
        retry = 0;
        status.textContent = "";
      };
      ws.onmessage = function (e) { show(JSON.parse(e.data)); };
      ws.onclose = function () {
        status.textContent = status.textContent || t("lost", "Mất kết nối, đang thử lại…");
        later();
      };
    }, function (err) {
      status.textContent = err.message;
      later();
    });
  }
  function later() { setTimeout(connect, Math.min(30000, 500 * Math.pow(2, retry++))); }

  function ready() {
    if (!ws || ws.readyState !== 1) {
      status.textContent = t("not_connected", "Chưa kết nối, vui lòng thử lại.");
      return false;
    }
    return true;
  }
  function id() {
    return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }
  function send(text, payload) {
    if (!ready()) return;
    clearChoices();  // answered: the old choices no longer apply
    add(text, "in");
    var msg = {id: id(), text: text};
    if (payload) msg.payload = payload;
    if (lang) msg.language = lang;
    ws.send(JSON.stringify(msg));
  }
  function attach(attachments, label, picture) {
    if (!ready()) return;
    clearChoices();
    add(label, "in", null, picture);
    var msg = {id: id(), text: "", attachments: attachments};
    if (lang) msg.language = lang;
    ws.send(JSON.stringify(msg));
  }

  document.getElementById("f").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (text) { send(text); input.value = ""; }
  });
  document.getElementById("erase").addEventListener("click", function () {
    send(t("erase_text", "Xóa thông tin của tôi"));
  });

  // A photo: checked here for size (the server checks again, and checks it is a photo).
  var photo = document.getElementById("photo");
  photo.addEventListener("change", function () {
    var file = photo.files[0];
    photo.value = "";
    if (!file) return;
    if (file.size > maxUpload) {
      status.textContent = t("too_big", "Ảnh quá lớn.");
      return;
    }
    if (!ready()) return;
    status.textContent = t("sending_photo", "Đang gửi ảnh…");
    fetch("/chat/" + code + "/photo", {method: "POST", body: file, credentials: "same-origin",
                                       headers: {"X-Chat-Session": session}})
      .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, j: j}; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = res.j.error || t("photo_failed", "Không gửi được ảnh."); return; }
        status.textContent = "";
        attach([{type: "image", payload: {upload: res.j.upload}}], t("photo_sent", "Ảnh đã gửi"),
               URL.createObjectURL(file));
      }, function () { status.textContent = t("photo_failed", "Không gửi được ảnh."); });
  });

  // The location: asked from the browser only when the resident taps the button.
  document.getElementById("where").addEventListener("click", function () {
    if (!navigator.geolocation) {
      status.textContent = t("no_geo", "Trình duyệt này không gửi được vị trí.");
      return;
    }
    status.textContent = t("getting_geo", "Đang lấy vị trí…");
    navigator.geolocation.getCurrentPosition(function (pos) {
      status.textContent = "";
      attach([{type: "location", payload: {coordinates: {latitude: pos.coords.latitude,
                                                        longitude: pos.coords.longitude}}}],
             t("where_sent", "Vị trí đã gửi"));
    }, function () {
      status.textContent = t("geo_failed", "Chưa lấy được vị trí.");
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  });

  connect();
})();

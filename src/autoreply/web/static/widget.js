/*
 * autoreply chat widget: vanilla JS, no build step, no dependencies.
 *
 * Embed:   <script src="https://HOST/widget.js" async></script>
 * Options: data-flow, data-locale (ja|en), data-position (right|left), data-color (CSS colour)
 * Docs:    docs/widget.md
 *
 * Everything lives in an open Shadow DOM under <div id="autoreply-widget">, so the host page's
 * CSS cannot reach it. The only global is window.autoreply.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------
  // 1. Where we were loaded from (document.currentScript is only set while this runs first)
  // ---------------------------------------------------------------------------------------
  var script = document.currentScript || findScript();
  if (!script || (window.autoreply && window.autoreply.version)) return; // loaded twice: no-op

  function findScript() {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(all[i].src || "")) return all[i];
    }
    return null;
  }

  var API = new URL(script.src, location.href).origin;
  var LOCALE = script.getAttribute("data-locale") === "en" ? "en" : "ja";
  var FLOW = script.getAttribute("data-flow") || "";
  var POSITION = script.getAttribute("data-position") === "left" ? "left" : "right";
  var COLOR = script.getAttribute("data-color") || "";
  if (!COLOR || !(window.CSS && CSS.supports && CSS.supports("color", COLOR))) COLOR = "#0b3d91";
  var MAX_TEXT = 2000; // characters (code points), as the chat API counts them
  var COUNT_FROM = 1500; // the count shows from here on, and always once over the limit
  // A phone or tablet (no Shift key to speak of) or a narrow window: no Shift+Enter hint.
  var TOUCH = !!(window.matchMedia && matchMedia("(pointer: coarse), (max-width: 480px)").matches);
  var TIMEOUT_MS = 20000;
  var STORE_KEY = "autoreply:conversation:" + (FLOW || (LOCALE === "ja" ? "default" : "default-" + LOCALE));
  var VISITOR_KEY = "autoreply:visitor";
  var SYNC_KEY = STORE_KEY + ":changed"; // written after each turn: other tabs bring themselves up to date

  // ---------------------------------------------------------------------------------------
  // 2. UI strings, one table keyed by locale
  // ---------------------------------------------------------------------------------------
  var STRINGS = {
    ja: {
      title: "チャットでご相談",
      launcher: "チャットで相談する",
      close: "チャットを閉じる",
      input: "メッセージ",
      placeholder: "メッセージを入力（Shift+Enterで改行）",
      placeholderTouch: "メッセージを入力",
      hint: "Enterで送信、Shift+Enterで改行",
      hintTouch: "送信ボタンで送信",
      count: function (n) { return n.toLocaleString("ja-JP") + " / " + MAX_TEXT.toLocaleString("ja-JP") + "文字"; },
      send: "送信",
      typing: "入力中…",
      bot: "自動応答：",
      you: "あなた：",
      story: "事例を見る",
      newTab: "（新しいタブで開きます）",
      network: "通信エラーが発生しました。もう一度お試しください。",
      expired: "会話の有効期限が切れたため、新しい会話を始めます。",
      refused: "この操作はお受けできませんでした。もう一度お選びいただくか、ご入力ください。",
      updated: "別の画面でのご回答を反映し、最新の状態に更新いたしました。",
      tooLong: function (n) {
        return "メッセージは" + MAX_TEXT.toLocaleString("ja-JP") + "文字以内でお願いいたします（現在" +
          n.toLocaleString("ja-JP") + "文字）。分けてお送りいただくか、短くしてください。";
      },
      unavailable: "ただいまチャットをご利用いただけません。しばらくしてからお試しください。",
      tooMany: "ただいま混み合っております。恐れ入りますが、しばらくおいてからもう一度お試しください。",
      retry: "もう一度試す",
    },
    en: {
      title: "Chat with us",
      launcher: "Open chat",
      close: "Close chat",
      input: "Message",
      placeholder: "Type a message",
      placeholderTouch: "Type a message",
      hint: "Enter sends, Shift+Enter starts a new line",
      hintTouch: "Tap the send button to send",
      count: function (n) { return n.toLocaleString("en-US") + " / " + MAX_TEXT.toLocaleString("en-US") + " characters"; },
      send: "Send",
      typing: "Typing…",
      bot: "Assistant: ",
      you: "You: ",
      story: "Read the story",
      newTab: " (opens in a new tab)",
      network: "A network error occurred. Please try again.",
      expired: "This conversation has expired, so we are starting a new one.",
      refused: "That could not be accepted. Please choose again or type your answer.",
      updated: "This chat was answered in another window, so it has been brought up to date.",
      tooLong: function (n) {
        return "Please keep messages to " + MAX_TEXT.toLocaleString("en-US") + " characters (this one has " +
          n.toLocaleString("en-US") + "). You can send it in parts.";
      },
      unavailable: "The chat is not available right now. Please try again later.",
      tooMany: "We are receiving many chats right now. Please try again in a little while.",
      retry: "Try again",
    },
  };
  var T = STRINGS[LOCALE];

  // ---------------------------------------------------------------------------------------
  // 3. Storage (localStorage may be unavailable: private modes, blocked third-party storage)
  // ---------------------------------------------------------------------------------------
  function load(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (e) {
      return null;
    }
  }
  function save(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* the chat still works for this page, it just will not resume */
    }
  }
  function visitorId() {
    var id = load(VISITOR_KEY);
    if (typeof id === "string" && /^[A-Za-z0-9_-]{16,64}$/.test(id)) return id;
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    var abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    id = "";
    for (var i = 0; i < bytes.length; i++) id += abc[bytes[i] & 63];
    save(VISITOR_KEY, id);
    return id;
  }

  // ---------------------------------------------------------------------------------------
  // 4. The chat API
  // ---------------------------------------------------------------------------------------
  function ApiError(status, detail) {
    this.status = status; // 0 = network failure or timeout
    this.detail = detail;
  }

  function api(method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    var abort = window.AbortController ? new AbortController() : null;
    var timer = abort && setTimeout(function () { abort.abort(); }, TIMEOUT_MS);
    return fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      signal: abort ? abort.signal : undefined,
    }).then(
      function (response) {
        clearTimeout(timer);
        if (response.status === 204) return null;
        return response.json().then(
          function (data) {
            if (response.ok) return data;
            throw new ApiError(response.status, data && data.detail);
          },
          function () {
            throw new ApiError(response.ok ? 0 : response.status, null);
          }
        );
      },
      function () {
        clearTimeout(timer);
        throw new ApiError(0, null);
      }
    );
  }

  // At most max UTF-16 units, cut between grapheme clusters (never half an emoji) where the
  // browser has Intl.Segmenter, else between code points.
  function clip(value, max) {
    var text = String(value || "");
    if (text.length <= max) return text;
    var parts = window.Intl && Intl.Segmenter
      ? Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text), function (s) {
        return s.segment;
      })
      : Array.from(text);
    var out = "";
    for (var i = 0; i < parts.length && out.length + parts[i].length <= max; i++) out += parts[i];
    return out;
  }

  function pageContext() {
    var utm = {};
    var params = new URLSearchParams(location.search);
    ["source", "medium", "campaign", "term", "content"].forEach(function (key) {
      var value = params.get("utm_" + key);
      if (value) utm[key] = clip(value, 300);
    });
    return {
      page: { url: location.href, title: clip(document.title, 300), referrer: clip(document.referrer, 2000) },
      utm: utm,
    };
  }

  // ---------------------------------------------------------------------------------------
  // 5. Styles (adopted stylesheet where possible: not subject to the page's style-src CSP)
  // ---------------------------------------------------------------------------------------
  var CSS_TEXT = [
    ":host{all:initial}",
    "*,*::before,*::after{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    ".root{--c:#0b3d91;position:fixed;bottom:20px;" + POSITION + ":20px;z-index:2147483000;",
    "  font:14px/1.6 " + (LOCALE === "ja"
      ? '"Noto Sans CJK JP","Hiragino Sans","Hiragino Kaku Gothic ProN","Yu Gothic UI",Meiryo,system-ui,sans-serif'
      : 'system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif') + ";color:#1f2933}",
    "button,textarea{font:inherit;color:inherit}",
    "button{cursor:pointer}",
    "button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    // launcher
    ".launcher{width:60px;height:60px;border-radius:50%;border:0;background:var(--c);color:#fff;",
    "  box-shadow:0 6px 20px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    // panel
    ".panel{position:absolute;bottom:76px;" + POSITION + ":0;width:370px;height:min(600px,calc(100vh - 120px));",
    "  background:#fff;border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.28);display:flex;",
    "  flex-direction:column;overflow:hidden}",
    ".head{background:var(--c);color:#fff;padding:12px 12px 12px 16px;display:flex;align-items:center;gap:8px}",
    ".head h2{margin:0;font-size:15px;font-weight:700;flex:1}",
    ".x{border:0;background:transparent;color:#fff;width:34px;height:34px;border-radius:8px;",
    "  font-size:22px;line-height:1}",
    ".x:hover{background:rgba(255,255,255,.15)}",
    ".banner{margin:0;padding:9px 14px;background:#fff8e1;border-bottom:1px solid #f3e3b0;",
    "  color:#5c4a00;font-size:13px}",
    ".scroll{flex:1;overflow-y:auto;padding:14px 12px;background:#f5f7fa;overscroll-behavior:contain}",
    ".log{display:flex;flex-direction:column;gap:10px}",
    ".row{display:flex;flex-direction:column;align-items:flex-start;gap:8px}",
    ".row.in{align-items:flex-end}",
    ".bubble{max-width:85%;padding:9px 12px;border-radius:14px 14px 14px 4px;background:#fff;",
    "  border:1px solid #e1e6ed;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".in .bubble{background:var(--c);border-color:var(--c);color:#fff;border-radius:14px 14px 4px 14px}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;max-width:95%}",
    ".opt{border:1px solid var(--c);background:#fff;color:var(--c);border-radius:999px;padding:6px 14px}",
    ".opt:hover:not(:disabled){background:var(--c);color:#fff}",
    ".opt:disabled{cursor:default;border-color:#c5ccd6;color:#8a94a3;background:#f0f2f5}",
    ".opt.picked:disabled{border-color:var(--c);color:#fff;background:var(--c);opacity:.6}",
    ".cards{display:flex;flex-direction:column;gap:8px;width:92%}",
    ".card{background:#fff;border:1px solid #e1e6ed;border-radius:12px;padding:10px 12px;",
    "  box-shadow:0 1px 3px rgba(0,0,0,.06)}",
    ".card h3{margin:0 0 2px;font-size:14px;line-height:1.45}",
    ".card .who{margin:0;font-size:12px;color:#5f6b7a}",
    ".card .sum{margin:6px 0;font-size:13px;display:-webkit-box;-webkit-box-orient:vertical;",
    "  -webkit-line-clamp:3;line-clamp:3;overflow:hidden}",
    ".bubble a{color:inherit;text-decoration:underline}",
    ".card a{color:var(--c);font-weight:700;text-decoration:none;font-size:13px}",
    ".card a:hover{text-decoration:underline}",
    ".slots{background:#fff;border:1px solid #e1e6ed;border-radius:12px;padding:10px 12px;width:92%}",
    ".day{margin:8px 0 4px;font-size:13px;font-weight:700;color:#3e4c59}",
    ".day:first-child{margin-top:0}",
    ".times{display:flex;flex-wrap:wrap;gap:6px}",
    ".decline{margin-top:10px}",
    ".typing{display:flex;gap:4px;padding:12px 14px;margin-top:10px;width:max-content;background:#fff;",
    "  border:1px solid #e1e6ed;border-radius:14px 14px 14px 4px}",
    ".typing i{width:7px;height:7px;border-radius:50%;background:#9aa5b1;animation:b 1s infinite ease-in-out}",
    ".typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}",
    "@keyframes b{0%,80%,100%{transform:translateY(0);opacity:.5}40%{transform:translateY(-4px);opacity:1}}",
    "@media (prefers-reduced-motion:reduce){.typing i{animation:none}}",
    ".error{margin:0;padding:8px 14px;background:#fdecea;color:#8a1c13;font-size:13px;border-top:1px solid #f5c2bd}",
    ".error button{margin-left:8px;border:1px solid #8a1c13;background:#fff;color:#8a1c13;",
    "  border-radius:6px;padding:1px 8px;font-size:12px}",
    ".composer{display:flex;gap:8px;align-items:flex-end;padding:10px;border-top:1px solid #e1e6ed;background:#fff}",
    ".composer textarea{flex:1;resize:none;border:1px solid #c5ccd6;border-radius:10px;padding:8px 10px;",
    "  max-height:120px;min-height:40px;line-height:1.5;background:#fff}",
    ".composer textarea:focus-visible{outline:none;border-color:var(--c);box-shadow:0 0 0 2px var(--c)}",
    ".send{width:40px;height:40px;border:0;border-radius:10px;background:var(--c);color:#fff;",
    "  display:flex;align-items:center;justify-content:center}",
    ".send:disabled{opacity:.5;cursor:default}",
    ".count{margin:0;padding:0 12px 8px;text-align:right;font-size:12px;color:#5f6b7a;background:#fff}",
    ".count.over{color:#8a1c13;font-weight:700}",
    ".send svg{width:20px;height:20px;fill:currentColor}",
    "@media (max-width:480px){",
    "  .root{bottom:12px;" + POSITION + ":12px}",
    "  .panel{position:fixed;inset:0;width:100%;height:100%;border-radius:0}",
    "  .open .launcher{display:none}",
    "}",
  ].join("\n");

  // ---------------------------------------------------------------------------------------
  // 6. DOM helpers and the widget's skeleton (text always via textContent, never innerHTML)
  // ---------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs.text;
      else if (name === "class") node.className = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }
  function icon(path) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }
  var CHAT_ICON = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2zm3 6v2h10V9H7zm0-3v2h10V6H7zm0 6v2h7v-2H7z";
  var SEND_ICON = "M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z";

  // A custom element name: page rules written for div, section, etc. never match the host.
  var host = el("autoreply-widget", { id: "autoreply-widget" });
  // Inline !important beats the page's stylesheets, even their !important rules.
  ["display:block", "visibility:visible", "opacity:1", "transform:none", "filter:none",
    "clip-path:none", "contain:none"].forEach(function (rule) {
    var parts = rule.split(":");
    host.style.setProperty(parts[0], parts[1], "important");
  });
  var shadow = host.attachShadow({ mode: "open" });
  if (shadow.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS_TEXT);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) {
      shadow.appendChild(el("style", { text: CSS_TEXT }));
    }
  } else {
    shadow.appendChild(el("style", { text: CSS_TEXT }));
  }

  var ui = {};
  ui.launcher = el("button", { type: "button", class: "launcher", "aria-label": T.launcher,
    "aria-expanded": "false", "aria-controls": "ar-panel" }, [icon(CHAT_ICON)]);
  ui.close = el("button", { type: "button", class: "x", "aria-label": T.close, text: "×" });
  ui.banner = el("p", { class: "banner", role: "note", hidden: "" });
  ui.log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": T.title });
  ui.typing = el("div", { class: "typing", hidden: "", role: "status", "aria-label": T.typing },
    [el("i"), el("i"), el("i")]);
  ui.scroll = el("div", { class: "scroll" }, [ui.log, ui.typing]);
  ui.error = el("p", { class: "error", role: "alert", hidden: "" });
  // No maxlength: the browser would cut a long paste silently. The count and the limit show
  // instead (from COUNT_FROM characters on), and a text over the limit is not sent.
  ui.input = el("textarea", { id: "ar-input", rows: "1", enterkeyhint: "send",
    placeholder: TOUCH ? T.placeholderTouch : T.placeholder, "aria-label": T.input,
    "aria-describedby": "ar-hint ar-count" });
  ui.count = el("p", { class: "count", id: "ar-count", "aria-live": "polite", hidden: "" });
  ui.send = el("button", { type: "submit", class: "send", "aria-label": T.send }, [icon(SEND_ICON)]);
  ui.form = el("form", { class: "composer" }, [
    el("label", { class: "sr", for: "ar-input", text: T.input }),
    el("span", { class: "sr", id: "ar-hint", text: TOUCH ? T.hintTouch : T.hint }), ui.input, ui.send]);
  ui.panel = el("section", { id: "ar-panel", class: "panel", role: "dialog", "aria-label": T.title,
    hidden: "" }, [el("div", { class: "head" }, [el("h2", { text: T.title }), ui.close]),
    ui.banner, ui.scroll, ui.error, ui.form, ui.count]);
  ui.root = el("div", { class: "root", lang: LOCALE }, [ui.panel, ui.launcher]);
  ui.root.style.setProperty("--c", COLOR);
  shadow.appendChild(ui.root);

  // ---------------------------------------------------------------------------------------
  // 7. Rendering replies and messages
  // ---------------------------------------------------------------------------------------
  var live = []; // the buttons of the latest bot turn: the only ones that may still be tapped

  function scrollDown() {
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
  }

  // Text with its http(s) links made clickable (e.g. the booking's cancel link). Text nodes and
  // <a> elements only: server text is never parsed as HTML.
  var URL_RE = /https?:\/\/[^\s<>"'「」『』（）、。]+/g;
  function linkified(text) {
    var nodes = [];
    var last = 0;
    text.replace(URL_RE, function (match, at) {
      var url = match.replace(/[.,!?:;)\]]+$/, "");
      nodes.push(document.createTextNode(text.slice(last, at)));
      nodes.push(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
      last = at + url.length;
      return match;
    });
    nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function bubble(direction, text) {
    var body = String(text || "").replace(/\s+$/, "");
    var row = el("div", { class: "row " + direction }, [
      el("div", { class: "bubble" }, [el("span", { class: "sr", text: direction === "in" ? T.you : T.bot })]
        .concat(direction === "in" ? [document.createTextNode(body)] : linkified(body))), // sr: who said it
    ]);
    ui.log.appendChild(row);
    scrollDown();
    return row;
  }

  function tapButton(label, className, payload) {
    var button = el("button", { type: "button", class: className, text: label });
    button.addEventListener("click", function () {
      send(payload, button);
    });
    live.push(button);
    return button;
  }

  function renderReply(reply) {
    if (reply.kind === "text") return bubble("out", reply.text);
    var row = reply.text ? bubble("out", reply.text) : ui.log.appendChild(el("div", { class: "row out" }));
    if (reply.kind === "choices") {
      row.appendChild(el("div", { class: "choices", role: "group", "aria-label": reply.text || null },
        (reply.options || []).map(function (o) {
          return tapButton(o.label, "opt", { choice: o.value, label: o.label });
        })));
    } else if (reply.kind === "cards") {
      row.appendChild(el("div", { class: "cards" }, (reply.cards || []).map(function (c) {
        return el("article", { class: "card" }, [
          el("h3", { text: c.title }),
          el("p", { class: "who", text: [c.customer, c.industry].filter(Boolean).join(" ・ ") }),
          c.summary ? el("p", { class: "sum", text: c.summary }) : null,
          /^https?:\/\//i.test(c.url || "") ? el("a", { href: c.url, target: "_blank", rel: "noopener" }, [
            document.createTextNode(T.story + " →"), el("span", { class: "sr", text: T.newTab })]) : null,
        ]);
      })));
    } else if (reply.kind === "slots") {
      var picker = el("div", { class: "slots" });
      (reply.days || []).forEach(function (day) {
        picker.appendChild(el("div", { class: "day", role: "heading", "aria-level": "3", text: day.day }));
        picker.appendChild(el("div", { class: "times", role: "group", "aria-label": day.day },
          day.slots.map(function (s) {
            var b = tapButton(s.time, "opt", { slot: s.id, label: s.label || day.day + " " + s.time });
            b.setAttribute("aria-label", s.label || day.day + " " + s.time);
            return b;
          })));
      });
      if (reply.decline) {
        var no = reply.decline;
        picker.appendChild(el("div", { class: "decline" }, [
          tapButton(no.label, "opt", { slot: no.value || "decline", label: no.label })]));
      }
      row.appendChild(picker);
    }
    scrollDown();
    return row;
  }

  function setLive(enabled) {
    live.forEach(function (b) { b.disabled = !enabled; });
  }
  function retire(picked) {
    setLive(false);
    if (picked) picked.classList.add("picked");
    live = [];
  }

  function showBanner(banner) {
    ui.banner.textContent = banner && !banner.open ? banner.text : "";
    ui.banner.hidden = !ui.banner.textContent;
  }

  function showError(message, retry) {
    ui.error.textContent = message;
    if (retry) {
      var b = el("button", { type: "button", text: T.retry });
      b.addEventListener("click", retry);
      ui.error.appendChild(b);
    }
    ui.error.hidden = false;
  }
  function clearError() {
    countError = false;
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  function busy(on) {
    state.busy = on;
    ui.typing.hidden = !on;
    ui.send.disabled = on || chars(ui.input.value) > MAX_TEXT;
    ui.log.setAttribute("aria-busy", on ? "true" : "false");
    if (on) scrollDown();
  }

  // ---------------------------------------------------------------------------------------
  // 8. The conversation: start, resume, send, page views
  // ---------------------------------------------------------------------------------------
  var state = { conversation: null, status: null, busy: false, ready: null, rendered: false, seen: 0 };

  function resetConversation() {
    save(STORE_KEY, null);
    linked = null;
    state.conversation = null;
    state.ready = null;
    state.rendered = false;
    live = [];
    ui.log.textContent = "";
  }

  function startConversation() {
    var body = pageContext();
    body.locale = LOCALE;
    body.visitor = visitorId();
    if (FLOW) body.flow = FLOW;
    return api("POST", "/api/chat/conversations", body).then(function (data) {
      state.conversation = { conversation_id: data.conversation_id, token: data.token };
      state.status = data.status;
      state.seen = data.replies.length;
      save(STORE_KEY, state.conversation);
      showBanner(data.banner);
      data.replies.forEach(renderReply);
      state.rendered = true;
    });
  }

  // The transcript as the server has it: the only source of which buttons are still live.
  function renderTranscript(data) {
    state.status = data.status;
    state.seen = data.messages.length;
    showBanner(data.banner);
    ui.log.textContent = "";
    live = [];
    data.messages.forEach(function (m) {
      if (m.direction === "in") {
        retire(null);
        bubble("in", m.text);
      } else if (m.reply) {
        renderReply(m.reply);
      }
    });
    if (data.status !== "active") retire(null);
    state.rendered = true;
  }

  // Another tab (or window) of this conversation may have answered meanwhile: read it back and
  // redraw if anything changed, so no stale slot or choice stays on offer.
  function refresh() {
    var c = state.conversation;
    if (!c || state.busy || !state.rendered) return Promise.resolve(false);
    var path = "/api/chat/conversations/" + encodeURIComponent(c.conversation_id);
    return api("GET", path, undefined, c.token).then(function (data) {
      if (state.busy || c !== state.conversation) return false;
      if (data.messages.length === state.seen && data.status === state.status) return false;
      renderTranscript(data);
      return true;
    }, function () { return false; });
  }

  function resumeConversation(stored) {
    var path = "/api/chat/conversations/" + encodeURIComponent(stored.conversation_id);
    return api("GET", path, undefined, stored.token).then(function (data) {
      state.conversation = stored;
      renderTranscript(data);
      // This page load is a page view of an ongoing conversation (the score watches /pricing).
      api("POST", path + "/pages", { url: location.href, title: clip(document.title, 300) },
        stored.token).catch(function () {});
    }, function (error) {
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        save(STORE_KEY, null); // gone or not ours any more: start fresh
        linked = null;
        return;
      }
      throw error; // a network failure keeps the stored conversation for the next try
    });
  }

  // A link in an email (/c/...) lands on the page with #autoreply=<conversation>.<token>:
  // take that conversation over, drop the secret from the address bar, open the chat on it.
  var linked = null;
  function takeOverFromLink() {
    var match = /(?:^#|&)autoreply=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)/.exec(location.hash);
    if (!match) return false;
    linked = { conversation_id: match[1], token: match[2] };
    save(STORE_KEY, linked);
    try {
      history.replaceState(history.state, "", location.pathname + location.search);
    } catch (e) {
      location.hash = "";
    }
    return true;
  }

  function storedConversation() {
    var stored = load(STORE_KEY) || linked;
    var valid = stored && typeof stored.conversation_id === "string" && typeof stored.token === "string";
    return valid ? stored : null;
  }

  // What the visitor reads when starting fails: too many starts from their address (429,
  // the server's rate limit) asks them to wait; anything else says the chat is unavailable.
  function explain(error) {
    if (error.status === 429) return T.tooMany;
    return error.status ? T.unavailable : T.network;
  }

  // Resolves once the conversation is on screen: the stored one read back, else (only while the
  // panel is open) a new one. Concurrent callers share one promise, so nothing starts twice.
  function ensureConversation() {
    if (state.ready) return state.ready;
    var stored = storedConversation();
    busy(isOpen());
    clearError();
    var ready = (stored ? resumeConversation(stored) : Promise.resolve()).then(function () {
      if (state.conversation) return;
      if (isOpen()) return startConversation();
      state.ready = null; // resumed nothing and nobody is looking: start when the panel opens
    });
    state.ready = ready;
    ready.then(function () {
      busy(false);
    }, function (error) {
      busy(false);
      state.ready = null;
      if (error.status && window.console) console.warn("autoreply:", error.status, error.detail);
      if (isOpen()) {
        showError(explain(error), function () {
          clearError();
          ensureConversation();
        });
      }
    });
    return ready;
  }

  function send(payload, button) {
    if (state.busy) return;
    if (!state.conversation) {
      ensureConversation();
      return;
    }
    var isText = payload.text !== undefined;
    var typed = isText ? payload.text : null;
    clearError();
    setLive(false);
    var mine = bubble("in", isText ? payload.text : payload.label);
    if (isText) {
      ui.input.value = "";
      autosize();
      showCount();
    }
    busy(true);
    var c = state.conversation;
    api("POST", "/api/chat/conversations/" + encodeURIComponent(c.conversation_id) + "/messages",
      payload, c.token).then(function (data) {
      busy(false);
      retire(button);
      state.status = data.status;
      state.seen += 1 + (data.replies || []).length;
      (data.replies || []).forEach(renderReply);
      save(SYNC_KEY, { conversation_id: c.conversation_id, at: Date.now() });
      if (!live.length || isText) focusInput();
      else live[0].focus({ preventScroll: true });
    }, function (error) {
      busy(false);
      mine.remove();
      setLive(true);
      if (isText && !ui.input.value) {
        ui.input.value = typed; // never lose what the visitor typed
        autosize();
        showCount();
      }
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        resetConversation();
        ensureConversation();
        showError(T.expired);
      } else if (error.status === 422 && isText && chars(typed) > MAX_TEXT) {
        showError(T.tooLong(chars(typed)));
      } else if (!isText && (error.status === 400 || error.status === 409)) {
        // A tap on something no longer on offer (answered in another tab): catch up first.
        refresh().then(function (changed) { showError(changed ? T.updated : T.refused); });
      } else if (error.status === 400 || error.status === 409 || error.status === 422) {
        showError(T.refused);
      } else if (error.status === 429) {
        showError(T.tooMany);
      } else {
        showError(T.network);
      }
      if (isText) focusInput();
    });
  }

  // ---------------------------------------------------------------------------------------
  // 9. Input: Enter sends, Shift+Enter is a newline, Enter during IME composition never sends
  // ---------------------------------------------------------------------------------------
  var composing = false;
  ui.input.addEventListener("compositionstart", function () { composing = true; });
  ui.input.addEventListener("compositionend", function () { composing = false; });
  ui.input.addEventListener("input", function () {
    autosize();
    showCount();
  });
  ui.input.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey) return;
    // keyCode 229: the key went to the IME (Safari commits with an Enter after compositionend).
    if (event.isComposing || event.keyCode === 229 || composing) return;
    event.preventDefault();
    submitText();
  });
  ui.form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitText();
  });

  var countError = false; // the error line shows the too-long message of showCount

  function submitText() {
    var text = ui.input.value.trim();
    if (!text || state.busy) return;
    if (chars(text) > MAX_TEXT) return showError(T.tooLong(chars(text)));
    send({ text: text }, null);
  }

  // Characters as the server counts them: code points (an emoji outside the BMP is one).
  function chars(text) {
    return Array.from(text).length;
  }

  function showCount() {
    var n = chars(ui.input.value);
    var over = n > MAX_TEXT;
    ui.count.hidden = n < COUNT_FROM;
    ui.count.textContent = T.count(n);
    ui.count.classList.toggle("over", over);
    ui.send.disabled = over || state.busy;
    if (over) {
      showError(T.tooLong(n));
      countError = true;
    } else if (countError) {
      clearError();
    }
  }

  function autosize() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + "px";
  }

  function focusInput() {
    // On touch screens, focusing would pop the keyboard over the replies the visitor should read.
    if (!(window.matchMedia && matchMedia("(pointer: coarse)").matches)) ui.input.focus();
  }

  // ---------------------------------------------------------------------------------------
  // 10. Opening and closing the panel
  // ---------------------------------------------------------------------------------------
  function isOpen() {
    return !ui.panel.hidden;
  }
  function open() {
    if (isOpen()) return;
    ui.panel.hidden = false;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    if (!state.rendered) {
      ensureConversation();
      busy(true); // the greeting (or the stored transcript) is on its way
    }
    scrollDown();
    focusInput();
  }
  function close() {
    if (!isOpen()) return;
    ui.panel.hidden = true;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }

  ui.launcher.addEventListener("click", function () {
    if (isOpen()) close();
    else open();
  });
  ui.close.addEventListener("click", close);
  ui.root.addEventListener("keydown", function (event) {
    // Escape (in the panel or on the launcher) closes; during an IME composition it cancels the
    // composition, not the chat.
    if (event.key === "Escape" && !event.isComposing && !composing) {
      event.preventDefault();
      close();
    }
  });

  // ---------------------------------------------------------------------------------------
  // 11. Boot: attach to the page, resume a stored conversation, expose window.autoreply
  // ---------------------------------------------------------------------------------------
  function catchUp() {
    if (!document.hidden) refresh();
  }
  document.addEventListener("visibilitychange", catchUp);
  window.addEventListener("focus", catchUp);
  window.addEventListener("storage", function (event) {
    if (event.key !== SYNC_KEY || !state.conversation) return;
    var changed = load(SYNC_KEY);
    if (changed && changed.conversation_id === state.conversation.conversation_id) refresh();
  });

  function boot() {
    document.body.appendChild(host);
    if (takeOverFromLink()) open();
    else if (storedConversation()) ensureConversation();
  }

  window.autoreply = {
    version: "1",
    open: open,
    close: close,
    toggle: function () { (isOpen() ? close : open)(); },
    /** Forget the stored conversation (the next open starts a new one). */
    reset: function () {
      resetConversation();
      clearError();
      if (isOpen()) ensureConversation();
    },
  };

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();

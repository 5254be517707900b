/* needlescreen web form: progressive enhancement only. Without this script every page works by form posts.
   With it: the form re-screens as answers change (POST /screen.json, the form's JSON twin), follow-up questions
   show and hide as the server's questionnaire gating says, answers are kept in this browser as a draft,
   multi-entry fields get suggestions, and the body map adds places to the sites or locations field. */
(function () {
  "use strict";
  var form = document.getElementById("screening-form");
  if (!form) { return; }
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var live = document.getElementById("live");
  var KEY = "needlescreen.draft.v1";
  var suggestions = {};
  try { suggestions = JSON.parse(document.getElementById("suggestions").textContent); } catch (e) { suggestions = {}; }

  /* ---- live re-screening through the JSON twin ---- */
  var timer = null, seq = 0;
  function fields() {
    var data = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "submit") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      data.append(el.name, el.value);
    });
    return data;
  }
  function rescreen() {
    var mine = ++seq;
    fetch("/screen.json", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf},
      body: fields().toString()
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (body) {
      if (mine !== seq) { return; }
      live.setAttribute("aria-busy", "false");
      if (!body) { return; }
      var shown = {};
      body.form.enabled.forEach(function (id) { shown[id] = true; });
      Array.prototype.forEach.call(form.querySelectorAll("[data-item]"), function (el) {
        el.hidden = !shown[el.getAttribute("data-item")];
      });
      Array.prototype.forEach.call(form.querySelectorAll("[data-gate-note]"), function (note) {
        var checked = note.closest("[data-item]").querySelector("input[type=radio]:checked");
        note.hidden = !checked || checked.value !== "unknown";
      });
      /* A reveal is drawn only while one of its follow-ups shows. */
      Array.prototype.forEach.call(form.querySelectorAll("[data-conditional]"), function (box) {
        box.hidden = !Array.prototype.some.call(box.children, function (el) {
          return el.hasAttribute("data-item") && !el.hidden;
        });
      });
      live.innerHTML = body.fragments.live;
      form.setAttribute("data-verdict", body.view ? body.view.verdict : "");
    }).catch(function () { if (mine === seq) { live.setAttribute("aria-busy", "false"); } /* the form still works by posting */ });
  }
  function changed(now) {
    saveLocal();
    live.setAttribute("aria-busy", "true");  /* the verdict shown is about to follow the answers */
    clearTimeout(timer);
    timer = setTimeout(rescreen, now === true ? 0 : 350);
  }
  /* A screening question left not known says what that means, at once (the server's gating decides the rest). */
  function gateNote(input) {
    var block = input.closest("[data-item]");
    var note = block && block.querySelector("[data-gate-note]");
    if (note) { note.hidden = input.value !== "unknown"; }
  }
  form.addEventListener("change", function (e) {
    if (e.target.type === "radio") { gateNote(e.target); changed(true); } else { changed(); }
  });
  form.addEventListener("input", function (e) { if (e.target.type !== "radio") { changed(); } });

  /* ---- drafts in this browser ---- */
  function saveLocal() {
    var entries = [];
    fields().forEach(function (v, k) { if (k !== "csrf_token" && v !== "") { entries.push([k, v]); } });
    try { localStorage.setItem(KEY, JSON.stringify({saved: new Date().toISOString(), fields: entries})); } catch (e) { /* private mode */ }
  }
  function restore(entries) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "draft_id") { return; }
      if (el.type === "radio") { el.checked = false; } else if (el.type !== "submit" && el.type !== "hidden") { el.value = ""; }
    });
    entries.forEach(function (kv) {
      var els = form.querySelectorAll("[name='" + kv[0].replace(/'/g, "") + "']");
      Array.prototype.forEach.call(els, function (el) {
        if (el.type === "radio") { el.checked = el.value === kv[1]; } else { el.value = kv[1]; }
      });
    });
    rescreen();
  }
  var note = document.getElementById("local-draft");
  var emptyForm = !form.querySelector("input[name=draft_id]") && !Array.prototype.some.call(form.elements, function (el) {
    return el.name && el.name.indexOf("q.") === 0 && ((el.type === "radio" && el.checked) || (el.type === "text" && el.value));
  });
  var stored = null;
  try { stored = JSON.parse(localStorage.getItem(KEY) || "null"); } catch (e) { stored = null; }
  if (note && emptyForm && stored && stored.fields && stored.fields.length) {
    note.hidden = false;
    note.textContent = "Answers from " + new Date(stored.saved).toLocaleString() + " are kept in this browser. ";
    var resume = document.createElement("button");
    resume.type = "button"; resume.className = "link-button"; resume.textContent = "Resume them";
    resume.id = "resume-local";
    resume.addEventListener("click", function () { restore(stored.fields); note.hidden = true; });
    var discard = document.createElement("button");
    discard.type = "button"; discard.className = "link-button"; discard.textContent = "Discard";
    discard.addEventListener("click", function () { localStorage.removeItem(KEY); note.hidden = true; });
    note.appendChild(resume); note.appendChild(document.createTextNode(" or ")); note.appendChild(discard);
  }
  form.addEventListener("submit", function (e) {
    var by = e.submitter;
    if (by && by.value === "draft") { try { localStorage.removeItem(KEY); } catch (x) { /* ignore */ } }
  });

  /* ---- suggestions for multi-entry fields (the last entry after a comma) ---- */
  function lastPart(value) { var i = value.lastIndexOf(","); return [value.slice(0, i + 1), value.slice(i + 1).replace(/^\s+/, "")]; }
  Array.prototype.forEach.call(form.querySelectorAll(".combo"), function (box) {
    var kind = box.getAttribute("data-suggest");
    var input = box.querySelector("input"), list = box.querySelector(".suggestions");
    var active = -1, items = [];
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; }
    function show(names) {
      items = names.slice(0, 10);
      list.innerHTML = "";
      items.forEach(function (n, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i; li.setAttribute("role", "option"); li.textContent = n;
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
    }
    function choose(i) {
      var parts = lastPart(input.value);
      input.value = (parts[0] ? parts[0] + " " : "") + items[i] + ", ";
      close(); input.focus(); changed();
    }
    function mark() {
      Array.prototype.forEach.call(list.children, function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      if (active >= 0) { input.setAttribute("aria-activedescendant", list.id + "-" + active); }
    }
    input.addEventListener("input", function () {
      var typed = lastPart(input.value)[1].toLowerCase();
      var words = typed.replace(/^(left|right|l|r|both)\s+/, "");
      if (words.length < 2) { close(); return; }
      if (kind === "drugs") {
        fetch("/suggest/drugs?q=" + encodeURIComponent(words), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : []; }).then(show).catch(close);
      } else {
        var pool = suggestions[kind] || [];
        var side = typed.slice(0, typed.length - words.length);
        show(pool.filter(function (n) { return n.toLowerCase().indexOf(words) === 0; }).map(function (n) { return side + n; }));
      }
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) { return; }
      if (e.key === "ArrowDown") { active = Math.min(active + 1, items.length - 1); mark(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = Math.max(active - 1, 0); mark(); e.preventDefault(); }
      else if (e.key === "Enter" && active >= 0) { choose(active); e.preventDefault(); }
      else if (e.key === "Escape") { close(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  });

  /* ---- the body map adds places to the last sites or locations field used ---- */
  var map = document.querySelector("#bodymap svg.interactive");
  if (map) {
    var target = form.querySelector("[data-map-target]");
    var label = document.getElementById("bodymap-target");
    form.addEventListener("focusin", function (e) {
      if (e.target.hasAttribute && e.target.hasAttribute("data-map-target")) {
        target = e.target;
        if (label) { label.textContent = target.getAttribute("data-map-target"); }
      }
    });
    var places = Array.prototype.slice.call(map.querySelectorAll(".place"));
    function entries() { return target.value.split(",").map(function (s) { return s.trim().toLowerCase(); }).filter(Boolean); }
    function sync() {
      var have = entries();
      places.forEach(function (p) { p.setAttribute("aria-pressed", have.indexOf(p.getAttribute("data-words")) >= 0 ? "true" : "false"); });
    }
    function toggle(p) {
      var words = p.getAttribute("data-words"), have = entries(), at = have.indexOf(words);
      var parts = target.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (at >= 0) { parts.splice(at, 1); } else { parts.push(words); }
      target.value = parts.join(", ");
      sync(); changed();
    }
    places.forEach(function (p, i) {
      p.addEventListener("click", function () { toggle(p); });
      p.addEventListener("keydown", function (e) {
        var next = null;
        if (e.key === "ArrowRight" || e.key === "ArrowDown") { next = places[(i + 1) % places.length]; }
        else if (e.key === "ArrowLeft" || e.key === "ArrowUp") { next = places[(i - 1 + places.length) % places.length]; }
        else if (e.key === "Enter" || e.key === " ") { toggle(p); e.preventDefault(); return; }
        if (next) { p.setAttribute("tabindex", "-1"); next.setAttribute("tabindex", "0"); next.focus(); e.preventDefault(); }
      });
    });
    form.addEventListener("input", sync);
    sync();
  }
})();

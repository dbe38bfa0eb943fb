"""What every HTML report page carries inline: its style sheet, its script
(the filter box, opening and closing sections) and its Content-Security-Policy,
which forbids any network access."""

from __future__ import annotations

STYLE = """
:root{--fg:#1d1f21;--muted:#66707a;--bg:#fff;--panel:#f4f6f8;--line:#d9dee3;--accent:#b3261e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
 background:var(--bg);margin:0}
header{background:#111;color:#eee;padding:12px 20px}
header h1{font-size:18px;margin:0 0 6px;color:#ffb000;font-family:monospace}
table.summary{border-collapse:collapse;font-size:13px}
table.summary th{text-align:left;color:#aaa;font-weight:normal;padding:1px 12px 1px 0}
table.summary td{padding:1px 0}
.counts{margin:6px 0}
.chip{display:inline-block;background:#333;border-radius:10px;padding:1px 9px;margin-right:6px}
.toolbar{display:flex;gap:8px;align-items:center;margin-top:6px}
.toolbar input{flex:1;max-width:480px;padding:4px 8px;font:inherit}
.toolbar button,.toolbar a{font:inherit;font-size:12px;color:#eee;background:#333;
 border:1px solid #555;border-radius:3px;padding:3px 8px;text-decoration:none;cursor:pointer}
main{padding:10px 20px 40px}
details.section{border:1px solid var(--line);border-radius:4px;margin:10px 0;background:var(--bg)}
details.section>summary{cursor:pointer;padding:6px 10px;background:var(--panel);
 list-style-position:inside}
details.section>summary h2{display:inline;font-size:15px;margin:0}
.badge{margin-left:10px;font-size:12px;color:var(--muted)}
.badge.bad,.error{color:var(--accent)}
.body{padding:8px 12px}
details.unit{border-left:3px solid var(--line);margin:6px 0;padding:2px 8px}
details.unit>summary{cursor:pointer}
details.unit .count{display:inline-block;min-width:34px;font-weight:bold;color:var(--accent)}
details.unit .where{color:var(--muted);font-size:12px}
ol.stack{margin:4px 0;padding-left:22px;font-family:ui-monospace,monospace;font-size:12.5px}
ol.stack li{margin:2px 0}
.loc{color:#1a5fb4}.fn{font-weight:bold}
li.frame.app{border-left:3px solid #1a5fb4;padding-left:5px;margin-left:-8px}
.app-mark{font:bold 10px system-ui,sans-serif;color:#fff;background:#1a5fb4;border-radius:3px;
 padding:0 4px;vertical-align:1px}
li.frame.library .loc,li.frame.stdlib .loc{color:var(--muted)}
li.frame.library .fn,li.frame.stdlib .fn{font-weight:normal}
ol.stack li.fold{list-style:none;margin-left:-14px}
details.fold>summary{cursor:pointer;color:var(--muted);font-style:italic;font-family:system-ui,
 sans-serif;font-size:12px}
details.fold>ol.stack{margin:0;padding-left:14px}
details.made>summary{font-style:normal;color:inherit;font-size:12.5px}
.res{color:var(--muted);font-size:12.5px}
code.src{display:block;white-space:pre-wrap;color:#333;background:var(--panel);
 padding:0 6px;margin:1px 0 3px}
table.kv{border-collapse:collapse;font-size:13px}
table.kv th{text-align:left;vertical-align:top;font-weight:normal;color:var(--muted);
 padding:1px 14px 1px 0;white-space:nowrap}
table.kv td{padding:1px 0;word-break:break-word}
table.grid{border-collapse:collapse;font-size:12.5px;margin:2px 0}
table.grid th{text-align:left;color:var(--muted);font-weight:normal;
 border-bottom:1px solid var(--line);padding:1px 12px 1px 0}
table.grid td{padding:1px 12px 1px 0;vertical-align:top;word-break:break-word}
pre.text{white-space:pre-wrap;background:var(--panel);padding:6px;font-size:12.5px}
.secret{font-size:11px;color:var(--accent);border:1px solid var(--accent);border-radius:3px;
 padding:0 3px}
.note,.empty,.facts,.members,.shown{color:var(--muted);font-size:12.5px;margin:4px 0}
.hidden{display:none}
"""

SCRIPT = """
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("report-data").textContent);
  var input = document.getElementById("filter");
  var status = document.getElementById("filter-status");
  var units = Array.prototype.slice.call(document.querySelectorAll("details.unit"));
  function apply() {
    var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shownAll = 0, totalAll = 0;
    document.querySelectorAll("details.section.stacks").forEach(function (sec) {
      var shown = 0;
      sec.querySelectorAll("details.unit").forEach(function (u) {
        var text = u.getAttribute("data-search") || "";
        var ok = words.every(function (w) { return text.indexOf(w) !== -1; });
        u.classList.toggle("hidden", !ok);
        var n = parseInt(u.getAttribute("data-count"), 10) || 0;
        totalAll += n;
        if (ok) { shown += n; }
      });
      shownAll += shown;
      var counter = sec.querySelector(".shown-count");
      if (counter) { counter.textContent = String(shown); }
    });
    status.textContent = words.length ? shownAll + " of " + totalAll + " match" : "";
  }
  input.addEventListener("input", apply);
  var folds = Array.prototype.slice.call(document.querySelectorAll("details.fold"));
  function setAll(open) {
    units.forEach(function (u) { u.open = open; });
    folds.forEach(function (f) { f.open = open; });
    document.querySelectorAll("details.section").forEach(function (s) { s.open = open; });
  }
  document.getElementById("expand-all").addEventListener("click", function () { setAll(true); });
  document.getElementById("collapse-all").addEventListener("click", function () { setAll(false); });
  var link = document.getElementById("download-json");
  link.addEventListener("click", function () {
    var blob = new Blob([JSON.stringify(doc, null, 1)], {type: "application/json"});
    link.href = URL.createObjectURL(blob);
  });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
"""

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

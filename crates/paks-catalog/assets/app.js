// The catalogue's only script. Every page works without it; it adds search as you type,
// keyboard moves through results, copy buttons, a version select that submits itself, and
// reading a host profile file into the form.
"use strict";

(function () {
  function searchAsYouType() {
    var input = document.getElementById("search");
    var results = document.getElementById("results");
    var count = document.getElementById("result-count");
    if (!input || !results) return;
    var timer = null;
    var asked = input.value;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value;
        if (q === asked) return;
        asked = q;
        fetch("/search?fragment=1&q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) {
            if (!r.ok) return Promise.reject(r.status);
            return r.text().then(function (html) { return [html, r.headers.get("X-Result-Count")]; });
          })
          .then(function (answer) {
            if (q !== asked) return; // a newer request is under way
            // The fragment is HTML the server escaped; parsing it runs no script.
            var doc = new DOMParser().parseFromString("<ul>" + answer[0] + "</ul>", "text/html");
            results.replaceChildren.apply(results, Array.from(doc.body.firstChild.childNodes));
            if (count) {
              var total = answer[1] || "0";
              count.textContent = total === "1" ? "1 package" : total + " packages";
            }
            if (window.history && window.history.replaceState) {
              window.history.replaceState(null, "", q ? "/search?q=" + encodeURIComponent(q) : "/");
            }
          })
          .catch(function () {});
      }, 200);
    });
    // Arrow keys: from the box into the results, and between them; Enter opens a link.
    document.addEventListener("keydown", function (e) {
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
      var links = Array.from(results.querySelectorAll("a.package"));
      if (links.length === 0) return;
      var at = links.indexOf(document.activeElement);
      if (document.activeElement === input) at = -1;
      else if (at < 0) return;
      e.preventDefault();
      if (e.key === "ArrowDown") {
        links[Math.min(at + 1, links.length - 1)].focus();
      } else if (at <= 0) {
        input.focus();
      } else {
        links[at - 1].focus();
      }
    });
  }

  function copyButtons() {
    document.querySelectorAll("button.copy").forEach(function (button) {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(target.textContent).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        });
      });
    });
  }

  function versionSelect() {
    var select = document.getElementById("version");
    if (!select || !select.form) return;
    select.addEventListener("change", function () { select.form.submit(); });
  }

  function hostFile() {
    var file = document.getElementById("host-file");
    var area = document.getElementById("host-profile");
    if (!file || !area) return;
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) return;
      f.text().then(function (text) { area.value = text; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    searchAsYouType();
    copyButtons();
    versionSelect();
    hostFile();
  });
})();

/* Optional enhancement: everything in this report is readable and filterable without it. */
(function () {
  "use strict";
  var table = document.getElementById("matrix");
  if (table && table.tHead) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      button.setAttribute("aria-label", "Sort by " + th.textContent);
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(table.tBodies, function (body) {
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
            return ascending ? x.localeCompare(y) : y.localeCompare(x);
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      });
    });
  }
  /* Search: matrix rows whose names, hostnames, addresses, error codes or finding ids
     contain every word typed (data-q holds them, lower-cased). */
  var box = document.getElementById("q");
  if (box) {
    var items = document.querySelectorAll(".filterable[data-q]");
    var count = document.getElementById("q-count");
    var timer = null;
    box.parentNode.hidden = false;
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
        var shown = 0;
        Array.prototype.forEach.call(items, function (el) {
          var q = el.getAttribute("data-q");
          var hit = words.every(function (w) { return q.indexOf(w) >= 0; });
          el.classList.toggle("nomatch", !hit);
          if (hit && el.tagName === "TR") { shown += 1; }
        });
        count.textContent = words.length ? shown + " endpoint" + (shown === 1 ? "" : "s") + " match" : "";
      }, 120);
    });
  }
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();

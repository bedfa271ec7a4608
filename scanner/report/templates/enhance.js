/* Optional enhancement: everything in this report is readable and filterable without it. */
(function () {
  "use strict";
  var matrix = document.getElementById("matrix");
  /* The matrix's rows live in several tables of equal size (see the template): sorting takes
     every row, sorts them, and deals them back to the tables in order. */
  var bodies = matrix ? matrix.querySelectorAll(".mchunk tbody") : [];
  var head = matrix ? matrix.querySelector("thead") : null;
  if (head) {
    var heads = head.rows[0].cells;
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
        var sizes = Array.prototype.map.call(bodies, function (body) { return body.rows.length; });
        var rows = [];
        Array.prototype.forEach.call(bodies, function (body) {
          Array.prototype.push.apply(rows, Array.prototype.slice.call(body.rows));
        });
        var keyed = rows.map(function (row) { return [row.cells[col].textContent.trim(), row]; });
        keyed.sort(function (a, b) { return ascending ? a[0].localeCompare(b[0]) : b[0].localeCompare(a[0]); });
        var next = 0;
        Array.prototype.forEach.call(bodies, function (body, n) {
          var fragment = document.createDocumentFragment();
          keyed.slice(next, next + sizes[n]).forEach(function (pair) { fragment.appendChild(pair[1]); });
          next += sizes[n];
          body.appendChild(fragment);
        });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        if (search) { search(); }
      });
    });
  }
  /* Search: matrix rows whose names, hostnames, addresses, error codes or finding ids contain
     every word typed (data-q holds them, lower-cased); a table left with no match is hidden. */
  var box = document.getElementById("q");
  var search = null;
  if (box && matrix) {
    var count = document.getElementById("q-count");
    var timer = null;
    box.parentNode.hidden = false;
    search = function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(bodies, function (body) {
        var hits = 0;
        Array.prototype.forEach.call(body.rows, function (row) {
          var q = row.getAttribute("data-q") || "";
          var hit = words.every(function (w) { return q.indexOf(w) >= 0; });
          row.classList.toggle("nomatch", !hit);
          hits += hit ? 1 : 0;
        });
        body.closest(".mchunk").classList.toggle("nomatch", hits === 0);
        shown += hits;
      });
      count.textContent = words.length ? shown + (shown === 1 ? " endpoint matches" : " endpoints match") : "";
    };
    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 120);
    });
  }
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
})();

// linkwatch report: sort and filter tables. Pinned by its sha256 hash in the page's CSP.
// Without it every table is still complete and readable.
(function () {
  "use strict";
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? -Infinity : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? -Infinity : n;
    }
    return raw.trim().toLowerCase();
  }
  function sortBy(table, th, index) {
    var body = table.tBodies[0];
    if (!body) { return; }
    var numeric = th.getAttribute("data-type") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var i = 0; i < headers.length; i++) { headers[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    var keyed = rows.map(function (row, position) {
      return { row: row, key: cellValue(row, index, numeric), position: position };
    });
    keyed.sort(function (a, b) {
      var order = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      if (!ascending) { order = -order; }
      return order || a.position - b.position;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);
  }
  function makeSortable(table) {
    var head = table.tHead;
    if (!head || !head.rows.length) { return; }
    Array.prototype.forEach.call(head.rows[0].cells, function (th, index) {
      if (th.hasAttribute("data-nosort")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      while (th.firstChild) { button.appendChild(th.firstChild); }
      th.appendChild(button);
      button.addEventListener("click", function () { sortBy(table, th, index); });
    });
  }
  function makeFilter(input) {
    // filters the body rows of every table inside the element named by data-filter-for
    var scope = document.getElementById(input.getAttribute("data-filter-for"));
    if (!scope) { return; }
    var counter = document.getElementById(input.getAttribute("data-count"));
    var rows = Array.prototype.slice.call(scope.querySelectorAll("tbody tr"));
    if (!rows.length) { return; }
    var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
    input.hidden = false;
    var box = input.closest(".filter");
    if (box) { box.hidden = false; }
    input.addEventListener("input", function () {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      rows.forEach(function (row, i) {
        var match = terms.every(function (term) { return texts[i].indexOf(term) !== -1; });
        row.hidden = !match;
        if (match) { shown++; }
      });
      if (counter) {
        counter.textContent = terms.length ? shown + " of " + rows.length + " rows" : "";
      }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll("input[data-filter-for]"), makeFilter);
}());

/* A draft prefilled from the chart: mark each question the chart answered, where the clinician checks it. */
(function () {
  "use strict";
  var data = document.getElementById("from-chart-answers");
  if (!data) { return; }
  var answers;
  try { answers = JSON.parse(data.textContent); } catch (e) { return; }
  answers.forEach(function (a) {
    var block = document.getElementById("item-" + a.item);
    if (!block) { return; }
    var tag = document.createElement("p");
    tag.className = "from-chart-tag";
    tag.textContent = "From the chart: " + a.shown + (a.sources.length ? " (" + a.sources.join(", ") + ")" : "") +
      ". Check it with the patient; change it if it is wrong.";
    var anchor = block.querySelector("legend, label.label");
    if (anchor && anchor.parentNode) { anchor.parentNode.insertBefore(tag, anchor.nextSibling); } else { block.insertBefore(tag, block.firstChild); }
  });
}());

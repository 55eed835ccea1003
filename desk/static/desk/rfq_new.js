// The RFQ ticket's package builder: show the legs a package needs, preset their sides, and offer only the
// instruments that fit each leg. The server checks all of it again.
(function () {
  const packages = JSON.parse(document.getElementById("package-legs").textContent);
  const packageSelect = document.getElementById("id_package_type");
  const rows = Array.from(document.querySelectorAll("#legs tbody tr"));

  // An option is offered when it fits the leg (its type) and matches what is typed in the leg's search box (every
  // word, in any order: "btc 100000 c").
  function show(option) {
    option.hidden = option.dataset.fits === "0" || option.dataset.matches === "0";
  }

  function filterInstruments(select, optionType) {
    Array.from(select.options).forEach(function (option) {
      if (!option.value) return;
      // "option": a call or a put (a calendar's legs); "": any instrument.
      const fits = optionType === "" || option.dataset.optionType === optionType ||
        (optionType === "option" && (option.dataset.optionType === "call" || option.dataset.optionType === "put"));
      option.dataset.fits = fits ? "1" : "0";
      option.disabled = !fits;
      show(option);
      if (!fits && option.selected) select.value = "";
    });
  }

  function searchInstruments(select, text) {
    const words = text.toLowerCase().split(/\s+/).filter(Boolean);
    let first = null;
    Array.from(select.options).forEach(function (option) {
      if (!option.value) return;
      const label = option.textContent.toLowerCase();
      option.dataset.matches = words.every(function (w) { return label.indexOf(w) >= 0; }) ? "1" : "0";
      show(option);
      if (!first && !option.hidden) first = option;
    });
    // One match left: take it, as a picker would.
    const visible = Array.from(select.options).filter(function (o) { return o.value && !o.hidden; });
    if (visible.length === 1) select.value = visible[0].value;
    return first;
  }

  rows.forEach(function (row) {
    const select = row.querySelector("select[name$='_instrument']");
    if (!select) return;
    const search = Desk.el("input");
    search.type = "search";
    search.className = "instrument-search";
    search.placeholder = "search…";
    search.setAttribute("aria-label", "Search the instruments of " + (select.getAttribute("aria-label") || select.name));
    search.addEventListener("input", function () { searchInstruments(select, search.value); });
    select.before(search);
  });

  function apply(initial) {
    const legs = packages[packageSelect.value] || [["", "buy"]];
    rows.forEach(function (row, index) {
      const select = row.querySelector("select[name$='_instrument']");
      const side = row.querySelector("select[name$='_side']");
      const quantity = row.querySelector("input[name$='_quantity']");
      // A leg the server sent back (typed, or named in an error) stays visible.
      const used = index < legs.length || (initial && (select.value !== "" || quantity.value !== ""));
      row.hidden = !used;
      if (!used) {
        select.value = "";
        quantity.value = "";
        return;
      }
      if (index >= legs.length) return;
      filterInstruments(select, legs[index][0]);
      // Keep what the user typed when the page comes back with errors; preset sides only on a change.
      if (!initial || !side.value) side.value = legs[index][1];
    });
  }

  packageSelect.addEventListener("change", function () { apply(false); });
  apply(true);
})();

// The RFQ ticket's package builder: show the legs a package needs, preset their sides, and offer only the
// instruments that fit each leg. The server checks all of it again.
(function () {
  const packages = JSON.parse(document.getElementById("package-legs").textContent);
  const packageSelect = document.getElementById("id_package_type");
  const rows = Array.from(document.querySelectorAll("#legs tbody tr"));

  function filterInstruments(select, optionType) {
    Array.from(select.options).forEach(function (option) {
      if (!option.value) return;
      // "option": a call or a put (a calendar's legs); "": any instrument.
      const fits = optionType === "" || option.dataset.optionType === optionType ||
        (optionType === "option" && (option.dataset.optionType === "call" || option.dataset.optionType === "put"));
      option.hidden = !fits;
      option.disabled = !fits;
      if (!fits && option.selected) select.value = "";
    });
  }

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

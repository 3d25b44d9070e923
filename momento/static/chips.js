/* Momento: turns each <input data-chips> (comma-separated tags) into chips and a text box that suggests
   the user's tags. The original input stays in the form, hidden, always holding the same comma-separated
   text (chips plus whatever is being typed), so the form sends exactly what the plain field would. */
(function () {
  "use strict";

  var announce = window.Momento.announce;  // from momento.js, which every page loads first

  // The server's normalisation, near enough for display: it has the last word.
  function clean(text) { return text.replace(/\s+/g, " ").trim().toLowerCase(); }

  function parts(text) { return text.split(",").map(clean).filter(Boolean); }

  function enhance(field) {
    var id = field.id;
    var chips = [];
    var wrap = document.createElement("div");
    wrap.className = "chip-field";
    var list = document.createElement("ul");
    list.className = "chips chip-list";
    var label = id ? document.querySelector("label[for='" + id + "']") : null;
    list.setAttribute("aria-label", (label ? label.textContent.trim() : "Tags") + ": chosen");
    var entry = document.createElement("input");
    entry.type = "text";
    entry.className = "chip-entry";
    entry.autocomplete = "off";
    entry.setAttribute("autocapitalize", "none");
    entry.setAttribute("enterkeyhint", "enter");
    ["list", "placeholder", "aria-describedby"].forEach(function (name) {
      if (field.hasAttribute(name)) entry.setAttribute(name, field.getAttribute(name));
    });
    // The label now points at the text box; the hidden field keeps the name.
    field.id = id ? id + "-value" : "";
    entry.id = id;
    field.type = "hidden";
    field.removeAttribute("list");
    wrap.appendChild(list);
    wrap.appendChild(entry);
    field.parentNode.insertBefore(wrap, field);

    var options = function () {
      var datalist = entry.list;
      return datalist ? Array.prototype.map.call(datalist.options, function (o) { return o.value; }) : [];
    };

    function sync() {
      field.value = chips.concat(parts(entry.value)).join(", ");
      entry.placeholder = chips.length ? "" : field.getAttribute("placeholder") || "";
    }

    function render() {
      list.textContent = "";
      chips.forEach(function (tag, index) {
        var li = document.createElement("li");
        li.className = "chip";
        var text = document.createElement("span");
        text.textContent = tag;
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "chip-x";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "Remove " + tag);
        remove.addEventListener("click", function () {
          chips.splice(index, 1);
          render();
          announce(tag + " removed.");
          entry.focus();
        });
        li.appendChild(text);
        li.appendChild(remove);
        list.appendChild(li);
      });
      list.hidden = chips.length === 0;
      sync();
    }

    function commit(text) {
      var added = [];
      parts(text).forEach(function (tag) {
        if (chips.indexOf(tag) === -1) { chips.push(tag); added.push(tag); }
      });
      if (added.length) announce(added.join(", ") + " added.");
      render();
    }

    entry.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === ",") {
        if (event.key === "," || entry.value.trim()) {
          // Enter on a typed tag makes it a chip; Enter on an empty box submits the form as usual.
          event.preventDefault();
          commit(entry.value);
          entry.value = "";
          sync();
        }
      } else if (event.key === "Backspace" && !entry.value && chips.length) {
        var tag = chips.pop();
        render();
        announce(tag + " removed.");
      }
    });

    entry.addEventListener("input", function (event) {
      var value = entry.value;
      if (value.indexOf(",") !== -1) {
        // Typed or pasted commas: everything before the last one is done.
        var cut = value.lastIndexOf(",");
        commit(value.slice(0, cut));
        entry.value = value.slice(cut + 1).replace(/^\s+/, "");
      } else if ((!event.inputType || event.inputType === "insertReplacementText") && options().indexOf(clean(value)) !== -1) {
        // A suggestion picked from the list.
        commit(value);
        entry.value = "";
      }
      sync();
    });

    entry.addEventListener("blur", function () {
      if (entry.value.trim()) {
        commit(entry.value);
        entry.value = "";
        sync();
      }
    });

    wrap.addEventListener("click", function (event) {
      if (event.target === wrap || event.target === list) entry.focus();
    });

    commit(field.value);
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-chips]"), enhance);
})();

// The admin center's only script, compiled into the binary and allowed by the
// Content-Security-Policy (script-src 'self'; nothing inline). Every page works without it;
// it only makes them quicker to use:
// - Active users filters as you type (the same GET the Search button sends, debounced);
// - the reset form names each unmet password rule as the password is typed (the server's own
//   policy check, so the feedback is exactly what the reset will enforce) and whether the two
//   boxes match, with a Show/Hide toggle;
// - a one-time password or pass has a Copy button;
// - an opened details pane takes the keyboard focus, and Escape closes a form in it.
"use strict";

(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // ---- Active users: search as you type ---------------------------------------------------
  const filters = document.getElementById("filters");
  const list = filters && filters.closest("section.list");
  if (filters && list) {
    let sent = 0;
    const refresh = function () {
      const params = new URLSearchParams(new FormData(filters));
      for (const [k, v] of Array.from(params.entries())) {
        if (v === "") params.delete(k);
      }
      const query = params.toString();
      const url = filters.getAttribute("action") + (query ? "?" + query : "");
      const mine = ++sent;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) {
          return r.ok ? r.text() : Promise.reject(r.status);
        })
        .then(function (html) {
          if (mine !== sent) return; // a later keystroke's answer wins
          const doc = new DOMParser().parseFromString(html, "text/html");
          const fresh = doc.getElementById("filters");
          const freshList = fresh && fresh.closest("section.list");
          if (!freshList) return;
          // Replace what follows the filters (command bar, table, "no users", pager); the
          // filters themselves stay, so the caret and the typed text do not move.
          while (filters.nextSibling) list.removeChild(filters.nextSibling);
          let node = fresh.nextSibling;
          while (node) {
            const next = node.nextSibling;
            list.appendChild(document.importNode(node, true));
            node = next;
          }
          list.setAttribute("data-results-for", query);
          history.replaceState(null, "", url);
        })
        .catch(function () {
          // Offline or signed out: the Search button still submits the form.
        });
    };
    const later = debounce(refresh, 300);
    for (const id of ["q", "department"]) {
      const box = document.getElementById(id);
      if (box) box.addEventListener("input", later);
    }
    for (const id of ["status", "filter-role", "filter-license"]) {
      const box = document.getElementById(id);
      if (box) box.addEventListener("change", refresh);
    }
  }

  // ---- Reset password: live rules, match, show/hide ---------------------------------------
  const reset = document.getElementById("reset-form");
  if (reset) {
    const password = document.getElementById("password");
    const confirm = document.getElementById("confirm");
    const feedback = document.getElementById("password-feedback");
    const typed = document.getElementById("mode-typed");
    const check = reset.getAttribute("data-check");
    const csrf = reset.querySelector("input[name=csrf]");
    let asked = 0;
    let rules = [];
    const render = function () {
      if (!feedback) return;
      feedback.textContent = "";
      if (!password.value && !confirm.value) return;
      const items = rules.slice();
      if (confirm.value && confirm.value !== password.value) {
        items.push({ rule: "match", message: "The passwords don't match." });
      }
      if (!items.length) {
        const ok = document.createElement("p");
        ok.className = "rule-ok";
        ok.id = "password-ok";
        ok.textContent = confirm.value
          ? "The password meets the policy and both boxes match."
          : "The password meets the policy. Type it again below.";
        feedback.appendChild(ok);
        return;
      }
      const ul = document.createElement("ul");
      for (const item of items) {
        const li = document.createElement("li");
        li.setAttribute("data-rule", item.rule);
        li.textContent = item.message;
        ul.appendChild(li);
      }
      feedback.appendChild(ul);
    };
    const ask = debounce(function () {
      if (!check || !csrf) return;
      const mine = ++asked;
      if (!password.value) {
        rules = [];
        render();
        return;
      }
      const body = new URLSearchParams();
      body.set("csrf", csrf.value);
      body.set("password", password.value);
      fetch(check, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
      })
        .then(function (r) {
          return r.ok ? r.json() : Promise.reject(r.status);
        })
        .then(function (answer) {
          if (mine !== asked) return;
          rules = answer.violations || [];
          render();
        })
        .catch(function () {
          // The server checks the password again when the form is submitted.
        });
    }, 250);
    if (password && confirm) {
      password.addEventListener("input", function () {
        if (typed && !typed.checked) typed.checked = true;
        ask();
      });
      confirm.addEventListener("input", function () {
        if (typed && !typed.checked) typed.checked = true;
        render();
      });
      const toggle = document.getElementById("show-password");
      if (toggle) {
        toggle.hidden = false;
        toggle.addEventListener("click", function () {
          const show = password.type === "password";
          password.type = confirm.type = show ? "text" : "password";
          toggle.textContent = show ? "Hide password" : "Show password";
          toggle.setAttribute("aria-pressed", show ? "true" : "false");
        });
      }
    }
  }

  // ---- Copy a one-time secret --------------------------------------------------------------
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.getAttribute("data-copy"));
    const status = document.getElementById(button.getAttribute("aria-describedby"));
    if (!field) continue;
    button.hidden = false;
    button.addEventListener("click", function () {
      const said = function (text) {
        if (status) status.textContent = text;
      };
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(
          function () {
            said("Copied.");
          },
          function () {
            said("Selected: press Ctrl+C or ⌘C to copy.");
          }
        );
      } else {
        said("Selected: press Ctrl+C or ⌘C to copy.");
      }
    });
  }

  // ---- Focus: the pane, and Escape to close its form ---------------------------------------
  const pane = document.getElementById("pane");
  if (pane) {
    const form = pane.querySelector("form#reset-form, form#edit-form");
    if (!form) {
      const heading = document.getElementById("pane-name");
      if (heading && !document.querySelector("[autofocus]")) heading.focus();
    }
    pane.addEventListener("keydown", function (e) {
      if (e.key !== "Escape") return;
      const cancel = pane.querySelector("a[data-cancel]");
      if (cancel) {
        e.preventDefault();
        window.location.href = cancel.href;
      }
    });
  }
})();

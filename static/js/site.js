/*
 * Progressive enhancement for the site. Every form works without this file (plain POST + redirect);
 * with it, ratings, "not interested" and the watchlist save in place through the JSON API
 * (/api/v1/me/ratings|hidden|watchlist/{movie_id}/, session auth + X-CSRFToken), and the page updates.
 * If the API is unreachable or missing, the form is submitted the classic way instead.
 */
(() => {
  "use strict";
  document.documentElement.classList.add("js");
  const apiBase = document.body.dataset.apiBase || "/api/v1/me/";

  const csrfToken = (form) => {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) return field.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  };

  class FallBack extends Error {}

  /** Call the API; throw FallBack when it is not there (so the caller submits the form instead). */
  async function api(form, method, path, body) {
    let response;
    try {
      response = await fetch(apiBase + path, {
        method,
        credentials: "same-origin",
        headers: {
          "X-CSRFToken": csrfToken(form),
          Accept: "application/json",
          ...(body ? { "Content-Type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new FallBack(String(error));
    }
    const isJson = (response.headers.get("Content-Type") || "").includes("json");
    if (response.ok) return isJson && response.status !== 204 ? response.json() : null;
    // An HTML 404/405 means the endpoint does not exist here; 401/403 means the session or CSRF token
    // went stale. The server-rendered form handles both properly (login redirect, clear message).
    if (!isJson || [401, 403, 404, 405].includes(response.status)) throw new FallBack(String(response.status));
    const data = await response.json().catch(() => ({}));
    throw new Error(firstMessage(data) || "That didn’t work. Please try again.");
  }

  function firstMessage(data) {
    if (!data || typeof data !== "object") return "";
    // The API's one error shape: {"error": {"code", "message", "fields": {name: [messages]}}}.
    if (data.error && typeof data.error === "object") {
      const fields = data.error.fields || {};
      for (const messages of Object.values(fields)) {
        if (Array.isArray(messages) && messages.length) return String(messages[0]);
      }
      if (typeof data.error.message === "string") return data.error.message;
    }
    if (typeof data.detail === "string") return data.detail;
    for (const value of Object.values(data)) {
      if (Array.isArray(value) && value.length) return String(value[0]);
      if (typeof value === "string") return value;
    }
    return "";
  }

  function submitClassic(form, submitter) {
    if (submitter && submitter.formAction && submitter.formAction !== form.action) {
      form.action = submitter.formAction;
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  function leave(element) {
    if (!element) return;
    const next = element.nextElementSibling?.querySelector("a, input:not([type=hidden]), button");
    element.classList.add("is-leaving");
    setTimeout(() => {
      element.remove();
      if (next && document.activeElement === document.body) next.focus();
    }, 260);
  }

  function announce(form, text, isError = false) {
    const status = form.querySelector("[data-rating-status]");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("is-error", isError);
  }

  const starsText = (value) => `${Number(value)} star${Number(value) === 1 ? "" : "s"}`;

  // --- Ratings --------------------------------------------------------------------------------------
  // A radio group: a click on a star saves it; by keyboard the arrow keys only move (nothing is saved
  // while exploring) and Enter or Space saves the star in focus. Leaving the group unsaved puts the
  // saved rating back.

  const radios = (form) => Array.from(form.querySelectorAll("input[name=value]"));

  function showValue(form, value) {
    form.querySelector("[data-rating-value]").textContent = value ? Number(value).toFixed(1) : "–";
  }

  function restoreSaved(form) {
    const saved = form.dataset.saved;
    radios(form).forEach((radio) => (radio.checked = saved !== "" && Number(radio.value) === Number(saved)));
    showValue(form, saved);
  }

  async function saveRating(form, value) {
    const movieId = form.dataset.movieId;
    const hadRating = form.dataset.saved !== "";
    delete form.dataset.pending;
    announce(form, "Saving…");
    try {
      await api(form, "PUT", `ratings/${movieId}/`, { value: Number(value) });
    } catch (error) {
      if (error instanceof FallBack) return submitClassic(form);
      announce(form, error.message, true);
      return;
    }
    form.dataset.saved = Number(value).toFixed(1);
    restoreSaved(form);
    form.querySelector("[data-rating-remove]")?.removeAttribute("hidden");
    form.querySelector("[data-rating-undo]")?.setAttribute("hidden", "");
    announce(form, `Saved: ${starsText(value)}.`);
    const card = form.closest("[data-card]");
    if (!card) {
      document.querySelectorAll("[data-your-rating]").forEach((el) => (el.textContent = `★ ${Number(value).toFixed(1)}`));
    }
    if (card) card.classList.add("is-done");
    if ("dropOnRate" in form.dataset) leave(card);
    document.dispatchEvent(new CustomEvent("rating:saved", { detail: { movieId, value, created: !hadRating } }));
  }

  async function removeRating(form, submitter) {
    const movieId = form.dataset.movieId;
    const previous = form.dataset.saved;
    announce(form, "Removing…");
    try {
      await api(form, "DELETE", `ratings/${movieId}/`);
    } catch (error) {
      if (error instanceof FallBack) return submitClassic(form, submitter);
      announce(form, error.message, true);
      return;
    }
    form.dataset.saved = "";
    restoreSaved(form);
    submitter?.setAttribute("hidden", "");
    const undo = form.querySelector("[data-rating-undo]");
    if (undo && previous) {
      undo.dataset.value = previous;
      undo.removeAttribute("hidden");
      undo.focus(); // the Remove button is gone: keep the keyboard where it was
    }
    announce(form, `Rating removed (it was ${starsText(previous)}).`);
    if (!form.closest("[data-card]")) {
      document.querySelectorAll("[data-your-rating]").forEach((el) => (el.textContent = "Not rated yet"));
    }
    document.dispatchEvent(new CustomEvent("rating:removed", { detail: { movieId } }));
  }

  function enhanceRating(form) {
    const stars = form.querySelector(".stars");
    let byPointer = false;
    form.querySelectorAll("label.star").forEach((label) =>
      label.addEventListener("pointerdown", () => (byPointer = true)),
    );
    form.addEventListener("change", (event) => {
      if (event.target.name !== "value") return;
      const value = event.target.value;
      if (byPointer) {
        byPointer = false;
        return saveRating(form, value);
      }
      // Arrow keys: show where the member is, save nothing yet.
      form.dataset.pending = value;
      showValue(form, value);
      announce(form, `${starsText(value)}: press Enter to save.`);
    });
    form.addEventListener("keydown", (event) => {
      const radio = event.target;
      if (radio.name !== "value" || !(event.key === "Enter" || event.key === " ")) return;
      event.preventDefault();
      radio.checked = true;
      saveRating(form, radio.value);
    });
    form.addEventListener("focusout", (event) => {
      if (form.dataset.pending === undefined || stars.contains(event.relatedTarget)) return;
      delete form.dataset.pending;
      restoreSaved(form);
      announce(form, "");
    });
    form.querySelector("[data-rating-undo]")?.addEventListener("click", async (event) => {
      const undo = event.currentTarget;
      await saveRating(form, undo.dataset.value);
      if (form.dataset.saved) {
        const checked = form.querySelector("input[name=value]:checked");
        checked?.focus();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      if (submitter && "ratingRemove" in submitter.dataset) return removeRating(form, submitter);
      const checked = form.querySelector("input[name=value]:checked");
      if (!checked) return announce(form, "Choose a rating first.", true);
      saveRating(form, checked.value);
    });
  }

  // --- Not interested / watchlist --------------------------------------------------------------------

  function enhanceToggle(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const kind = form.dataset.toggle; // "hidden" | "watchlist"
      const on = form.dataset.on === "true";
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        await api(form, on ? "DELETE" : "PUT", `${kind}/${form.dataset.movieId}/`);
      } catch (error) {
        button.disabled = false;
        if (error instanceof FallBack) return submitClassic(form);
        const status = form.parentElement.querySelector("[data-toggle-status]");
        if (status) status.textContent = error.message;
        return;
      }
      button.disabled = false;
      const nowOn = !on;
      form.dataset.on = String(nowOn);
      form.querySelector("[data-toggle-state]").value = nowOn ? "off" : "on";
      button.textContent = nowOn ? button.dataset.labelOn : button.dataset.labelOff;
      const status = form.parentElement.querySelector("[data-toggle-status]");
      if (status) status.textContent = button.textContent;
      if (kind === "hidden" && nowOn && "dropOnHide" in form.dataset) leave(form.closest("[data-card]"));
    });
  }

  // --- Onboarding and "Haven't seen it" -----------------------------------------------------------------

  function enhanceOnboarding(section) {
    const goal = Number(section.dataset.goal);
    let count = Number(section.dataset.count);
    const update = () => {
      const remaining = Math.max(goal - count, 0);
      section.querySelector("[data-onboarding-bar]").value = Math.min(count, goal);
      section.querySelector("[data-onboarding-text]").textContent = remaining
        ? `You’ve rated ${count} of ${goal}. ${remaining} to go.`
        : `You’ve rated ${count} movies: your picks are ready.`;
      section.querySelector("[data-onboarding-done]").hidden = remaining > 0;
    };
    document.addEventListener("rating:saved", (event) => {
      if (event.detail.created) count += 1;
      update();
    });
    document.addEventListener("rating:removed", () => {
      count = Math.max(count - 1, 0);
      update();
    });
  }

  function enhanceSkip(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const response = await fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(form), "X-Requested-With": "fetch" },
          body: new FormData(form),
        });
        if (!response.ok) throw new Error(String(response.status));
        leave(form.closest("[data-card]"));
      } catch {
        HTMLFormElement.prototype.submit.call(form);
      }
    });
  }

  // --- Search suggestions ------------------------------------------------------------------------------
  // A combobox over a search field: titles as you type (GET /movies/suggest/?q=), arrow keys to move,
  // Enter to open the movie, Escape to close. Without this file the field is a plain search box.

  let comboboxCount = 0;

  function enhanceSearch(input) {
    const url = input.dataset.suggestUrl;
    const id = `suggestions-${++comboboxCount}`;
    const list = document.createElement("ul");
    list.id = id;
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", "Suggested movies");
    list.hidden = true;
    input.parentElement.classList.add("has-suggestions");
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", id);
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");
    let active = -1;
    let timer = null;
    let controller = null;

    const options = () => Array.from(list.querySelectorAll("[role=option]"));
    const close = () => {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    };
    const highlight = (index) => {
      const items = options();
      active = index;
      items.forEach((item, i) => item.setAttribute("aria-selected", String(i === index)));
      if (items[index]) input.setAttribute("aria-activedescendant", items[index].id);
      else input.removeAttribute("aria-activedescendant");
    };
    const render = (items) => {
      list.replaceChildren();
      items.forEach((item, i) => {
        const li = document.createElement("li");
        li.id = `${id}-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.url = item.url;
        li.textContent = item.year ? `${item.title} (${item.year})` : item.title;
        li.addEventListener("mousedown", (event) => event.preventDefault());
        li.addEventListener("click", () => (window.location.href = item.url));
        list.append(li);
      });
      const open = items.length > 0;
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      active = -1;
    };
    const fetchSuggestions = async () => {
      const query = input.value.trim();
      if (query.length < 2) return close();
      controller?.abort();
      controller = new AbortController();
      try {
        const response = await fetch(`${url}?q=${encodeURIComponent(query)}`, {
          headers: { Accept: "application/json" },
          signal: controller.signal,
        });
        if (!response.ok) return close();
        const data = await response.json();
        if (input.value.trim() === query) render(data.items || []);
      } catch {
        // Aborted by the next keystroke, or offline: the plain search still works.
      }
    };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(fetchSuggestions, 150);
    });
    input.addEventListener("keydown", (event) => {
      const items = options();
      if (event.key === "ArrowDown" && items.length) {
        event.preventDefault();
        if (list.hidden) {
          list.hidden = false;
          input.setAttribute("aria-expanded", "true");
        }
        highlight((active + 1) % items.length);
      } else if (event.key === "ArrowUp" && items.length && !list.hidden) {
        event.preventDefault();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        close();
      } else if (event.key === "Enter" && !list.hidden && items[active]) {
        event.preventDefault();
        window.location.href = items[active].dataset.url;
      }
    });
    input.addEventListener("blur", () => setTimeout(close, 100));
  }

  document.querySelectorAll("form[data-rating-form]").forEach(enhanceRating);
  document.querySelectorAll("form[data-toggle]").forEach(enhanceToggle);
  document.querySelectorAll("[data-onboarding]").forEach(enhanceOnboarding);
  document.querySelectorAll("form[data-skip]").forEach(enhanceSkip);
  document.querySelectorAll("input[data-suggest-url]").forEach(enhanceSearch);
})();

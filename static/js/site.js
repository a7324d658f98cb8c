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

  async function saveRating(form, value) {
    const movieId = form.dataset.movieId;
    const hadRating = form.dataset.rated === "true";
    announce(form, "Saving…");
    try {
      await api(form, "PUT", `ratings/${movieId}/`, { value: Number(value) });
    } catch (error) {
      if (error instanceof FallBack) return submitClassic(form);
      announce(form, error.message, true);
      return;
    }
    form.dataset.rated = "true";
    form.querySelector("[data-rating-value]").textContent = Number(value).toFixed(1);
    form.querySelector("[data-rating-remove]")?.removeAttribute("hidden");
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
    announce(form, "Removing…");
    try {
      await api(form, "DELETE", `ratings/${movieId}/`);
    } catch (error) {
      if (error instanceof FallBack) return submitClassic(form, submitter);
      announce(form, error.message, true);
      return;
    }
    form.dataset.rated = "false";
    form.querySelectorAll("input[type=radio]").forEach((radio) => (radio.checked = false));
    form.querySelector("[data-rating-value]").textContent = "–";
    submitter?.setAttribute("hidden", "");
    announce(form, "Rating removed.");
    if (!form.closest("[data-card]")) {
      document.querySelectorAll("[data-your-rating]").forEach((el) => (el.textContent = "Not rated yet"));
    }
    const row = form.closest(".rating-row");
    if (row) leave(row);
    document.dispatchEvent(new CustomEvent("rating:removed", { detail: { movieId } }));
  }

  function enhanceRating(form) {
    form.dataset.rated = form.querySelector("input[type=radio]:checked") ? "true" : "false";
    let timer = null;
    form.addEventListener("change", (event) => {
      if (event.target.name !== "value") return;
      // Arrow keys move through every half star; save the one the member settles on.
      clearTimeout(timer);
      const value = event.target.value;
      timer = setTimeout(() => saveRating(form, value), 350);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const submitter = event.submitter;
      if (submitter && "ratingRemove" in submitter.dataset) return removeRating(form, submitter);
      const checked = form.querySelector("input[name=value]:checked");
      if (!checked) return announce(form, "Choose a rating first.", true);
      clearTimeout(timer);
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

  // --- Onboarding ------------------------------------------------------------------------------------

  function enhanceOnboarding(section) {
    const goal = Number(section.dataset.goal);
    let count = Number(section.dataset.count);
    const update = () => {
      const remaining = Math.max(goal - count, 0);
      section.querySelector("[data-onboarding-bar]").style.width = `${Math.min(100, (100 * count) / goal)}%`;
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
    section.querySelectorAll("form[data-skip]").forEach((form) => {
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
    });
  }

  document.querySelectorAll("form[data-rating-form]").forEach(enhanceRating);
  document.querySelectorAll("form[data-toggle]").forEach(enhanceToggle);
  document.querySelectorAll("[data-onboarding]").forEach(enhanceOnboarding);
})();

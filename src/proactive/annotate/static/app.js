// Keyboard shortcuts of the annotation page (kept out of the HTML: the CSP forbids inline scripts).
// 1-9 toggle a candidate, 0 or r reject all, Enter submit. Typing in a text field is left alone.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The judged event is the last one: show the end of a long history first.
  const events = document.querySelector("ol.events");
  if (events) events.scrollTop = events.scrollHeight;
  const form = document.getElementById("label-form");
  if (!form) return;
  const boxes = Array.from(form.querySelectorAll('input[name="accept"]'));
  const reject = document.getElementById("reject-all");
  const submit = document.getElementById("submit");
  // The server holds this step for its annotator for a few minutes (a lease); renew it once a minute
  // while they are at work here, so nobody else is handed their slot. An idle page lets it lapse.
  let active = false;
  for (const kind of ["keydown", "pointerdown", "pointermove", "scroll", "input"]) {
    document.addEventListener(kind, () => { active = true; }, { capture: true, passive: true });
  }
  setInterval(() => {
    if (!active) return;
    active = false;
    const body = new FormData();
    body.append("csrf", form.querySelector('input[name="csrf"]').value);
    fetch(form.getAttribute("action") + "/lease", { method: "POST", body, credentials: "same-origin" })
      .catch(() => {});  // a missed renewal only matters after several minutes
  }, 60000);
  // "Reject all" means no ticks: clear them before the form is sent.
  reject.addEventListener("click", () => boxes.forEach((box) => { box.checked = false; }));
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement && target.type !== "checkbox") return;
    if (target instanceof HTMLTextAreaElement) return;
    const box = boxes.find((b) => b.dataset.key === event.key);
    if (box) {
      box.checked = !box.checked;
      event.preventDefault();
    } else if (event.key === "0" || event.key === "r") {
      event.preventDefault();
      reject.click();
    } else if (event.key === "Enter" && !(target instanceof HTMLButtonElement)) {
      event.preventDefault();
      submit.click();
    }
  });
});

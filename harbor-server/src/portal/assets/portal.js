// harbor-rs portal: progressive enhancement only. Every page works without
// this script; with it, destructive forms ask for confirmation and copy
// buttons put a pull command or a secret on the clipboard.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(button.getAttribute("data-copy"));
        button.textContent = "Copied";
      } catch (_) {
        button.textContent = "Copy failed: select the text";
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", setUpCopyButtons);
} else {
  setUpCopyButtons();
}

// A list or log of work still going on names how often to reload.
const refreshing = document.querySelector("[data-refresh]");
if (refreshing) {
  const seconds = Number(refreshing.getAttribute("data-refresh")) || 3;
  setTimeout(() => window.location.reload(), seconds * 1000);
}

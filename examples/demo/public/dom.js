/**
 * Looks an element up by id and fails loudly: a renamed id in index.html should break the demo at load,
 * not leave a panel silently frozen.
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: missing element #${id}`);
  return el;
}

/**
 * Sets a badge's text and the data-state that the stylesheet colours it by; both stay in one word so a test
 * can read either.
 * @param {HTMLElement} el
 * @param {string} state
 */
export function setBadge(el, state) {
  el.textContent = state;
  el.dataset.state = state;
}

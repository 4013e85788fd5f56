// Strings come from one table per language; `t(key, vars)` looks them up.
// The language is the user's choice (remembered), else navigator.language (zh* -> zh-CN).

export const LANGS = ['zh-CN', 'en'];
const KEY = 'ebill.lang';

export function makeI18n(tables) {
  let lang = pick();
  const listeners = [];

  function pick() {
    const saved = localStorage.getItem(KEY);
    if (LANGS.includes(saved)) return saved;
    const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
    for (const l of wanted) {
      if (/^zh\b/i.test(l)) return 'zh-CN';
      if (/^en\b/i.test(l)) return 'en';
    }
    return 'en';
  }

  function t(key, vars) {
    let s = tables[lang][key];
    if (s === undefined) s = tables.en[key];
    if (s === undefined) return key;
    if (typeof s === 'function') return s(vars || {});
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
  }

  function has(key) { return key in tables[lang] || key in tables.en; }

  function apply(root = document) {
    document.documentElement.lang = lang;
    for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
    for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
    if (tables[lang].title) document.title = tables[lang].title;
  }

  function set(next) {
    if (!LANGS.includes(next) || next === lang) return;
    lang = next;
    localStorage.setItem(KEY, next);
    apply();
    for (const f of listeners) f(lang);
  }

  return {
    t, has, apply, set,
    get lang() { return lang; },
    toggle() { set(lang === 'en' ? 'zh-CN' : 'en'); },
    onChange(f) { listeners.push(f); },
  };
}

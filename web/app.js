// Zeroboard's page: hand-written, no framework, no build step. Each view is a URL
// fragment (#/, #/board/duties, #/queue, #/reports?by=DEBTORS, #/kpi, #/payroll) and asks
// /graphql for exactly what it shows in one request, with the session cookie. Every text
// from the server goes into the page as text (textContent), never as HTML; links are kept
// only when they are http(s).
'use strict';

(() => {
  // ---- Words -------------------------------------------------------------------------
  const STR = {
    en: {
      language: 'Language', signOut: 'Sign out', loading: 'Loading…', board: 'My board',
      queue: 'To accept', reports: 'Reports', kpi: 'My KPI', payroll: 'Payroll',
      admin: 'Admin (GraphiQL)', period: 'Period', noPeriod: 'No period is open yet.',
      toAccept: 'To accept', duties: 'My duties', additional: 'Additional work',
      averageKpi: 'Average KPI', articles: 'New materials', proposals: 'Proposals to vote',
      overdue: (n) => `${n} overdue`, awaiting: (n) => `${n} awaiting acceptance`,
      currentKpi: (v) => `now ${v}`, noKpi: 'no results yet',
      open: 'Open', close: 'Close list', nothing: 'Nothing here. All done.',
      start: 'Start', submit: 'Submit', accept: 'Accept', return: 'Return',
      comment: 'Comment for the assignee', commentNeeded: 'Write why it is returned.',
      read: 'Mark as read', openLink: 'Open the article', mandatory: 'mandatory',
      voteFor: 'For', voteAgainst: 'Against', voteAbstain: 'Abstain',
      due: (d) => `due ${d}`, submitted: (d) => `submitted ${d}`, closes: (d) => `voting closes ${d}`,
      from: (n) => `from ${n}`, controller: (n) => `controller: ${n}`, done: 'Done.',
      status: { TODO: 'to do', IN_PROGRESS: 'in progress', SUBMITTED: 'submitted', ACCEPTED: 'accepted', RETURNED: 'returned', CANCELLED: 'cancelled', MISSED: 'missed' },
      items: { one: '{n} item', other: '{n} items' },
      signedOutTitle: 'You are signed out',
      signedOut: 'Open the sign-in link you were given. An admin makes one with `zeroboard login-link --employee EMAIL`; each link works once.',
      error: 'Something went wrong:', retry: 'Try again', network: 'The server cannot be reached.',
      by: 'Report', byAssignee: 'By assignee', byController: 'By controller', byDebtors: 'Debtors',
      department: 'Department', allDepartments: 'All departments', currentPeriod: 'Current period',
      csv: 'Download CSV', employee: 'Employee', total: 'Total', doneCol: 'Done',
      awaitingCol: 'Awaiting', remaining: 'Remaining', overdueCol: 'Overdue', missed: 'Missed',
      oldestDue: 'Oldest due', noRows: 'No rows for these filters.',
      rowsShown: { one: '{n} row shown', other: '{n} rows shown' },
      history: 'History', average: 'average', eligible: 'bonus', notEligible: 'no bonus',
      explanation: 'Why', noHistory: 'No closed periods yet.',
      closedPeriods: 'Closed periods', bonusCsv: 'Bonus CSV', obligationsCsv: 'Obligations CSV',
      noClosed: 'No period is closed yet.', chartTitle: 'KPI by period',
      queueNote: 'Oldest submission first.',
      people: 'People', name: 'Name', email: 'E-mail', role: 'Role', manager: 'Manager',
      hired: 'Hired', left: 'Last day', noManager: 'No manager', add: 'Add a person',
      deactivate: 'Set last day', move: 'Move', roles: { EMPLOYEE: 'employee', MANAGER: 'manager', ADMIN: 'admin' },
      templatesNote: 'Duty templates and departments are edited in GraphiQL for now.',
    },
    ru: {
      language: 'Язык', signOut: 'Выйти', loading: 'Загрузка…', board: 'Моя доска',
      queue: 'На приёмку', reports: 'Отчёты', kpi: 'Мой KPI', payroll: 'Премии',
      admin: 'Администрирование (GraphiQL)', period: 'Период', noPeriod: 'Период ещё не открыт.',
      toAccept: 'Принять', duties: 'Мои обязанности', additional: 'Доп. работа',
      averageKpi: 'Средний KPI', articles: 'Новые материалы', proposals: 'Голосования',
      overdue: (n) => `просрочено: ${n}`, awaiting: (n) => `ждут приёмки: ${n}`,
      currentKpi: (v) => `сейчас ${v}`, noKpi: 'результатов пока нет',
      open: 'Открыть', close: 'Свернуть список', nothing: 'Здесь пусто. Всё сделано.',
      start: 'Начать', submit: 'Сдать', accept: 'Принять', return: 'Вернуть',
      comment: 'Комментарий исполнителю', commentNeeded: 'Напишите, почему работа возвращена.',
      read: 'Прочитано', openLink: 'Открыть материал', mandatory: 'обязательно',
      voteFor: 'За', voteAgainst: 'Против', voteAbstain: 'Воздержаться',
      due: (d) => `срок ${d}`, submitted: (d) => `сдано ${d}`, closes: (d) => `голосование до ${d}`,
      from: (n) => `от: ${n}`, controller: (n) => `принимает: ${n}`, done: 'Готово.',
      status: { TODO: 'к выполнению', IN_PROGRESS: 'в работе', SUBMITTED: 'сдано', ACCEPTED: 'принято', RETURNED: 'возвращено', CANCELLED: 'отменено', MISSED: 'пропущено' },
      items: { one: '{n} пункт', few: '{n} пункта', many: '{n} пунктов', other: '{n} пункта' },
      signedOutTitle: 'Вы не вошли',
      signedOut: 'Откройте ссылку для входа, которую вам дали. Администратор создаёт её командой `zeroboard login-link --employee EMAIL`; каждая ссылка срабатывает один раз.',
      error: 'Что-то пошло не так:', retry: 'Повторить', network: 'Сервер недоступен.',
      by: 'Отчёт', byAssignee: 'По исполнителям', byController: 'По контролёрам', byDebtors: 'Должники',
      department: 'Отдел', allDepartments: 'Все отделы', currentPeriod: 'Текущий период',
      csv: 'Скачать CSV', employee: 'Сотрудник', total: 'Всего', doneCol: 'Сделано',
      awaitingCol: 'Ждут', remaining: 'Осталось', overdueCol: 'Просрочено', missed: 'Пропущено',
      oldestDue: 'Самый ранний срок', noRows: 'Нет строк для этих фильтров.',
      rowsShown: { one: 'показана {n} строка', few: 'показано {n} строки', many: 'показано {n} строк', other: 'показано {n} строки' },
      history: 'История', average: 'среднее', eligible: 'премия', notEligible: 'без премии',
      explanation: 'Почему', noHistory: 'Закрытых периодов пока нет.',
      closedPeriods: 'Закрытые периоды', bonusCsv: 'Премии, CSV', obligationsCsv: 'Обязательства, CSV',
      noClosed: 'Закрытых периодов пока нет.', chartTitle: 'KPI по периодам',
      queueNote: 'Сначала самые ранние сдачи.',
      people: 'Сотрудники', name: 'Имя', email: 'Почта', role: 'Роль', manager: 'Руководитель',
      hired: 'Принят', left: 'Последний день', noManager: 'Без руководителя', add: 'Добавить сотрудника',
      deactivate: 'Задать последний день', move: 'Перевести', roles: { EMPLOYEE: 'сотрудник', MANAGER: 'руководитель', ADMIN: 'администратор' },
      templatesNote: 'Шаблоны обязанностей и отделы пока редактируются в GraphiQL.',
    },
  };

  const stored = (() => { try { return localStorage.getItem('zb.lang'); } catch { return null; } })();
  const preferred = (navigator.languages || [navigator.language || 'en']).find((l) => /^(ru|en)\b/i.test(l)) || 'en';
  let lang = STR[stored] ? stored : preferred.slice(0, 2).toLowerCase();

  const t = (key, ...args) => {
    const v = STR[lang][key] ?? STR.en[key];
    return typeof v === 'function' ? v(...args) : v;
  };
  const plural = (key, n) => {
    const forms = STR[lang][key];
    const form = forms[new Intl.PluralRules(lang).select(n)] ?? forms.other;
    return form.replace('{n}', num(n));
  };
  const num = (x, digits = 1) => new Intl.NumberFormat(lang, { maximumFractionDigits: digits }).format(x);
  const day = (d) => new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }).format(new Date(`${d}T00:00:00Z`));
  const dayMonth = (d) => new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(`${d}T00:00:00Z`));
  // Times in the company's zone (each view asks for it), in the reader's language.
  let timeZone;
  const when = (iso) => {
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(new Date(iso));
    } catch {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
    }
  };
  const span = (p) => `${day(p.startsOn)} – ${day(p.endsOn)}`;

  // ---- DOM, safely ---------------------------------------------------------------------
  /** A link target only when it is this page's own (#…, /…) or http(s). */
  const safeHref = (href) => {
    if (/^(#|\/(?!\/))/.test(href)) return href;
    try {
      const u = new URL(href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch { return null; }
  };

  /** An element: props set as attributes (`text` as its text), children appended as nodes or text. */
  const h = (tag, props, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'href') { const s = safeHref(String(v)); if (s) node.setAttribute('href', s); }
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      node.append(kid instanceof Node ? kid : String(kid));
    }
    return node;
  };
  const svg = (tag, attrs, ...kids) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const kid of kids.flat(Infinity)) if (kid != null) node.append(kid instanceof Node ? kid : String(kid));
    return node;
  };

  const main = document.getElementById('main');
  const live = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  document.body.append(live);
  const announce = (text) => { live.textContent = ''; live.textContent = text; };

  // ---- The API -------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, code) { super(message); this.code = code; }
  }

  /** One GraphQL request with the session cookie; the data, or an ApiError. */
  const gql = async (query, variables = {}) => {
    let res;
    try {
      res = await fetch('/graphql', {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          'x-zeroboard-csrf': '1',
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError(t('network'), 'NETWORK');
    }
    let body;
    try { body = await res.json(); } catch { throw new ApiError(`HTTP ${res.status}`, 'HTTP'); }
    if (body.errors && body.errors.length) {
      const e = body.errors[0];
      throw new ApiError(e.message, e.extensions && e.extensions.code);
    }
    return body.data;
  };

  // ---- Routing -------------------------------------------------------------------------
  const route = () => {
    const raw = location.hash.replace(/^#/, '') || '/';
    const [path, query] = raw.split('?');
    const parts = path.split('/').filter(Boolean);
    return { view: parts[0] || 'board', arg: parts[1] || null, params: new URLSearchParams(query || '') };
  };

  const VIEWS = {};
  let me = null;
  let generation = 0;

  /** Draws the view the URL names; `keep` names an element id to focus afterwards. */
  const render = async (keep) => {
    const r = route();
    const view = VIEWS[r.view] || VIEWS.board;
    const mine = ++generation;
    main.setAttribute('aria-busy', 'true');
    try {
      const data = await gql(view.query(r), view.vars ? view.vars(r) : {});
      if (mine !== generation) return;
      me = data.me;
      if (!me) throw new ApiError('no employee', 'UNAUTHENTICATED');
      timeZone = data.timeZone;
      chrome(r.view);
      main.replaceChildren(...view.draw(data, r));
      // What the browser test reads as the time to the first view.
      if (!performance.getEntriesByName('zb:view').length) performance.mark('zb:view');
    } catch (e) {
      if (mine !== generation) return;
      if (e.code === 'UNAUTHENTICATED') signedOut();
      else main.replaceChildren(failure(e));
    } finally {
      if (mine === generation) main.removeAttribute('aria-busy');
    }
    const target = (keep && document.getElementById(keep)) || main.querySelector('h1');
    if (target && (keep || document.activeElement === document.body || !main.contains(document.activeElement))) {
      if (!target.hasAttribute('tabindex') && !/^(BUTTON|A|INPUT|SELECT|TEXTAREA)$/.test(target.tagName)) target.setAttribute('tabindex', '-1');
      target.focus({ preventScroll: !keep });
    }
  };

  const failure = (e) => h('div', { class: 'panel' },
    h('p', { class: 'error', role: 'alert' }, `${t('error')} ${e.message}`),
    h('button', { type: 'button', onclick: () => render() }, t('retry')));

  const signedOut = () => {
    me = null;
    chrome(null);
    main.replaceChildren(h('section', { class: 'notice' },
      h('h1', { text: t('signedOutTitle') }),
      h('p', { text: t('signedOut') })));
    document.title = `${t('signedOutTitle')} · Zeroboard`;
  };

  /** Which views a person may use, from `me { role payroll }`. */
  const roleMay = {
    reports: (m) => m.role === 'MANAGER' || m.role === 'ADMIN',
    payroll: (m) => m.role === 'ADMIN' || m.payroll === true,
    people: (m) => m.role === 'ADMIN',
    admin: (m) => m.role === 'ADMIN',
  };

  /** The header: the views this person may use, their name, sign-out. */
  const chrome = (current) => {
    document.documentElement.lang = lang;
    document.getElementById('lang-label').textContent = t('language');
    const nav = document.getElementById('nav');
    const who = document.getElementById('who');
    const out = document.getElementById('signout');
    out.textContent = t('signOut');
    if (!me) { nav.replaceChildren(); who.textContent = ''; out.hidden = true; return; }
    const links = [['board', '#/'], ['queue', '#/queue'], ['reports', '#/reports'], ['kpi', '#/kpi'], ['payroll', '#/payroll'], ['people', '#/people']]
      .filter(([v]) => !roleMay[v] || roleMay[v](me))
      .map(([v, href]) => h('a', { href, 'aria-current': v === current ? 'page' : null, text: t(v) }));
    if (roleMay.admin(me)) links.push(h('a', { href: '/graphiql', text: t('admin') }));
    nav.replaceChildren(...links);
    who.textContent = me.name;
    out.hidden = false;
    document.title = `${t(current in STR.en ? current : 'board')} · Zeroboard`;
  };

  /** Runs a mutation from a button, then redraws the view (counts included) in place. */
  const act = async (button, mutation, variables, keep) => {
    const row = button.closest('li, form') || main;
    row.querySelectorAll('.error').forEach((n) => n.remove());
    button.disabled = true;
    try {
      await gql(mutation, variables);
      announce(t('done'));
      await render(keep);
    } catch (e) {
      button.disabled = false;
      if (e.code === 'UNAUTHENTICATED') return signedOut();
      row.append(h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  };

  // ---- Lists and their actions ---------------------------------------------------------
  const ASSIGNMENT = 'id title status dueAt submittedAt overdue assignee { name } controller { name }';
  const M = {
    start: 'mutation Start($id: ID!) { startAssignment(id: $id) { id status } }',
    submit: 'mutation Submit($id: ID!) { submitAssignment(id: $id) { id status } }',
    accept: 'mutation Accept($id: ID!) { acceptAssignment(id: $id) { id status } }',
    return: 'mutation Return($id: ID!, $comment: String!) { returnAssignment(id: $id, comment: $comment) { id status } }',
    read: 'mutation Read($id: ID!) { markArticleRead(id: $id) { id } }',
    vote: 'mutation Vote($id: ID!, $choice: VoteChoice!) { vote(proposalId: $id, choice: $choice) { id myVote } }',
  };

  const statusBadge = (a) => h('span', { class: a.overdue ? 'badge late' : 'badge' },
    t('status')[a.status] || a.status.toLowerCase());

  /** My own work: start and submit. */
  const workItem = (a, keep) => h('li', {},
    h('span', { class: 'item-title', text: a.title }),
    h('span', { class: 'meta' }, statusBadge(a), ' ', t('due', when(a.dueAt)),
      a.controller ? ` · ${t('controller', a.controller.name)}` : ''),
    h('div', { class: 'actions' },
      ['TODO', 'RETURNED'].includes(a.status) &&
        h('button', { type: 'button', class: 'quiet', onclick: (e) => act(e.currentTarget, M.start, { id: a.id }, keep) }, t('start'), h('span', { class: 'sr-only', text: `: ${a.title}` })),
      ['TODO', 'IN_PROGRESS', 'RETURNED'].includes(a.status) &&
        h('button', { type: 'button', onclick: (e) => act(e.currentTarget, M.submit, { id: a.id }, keep) }, t('submit'), h('span', { class: 'sr-only', text: `: ${a.title}` }))));

  /** A submission waiting for me: accept, or return with a comment. */
  const acceptItem = (a, keep) => {
    const field = `c-${a.id.replace(/[^A-Za-z0-9_-]/g, '')}`;
    const comment = h('textarea', { id: field, name: 'comment', rows: 2, maxlength: 2000 });
    return h('li', {},
      h('span', { class: 'item-title', text: a.title }),
      h('span', { class: 'meta' }, a.assignee ? t('from', a.assignee.name) : '',
        a.submittedAt ? ` · ${t('submitted', when(a.submittedAt))}` : '', ` · ${t('due', when(a.dueAt))}`),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: (e) => act(e.currentTarget, M.accept, { id: a.id }, keep) }, t('accept'), h('span', { class: 'sr-only', text: `: ${a.title}` }))),
      h('div', { class: 'field' }, h('label', { for: field, text: t('comment') }), comment),
      h('div', { class: 'actions' },
        h('button', {
          type: 'button', class: 'quiet',
          onclick: (e) => {
            const text = comment.value.trim();
            if (!text) { comment.setAttribute('aria-invalid', 'true'); comment.focus(); announce(t('commentNeeded')); return; }
            act(e.currentTarget, M.return, { id: a.id, comment: text }, keep);
          },
        }, t('return'), h('span', { class: 'sr-only', text: `: ${a.title}` }))));
  };

  const articleItem = (a, keep) => h('li', {},
    h('span', { class: 'item-title', text: a.title }),
    h('span', { class: 'meta' }, when(a.publishedAt), a.mandatory ? ` · ${t('mandatory')}` : ''),
    a.body ? h('p', { class: 'meta', text: a.body.slice(0, 400) }) : null,
    h('div', { class: 'actions' },
      a.link && safeHref(a.link) && /^https?:/.test(a.link) ? h('a', { href: a.link, target: '_blank', rel: 'noopener noreferrer', text: t('openLink') }) : null,
      h('button', { type: 'button', onclick: (e) => act(e.currentTarget, M.read, { id: a.id }, keep) }, t('read'), h('span', { class: 'sr-only', text: `: ${a.title}` }))));

  const proposalItem = (p, keep) => h('li', {},
    h('span', { class: 'item-title', text: p.title }),
    p.body ? h('p', { class: 'meta', text: p.body }) : null,
    h('span', { class: 'meta', text: t('closes', when(p.closesAt)) }),
    h('div', { class: 'actions', role: 'group', 'aria-label': p.title },
      ['FOR', 'AGAINST', 'ABSTAIN'].map((choice) => h('button', {
        type: 'button', class: choice === 'FOR' ? null : 'quiet',
        onclick: (e) => act(e.currentTarget, M.vote, { id: p.id, choice }, keep),
      }, t({ FOR: 'voteFor', AGAINST: 'voteAgainst', ABSTAIN: 'voteAbstain' }[choice])))));

  // ---- My board ------------------------------------------------------------------------
  const TILES = [
    { key: 'toAccept', field: 'toAccept', count: (s) => s.toAccept.count, fields: 'count', items: `items(first: 50) { nodes { ${ASSIGNMENT} } }`, list: (s) => s.toAccept.items.nodes, item: acceptItem },
    { key: 'duties', field: 'duties', count: (s) => s.duties.remaining, fields: 'remaining overdue awaitingAcceptance', items: `items(first: 50) { nodes { ${ASSIGNMENT} } }`, list: (s) => s.duties.items.nodes.filter((a) => a.status !== 'CANCELLED'), item: workItem },
    { key: 'additional', field: 'additional', count: (s) => s.additional.remaining, fields: 'remaining overdue awaitingAcceptance', items: `items(first: 50) { nodes { ${ASSIGNMENT} } }`, list: (s) => s.additional.items.nodes.filter((a) => a.status !== 'CANCELLED'), item: workItem },
    { key: 'averageKpi', static: true },
    { key: 'articles', field: 'knowledgeBaseNew', count: (s) => s.knowledgeBaseNew.count, fields: 'count', items: 'items(first: 50) { nodes { id title link body mandatory publishedAt } }', list: (s) => s.knowledgeBaseNew.items.nodes, item: articleItem },
    { key: 'proposals', field: 'proposalsToVote', count: (s) => s.proposalsToVote.count, fields: 'count', items: 'items(first: 50) { nodes { id title body closesAt } }', list: (s) => s.proposalsToVote.items.nodes, item: proposalItem },
  ];

  VIEWS.board = {
    query: (r) => {
      const tiles = TILES.filter((x) => !x.static)
        .map((x) => `${x.field} { ${x.fields} ${x.key === r.arg ? x.items : ''} }`).join(' ');
      return `query Board { timeZone me { id name role payroll summary { period { startsOn endsOn } ${tiles} averageKpi currentKpi } } }`;
    },
    draw: (data, r) => {
      const s = data.me.summary;
      const open = TILES.find((x) => x.key === r.arg && !x.static);
      const tiles = TILES.map((x) => {
        if (x.static) {
          return h('div', { class: 'tile static', id: 'tile-averageKpi' },
            h('span', { class: 'count', text: s.averageKpi == null ? '—' : num(s.averageKpi) }),
            h('span', { class: 'label', text: t('averageKpi') }),
            h('span', { class: 'note', text: s.averageKpi == null ? t('noKpi') : (s.currentKpi == null ? '' : t('currentKpi', num(s.currentKpi))) }));
        }
        const n = x.count(s);
        const tile = s[x.field];
        const notes = [];
        if (tile.overdue) notes.push(t('overdue', num(tile.overdue)));
        if (tile.awaitingAcceptance) notes.push(t('awaiting', num(tile.awaitingAcceptance)));
        const expanded = open === x;
        return h('button', {
          type: 'button', id: `tile-${x.key}`,
          class: `tile${n === 0 ? ' zero' : ''}${tile.overdue ? ' due' : ''}`,
          'aria-expanded': expanded ? 'true' : 'false', 'aria-controls': expanded ? 'list' : null,
          onclick: () => { location.hash = expanded ? '#/' : `#/board/${x.key}`; },
        }, h('span', { class: 'count', text: num(n, 0) }), h('span', { class: 'label', text: t(x.key) }),
        notes.length ? h('span', { class: 'note', text: notes.join(' · ') }) : null);
      });
      const out = [
        h('h1', { text: t('board') }),
        h('p', { class: 'sub', text: `${t('period')}: ${span(s.period)}` }),
        h('div', { class: 'tiles' }, tiles),
      ];
      if (open) {
        const rows = open.list(s);
        out.push(h('section', { class: 'panel', id: 'list', 'aria-labelledby': 'list-title' },
          h('h2', { id: 'list-title', tabindex: '-1' }, `${t(open.key)} · ${plural('items', rows.length)}`),
          rows.length ? h('ul', { class: 'items' }, rows.map((row) => open.item(row, 'list-title'))) : h('p', { text: t('nothing') })));
      }
      return out;
    },
  };

  // ---- The controller's queue ----------------------------------------------------------
  VIEWS.queue = {
    query: () => `query Queue { timeZone me { id name role payroll summary { toAccept { count items(first: 100) { nodes { ${ASSIGNMENT} } } } } } }`,
    draw: (data) => {
      const rows = data.me.summary.toAccept.items.nodes;
      return [
        h('h1', { text: `${t('queue')} · ${num(data.me.summary.toAccept.count, 0)}`, id: 'queue-title' }),
        h('p', { class: 'sub', text: t('queueNote') }),
        h('section', { class: 'panel' },
          rows.length ? h('ul', { class: 'items' }, rows.map((a) => acceptItem(a, 'queue-title'))) : h('p', { text: t('nothing') })),
      ];
    },
  };

  // ---- Reports -------------------------------------------------------------------------
  const REPORT_COLUMNS = [
    ['total', 'total'], ['done', 'doneCol'], ['awaitingAcceptance', 'awaitingCol'],
    ['remaining', 'remaining'], ['overdue', 'overdueCol'], ['missed', 'missed'],
  ];

  const csvCell = (v) => {
    let s = v == null ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // no formulas in a spreadsheet
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };

  VIEWS.reports = {
    query: () => `query Reports($by: ReportBy!, $period: ID, $dept: ID) {
      timeZone
      me { id name role payroll }
      periods(first: 24) { nodes { id startsOn endsOn status } }
      departments { id name }
      assignmentReport(by: $by, periodId: $period, departmentId: $dept) {
        employee { name department { name } } total done awaitingAcceptance remaining overdue missed oldestDueAt
      }
    }`,
    vars: (r) => ({
      by: ['ASSIGNEE', 'CONTROLLER', 'DEBTORS'].includes(r.params.get('by')) ? r.params.get('by') : 'ASSIGNEE',
      period: r.params.get('period') || null,
      dept: r.params.get('dept') || null,
    }),
    draw: (data, r) => {
      const v = VIEWS.reports.vars(r);
      const go = (key, value) => {
        const p = new URLSearchParams(r.params);
        if (value) p.set(key, value); else p.delete(key);
        location.hash = `#/reports?${p}`;
      };
      const select = (id, label, value, options, key) => h('div', { class: 'field' },
        h('label', { for: id, text: label }),
        h('select', { id, onchange: (e) => go(key, e.currentTarget.value) },
          options.map(([val, text]) => h('option', { value: val, selected: val === (value || '') }, text))));
      const rows = data.assignmentReport;
      const header = [t('employee'), t('department'), ...REPORT_COLUMNS.map(([, k]) => t(k)), t('oldestDue')];
      const cells = rows.map((row) => [
        row.employee ? row.employee.name : '', row.employee && row.employee.department ? row.employee.department.name : '',
        ...REPORT_COLUMNS.map(([k]) => row[k]), row.oldestDueAt ? when(row.oldestDueAt) : '',
      ]);
      const download = () => {
        const text = [header, ...cells].map((line) => line.map(csvCell).join(',')).join('\r\n');
        const a = h('a', { download: `report-${v.by.toLowerCase()}.csv` });
        a.href = URL.createObjectURL(new Blob(['\ufeff', text, '\r\n'], { type: 'text/csv;charset=utf-8' }));
        document.body.append(a);
        a.click();
        a.remove();
        // The download reads the blob after this handler returns; a minute is plenty.
        setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
      };
      return [
        h('h1', { text: t('reports') }),
        h('div', { class: 'filters' },
          select('f-by', t('by'), v.by, [['ASSIGNEE', t('byAssignee')], ['CONTROLLER', t('byController')], ['DEBTORS', t('byDebtors')]], 'by'),
          select('f-period', t('period'), v.period, [['', t('currentPeriod')], ...data.periods.nodes.map((p) => [p.id, span(p)])], 'period'),
          select('f-dept', t('department'), v.dept, [['', t('allDepartments')], ...data.departments.map((d) => [d.id, d.name])], 'dept'),
          h('button', { type: 'button', class: 'quiet', id: 'csv', onclick: download, disabled: rows.length === 0 }, t('csv'))),
        rows.length === 0 ? h('p', { text: t('noRows') }) : h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': t('reports') },
          h('table', {},
            h('caption', { text: plural('rowsShown', rows.length) }),
            h('thead', {}, h('tr', {}, header.map((x, i) => h('th', { scope: 'col', class: i >= 2 && i < 2 + REPORT_COLUMNS.length ? 'num' : null, text: x })))),
            h('tbody', {}, cells.map((line) => h('tr', {}, line.map((x, i) => (i === 0
              ? h('th', { scope: 'row', text: x })
              : h('td', { class: i >= 2 && i < 2 + REPORT_COLUMNS.length ? 'num' : null, text: typeof x === 'number' ? num(x, 0) : x })))))))),
      ];
    },
  };

  // ---- My KPI --------------------------------------------------------------------------
  const chart = (results, average) => {
    const W = 600, H = 220, pad = 30;
    const oldestFirst = [...results].reverse();
    const max = Math.max(100, ...oldestFirst.map((r) => r.kpi));
    const y = (v) => H - pad - (v / max) * (H - 2 * pad);
    const step = (W - 2 * pad) / Math.max(1, oldestFirst.length);
    const titleText = t('chartTitle');
    return svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'chart-title' },
      svg('title', { id: 'chart-title' }, titleText),
      svg('line', { x1: pad, x2: W - pad, y1: y(0), y2: y(0), stroke: '#6b7280' }),
      oldestFirst.map((r, i) => {
        const x = pad + i * step + step * 0.15;
        return [
          svg('rect', { class: r.eligible ? 'bar' : 'bar miss', x, y: y(r.kpi), width: step * 0.7, height: Math.max(1, y(0) - y(r.kpi)) },
            svg('title', {}, `${span(r.period)}: ${num(r.kpi)}`)),
          svg('text', { x: x + step * 0.35, y: y(r.kpi) - 4, 'text-anchor': 'middle' }, num(r.kpi, 0)),
          svg('text', { x: x + step * 0.35, y: H - 10, 'text-anchor': 'middle' }, dayMonth(r.period.startsOn)),
        ];
      }),
      average == null ? null : [
        svg('line', { class: 'avg', x1: pad, x2: W - pad, y1: y(average), y2: y(average) }),
        svg('text', { x: W - pad, y: y(average) - 4, 'text-anchor': 'end' }, `${t('average')} ${num(average)}`),
      ]);
  };

  VIEWS.kpi = {
    query: () => `query Kpi($lang: Lang) { timeZone me { id name role payroll summary { averageKpi currentKpi }
      kpiHistory(first: 12) { nodes { id kpi eligible bonusFactor period { startsOn endsOn } explanation(lang: $lang) } } } }`,
    vars: () => ({ lang: lang.toUpperCase() }),
    draw: (data) => {
      const results = data.me.kpiHistory.nodes;
      const s = data.me.summary;
      return [
        h('h1', { text: t('kpi') }),
        h('p', { class: 'sub', text: `${t('averageKpi')}: ${s.averageKpi == null ? '—' : num(s.averageKpi)}${s.currentKpi == null ? '' : ` · ${t('currentKpi', num(s.currentKpi))}`}` }),
        results.length ? chart(results, s.averageKpi) : h('p', { text: t('noHistory') }),
        results.length ? h('h2', { text: t('history') }) : null,
        results.length ? h('ul', { class: 'items panel' }, results.map((r) => h('li', {},
          h('span', { class: 'item-title', text: `${span(r.period)}: KPI ${num(r.kpi)}` }),
          h('span', { class: 'meta', text: r.eligible ? `${t('eligible')} × ${num(r.bonusFactor, 2)}` : t('notEligible') }),
          h('details', {}, h('summary', { text: t('explanation') }), h('p', { class: 'explain', text: r.explanation }))))) : null,
      ];
    },
  };

  // ---- Payroll -------------------------------------------------------------------------
  VIEWS.payroll = {
    query: () => 'query Payroll { timeZone me { id name role payroll } periods(first: 48) { nodes { id startsOn endsOn status } } }',
    draw: (data) => {
      const closed = data.periods.nodes.filter((p) => p.status === 'CLOSED');
      return [
        h('h1', { text: t('payroll') }),
        h('h2', { text: t('closedPeriods') }),
        closed.length ? h('ul', { class: 'items panel' }, closed.map((p) => h('li', {},
          h('span', { class: 'item-title', text: span(p) }),
          h('div', { class: 'actions' },
            h('a', { href: `/export/bonus.csv?period=${encodeURIComponent(p.startsOn)}`, download: '', text: t('bonusCsv') }),
            h('a', { href: `/export/obligations.csv?period=${encodeURIComponent(p.startsOn)}`, download: '', text: t('obligationsCsv') }))))) : h('p', { text: t('noClosed') }),
      ];
    },
  };

  // ---- People (admins) -----------------------------------------------------------------
  const today = () => new Date().toISOString().slice(0, 10);
  const field = (id, label, control) => h('div', { class: 'field' }, h('label', { for: id, text: label }), control);
  const options = (list, selected, none) => [
    none ? h('option', { value: '', selected: !selected }, none) : null,
    ...list.map(([value, text]) => h('option', { value, selected: value === selected }, text)),
  ];

  VIEWS.people = {
    query: () => `query People { timeZone me { id name role payroll } departments { id name }
      employees(first: 100) { nodes { id name email role hiredOn leftOn department { id name } manager { id name } } } }`,
    draw: (data) => {
      const people = data.employees.nodes;
      const departments = data.departments.map((d) => [d.id, d.name]);
      const managers = people.filter((p) => !p.leftOn).map((p) => [p.id, p.name]);
      const roles = ['EMPLOYEE', 'MANAGER', 'ADMIN'].map((r) => [r, t('roles')[r]]);
      const form = {
        name: h('input', { id: 'p-name', autocomplete: 'off', maxlength: 200, required: true }),
        email: h('input', { id: 'p-email', type: 'email', autocomplete: 'off', maxlength: 254, required: true }),
        department: h('select', { id: 'p-dept' }, options(departments, departments[0] && departments[0][0])),
        manager: h('select', { id: 'p-manager' }, options(managers, null, t('noManager'))),
        role: h('select', { id: 'p-role' }, options(roles, 'EMPLOYEE')),
        hired: h('input', { id: 'p-hired', type: 'date', value: today() }),
      };
      const add = h('form', {
        class: 'panel filters',
        onsubmit: (e) => {
          e.preventDefault();
          const input = {
            name: form.name.value.trim(), email: form.email.value.trim(), role: form.role.value,
            departmentId: form.department.value, managerId: form.manager.value || null, hiredOn: form.hired.value,
          };
          act(e.submitter || add.querySelector('button'), 'mutation Add($i: EmployeeFields!) { createEmployee(input: $i) { id } }', { i: input }, 'people-title');
        },
      },
      h('h2', { text: t('add'), class: 'sr-only' }),
      field('p-name', t('name'), form.name), field('p-email', t('email'), form.email),
      field('p-dept', t('department'), form.department), field('p-manager', t('manager'), form.manager),
      field('p-role', t('role'), form.role), field('p-hired', t('hired'), form.hired),
      h('button', { type: 'submit' }, t('add')));
      const row = (p) => {
        const key = p.id.replace(/[^A-Za-z0-9_-]/g, '');
        const leftOn = h('input', { id: `l-${key}`, type: 'date', value: p.leftOn || today() });
        const dept = h('select', { id: `d-${key}` }, options(departments, p.department && p.department.id));
        return h('li', {},
          h('span', { class: 'item-title', text: p.name }),
          h('span', { class: 'meta' }, [p.email, t('roles')[p.role], p.department && p.department.name,
            p.manager && `${t('manager')}: ${p.manager.name}`, p.hiredOn && `${t('hired')}: ${day(p.hiredOn)}`,
            p.leftOn && `${t('left')}: ${day(p.leftOn)}`].filter(Boolean).join(' · ')),
          h('div', { class: 'actions' },
            field(`d-${key}`, t('department'), dept),
            h('button', { type: 'button', class: 'quiet', onclick: (e) => act(e.currentTarget, 'mutation Move($id: ID!, $d: ID) { updateEmployee(id: $id, input: { departmentId: $d }) { id } }', { id: p.id, d: dept.value }, 'people-title') }, t('move'), h('span', { class: 'sr-only', text: `: ${p.name}` })),
            field(`l-${key}`, t('left'), leftOn),
            h('button', { type: 'button', class: 'quiet', onclick: (e) => act(e.currentTarget, 'mutation Leave($id: ID!, $on: Date!) { deactivateEmployee(id: $id, leftOn: $on) { id } }', { id: p.id, on: leftOn.value }, 'people-title') }, t('deactivate'), h('span', { class: 'sr-only', text: `: ${p.name}` }))));
      };
      return [
        h('h1', { id: 'people-title', text: `${t('people')} · ${num(people.length, 0)}` }),
        h('p', { class: 'sub', text: t('templatesNote') }),
        add,
        h('ul', { class: 'items panel' }, people.map(row)),
      ];
    },
  };

  // ---- Start ---------------------------------------------------------------------------
  const langSelect = document.getElementById('lang');
  langSelect.value = lang;
  langSelect.addEventListener('change', () => {
    lang = STR[langSelect.value] ? langSelect.value : 'en';
    try { localStorage.setItem('zb.lang', lang); } catch { /* private mode: this tab only */ }
    render('lang');
  });
  const signOutButton = document.getElementById('signout');
  signOutButton.addEventListener('click', async () => {
    signOutButton.disabled = true;
    try {
      const res = await fetch('/logout', { method: 'POST', credentials: 'same-origin', headers: { 'x-zeroboard-csrf': '1' } });
      await res.arrayBuffer();
    } finally {
      signOutButton.disabled = false;
      generation++;
      signedOut();
      history.replaceState(null, '', '#/');
    }
  });
  window.addEventListener('hashchange', () => {
    // An opened tile's list takes the focus; anything else, the view's heading.
    const r = route();
    render(r.view === 'board' && r.arg ? 'list-title' : undefined);
  });
  main.querySelector('.status').textContent = t('loading');
  render();
})();

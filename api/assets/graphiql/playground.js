// Starts GraphiQL against this server's GraphQL endpoint. A file of its own (not an inline
// script) so that the page's Content-Security-Policy can say `script-src 'self'`.
(function () {
  'use strict';

  var PREFIX = 'graphiql:';

  var defaultQuery = [
    '# Zeroboard GraphQL playground.',
    '#',
    '# Put your token in the Headers pane below, as',
    '#   { "Authorization": "Bearer zb_..." }',
    '# Headers stay in this tab: they are not saved in the browser.',
    '',
    '{',
    '  me {',
    '    name',
    '  }',
    '}',
    '',
  ].join('\n');

  // Drops every `headers` entry from what GraphiQL saves. `shouldPersistHeaders: false`
  // keeps headers out of the saved tabs, but GraphiQL's query history saves each run's
  // headers regardless, which would leave bearer tokens in localStorage.
  function withoutHeaders(value) {
    if (Array.isArray(value)) return value.map(withoutHeaders);
    if (value === null || typeof value !== 'object') return value;
    var out = {};
    Object.keys(value).forEach(function (k) {
      if (k !== 'headers') out[k] = withoutHeaders(value[k]);
    });
    return out;
  }

  function ownKeys() {
    return Object.keys(localStorage).filter(function (k) {
      return k.indexOf(PREFIX) === 0;
    });
  }

  // GraphiQL's storage: localStorage, minus headers.
  var storage = {
    getItem: function (key) {
      return localStorage.getItem(key);
    },
    setItem: function (key, value) {
      if (key === PREFIX + 'headers') return;
      var parsed;
      try {
        parsed = JSON.parse(value);
      } catch (e) {
        localStorage.setItem(key, value);
        return;
      }
      localStorage.setItem(key, JSON.stringify(withoutHeaders(parsed)));
    },
    removeItem: function (key) {
      localStorage.removeItem(key);
    },
    clear: function () {
      ownKeys().forEach(function (k) {
        localStorage.removeItem(k);
      });
    },
    get length() {
      return ownKeys().length;
    },
  };

  // Relative to the page, so the playground also works behind a path prefix.
  var endpoint = new URL('graphql', window.location.href).toString();

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      // Someone signed in to the board may use GraphiQL as themselves: the session cookie
      // counts only with this header (a bearer token in the headers pane still wins).
      fetcher: GraphiQL.createFetcher({ url: endpoint, headers: { 'X-Zeroboard-CSRF': '1' } }),
      defaultQuery: defaultQuery,
      defaultEditorToolsVisibility: 'headers',
      shouldPersistHeaders: false,
      storage: storage,
    })
  );
})();

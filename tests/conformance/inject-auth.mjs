// Preloaded into the MCP conformance suite (`node --import tests/conformance/inject-auth.mjs
// …/conformance/dist/index.js server --url …`): the suite has no option for an auth header,
// so this adds `Authorization: Bearer $MCP_BEARER_TOKEN` to every fetch() it makes.
const token = process.env.MCP_BEARER_TOKEN;
if (token) {
  const original = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return original(input, { ...init, headers });
  };
}

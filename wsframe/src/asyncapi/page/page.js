// The docs page: the app's AsyncAPI document (inlined above) rendered for reading, and
// a live console per route. No library, no network but the WebSockets it opens.
"use strict";

const doc = JSON.parse(document.getElementById("asyncapi").textContent);
const schemas = (doc.components && doc.components.schemas) || {};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Text with `inline code` (the Markdown the descriptions use most) as nodes.
function rich(text) {
  return String(text || "").split(/`([^`]+)`/).map((part, i) => (i % 2 ? el("code", { text: part }) : part));
}

// A schema with its references into components/schemas replaced by what they name.
function resolved(schema, depth = 0) {
  if (Array.isArray(schema)) return schema.map((s) => resolved(s, depth));
  if (!schema || typeof schema !== "object") return schema;
  if (typeof schema.$ref === "string" && depth < 8) {
    const name = schema.$ref.split("/").pop();
    if (schemas[name]) return { title: name, ...resolved(schemas[name], depth + 1) };
  }
  const out = {};
  for (const [key, value] of Object.entries(schema)) out[key] = resolved(value, depth);
  return out;
}

// The `{name}` segments of an address.
function pathNames(address) {
  return [...address.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
}

function securityOf(id) {
  const operation = (doc.operations || {})[`${id}.receive`] || {};
  const all = (doc.components && doc.components.securitySchemes) || {};
  return (operation.security || []).map((s) => all[s.$ref.split("/").pop()]).filter(Boolean);
}

function fieldRows(schema, kind, credentials) {
  if (!schema || !schema.properties) return [];
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties).map(([name, property]) => {
    const credential = credentials.some((c) => c.in === kind && c.name === name);
    return { name, kind, property, required: required.has(name), credential };
  });
}

function now() {
  const t = new Date();
  return t.toTimeString().slice(0, 8) + "." + String(t.getMilliseconds()).padStart(3, "0");
}

function renderRoute(id, channel) {
  const binding = (channel.bindings && channel.bindings.ws) || {};
  const credentials = securityOf(id);
  const headers = binding.headers || {};
  const protocolHeader = (headers.properties || {})["sec-websocket-protocol"];
  const section = el("section", { class: "route", id: `route-${id}`, "data-channel": id });
  section.append(
    el("h2", { text: channel.address }),
    channel.summary ? el("p", { class: "summary" }, rich(channel.summary)) : null,
  );
  // The description's paragraphs, but the first when it is the summary.
  const paragraphs = (channel.description || "").split(/\n\s*\n/).map((p) => p.replace(/\s*\n\s*/g, " ").trim());
  if (paragraphs[0] === channel.summary) paragraphs.shift();
  for (const paragraph of paragraphs.filter(Boolean)) section.append(el("p", {}, rich(paragraph)));

  // Parameters: path and query are filled in here; headers and cookies are listed.
  const rows = [];
  const inputs = { path: {}, query: {} };
  for (const name of pathNames(channel.address)) {
    const parameter = (channel.parameters || {})[name] || {};
    const input = el("input", {
      "data-path": name,
      value: (parameter.examples || [""])[0],
      "aria-label": `path parameter ${name}`,
    });
    inputs.path[name] = input;
    rows.push(el("tr", {}, el("td", {}, el("code", { text: name }), el("span", { class: "tag", text: "path" })),
      el("td", {}, rich(parameter.description)), el("td", {}, input)));
  }
  for (const field of fieldRows(binding.query, "query", credentials)) {
    const input = el("input", { "data-query": field.name, "aria-label": `query parameter ${field.name}` });
    inputs.query[field.name] = input;
    rows.push(el("tr", {},
      el("td", {}, el("code", { text: field.name }), el("span", { class: "tag", text: "query" }),
        field.required ? el("span", { class: "tag", text: "required" }) : null,
        field.credential ? el("span", { class: "tag credential", text: "credential" }) : null),
      el("td", {}, rich(`${field.property.type || ""} ${field.property.description || ""}`.trim())),
      el("td", {}, input)));
  }
  for (const field of fieldRows(headers, "header", credentials)) {
    if (field.name === "sec-websocket-protocol") continue;
    const cookieNote = field.name === "cookie" ? " (this browser's cookies are sent)" : " (a browser cannot set it)";
    rows.push(el("tr", {},
      el("td", {}, el("code", { text: field.name }), el("span", { class: "tag", text: "header" }),
        field.required ? el("span", { class: "tag", text: "required" }) : null,
        field.credential ? el("span", { class: "tag credential", text: "credential" }) : null),
      el("td", {}, rich(`${field.property.description || ""}${cookieNote}`)), el("td")));
  }
  if (rows.length) {
    section.append(el("h3", { text: "Parameters" }),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "name" }), el("th", { text: "what" }), el("th", { text: "value" }))),
        el("tbody", {}, rows)));
  }
  if (credentials.length) {
    section.append(el("h3", { text: "Credentials" }), el("ul", {}, credentials.map((c) =>
      el("li", {}, el("code", { text: c.name }), ` in the ${c.in}`, c.description ? [" — ", rich(c.description)] : ""))));
  }
  if (protocolHeader) {
    section.append(el("h3", { text: "Subprotocols" }), el("p", {}, rich(protocolHeader.description)));
  }

  // Messages, with their schemas.
  const messages = channel.messages || {};
  const receive = ((doc.operations || {})[`${id}.receive`] || { messages: [] }).messages.map((m) => m.$ref.split("/").pop());
  const send = ((doc.operations || {})[`${id}.send`] || { messages: [] }).messages.map((m) => m.$ref.split("/").pop());
  section.append(el("h3", { text: "Messages" }));
  const list = el("ul", { class: "messages" });
  for (const [name, message] of Object.entries(messages)) {
    const direction = [receive.includes(name) ? "client → app" : null, send.includes(name) ? "app → client" : null]
      .filter(Boolean).join(", ");
    const schema = resolved(message.payload || {});
    list.append(el("li", {},
      el("b", { text: message.title || message.name || name }), ` (${direction}, ${message.contentType || "text"})`,
      message.summary ? [" — ", rich(message.summary)] : "",
      el("details", {}, el("summary", { text: "schema" }), el("pre", { text: JSON.stringify(schema, null, 2) })),
      message.examples && message.examples.length
        ? el("details", {}, el("summary", { text: "example" }), el("pre", { text: JSON.stringify(message.examples[0].payload, null, 2) }))
        : null));
  }
  section.append(list);

  // The console.
  const incoming = receive.map((name) => messages[name]).find((m) => m && m.examples && m.examples.length);
  const example = incoming ? JSON.stringify(incoming.examples[0].payload) : "hello";
  const protocols = el("input", {
    "data-protocols": "",
    value: protocolHeader && protocolHeader.examples ? protocolHeader.examples[0] : "",
    placeholder: "none",
    "aria-label": "subprotocols",
  });
  const connect = el("button", { type: "button", "data-action": "connect", text: "Connect" });
  const close = el("button", { type: "button", class: "secondary", "data-action": "close", text: "Close", disabled: true });
  const status = el("span", { class: "status", "data-state": "idle", text: "not connected" });
  const text = el("textarea", { "data-message": "", "aria-label": "message" });
  text.value = example;
  const sendButton = el("button", { type: "button", "data-action": "send", text: "Send", disabled: true });
  const log = el("ol", { class: "log", "aria-live": "polite" });
  section.append(el("div", { class: "console" },
    el("h3", { text: "Try it" }),
    el("div", { class: "row" }, el("label", { text: "subprotocols" }), protocols),
    el("div", { class: "row" }, connect, close, status),
    text,
    el("div", { class: "row" }, sendButton),
    log));

  let ws = null;
  const note = (kind, line) => {
    log.append(el("li", { class: kind }, el("time", { text: now() }), line));
    log.scrollTop = log.scrollHeight;
  };
  const setState = (state, line) => {
    status.dataset.state = state;
    status.replaceChildren(line);
    connect.disabled = state === "open" || state === "connecting";
    close.disabled = state !== "open";
    sendButton.disabled = state !== "open";
  };

  connect.addEventListener("click", () => {
    let address = channel.address;
    for (const [name, input] of Object.entries(inputs.path)) {
      address = address.replace(`{${name}}`, encodeURIComponent(input.value));
    }
    const query = new URLSearchParams();
    for (const [name, input] of Object.entries(inputs.query)) {
      if (input.value !== "") query.set(name, input.value);
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}${address}${query.toString() ? "?" + query : ""}`;
    const offered = protocols.value.split(",").map((p) => p.trim()).filter(Boolean);
    let opened = false;
    try {
      ws = offered.length ? new WebSocket(url, offered) : new WebSocket(url);
    } catch (error) {
      note("error", `cannot connect: ${error.message}`);
      return;
    }
    setState("connecting", "connecting…");
    note("event", `connecting to ${url}`);
    ws.addEventListener("open", () => {
      opened = true;
      const negotiated = el("span", {}, "open — subprotocol ", el("b", { "data-protocol": ws.protocol, text: ws.protocol || "none" }),
        ", extensions ", el("b", { "data-extensions": ws.extensions, text: ws.extensions || "none" }));
      setState("open", negotiated);
      note("event", `open (subprotocol: ${ws.protocol || "none"}; extensions: ${ws.extensions || "none"})`);
    });
    ws.addEventListener("message", (event) => {
      const data = typeof event.data === "string" ? event.data : `(binary, ${event.data.size ?? event.data.byteLength} bytes)`;
      note("received", `← ${data}`);
    });
    ws.addEventListener("close", (event) => {
      const line = !opened && event.code === 1006
        ? "handshake refused (1006)"
        : `closed: ${event.code}${event.reason ? " " + event.reason : ""}`;
      note(opened ? "event" : "error", line);
      setState(opened ? "closed" : "refused", line);
      ws = null;
    });
  });
  close.addEventListener("click", () => ws && ws.close(1000, "closed from the docs page"));
  sendButton.addEventListener("click", () => {
    if (!ws) return;
    ws.send(text.value);
    note("sent", `→ ${text.value}`);
  });
  return section;
}

document.title = `${doc.info.title} — WebSocket routes`;
document.getElementById("title").textContent = doc.info.title;
document.getElementById("version").textContent = `version ${doc.info.version} · AsyncAPI ${doc.asyncapi}`;
document.getElementById("description").replaceChildren(...rich(doc.info.description));
document.getElementById("raw").href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
const routes = document.getElementById("routes");
const channels = Object.entries(doc.channels || {});
if (!channels.length) routes.append(el("p", { text: "This app has no WebSocket routes." }));
for (const [id, channel] of channels) routes.append(renderRoute(id, channel));
document.body.dataset.ready = "true";

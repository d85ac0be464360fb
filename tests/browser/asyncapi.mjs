// Validates an AsyncAPI document with the official parser (@asyncapi/parser, pinned in
// package-lock.json). Reads the document from stdin; prints the parser's diagnostics
// as JSON lines: {"severity": 0..3, "code", "message", "path"} (0 is an error).
import { Parser } from '@asyncapi/parser';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const text = Buffer.concat(chunks).toString('utf8');

const parser = new Parser();
const { document, diagnostics } = await parser.parse(text);
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path.join('/') }));
}
console.log(JSON.stringify({ parsed: document !== undefined }));

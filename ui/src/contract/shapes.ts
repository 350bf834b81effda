// The contract transcript reduced to what must not drift, computed exactly as the e2e computes
// it for the real shell (tests/src/contract.rs, `shapes`): per command its argument key sets,
// whether it answered, the merged shape of its answers and its error codes; per event type the
// merged shape of its events. `null` merges into anything: which optionals are set depends on
// timing, so nullability is not compared; field names and types are.

/** One line of ui/src/contract/transcript.jsonl (see backend.ts `TranscriptLine`). */
export interface ContractLine {
  scenario?: string;
  kind: 'call' | 'event' | 'outside';
  command?: string;
  args?: Record<string, unknown> | null;
  ok?: unknown;
  error?: { code: string; message: string; serverCode?: string };
  event?: { type: string } & Record<string, unknown>;
  what?: string;
}

export type Shape =
  | { t: 'null' | 'boolean' | 'number' | 'string' }
  | { t: 'array'; item: Shape }
  | { t: 'object'; fields: Map<string, Shape> }
  | { t: 'mixed'; of: Set<string> };

const NULL: Shape = { t: 'null' };

function shapeOf(v: unknown): Shape {
  if (v === null || v === undefined) return NULL;
  if (Array.isArray(v)) return { t: 'array', item: v.map(shapeOf).reduce(merge, NULL) };
  if (typeof v === 'object')
    return { t: 'object', fields: new Map(Object.entries(v).map(([k, x]) => [k, shapeOf(x)])) };
  if (typeof v === 'boolean') return { t: 'boolean' };
  if (typeof v === 'number') return { t: 'number' };
  return { t: 'string' };
}

function merge(a: Shape, b: Shape): Shape {
  if (a.t === 'null') return b;
  if (b.t === 'null') return a;
  if (a.t === 'array' && b.t === 'array') return { t: 'array', item: merge(a.item, b.item) };
  if (a.t === 'object' && b.t === 'object') {
    const fields = new Map(a.fields);
    for (const [k, v] of b.fields) fields.set(k, fields.has(k) ? merge(fields.get(k)!, v) : v);
    return { t: 'object', fields };
  }
  const sa = render(a);
  const sb = render(b);
  if (sa === sb) return a;
  const of = new Set<string>();
  for (const s of [a, b]) {
    if (s.t === 'mixed') s.of.forEach((x) => of.add(x));
    else of.add(render(s));
  }
  return { t: 'mixed', of };
}

// Sorted like Rust's BTreeMap/BTreeSet of strings (by UTF-16 code unit here; the keys are ASCII).
const byCode = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function render(s: Shape): string {
  switch (s.t) {
    case 'array':
      return `${render(s.item)}[]`;
    case 'object':
      return `{${[...s.fields.keys()]
        .sort(byCode)
        .map((k) => `${k}:${render(s.fields.get(k)!)}`)
        .join(',')}}`;
    case 'mixed':
      return `(${[...s.of].sort(byCode).join('|')})`;
    default:
      return s.t;
  }
}

/**
 * The transcript as signatures (`call login args {password,serverUrl,username}`, `call login
 * error unauthorized`, `call login answer`, `event alarm`...), each with its merged shape where
 * there is one. The keys and the rendered shapes are the strings the Rust `shapes` lists.
 */
export function shapeTable(lines: ContractLine[]): Map<string, Shape | null> {
  const out = new Map<string, Shape | null>();
  const add = (key: string, shape: Shape | null = null) => {
    const old = out.get(key);
    out.set(key, shape === null ? null : old ? merge(old, shape) : shape);
  };
  for (const line of lines) {
    if (line.kind === 'call' && line.command) {
      const c = line.command;
      const keys = Object.keys(line.args ?? {}).sort(byCode);
      add(`call ${c} args {${keys.join(',')}}`);
      if ('ok' in line) {
        add(`call ${c} ok`);
        add(`call ${c} answer`, shapeOf(line.ok));
      }
      if (line.error) add(`call ${c} error ${line.error.code}`);
    } else if (line.kind === 'event' && line.event) {
      add(`event ${line.event.type}`, shapeOf(line.event));
    }
  }
  return out;
}

/** The sorted signature list of a transcript (the same strings as the Rust `shapes`). */
export function shapes(lines: ContractLine[]): string[] {
  return [...shapeTable(lines)].map(([key, shape]) => (shape ? `${key} ${render(shape)}` : key)).sort(byCode);
}

/**
 * Where `fake` differs from `real` (empty when it conforms): the same fields with the same
 * types. A side that was only ever null says nothing about its type (the two sides hold
 * different data), so it conforms to anything.
 */
export function differences(fake: Shape, real: Shape, path = ''): string[] {
  if (fake.t === 'null' || real.t === 'null') return [];
  if (fake.t === 'array' && real.t === 'array') return differences(fake.item, real.item, `${path}[]`);
  if (fake.t === 'object' && real.t === 'object') {
    const out: string[] = [];
    for (const k of real.fields.keys())
      if (!fake.fields.has(k)) out.push(`${path}.${k}: missing in the fake`);
    for (const [k, v] of fake.fields) {
      const r = real.fields.get(k);
      if (!r) out.push(`${path}.${k}: only in the fake`);
      else out.push(...differences(v, r, `${path}.${k}`));
    }
    return out;
  }
  const f = render(fake);
  const r = render(real);
  if (f === r) return [];
  if (real.t === 'mixed' && (fake.t === 'mixed' ? [...fake.of] : [f]).every((x) => real.of.has(x))) return [];
  return [`${path || '.'}: ${f} in the fake, ${r} in the shell`];
}
